"""Physics invariants: energy balance, non-negativity, monotonic responses, numba = numpy."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from coolpilot.controller.policies import LegacyPolicy, RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT
from coolpilot.envs.facility import LEGACY_SETPOINTS, build_params, command_array, initial_state
from coolpilot.envs.physics.plant import Exogenous, PlantOutputs, step
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate

PRESETS = ("legacy-hall", "modern-hall", "campus")
ENERGY_BALANCE_TOLERANCE = 0.005
"""Relative tolerance of the weekly heat balance (the issue's 0.5 %)."""


def steady(preset: str, setpoints: list[float], drybulb_c: float, wetbulb_c: float, util: float,
           steps: int = 48) -> PlantOutputs:
    """Outputs after ``steps`` 5-minute steps at constant conditions (thermal masses settled)."""
    params = build_params([load_facility(preset)])
    z = params.it_design_kw.shape[1]
    state = initial_state(params, np.array(setpoints))
    exo = Exogenous(np.array([drybulb_c]), np.array([wetbulb_c]), np.full((1, z), util))
    command = command_array(CORE_CONTRACT, np.array([setpoints]))  # the plant's own sequence runs its levers
    out = None
    for _ in range(steps):
        state, out = step(state, command, exo, params, 300.0)
    assert out is not None
    return out


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("policy", ["legacy", "rule-based"])
def test_weekly_energy_balance_and_nonnegative_outputs(preset: str, policy: str) -> None:
    """Heat removed by the plant = IT + fans + pumps + lighting + envelope − Δstored, within 0.5 %.

    Under legacy control (the levers on the plant's own sequence) and rule-based control (every
    lever of the facility's contract commanded).
    """
    cfg = load_facility(preset)
    chosen = LegacyPolicy() if policy == "legacy" else RuleBasedPolicy(rule_based_settings(cfg))
    result = simulate(cfg, load_climate("chicago"), chosen, days=7, start_day=120)
    s = result.series
    dt = result.dt_s
    removed_kj = ((s["economizer_kw"] + s["chiller_load_kw"]) * dt).sum()
    produced_kj = ((s["it_power_kw"] + s["crah_fan_kw"] + s["chw_pump_kw"] + s["lighting_kw"]
                    + s["envelope_gain_kw"]) * dt).sum()
    stored_kj = s["stored_heat_change_kj"].sum()
    imbalance = abs(removed_kj - (produced_kj - stored_kj)) / produced_kj
    assert imbalance < ENERGY_BALANCE_TOLERANCE, f"heat balance off by {imbalance:.3%} over a week"
    rejected_kj = (s["heat_rejected_kw"] * dt).sum()
    expected_rejected = removed_kj + ((s["chiller_kw"] + s["cw_pump_kw"]) * dt).sum()
    assert abs(rejected_kj - expected_rejected) / expected_rejected < ENERGY_BALANCE_TOLERANCE
    for name in ("it_power_kw", "facility_kw", "cooling_kw", "crah_fan_kw", "chiller_kw", "tower_fan_kw",
                 "chw_pump_kw", "cw_pump_kw", "distribution_loss_kw", "water_evaporation_m3", "water_drift_m3",
                 "water_blowdown_m3", "coil_load_kw", "heat_rejected_kw"):
        values = s[name]
        assert np.all(np.isfinite(values)), f"{name} has non-finite values"
        assert values.min() >= 0.0, f"{name} goes negative: {values.min()}"
    total = sum(s[n] for n in ("it_power_kw", "crah_fan_kw", "chiller_kw", "tower_fan_kw", "chw_pump_kw",
                               "cw_pump_kw", "distribution_loss_kw", "lighting_kw"))
    np.testing.assert_allclose(total, s["facility_kw"], rtol=1e-12)


@pytest.mark.parametrize("preset", PRESETS)
def test_hotter_weather_costs_more_cooling_power(preset: str) -> None:
    setpoints = list(LEGACY_SETPOINTS)
    cooling = [steady(preset, setpoints, db, wb, 0.6).cooling_kw[0] for db, wb in
               [(0.0, -2.0), (10.0, 7.0), (20.0, 15.0), (28.0, 22.0), (35.0, 27.0)]]
    assert np.all(np.diff(cooling) > 0.0), f"cooling power not increasing with weather: {cooling}"


@pytest.mark.parametrize("preset", PRESETS)
def test_warmer_chilled_water_is_more_efficient(preset: str) -> None:
    """Higher CHW setpoint: less chiller power per kW the chillers cool (in the curves' range)."""
    kw_per_kw = []
    for chw in (5.0, 6.0, 7.0, 8.0):
        out = steady(preset, [20.0, 1.0, chw, 29.4], 30.0, 24.0, 0.6)
        kw_per_kw.append(out.chiller_kw[0] / out.chiller_load_kw[0])
    assert np.all(np.diff(kw_per_kw) < 0.0), f"chiller kW/kW not falling with CHW setpoint: {kw_per_kw}"


@pytest.mark.parametrize("preset", ["modern-hall", "campus"])
def test_warmer_chilled_water_gives_more_economizer_hours(preset: str) -> None:
    cfg = load_facility(preset)
    weather = load_climate("chicago")
    econ_steps, free_steps = [], []
    for chw in (8.0, 12.0, 16.0):
        policy = LegacyPolicy(supply_air_temp_c=22.0, chw_supply_temp_c=chw, condenser_water_temp_c=10.0)
        s = simulate(cfg, weather, policy, days=14, start_day=90).series
        econ_steps.append(int((s["economizer_kw"] > 0.0).sum()))
        free_steps.append(int((s["chiller_load_kw"] == 0.0).sum()))
    assert econ_steps[0] <= econ_steps[1] <= econ_steps[2] and econ_steps[0] < econ_steps[2], econ_steps
    assert free_steps[0] <= free_steps[1] <= free_steps[2] and free_steps[0] < free_steps[2], free_steps


@pytest.mark.parametrize("preset", ["modern-hall", "campus", "legacy-hall"])
def test_less_crah_airflow_raises_max_inlet(preset: str) -> None:
    inlets = [steady(preset, [18.0, fan, 7.0, 29.4], 25.0, 18.0, 0.7).inlet_temp_max_c[0]
              for fan in (1.0, 0.85, 0.7, 0.55, 0.45)]
    assert np.all(np.diff(inlets) > 0.0), f"max inlet not rising as airflow falls: {inlets}"


@pytest.mark.parametrize("preset", PRESETS)
def test_more_it_load_gives_more_of_everything(preset: str) -> None:
    low = steady(preset, [20.0, 0.8, 10.0, 24.0], 30.0, 24.0, 0.4)
    high = steady(preset, [20.0, 0.8, 10.0, 24.0], 30.0, 24.0, 0.8)
    for name in ("it_power_kw", "facility_kw", "cooling_kw", "chiller_kw", "coil_load_kw", "heat_rejected_kw",
                 "water_evaporation_m3", "inlet_temp_max_c", "distribution_loss_kw", "return_air_temp_c"):
        lo, hi = getattr(low, name)[0], getattr(high, name)[0]
        assert hi > lo, f"{name}: {hi} at 80 % load is not above {lo} at 40 %"


def test_coil_limit_supply_air_not_colder_than_chilled_water_plus_approach() -> None:
    cfg = load_facility("modern-hall")
    out = steady("modern-hall", [14.0, 1.0, 14.0, 20.0], 25.0, 18.0, 0.6)
    assert out.supply_air_temp_c[0] >= 14.0 + cfg.crah.coil_approach_k - 1e-9


def test_server_power_slope_matches_field_data() -> None:
    """IT power rises 0.35–0.5 %/K of inlet between 25 and 30 °C (PHYSICS.md section 4)."""
    from coolpilot.envs.physics.air import it_power_kw

    cfg = load_facility("modern-hall")
    p = build_params([cfg])
    inlets = np.array([[25.0, 25.0, 25.0], [30.0, 30.0, 30.0]])
    power, _ = it_power_kw(np.repeat(p.it_design_kw, 2, 0), np.full((2, 3), 0.6), inlets,
                           np.repeat(p.idle_power_frac, 2), np.repeat(p.server_fan_power_frac, 2),
                           np.repeat(p.server_fan_knee_c, 2), np.repeat(p.server_airflow_slope_per_k, 2))
    slope = (power[1].sum() / power[0].sum() - 1.0) / 5.0
    assert 0.0035 <= slope <= 0.005, f"server power slope {slope:.4%}/K outside 0.35–0.5 %/K"


def test_numba_and_numpy_agree(tmp_path: Path) -> None:
    """The compiled physics and the plain-numpy source give the same week (COOLPILOT_JIT=0)."""
    code = textwrap.dedent("""
        import numpy as np, sys
        from coolpilot.controller.policies import LegacyPolicy
        from coolpilot.envs.config import load_facility
        from coolpilot.envs.simulation import simulate
        from coolpilot.envs.weather import load_climate
        r = simulate(load_facility("campus"), load_climate("miami"), LegacyPolicy(), days=2, start_day=200)
        np.save(sys.argv[1], np.column_stack([r.series[k] for k in sorted(r.series)]))
    """)
    results = []
    for jit, name in (("1", "jit.npy"), ("0", "nojit.npy")):
        path = str(tmp_path / name)
        env = dict(os.environ, COOLPILOT_JIT=jit)
        subprocess.run([sys.executable, "-c", code, path], check=True, env=env, timeout=300)
        results.append(np.load(path))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9, atol=1e-9)
