"""The lab's services: one row per framework under test, the table every consumer iterates.

A service is a folder under ``services/`` (``app.py`` with ``create_app``) and a row here; the
native runner, the settings (``<name>_port``, ``<name>_variant``, read from
``ASYNCLAB_<NAME>_PORT`` and ``ASYNCLAB_<NAME>_VARIANT``), Prometheus' targets, the web UI's
"Target" drop-down, the bench's pairing and the scripts all follow the table. Adding one takes:

- a row in :data:`SERVICES`;
- its folder, ``services/<name>/app.py``, whose ``create_app()`` answers the contract;
- its variants in ``asynclab/variants.py``, named ``<name>-...``;
- the blocks of the static files that ``tests/test_registry_files.py`` asks for, word for
  word (compose.yaml, .env, prometheus/, scripts/compose.sh, the Grafana dashboard).

This module imports nothing but the standard library: every service process imports it
(``services/common/config.py`` checks ``SERVICE_NAME`` against it), and the services must not
pull in the lab's runner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# A name becomes part of setting names (flask_port), environment variables
# (ASYNCLAB_FLASK_PORT), a compose host name and a Prometheus job: lower case, no dash.
NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Service:
    """One service of the lab; the framework it runs is its name."""

    name: str  # SERVICE_NAME, the "service" label of its metrics, "Server: asynclab-<name>"
    label: str  # for people: the CLI's URL list, charts, the compose lab's URL list
    language: str
    port: int  # the default of <name>_port; also the port inside its compose container
    variant: str  # the default of <name>_variant, a variant of asynclab/variants.py
    # How a server calls create_app()'s application; "http": the service is its own server
    # (the reference services in Node and Go, started by their variants' commands).
    interface: Literal["wsgi", "asgi", "http"]
    job: str  # its Prometheus job: prometheus/prometheus.yml, prometheus/targets/<job>.yml
    folder: str  # its code, relative to the project root: services/<name>
    # The distributions a result records the versions of (asynclab/bench/report.py).
    packages: tuple[str, ...]

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"service name {self.name!r} must match {NAME.pattern}")

    @property
    def port_setting(self) -> str:
        """The setting of its port: ``flask_port``, read from ``ASYNCLAB_FLASK_PORT``."""
        return f"{self.name}_port"

    @property
    def variant_setting(self) -> str:
        """The setting of the variant it serves: ``flask_variant``."""
        return f"{self.name}_variant"

    @property
    def port_env(self) -> str:
        return f"ASYNCLAB_{self.port_setting.upper()}"

    @property
    def variant_env(self) -> str:
        return f"ASYNCLAB_{self.variant_setting.upper()}"

    @property
    def python(self) -> bool:
        """Served by a Python server (gunicorn, uvicorn, granian) from ``create_app()``."""
        return self.interface != "http"

    @property
    def event_loop(self) -> bool:
        """Whether its requests share an event loop (ASGI's asyncio, Node's), whose lag it
        exports as ``event_loop_lag_seconds`` (docs/contract.md, Metrics)."""
        return self.interface == "asgi" or self.language == "javascript"

    @property
    def factory(self) -> str:
        """What servers import: ``services.flask.app:create_app``, which builds the app."""
        if not self.python:
            raise ValueError(f"{self.name} is its own server: it has no Python factory")
        return f"{self.folder.replace('/', '.')}.app:create_app"


SERVICES: dict[str, Service] = {
    s.name: s
    for s in [
        Service("flask", "Flask", "python", 8001, "flask-sync", "wsgi", "flask",
                "services/flask", ("flask",)),
        Service("fastapi", "FastAPI", "python", 8002, "fastapi-async", "asgi", "fastapi",
                "services/fastapi", ("fastapi", "starlette")),
        # Reference services, to test the claim that FastAPI is "on par with NodeJS and Go".
        # (Prometheus job "node" is the node exporter's.)
        Service("node", "Node", "javascript", 8004, "node-single", "http", "nodejs",
                "services/node", ()),
        Service("go", "Go", "go", 8005, "go-single", "http", "go", "services/go", ()),
    ]
}  # fmt: skip

# The service Locust's web UI aims at until someone picks another in its "Target" drop-down.
WEB_UI_TARGET = "fastapi"


def get_service(name: str) -> Service:
    """The row called ``name``; ValueError naming the known ones otherwise."""
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(SERVICES)
        raise ValueError(f"unknown service {name!r}; choose one of: {known}") from None
