"""The lab's one settings object: every port, path and CPU plan, overridable by environment.

Each field reads ``ASYNCLAB_<NAME>`` (for example ``ASYNCLAB_FLASK_PORT=9001``). Each service of
``asynclab/registry.py`` has two: ``<name>_port`` and ``<name>_variant``, generated from its row;
code reads them with :meth:`LabSettings.port`, :meth:`LabSettings.variant` and
:meth:`LabSettings.service_url`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from asynclab.registry import SERVICES, get_service

ROOT = Path(__file__).resolve().parent.parent

Port = Annotated[int, Field(ge=1, le=65535)]
MASK = "********"  # what records shown to people have instead of the database password


def _service_fields() -> dict[str, Any]:
    """``flask_port``, ``fastapi_port``, ..., then ``flask_variant``, ...: two per service."""
    ports = {s.port_setting: (Port, s.port) for s in SERVICES.values()}
    variants = {
        s.variant_setting: (
            str,
            Field(default=s.variant, description=f"Variant served on {s.port_setting}."),
        )
        for s in SERVICES.values()
    }
    return ports | variants


# mypy cannot see fields made at run time: to it the per-service fields do not exist, and code
# reaches them only through the typed accessors below.
if TYPE_CHECKING:
    _PerService = BaseSettings
else:
    _PerService = create_model(
        "_PerService", __base__=BaseSettings, __module__=__name__, **_service_fields()
    )


class LabSettings(_PerService):
    model_config = SettingsConfigDict(env_prefix="ASYNCLAB_", extra="ignore")

    root: Path = ROOT
    lab: Literal["native", "compose"] = Field(
        default="native",
        description="Which lab the bench measures: the native runner's, or the compose lab "
        "that scripts/compose.sh started (it sets compose).",
    )
    state_dir: Path = Field(
        default=ROOT / ".state",
        description="Data directory, pid files and logs of one lab instance (gitignored).",
    )
    host: str = Field(default="127.0.0.1", description="Loopback address every process binds.")

    upstream_port: Port = 8003
    postgres_port: Port = 55432
    prometheus_port: Port = 9090
    grafana_port: Port = 3000
    locust_port: Port = 8089
    postgres_exporter_port: Port = 9187
    node_exporter_port: Port = 9100
    # Two Locust masters can run at once, the web UI's and a bench's (or the demo's), each with
    # its generator metrics on a port of its own; Prometheus scrapes both as job "locust".
    locust_metrics_port: Port = Field(
        default=9646, description="Metrics of the web UI's Locust (asynclab/locust_exporter.py)."
    )
    bench_metrics_port: Port = Field(
        default=9647, description="Metrics of the headless Locust of a bench run or the demo."
    )

    # The CPU plan. With two cores the service gets one and the load generator the other, so
    # that a variant's throughput is never limited by Locust stealing its CPU. Postgres and the
    # upstream are left unpinned: they cost every variant the same.
    service_cpus: str = Field(default="0", description="taskset list for service processes.")
    generator_cpus: str = Field(default="1", description="taskset list for the load generator.")
    pin_cpus: bool = Field(default=True, description="Pin with taskset when it is available.")

    # Per-process limits shared by every variant so that only the concurrency model differs.
    workers: int = Field(
        default=3, ge=1, le=64, description="Processes for multi-process variants."
    )
    threads: int = Field(default=8, ge=1, le=256, description="Threads per gthread worker.")
    gevent_connections: int = Field(default=100, ge=1, le=10000)
    db_pool_size: int = Field(
        default=30, ge=1, le=200, description="DB connections per service, shared by its processes."
    )
    def_threads: int = Field(default=40, ge=1, le=1000, description="FastAPI def thread pool.")
    http_pool_size: int = Field(default=100, ge=1, le=1000, description="Upstream connections.")

    postgres_user: str = "asynclab"
    postgres_password: str = "asynclab"
    postgres_db: str = "asynclab"
    postgres_max_connections: int = Field(default=300, ge=20, le=5000)
    postgres_synchronous_commit: Literal["on", "off"] = Field(
        default="on",
        description="Durable commits (on, the default: an acknowledged write survives a crash of "
        "Postgres) or off (faster /updates and POST /items; a crash loses the writes of the "
        "last ~0.1-0.6 s, and their ids can be handed out again). Every result records it.",
    )
    statement_timeout_ms: int = Field(default=30_000, ge=100)
    connect_timeout_s: float = Field(default=3.0, gt=0)

    metrics_enabled: bool = Field(default=True, description="Serve /metrics and time requests.")
    # Checked when the lab starts (asynclab/target_check.py), not here: a setting that does not
    # parse must not stop `asynclab down` or `status`.
    target: str = Field(
        default="",
        description="A service the lab did not start, added to the web UI's Target list: "
        "LABEL=URL (asynclab/target.py), e.g. fastapi=http://10.0.0.5:8000.",
    )
    start_timeout_s: float = Field(default=60.0, gt=0, description="Wait for /readyz this long.")

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    def public(self) -> dict[str, Any]:
        """The settings as JSON for records other people read (bench results): no password.

        Only the lab's own lab.json, its owner's alone, keeps the password (asynclab/statedir.py).
        """
        return {**self.model_dump(mode="json"), "postgres_password": MASK}

    @staticmethod
    def shown(name: str, value: Any) -> str:
        """``value`` of the setting ``name`` as a message may show it: the password masked."""
        return MASK if name == "postgres_password" else repr(value)

    def database_url(self, host: str | None = None) -> str:
        return (
            f"postgresql://{self.postgres_user}:{self.postgres_password}"
            f"@{host or self.host}:{self.postgres_port}/{self.postgres_db}"
        )

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    def port(self, service: str) -> int:
        """The port ``service`` (a row of asynclab/registry.py) is served on."""
        port: int = getattr(self, get_service(service).port_setting)
        return port

    def variant(self, service: str) -> str:
        """The variant ``service`` runs when the lab starts."""
        variant: str = getattr(self, get_service(service).variant_setting)
        return variant

    def service_url(self, service: str) -> str:
        return self.url(self.port(service))

    @property
    def upstream_url(self) -> str:
        return self.url(self.upstream_port)
