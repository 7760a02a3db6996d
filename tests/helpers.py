"""Helpers shared by the test suite: free ports, polling, and looking for leftover processes."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psutil

from asynclab.settings import LabSettings

T = TypeVar("T")

# The ``lab_settings_factory`` fixture: keyword overrides in, isolated LabSettings out.
LabSettingsFactory = Callable[..., LabSettings]

# The lab's default ports: other people's labs may be using them on this machine.
RESERVED_PORTS = {8001, 8002, 8003, 55432, 9090, 3000, 8089, 9187, 9100, 9646, 9647}


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that nothing listens on right now (all bound at once)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if port not in RESERVED_PORTS:
                ports.append(port)
        return ports


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


@contextlib.contextmanager
def listening(port: int, host: str = "127.0.0.1") -> Iterator[socket.socket]:
    """Occupy ``port`` with a listening socket, as another program would."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, port))
        sock.listen()
        yield sock


def poll_until(fn: Callable[[], T], description: str, timeout: float = 60.0) -> T:
    """Call ``fn`` until it returns something truthy, and return that; fail after ``timeout``.

    The bound is generous on purpose: it is reached only when the condition never comes, and a
    busy machine (the suite must pass on one) may take many times longer than an idle one.

    ``poll_until(lambda: not pid_alive(pid), "flask to exit")``
    """
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {description}")
        time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (e.g. a state dir)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if text in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{proc.pid}: {cmdline}")
    return found


def terminate(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a process a test started: SIGTERM, then SIGKILL if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
