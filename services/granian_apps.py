"""What granian serves (flask-granian, fastapi-granian): each service's app, named as its usual
server names it.

``wsgi_app`` and ``asgi_app`` build the app of the service ``SERVICE_NAME`` names, by its row in
asynclab/registry.py, so a service added there runs under granian too. gunicorn sends ``Server:
asynclab-flask`` (services/gunicorn.conf.py) and uvicorn ``Server: asynclab-fastapi``
(``--header`` in asynclab/variants.py). granian has no such option: it sends
``server: granian`` unless the application sends a Server header, which then replaces it. So
each app is wrapped once more, outermost, to add the header to every answer it gives; the
answers granian gives itself (a head it cannot parse) carry none, as docs/contract.md says.
The cost is one Python call per response: 0.2 us for the start_response wrapper, 0.6 us for
the ASGI send wrapper (measured in process), against 85-125 us of CPU per /json request.

A WSGI app also gets the head limits that gunicorn would enforce (services/flask/head_limits.py);
the FastAPI app enforces its own under any server (services/fastapi/limits.py).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asynclab.registry import get_service
from services.flask.head_limits import HeadLimits

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _NamedWSGI:
    def __init__(self, app: WSGIApplication, name: str) -> None:
        self.app = app
        self.server = ("Server", f"asynclab-{name}")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        server = self.server

        def named(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(server)
            return start_response(status, headers, exc_info)

        return self.app(environ, named)


class _NamedASGI:
    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.server = (b"server", f"asynclab-{name}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan
            await self.app(scope, receive, send)
            return

        server = self.server

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), server]}
            await send(message)

        await self.app(scope, receive, named)


def _create_app() -> tuple[str, Any]:
    """The name of the service this process serves, and its app (from its registry row)."""
    service = get_service(os.environ.get("SERVICE_NAME", ""))
    module, _, function = service.factory.partition(":")
    # Imported here: a FastAPI worker need not load Flask, nor a Flask worker FastAPI.
    return service.name, getattr(importlib.import_module(module), function)()


def wsgi_app() -> WSGIApplication:
    """``granian --interface wsgi --factory services.granian_apps:wsgi_app``."""
    name, app = _create_app()
    return _NamedWSGI(HeadLimits(app), name)


def asgi_app() -> ASGIApp:
    """``granian --interface asgi --factory services.granian_apps:asgi_app``."""
    name, app = _create_app()
    return _NamedASGI(app, name)
