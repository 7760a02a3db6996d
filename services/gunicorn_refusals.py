"""gunicorn's refusals of a request head past the shared limits, in the contract's JSON.

gunicorn answers a request line, header count or header field past its limits, and a repeated
``Content-Type`` or ``Host``, with an HTML page before the application sees the request. The
FastAPI service answers the same requests itself (services/fastapi/limits.py), so that both
services give the same status and JSON body (services.common.errors). Every other parse
failure keeps gunicorn's own answer, as docs/contract.md says.

Installed per worker by the ``post_worker_init`` hook in services/gunicorn.conf.py; it wraps
``Worker.handle_error``, which every gunicorn worker class calls on a request it cannot parse.
"""

from __future__ import annotations

from typing import Any

from gunicorn import util
from gunicorn.http.errors import InvalidHeader, LimitRequestHeaders, LimitRequestLine

from services.common import errors, limits
from services.common.errors import ApiError

REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def contract_error(exc: BaseException) -> ApiError | None:
    """The contract's answer to gunicorn's parse error, or None to keep gunicorn's."""
    if isinstance(exc, LimitRequestLine):
        return errors.request_line_too_long()
    if isinstance(exc, LimitRequestHeaders):
        return errors.header_fields_too_large()
    # gunicorn raises InvalidHeader with the request only for a repeated singleton field (an
    # invalid value of one comes without it).
    if isinstance(exc, InvalidHeader) and getattr(exc, "req", None) is not None:
        name = str(exc.hdr).lower()
        if name in limits.SINGLETON_HEADERS:
            return errors.repeated_header(name)
    return None


def response_bytes(error: ApiError, server: str) -> bytes:
    body = errors.dumps(error.body())
    head = (
        f"HTTP/1.1 {error.status} {REASONS[error.status]}\r\n"
        f"Server: {server}\r\n"
        f"Date: {util.http_date()}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def answer_in_json(worker: Any, server: str) -> None:
    original = worker.handle_error

    def handle_error(req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        error = contract_error(exc)
        if error is None:
            original(req, client, addr, exc)
            return
        worker.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            util.write_nonblock(client, response_bytes(error, server))
        except Exception:
            worker.log.debug("Failed to send error message.")

    worker.handle_error = handle_error
