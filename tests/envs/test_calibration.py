"""Site histories, the replay twin, Guideline 14 statistics and excitation plans (no optimizer here).

The fit itself is tested in tests/evaluation/test_calibration.py.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from coolpilot.envs.calibration.history import (
    History,
    HistoryError,
    load_column_map,
    read_bms_export,
    read_decisions_csv,
    read_simulate_csv,
)
from coolpilot.envs.calibration.metrics import G14_HOURLY, cv_rmse_pct, nmbe_pct, point_fit
from coolpilot.envs.calibration.parameters import ParameterSpace, fit_parameters
from coolpilot.envs.calibration.plan import expected_history, load_plan, make_plan, write_plan
from coolpilot.envs.calibration.synthetic import history_from_result, perturbed
from coolpilot.envs.calibration.twin import CalibratedTwin, replay_facilities, replay_inputs
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.facility import build_params
from coolpilot.envs.simulation import SimResult, simulate, write_csv
from coolpilot.envs.weather import load_climate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site-history"
COMPARED = ("facility_power_kw", "cooling_power_kw", "inlet_temp_max_c", "inlet_temp_mean_c", "supply_air_temp_c",
            "return_air_temp_c", "chw_supply_temp_c", "chw_return_temp_c", "condenser_water_temp_c",
            "chillers_running", "chiller_power_kw", "crah_fan_power_kw", "tower_fan_power_kw", "chw_pump_power_kw",
            "cw_pump_power_kw", "distribution_loss_kw", "inlet_temp_c_pod-1", "inlet_temp_c_pod-3")


@pytest.fixture(scope="module")
def hall() -> FacilityConfig:
    return load_facility("modern-hall")


@pytest.fixture(scope="module")
def run(hall: FacilityConfig) -> SimResult:
    """Two and a half July days of modern-hall under rule-based control in Chicago (chillers and economizer)."""
    from coolpilot.evaluation.policies import make_policy

    return simulate(hall, load_climate("chicago"), make_policy("rule-based", hall), days=2.5, start_day=181, seed=2)


@pytest.fixture(scope="module")
def sim_csv(run: SimResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hist") / "sim.csv"
    write_csv(run, path)
    return path


# --- readers ---------------------------------------------------------------------------------------------------


def test_the_simulate_csv_reads_back_every_point_setpoint_and_zone(sim_csv: Path, run: SimResult,
                                                                   hall: FacilityConfig) -> None:
    h = read_simulate_csv(sim_csv, hall)
    assert h.n_steps == run.n_steps and h.dt_s == 300.0
    np.testing.assert_allclose(h.time_s, run.series["time_s"])
    np.testing.assert_allclose(h.points["facility_power_kw"], run.series["facility_kw"], rtol=1e-7)
    np.testing.assert_allclose(h.points["chw_supply_temp_c"], run.series["chw_supply_c"], rtol=1e-7)
    assert set(h.setpoints) == set(hall.contract.setpoint_names)
    assert set(h.zone_inlet_c) == set(h.zone_it_kw) == {"pod-1", "pod-2", "pod-3"}
    np.testing.assert_allclose(h.zone_it_kw["pod-2"], run.zone_it_kw[:, 1], rtol=1e-7)
    assert h.quality == ()


def test_the_replay_of_its_own_history_reproduces_the_simulation(run: SimResult, hall: FacilityConfig) -> None:
    """The twin with the true facility, fed the recorded setpoints, weather and IT power, is the simulator:
    every compared point matches after the burn-in (the replay solves utilization from the recorded IT power), to
    what is left of the start-up state's difference (it decays with the thermal masses' time constants)."""
    h = history_from_result(run)
    inputs = replay_inputs(h, hall)
    rep = replay_facilities([hall], inputs, list(COMPARED))
    for name in COMPARED:
        measured = h.zone_inlet_c[name.removeprefix("inlet_temp_c_")] if name.startswith("inlet_temp_c_") \
            else h.points[name]
        err = (rep.series[name][0] - measured)[rep.scored]
        assert np.abs(err).max() < 1e-4 * max(1.0, float(np.abs(measured).max())), name


def test_a_batch_of_candidates_replays_as_each_alone(run: SimResult, hall: FacilityConfig) -> None:
    h = history_from_result(run)
    space = ParameterSpace.of(hall)
    other = space.config(space.draft_values * np.where(np.array(space.names) == "chiller_cop", 0.9, 1.0))
    inputs = replay_inputs(h, hall)
    together = replay_facilities([hall, other], inputs, ["non_it_power_kw", "inlet_temp_max_c"])
    for i, cfg in enumerate((hall, other)):
        alone = replay_facilities([cfg], inputs, ["non_it_power_kw", "inlet_temp_max_c"])
        for name, series in alone.series.items():
            np.testing.assert_allclose(together.series[name][i], series[0], rtol=1e-12, atol=1e-12)
    assert not np.allclose(together.series["non_it_power_kw"][0][together.scored],
                           together.series["non_it_power_kw"][1][together.scored])


def _bms_rows(run: SimResult, n: int | None = None) -> tuple[list[str], list[list[str]]]:
    """A small BMS export of the run: ISO stamps at UTC−05:00 off their slot by up to 40 s, °F, W and %."""
    rng = np.random.default_rng(3)
    header = ["Time", "OAT (F)", "OAWB (F)", "IT (W)", "MAIN (kW)", "SAT (F)", "SAT SP (F)", "INLET MAX (C)"]
    rows = []
    count = n or run.n_steps
    for k in range(count):
        t = run.series["time_s"][k] + rng.uniform(-40.0, 40.0)
        stamp = np.datetime64("2025-01-01T00:00:00") + np.timedelta64(round(t), "s") + np.timedelta64(1, "h")
        f = lambda c: c * 9.0 / 5.0 + 32.0  # noqa: E731 - the test's own °F writer
        rows.append([f"{stamp}-05:00", f"{f(run.series['outdoor_drybulb_c'][k]):.3f}",
                     f"{f(run.series['outdoor_wetbulb_c'][k]):.3f}", f"{run.series['it_power_kw'][k] * 1000.0:.1f}",
                     f"{run.series['facility_kw'][k]:.3f}", f"{f(run.series['supply_air_temp_c'][k]):.3f}",
                     f"{f(run.series['setpoint_supply_air_temp_c'][k]):.3f}",
                     f"{run.series['inlet_temp_max_c'][k]:.4f}"])
    return header, rows


MAP = {
    "timestamp": {"column": "Time"}, "site_utc_offset_h": -6,
    "columns": {"OAT (F)": {"point": "outdoor_drybulb_c", "unit": "degF"},
                "OAWB (F)": {"point": "outdoor_wetbulb_c", "unit": "degF"},
                "IT (W)": {"point": "it_power_kw", "unit": "W"},
                "MAIN (kW)": {"point": "facility_power_kw", "unit": "kW"},
                "SAT (F)": {"point": "supply_air_temp_c", "unit": "degF"},
                "SAT SP (F)": {"setpoint": "supply_air_temp_c", "unit": "degF"},
                "INLET MAX (C)": {"point": "inlet_temp_max_c", "unit": "degC"}},
}


def _write(tmp: Path, header: list[str], rows: list[list[str]], cmap: dict[str, object] | None = None,
           gz: bool = False) -> tuple[Path, Path]:
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    data = tmp / ("bms.csv.gz" if gz else "bms.csv")
    data.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    mp = tmp / "map.yaml"
    mp.write_text(yaml.safe_dump(cmap or MAP), encoding="utf-8")
    return data, mp


def test_a_bms_export_is_converted_aligned_and_resampled(run: SimResult, hall: FacilityConfig, tmp_path: Path
                                                         ) -> None:
    header, rows = _bms_rows(run)
    data, mp = _write(tmp_path, header, rows, gz=True)
    h = read_bms_export(data, mp, hall)
    assert h.year == 2025 and h.utc_offset_h == -6.0
    # Stamps at UTC−05:00 one hour ahead of standard time land back on the simulator's clock.
    k = h.n_steps // 2
    j = int(np.argmin(np.abs(run.series["time_s"] - h.time_s[k])))
    assert abs(run.series["time_s"][j] - h.time_s[k]) < 1.0
    assert h.points["it_power_kw"][k] == pytest.approx(run.series["it_power_kw"][j], rel=1e-6)
    assert h.points["outdoor_drybulb_c"][k] == pytest.approx(run.series["outdoor_drybulb_c"][j], abs=2e-3)
    assert h.setpoints["supply_air_temp_c"][k] == pytest.approx(run.series["setpoint_supply_air_temp_c"][j], abs=2e-3)
    assert any(i.kind == "sampling" for i in h.quality)


def test_gaps_longer_than_the_limit_stay_missing_and_are_reported(run: SimResult, hall: FacilityConfig,
                                                                  tmp_path: Path) -> None:
    header, rows = _bms_rows(run)
    for r in rows[100:112]:  # an hour with no facility meter reading
        r[4] = ""
    del rows[300:309]  # 45 minutes of logger outage
    data, mp = _write(tmp_path, header, rows)
    h = read_bms_export(data, mp, hall)
    gaps = [i for i in h.quality if i.kind == "gap"]
    assert any("facility_power_kw" in i.what and i.steps >= 11 for i in gaps)
    assert any(i.steps >= 8 and ("outdoor_drybulb_c" in i.what or "quantities" in i.what) for i in gaps)
    missing = np.isnan(h.points["facility_power_kw"]).sum()
    assert 11 <= missing <= 13 + 10


def test_duplicated_rows_are_dropped_and_counted(run: SimResult, hall: FacilityConfig, tmp_path: Path) -> None:
    header, rows = _bms_rows(run)
    rows = rows[:50] + [rows[49]] * 3 + rows[50:]
    data, mp = _write(tmp_path, header, rows)
    h = read_bms_export(data, mp, hall)
    dup = [i for i in h.quality if i.kind == "duplicates"]
    assert len(dup) == 1 and dup[0].steps == 3


def test_a_stuck_sensor_is_left_out_and_reported(run: SimResult, hall: FacilityConfig, tmp_path: Path) -> None:
    header, rows = _bms_rows(run)
    for r in rows[200:290]:  # 7.5 hours of one reading
        r[7] = rows[200][7]
    data, mp = _write(tmp_path, header, rows)
    h = read_bms_export(data, mp, hall)
    stuck = [i for i in h.quality if i.kind == "stuck"]
    assert "inlet_temp_max_c" in [i.what for i in stuck]
    assert np.isnan(h.points["inlet_temp_max_c"]).sum() >= 85


@pytest.mark.parametrize(("change", "words"), [
    (lambda header, rows, cmap: cmap["columns"]["SAT (F)"].update(unit="degC"),
     ["SAT (F)", "outside the physical range", "0..50 °C", "unit"]),
    (lambda header, rows, cmap: cmap["columns"]["IT (W)"].update(unit="kW"),
     ["IT (W)", "outside the physical range 0..1e+06 kW", "unit"]),
    (lambda header, rows, cmap: cmap["columns"]["IT (W)"].update(unit="kW", scale=0.01),
     ["IT (W)", "above 2250 kW", "the most", "unit"]),
    (lambda header, rows, cmap: header.append("CHW DP (psi)") or [r.append("12") for r in rows],
     ["unknown columns", "CHW DP (psi)", "ignore"]),
    (lambda header, rows, cmap: rows.insert(40, rows.pop(60)), ["time runs backwards", "line 42"]),
    (lambda header, rows, cmap: [r.__setitem__(5, "") for r in rows], ["SAT (F)", "no valid value"]),
    (lambda header, rows, cmap: rows.__setitem__(10, [rows[10][0], "warm", *rows[10][2:]]),
     ["line 12", "OAT (F)", "'warm' is not a number"]),
    (lambda header, rows, cmap: rows.__setitem__(11, [rows[10][0], *rows[11][1:]]),
     ["lines 12 and 13", "two values", "same time"]),
    (lambda header, rows, cmap: rows.__delitem__(slice(300, None)), ["spans", "at least 48 h"]),
    (lambda header, rows, cmap: cmap["columns"]["OAT (F)"].update(unit="rankine"),
     ["OAT (F)", "'rankine'", "accepted"]),
])
def test_bad_histories_are_refused_naming_what_is_wrong(change: object, words: list[str], run: SimResult,
                                                        hall: FacilityConfig, tmp_path: Path) -> None:
    header, rows = _bms_rows(run)
    cmap = yaml.safe_load(yaml.safe_dump(MAP))
    change(header, rows, cmap)  # type: ignore[operator]
    data, mp = _write(tmp_path, header, rows, cmap)
    with pytest.raises(HistoryError) as err:
        read_bms_export(data, mp, hall)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_a_column_map_is_validated_with_field_names(tmp_path: Path) -> None:
    mp = tmp_path / "map.yaml"
    mp.write_text(yaml.safe_dump({"timestamp": {"column": "Time"},
                                  "columns": {"X": {"point": "it_power_kw", "setpoint": "supply_air_temp_c",
                                                    "unit": "kW"}}}))
    with pytest.raises(HistoryError, match=r"columns.X.*exactly one of point, setpoint"):
        load_column_map(mp)


def test_the_audit_decisions_csv_reads_points_and_written_setpoints(run: SimResult, hall: FacilityConfig,
                                                                   tmp_path: Path) -> None:
    """Columns as ``AuditStore.export_csv`` writes them; the UTC offset is read from the time-of-day points."""
    offset_h = -6.0
    unix0 = 1_750_000_000.0 - (1_750_000_000.0 % 86400.0)  # a UTC midnight
    points = ["outdoor_drybulb_c", "outdoor_wetbulb_c", "it_power_kw", "time_of_day_sin", "time_of_day_cos",
              "facility_power_kw", "inlet_temp_max_c"]
    header = ["time_s", "run_id", "cycle", "mode", "source", "wrote", "model_sha256", "latency_ms",
              *(f"point_{p}" for p in points), "raw_supply_air_temp_c", "raw_error", "written_supply_air_temp_c",
              "interventions"]
    rows = []
    for k in range(run.n_steps):
        unix = unix0 + 300.0 * k
        local_h = ((unix / 3600.0) + offset_h) % 24.0
        values = {"time_of_day_sin": math.sin(2 * math.pi * local_h / 24), "time_of_day_cos":
                  math.cos(2 * math.pi * local_h / 24), "outdoor_drybulb_c": run.series["outdoor_drybulb_c"][k],
                  "outdoor_wetbulb_c": run.series["outdoor_wetbulb_c"][k], "it_power_kw":
                  run.series["it_power_kw"][k], "facility_power_kw": run.series["facility_kw"][k],
                  "inlet_temp_max_c": run.series["inlet_temp_max_c"][k]}
        wrote = k >= 100
        sat = repr(float(run.series["setpoint_supply_air_temp_c"][k]))
        rows.append([repr(unix), "r1", str(k), "active" if wrote else "shadow", "model", str(wrote).lower(), "",
                     "1.5", *(repr(float(values[p])) for p in points), sat, "", sat, ""])
    path = tmp_path / "decisions.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    h = read_decisions_csv(path, hall)
    assert h.utc_offset_h == offset_h
    assert any(i.kind == "time_zone" and "time_of_day" in i.detail for i in h.quality)
    assert h.points["facility_power_kw"][10] == pytest.approx(run.series["facility_kw"][10])
    sat = h.setpoints["supply_air_temp_c"]
    assert np.isnan(sat[:100]).all() and np.isfinite(sat[101:]).all()  # shadow cycles wrote nothing


# --- statistics ------------------------------------------------------------------------------------------------


def test_guideline_14_statistics_use_n_minus_p() -> None:
    m = np.array([10.0, 12.0, 11.0, 9.0, 13.0])
    p = np.array([11.0, 11.0, 11.0, 10.0, 12.0])
    # Σ(m − p)² = 1 + 1 + 0 + 1 + 1 = 4; Σ(m − p) = −1 + 1 + 0 − 1 + 1 = 0; mean 11; n − p = 5 − 2 = 3.
    assert cv_rmse_pct(m, p, 2) == pytest.approx(100.0 * math.sqrt(4.0 / 3.0) / 11.0)
    assert nmbe_pct(m, p + 0.5, 2) == pytest.approx(100.0 * -2.5 / (3.0 * 11.0))
    assert cv_rmse_pct(m, p, 5) is None and nmbe_pct(m, p, 7) is None


def test_point_statistics_are_hourly_and_judge_only_powers() -> None:
    t = np.arange(1, 24 * 12 * 3 + 1) * 300.0
    measured = 100.0 + 10.0 * np.sin(t / 7200.0)
    fit = point_fit("facility_power_kw", measured, measured * 1.02, t, 2025, 20)
    assert fit.n_hours == 72 and fit.n_months == 1
    assert fit.nmbe_hourly_pct == pytest.approx(-2.0 * 72 / 52, rel=1e-3)  # n − p = 52 hours
    assert fit.g14_hourly_pass is True and fit.cv_rmse_monthly_pct is None  # one month: n ≤ p
    bad = point_fit("facility_power_kw", measured, measured * 1.2, t, 2025, 20)
    assert bad.g14_hourly_pass is False and abs(bad.nmbe_hourly_pct or 0.0) > G14_HOURLY.nmbe_pct
    temp = point_fit("inlet_temp_max_c", measured * 0.0 + 24.0, measured * 0.0 + 24.1, t, 2025, 20)
    assert temp.g14_hourly_pass is None and temp.rmse == pytest.approx(0.1) and temp.bias == pytest.approx(0.1)


# --- parameters -------------------------------------------------------------------------------------------------


def test_fitted_parameters_have_physical_bounds_holding_the_draft(hall: FacilityConfig) -> None:
    params = fit_parameters(hall)
    names = [p.name for p in params]
    assert len(names) == len(set(names)) == 20
    for p in params:
        assert p.low <= p.draft <= p.high and p.low < p.high, p.name
    space = ParameterSpace.of(hall)
    np.testing.assert_allclose(space.from_unit(space.to_unit(space.draft_values)), space.draft_values, rtol=1e-12)
    same = build_params([space.config(space.draft_values)])
    for name, a, b in zip(same._fields, same, build_params([hall]), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    hot = perturbed(hall, {"chiller_cop": 4.4, "recirculation[pod-2]": 0.09, "pump_power_scale": 1.5})
    assert hot.chillers.cop_ref == 4.4 and hot.zones[1].recirculation_frac == 0.09
    assert hot.chilled_water.pump_head_pa == pytest.approx(1.5 * hall.chilled_water.pump_head_pa)
    assert hot.towers.pump_head_pa == pytest.approx(1.5 * hall.towers.pump_head_pa)
    with pytest.raises(ValueError, match="unknown fitted parameter"):
        perturbed(hall, {"lighting": 3.0})


# --- the drift monitor's predictor -------------------------------------------------------------------------------


def test_the_twin_predicts_the_next_points_and_sees_a_degraded_chiller(run: SimResult, hall: FacilityConfig) -> None:
    """One step ahead, from the points read and the setpoints written: the healthy plant's next points are
    predicted closely; a plant whose chillers lost 20 % of their COP shows as a steady excess of power."""
    names = hall.contract.setpoint_names

    def errors(plant_run: SimResult) -> np.ndarray:
        twin = CalibratedTwin(hall)
        out = []
        s = plant_run.series
        for k in range(plant_run.n_steps - 1):
            points = {"outdoor_drybulb_c": s["outdoor_drybulb_c"][k], "outdoor_wetbulb_c": s["outdoor_wetbulb_c"][k],
                      "it_power_kw": s["it_power_kw"][k + 1], "chw_supply_temp_c": s["chw_supply_c"][k],
                      "chillers_running": s["chillers_running"][k]}
            setpoints = {n: float(s[f"setpoint_{n}"][k + 1]) for n in names}
            pred = twin.predict_next(points, setpoints, float(s["time_s"][k]))
            out.append(pred["facility_power_kw"] - s["facility_kw"][k + 1])
        return np.array(out[24:])

    healthy = errors(run)
    from coolpilot.evaluation.policies import make_policy

    sick_plant = perturbed(hall, {"chiller_cop": 0.8 * hall.chiller_cop_ref})
    sick = errors(simulate(sick_plant, load_climate("chicago"), make_policy("rule-based", sick_plant), days=2.5,
                           start_day=181, seed=2))
    assert np.sqrt(np.mean(healthy**2)) < 0.01 * float(np.mean(run.series["facility_kw"]))
    assert np.mean(sick) < -3.0 * np.sqrt(np.mean(healthy**2))  # the twin under-predicts the degraded plant


def test_predict_next_refuses_missing_inputs(hall: FacilityConfig) -> None:
    twin = CalibratedTwin(hall)
    with pytest.raises(ValueError, match="it_power_kw"):
        twin.predict_next({"outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 15.0}, {}, 0.0)
    with pytest.raises(ValueError, match="not setpoints"):
        twin.predict_next({"outdoor_drybulb_c": 20.0, "outdoor_wetbulb_c": 15.0, "it_power_kw": 900.0},
                          {"humidity_pct": 40.0}, 0.0)


# --- plans --------------------------------------------------------------------------------------------------------


def test_a_plan_steps_within_the_bounds_and_rates_and_round_trips(run: SimResult, hall: FacilityConfig,
                                                                  tmp_path: Path) -> None:
    h = history_from_result(run)
    bounds = {"supply_air_temp_c": (19.0, 25.0), "crah_fan_speed_frac": (0.5, 1.0)}
    rates = {"supply_air_temp_c": 0.1}
    plan = make_plan(hall, h, ["coil_approach", "recirculation[pod-1]", "ups_loss_no_load", "pump_power_scale"],
                     bounds, rates, guard_c=25.5)
    by_name = {s.test.name: s.test for s in plan.schedule}
    assert {"coil-approach", "crah-airflow", "chw-pressure"} <= set(by_name)
    coil = by_name["coil-approach"]  # rule-based runs chilled water at its warmest: supply air comes down to it
    assert coil.setpoint == "supply_air_temp_c" and coil.rate_per_min == 0.1
    assert all(19.0 <= v <= 25.0 for v in coil.levels) and min(coil.levels) == 19.0
    assert all(0.5 <= v <= 1.0 for v in by_name["crah-airflow"].levels)
    assert "ups_loss_no_load" in plan.not_excitable and plan.guard_c == 25.5
    base = plan.baseline["supply_air_temp_c"]
    # The test's setpoint never moves faster than its rate, and ends back at the baseline.
    trace = np.array([coil.setpoint_at(m, base) for m in np.arange(0.0, coil.duration_min(base) + 10.0, 1.0)])
    assert np.abs(np.diff(trace)).max() <= 0.1 + 1e-9
    assert trace.min() == pytest.approx(19.0) and trace[-1] == pytest.approx(base)
    path = write_plan(plan, tmp_path / "plan.yaml", "a header")
    again = load_plan(path)
    assert again.schedule == plan.schedule and again.baseline == pytest.approx(plan.baseline)
    assert again.not_excitable == plan.not_excitable
    start = float(h.time_s[0])
    night = math.floor(start / 86400.0) * 86400.0 + plan.window_start_h * 3600.0
    inside = plan.setpoints_at(night + 60.0, start)
    assert set(inside) == set(hall.contract.setpoint_names)
    assert plan.setpoints_at(night - 3600.0, start) == {}


def test_the_expected_history_of_a_plan_carries_its_steps(run: SimResult, hall: FacilityConfig) -> None:
    h = history_from_result(run)
    plan = make_plan(hall, h, ["coil_approach"])
    test = plan.schedule[0].test
    planned = expected_history(hall, h, plan, float(h.time_s[0]))
    assert np.nanmin(planned.setpoints[test.setpoint]) <= min(test.levels) + 1e-9
    # The coil limit shows: the supply air stays above its setpoint once it is brought near chilled water.
    above = planned.points["supply_air_temp_c"] - planned.setpoints["supply_air_temp_c"]
    assert np.nanmax(above) > 0.5


def test_the_example_site_history_and_its_column_map_read(hall: FacilityConfig) -> None:
    h = read_bms_export(EXAMPLE / "site-history.csv.gz", EXAMPLE / "column-map.yaml", hall)
    assert isinstance(h, History) and 29.5 < h.days < 30.5
    kinds = {i.kind for i in h.quality}
    assert {"sampling", "duplicates", "stuck", "gap", "time_zone"} <= kinds or {"sampling", "duplicates", "stuck",
                                                                                  "gap"} <= kinds
    assert (EXAMPLE / "site-history.csv.gz").stat().st_size < 2_000_000
