"""The bench follows a running native lab's recorded settings, and refuses its own environment
when that says otherwise about something the lab decides."""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab.bench.labs import open_lab, running_settings
from asynclab.bench.matrix import Bench
from asynclab.bench.profiles import get_profile
from asynclab.lab import Lab
from asynclab.procs import LabError
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings
from asynclab.variants import VARIANTS


def recorded(**changes: object) -> dict[str, object]:
    return LabSettings.model_construct().model_copy(update=changes).model_dump(mode="json")


def test_unset_settings_follow_the_lab() -> None:
    lab = running_settings(LabSettings.model_construct(), recorded(workers=2, flask_port=9101))
    assert (lab.workers, lab.flask_port) == (2, 9101)


def test_explicit_settings_that_differ_are_refused() -> None:
    with pytest.raises(LabError, match=r"workers=4 \(the lab has 2\)"):
        running_settings(LabSettings(workers=4), recorded(workers=2))


def test_a_differing_password_is_named_not_shown() -> None:
    with pytest.raises(LabError, match=r"postgres_password=\*+ \(the lab has \*+\)") as error:
        running_settings(LabSettings(postgres_password="mine"), recorded(postgres_password="its"))
    assert "mine" not in str(error.value)
    assert "its'" not in str(error.value)


def test_equal_settings_and_bench_only_settings_pass() -> None:
    # The bench picks each service's variant itself: a variant setting never conflicts.
    variants = {
        s.variant_setting: [v for v in VARIANTS.values() if v.framework == s.name][-1].name
        for s in SERVICES.values()
    }
    requested = LabSettings(workers=2, bench_metrics_port=9700, **variants)
    lab = running_settings(requested, recorded(workers=2))
    assert (lab.workers, lab.bench_metrics_port) == (2, 9700)
    assert {s.variant_setting: lab.variant(s.name) for s in SERVICES.values()} == variants


def test_compose_setting_selects_the_compose_lab(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ASYNCLAB_FLASK_PORT=9301\n")
    settings = LabSettings(lab="compose", root=tmp_path)
    lab = open_lab(settings, print)
    assert not isinstance(lab, Lab)
    assert lab.settings.flask_port == 9301


def test_bench_uses_the_running_lab_settings(lab: Lab, tmp_path: Path) -> None:
    """Only the state dir in common: ports and pools come from the running lab's lab.json."""
    requested = LabSettings(state_dir=lab.settings.state_dir)
    bench = Bench(requested, get_profile("smoke"), tmp_path)
    assert bench.settings.model_dump() == lab.settings.model_dump()

    with pytest.raises(LabError, match="running with other settings"):
        Bench(
            LabSettings(state_dir=lab.settings.state_dir, workers=lab.settings.workers + 1),
            get_profile("smoke"),
            tmp_path,
        )
