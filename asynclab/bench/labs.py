"""Which lab the bench measures, and with which settings.

``ASYNCLAB_LAB=compose`` selects the compose lab (``compose_lab.py``). Otherwise it is the
native lab of ``state_dir``: when it is already running, the settings recorded in its
``lab.json`` are the ones that hold (its pools, workers and CPU plan decide every ceiling), and
a bench whose own environment says otherwise is refused rather than computing wrong ceilings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from asynclab.bench.compose_lab import ComposeLab
from asynclab.lab import Lab
from asynclab.procs import LabError
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings
from asynclab.variants import Framework

# Settings that change nothing a running lab measures: the bench picks the variants itself, and
# these others concern only the bench or starting a lab.
BENCH_ONLY = {
    *(s.variant_setting for s in SERVICES.values()),
    "bench_metrics_port",
    "start_timeout_s",
    "lab",
    "target",  # the web UI's: a bench loads only the --target it is given
}


class BenchLab(Protocol):
    """What the bench needs of a lab: ``asynclab.lab.Lab`` or ``ComposeLab``."""

    @property
    def settings(self) -> LabSettings: ...

    def manifest(self) -> dict[str, Any] | None: ...

    def switch(self, framework: Framework, variant_name: str) -> object: ...

    def up(self) -> object: ...

    def down(self) -> object: ...


def open_lab(settings: LabSettings, echo: Callable[[str], None]) -> BenchLab:
    """The lab ``settings`` select, following a running native lab's recorded settings."""
    if settings.lab == "compose":
        return ComposeLab(settings, echo)
    lab = Lab(settings, echo=echo)
    manifest = lab.manifest()
    if manifest is None or "settings" not in manifest:
        return lab
    return Lab(running_settings(settings, manifest["settings"]), echo=echo)


def running_settings(requested: LabSettings, recorded: dict[str, Any]) -> LabSettings:
    """The running lab's settings; LabError when ``requested`` explicitly sets one differently.

    With a lab started by ``ASYNCLAB_WORKERS=2 asynclab up``, a bench with no ASYNCLAB_WORKERS
    computes its ceilings for 2 workers; one with ``ASYNCLAB_WORKERS=4`` is refused.
    """
    lab = LabSettings.model_validate(recorded)
    lab_values = lab.model_dump(mode="json")
    own = requested.model_dump(mode="json")
    conflicts = [
        f"{name}={lab.shown(name, own[name])} (the lab has {lab.shown(name, lab_values[name])})"
        for name in sorted(requested.model_fields_set - BENCH_ONLY - {"state_dir"})
        if name in lab_values and own[name] != lab_values[name]
    ]
    if conflicts:
        raise LabError(
            f"the lab in {lab.state_dir} is running with other settings than this bench's "
            f"ASYNCLAB_* environment: {'; '.join(conflicts)}. Run the bench without them (it "
            "follows the running lab), or `asynclab down` and let the bench start its own lab."
        )
    own_choice = BENCH_ONLY & requested.model_fields_set
    return lab.model_copy(update={name: getattr(requested, name) for name in own_choice})
