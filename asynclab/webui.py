"""The Locust web UI of the lab: every scenario and shape of ``loadtests/`` in the class picker,
aimed at ``registry.WEB_UI_TARGET`` (FastAPI) by default, with every service offered in a
"Target" drop-down, and ``ASYNCLAB_TARGET`` (a service the lab did not start) offered there too.

It runs on the generator's CPUs, like the bench: one Locust process on one CPU, Locust's own
distributed mode (``--processes N``) on N, so that what the audience sees on stage is measured
with the same CPU plan as the report.
"""

from __future__ import annotations

import logging
import sys

from asynclab.bench.generator import generator_plan
from asynclab.procs import ProcessSpec, port_in_use
from asynclab.registry import SERVICES, WEB_UI_TARGET
from asynclab.settings import LabSettings

LOCUSTFILES = "loadtests/,asynclab/locust_targets.py"
NAME = "locust"

log = logging.getLogger(__name__)


def targets_env(settings: LabSettings) -> str:
    """``LOCUST_TARGETS`` for :mod:`asynclab.locust_targets`; the first entry is the default:
    ``fastapi=http://127.0.0.1:8002,flask=http://127.0.0.1:8001``."""
    names = [WEB_UI_TARGET, *(name for name in SERVICES if name != WEB_UI_TARGET)]
    return ",".join(f"{name}={settings.service_url(name)}" for name in names)


def locust_web_command(settings: LabSettings, python: str | None = None) -> list[str]:
    s = settings
    argv = [
        python or sys.executable, "-m", "locust",
        "-f", LOCUSTFILES,
        "--class-picker",
        "--web-host", s.host, "--web-port", str(s.locust_port),
        "-H", s.service_url(WEB_UI_TARGET),
        # The start form's defaults: enough users to fill every variant's slots on /io/db.
        # (Locust logs that shapes ignore them; the form still uses them.)
        "-u", "32", "-r", "32",
    ]  # fmt: skip
    processes = generator_plan(s).locust_processes
    return argv + (["--processes", str(processes)] if processes > 1 else [])


def locust_web_process(settings: LabSettings) -> ProcessSpec:
    """The Locust web UI at ``settings.locust_port``, ready when its page answers.

    :mod:`asynclab.locust_exporter` serves the generator's metrics on
    ``settings.locust_metrics_port``, the port Prometheus scrapes; when something else holds
    it, on any free port instead (the web UI serves the same figures at its own ``/metrics``).
    """
    metrics_port = settings.locust_metrics_port
    if port_in_use(settings.host, metrics_port):
        log.warning(
            "port %s (ASYNCLAB_LOCUST_METRICS_PORT) is taken: the web UI's Locust serves its "
            "metrics on a random port, which Prometheus does not scrape (its /metrics page "
            "still has them)",
            metrics_port,
        )
        metrics_port = 0  # whatever the kernel gives; the taken one is someone else's
    return ProcessSpec(
        name=NAME,
        argv=locust_web_command(settings),
        env={
            "PYTHONUNBUFFERED": "1",
            "LOCUST_TARGETS": targets_env(settings),
            # Under its own name: the Locust plugin labels it external (locust_targets.py).
            "ASYNCLAB_TARGET": settings.target,
            "LOCUST_METRICS_PORT": str(metrics_port),
            "LOCUST_METRICS_HOST": settings.host,
        },
        cwd=settings.root,
        ready_url=f"{settings.url(settings.locust_port)}/",
        port=settings.locust_port,
        cpus=settings.generator_cpus,
        required=False,
    )
