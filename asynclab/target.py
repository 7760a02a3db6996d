"""A service the lab did not start, loaded with the lab's scenarios: ``LABEL=URL``.

``fastapi=http://10.0.0.5:8000`` is a FastAPI deployment somewhere else. The label names its
framework in the report (a row's ``framework`` and ``target_label``, a chart's series); the
URL is the base the generator sends the scenarios' routes to (``docs/contract.md``), so a
path prefix is kept: ``http://gateway/api`` loads ``http://gateway/api/io/db?ms=50``.

Only the form is checked here. Whether something answers HTTP there is ``target_check.py``'s,
run from where the generator runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from asynclab.variants import VARIANTS

SCHEMES = {"http": 80, "https": 443}
EXAMPLE = "fastapi=http://10.0.0.5:8000"
# It names run directories and chart series, and is matched in scripts: no spaces or slashes.
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class TargetError(ValueError):
    """A target refused, with what to give instead; ``target`` when it was parsed."""

    def __init__(self, message: str, target: Target | None = None) -> None:
        super().__init__(message)
        self.target = target


@dataclass(frozen=True)
class Target:
    label: str
    url: str  # scheme://host[:port][/prefix], without a trailing slash

    @property
    def text(self) -> str:
        """As it is given: ``fastapi=http://10.0.0.5:8000``."""
        return f"{self.label}={self.url}"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or SCHEMES[parts.scheme]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "url": self.url}


def parse_target(text: str) -> Target:
    """``parse_target("fastapi=http://10.0.0.5:8000/")`` is ``Target("fastapi",
    "http://10.0.0.5:8000")``; TargetError says what is wrong and what to give."""
    label, sep, url = text.partition("=")
    label, url = label.strip(), url.strip()
    if not sep or not label or not url or "://" in label:
        raise TargetError(
            f"{text!r} is not LABEL=URL: give the framework's label, then the URL, e.g. {EXAMPLE}"
        )
    if not LABEL.fullmatch(label):
        raise TargetError(
            f"the label {label!r} may hold letters, digits, '.', '_' and '-' only (40 at most; "
            f"it names run directories and chart series), e.g. {EXAMPLE}"
        )
    if label in VARIANTS:
        raise TargetError(
            f"the label {label!r} is one of the lab's variants, whose configuration the report "
            "would then claim: label an external target by its framework, e.g. "
            f"{label.split('-')[0]}={url}"
        )
    return Target(label, base_url(url))


def base_url(url: str) -> str:
    """``url`` checked and normalised (scheme in lower case, no trailing slash)."""
    if "://" not in url:
        raise TargetError(f"{url!r} has no scheme: give an HTTP URL, e.g. http://{url}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetError(
            f"{url!r} is not an HTTP URL ({scheme}://): the generator speaks HTTP only, so give "
            f"an http:// or https:// URL, e.g. http://{parts.netloc or 'HOST:PORT'}"
        )
    if not parts.hostname:
        raise TargetError(f"{url!r} has no host: give one, e.g. http://10.0.0.5:8000")
    try:
        port = parts.port  # ValueError when it is no port number
    except ValueError:
        port = 0
    if port == 0:
        raise TargetError(f"{url!r}: the port is not a number from 1 to 65535")
    if parts.username is not None or parts.password is not None:
        raise TargetError(
            f"{url.replace(parts.netloc, '***@' + parts.netloc.rpartition('@')[2])}: no "
            "credentials in the URL, please: the manifest and every row record it, and results "
            "are shared"
        )
    if parts.query or parts.fragment:
        raise TargetError(
            f"{url!r}: give the service's base URL, without a query string or fragment: each "
            "scenario appends its own route (/io/db?ms=50, ...)"
        )
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def parse_targets(texts: list[str] | tuple[str, ...]) -> tuple[Target, ...]:
    """Several targets, each label once."""
    targets = tuple(parse_target(text) for text in texts)
    labels = [t.label for t in targets]
    for target in targets:
        if labels.count(target.label) > 1:
            raise TargetError(
                f"two targets are labelled {target.label!r}: give each its own label "
                "(fastapi-eu=..., fastapi-us=...)",
                target,
            )
    return targets
