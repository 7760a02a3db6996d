"""Container healthcheck with the standard library only (the images have no curl).

``python docker/healthcheck.py URL`` passes when URL answers 200. Without an argument it reads
what PID 1 serves from its command line, so one image's HEALTHCHECK fits every variant:

    >>> target(["python", "-m", "uvicorn", "app", "--host", "0.0.0.0", "--port", "8002"])
    'http://127.0.0.1:8002/healthz'
"""

from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit


def _option(argv: list[str], name: str, default: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def target(argv: list[str]) -> str:
    """What to probe for a process started with ``argv``: an http:// or a tcp:// address."""
    if any(Path(arg).name == "locust" for arg in argv[:3]):
        if "--worker" in argv:
            host = _option(argv, "--master-host", "127.0.0.1")
            return f"tcp://{host}:{_option(argv, '--master-port', '5557')}"
        return f"http://127.0.0.1:{_option(argv, '--web-port', '8089')}/"
    if "gunicorn" in argv:
        port = _option(argv, "--bind", ":8000").rsplit(":", 1)[1]
    else:
        port = _option(argv, "--port", "8000")
    return f"http://127.0.0.1:{port}/healthz"


def probe(address: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(address)
    if parts.scheme == "tcp":
        try:
            with socket.create_connection((parts.hostname or "", parts.port or 0), timeout):
                return True
        except OSError:
            return False
    # No proxies: a proxy from the container's environment must never see a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(address, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main(args: list[str]) -> int:
    if args:
        address = args[0]
    else:
        cmdline = Path("/proc/1/cmdline").read_bytes().rstrip(b"\0")
        address = target([a.decode() for a in cmdline.split(b"\0")])
    return 0 if probe(address) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
