"""Static checks of the Grafana provisioning; tests/observability/test_live.py runs the queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from asynclab.settings import ROOT
from tests.observability.dashboards import DASHBOARDS, DATASOURCE_UID, load, panels, queries

PROVISIONING = ROOT / "grafana" / "provisioning"
RULES = ROOT / "prometheus" / "rules"
RECORDED = re.compile(r"\b[a-z_]+:[a-z_]+:[a-z0-9_]+\b")


def test_the_three_dashboards_exist() -> None:
    titles = {load(path)["title"] for path in DASHBOARDS}
    assert titles == {"Services", "Load generator", "Postgres"}


def test_datasource_has_the_fixed_uid() -> None:
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    [datasource] = config["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"


def test_dashboard_provider_loads_the_dashboards_folder() -> None:
    config = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yml").read_text())
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("/dashboards")


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_uses_the_fixed_datasource(path: Path) -> None:
    dashboard = load(path)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_bench_scenarios_are_annotations(path: Path) -> None:
    annotations = load(path)["annotations"]["list"]
    assert any("locust_running" in a.get("expr", "") for a in annotations)


def test_services_has_scenario_service_and_variant_variables() -> None:
    # tests/test_registry_files.py holds the Service selector to the registry.
    [path] = [p for p in DASHBOARDS if load(p)["title"] == "Services"]
    variables = {var["name"]: var for var in load(path)["templating"]["list"]}
    assert set(variables) == {"scenario", "service", "variant"}
    # The variants offered are those of the services selected.
    assert '{service=~"$service"}' in variables["variant"]["definition"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_recorded_series_used_by_dashboards_are_recorded(path: Path) -> None:
    recorded = {
        rule["record"]
        for rules in RULES.glob("*.yml")
        for group in yaml.safe_load(rules.read_text())["groups"]
        for rule in group["rules"]
    }
    for query in queries(path):  # also proves every $variable is defined
        for name in RECORDED.findall(query.expr):
            assert name in recorded, query
