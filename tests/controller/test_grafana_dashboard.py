"""The shipped Grafana dashboard queries only metrics the service really exports.

``examples/dashboards/coolpilot-grafana.json`` is checked against the ``/metrics`` text of a
real service (the shipped bundle over an in-memory plant, active mode, one refused write
and one failed sensor, so every labelled series exists): every metric name its PromQL
references, in every panel (rows' nested panels included) and every template-variable
query, must be a series name in that exposition (``coolpilot_decisions_total``, not the
counter's Python name ``coolpilot_decisions``). The name extractor is small and tested on
its own, including that it catches a misspelled metric. The dashboard must also be
portable: every datasource is the ``datasource`` variable, no absolute URL, every panel
titled and with a unit.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from coolpilot.controller.api import create_app
from coolpilot.controller.site import MODES
from tests.controller.helpers import REPO, cycles, make

DASHBOARD = REPO / "examples" / "dashboards" / "coolpilot-grafana.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""The one datasource every panel and query names: the dashboard's ``datasource`` variable."""
PROMETHEUS_SERIES = frozenset({"up"})
"""Series Prometheus itself writes for every scrape target (not in the service's exposition)."""

PROMQL_FUNCTIONS = frozenset({
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time", "ceil",
    "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month", "day_of_week",
    "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count",
    "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum",
    "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln",
    "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh",
    "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
    "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
    # aggregation operators
    "avg", "bottomk", "count", "count_values", "group", "limitk", "limit_ratio", "max", "min", "quantile",
    "stddev", "stdvar", "sum", "topk",
})
PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                             "group_left", "group_right", "inf", "nan", "atan2"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"((?:[^"\\]|\\.)*)"')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects (bare, before ``{`` or ``[``, or as ``__name__="..."``).

    Label values, label matchers, range durations, ``by``/``without``/``on``/``ignoring``/
    ``group_*`` label lists, Grafana variables, numbers, functions and keywords are not
    metric names. Fails on an identifier followed by ``(`` that is no PromQL function (a
    misspelled function would otherwise hide a metric name).
    """
    text = _GRAFANA_VARIABLE.sub(" ", expr)
    names = {m.group(1) for m in _NAME_MATCHER.finditer(text)}
    text = _STRING.sub('""', text)
    text = _BRACES.sub("{}", text)
    text = _BRACKETS.sub("[]", text)
    text = _LABEL_CLAUSE.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word = match.group(0)
        after = text[match.end():].lstrip()
        if after.startswith("("):
            assert word in PROMQL_FUNCTIONS, f"{word!r} in {expr!r} is called but is no PromQL function"
        elif word.lower() not in PROMQL_KEYWORDS:
            names.add(word)
    return names


def template_query_exprs(query: str) -> list[str]:
    """The PromQL inside a Grafana Prometheus variable query (``label_values(sel, label)``, ``query_result(q)``)."""
    query = query.strip()
    if match := re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", query, re.DOTALL):
        return [match.group(1)]
    if re.fullmatch(r"label_values\(\s*\w+\s*\)|label_names\(.*\)|metrics\(.*\)", query, re.DOTALL):
        return []
    if match := re.fullmatch(r"query_result\((.*)\)", query, re.DOTALL):
        return [match.group(1)]
    return [query]


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels nested in (collapsed) rows."""
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))
    yield from walk(dashboard.get("panels", []))


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: each panel target's ``expr`` and each query variable's query."""
    exprs = [t["expr"] for p in all_panels(dashboard) for t in p.get("targets", []) if "expr" in t]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            exprs += template_query_exprs(query["query"] if isinstance(query, dict) else query)
    return exprs


def unexported(dashboard: dict[str, Any], exported: set[str]) -> dict[str, list[str]]:
    """Metric name -> the expressions that reference it, for every referenced name not in ``exported``.

    Prometheus's own per-target series (:data:`PROMETHEUS_SERIES`) count as exported.
    """
    missing: dict[str, list[str]] = {}
    for expr in dashboard_exprs(dashboard):
        for name in sorted(metric_names(expr) - exported - PROMETHEUS_SERIES):
            missing.setdefault(name, []).append(expr)
    return missing


def exported_series(exposition: str) -> tuple[set[str], set[str]]:
    """(series names with samples, family names) of a Prometheus text exposition.

    Series names are what Prometheus stores (a counter's ``_total``/``_created``, a
    histogram's ``_bucket``/``_sum``/``_count``/``_created``); family names are the
    metrics' base names as the parser reports them (``_total`` stripped), without the
    ``<name>_created`` gauges the text format lists as families of their own.
    """
    series: set[str] = set()
    families: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        families.add(family.name)
        series |= {s.name for s in family.samples}
    return series, {f for f in families if not (f.endswith("_created") and base_name(f) in families)}


def base_name(series: str) -> str:
    """A series name without its exposition suffix (``coolpilot_decisions_total`` -> ``coolpilot_decisions``)."""
    for suffix in _SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)]
    return series


# --- the extractor on its own ---------------------------------------------------------

@pytest.mark.parametrize(("expr", "names"), [
    ("up", {"up"}),
    ('coolpilot_mode{mode="active", job=~"$job"}', {"coolpilot_mode"}),
    ("sum by (reason) (rate(coolpilot_interventions_total{job=~\"$job\"}[$rate_window])) * 3600",
     {"coolpilot_interventions_total"}),
    ("sum(rate(a_total[5m])) without (instance, le)", {"a_total"}),
    ("histogram_quantile(0.99, sum by (le, instance) (rate(lat_bucket{x=\"y\"}[${rate_window}])))", {"lat_bucket"}),
    ("rate(a_sum[5m]) / on(instance) group_left(job) rate(a_count[5m])", {"a_sum", "a_count"}),
    ("a offset 1h and b unless c or d", {"a", "b", "c", "d"}),
    ("sum by (instance) (healthy == bool 0) > 1e3", {"healthy"}),
    ('{__name__="from_name_matcher", point="rate"}', {"from_name_matcher"}),
    ('label_replace(m, "dst", "$1", "src", "(sum|rate)")', {"m"}),
    ("max_over_time(g[1h:5m])", {"g"}),
    ("increase(c_total[$__range])", {"c_total"}),
    ("ns:recording_rule:rate5m", {"ns:recording_rule:rate5m"}),
    ("vector(1) + time()", set()),
])
def test_metric_names_finds_metrics_and_nothing_else(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_metric_names_refuses_an_unknown_function() -> None:
    with pytest.raises(AssertionError, match="histogram_quantil"):
        metric_names("histogram_quantil(0.5, a_bucket)")


@pytest.mark.parametrize(("query", "exprs"), [
    ('label_values(coolpilot_mode{job=~"$job"}, instance)', ['coolpilot_mode{job=~"$job"}']),
    ("label_values(job)", []),
    ("query_result(topk(1, m))", ["topk(1, m)"]),
    ("m", ["m"]),
])
def test_template_queries_yield_only_their_promql(query: str, exprs: list[str]) -> None:
    assert template_query_exprs(query) == exprs


def test_nested_panels_and_variables_are_collected() -> None:
    board = {"panels": [{"type": "row", "panels": [{"targets": [{"expr": "inner"}]}]},
                        {"targets": [{"expr": "outer"}]}],
             "templating": {"list": [{"type": "query", "query": {"query": "label_values(var_metric, job)"}},
                                     {"type": "custom", "query": "1m,5m"}]}}
    assert sorted(dashboard_exprs(board)) == ["inner", "outer", "var_metric"]


# --- the dashboard against a real service ---------------------------------------------

@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``GET /metrics`` of a service after three active cycles: one refused write, one NaN sensor in the last,
    and a drift monitor watching the twin (its series exist from the first cycle)."""
    folder = tmp_path_factory.mktemp("grafana")
    hall = folder / "hall.yaml"  # the modern hall on the core contract, as the fake plant's site reads it
    hall.write_text((REPO / "envs" / "presets" / "modern-hall.yaml").read_text() + "blocks: []\n")
    service, plant, clock = make(folder, mode="active", drift={"facility": str(hall)})
    try:
        client = TestClient(create_app(service, None))
        plant.refuse = {"chw_supply_temp_c"}
        cycles(service, clock, 2)
        plant.points["inlet_temp_mean_c"] = math.nan
        cycles(service, clock, 1)
        response = client.get("/metrics")
        assert response.status_code == 200
        return response.text
    finally:
        asyncio.run(service.shutdown())


def test_the_scrape_has_the_series_a_shift_needs(exposition: str) -> None:
    """The service run above really produced labelled series (else the name check below proves little)."""
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in text_string_to_metric_families(exposition) for s in f.samples}
    assert values[("coolpilot_sensor_healthy", (("point", "inlet_temp_mean_c"),))] == 0.0
    assert values[("coolpilot_interventions_total", (("reason", "sensor_nan"),))] >= 1.0
    assert values[("coolpilot_writes_refused_total", ())] >= 1.0
    assert values[("coolpilot_mode", (("mode", "active"),))] == 1.0
    assert any(name == "coolpilot_setpoint" for name, _ in values)
    assert any(name == "coolpilot_decisions_total" for name, _ in values)


