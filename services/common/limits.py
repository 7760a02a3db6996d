"""The request-head limits both servers share (numbers only: the gunicorn arbiter imports this).

gunicorn enforces them itself (services/gunicorn.conf.py sets them from here, and
services/gunicorn_refusals.py words its refusals as the contract's JSON); uvicorn's httptools
parser has none, so the FastAPI application enforces the same numbers
(services/fastapi/limits.py). Either way the client gets the same status and body
(services.common.errors), as docs/contract.md promises.
"""

# gunicorn's defaults, named here so that uvicorn's side uses the very same numbers.
MAX_REQUEST_LINE = 4094  # bytes of "METHOD target HTTP/1.1", without its CRLF
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8190  # bytes of "Name: value" with its CRLF
# RFC 9110 5.3: a field that cannot be combined into a list must come once. gunicorn refuses a
# repeat of these two; Starlette would silently read the first.
SINGLETON_HEADERS = ("content-type", "host")
