"""The error body both services send, and the translation of every failure into it.

{"error": "validation_error",
 "detail": [{"field": "work", "in": "query", "type": "less_than_equal", "message": "..."}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from services.common import limits
from services.common.models import MAX_BODY_BYTES, MAX_WAIT_MS, Fanout

Q = TypeVar("Q", bound=BaseModel)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        detail: list[dict[str, str]],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail}


def issue(field: str, where: str, kind: str, message: str) -> dict[str, str]:
    return {"field": field, "in": where, "type": kind, "message": message}


def dumps(payload: Any) -> bytes:
    """The one JSON encoding of both services, so that equal payloads are equal bytes."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def validation_error(errors: Iterable[ErrorDetails], where: str) -> ApiError:
    detail = [
        issue(".".join(str(p) for p in e["loc"]) or where, where, e["type"], e["msg"])
        for e in errors
    ]
    return ApiError(422, "validation_error", detail)


def from_pydantic(exc: ValidationError, where: str) -> ApiError:
    return validation_error(exc.errors(include_url=False), where)


def not_found(path: str) -> ApiError:
    return ApiError(404, "not_found", [issue("path", "path", "not_found", f"no route for {path}")])


def item_not_found(item_id: int) -> ApiError:
    return ApiError(404, "not_found", [issue("id", "path", "not_found", f"no item {item_id}")])


def method_not_allowed(method: str, allowed: Sequence[str]) -> ApiError:
    # OPTIONS is not served (no CORS here); HEAD is, wherever GET is (RFC 9110).
    methods = sorted({m for m in allowed if m and m != "OPTIONS"})
    message = f"{method} is not allowed here; use {', '.join(methods)}"
    return ApiError(
        405,
        "method_not_allowed",
        [issue("method", "request", "not_allowed", message)],
        headers={"Allow": ", ".join(methods)},
    )


def payload_too_large() -> ApiError:
    message = f"the body is larger than {MAX_BODY_BYTES} bytes"
    return ApiError(413, "payload_too_large", [issue("body", "body", "too_large", message)])


def database_unavailable() -> ApiError:
    message = "the database did not answer in time"
    return ApiError(
        503, "database_unavailable", [issue("database", "dependency", "unavailable", message)]
    )


def upstream_unavailable() -> ApiError:
    message = "the upstream did not answer"
    return ApiError(
        502, "upstream_unavailable", [issue("upstream", "dependency", "unavailable", message)]
    )


def request_line_too_long() -> ApiError:
    message = f"the request line is longer than {limits.MAX_REQUEST_LINE} bytes; shorten the URL"
    return ApiError(414, "uri_too_long", [issue("url", "request", "too_long", message)])


def header_fields_too_large() -> ApiError:
    # One answer for both limits: gunicorn stops reading a head that is too large for either
    # before it knows which was passed.
    message = (
        f"send at most {limits.MAX_HEADER_FIELDS} header fields "
        f"of at most {limits.MAX_HEADER_FIELD_BYTES} bytes each"
    )
    return ApiError(
        431, "header_fields_too_large", [issue("headers", "header", "too_large", message)]
    )


def repeated_header(name: str) -> ApiError:
    message = f"send one {name} header, not several"
    return ApiError(400, "repeated_header", [issue(name, "header", "repeated", message)])


def check_body_size(content_length: str | None) -> None:
    if (
        content_length is not None
        and content_length.isdigit()
        and int(content_length) > MAX_BODY_BYTES
    ):
        raise payload_too_large()


def parse_body(model: type[Q], content_type: str | None, body: bytes) -> Q:
    """A JSON body validated with ``model``: content type, then size, then JSON syntax, then
    the rules, the same order everywhere."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype != "application/json":
        message = f"send the body as application/json, not {mimetype or 'nothing'}"
        raise ApiError(
            415,
            "unsupported_media_type",
            [issue("content-type", "header", "unsupported_media_type", message)],
        )
    if len(body) > MAX_BODY_BYTES:
        raise payload_too_large()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            message = "the body is not valid JSON"
            raise ApiError(
                400, "malformed_json", [issue("body", "body", "json_invalid", message)]
            ) from None
        raise validation_error(errors, "body") from None


def within_wait_budget(params: Fanout) -> Fanout:
    """/fanout's total wait, ``calls`` x ``ms``, within MAX_WAIT_MS: one 422 naming both.

    The same rule for both services, although async handlers make the calls at once: the
    contract must not depend on the variant, and sync handlers wait the whole product.
    """
    total = params.calls * params.ms
    if total > MAX_WAIT_MS:
        message = (
            f"calls x ms should be at most {MAX_WAIT_MS} (the longest wait of one request), "
            f"not {params.calls} x {params.ms} = {total}"
        )
        raise ApiError(
            422,
            "validation_error",
            [issue(name, "query", "wait_budget", message) for name in ("calls", "ms")],
        )
    return params


def parse_params(model: type[Q], params: Mapping[str, str], where: str = "query") -> Q:
    """Validate request parameters with one of services.common.models."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise from_pydantic(exc, where) from None
