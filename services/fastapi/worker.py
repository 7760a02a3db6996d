"""The uvicorn worker class gunicorn runs for ``fastapi-workers``: same flags as plain uvicorn."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    # Mirrors the uvicorn command line in asynclab/variants.py: uvloop, httptools with a deadline
    # on the request head, the Server header, no proxy headers; keep-alive is gunicorn's
    # keepalive (5 s).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": "services.fastapi.protocol:HttpToolsProtocol",  # UVICORN_PROTOCOL
        # Replaces uvicorn's own Server header (uvicorn.config.Config.load).
        "headers": [("server", "asynclab-fastapi")],
        "access_log": False,
        "proxy_headers": False,
    }
