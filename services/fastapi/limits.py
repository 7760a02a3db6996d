"""The request-head limits gunicorn enforces, enforced for uvicorn too (pure ASGI middleware).

uvicorn's httptools parser takes a request line or header of any length, any number of header
fields and a repeated ``Content-Type``; gunicorn refuses all of these. This middleware refuses
them with the same limits (services/common/limits.py) and the same answers
(services/gunicorn_refusals.py words gunicorn's the same way), so that both services agree.
It runs outside the metrics middleware: gunicorn's refusals never reach Flask's metrics either.

uvicorn has read the whole head by then: this bounds what the application accepts, not what
the server buffers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.common import errors, limits
from services.common.errors import ApiError

# " HTTP/1.1" after the target, and the space after the method.
_LINE_OVERHEAD = len(" HTTP/1.1") + 1
# As gunicorn counts a field: "Name: value" and its CRLF.
_FIELD_OVERHEAD = len(": \r\n")
_SINGLETONS = tuple(name.encode() for name in limits.SINGLETON_HEADERS)


def request_line_bytes(scope: Scope) -> int:
    """The request line's length as sent, from what uvicorn kept of it.

    uvicorn splits the target into ``raw_path`` and ``query_string``; a ``?`` with nothing
    after it is lost, so such a line counts one byte short.
    """
    query: bytes = scope["query_string"]
    target = len(scope.get("raw_path") or scope["path"].encode()) + (len(query) + 1 if query else 0)
    return len(scope["method"]) + target + _LINE_OVERHEAD


def refusal(scope: Scope) -> ApiError | None:
    """What gunicorn would refuse this request for, checked in gunicorn's order: the line, then
    each field in turn (one too many, too long, a singleton repeated). On every request of
    the FastAPI service, so kept to a couple of microseconds."""
    if request_line_bytes(scope) > limits.MAX_REQUEST_LINE:
        return errors.request_line_too_long()
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    seen: list[bytes] = []
    for index, (name, value) in enumerate(headers):
        if (
            index == limits.MAX_HEADER_FIELDS
            or len(name) + len(value) + _FIELD_OVERHEAD > limits.MAX_HEADER_FIELD_BYTES
        ):
            return errors.header_fields_too_large()
        if name in _SINGLETONS:
            if name in seen:
                return errors.repeated_header(name.decode())
            seen.append(name)
    return None


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            error = refusal(scope)
            if error is not None:
                await send_error(error, send)
                return
        await self.app(scope, receive, send)


async def send_error(error: ApiError, send: Send) -> None:
    body = errors.dumps(error.body())
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
