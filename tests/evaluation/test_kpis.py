"""What-if KPI arithmetic, checked by hand on a constructed run, and against a real simulation."""

from __future__ import annotations

import numpy as np
import pytest

from coolpilot.envs.config import load_facility
from coolpilot.envs.kpis import compute_kpis
from coolpilot.envs.simulation import RECORDED_OUTPUTS, SimResult, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.kpis import DEADBANDS, compute_whatif_kpis, peak_demand_kw, savings, step_prices
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.scenarios import Carbon, Tariff, TouWindow

HOUR = 3600.0


def hand_case() -> SimResult:
    """Four one-hour steps on Monday 1 January, 16:00–20:00, with constant powers (kW)."""
    n = 4
    series = {name: np.zeros(n) for name in RECORDED_OUTPUTS}
    powers = {"it_power_kw": 1000.0, "crah_fan_kw": 50.0, "chiller_kw": 100.0, "tower_fan_kw": 10.0,
              "chw_pump_kw": 5.0, "cw_pump_kw": 5.0, "distribution_loss_kw": 20.0, "lighting_kw": 10.0}
    for name, kw in powers.items():
        series[name][:] = kw
    series["facility_kw"][:] = sum(powers.values())  # 1200 kW
    series["cooling_kw"][:] = 50.0 + 100.0 + 10.0 + 5.0 + 5.0  # 170 kW
    series["water_evaporation_m3"][:] = 1.0
    series["water_drift_m3"][:] = 0.1
    series["water_blowdown_m3"][:] = 0.4
    series["economizer_kw"][:] = [0.0, 50.0, 50.0, 0.0]
    series["chillers_running"][:] = [1.0, 0.0, 1.0, 1.0]
    series["time_s"] = np.array([17.0, 18.0, 19.0, 20.0]) * HOUR  # each step's end
    series["setpoint_supply_air_temp_c"] = np.array([18.0, 18.05, 19.0, 19.0])
    series["setpoint_crah_fan_speed_frac"] = np.array([1.0, 1.0, 0.5, 0.5])
    series["setpoint_chw_supply_temp_c"] = np.array([7.0, 7.0, 7.0, 7.0])
    series["setpoint_condenser_water_temp_c"] = np.array([29.4, 20.0, 20.0, 25.0])
    inlet = np.array([[25.0, 26.0], [27.5, 26.0], [28.0, 29.0], [26.0, 26.0]])
    return SimResult("hall", "somewhere", "p", HOUR, 16 * HOUR, 2000.0, series, inlet, ("z1", "z2"))


def test_kpis_by_hand() -> None:
    tariff = Tariff(price_per_mwh=100.0, currency="EUR", water_price_per_m3=2.0,
                    time_of_use=[TouWindow(start_hour=17, end_hour=19, price_per_mwh=200.0)])
    k = compute_whatif_kpis(hand_case(), tariff=tariff, carbon=Carbon(green_power_share=0.25), inlet_limit_c=28.0)
    assert k.days == pytest.approx(4 / 24)
    assert k.facility_energy_mwh == pytest.approx(4.8)  # 1200 kW × 4 h
    assert k.it_energy_mwh == pytest.approx(4.0)
    assert k.pue == pytest.approx(1.2)
    assert k.cooling_energy_mwh == pytest.approx(0.68)  # 170 kW × 4 h
    assert k.non_it_energy_mwh == pytest.approx(0.8)
    assert k.energy_by_component_mwh == pytest.approx({"it": 4.0, "crah_fans": 0.2, "chillers": 0.4, "tower_fans": 0.04,
                                                       "chw_pumps": 0.02, "cw_pumps": 0.02, "cdu_pumps": 0.0,
                                                       "fws_pumps": 0.0, "dry_cooler_fans": 0.0,
                                                       "distribution_losses": 0.08, "lighting": 0.04})
    assert k.water_m3 == pytest.approx(6.0)
    assert k.wue_l_per_kwh == pytest.approx(6000.0 / 4000.0)
    assert k.carbon_location_t_co2e == pytest.approx(4.8 * 0.5703)
    assert k.carbon_after_green_t_co2e == pytest.approx(4.8 * 0.5703 * 0.75)
    # Step middles at 16:30, 17:30, 18:30, 19:30 on a Monday: 100, 200, 200, 100 per MWh of 1.2 MWh each.
    assert k.energy_cost == pytest.approx(1.2 * (100 + 200 + 200 + 100))
    assert k.water_cost == pytest.approx(12.0) and k.total_cost == pytest.approx(732.0) and k.currency == "EUR"
    assert k.inlet_temp_max_c == 29.0
    assert k.degree_hours_above_27c == pytest.approx(0.5 + 1.0 + 2.0)
    assert k.hours_above_27c == pytest.approx(2.0)
    assert k.degree_hours_above_limit == pytest.approx(1.0) and k.hours_above_limit == pytest.approx(1.0)
    assert not k.thermal_ok
    assert k.free_cooling_hours == pytest.approx(2.0) and k.full_free_cooling_hours == pytest.approx(1.0)
    # 0.05 K is inside the deadband; 0.95 K, the fan's 0.5 and the condenser's two moves count.
    assert k.setpoint_changes == {"supply_air_temp_c": 1, "crah_fan_speed_frac": 1, "chw_supply_temp_c": 0,
                                  "condenser_water_temp_c": 2}
    assert k.setpoint_changes_total == 4 and k.setpoint_changes_per_day == pytest.approx(4 / (4 / 24))
    assert [m.label for m in k.monthly] == ["Jan"] and k.monthly[0].pue == pytest.approx(1.2)
    assert k.peak_facility_power_kw == 1200.0


