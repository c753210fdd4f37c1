"""The chilled-water storage block: tank physics, its contract and its facility-file section."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coolpilot.controller.policies import RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import FacilityConfigError, facility_from_mapping, load_facility
from coolpilot.envs.contract import LEVERS
from coolpilot.envs.facility import build_params, initial_state
from coolpilot.envs.physics.plant import CHW, TES, Exogenous, PlantOutputs, step
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate

DT_S = 300.0


def _run(rates: list[float], drybulb_c: float = 30.0, wetbulb_c: float = 22.0, util: float = 0.7,
         preset: str = "modern-hall-tes") -> list[PlantOutputs]:
    """Step the preset through ``rates`` (tank rate per step), other levers on the plant's own sequence."""
    params = build_params([load_facility(preset)])
    z = params.it_design_kw.shape[1]
    state = initial_state(params)
    exo = Exogenous(np.array([drybulb_c]), np.array([wetbulb_c]), np.full((1, z), util))
    outs = []
    for r in rates:
        command = np.full((1, len(LEVERS)), np.nan)
        command[0, TES] = r
        state, out = step(state, command, exo, params, DT_S)
        outs.append(out)
    return outs


def test_storage_preset_contract_and_capacity() -> None:
    cfg = load_facility("modern-hall-tes")
    assert "thermal_storage" in cfg.contract.blocks
    assert {"tes_soc", "tes_cold_temp_c", "tes_warm_temp_c", "tes_discharge_kw"} <= set(cfg.contract.point_names)
    # About 4 hours of the hall's design cooling load.
    assert 3.5 <= cfg.tes_capacity_kwh / cfg.design_cooling_load_kw <= 4.5
    assert "thermal_storage" not in load_facility("modern-hall").contract.blocks


def test_tank_energy_balance_per_step() -> None:
    """Heat the tank's water gained = discharge (return water in) − charge + ambient gain, every step."""
    rates = [-1.0] * 24 + [0.0] * 6 + [1.0] * 30 + [-0.4] * 12 + [0.6] * 12
    outs = _run(rates)
    moved = 0.0
    for out in outs:
        expected = (out.tes_discharge_kw[0] + out.tes_ambient_gain_kw[0]) * DT_S
        scale = max(abs(out.tes_discharge_kw[0]) * DT_S, 1.0)
        assert abs(out.tes_heat_change_kj[0] - expected) <= 0.005 * scale
        moved += abs(out.tes_discharge_kw[0])
    assert moved > 0.0


def test_charging_and_discharging_move_the_state_of_charge_and_the_chillers() -> None:
    outs = _run([-1.0] * 12 + [1.0] * 12)
    charge, discharge = outs[11], outs[23]
    assert charge.tes_discharge_kw[0] < 0.0 and discharge.tes_discharge_kw[0] > 0.0
    assert outs[11].tes_soc[0] > outs[0].tes_soc[0] - 1e-12  # charging fills the cold zone
    assert outs[23].tes_soc[0] < outs[12].tes_soc[0]  # discharging empties it
    # The chillers carry the charge on top of the hall and less of the hall while the tank discharges.
    assert charge.chiller_load_kw[0] > discharge.chiller_load_kw[0]
    idle = _run([0.0] * 12)[-1]
    assert discharge.chiller_kw[0] < idle.chiller_kw[0] < charge.chiller_kw[0]


def test_rates_are_bounded_and_never_simultaneous() -> None:
    cfg = load_facility("modern-hall-tes")
    charge_kw, discharge_kw = cfg.tes_rates_kw
    rates = [-1.0] * 60 + [1.0] * 80
    for r, out in zip(rates, _run(rates), strict=True):
        q = out.tes_discharge_kw[0]
        assert -charge_kw * (1 + 1e-9) <= q <= discharge_kw * (1 + 1e-9)
        # One signed flow: a tank commanded to charge never discharges and the other way round.
        assert q * r >= 0.0
    empty = _run([1.0] * 200)[-1]  # a drained tank has nothing left to give
    assert empty.tes_soc[0] < 1e-6 and abs(empty.tes_discharge_kw[0]) < 1e-6


def test_an_idle_tank_leaves_the_plant_as_it_is() -> None:
    """With the tank idle, the hall with storage draws exactly the power of the hall without it."""
    plain = _run([np.nan] * 24, preset="modern-hall")
    idle = _run([0.0] * 24)
    for a, b in zip(plain, idle, strict=True):
        assert a.facility_kw[0] == b.facility_kw[0]
        assert a.inlet_temp_max_c[0] == b.inlet_temp_max_c[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=1, max_size=80),
       st.floats(-10.0, 40.0), st.floats(0.1, 1.0))
