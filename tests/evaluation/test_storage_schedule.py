"""The rule-based storage schedule commissioned from a tariff (what-if baselines on a facility with a tank)."""

from __future__ import annotations

import numpy as np
import pytest

from coolpilot.controller.policies.rule_based import RuleBasedSettings, rule_based_batch, storage_rates
from coolpilot.envs.config import load_facility
from coolpilot.evaluation.scenarios import Limits, Tariff
from coolpilot.evaluation.whatif import site_rule_settings, tariff_storage_windows

TOU = Tariff(price_per_mwh=60.0, time_of_use=[
    {"name": "on-peak", "start_hour": 12, "end_hour": 18, "price_per_mwh": 150.0},
    {"name": "night", "start_hour": 23, "end_hour": 7, "price_per_mwh": 40.0}])


def test_windows_are_the_tariffs_valley_and_peak() -> None:
    assert tariff_storage_windows(TOU) == (((23.0, 7.0),), ((12.0, 18.0),))
    defaults = RuleBasedSettings()
    assert tariff_storage_windows(Tariff()) == (defaults.tes_charge_hours, defaults.tes_discharge_hours)
    # Jiangsu's template has a midday valley beside the night one (solar): both are charge windows.
    charge, discharge = tariff_storage_windows(Tariff(template="jiangsu", price_per_mwh=650.0))
    assert len(charge) == 2 and all((end - start) % 24 <= 12 for start, end in (*charge, *discharge))


def test_a_tank_facility_is_commissioned_to_the_tariff_and_others_are_not() -> None:
    tes = site_rule_settings(load_facility("modern-hall-tes"), Limits(), TOU)
    assert tes.tes_charge_hours == ((23.0, 7.0),) and tes.tes_discharge_hours == ((12.0, 18.0),)
    assert "tes_rate_frac" in tes.levers
    # 4 hours of tank over an 8-hour valley (15 % to spare) and 85 % of it over a 6-hour peak.
    assert tes.tes_charge_rate == pytest.approx(1.15 * 4.0 / 8.0)
    assert tes.tes_discharge_rate == pytest.approx(0.85 * 4.0 / 6.0)
    plain = site_rule_settings(load_facility("modern-hall"), Limits(), TOU)
    assert "tes_rate_frac" not in plain.levers
    assert storage_rates(load_facility("modern-hall"), ((23.0, 7.0),), ((12.0, 18.0),), 0.15) == (1.0, 1.0)


@pytest.mark.parametrize(("hour", "soc", "inlet", "expected"), [
    (2.0, 0.5, 24.0, -1), (2.0, 0.99, 24.0, 0), (14.0, 0.5, 24.0, 1), (14.0, 0.1, 24.0, 0), (9.0, 0.5, 24.0, 0),
    (2.0, 0.5, 26.5, 1), (9.0, 0.0, 26.5, 0), (12.0, 0.5, 24.0, 1), (18.0, 0.5, 24.0, 0), (7.0, 0.5, 24.0, 0),
])
def test_the_schedule_charges_in_the_valley_discharges_in_the_peak_and_never_charges_when_hot(
        hour: float, soc: float, inlet: float, expected: int) -> None:
    cfg = load_facility("modern-hall-tes")
    s = site_rule_settings(cfg, Limits(), TOU)
    names = s.point_names
    values = {"inlet_temp_max_c": inlet, "supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.6,
              "outdoor_wetbulb_c": 18.0, "chw_return_temp_c": 16.0, "chw_flow_frac": 0.6, "tes_soc": soc,
              "time_of_day_sin": np.sin(np.pi * hour / 12.0), "time_of_day_cos": np.cos(np.pi * hour / 12.0)}
    out = rule_based_batch(np.array([[values[n] for n in names]]), s, point_names=names)[0]
    rate = out[s.setpoint_names.index("tes_rate_frac")]
    assert np.sign(rate) == expected, (hour, soc, inlet, rate)


def test_the_planner_a_day_ahead_beats_the_storage_schedule_on_cost() -> None:
    """Under a peak/valley tariff with a demand charge, the planner (cost objective, 24 h ahead) runs the tank and
    pays less than rule-based with its conventional schedule, which pays less than the tank left idle."""
    from dataclasses import replace

    from coolpilot.controller.policies import RuleBasedPolicy
    from coolpilot.envs.objectives import Objective
    from coolpilot.envs.simulation import simulate
    from coolpilot.envs.weather import load_climate
    from coolpilot.evaluation.kpis import compute_whatif_kpis, grid_signals
    from coolpilot.evaluation.oracle import OraclePolicy
    from coolpilot.evaluation.scenarios import Carbon

    cfg = load_facility("modern-hall-tes")
    tariff = Tariff(template="guangdong", price_per_mwh=650.0, demand_charge_per_kw_month=40.0)
    signals = grid_signals(tariff, Carbon())
    schedule = site_rule_settings(cfg, Limits(), tariff)
    idle = replace(schedule, levers=tuple(n for n in schedule.levers if n != "tes_rate_frac"))
    costs = {}
    for name, policy in (("idle", RuleBasedPolicy(idle)), ("schedule", RuleBasedPolicy(schedule)),
                         ("planner", OraclePolicy(schedule, objective=Objective(kind="cost"), signals=signals,
                                                  horizon_h=24.0))):
        result = simulate(cfg, load_climate("hongkong"), policy, days=4, start_day=190, signals=signals)
        costs[name] = compute_whatif_kpis(result, tariff=tariff, carbon=Carbon()).total_cost
        if name == "planner":
            assert result.series["tes_discharge_kw"].max() > 100.0, "the planner runs the tank"
            assert result.series["inlet_temp_max_c"].max() <= 27.0
    assert costs["planner"] < costs["schedule"] < costs["idle"], costs


def test_the_report_plots_the_tank_only_for_a_facility_with_one() -> None:
    from coolpilot.evaluation.i18n import Translator
    from coolpilot.evaluation.report import _week_panels
    from coolpilot.evaluation.scenarios import scenario_set_from_mapping
    from coolpilot.evaluation.whatif import STORAGE_SERIES, Job, run_job

    sset = scenario_set_from_mapping({"policies": ["rule-based"], "scenarios": [
        {"name": "tank", "facility": "modern-hall-tes", "climate": "phoenix",
         "period": {"start_day": 190, "days": 2}},
        {"name": "plain", "facility": "modern-hall", "climate": "phoenix", "period": {"start_day": 190, "days": 2}}]},
        "s.yaml")
    weeks = {sc.name: run_job(Job(i, 0, sc, sset.policy("rule-based")))["plots"]["week"]
             for i, sc in enumerate(sset.scenarios)}
    assert all(key in weeks["tank"] for key in STORAGE_SERIES)
    assert not any(key in weeks["plain"] for key in STORAGE_SERIES)
    soc = weeks["tank"]["tes_soc"]
    assert min(soc) >= 0.0 and max(soc) <= 1.0 and max(soc) - min(soc) > 0.1, "the schedule cycles the tank"
    for lang in ("en", "zh-CN"):
        titles = [title for key, title, _ in _week_panels(weeks["tank"], Translator(lang)) if key in STORAGE_SERIES]
        assert len(titles) == 2 and all(titles)
