"""The plant's levers: each has a cost and a benefit, and the sequencer keeps its constraints."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from coolpilot.controller.policies import RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import LEVERS
from coolpilot.envs.facility import LEGACY_SETPOINTS, build_params, initial_state
from coolpilot.envs.physics.plant import Exogenous, PlantOutputs, step
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate


def steady(preset: str, levers: Mapping[str, float], drybulb_c: float = 32.0, wetbulb_c: float = 22.0,
           util: float = 0.7, core: tuple[float, ...] = (20.0, 0.8, 10.0, 26.0), steps: int = 48) -> PlantOutputs:
    """Outputs after ``steps`` 5-minute steps with the core setpoints and the given levers (others local)."""
    params = build_params([load_facility(preset)])
    state = initial_state(params, np.array(core))
    exo = Exogenous(np.array([drybulb_c]), np.array([wetbulb_c]), np.full((1, params.it_design_kw.shape[1]), util))
    command = np.full((1, len(LEVERS)), np.nan)
    command[0, :4] = core
    for name, value in levers.items():
        command[0, LEVERS.index(name)] = value
    out = None
    for _ in range(steps):
        state, out = step(state, command, exo, params, 300.0)
    assert out is not None
    return out


class Flapping:
    """Swings the stage-up threshold and the economizer enable every step: the worst a policy can do."""

    name = "flapping"

    def __init__(self) -> None:
        self.k = 0

    def reset(self) -> None:
        self.k = 0

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        self.k += 1
        odd = self.k % 2
        return {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.8, "chw_supply_temp_c": 10.0,
                "condenser_water_temp_c": 24.0, "chiller_stage_up_plr": 0.4 if odd else 1.0,
                "economizer_enable": float(odd)}


def test_no_chiller_runs_shorter_than_its_minimum_and_starts_are_counted() -> None:
    cfg = load_facility("modern-hall")
    s = simulate(cfg, load_climate("oklahoma-city"), Flapping(), days=4, start_day=100).series
    running = s["chillers_running"]
    starts = s["chiller_starts"]
    changes = np.diff(np.concatenate(([running[0] - starts[0]], running)))
    np.testing.assert_array_equal(starts, np.maximum(changes, 0.0))
    assert starts.sum() > 3, "the flapping threshold should make the sequencer stage"
    min_run_steps = cfg.chillers.min_run_min * 60.0 / 300.0
    since_start = np.inf
    for k in range(len(running)):
        since_start = 0.0 if starts[k] > 0 else since_start + 1.0
        if k > 0 and running[k] < running[k - 1]:
            assert since_start >= min_run_steps, f"a chiller stopped {since_start:.0f} steps after a start at {k}"
    # The economizer enable flips at most once per its minimum hold.
    enabled = s["economizer_enabled"]
    flips = np.flatnonzero(np.diff(enabled) != 0.0)
    hold_steps = cfg.economizer.min_hold_min * 60.0 / 300.0
    assert len(flips) > 2 and np.all(np.diff(flips) >= hold_steps)


def test_chillers_never_fall_short_while_the_anti_recycle_timer_runs() -> None:
    """A load step right after a stop is still carried (the plant starts a chiller when short)."""
    hot = steady("legacy-hall", {"chiller_stage_up_plr": 1.0}, util=0.9)
    assert hot.chillers_running[0] >= 2 and hot.chiller_plr[0] <= 1.0 + 1e-9


def test_lower_stage_up_threshold_runs_more_chillers_at_lighter_load() -> None:
    late = steady("modern-hall", {"chiller_stage_up_plr": 1.0})
    early = steady("modern-hall", {"chiller_stage_up_plr": 0.4})
    assert early.chillers_running[0] > late.chillers_running[0]
    assert early.chiller_plr[0] < late.chiller_plr[0]
    assert early.cw_pump_kw[0] > late.cw_pump_kw[0]  # a condenser pump per running chiller


def test_spreading_flow_over_more_cells_cuts_tower_fan_power() -> None:
    few = steady("modern-hall", {"tower_cell_flow_min_frac": 1.0})
    many = steady("modern-hall", {"tower_cell_flow_min_frac": 0.33})
    assert many.tower_cells_running[0] > few.tower_cells_running[0]
    assert many.tower_fan_kw[0] < few.tower_fan_kw[0]
    assert many.condenser_water_c[0] == pytest.approx(few.condenser_water_c[0], abs=0.05)


def test_dp_reset_saves_pump_power_until_the_coils_starve() -> None:
    design = steady("modern-hall", {"chw_dp_setpoint_frac": 1.0}, util=0.5)
    reset = steady("modern-hall", {"chw_dp_setpoint_frac": 0.4}, util=0.5)
    assert reset.chw_pump_kw[0] < design.chw_pump_kw[0]
    assert reset.supply_air_temp_c[0] == pytest.approx(design.supply_air_temp_c[0], abs=1e-6)
    # At full load a very low DP setpoint caps the flow: the coils run a wider range and the air warms.
    starved = steady("modern-hall", {"chw_dp_setpoint_frac": 0.2}, util=1.0, core=(14.0, 1.0, 11.0, 26.0))
    full = steady("modern-hall", {"chw_dp_setpoint_frac": 1.0}, util=1.0, core=(14.0, 1.0, 11.0, 26.0))
    assert starved.chw_flow_frac[0] == pytest.approx(np.sqrt(0.2))
    assert starved.supply_air_temp_c[0] > full.supply_air_temp_c[0] + 1.0


def test_less_condenser_flow_saves_pumping_and_costs_lift() -> None:
    design = steady("modern-hall", {"cw_flow_frac": 1.0})
    low = steady("modern-hall", {"cw_flow_frac": 0.6})
    assert low.cw_pump_kw[0] < design.cw_pump_kw[0]
    assert low.chiller_kw[0] / low.chiller_load_kw[0] > design.chiller_kw[0] / design.chiller_load_kw[0]


def test_locking_out_the_economizer_stops_free_cooling() -> None:
    cold = dict(drybulb_c=2.0, wetbulb_c=0.0, util=0.6, core=(22.0, 0.8, 14.0, 10.0))
    on = steady("modern-hall", {"economizer_enable": 1.0}, **cold)  # type: ignore[arg-type]
    off = steady("modern-hall", {"economizer_enable": 0.0}, **cold)  # type: ignore[arg-type]
    assert on.economizer_kw[0] > 0.0 and off.economizer_kw[0] == 0.0
    assert off.chiller_kw[0] > on.chiller_kw[0]


def test_levers_a_facility_lacks_change_nothing() -> None:
    """legacy-hall has constant-speed pumps and single-speed towers: those levers do nothing there."""
    base = steady("legacy-hall", {})
    moved = steady("legacy-hall", {"tower_cell_flow_min_frac": 0.33, "chw_dp_setpoint_frac": 0.3,
                                   "cw_flow_frac": 0.6, "economizer_enable": 0.0})
    assert moved.facility_kw[0] == base.facility_kw[0]


def test_rule_based_commands_every_lever_and_beats_the_plants_own_sequence() -> None:
    cfg = load_facility("modern-hall")
    settings = rule_based_settings(cfg)
    assert settings.setpoint_names == cfg.contract.setpoint_names
    weather = load_climate("las-vegas")
    all_levers = simulate(cfg, weather, RuleBasedPolicy(settings), days=3, start_day=180).series
    import dataclasses

    core_only = simulate(cfg, weather, RuleBasedPolicy(dataclasses.replace(settings, levers=())), days=3,
                         start_day=180).series
    assert all_levers["facility_kw"].sum() < core_only["facility_kw"].sum()
    assert all_levers["inlet_temp_max_c"].max() < 27.0
    assert LEGACY_SETPOINTS.shape == (4,)
