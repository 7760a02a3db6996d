"""Service variants: the one table that says how each variant is started and how many slots it has.

The native runner and compose.yaml both start exactly ``Variant.command()`` with
``Variant.environment()``; ``tests/compose/test_consistency.py`` proves compose says the same.

Concurrency budgets are *per service*, divided among its processes, so that variants differ
only in their concurrency model. For example with ``db_pool_size=30`` and 3 workers each
gunicorn worker of ``fastapi-workers`` holds 10 connections, and ``fastapi-async`` holds 30
in its single process.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from asynclab.registry import get_service
from asynclab.settings import LabSettings

TIMES = "\u00d7"

# A service's name: a key of asynclab.registry.SERVICES.
Framework = str
# "node" and "go": the reference services, each its own server.
Server = Literal["gunicorn", "uvicorn", "granian", "node", "go"]
# How handlers wait: "sync" and "def" hold an OS thread (or a greenlet) while they wait; "async"
# interleaves requests on one event loop per process (asyncio, Node); "goroutine": a goroutine per
# request, which Go's runtime parks while it waits, so no wait holds a thread or a loop.
Handlers = Literal["sync", "async", "def", "goroutine"]

GUNICORN_CONFIG = "services/gunicorn.conf.py"
# uvicorn's httptools protocol with a deadline on the request head (slow clients).
UVICORN_PROTOCOL = "services.fastapi.protocol:HttpToolsProtocol"
# What granian serves: the service's app (by SERVICE_NAME) with the Server header its usual
# server sends; ``wsgi_app`` or ``asgi_app`` by the service's interface.
GRANIAN_APPS = "services.granian_apps"
# gunicorn's and uvicorn's default listen backlog; granian's default is 1024.
BACKLOG = 2048
# Seconds a stopping server may take to answer what it holds, by the app's interface: under
# granian, as under its usual server: gunicorn's graceful_timeout for a WSGI app
# (services/gunicorn.conf.py), uvicorn's --timeout-graceful-shutdown for an ASGI one.
GRACEFUL_S = {"wsgi": 10, "asgi": 5}
# The reference services' programs (docs/contract.md), run from the project root.
NODE_ENTRY = "services/node/server.js"
GO_BINARY = "services/go/bin/asynclab-go"
# How each gets what it runs: the lab refuses to start a program that is not there.
INSTALL_HINT = {
    "node": "run scripts/install.sh (npm ci in services/node)",
    "go": "run scripts/install.sh (services/go/build.sh builds it)",
}


@dataclass(frozen=True)
class Variant:
    name: str
    framework: Framework
    server: Server
    worker_class: str
    multiprocess: bool
    handlers: Handlers
    description: str
    # A buffering proxy in front of the server, started with it as one program on the service
    # CPUs (services/proxy.py): its CPU is the variant's, its slots are the server's.
    proxy: Literal["nginx"] | None = None

    def processes(self, s: LabSettings) -> int:
        return s.workers if self.multiprocess else 1

    @property
    def concurrent_calls(self) -> bool:
        """Whether a request's upstream calls (``/fanout``) go out at once, not one by one."""
        return self.handlers in ("async", "goroutine")

    def go_threads(self, s: LabSettings) -> int:
        """GOMAXPROCS: the OS threads that run Go code at once (go-multi: one per service CPU,
        the CPUs it is pinned to, or every CPU where it cannot be pinned)."""
        if self.worker_class != "goroutines-all-cpus":
            return 1
        from asynclab.procs import parse_cpus, pinning  # procs imports this module

        pinned, _ = pinning(s.service_cpus, s)
        return len(parse_cpus(pinned)) if pinned else len(os.sched_getaffinity(0))

    def holder(self) -> str:
        """What the report calls one process: a "worker" of several, or the one "process"."""
        return "worker" if self.multiprocess else "process"

    def handler_threads(self, s: LabSettings) -> int | None:
        """OS threads that run one process's handlers; None where one thread interleaves
        every request of the process (gevent's greenlets, an event loop)."""
        if self.worker_class == "sync":
            return 1
        if self.worker_class == "gthread" or (self.server == "granian" and self.handlers == "sync"):
            return s.threads  # gunicorn's threads, granian's blocking threads
        if self.handlers == "def":
            return s.def_threads
        return None  # greenlets, an event loop, goroutines

    def connections_per_process(self, s: LabSettings) -> int | None:
        """Connections one process takes from the listen backlog at once; None: no limit.

        gunicorn's ``worker_connections`` (gthread, gevent) and granian's ``--backpressure``
        (flask-granian takes gthread's number); a sync worker takes one; uvicorn takes all.
        """
        if self.worker_class == "sync":
            return 1
        if self.worker_class in ("gthread", "gevent") or self.server == "granian":
            return BACKLOG if self.handlers == "async" else s.gevent_connections
        return None

    def requests_per_process(self, s: LabSettings) -> int:
        """How many requests one process serves at once (its request slots)."""
        threads = self.handler_threads(s)
        if threads is not None:
            return threads
        # Greenlets, or granian's event loop: a request per connection taken.
        return self.connections_per_process(s) or 10**6

    def request_slots_text(self, s: LabSettings) -> str:
        """``"3 sync workers"``, ``"3 workers x 8 threads"``, ``"unbounded"`` (times sign)."""
        p, holder = self.processes(s), self.holder()
        if self.worker_class == "sync":
            return plural(p, "sync worker")
        threads = self.handler_threads(s)
        if threads is not None:
            return f"{plural(p, holder)} {TIMES} {threads} threads"
        per = self.connections_per_process(s)
        if per is None:
            return "unbounded"
        unit = "greenlets" if self.worker_class == "gevent" else "connections"
        return f"{plural(p, holder)} {TIMES} {per} {unit}"

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

    def blocking_slots(self, s: LabSettings) -> int | None:
        """Requests that can sleep in ``/pitfall/blocking`` at once (one per event loop); None:
        no bound (a sleeping goroutine holds no thread)."""
        if self.handlers == "async":
            return self.processes(s)
        if self.handlers == "goroutine":
            return None
        return self.request_slots(s) or self.processes(s)

    def command(self, s: LabSettings, python: str, port: int, host: str | None = None) -> list[str]:
        bind = f"{host or s.host}:{port}"
        if self.server in ("node", "go"):
            program = ["node", NODE_ENTRY] if self.server == "node" else [GO_BINARY]
            return [*program, "--host", host or s.host, "--port", str(port)]
        if self.server == "gunicorn":
            app = get_service(self.framework).factory + "()"
            if self.proxy == "nginx":  # nginx takes the port; gunicorn gets a Unix socket
                gunicorn = [python, "-m", "gunicorn", "-c", GUNICORN_CONFIG, app]
                return [python, "-m", "services.proxy", "--bind", bind, "--", *gunicorn]
            return [python, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "--bind", bind, app]
        if self.server == "granian":
            return self._granian_command(s, python, port, host)
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

    def _granian_command(
        self, s: LabSettings, python: str, port: int, host: str | None
    ) -> list[str]:
        """granian with its siblings' settings: flask-gthread's processes, threads and
        connections for Flask, fastapi-async's one uvloop process for FastAPI."""
        kind = get_service(self.framework).interface
        if kind == "asgi":
            interface = ["--interface", "asgi", "--loop", "uvloop"]
        else:
            interface = ["--interface", "wsgi", "--blocking-threads", str(self.handler_threads(s))]
        return [
            python, "-m", "granian", *interface, "--factory", f"{GRANIAN_APPS}:{kind}_app",
            "--host", host or s.host, "--port", str(port),
            "--workers", str(self.processes(s)),
            # Connections a worker takes at once; the rest wait in the kernel's backlog.
            "--backpressure", str(self.connections_per_process(s)),
            "--backlog", str(BACKLOG),
            "--http", "1", "--no-ws", "--no-access-log",
            # Slow clients: a request head must be complete within 5 s of connecting or of the
            # previous answer, as under uvicorn (services/fastapi/protocol.py) and gevent.
            "--http1-header-read-timeout", "5000",
            "--workers-kill-timeout", str(GRACEFUL_S[kind]),
            # Like gunicorn's arbiter, and unlike a lone uvicorn, replace a worker that died.
            *(["--respawn-failed-workers"] if self.multiprocess else []),
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
        if self.server == "node":
            env["SERVICE_WORKERS"] = str(self.processes(s))
        if self.server == "go":
            env["GOMAXPROCS"] = str(self.go_threads(s))
        if self.server == "gunicorn":
            env |= {
                "GUNICORN_WORKER_CLASS": self.worker_class,
                "GUNICORN_WORKERS": str(self.processes(s)),
                "GUNICORN_THREADS": str(s.threads if self.worker_class == "gthread" else 1),
                "GUNICORN_WORKER_CONNECTIONS": str(s.gevent_connections),
            }
        return env

    def missing(self, root: Path) -> str | None:
        """What is missing to start this variant under ``root``, and how to get it; None: ready."""
        if self.server == "node":
            if shutil.which("node") is None:
                return "node is not installed: sudo apt-get install nodejs"
            if not (root / "services/node/node_modules").is_dir():
                return f"services/node has no node_modules: {INSTALL_HINT['node']}"
        if self.server == "go" and not (root / GO_BINARY).is_file():
            return f"{GO_BINARY} is not built: {INSTALL_HINT['go']}"
        return None

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
                "gunicorn gevent workers: greenlets, psycopg and urllib3 cooperate"),
        Variant("flask-sync-nginx", "flask", "gunicorn", "sync", True, "sync",
                "gunicorn sync workers behind nginx, which buffers slow clients", proxy="nginx"),
        Variant("fastapi-async", "fastapi", "uvicorn", "uvicorn", False, "async",
                "one uvicorn process (uvloop, httptools), async def handlers"),
        Variant("fastapi-workers", "fastapi", "gunicorn", "services.fastapi.worker.Worker", True,
                "async", "gunicorn with uvicorn workers, async def handlers"),
        Variant("fastapi-def", "fastapi", "uvicorn", "uvicorn", False, "def",
                "one uvicorn process, plain def handlers in FastAPI's thread pool"),
        Variant("flask-granian", "flask", "granian", "granian", True, "sync",
                "granian (Rust HTTP, WSGI) with flask-gthread's budget, its workers being "
                "thread pools too: the same workers, threads (as blocking threads) and "
                "connections per worker"),
        Variant("fastapi-granian", "fastapi", "granian", "granian", False, "async",
                "one granian process (Rust HTTP, ASGI on uvloop), async def handlers: "
                "fastapi-async under another server"),
        Variant("node-single", "node", "node", "event-loop", False, "async",
                "one Node process: Fastify on its event loop, pg's pool, undici's keep-alive pool"),
        Variant("node-cluster", "node", "node", "event-loop", True, "async",
                "node:cluster workers sharing the port, an event loop each"),
        Variant("go-single", "go", "go", "goroutines", False, "goroutine",
                "Go net/http and pgxpool, GOMAXPROCS=1: one thread runs Go code at a time"),
        Variant("go-multi", "go", "go", "goroutines-all-cpus", False, "goroutine",
                "Go net/http and pgxpool, GOMAXPROCS = the service's CPUs"),
    ]
}  # fmt: skip


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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
