"""The dashboards as data: every PromQL expression with its template variables filled in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asynclab.settings import ROOT

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
DATASOURCE_UID = "asynclab-prometheus"


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.expr}"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """What Grafana substitutes by default: the "All" regex, or the variable's current value."""
    values = {}
    for var in dashboard["templating"]["list"]:
        current = var["current"]["value"]
        if isinstance(current, list):
            current = current[0]
        values[var["name"]] = var["allValue"] if current == "$__all" else current
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return values[match.group(1) or match.group(2)]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(path: Path) -> Iterator[Query]:
    """Every panel target and every annotation query of one dashboard, variables filled in."""
    dashboard = load(path)
    values = variable_values(dashboard)
    for panel in panels(dashboard):
        for target in panel["targets"]:
            yield Query(dashboard["title"], panel["title"], substitute(target["expr"], values))
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            expr = substitute(annotation["expr"], values)
            yield Query(dashboard["title"], "annotation " + annotation["name"], expr)
