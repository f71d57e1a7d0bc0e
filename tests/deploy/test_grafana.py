"""Grafana provisioning and dashboards in deploy/grafana: well formed, every panel on a
provisioned datasource, laid out on Grafana's 24-column grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class DataSourceRef(_Open):
    """A panel's or target's datasource."""

    type: str
    uid: str


class GridPos(_Open):
    """Where a panel sits: Grafana's grid is 24 columns wide."""

    x: int = Field(ge=0, lt=24)
    y: int = Field(ge=0)
    w: int = Field(gt=0, le=24)
    h: int = Field(gt=0)

    @model_validator(mode="after")
    def _inside(self) -> GridPos:
        assert self.x + self.w <= 24, "panel wider than the grid"
        return self


class Target(_Open):
    """One query of a panel: InfluxQL (`query`) or SQL (`rawSql`)."""

    refId: str
    datasource: DataSourceRef
    query: str | None = None
    rawSql: str | None = None

    @model_validator(mode="after")
    def _one_query(self) -> Target:
        assert (self.query is None) != (self.rawSql is None), "a target has one query"
        return self


class Panel(_Open):
    """A dashboard panel with its queries."""

    id: int
    type: Literal["stat", "timeseries", "table", "bargauge", "piechart", "gauge"]
    title: str = Field(min_length=1)
    gridPos: GridPos
    datasource: DataSourceRef
    targets: list[Target] = Field(min_length=1)


class Variable(_Open):
    """A templating variable (a query against a datasource)."""

    name: str
    type: Literal["query"]
    datasource: DataSourceRef
    query: str


class Dashboard(_Open):
    """The parts of Grafana's dashboard JSON model these dashboards rely on."""

    uid: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    title: str
    schemaVersion: int = Field(ge=36)
    panels: list[Panel] = Field(min_length=1)
    templating: dict[str, list[Variable]]


def provisioned_datasources() -> dict[str, str]:
    """uid -> type of every provisioned datasource."""
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "sitewatch.yml").read_text())
    return {d["uid"]: d["type"] for d in doc["datasources"]}


def all_targets() -> list[tuple[str, str, dict[str, Any]]]:
    """(dashboard file, panel or variable title, target or variable) of every query."""
    out = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text("utf-8"))
        for panel in doc["panels"]:
            out += [(path.name, panel["title"], t) for t in panel["targets"]]
        out += [(path.name, f"${v['name']}", v) for v in doc["templating"]["list"]]
    return out


def test_there_are_the_four_dashboards_the_operators_asked_for() -> None:
    assert [p.stem for p in DASHBOARDS] == [
        "sitewatch-alarm-health", "sitewatch-device-history", "sitewatch-incident-kpis",
        "sitewatch-site-overview",
    ]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_each_dashboard_is_a_valid_model_on_the_provisioned_datasources(path: Path) -> None:
    dash = Dashboard.model_validate_json(path.read_text("utf-8"))
    sources = provisioned_datasources()
    ids = [p.id for p in dash.panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dash.panels:
        refs = [t.refId for t in panel.targets]
        assert len(refs) == len(set(refs)), f"{panel.title}: refIds repeat"
        for ref in [panel.datasource, *(t.datasource for t in panel.targets)]:
            assert sources.get(ref.uid) == ref.type, f"{panel.title}: {ref} is not provisioned"
        for t in panel.targets:
            kind = sources[t.datasource.uid]
            assert (t.query is not None) == (kind == "influxdb"), panel.title
    for var in dash.templating["list"]:
        assert sources.get(var.datasource.uid) == var.datasource.type


def test_dashboard_uids_are_unique_and_the_provider_loads_the_mounted_folder() -> None:
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "sitewatch.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((GRAFANA.parents[1] / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
