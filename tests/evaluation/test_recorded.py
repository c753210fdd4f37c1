"""The ``recorded`` what-if baseline: a site history's setpoints, weather and IT load replayed through the facility."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from coolpilot.envs.calibration.history import SIMULATE_COLUMNS
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import SETPOINT_SPECS
from coolpilot.envs.simulation import SimResult, simulate, write_csv
from coolpilot.envs.weather import load_climate, wet_bulb_c
from coolpilot.evaluation.policies import make_policy
from coolpilot.evaluation.recorded import stull_rh_pct
from coolpilot.evaluation.report import render_report
from coolpilot.evaluation.scenarios import ScenarioFileError, load_scenarios
from coolpilot.evaluation.whatif import run_whatif

START_DAY = 180.0
DAYS = 3.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimResult]:
    """Three July days of modern-hall under rule-based in Chicago, as ``coolpilot simulate --csv`` writes them."""
    cfg = load_facility("modern-hall")
    result = simulate(cfg, load_climate("chicago"), make_policy("rule-based", cfg), days=DAYS, start_day=START_DAY,
                      seed=3)
    path = tmp_path_factory.mktemp("site") / "history.csv"
    write_csv(result, path)
    return path, result


def _scenario_file(tmp: Path, history: Any, policies: list[str] | None = None, **scenario: Any) -> Path:
    data = {"title": "site", "baseline": "recorded", "policies": policies or ["recorded", "rule-based"],
            "defaults": {"facility": "modern-hall", "history": history},
            "scenarios": [{"name": "site", **scenario}]}
    path = tmp / "scenarios.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _rewrite(src: Path, dst: Path, drop: frozenset[str] | set[str] = frozenset(),
             blank: tuple[str, slice] | None = None) -> Path:
    """A copy of a simulate CSV without the columns ``drop``, column ``blank[0]`` empty over rows ``blank[1]``."""
    with src.open(newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [j for j, h in enumerate(rows[0]) if h not in drop]
    out = [[r[j] for j in keep] for r in rows]
    if blank is not None:
        col = out[0].index(blank[0])
        for r in out[1:][blank[1]]:
            r[col] = ""
    with dst.open("w", newline="") as fh:
        csv.writer(fh).writerows(out)
    return dst


def test_replaying_a_rule_based_history_reproduces_it_and_its_meters(site: tuple[Path, SimResult],
                                                                      tmp_path: Path) -> None:
    """The history of a rule-based plant, replayed as ``recorded`` through the same facility, draws the metered
    energy, and rule-based run on the history's weather and IT load does what the site did."""
    path, sim = site
    results = run_whatif(load_scenarios(_scenario_file(tmp_path, str(path))), workers=1, progress=False)
    sc = results["scenarios"][0]
    assert sc["settings"]["start_day"] == pytest.approx(START_DAY) and sc["settings"]["days"] == pytest.approx(DAYS)
    metered_mwh = float(sim.series["facility_kw"].sum()) * 300.0 / 3600.0 / 1000.0
    recorded = sc["runs"]["recorded"]["kpis"]
    rule = sc["runs"]["rule-based"]["kpis"]
    assert recorded["facility_energy_mwh"] == pytest.approx(metered_mwh, rel=1e-3)
    assert rule["facility_energy_mwh"] == pytest.approx(metered_mwh, rel=1e-3)
    fit = sc["history"]["metered"]["quantities"]
    assert set(fit) == {"facility_power_kw", "non_it_power_kw"}
    assert fit["facility_power_kw"]["metered_mwh"] == pytest.approx(metered_mwh, rel=1e-9)
    assert abs(fit["non_it_power_kw"]["difference_pct"]) < 0.5
    assert fit["non_it_power_kw"]["fit"]["cv_rmse_hourly_pct"] < 1.0
    assert fit["non_it_power_kw"]["fit"]["g14_hourly_pass"] is True
    assert sc["history"]["metered"]["calibrated_parameters"] is None, "a preset has no calibration sidecar"
    assert {s["kind"] for s in sc["history"]["setpoint_sources"].values()} == {"recorded"}
    page = render_report(results)
    assert "The recorded run beside the meters" in page and "uncalibrated model" in page


