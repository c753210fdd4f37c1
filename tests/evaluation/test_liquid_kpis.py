"""Liquid-cooling and heat-reuse KPIs of the what-if (issue 17): by hand, on a short ai-factory run against its
recorded series, absent for a hall without that equipment, and in the report (HTML, JSON, CSV; English and Chinese,
and drawn in a headless Chromium when one is installed)."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coolpilot.envs.config import HeatReuseConfig, LiquidCoolingConfig
from coolpilot.evaluation.i18n import translator
from coolpilot.evaluation.kpis import (
    OPTIONAL_BLOCKS,
    TRIM_THRESHOLD_KW,
    WhatIfKpis,
    heat_reuse_kpis,
    liquid_kpis,
    peak_demand_kw,
)
from coolpilot.evaluation.report import (
    HEAT_REUSE_KPI_ROWS,
    KPI_ROWS,
    LIQUID_KPI_ROWS,
    OPTIONAL_KPI_ROWS,
    _week_panels,
    render_report,
    write_outputs,
)
from coolpilot.evaluation.scenarios import Carbon, Tariff, scenario_set_from_mapping
from coolpilot.evaluation.whatif import HEAT_REUSE_SERIES, LIQUID_SERIES, run_whatif
from tests.evaluation.test_kpis import hand_case
from tests.evaluation.test_report_browser import CHROMIUM, _playwright
from tests.evaluation.test_report_zh import LATIN_TERMS, WORD

PRICE_PER_MWH = 80.0
DEMAND_RATE = 10.0
WATER_PRICE = 2.0
SCENARIOS = {
    "title": "AI factory check",
    "policies": ["legacy", "rule-based"],
    "baseline": "legacy",
    "defaults": {"facility": "ai-factory", "climate": "chicago", "period": {"start_day": 15, "days": 1},
                 "tariff": {"price_per_mwh": PRICE_PER_MWH, "demand_charge_per_kw_month": DEMAND_RATE,
                            "water_price_per_m3": WATER_PRICE}},
    "scenarios": [
        {"name": "reuse", "description": "A January day in Chicago, heat reuse on."},
        {"name": "no-reuse", "description": "The same day, the heat pump held off.",
         "limits": {"heat_pump_duty_frac": {"low": 0, "high": 0}}},
        {"name": "hall", "description": "An air-cooled hall the same day.", "facility": "modern-hall"},
    ],
}
CASE_LIMIT_C = 80.0
"""The ai-factory preset's cold-plate case limit (envs/presets/ai-factory.yaml)."""
ACRONYMS = {"GPU", "CDU", "COP", "ERF", "ERE", "ISO", "IEC", "kg", "oracle"}
"""Latin words the Chinese liquid-cooling and heat-reuse texts keep (as Chinese practice writes them), the unit of
the displaced heat's factor, and the oracle's name, which the methodology gives beside its Chinese one."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The what-if results and the folder of each run's per-step series."""
    series_dir = tmp_path_factory.mktemp("series")
    results = run_whatif(scenario_set_from_mapping(SCENARIOS, "ai.yaml"), workers=1, progress=False,
                         series_dir=series_dir)
    return results, series_dir


def _scenario(results: dict[str, Any], name: str) -> dict[str, Any]:
    return next(sc for sc in results["scenarios"] if sc["name"] == name)


def _series(series_dir: Path, scenario: str, policy: str) -> dict[str, np.ndarray]:
    data = np.genfromtxt(series_dir / f"{scenario}__{policy}.csv", delimiter=",", names=True)
    return {name: np.asarray(data[name], dtype=np.float64) for name in data.dtype.names or ()}


def _mwh(kw: np.ndarray, dt_s: float = 300.0) -> float:
    return float(kw.sum() * dt_s / 3600.0 / 1000.0)


# --- by hand ------------------------------------------------------------------------------------------------------