def test_every_metric_the_dashboard_queries_is_exported(dashboard: dict[str, Any], exposition: str) -> None:
    series, _ = exported_series(exposition)
    referenced = {n for e in dashboard_exprs(dashboard) for n in metric_names(e)}
    assert referenced, "no metric found in the dashboard's queries"
    missing = unexported(dashboard, series)
    assert not missing, f"queried but not exported: {missing}; exported: {sorted(series)}"


def test_every_exported_metric_has_a_panel(dashboard: dict[str, Any], exposition: str) -> None:
    """A metric added to the service without a panel fails here: add it to the dashboard."""
    _, families = exported_series(exposition)
    referenced = {base_name(n) for e in dashboard_exprs(dashboard) for n in metric_names(e)}
    assert families - referenced == set()


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    """Grafana's grid is 24 columns wide; overlapping panels are silently moved on import, so none overlap here."""
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard):
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_a_misspelled_metric_is_caught(dashboard: dict[str, Any], exposition: str) -> None:
    series, _ = exported_series(exposition)
    broken = json.loads(json.dumps(dashboard))
    target = next(t for p in all_panels(broken) for t in p.get("targets", [])
                  if "coolpilot_decisions_total" in t["expr"])
    target["expr"] = target["expr"].replace("coolpilot_decisions_total", "coolpilot_decision_total")
    assert set(unexported(broken, series)) == {"coolpilot_decision_total"}
    bare = json.loads(json.dumps(dashboard))
    bare["templating"]["list"].append({"type": "query", "query": {"query": "label_values(coolpilot_decisions, job)"}})
    assert set(unexported(bare, series)) == {"coolpilot_decisions"}, "a counter's Python name is not a series"


