"""nginx in front of gunicorn, as one program: the ``flask-sync-nginx`` variant.

    python -m services.proxy --bind 127.0.0.1:8001 -- \\
        python -m gunicorn -c services/gunicorn.conf.py 'services.flask.app:create_app()'

gunicorn's sync workers read a request with blocking calls, from the first byte to the last: a
client that connects and sends nothing holds a worker until gunicorn's timeout kills it, and
three of them stop flask-sync. gunicorn's documentation asks for a buffering proxy in front of
sync workers, and this is that deployment: nginx reads each request whole (head within 5 s,
the same limit as every other server of the lab), passes it on over a Unix socket, and takes
the answer whole, so a worker is busy only while the app runs.

One program, so that the variant table keeps one command per variant and the lab starts, pins
and stops it like any other: nginx and gunicorn are its children, pinned with it to the service
CPUs (taskset is inherited), and their CPU counts as the variant's (the bench samples the
process tree). nginx has one worker process.

Stopping: on SIGTERM (or SIGINT) nginx stops first, gracefully (SIGQUIT: it closes its listening
socket and finishes every request it holds, which gunicorn still serves), then gunicorn
(SIGTERM: it drains what it has). Both run in process groups of their own, so that the lab's
SIGTERM to this program's group reaches only this program, which orders the two; the lab's
SIGKILL, should it come to that, reaches the whole session (asynclab/procs.py).
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

# gunicorn's graceful_timeout (services/gunicorn.conf.py) bounds nginx's part of a stop. The
# whole stop, nginx's part then gunicorn's, has one deadline below the lab's SIGKILL at 15 s
# (asynclab/procs.py): the program ends its children itself, in order, rather than be killed.
GRACEFUL_S = 10
STOP_BUDGET_S = 13
START_TIMEOUT_S = 60

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
worker_shutdown_timeout {graceful}s;
pid {run}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;

    # Slow clients, as the lab's other servers treat them (README): the whole request head
    # within 5 s of connecting or of the previous answer, else the connection is closed.
    client_header_timeout 5s;
    keepalive_timeout 5s;
    client_body_timeout 5s;
    send_timeout 10s;
    # gunicorn judges the head (services/common/limits.py: a 4094-byte request line, 100
    # fields of 8190 bytes) and answers in the contract's JSON: nginx reads lines and fields
    # up to 32 KiB, 1 MiB in all, and refuses itself only beyond. Likewise the app answers 413
    # above 64 KiB of body, nginx only above 1 MiB (docs/contract.md).
    large_client_header_buffers 32 32k;
    # A malformed field line is refused (400), not dropped, as gunicorn does; fields with an
    # underscore go on to gunicorn, which decides about them as without nginx.
    ignore_invalid_headers off;
    underscores_in_headers on;
    client_max_body_size 1m;
    client_body_buffer_size 128k;

    upstream gunicorn {{
        server unix:{socket};
    }}

    server {{
        listen {bind} backlog=2048;

        location / {{
            proxy_pass http://gunicorn;
            proxy_set_header Host $http_host;
            proxy_redirect off;
            # The service names itself (asynclab-flask), as without nginx.
            proxy_pass_header Server;
            # gunicorn's worker timeout (120 s) is the one that bounds a request.
            proxy_read_timeout 130s;
        }}
    }}
}}
"""


stopping = False


def _stop(signum: int, frame: FrameType | None) -> None:
    global stopping
    stopping = True


def find_nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        sys.exit(
            "nginx not found: flask-sync-nginx needs it; install the Debian package nginx "
            "(apt-get install nginx), or run `make install`"
        )
    return found


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> bool:
    """True once ``ready()``; False when asked to stop first. Exits if ``proc`` dies."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if stopping:
            return False
        if proc.poll() is not None:
            sys.exit(f"{what} exited while starting (status {proc.returncode})")
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not start within {START_TIMEOUT_S} s")
        time.sleep(0.05)
    return True


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals, deadline: float) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve(bind: str, command: list[str], run: Path) -> int:
    socket_path = run / "gunicorn.sock"
    config = run / "nginx.conf"
    # As root nginx would run its worker as nobody, who could not reach the socket in this
    # private directory: it runs as the lab's user, like gunicorn.
    # The effective user's name, not $USER (which `su` without `-` leaves as the caller's).
    user = (
        f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
        if os.geteuid() == 0
        else ""
    )
    config.write_text(
        user + "\n" + CONFIG.format(run=run, bind=bind, socket=socket_path, graceful=GRACEFUL_S)
    )
    nginx = find_nginx()
    # Own process groups: the lab's SIGTERM to our group must not reach them (see above).
    gunicorn = subprocess.Popen([*command, "--bind", f"unix:{socket_path}"], process_group=0)
    proxy: subprocess.Popen[bytes] | None = None
    try:
        if not wait_for(socket_path.exists, gunicorn, "gunicorn"):
            return 0
        argv = [nginx, "-c", str(config), "-p", str(run), "-e", "stderr"]
        proxy = subprocess.Popen(argv, process_group=0)
        if not wait_for((run / "nginx.pid").exists, proxy, "nginx"):
            return 0
        while not stopping:  # until a signal, or until one of the two dies
            for child, name in ((gunicorn, "gunicorn"), (proxy, "nginx")):
                if child.poll() is not None:
                    print(f"{name} exited (status {child.returncode})", file=sys.stderr)
                    return 1
            time.sleep(0.1)
        return 0
    finally:
        deadline = time.monotonic() + STOP_BUDGET_S
        if proxy is not None:
            # graceful: every request it holds gets its answer
            stop(proxy, signal.SIGQUIT, deadline - 1)
        stop(gunicorn, signal.SIGTERM, deadline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="nginx in front of a gunicorn command")
    parser.add_argument("--bind", required=True, help="HOST:PORT nginx listens on")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- gunicorn's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give gunicorn's command after --")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with tempfile.TemporaryDirectory(prefix="asynclab-nginx-") as run:
        return serve(args.bind, command, Path(run))


if __name__ == "__main__":
    sys.exit(main())