def test_state_of_charge_stays_in_range_under_any_action(rates: list[float], drybulb_c: float, util: float) -> None:
    wetbulb_c = drybulb_c - 4.0
    for out in _run(rates, drybulb_c, wetbulb_c, util):
        assert 0.0 <= out.tes_soc[0] <= 1.0
        assert np.isfinite(out.measured).all()


def test_weekly_heat_balance_with_a_storage_schedule() -> None:
    """The facility's heat balance closes with the tank charging at night and discharging in the afternoon."""
    cfg = load_facility("modern-hall-tes")
    base = RuleBasedPolicy(rule_based_settings(cfg))

    class Schedule:
        name = "schedule"

        def reset(self) -> None:
            base.reset()

        def act(self, points: dict[str, float]) -> dict[str, float]:
            sp = base.act(points)
            hour = (np.degrees(np.arctan2(points["time_of_day_sin"], points["time_of_day_cos"])) / 15.0) % 24.0
            sp["tes_rate_frac"] = -1.0 if hour < 6.0 else (1.0 if 12.0 <= hour < 18.0 else 0.0)
            return sp

    result = simulate(cfg, load_climate("chicago"), Schedule(), days=2, start_day=190)
    s, dt = result.series, result.dt_s
    removed = ((s["economizer_kw"] + s["chiller_load_kw"]) * dt).sum()
    produced = ((s["it_power_kw"] + s["crah_fan_kw"] + s["chw_pump_kw"] + s["lighting_kw"]
                 + s["envelope_gain_kw"]) * dt).sum()
    assert abs(removed - (produced - s["stored_heat_change_kj"].sum())) / produced < 0.005
    assert s["tes_discharge_kw"].min() < 0.0 < s["tes_discharge_kw"].max()
    assert s["inlet_temp_max_c"].max() < 27.0
    # What the plant was told: the tank's rate is a recorded setpoint like any other.
    assert "setpoint_tes_rate_frac" in s


def test_discharge_never_overcools_the_loop() -> None:
    params = build_params([load_facility("modern-hall-tes")])
    setpoint = float(initial_state(params).actuators[0, CHW])
    for out in _run([1.0] * 36, drybulb_c=5.0, wetbulb_c=2.0, util=0.3):
        assert out.chw_supply_c[0] >= setpoint - 0.5


@pytest.mark.parametrize(("storage", "match"), [
    ({"volume_m3": -1.0}, r"storage\.volume_m3"),
    ({"volume_m3": 500.0, "insulation_m": 0.0}, r"storage\.insulation_m"),
    ({"volume_m3": 500.0, "initial_soc": 1.5}, r"storage\.initial_soc"),
    ({"volume_m3": 500.0, "max_discharge_kw": 0.0}, r"storage\.max_discharge_kw"),
    ({"volume_m3": 500.0, "tank_shape": "sphere"}, r"storage\.tank_shape"),
])
def test_bad_tank_inputs_are_refused_with_the_field(storage: dict[str, object], match: str) -> None:
    data = {"name": "t", "floor_area_m2": 200, "zones": [{"name": "z", "it_design_kw": 100}],
            "chillers": {"count": 2, "capacity_kw": 200}, "storage": storage}
    with pytest.raises(FacilityConfigError, match=match):
        facility_from_mapping(data)


def test_single_and_vector_env_agree_bit_for_bit_with_a_tank() -> None:
    from coolpilot.envs.env import DataCenterEnv
    from coolpilot.envs.vector import DataCenterVectorEnv

    n, steps, seed = 3, 200, 11
    vec = DataCenterVectorEnv(n, facility="modern-hall-tes", climate=["miami", "chicago"], episode_days=1)
    singles = [DataCenterEnv(facility="modern-hall-tes", climate=["miami", "chicago"], episode_days=1)
               for _ in range(n)]
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    assert obs_v.tobytes() == np.array(obs_s).tobytes()
    assert obs_v.shape == (n, 35)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        actions = rng.uniform(-1, 1, size=(n, 10)).astype(np.float32)
        obs_v, rew_v, _, _, _ = vec.step(actions)
        for i, env in enumerate(singles):
            obs, rew, _, _, _ = env.step(actions[i])
            assert obs.tobytes() == obs_v[i].tobytes() and rew == rew_v[i], f"sub-env {i} diverged"
    soc = obs_v[:, vec.contract.point_names.index("tes_soc")]
    assert ((soc >= 0.0) & (soc <= 1.0)).all()
