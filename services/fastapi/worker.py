"""The uvicorn worker class gunicorn runs for ``fastapi-workers``: same flags as plain uvicorn."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    # Mirrors the uvicorn command line in asynclab/variants.py (uvloop, httptools, app's Server).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": "httptools",
        "server_header": False,
        "access_log": False,
    }
