"""The Locust web UI of the lab: every scenario and shape of ``loadtests/`` in the class picker,
aimed at FastAPI by default, with both services offered in a "Target" drop-down.

It is one Locust process (a local runner, no workers) pinned to the generator's CPUs, so that
what the audience sees on stage is measured with the same CPU plan as the bench.
"""

from __future__ import annotations

import sys

from asynclab.procs import ProcessSpec
from asynclab.settings import LabSettings

LOCUSTFILES = "loadtests/,asynclab/locust_targets.py"
NAME = "locust"


def targets_env(settings: LabSettings) -> str:
    """``LOCUST_TARGETS`` for :mod:`asynclab.locust_targets`; the first entry is the default."""
    return f"fastapi={settings.fastapi_url},flask={settings.flask_url}"


def locust_web_command(settings: LabSettings, python: str | None = None) -> list[str]:
    s = settings
    return [
        python or sys.executable, "-m", "locust",
        "-f", LOCUSTFILES,
        "--class-picker",
        "--web-host", s.host, "--web-port", str(s.locust_port),
        "-H", s.fastapi_url,
    ]  # fmt: skip


def locust_web_process(settings: LabSettings, metrics_port: int | None = None) -> ProcessSpec:
    """The Locust web UI at ``settings.locust_port``, ready when its page answers.

    ``metrics_port`` is where :mod:`asynclab.locust_exporter` serves the generator's metrics
    (its default, ``LOCUST_METRICS_PORT``, when None).
    """
    env = {"PYTHONUNBUFFERED": "1", "LOCUST_TARGETS": targets_env(settings)}
    if metrics_port is not None:
        env["LOCUST_METRICS_PORT"] = str(metrics_port)
    return ProcessSpec(
        name=NAME,
        argv=locust_web_command(settings),
        env=env,
        cwd=settings.root,
        ready_url=f"{settings.url(settings.locust_port)}/",
        port=settings.locust_port,
        cpus=settings.generator_cpus,
        required=False,
    )