def test_liquid_kpis_by_hand() -> None:
    result = hand_case()  # four one-hour steps
    s = result.series
    s["case_temp_max_c"][:] = [70.0, 81.0, 83.0, 79.0]
    s["trim_kw"][:] = [0.0, 0.5 * TRIM_THRESHOLD_KW, 2.0 * TRIM_THRESHOLD_KW, 3000.0]
    s["gpu_throttled_kw"][:] = [0.0, 0.0, 40.0, 0.0]
    s["fws_supply_c"][:] = [30.0, 31.0, 32.0, 31.0]
    s["cdu_pump_kw"][:] = 20.0
    s["dry_cooler_fan_kw"][:] = [5.0, 10.0, 10.0, 5.0]
    k = liquid_kpis(result, LiquidCoolingConfig.model_validate({"cold_plates": {"case_limit_c": 80.0}}))
    assert k.case_temp_max_c == 83.0 and k.case_limit_c == 80.0
    assert k.hours_above_case_limit == 2.0 and k.degree_hours_above_case_limit == pytest.approx(1.0 + 3.0)
    assert k.trim_hours == 2.0 and k.trim_heat_mwh == pytest.approx((0.5 + 2.0 + 3000.0) / 1000.0)
    assert k.throttled_gpu_energy_mwh == pytest.approx(0.04)
    assert k.fws_supply_mean_c == pytest.approx(31.0) and k.fws_supply_max_c == 32.0
    assert k.cdu_pump_energy_mwh == pytest.approx(0.08) and k.dry_cooler_fan_energy_mwh == pytest.approx(0.03)


def test_heat_reuse_kpis_by_hand() -> None:
    result = hand_case()  # facility 1,200 kW, IT 1,000 kW, four one-hour steps
    s = result.series
    s["heat_source_kw"][:] = 400.0
    s["heat_pump_kw"][:] = 100.0
    s["heat_reused_kw"][:] = 500.0
    s["heat_demand_kw"][:] = 800.0
    cfg = HeatReuseConfig(capacity_kw=1000.0, price_per_mwh=50.0, displaced_kg_per_kwh=0.2)
    k = heat_reuse_kpis(result, cfg, tariff=Tariff(price_per_mwh=100.0), carbon=Carbon(grid_t_co2_per_mwh=0.5),
                        water_cost=12.0)
    assert k.total_energy_mwh == pytest.approx(4.8 + 0.4) and k.reused_heat_mwh == pytest.approx(2.0)
    assert k.erf == pytest.approx(2.0 / 5.2) and k.ere == pytest.approx((5.2 - 2.0) / 4.0)
    assert k.pue_total == pytest.approx(1.3) and k.ere == pytest.approx((1.0 - k.erf) * k.pue_total)
    assert k.heat_pump_cop_mean == pytest.approx(5.0) and k.demand_met_pct == pytest.approx(62.5)
    assert k.heat_revenue == pytest.approx(100.0) and k.electricity_cost == pytest.approx(520.0)
    assert k.net_cost == pytest.approx(520.0 + 12.0 - 100.0)
    assert k.carbon_avoided_t_co2e == pytest.approx(0.4) and k.carbon_location_t_co2e == pytest.approx(2.6)
    assert k.net_carbon_t_co2e == pytest.approx(2.2)
    s["heat_pump_kw"][:] = 0.0
    s["heat_reused_kw"][:] = 0.0
    off = heat_reuse_kpis(result, cfg, tariff=Tariff(price_per_mwh=100.0), carbon=Carbon())
    assert off.erf == 0.0 and off.heat_pump_cop_mean is None and off.ere == pytest.approx(1.2) == off.pue_total


# --- a short ai-factory run ----------------------------------------------------------------------------------------


