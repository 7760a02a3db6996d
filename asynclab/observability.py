"""Prometheus and its exporters for the native lab.

The scrape configuration is ``prometheus/prometheus.yml`` unchanged; the native lab copies it
and the rules into its state directory and writes its own ``targets/*.yml`` beside them, with
loopback addresses where compose has container names. Each program is optional: when its
binary is missing the lab says which Debian package provides it and starts without it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from asynclab.files import write_atomic
from asynclab.procs import ProcessSpec
from asynclab.registry import SERVICES
from asynclab.settings import LabSettings

CONFIG_DIR = "prometheus"
JOBS = ("prometheus", *(s.job for s in SERVICES.values()), "locust", "postgres", "node", "cadvisor")

# binary -> Debian package that provides it
PACKAGES = {
    "prometheus": "prometheus",
    "prometheus-postgres-exporter": "prometheus-postgres-exporter",
    "prometheus-node-exporter": "prometheus-node-exporter",
}

# The node exporter's defaults read dozens of subsystems; at a 2 s scrape on a two-core
# machine only what the dashboards draw is worth its CPU.
NODE_COLLECTORS = ("cpu", "meminfo", "loadavg", "netdev", "pressure", "stat")


def find(binary: str) -> str | None:
    path = shutil.which(binary)
    if path is None:
        package = PACKAGES[binary]
        print(
            f"{binary} not found: install the Debian package {package} "
            f"(apt-get install {package}); carrying on without it",
            file=sys.stderr,
        )
    return path


def native_targets(settings: LabSettings, *, node: bool = True) -> dict[str, list[str]]:
    """Scrape targets of the native lab, job by job (compose has the same jobs).

    Job ``locust`` has two targets, the web UI's generator and the bench's (or the demo's),
    told apart by Prometheus' ``instance`` label; each is down while its Locust is not running.
    """

    def at(*ports: int) -> list[str]:
        return [f"{settings.host}:{port}" for port in ports]

    return {
        "prometheus": at(settings.prometheus_port),
        **{s.job: at(settings.port(s.name)) for s in SERVICES.values()},
        "locust": at(settings.locust_metrics_port, settings.bench_metrics_port),
        "postgres": at(settings.postgres_exporter_port),
        "node": at(settings.node_exporter_port) if node else [],
        "cadvisor": [],  # containers exist only in compose
    }


def write_targets(directory: Path, targets: dict[str, list[str]]) -> None:
    """Write file_sd target files; Prometheus notices changes to them without a restart."""
    directory.mkdir(parents=True, exist_ok=True)
    for job, addresses in targets.items():
        groups = [{"targets": addresses}] if addresses else []
        # Atomic: Prometheus never reads half a file.
        write_atomic(directory / f"{job}.yml", yaml.safe_dump(groups, default_flow_style=False))


def render_config(settings: LabSettings, targets: dict[str, list[str]]) -> Path:
    """Copy the one scrape configuration and its rules into the state dir; return its path."""
    source = settings.root / CONFIG_DIR
    dest = settings.state_dir / CONFIG_DIR
    shutil.rmtree(dest / "rules", ignore_errors=True)
    shutil.copytree(source / "rules", dest / "rules")
    shutil.copyfile(source / "prometheus.yml", dest / "prometheus.yml")
    write_targets(dest / "targets", targets)
    return dest / "prometheus.yml"


def observability_processes(settings: LabSettings) -> list[ProcessSpec]:
    """Prometheus, the Postgres exporter and the node exporter, for those that are installed."""
    s = settings
    prometheus = find("prometheus")
    postgres_exporter = find("prometheus-postgres-exporter")
    node_exporter = find("prometheus-node-exporter")
    specs: list[ProcessSpec] = []
    if postgres_exporter:
        specs.append(
            ProcessSpec(
                name="postgres-exporter",
                argv=[
                    postgres_exporter,
                    f"--web.listen-address={s.host}:{s.postgres_exporter_port}",
                ],
                # lib/pq defaults to sslmode=require; the lab's Postgres has no TLS.
                env={"DATA_SOURCE_NAME": s.database_url() + "?sslmode=disable"},
                ready_url=f"{s.url(s.postgres_exporter_port)}/metrics",
                port=s.postgres_exporter_port,
                required=False,
            )
        )
    if node_exporter:
        specs.append(
            ProcessSpec(
                name="node-exporter",
                argv=[
                    node_exporter,
                    f"--web.listen-address={s.host}:{s.node_exporter_port}",
                    "--collector.disable-defaults",
                    *(f"--collector.{name}" for name in NODE_COLLECTORS),
                ],
                ready_url=f"{s.url(s.node_exporter_port)}/metrics",
                port=s.node_exporter_port,
                required=False,
            )
        )
    if prometheus:
        config = render_config(s, native_targets(s, node=node_exporter is not None))
        specs.append(
            ProcessSpec(
                name="prometheus",
                argv=[
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={s.state_dir / CONFIG_DIR / 'data'}",
                    # No --web.enable-lifecycle: it lets any local user stop Prometheus with
                    # one POST. Restart the lab (or send SIGHUP) to reload edited rules.
                    f"--web.listen-address={s.host}:{s.prometheus_port}",
                ],
                cwd=config.parent,
                ready_url=f"{s.url(s.prometheus_port)}/-/ready",
                port=s.prometheus_port,
                required=False,
            )
        )
    return specs
