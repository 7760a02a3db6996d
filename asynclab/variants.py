"""Service variants: the one table that says how each variant is started and how many slots it has.

The native runner and compose.yaml both start exactly ``Variant.command()`` with
``Variant.environment()``; ``tests/compose/test_consistency.py`` proves compose says the same.

Concurrency budgets are *per service*, divided among its processes, so that variants differ
only in their concurrency model. For example with ``db_pool_size=30`` and 3 workers each
gunicorn worker of ``fastapi-workers`` holds 10 connections, and ``fastapi-async`` holds 30
in its single process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asynclab.registry import get_service
from asynclab.settings import LabSettings

# A service's name: a key of asynclab.registry.SERVICES.
Framework = str
Server = Literal["gunicorn", "uvicorn"]

GUNICORN_CONFIG = "services/gunicorn.conf.py"
# uvicorn's httptools protocol with a deadline on the request head (slow clients).
UVICORN_PROTOCOL = "services.fastapi.protocol:HttpToolsProtocol"


@dataclass(frozen=True)
class Variant:
    name: str
    framework: Framework
    server: Server
    worker_class: str
    multiprocess: bool
    handlers: Literal["sync", "async", "def"]
    description: str
    # A buffering proxy in front of the server, started with it as one program on the service
    # CPUs (services/proxy.py): its CPU is the variant's, its slots are the server's.
    proxy: Literal["nginx"] | None = None

    def processes(self, s: LabSettings) -> int:
        return s.workers if self.multiprocess else 1

    def requests_per_process(self, s: LabSettings) -> int:
        """How many requests one process serves at once (its request slots)."""
        if self.worker_class == "sync":
            return 1
        if self.worker_class == "gthread":
            return s.threads
        if self.handlers == "def":
            return s.def_threads
        return s.gevent_connections if self.worker_class == "gevent" else 10**6

    def db_pool_per_process(self, s: LabSettings) -> int:
        share = max(1, s.db_pool_size // self.processes(s))
        return min(share, self.requests_per_process(s))

    def http_pool_per_process(self, s: LabSettings) -> int:
        share = max(1, s.http_pool_size // self.processes(s))
        return min(share, self.requests_per_process(s))

    def request_slots(self, s: LabSettings) -> int | None:
        """Requests the whole service can hold at once; None when only memory bounds it."""
        per = self.requests_per_process(s)
        return None if per >= 10**6 else per * self.processes(s)

    def db_slots(self, s: LabSettings) -> int:
        """Requests that can wait inside Postgres at once: the Little's-law numerator."""
        return self.db_pool_per_process(s) * self.processes(s)

    def upstream_slots(self, s: LabSettings) -> int:
        return self.http_pool_per_process(s) * self.processes(s)

    def blocking_slots(self, s: LabSettings) -> int:
        """Requests that can sleep in ``/pitfall/blocking`` at once (one per event loop)."""
        if self.handlers == "async":
            return self.processes(s)
        return self.request_slots(s) or self.processes(s)

    def command(self, s: LabSettings, python: str, port: int, host: str | None = None) -> list[str]:
        bind = f"{host or s.host}:{port}"
        if self.server == "gunicorn":
            app = get_service(self.framework).factory + "()"
            if self.proxy == "nginx":  # nginx takes the port; gunicorn gets a Unix socket
                gunicorn = [python, "-m", "gunicorn", "-c", GUNICORN_CONFIG, app]
                return [python, "-m", "services.proxy", "--bind", bind, "--", *gunicorn]
            return [python, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "--bind", bind, app]
        # The uvicorn command line lives here and nowhere else (compose repeats it, tested).
        return [
            python, "-m", "uvicorn", get_service(self.framework).factory, "--factory",
            "--host", host or s.host, "--port", str(port),
            "--loop", "uvloop", "--http", UVICORN_PROTOCOL,
            # The server names the service, as gunicorn does for Flask: cheaper than a middleware,
            # and it covers uvicorn's own refusals too.
            "--no-access-log", "--header", f"server:asynclab-{self.framework}",
            # Nothing proxies to uvicorn here: reading X-Forwarded-* would cost every request
            # and only let a client pose as another address (TechEmpower's FastAPI runs so too).
            "--no-proxy-headers",
            "--timeout-graceful-shutdown", "5",
            # Slow clients: keep-alive as gunicorn's keepalive; the protocol above also closes a
            # connection whose request head is not complete within 5 s (README, contract).
            "--timeout-keep-alive", "5",
        ]  # fmt: skip

    def environment(
        self, s: LabSettings, database_url: str, upstream_url: str, metrics_dir: str
    ) -> dict[str, str]:
        env = {
            "SERVICE_NAME": self.framework,
            "SERVICE_VARIANT": self.name,
            "SERVICE_HANDLERS": self.handlers,
            "SERVICE_DATABASE_URL": database_url,
            "SERVICE_UPSTREAM_URL": upstream_url,
            "SERVICE_DB_POOL_SIZE": str(self.db_pool_per_process(s)),
            "SERVICE_HTTP_POOL_SIZE": str(self.http_pool_per_process(s)),
            "SERVICE_DEF_THREADS": str(s.def_threads),
            "SERVICE_STATEMENT_TIMEOUT_MS": str(s.statement_timeout_ms),
            "SERVICE_CONNECT_TIMEOUT_S": str(s.connect_timeout_s),
            "SERVICE_METRICS_ENABLED": "true" if s.metrics_enabled else "false",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        if self.server == "gunicorn":
            env |= {
                "GUNICORN_WORKER_CLASS": self.worker_class,
                "GUNICORN_WORKERS": str(self.processes(s)),
                "GUNICORN_THREADS": str(s.threads if self.worker_class == "gthread" else 1),
                "GUNICORN_WORKER_CONNECTIONS": str(s.gevent_connections),
            }
        return env

    def config(self, s: LabSettings) -> dict[str, object]:
        """What the manifest records about this variant."""
        return {
            "name": self.name,
            "framework": self.framework,
            "server": self.server,
            "worker_class": self.worker_class,
            "handlers": self.handlers,
            "processes": self.processes(s),
            "request_slots": self.request_slots(s),
            "db_pool_per_process": self.db_pool_per_process(s),
            "db_slots": self.db_slots(s),
            "upstream_slots": self.upstream_slots(s),
            "blocking_slots": self.blocking_slots(s),
            "proxy": self.proxy,
            "description": self.description,
        }


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("flask-sync", "flask", "gunicorn", "sync", True, "sync",
                "gunicorn sync workers: one request per process"),
        Variant("flask-gthread", "flask", "gunicorn", "gthread", True, "sync",
                "gunicorn gthread workers: a thread pool per process"),
        Variant("flask-gevent", "flask", "gunicorn", "gevent", True, "sync",
                "gunicorn gevent workers: greenlets, psycopg and httpx cooperate"),
        Variant("flask-sync-nginx", "flask", "gunicorn", "sync", True, "sync",
                "gunicorn sync workers behind nginx, which buffers slow clients", proxy="nginx"),
        Variant("fastapi-async", "fastapi", "uvicorn", "uvicorn", False, "async",
                "one uvicorn process (uvloop, httptools), async def handlers"),
        Variant("fastapi-workers", "fastapi", "gunicorn", "services.fastapi.worker.Worker", True,
                "async", "gunicorn with uvicorn workers, async def handlers"),
        Variant("fastapi-def", "fastapi", "uvicorn", "uvicorn", False, "def",
                "one uvicorn process, plain def handlers in FastAPI's thread pool"),
    ]
}  # fmt: skip


def get_variant(name: str, framework: Framework | None = None) -> Variant:
    """The variant called ``name``; with ``framework``, it must be one of that framework's."""
    if framework is not None:
        get_service(framework)  # ValueError naming the known services
    try:
        variant = VARIANTS[name]
    except KeyError:
        known = ", ".join(v.name for v in VARIANTS.values() if framework in (None, v.framework))
        raise ValueError(f"unknown variant {name!r}; choose one of: {known}") from None
    if framework is not None and variant.framework != framework:
        raise ValueError(f"variant {name!r} is a {variant.framework} variant, not {framework}")
    return variant