def test_setpoints_the_history_lacks_run_on_feedback_or_the_plant_sequence(site: tuple[Path, SimResult],
                                                                          tmp_path: Path) -> None:
    """Without the supply-air setpoint and the plant levers' columns, supply air replays from its feedback point and
    the levers run on the plant's own sequence; the report says which."""
    path, _ = site
    levers = {f"setpoint_{n}" for n in load_facility("modern-hall").contract.setpoint_names
              if n not in ("supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c", "condenser_water_temp_c")}
    lacking = _rewrite(path, tmp_path / "lacking.csv", {"setpoint_supply_air_temp_c", *levers})
    results = run_whatif(load_scenarios(_scenario_file(tmp_path, str(lacking))), workers=1, progress=False)
    sources = results["scenarios"][0]["history"]["setpoint_sources"]
    assert sources["supply_air_temp_c"] == {"kind": "feedback", "point": "supply_air_temp_c"}
    assert sources["crah_fan_speed_frac"] == {"kind": "recorded"}
    assert {sources[n.removeprefix("setpoint_")]["kind"] for n in levers} == {"local"}
    page = render_report(results)
    assert "replayed from its feedback point supply_air_temp_c" in page
    assert "runs on the plant&#39;s own local sequence" in page


def test_short_gaps_are_bridged_and_reported(site: tuple[Path, SimResult], tmp_path: Path) -> None:
    path, _ = site
    gappy = _rewrite(path, tmp_path / "gappy.csv", blank=("it_power_kw", slice(100, 124)))
    results = run_whatif(load_scenarios(_scenario_file(tmp_path, str(gappy))), workers=1, progress=False)
    notes = " ".join(results["scenarios"][0]["history"]["notes"])
    assert "it_power_kw" in notes and "bridged linearly" in notes


def _no_control(path: Path, tmp: Path) -> Path:
    feedback = {SETPOINT_SPECS[n].measured_by for n in SETPOINT_SPECS}
    columns = {c for c, name in SIMULATE_COLUMNS.items() if name in feedback}
    with path.open() as fh:
        header = fh.readline().strip().split(",")
    return _rewrite(path, tmp / "sensors-only.csv", {h for h in header if h.startswith("setpoint_")} | columns)


@pytest.mark.parametrize(("change", "words"), [
    ({"period": {"start_day": 100, "days": 2}}, ["scenarios[0].period", "not inside the history", "days 180.00"]),
    ({"period": {"start_day": 181, "days": 5}}, ["not inside the history"]),
    ({"step_s": 600}, ["step_s = 600", "history's 300 s grid"]),
    ({"load": {"level": 1.1}}, ["scenarios[0].load", "leave load out"]),
    ({"weather": {"offset_k": 2}}, ["scenarios[0].weather", "recorded IT load and weather"]),
    ({"missing_file": True}, ["defaults.history.files[0]", "file not found"]),
    ({"gap": 8.0}, ["it_power_kw is missing for 8.0 h", "longer than the 6 h bridged"]),
    ({"sensors_only": True}, ["policies[0]", "no recorded control to replay"]),
    ({"no_history": True}, ["policies[0]", "have no history"]),
])
def test_histories_that_cannot_run_are_refused_naming_why(site: tuple[Path, SimResult], tmp_path: Path,
                                                          change: dict[str, Any], words: list[str]) -> None:
    path, _ = site
    history: Any = str(path)
    scenario = dict(change)
    if scenario.pop("gap", None):
        history = str(_rewrite(path, tmp_path / "gap.csv", blank=("it_power_kw", slice(200, 296))))
    if scenario.pop("sensors_only", None):
        history = str(_no_control(path, tmp_path))
    if scenario.pop("missing_file", None):
        history = {"files": ["missing.csv"]}
    no_history = scenario.pop("no_history", None)
    file = _scenario_file(tmp_path, history, **scenario)
    if no_history:
        data = yaml.safe_load(file.read_text())
        data["scenarios"][0]["history"] = data["defaults"].pop("history")
        data["scenarios"].append({"name": "climate", "period": {"start_day": 180, "days": 1}})
        file.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioFileError) as err:
        load_scenarios(file)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_rh_is_recovered_from_dry_and_wet_bulb() -> None:
    dry = np.array([-5.0, 10.0, 25.0, 35.0, 45.0])
    rh = np.array([60.0, 30.0, 80.0, 20.0, 10.0])
    assert np.allclose(stull_rh_pct(dry, wet_bulb_c(dry, rh)), rh, atol=1e-6)
