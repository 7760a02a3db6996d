"""Requests written byte by byte on a socket: what an HTTP client library would not send.

For the request heads the servers judge before any application sees them: exact request-line
lengths and header counts, repeated fields, unknown methods, malformed lines.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.common import limits

TIMEOUT_S = 30.0
# The two fields every request below carries besides its own.
BASE_FIELDS = 2


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "")


def head(
    method: str = "GET", target: str = "/json", fields: list[tuple[str, str]] | None = None
) -> bytes:
    """A request head: its line, ``Host``, the given fields and ``Connection: close``."""
    lines = [f"{method} {target} HTTP/1.1", "Host: asynclab"]
    lines += [f"{name}: {value}" for name, value in fields or []]
    lines += ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def exchange(url: str, request: bytes) -> Answer:
    """Send ``request``, read until the server closes, parse the one response."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    top, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *field_lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in field_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split(" ")[1]), headers, body)


def target_of_line_length(length: int, method: str = "GET") -> str:
    """A /json target whose request line ("GET target HTTP/1.1") is ``length`` bytes long."""
    base = "/json?pad="
    return base + "x" * (length - len(f"{method} {base} HTTP/1.1"))


def padded_fields(count: int) -> list[tuple[str, str]]:
    """Fields to add so that the request has ``count`` header fields in all."""
    return [(f"X-Pad-{i}", "1") for i in range(count - BASE_FIELDS)]


def field_of_size(size: int) -> tuple[str, str]:
    """One field whose line ("X-Pad: value" and its CRLF) is ``size`` bytes long."""
    return "X-Pad", "v" * (size - len("X-Pad: \r\n"))


# (id, request, status, the field an error names): answered the same by both services. Each
# limit from both sides, and paths an HTTP client library would normalise before sending.
SAME_ANSWER_CASES = [
    ("line-at-limit", head(target=target_of_line_length(limits.MAX_REQUEST_LINE)), 200, None),
    ("line-past-limit", head(target=target_of_line_length(limits.MAX_REQUEST_LINE + 1)), 414,
     "url"),
    ("fields-at-limit", head(fields=padded_fields(limits.MAX_HEADER_FIELDS)), 200, None),
    ("fields-past-limit", head(fields=padded_fields(limits.MAX_HEADER_FIELDS + 1)), 431,
     "headers"),
    ("field-at-limit", head(fields=[field_of_size(limits.MAX_HEADER_FIELD_BYTES)]), 200, None),
    ("field-past-limit", head(fields=[field_of_size(limits.MAX_HEADER_FIELD_BYTES + 1)]), 431,
     "headers"),
    ("content-type-twice",
     head("POST", "/items", [("Content-Type", "application/json"),
                             ("Content-Type", "text/plain"), ("Content-Length", "0")]),
     400, "content-type"),
    ("host-twice", head(fields=[("Host", "other")]), 400, "host"),
    ("double-slash", head(target="//json"), 404, "path"),
    ("double-slash-inside", head(target="/items//1"), 404, "path"),
    ("absolute-form", head(target="http://asynclab/json"), 200, None),
]  # fmt: skip