def test_heat_reuse_kpis_of_a_run_close_on_the_total_energy_boundary(run: tuple[dict[str, Any], Path]) -> None:
    results, series_dir = run
    sc = _scenario(results, "reuse")
    for policy in ("legacy", "rule-based"):
        k = sc["runs"][policy]["kpis"]
        hr = k["heat_reuse"]
        s = _series(series_dir, "reuse", policy)
        facility, hp, it = _mwh(s["facility_kw"]), _mwh(s["heat_pump_kw"]), _mwh(s["it_power_kw"])
        reused, source = _mwh(s["heat_reused_kw"]), _mwh(s["heat_source_kw"])
        assert hp > 1.0 and reused > 5.0, "a January day in Chicago: the network wants heat"
        assert hr["total_energy_mwh"] == pytest.approx(facility + hp, rel=1e-6)
        assert hr["reused_heat_mwh"] == pytest.approx(reused, rel=1e-6)
        assert hr["pue_total"] == pytest.approx((facility + hp) / it, rel=1e-6) and hr["pue_total"] > k["pue"]
        assert hr["erf"] == pytest.approx(reused / (facility + hp), rel=1e-6)
        # ERE = (1 − ERF)·PUE on the total-energy boundary, and = PUE − source heat / IT (the pump's own
        # electricity is delivered as heat too, so only the facility water's heat lowers ERE below PUE).
        assert hr["ere"] == pytest.approx((1.0 - hr["erf"]) * hr["pue_total"], rel=1e-12)
        assert hr["ere"] == pytest.approx(k["pue"] - source / it, rel=1e-6) and hr["ere"] < k["pue"]
        assert hr["heat_pump_cop_mean"] == pytest.approx(reused / hp, rel=1e-6)
        assert 3.0 < hr["heat_pump_cop_mean"] < 5.0, "70 °C district heating from ~38 °C facility water: about 3.7"
        assert 0.0 < hr["demand_met_pct"] <= 100.0 + 1e-9
        # Money: one January day on a flat price with a demand charge; the heat pump is on the meter.
        meter = s["facility_kw"] + s["heat_pump_kw"]
        expected = PRICE_PER_MWH * (facility + hp) + DEMAND_RATE * peak_demand_kw(meter, 300.0)
        assert hr["electricity_cost"] == pytest.approx(expected, rel=1e-6)
        assert hr["electricity_cost"] > k["energy_cost"] + k["demand_cost"]
        assert hr["heat_revenue"] == pytest.approx(reused * 40.0, rel=1e-6)  # the preset's 40 per MWh
        assert hr["net_cost"] == pytest.approx(hr["electricity_cost"] + k["water_cost"] - hr["heat_revenue"])
        factor = sc["settings"]["carbon"]["grid_t_co2_per_mwh"]
        assert hr["carbon_avoided_t_co2e"] == pytest.approx(reused * 0.224, rel=1e-6)
        assert hr["net_carbon_t_co2e"] == pytest.approx((facility + hp) * factor - reused * 0.224, rel=1e-6)


