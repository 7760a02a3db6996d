"""The published OpenAPI document: what schemathesis fuzzes both services from.

That it lists exactly the routes of the table, as every service serves them, is
tests/services/test_route_table.py's to prove.
"""

from __future__ import annotations

import json
from pathlib import Path

from services.common import openapi
from services.common.routes import ROUTES


def test_served_bytes_are_the_document() -> None:
    assert json.loads(openapi.DOCUMENT_BYTES) == openapi.document()


def test_no_head_operations() -> None:
    """HEAD mirrors GET; documented, schemathesis would expect a body from it."""
    for operations in openapi.document()["paths"].values():
        assert set(operations) <= {"get", "post"}


def test_every_status_has_a_body_schema() -> None:
    for path, operations in openapi.document()["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                assert response["content"], (path, status)


def test_each_route_documents_its_own_statuses() -> None:
    """Its success, its errors and those of every route: none of another route's."""
    paths = openapi.document()["paths"]
    for route in ROUTES:
        doc = openapi.DOCS[(route.method, route.path)]
        documented = paths[route.path][route.method.lower()]["responses"]
        expected = {str(route.status), *doc.errors, *openapi.EVERY_ROUTE}
        assert set(documented) == expected, route.path
        success = documented[str(route.status)]["content"]
        assert list(success) == [route.media_type], route.path


def test_published_file_is_the_document() -> None:
    """The file the Node and Go services serve is the document, byte for byte."""
    published = Path(__file__).resolve().parents[2] / openapi.PUBLISHED
    assert published.read_bytes() == openapi.DOCUMENT_BYTES, (
        f"{openapi.PUBLISHED} is out of date: regenerate it with "
        f".venv/bin/python -m services.common.openapi > {openapi.PUBLISHED}"
    )
