"""Before any load, an external target must answer HTTP where the generator runs: real servers
on loopback, each refusal named."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from helpers import free_port, listening

from asynclab.target import TargetError, parse_target
from asynclab.target_check import REFUSED, check, main


@contextlib.contextmanager
def tcp_server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that hands each connection to ``answer`` in a thread of its own;
    yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # a closed socket does not wake accept(): look at `stop` meanwhile
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            answer(conn)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(timeout=10)


def speaks_ssh(conn: socket.socket) -> None:
    """Reads what it is sent, answers as an SSH server would (a line HTTP cannot parse)."""
    with contextlib.suppress(OSError):  # the reachability check connects and leaves at once
        if conn.recv(4096):
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n")


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_any_http_answer_will_do() -> None:
    # A service without /healthz still answers HTTP: 404 is an answer.
    with http_server() as port:
        answer = check(parse_target(f"other=http://127.0.0.1:{port}"))
    assert (answer.status, answer.path) == (404, "/healthz")
    assert "Python" in (answer.server or "")
    assert answer.seconds > 0


def test_a_port_nobody_listens_on_is_refused() -> None:
    port = free_port()
    with pytest.raises(TargetError) as refused:
        check(parse_target(f"fastapi=http://127.0.0.1:{port}"))
    assert str(refused.value) == (
        f"cannot reach http://127.0.0.1:{port}: connection refused: is the service running, "
        "on that port?"
    )


def test_a_server_that_does_not_speak_http_is_refused() -> None:
    with tcp_server(speaks_ssh) as port:
        with pytest.raises(TargetError, match="does not speak HTTP") as refused:
            check(parse_target(f"fastapi=http://127.0.0.1:{port}"))
        assert f"http://127.0.0.1:{port}" in str(refused.value)
        with pytest.raises(TargetError, match="is it http:// rather than https://"):
            check(parse_target(f"fastapi=https://127.0.0.1:{port}"))


def test_a_server_that_answers_nothing_is_refused() -> None:
    port = free_port()
    # listening: accepts connections into its backlog, never answers
    with listening(port), pytest.raises(TargetError) as refused:
        check(parse_target(f"fastapi=http://127.0.0.1:{port}"), timeout_s=0.5)
    assert "sent no HTTP answer to GET /healthz within 0.5 s" in str(refused.value)


def test_the_command_prints_the_answer_or_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    with http_server() as port:
        assert main([f"other=http://127.0.0.1:{port}"]) == 0
    assert '"status": 404' in capsys.readouterr().out
    assert main(["other=tcp://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.startswith(f"{REFUSED}'tcp://127.0.0.1:1' is not an HTTP URL")
