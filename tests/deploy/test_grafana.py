"""deploy/grafana/plansync.json: every metric (and every label it groups by) that the
dashboard's queries name is in a real node's /metrics output, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.deploy.tools import DEPLOY

DASHBOARD = DEPLOY / "grafana" / "plansync.json"
ONE = [("150000", "内蒙古自治区", "province", None)]
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created")}
# added by Prometheus when it scrapes (job, instance) or by the histogram itself (le)
SCRAPE_LABELS = {"job", "instance", "le"}


def queries(dash: dict[str, Any]) -> list[str]:
    out = []
    for panel in dash["panels"]:
        out += [t["expr"] for t in panel.get("targets", [])]
    out += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return out


def declared_labels() -> dict[str, set[str]]:
    """The label names each of the node's metrics is declared with (a labelled metric that
    has no sample yet shows none in the text format)."""
    from node.ops.metrics import Metrics

    out: dict[str, set[str]] = {}
    for collector in vars(Metrics()).values():
        name = getattr(collector, "_name", None)
        if name:
            out[str(name)] = set(getattr(collector, "_labelnames", ()))
    return out


def exposed(text: str) -> dict[str, set[str]]:
    """Every sample name the node exposes (its family's every suffix), with its labels."""
    names: dict[str, set[str]] = {}
    declared = declared_labels()
    for fam in text_string_to_metric_families(text):
        labels = {k for s in fam.samples for k in s.labels} | declared.get(fam.name, set())
        for suffix in SUFFIXES.get(fam.type, ("",)):
            names[fam.name + suffix] = set(labels)
        for s in fam.samples:
            names.setdefault(s.name, set()).update(s.labels)
    return names


def unknown(dash: dict[str, Any], names: dict[str, set[str]]) -> list[str]:
    missing = []
    for q in queries(dash):
        used = set(re.findall(r"\bplansync_[a-z0-9_]+", q))
        missing += [f"{m} (in {q})" for m in used if m not in names]
        known = set().union(*(names.get(m, set()) for m in used)) | SCRAPE_LABELS
        for group in re.findall(r"\bby\s*\(([^)]*)\)", q):
            missing += [f"label {lab} (in {q})" for lab in map(str.strip, group.split(","))
                        if lab and lab not in known]
        for lab in re.findall(r"[{,]\s*([a-z_]+)\s*=~?", q):
            if lab not in known:
                missing.append(f"label {lab} (in {q})")
    return missing


def test_dashboard_is_well_formed() -> None:
    dash = json.loads(DASHBOARD.read_text("utf-8"))
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        for t in p.get("targets", []):
            assert t["refId"] and t["expr"] and t["datasource"]["uid"] == "${datasource}"
    assert len(queries(dash)) >= 10


async def test_every_metric_the_dashboard_queries_is_exposed(tmp_path: Path,
                                                            db_factory: DbFactory) -> None:
    dash = json.loads(DASHBOARD.read_text("utf-8"))
    async with cluster(tmp_path, db_factory, ONE) as c, c.client("150000") as cl:
        await cl.get("/healthz")
        r = await cl.post("/sync/v1/envelopes", json={"envelopes": [{"id": "x"}]})
        assert r.status_code < 500
        text = (await cl.get("/metrics")).text
    names = exposed(text)
    assert unknown(dash, names) == []
    # and the check can fail: a misspelt metric and an unknown label are named
    bad = {"panels": [{"targets": [
        {"expr": "rate(plansync_http_request_total[5m])"},
        {"expr": "sum by (rout) (rate(plansync_http_requests_total[5m]))"}]}],
        "templating": {"list": []}}
    assert unknown(bad, names) == [
        "plansync_http_request_total (in rate(plansync_http_request_total[5m]))",
        "label rout (in sum by (rout) (rate(plansync_http_requests_total[5m])))"]
