"""An external target is ``LABEL=URL``: refused with what to give instead when it is not one."""

from __future__ import annotations

import pytest

from asynclab.target import Target, TargetError, parse_target, parse_targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fastapi=http://10.0.0.5:8000", Target("fastapi", "http://10.0.0.5:8000")),
        # The scenarios' routes go after the base: no trailing slash, a path prefix kept.
        ("fastapi=HTTP://gateway/api/", Target("fastapi", "http://gateway/api")),
        (" django = https://[::1]:8443 ", Target("django", "https://[::1]:8443")),
    ],
)
def test_a_target_is_a_label_and_a_base_url(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


def test_the_port_is_the_schemes_unless_given() -> None:
    assert (parse_target("a=http://h").port, parse_target("a=https://h").port) == (80, 443)
    assert parse_target("a=http://h:9000").host == "h"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fastapi=tcp://127.0.0.1:9000", "not an HTTP URL (tcp://)"),
        ("fastapi=ftp://files.example", "give an http:// or https:// URL, e.g. http://files"),
        ("fastapi=127.0.0.1:9000", "no scheme: give an HTTP URL, e.g. http://127.0.0.1:9000"),
        ("fastapi=localhost:9000", "no scheme"),
        ("http://127.0.0.1:9000", "is not LABEL=URL"),
        ("fastapi=", "is not LABEL=URL"),
        ("my api=http://h", "letters, digits"),
        ("fastapi-async=http://h", "one of the lab's variants"),
        ("fastapi=http://:9000", "has no host"),
        ("fastapi=http://h:99999", "port is not a number"),
        ("fastapi=http://h:0", "port is not a number"),
        ("fastapi=http://user:secret@h", "no credentials"),
        ("fastapi=http://h/io/db?ms=50", "without a query string"),
    ],
)
def test_what_is_no_target_is_refused_with_what_to_give(text: str, says: str) -> None:
    with pytest.raises(TargetError) as refused:
        parse_target(text)
    assert says in str(refused.value)
    assert "secret" not in str(refused.value)  # results and logs are shared


def test_each_label_once() -> None:
    with pytest.raises(TargetError, match="two targets are labelled 'a'"):
        parse_targets(["a=http://h1", "a=http://h2"])
    assert [t.label for t in parse_targets(["a=http://h1", "b=http://h2"])] == ["a", "b"]
