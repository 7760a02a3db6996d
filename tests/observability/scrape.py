"""Reading a service's /metrics the way Prometheus does."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(base_url: str) -> list[Sample]:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    response.raise_for_status()
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(base_url: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(
        s.value for s in samples(base_url) if s.name == name and labels.items() <= s.labels.items()
    )
