"""deploy/grafana/dashboards/deepfort.json: well-formed panels whose queries parse (promtool) and use only
the metrics deepfort exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, start_server, stop_server
from tests.deploy.promtool import promtool
from tests.deploy.tools import DEPLOY, REPO

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "deepfort.json"

HISTOGRAMS = {
    "deepfort:time_to_first_token_seconds",
    "deepfort:inter_token_latency_seconds",
    "deepfort:e2e_request_latency_seconds",
    "deepfort:request_queue_time_seconds",
}
SERIES = {
    "deepfort:num_requests_running",
    "deepfort:num_requests_waiting",
    "deepfort:kv_cache_usage_perc",
    "deepfort:prompt_tokens_total",
    "deepfort:generation_tokens_total",
    "deepfort:request_success_total",
    "deepfort:request_errors_total",
    "deepfort:route_total",
    "deepfort:guard_hits_total",
    "deepfort:answer_accuracy",
    "deepfort:center_up",
    "deepfort:gpu_utilization_perc",
    "deepfort:gpu_memory_used_bytes",
}
ALLOWED = SERIES | {f"{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}
# What Grafana substitutes before a query reaches Prometheus.
VARIABLES = {"$__rate_interval": "1m", "$model": ".*", "$tier": ".*"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p["targets"]]


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label names in
    grouping clauses, or anything inside label matchers, strings and ranges."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def test_the_extraction_itself() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, model) (rate(deepfort:x_bucket{model=~"a|b", tier="t"}[5m])))'
        " / on (model) group_left sum(up) > bool 0 and other_metric"
    )
    assert metric_names(expr) == {"deepfort:x_bucket", "up", "other_metric"}


def test_every_query_uses_only_deepfort_metrics(dashboard: dict[str, Any]) -> None:
    used: set[str] = set()
    for expr in exprs(dashboard):
        names = metric_names(expr)
        assert names, expr
        assert names <= ALLOWED, f"{sorted(names - ALLOWED)} in {expr}"
        used |= names
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            (inner,) = re.findall(r"label_values\(([^,]+),", variable["query"]["query"])
            assert inner.strip() in ALLOWED
    # Every series is on the dashboard; every histogram as p50 / p95 / p99 of its bucket rate.
    assert used >= SERIES
    for histogram in HISTOGRAMS:
        quantiles = {
            float(q)
            for expr in exprs(dashboard)
            if f"rate({histogram}_bucket" in expr
            for q in re.findall(r"histogram_quantile\(([\d.]+),", expr)
        }
        assert quantiles == {0.5, 0.95, 0.99}, histogram


@pytest.mark.e2e
def test_every_query_parses(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, after Grafana's variables are substituted."""
    rules = []
    for i, expr in enumerate(exprs(dashboard)):
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = promtool("check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def test_panels_are_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    for panel in panels(dashboard):
        assert panel["title"] and panel["description"], panel["id"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
    # No two panels overlap.
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, panel["title"]
        cells |= area


def test_template_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    model = variables["model"]
    assert model["query"]["query"] == "label_values(deepfort:num_requests_running, model)"
    assert model["includeAll"] and model["multi"] and model["allValue"] == ".*"
    assert 'model=~"$model"' in " ".join(exprs(dashboard))
    # Queries of series that carry a model label filter on it.
    for expr in exprs(dashboard):
        for name in metric_names(expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if base in HISTOGRAMS or name in {
                "deepfort:num_requests_running",
                "deepfort:num_requests_waiting",
                "deepfort:kv_cache_usage_perc",
                "deepfort:prompt_tokens_total",
                "deepfort:generation_tokens_total",
                "deepfort:request_success_total",
            }:
                assert f'{name}{{model=~"$model"' in expr, expr


@pytest.mark.e2e
def test_the_dashboard_metrics_are_what_a_real_server_exports(tmp_path: Path) -> None:
    """deepfort serve with compose's standalone config and metrics port: after an answer, an error, a
    routed request and a PII hit, its unauthenticated metrics port exports the dashboard's series. Those
    that need a GPU (NVML), a center or judged answers are at least named in deepfort's source."""
    config = yaml.safe_load((DEPLOY / "config" / "standalone.yaml").read_text())
    port = free_port()
    server = start_server(config, tmp_path, env={"DEEPFORT_OBSERVABILITY__METRICS_PORT": str(port)})
    try:
        asks = [
            {"model": "smollm2-135m", "content": "Say hello."},
            {"model": "auto", "content": "My phone is 13812345678, say hi."},
            {"model": "no-such-model", "content": "Hello?"},
        ]
        for ask in asks:
            body = {"model": ask["model"], "max_tokens": 4, "temperature": 0}
            body["messages"] = [{"role": "user", "content": ask["content"]}]
            httpx.post(f"{server.v1}/chat/completions", json=body, timeout=120)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop_server(server)
    exported = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    source = "\n".join(p.read_text() for p in (REPO / "deepfort").rglob("*.py"))
    absent = {"deepfort:gpu_utilization_perc", "deepfort:gpu_memory_used_bytes", "deepfort:center_up"}
    absent.add("deepfort:answer_accuracy")
    wanted = ALLOWED - {f"{h}_sum" for h in HISTOGRAMS}  # the dashboard reads buckets and counts only
    assert sorted(wanted - absent - exported) == []
    for name in absent:
        assert f'"{name}"' in source, name
