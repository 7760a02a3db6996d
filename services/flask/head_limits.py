"""The request-head limits gunicorn enforces, for Flask under a server that does not: granian.

gunicorn refuses a request line past 4094 bytes or a header field past 8190 with the contract's
JSON (services/gunicorn_refusals.py); granian (hyper) takes both up to its 400 KB buffer. This
WSGI wrapper refuses them with the same numbers (services/common/limits.py) and the same
answers, as services/fastapi/limits.py does for uvicorn.

A WSGI environ is not the head as sent, so two checks are estimates, both one-sided: they
never refuse what gunicorn takes. ``PATH_INFO`` is the path percent-decoded, so a target with
escapes counts shorter than sent; and granian joins a repeated field into one (``a,b``), which
counts as one field. What the environ cannot show at all (a repeated ``Content-Type`` or
``Host``: granian keeps the first) docs/contract.md names as a difference. granian refuses a
101st field itself (hyper's limit is gunicorn's 100), with an empty 431.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from services.common import errors, limits
from services.common.errors import ApiError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# " HTTP/1.1" after the target, and the space after the method.
_LINE_OVERHEAD = len(" HTTP/1.1") + 1
# As gunicorn counts a field: "Name: value" and its CRLF. "HTTP_X_PAD" is "X-Pad" plus 5.
_FIELD_OVERHEAD = len(": \r\n")
_PREFIX = len("HTTP_")
_UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")
_LONGEST_FIELD = limits.MAX_HEADER_FIELD_BYTES - _FIELD_OVERHEAD


def refusal(environ: WSGIEnvironment) -> ApiError | None:
    """What gunicorn would refuse this request for (the line first, then a field), or None."""
    query: str = environ.get("QUERY_STRING", "")
    line = (
        len(environ["REQUEST_METHOD"])
        + len(environ.get("PATH_INFO", ""))
        + (len(query) + 1 if query else 0)
        + _LINE_OVERHEAD
    )
    if line > limits.MAX_REQUEST_LINE:
        return errors.request_line_too_long()
    # The environ also holds the process's own variables (granian copies os.environ into it):
    # only HTTP_* and the two unprefixed header keys are fields. A comprehension, as this runs
    # on every request: 3.5 us with a 43-key environ (measured), 3% of flask-granian's CPU per
    # /json; an explicit loop took twice as long.
    fields = [len(k) - _PREFIX + len(v) for k, v in environ.items() if k[:5] == "HTTP_"]
    fields += [len(k) + len(environ[k]) for k in _UNPREFIXED if k in environ]
    if max(fields, default=0) > _LONGEST_FIELD:
        return errors.header_fields_too_large()
    return None


class HeadLimits:
    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        error = refusal(environ)
        if error is None:
            return self.app(environ, start_response)
        body = errors.dumps(error.body())
        start_response(
            f"{error.status} {REASONS[error.status]}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        return [body]


REASONS = {414: "URI Too Long", 431: "Request Header Fields Too Large"}
