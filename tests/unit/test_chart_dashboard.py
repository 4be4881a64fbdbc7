"""The chart's Grafana dashboard queries only metrics the operator exports
(``finetune_operator.metrics``), under the names Prometheus gives them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from finetune_operator import metrics

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "helm" / "finetune-operator" / "files"
    / "grafana-dashboard.json"
)  # fmt: skip

SUFFIXES: dict[type[MetricWrapperBase], tuple[str, ...]] = {
    Gauge: ("",),
    Counter: ("_total",),
    Histogram: ("_bucket", "_sum", "_count"),
}
"""The series names Prometheus scrapes for each kind of collector."""

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset",
}  # fmt: skip


def exported_names() -> set[str]:
    """Every series name the operator's collectors produce."""
    collectors = [v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)]
    assert collectors, "finetune_operator.metrics defines no collectors"
    names: set[str] = set()
    for collector in collectors:
        kind = next(k for k in SUFFIXES if isinstance(collector, k))
        base = collector._name  # Counter strips "_total" itself
        names.update(base + suffix for suffix in SUFFIXES[kind])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names or matchers, Grafana variables, numbers or strings."""
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)  # Grafana variables
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # range selectors
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", expr)  # grouping labels
    identifiers = re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()", expr)
    return {m.group() for m in identifiers if m.group() not in PROMQL_WORDS}


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    # Grafana's label_values(METRIC, LABEL): only METRIC is PromQL.
    exprs += [
        re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", v["definition"])
        for v in dashboard["templating"]["list"]
        if v.get("type") == "query"
    ]
    return exprs


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def test_every_query_selects_only_exported_metrics(dashboard: dict[str, Any]) -> None:
    exported = exported_names()
    for expr in expressions(dashboard):
        used = metric_names(expr)
        assert used, f"no metric found in {expr!r}"
        assert used <= exported, f"{expr!r} uses {sorted(used - exported)}; exported: {exported}"


def test_every_exported_metric_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    used = set().union(*(metric_names(e) for e in expressions(dashboard)))
    for name in ("finetune_jobs", "finetune_reconcile_errors_total"):
        assert name in used
    assert used & {n for n in exported_names() if n.startswith("finetune_time_to_running")}


def test_the_parser_finds_metrics_and_skips_the_rest() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{namespace=~"$namespace"}'
        "[$__rate_interval]))) or vector(0) + on (x) b_total offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total"}


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