# --- the dashboard is portable and readable --------------------------------------------

def test_every_panel_has_a_title_and_every_non_row_panel_a_unit(dashboard: dict[str, Any]) -> None:
    panels = list(all_panels(dashboard))
    assert len(panels) >= 15
    assert all(p.get("title", "").strip() for p in panels), "a panel has no title"
    no_unit = [p["title"] for p in panels if p["type"] != "row" and not p["fieldConfig"]["defaults"].get("unit")]
    assert not no_unit, f"panels without a unit: {no_unit}"
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"


def test_every_datasource_is_the_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            assert "datasource" not in panel or panel["datasource"] == DATASOURCE
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"] and all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]
    uids = re.findall(r'"uid":\s*"([^"]*)"', DASHBOARD.read_text(encoding="utf-8"))
    assert set(uids) <= {"${datasource}", "-- Grafana --", dashboard["uid"]}, uids


def test_no_absolute_urls(dashboard: dict[str, Any]) -> None:
    assert not re.search(r"[a-z][a-z0-9+.-]*://", DASHBOARD.read_text(encoding="utf-8"), re.IGNORECASE)


def test_the_mode_and_model_health_read_as_text(dashboard: dict[str, Any]) -> None:
    """No meaning by colour alone: the mode stat maps every mode's code to its name, model health to words."""
    by_title = {p["title"]: p for p in all_panels(dashboard)}

    def texts(panel: dict[str, Any]) -> dict[str, str]:
        return {value: option["text"] for m in panel["fieldConfig"]["defaults"]["mappings"]
                for value, option in m["options"].items()}

    mode = by_title["Mode now"]
    codes = {name: code for code, name in texts(mode).items() if name in MODES}
    assert set(codes) == set(MODES)
    expr = mode["targets"][0]["expr"]
    for name, code in codes.items():
        assert f'{code} * sum by (instance) (coolpilot_mode{{mode="{name}"' in expr, name
    assert texts(by_title["Model healthy"]).keys() == {"0", "1"}