def test_setpoint_changes_count_what_the_plant_applied() -> None:
    k = compute_whatif_kpis(hand_case(), tariff=Tariff(), carbon=Carbon(),
                            setpoint_bounds={"supply_air_temp_c": (14.0, 18.5), "condenser_water_temp_c": (10.0, 22.0)})
    # Supply air 18, 18.05, 18.5, 18.5: one move; condenser 22, 20, 20, 22: two moves.
    assert k.setpoint_changes["supply_air_temp_c"] == 1 and k.setpoint_changes["condenser_water_temp_c"] == 2


def lever_case() -> SimResult:
    """One hour of 5-minute steps on a modern-hall-like plant: every contract setpoint recorded, a power spike and a
    plateau, two chiller starts."""
    n = 12
    series = {name: np.zeros(n) for name in RECORDED_OUTPUTS}
    series["it_power_kw"][:] = 800.0
    series["facility_kw"][:] = [1000, 1000, 1000, 1000, 1000, 2200, 1000, 1000, 1500, 1500, 1500, 1000]
    series["chiller_starts"][:] = [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    series["time_s"] = 300.0 * np.arange(1, n + 1)
    constant = {"supply_air_temp_c": 18.0, "crah_fan_speed_frac": 1.0, "chw_supply_temp_c": 7.0,
                "condenser_water_temp_c": 29.4}
    for name, value in constant.items():
        series[f"setpoint_{name}"] = np.full(n, value)
    # 0.005 is inside the 0.01 deadband, 0.095 is a change.
    series["setpoint_chiller_stage_up_plr"] = np.array([0.6, 0.6, 0.605, 0.605, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7])
    series["setpoint_tower_cell_flow_min_frac"] = np.full(n, 0.33)
    series["setpoint_chw_dp_setpoint_frac"] = np.array([1.0, 0.95, 0.95, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    series["setpoint_cw_flow_frac"] = np.full(n, 1.0)
    # On, on (0.6 is on), off, off, off, off, off, on...: two changes of state; 1 -> 0.6 and 0.4 -> 0.45 -> 0 none.
    series["setpoint_economizer_enable"] = np.array([1.0, 1.0, 0.6, 0.4, 0.45, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    inlet = np.full((n, 1), 24.0)
    return SimResult("hall", "somewhere", "p", 300.0, 0.0, 1000.0, series, inlet, ("z1",))


def test_wear_and_peak_kpis_by_hand() -> None:
    """Setpoint changes over every contract setpoint, chiller starts per day and the 15-minute peak."""
    k = compute_whatif_kpis(lever_case(), tariff=Tariff(), carbon=Carbon())
    assert k.days == pytest.approx(1 / 24)
    assert list(k.setpoint_changes) == list(load_facility("modern-hall").contract.setpoint_names)
    assert k.setpoint_changes == {"supply_air_temp_c": 0, "crah_fan_speed_frac": 0, "chw_supply_temp_c": 0,
                                  "condenser_water_temp_c": 0, "chiller_stage_up_plr": 1,
                                  "tower_cell_flow_min_frac": 0, "chw_dp_setpoint_frac": 2, "cw_flow_frac": 0,
                                  "economizer_enable": 2}
    assert k.setpoint_changes_total == 5 and k.setpoint_changes_per_day == pytest.approx(5 * 24)
    assert k.chiller_starts == 2.0 and k.chiller_starts_per_day == pytest.approx(48.0)
    # The 2,200 kW step lasts 5 minutes: its 15-minute average is 1,400 kW; the 1,500 kW plateau lasts 15.
    assert k.peak_facility_power_kw == pytest.approx(1500.0)
    clipped = compute_whatif_kpis(lever_case(), tariff=Tariff(), carbon=Carbon(),
                                  setpoint_bounds={"chw_dp_setpoint_frac": (0.2, 0.92)})
    assert clipped.setpoint_changes["chw_dp_setpoint_frac"] == 1  # 0.92, 0.92, 0.92, 0.9: the plant applied one


def test_peak_demand_windows() -> None:
    power = np.array([100.0, 400.0, 100.0, 100.0])
    assert peak_demand_kw(power, 300.0) == pytest.approx(200.0)  # three 5-minute steps
    assert peak_demand_kw(power, 900.0) == pytest.approx(400.0)  # one 15-minute step
    assert peak_demand_kw(power, 3600.0) == pytest.approx(400.0)  # an hourly step is its own 15-minute average
    assert peak_demand_kw(power[:2], 60.0) == pytest.approx(250.0)  # shorter than the window: the mean
    every_block = {*load_facility("modern-hall-tes").contract.setpoint_names,
                   *load_facility("ai-factory").contract.setpoint_names}
    assert set(DEADBANDS) == every_block  # every block's


def test_hourly_carbon_profile_and_weekend_prices() -> None:
    profile = tuple(0.1 * (h % 24 >= 17) + 0.2 for h in range(24))  # 0.2 before 17:00, 0.3 after
    k = compute_whatif_kpis(hand_case(), tariff=Tariff(), carbon=Carbon(), carbon_profile=profile)
    assert k.carbon_location_t_co2e == pytest.approx(1.2 * (0.2 + 0.3 + 0.3 + 0.3))
    assert k.grid_factor_mean_t_per_mwh == pytest.approx(0.275)
    tariff = Tariff(price_per_mwh=50.0, time_of_use=[TouWindow(start_hour=22, end_hour=6, price_per_mwh=20.0,
                                                               weekdays_only=False),
                                                     TouWindow(start_hour=8, end_hour=20, price_per_mwh=150.0,
                                                               months=[7])])
    t = np.array([23.5, 3.0 + 24, 12.0 + 5 * 24, 12.0 + 190 * 24, 12.0 + 194 * 24]) * HOUR
    # Night window wraps midnight on any day; the July weekday window misses Saturdays (days 5 and 194).
    assert step_prices(tariff, t).tolist() == [20.0, 20.0, 50.0, 150.0, 50.0]


def test_savings_and_share_of_the_oracle() -> None:
    base = compute_whatif_kpis(hand_case(), tariff=Tariff(), carbon=Carbon())
    policy, oracle = hand_case(), hand_case()
    policy.series["facility_kw"] = policy.series["facility_kw"] - 60.0
    oracle.series["facility_kw"] = oracle.series["facility_kw"] - 120.0
    kp = compute_whatif_kpis(policy, tariff=Tariff(), carbon=Carbon())
    ko = compute_whatif_kpis(oracle, tariff=Tariff(), carbon=Carbon())
    s = savings(base, kp, ko)
    assert s.facility_energy_mwh == pytest.approx(0.24) and s.facility_energy_pct == pytest.approx(5.0)
    assert s.carbon_location_t_co2e == pytest.approx(0.24 * 0.5703)
    assert s.cost == pytest.approx(0.24 * 80.0)
    assert s.share_of_oracle_saving_pct == pytest.approx(50.0)
    assert s.pue_before == pytest.approx(1.2) and s.pue_after == pytest.approx(1.14)
    assert savings(base, kp).share_of_oracle_saving_pct is None
    assert savings(base, kp, base).share_of_oracle_saving_pct is None  # the "oracle" saves nothing


def test_kpis_of_a_real_run_add_up() -> None:
    cfg = load_facility("modern-hall")
    result = simulate(cfg, load_climate("sterling"), make_policy("rule-based", cfg), days=2, start_day=30)
    k = compute_whatif_kpis(result, tariff=Tariff(), carbon=Carbon())
    base = compute_kpis(result)
    assert k.facility_energy_mwh == pytest.approx(sum(k.energy_by_component_mwh.values()), rel=1e-9)
    assert k.facility_energy_mwh == base.facility_energy_mwh and k.pue == base.pue
    assert k.cooling_energy_mwh == pytest.approx(base.cooling_energy_mwh, rel=1e-9)
    # The run crosses 31 January: two months, whose energies add up to the whole.
    assert [m.label for m in k.monthly] == ["Jan", "Feb"] and len(k.daily) == 2
    assert sum(m.facility_energy_mwh for m in k.monthly) == pytest.approx(k.facility_energy_mwh)
    assert sum(m.hours for m in k.monthly) == pytest.approx(48.0)
    assert list(k.setpoint_changes) == list(cfg.contract.setpoint_names) and len(k.setpoint_changes) == 9
    assert k.chiller_starts == float(result.series["chiller_starts"].sum())
    assert k.peak_facility_power_kw <= float(result.series["facility_kw"].max())


def test_one_kpi_vocabulary_what_if_extends_the_simulators_kpis() -> None:
    """Every name shared by `coolpilot simulate` and the what-if means the same number; components are named once."""
    from dataclasses import fields

    from coolpilot.envs.kpis import COMPONENT_NAMES, COOLING_COMPONENTS, ENERGY_COMPONENTS, Kpis
    from coolpilot.evaluation.kpis import WhatIfKpis

    cfg = load_facility("modern-hall")
    result = simulate(cfg, load_climate("chicago"), make_policy("rule-based", cfg), days=1, start_day=100)
    base = compute_kpis(result)
    k = compute_whatif_kpis(result, tariff=Tariff(), carbon=Carbon())
    assert isinstance(k, Kpis) and issubclass(WhatIfKpis, Kpis)
    for f in fields(Kpis):
        assert getattr(k, f.name) == getattr(base, f.name), f.name
    assert tuple(base.energy_by_component_mwh) == COMPONENT_NAMES
    assert {c.power_series for c in ENERGY_COMPONENTS} <= set(RECORDED_OUTPUTS)
    assert base.free_cooling_hours > 0.0  # Chicago in April: the economizer carries load
    # The cooling plant named by the vocabulary is the plant the physics sums into cooling_kw.
    h = result.dt_s / HOUR
    assert base.cooling_energy_mwh == pytest.approx(float(result.series["cooling_kw"].sum()) * h / 1000.0, rel=1e-12)
    assert set(COOLING_COMPONENTS) == {"crah_fans", "chillers", "tower_fans", "chw_pumps", "cw_pumps", "cdu_pumps",
                                       "fws_pumps", "dry_cooler_fans"}
    assert base.as_dict().keys() <= k.as_dict().keys()


def test_grid_signals_price_what_the_kpis_price_and_demand_is_charged_per_month() -> None:
    from coolpilot.envs.objectives import HOURS_PER_YEAR
    from coolpilot.evaluation.kpis import grid_signals, monthly_demand_cost, step_grid_factors

    tariff = Tariff(price_per_mwh=60.0, demand_charge_per_kw_month=15.0,
                    time_of_use=[TouWindow(start_hour=12, end_hour=18, price_per_mwh=150.0)])
    carbon = Carbon(grid_t_co2_per_mwh=0.45)
    signals = grid_signals(tariff, carbon)
    mid = (np.arange(HOURS_PER_YEAR) + 0.5) * 3600.0
    np.testing.assert_array_equal(signals.price_per_mwh, step_prices(tariff, mid))
    np.testing.assert_array_equal(signals.carbon_t_per_mwh, step_grid_factors(carbon, None, mid))
    assert signals.price_per_mwh[12] == 150.0 and signals.price_per_mwh[11] == 60.0
    assert signals.demand_charge_per_kw_month == 15.0
    # Two months: January peaks at 1,200 kW for 15 minutes, February stays at 1,000 kW.
    dt = 300.0
    t = np.arange(59 * 288) * dt + 0.5 * dt
    power = np.full(t.shape, 1000.0)
    power[100:103] = 1200.0
    assert monthly_demand_cost(power, t, dt, 15.0) == pytest.approx(15.0 * (1200.0 + 1000.0))
    assert monthly_demand_cost(power, t, dt, 0.0) == 0.0
