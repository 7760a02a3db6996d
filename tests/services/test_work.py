"""The shared workloads and TechEmpower rules, computed the same for both services."""

from __future__ import annotations

import pytest

from services.common import work


def test_cpu_python_is_deterministic() -> None:
    assert work.cpu_python(3) == 662824084
    assert work.cpu_python(1000) == work.cpu_python(1000)


def test_cpu_native_is_pbkdf2() -> None:
    assert work.cpu_native(1) == (
        "84e7b50d2bcf636d9f3defb7e49dc9f24c3087e0857e3c3ae21fc25a6b03cc71"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 1), ("", 1), ("abc", 1), ("1.5", 1), ("0", 1), ("-3", 1), ("20", 20), ("501", 500)],
)
def test_clamp_queries(raw: str | None, expected: int) -> None:
    assert work.clamp_queries(raw) == expected


def test_new_random_number_always_changes_the_row() -> None:
    for old in (1, 2, 5000, 9999, 10000):
        for _ in range(200):
            new = work.new_random_number(old)
            assert new != old
            assert 1 <= new <= work.WORLD_ROWS


def test_random_ids_are_distinct_and_sorted() -> None:
    ids = work.random_ids(500)
    assert ids == sorted(set(ids))


def test_fortunes_are_sorted_and_escaped() -> None:
    page = work.render_fortunes([(2, "Z <i>"), (1, "0 & z")])
    assert page.index("0 &amp; z") < page.index("Additional fortune") < page.index("Z &lt;i&gt;")
    assert page.startswith("<!DOCTYPE html><html><head><title>Fortunes</title></head>")
