"""What granian serves (flask-granian, fastapi-granian): each service's app, named as its usual
server names it.

gunicorn sends ``Server: asynclab-flask`` (services/gunicorn.conf.py) and uvicorn ``Server:
asynclab-fastapi`` (``--header`` in asynclab/variants.py). granian has no such option: it sends
``server: granian`` unless the application sends a Server header, which then replaces it. So
each app is wrapped once more, outermost, to add the header to every answer it gives; the
answers granian gives itself (a head it cannot parse) carry none, as docs/contract.md says.
The cost is one Python call per response: 0.2 us for the start_response wrapper, 0.6 us for
the ASGI send wrapper (measured in process), against 85-125 us of CPU per /json request.

Flask also gets the head limits that gunicorn would enforce (services/flask/head_limits.py);
the FastAPI app enforces its own under any server (services/fastapi/limits.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from services.flask.head_limits import HeadLimits

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

FLASK_SERVER = ("Server", "asynclab-flask")
FASTAPI_SERVER = (b"server", b"asynclab-fastapi")


class _NamedWSGI:
    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def named(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(FLASK_SERVER)
            return start_response(status, headers, exc_info)

        return self.app(environ, named)


class _NamedASGI:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan
            await self.app(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), FASTAPI_SERVER]}
            await send(message)

        await self.app(scope, receive, named)


def flask_app() -> WSGIApplication:
    """``granian --interface wsgi --factory services.granian_apps:flask_app``."""
    # Imported here: a FastAPI worker need not load Flask, nor a Flask worker FastAPI.
    from services.flask.app import create_app

    return _NamedWSGI(HeadLimits(create_app()))


def fastapi_app() -> ASGIApp:
    """``granian --interface asgi --factory services.granian_apps:fastapi_app``."""
    from services.fastapi.app import create_app

    return _NamedASGI(create_app())
