#!/usr/bin/env python3
"""Slow clients against every service variant: idle connections and slowloris.

Starts its own native lab (free ports, temporary state dir) and, for each variant and attack,
restarts the variant (so that no attack inherits the damage of the previous one), then:

- ``idle``: opens N TCP connections that never send a byte;
- ``slowloris``: opens N connections that send a request line and then one header line every
  ``--trickle`` seconds, never finishing the request head.

While they are held it asks ``GET /json`` (``--probe-timeout``) once right away and once
after ``--hold`` seconds; at that point it counts which of the N connections are still open
(the rest the server closed) and how many of them the service's processes hold (a file
descriptor each; the others wait in the listen backlog).

    .venv/bin/python scripts/bench_slow_clients.py --idle 3,300,3000 --slowloris 200

Prints a Markdown table; ``--json`` writes the rows too. It takes about
(variants x attacks x (hold + restart)) seconds: 7 x 4 x 40 s is about 20 minutes here
(a blocked flask-sync takes 15 s to stop).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from asynclab.lab import Lab
from asynclab.procs import group_members, isolated_settings
from asynclab.variants import VARIANTS, Variant


def open_connections(host: str, port: int, count: int, head: bytes) -> list[socket.socket]:
    """Up to ``count`` connections: fewer when the server's backlog is full (connect times out)."""
    socks = []
    for _ in range(count):
        try:
            sock = socket.create_connection((host, port), timeout=5)
            sock.settimeout(None)  # blocking: state() peeks with MSG_DONTWAIT
            if head:
                sock.sendall(head)
        except OSError:
            break
        socks.append(sock)
    return socks


def state(sock: socket.socket) -> str:
    """``open``, ``closed`` (by the server, or reset) or ``answered`` (it sent something)."""
    try:
        data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return "open"
    except OSError:
        return "closed"
    return "answered" if data else "closed"


def trickle(socks: list[socket.socket], every: float, stop: threading.Event) -> None:
    """Send one more header line on every connection every ``every`` seconds."""
    while not stop.wait(every):
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.send(b"X-Slow: 1\r\n")


def probe(url: str, timeout: float) -> str:
    start = time.monotonic()
    try:
        response = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        return f"no ({type(exc).__name__})"
    return f"{response.status_code} in {(time.monotonic() - start) * 1000:.0f} ms"


def connections_held(pid: int, port: int, clients: set[int]) -> int:
    """How many of our connections (by client port) the service's processes hold open."""
    held = set()
    for member in group_members(pid):
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(member).net_connections(kind="tcp"):
                ours = conn.raddr and conn.raddr.port in clients
                if ours and conn.laddr and conn.laddr.port == port:
                    held.add(conn.raddr.port)
    return len(held)


def attack(
    lab: Lab, variant: Variant, kind: str, count: int, args: argparse.Namespace
) -> dict[str, Any]:
    record = lab.switch(variant.framework, variant.name)  # a fresh service for every attack
    s = lab.settings
    port = s.port(variant.framework)
    url = f"{s.url(port)}/json"
    head = b"GET /json HTTP/1.1\r\nHost: lab\r\n" if kind == "slowloris" else b""
    stop = threading.Event()
    socks = open_connections(s.host, port, count, head)
    thread = threading.Thread(target=trickle, args=(socks, args.trickle, stop), daemon=True)
    if kind == "slowloris":
        thread.start()
    try:
        started = time.monotonic()
        served_at_once = probe(url, args.probe_timeout)
        time.sleep(max(0.0, args.hold - (time.monotonic() - started)))
        states = [state(sock) for sock in socks]
        clients = {sock.getsockname()[1] for sock in socks}
        held_by_service = connections_held(record.pid, port, clients)
        served_later = probe(url, args.probe_timeout)
    finally:
        stop.set()
        for sock in socks:
            sock.close()
        if thread.is_alive():
            thread.join()
    return {
        "variant": variant.name,
        "attack": kind,
        "connections": count,
        "opened": len(socks),
        "served_at_once": served_at_once,
        f"held_after_{args.hold:g}s": states.count("open"),
        "closed": states.count("closed"),
        "answered": states.count("answered"),
        "held_by_service": held_by_service,
        f"served_after_{args.hold:g}s": served_later,
    }


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # `kill` (and Ctrl-C, also in a background job) stops the lab this script started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--idle", default="3,300", help="idle connection counts")
    parser.add_argument("--slowloris", default="200", help="slowloris connection counts")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds before counting")
    parser.add_argument("--trickle", type=float, default=2.0, help="slowloris header interval")
    parser.add_argument("--probe-timeout", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    attacks = [("idle", int(n)) for n in args.idle.split(",") if n] + [
        ("slowloris", int(n)) for n in args.slowloris.split(",") if n
    ]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="asynclab-slow-") as tmp:
        Path(tmp).chmod(0o711)  # as root Postgres runs as nobody and must enter it
        lab = Lab(isolated_settings(Path(tmp) / "state"))
        lab.up()
        try:
            for name in args.variants.split(","):
                for kind, count in attacks:
                    rows.append(attack(lab, VARIANTS[name], kind, count, args))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            lab.down()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