def test_the_heat_pump_off_gives_erf_zero_and_ere_equal_to_pue(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    on, off = _scenario(results, "reuse")["runs"], _scenario(results, "no-reuse")["runs"]
    for policy in ("legacy", "rule-based"):
        k = off[policy]["kpis"]
        hr = k["heat_reuse"]
        assert hr["erf"] == 0.0 and hr["reused_heat_mwh"] == 0.0 and hr["heat_pump_energy_mwh"] == 0.0
        assert hr["heat_pump_cop_mean"] is None and hr["heat_revenue"] == 0.0 and hr["carbon_avoided_t_co2e"] == 0.0
        assert hr["ere"] == pytest.approx(k["pue"], rel=1e-12) and hr["pue_total"] == pytest.approx(k["pue"])
        assert hr["net_cost"] == pytest.approx(k["total_cost"], rel=1e-9)  # nothing sold, nothing more metered
        assert hr["heat_demand_mwh"] == pytest.approx(on[policy]["kpis"]["heat_reuse"]["heat_demand_mwh"])
        assert on[policy]["kpis"]["heat_reuse"]["ere"] < hr["ere"]


def test_liquid_kpis_of_a_run_match_its_series(run: tuple[dict[str, Any], Path]) -> None:
    results, series_dir = run
    for policy in ("legacy", "rule-based"):
        liquid = _scenario(results, "reuse")["runs"][policy]["kpis"]["liquid"]
        s = _series(series_dir, "reuse", policy)
        assert liquid["case_limit_c"] == CASE_LIMIT_C
        assert liquid["case_temp_max_c"] == pytest.approx(s["case_temp_max_c"].max(), rel=1e-6)
        assert 40.0 < liquid["case_temp_max_c"] < liquid["case_limit_c"] and liquid["hours_above_case_limit"] == 0.0
        assert liquid["trim_hours"] == pytest.approx((s["trim_kw"] > TRIM_THRESHOLD_KW).sum() / 12.0)
        assert liquid["trim_hours"] == 0.0, "a Chicago winter day: the dry coolers carry every hour"
        assert liquid["throttled_gpu_energy_mwh"] == 0.0
        assert liquid["cdu_heat_mwh"] == pytest.approx(_mwh(s["liquid_heat_kw"]), rel=1e-6)
        assert liquid["cdu_heat_mwh"] > 0.7 * _mwh(s["it_power_kw"]), "85 % of the GPU halls' heat is liquid"
        for key, column in (("cdu_pump_energy_mwh", "cdu_pump_kw"), ("fws_pump_energy_mwh", "fws_pump_kw"),
                            ("dry_cooler_fan_energy_mwh", "dry_cooler_fan_kw")):
            assert liquid[key] == pytest.approx(_mwh(s[column]), rel=1e-6), key
        assert liquid["fws_supply_max_c"] == pytest.approx(s["fws_supply_c"].max(), rel=1e-6)


def test_a_hall_without_liquid_or_heat_reuse_has_none_of_them(run: tuple[dict[str, Any], Path]) -> None:
    results, _ = run
    hall = _scenario(results, "hall")
    for run_ in hall["runs"].values():
        assert not set(OPTIONAL_BLOCKS) & set(run_["kpis"]), "absent, not zeros that pretend"
        assert not set(LIQUID_SERIES + HEAT_REUSE_SERIES) & set(run_["plots"]["week"])
        typed = WhatIfKpis.from_dict(run_["kpis"])
        assert typed.liquid is None and typed.heat_reuse is None and typed.as_dict() == run_["kpis"]
    rows = render_report({**results, "scenarios": [hall]})
    section = rows[rows.index('id="sc-hall"'):]
    assert "hottest GPU case" not in section and "ERF" not in rows and "Heat reuse" not in rows
    assert len(re.findall(r'<table class="kpi">.*?</table>', section, flags=re.S)) == 1
    body = section[section.index('<table class="kpi">'):]
    n_rows = body[body.index("<tbody>"):body.index("</tbody>")].count("<tr>")
    assert n_rows == len(KPI_ROWS) + 1  # the KPI rows and the thermal status, as before


def test_kpis_round_trip_through_results_json(run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    results, _ = run
    saved = json.loads(write_outputs(results, tmp_path)["results.json"].read_text())
    for sc in saved["scenarios"]:
        for run_ in sc["runs"].values():
            typed = WhatIfKpis.from_dict(run_["kpis"])
            assert typed.as_dict() == run_["kpis"]
    assert set(OPTIONAL_KPI_ROWS) == set(OPTIONAL_BLOCKS)
    with (tmp_path / "kpis.csv").open(encoding="utf-8") as fh:
        rows = {(r["scenario"], r["policy"]): r for r in csv.DictReader(fh)}
    ai = _scenario(saved, "reuse")["runs"]["rule-based"]["kpis"]
    assert float(rows[("reuse", "rule-based")]["heat_reuse_erf"]) == pytest.approx(ai["heat_reuse"]["erf"])
    assert float(rows[("reuse", "rule-based")]["liquid_trim_hours"]) == ai["liquid"]["trim_hours"]
    hall = rows[("hall", "rule-based")]
    assert hall["heat_reuse_erf"] == "" and hall["liquid_trim_hours"] == ""  # no value, not a zero


# --- the report ----------------------------------------------------------------------------------------------------


def _visible(page: str) -> str:
    body = page.split("<body>", 1)[-1]
    body = re.sub(r"<title>.*?</title>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_report_shows_liquid_and_heat_reuse(run: tuple[dict[str, Any], Path], lang: str) -> None:
    results, _ = run
    t = translator(lang)
    page = render_report(results, lang)
    reuse = page[page.index('id="sc-reuse"'):page.index('id="sc-no-reuse"')]
    text = _visible(reuse)
    for key, _, _ in LIQUID_KPI_ROWS + HEAT_REUSE_KPI_ROWS:
        assert t.text(f"kpi.{key}") in text, key
    k = _scenario(results, "reuse")["runs"]["rule-based"]["kpis"]
    assert f"{k['heat_reuse']['erf']:,.3f}" in text and f"{k['heat_reuse']['ere']:,.3f}" in text
    assert t.money(k["heat_reuse"]["net_cost"], k["currency"]) in text
    assert f"{k['liquid']['case_temp_max_c']:,.1f}" in text
    # The peak week: GPU case against its limit, facility-water supply, trim, heat reused beside the demand.
    week = _scenario(results, "reuse")["runs"]["rule-based"]["plots"]["week"]
    panels = {key: title for key, title, _ in _week_panels(week, t)}
    assert {"case_temp_max_c", "fws_supply_c", "trim_kw", "heat_reused_kw"} <= set(panels)
    assert "heat_demand_kw" not in panels  # drawn in the reused-heat panel, not on its own
    case_svg = re.search(rf'<svg[^>]*aria-label="{re.escape(panels["case_temp_max_c"])}".*?</svg>', reuse, re.S)
    assert case_svg is not None and t.text("chart.limit_mark", limit="80") in html.unescape(case_svg.group(0))
    heat_svg = re.search(rf'<svg[^>]*aria-label="{re.escape(panels["heat_reused_kw"])}".*?</svg>', reuse, re.S)
    assert heat_svg is not None and t.text("chart.heat_demand") in html.unescape(heat_svg.group(0))
    method = _visible(page[page.index('id="methodology"'):])
    assert "ISO/IEC 30134-6" in method and f"{TRIM_THRESHOLD_KW:g} kW" in method
    if lang == "zh-CN":
        names = {w for sc in results["scenarios"] for w in WORD.findall(" ".join(
            [sc["name"], sc["description"] or "", sc["settings"]["facility"], sc["settings"]["climate"]]))}
        names |= {w for p in results["policies"] for w in WORD.findall(p["label"])}
        names |= set(WORD.findall(" ".join([results["title"], results["source"], results["generated_at"],
                                            results["coolpilot_version"]])))
        left = sorted({w for w in WORD.findall(_visible(page)) if w not in LATIN_TERMS | ACRONYMS | names
                       and "_" not in w and not re.search(r"\d", w)})
        assert not left, f"English words in the zh-CN report: {left}"


def test_the_liquid_report_draws_in_headless_chromium(run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    sync_playwright = _playwright()
    results, _ = run
    paths = write_outputs(results, tmp_path)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(paths["report.html"].as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all(
            "#sc-reuse svg.plot", "els => els.map(e => { const r = e.getBoundingClientRect(); "
            "return [e.getAttribute('aria-label'), r.width, r.height, e.querySelectorAll('polyline').length]; })")
        browser.close()
    assert errors == [], errors
    t = translator("en")
    drawn = {label: (w, h, lines) for label, w, h, lines in sizes}
    for key in ("chart.week_case_temp", "chart.week_fws_supply", "chart.week_trim", "chart.week_heat_reused"):
        w, h, lines = drawn[t.text(key)]
        assert w > 100 and h > 100 and lines >= 2, (key, drawn[t.text(key)])  # both policies (and the demand)
