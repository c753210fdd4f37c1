"""The what-if runner: scenario levers reach the plant, results do not depend on the number of processes,
an overheating policy is flagged in the report, and the command writes every output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from coolpilot.cli import main
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import INLET_LIMIT_C, LEVERS
from coolpilot.envs.facility import build_params
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.oracle import OraclePolicy
from coolpilot.evaluation.report import render_report, write_outputs
from coolpilot.evaluation.scenarios import HeatWave, Scenario, WeatherShift, scenario_set_from_mapping
from coolpilot.evaluation.whatif import (
    PLANT_SERIES,
    build_facility,
    build_policy,
    jobs_of,
    params_adjuster,
    progress_bar,
    run_jobs,
    run_whatif,
    setpoint_bounds,
    shifted_weather,
    site_rule_settings,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLE = str(REPO / "models" / "modern-hall-ppo")
CONTRACT1_BUNDLE = str(REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo")
"""The contract-1 bundle shipped before contracts followed the equipment: it aims its inlets near 25 °C."""


def one(scenario: dict[str, Any], policies: list[str] | None = None) -> Scenario:
    data = {"policies": policies or ["rule-based"], "scenarios": [{"climate": "miami", **scenario}]}
    return scenario_set_from_mapping(data, "mem.yaml").scenarios[0]


def test_heat_wave_and_offset_shift_the_weather_consistently() -> None:
    w = load_climate("chicago")
    shift = WeatherShift(offset_k=1.0, heat_wave=HeatWave(start_day=200, days=4, peak_k=6, ramp_h=12))
    hot = shifted_weather(w, shift)
    delta = hot.dry_bulb_c - w.dry_bulb_c
    hours = np.arange(1, 8761)
    assert np.allclose(delta[(hours < 200 * 24) | (hours > 204 * 24)], 1.0)
    plateau = (hours >= 200 * 24 + 12) & (hours <= 204 * 24 - 12)
    assert np.allclose(delta[plateau], 7.0)
    assert np.all((delta >= 1.0 - 1e-12) & (delta <= 7.0 + 1e-12))
    assert np.allclose(hot.rel_humidity_pct, w.rel_humidity_pct)  # constant RH: moister air
    assert np.all(hot.wet_bulb_c[plateau] > w.wet_bulb_c[plateau] + 3.0)
    assert np.all(hot.dew_point_c[plateau] > w.dew_point_c[plateau] + 3.0)
    dry = shifted_weather(w, WeatherShift(heat_wave=HeatWave(start_day=200, days=4, peak_k=6),
                                          humidity="constant_dew_point"))
    assert np.allclose(dry.dew_point_c[plateau], w.dew_point_c[plateau])
    assert np.all(dry.rel_humidity_pct[plateau] < w.rel_humidity_pct[plateau])
    assert np.all(dry.wet_bulb_c[plateau] < hot.wet_bulb_c[plateau])
    wrap = shifted_weather(w, WeatherShift(heat_wave=HeatWave(start_day=364, days=3, peak_k=5, ramp_h=0)))
    assert np.allclose((wrap.dry_bulb_c - w.dry_bulb_c)[:36], 5.0)  # a wave past 31 December goes on in January
    assert shifted_weather(w, WeatherShift()) is w


def test_outages_and_limits_reach_the_plant() -> None:
    sc = one({"facility": "modern-hall", "outages": {"chillers": 2, "tower_cells": 1,
                                                     "crahs": [{"zone": "pod-2", "share_out": 0.25}]},
              "load": {"growth_per_year": 0.3},
              "limits": {"inlet_limit_c": 30, "supply_air_temp_c": {"low": 17, "high": 22},
                         "cw_flow_frac": {"low": 0.8, "high": 1.0}}})
    cfg = build_facility(sc)
    assert cfg.chillers_available == 2
    assert cfg.zones[1].crah_airflow_margin == pytest.approx(1.2 * 0.75) and cfg.zones[0].crah_airflow_margin == 1.2
    assert all(z.load.trend_per_year == pytest.approx(0.3) for z in cfg.zones)
    params = params_adjuster(sc)(build_params([cfg]))
    assert params.tower_cells[0] == 3.0
    assert params.setpoint_low[0, 0] == 17.0 and params.setpoint_high[0, 0] == 22.0
    assert params.setpoint_low[0, LEVERS.index("cw_flow_frac")] == 0.8  # a plant lever's range too
    bounds = setpoint_bounds(cfg, sc)
    assert list(bounds) == list(cfg.contract.setpoint_names)
    assert bounds["supply_air_temp_c"] == (17.0, 22.0) and bounds["cw_flow_frac"] == (0.8, 1.0)
    assert bounds["chw_dp_setpoint_frac"] == (0.2, 1.0)  # the contract's, where the site gives none
    settings = site_rule_settings(cfg, sc.limits)
    assert (settings.inlet_target_c, settings.guard_c) == (28.0, 29.0)  # the 2 K and 1 K margins kept under 30 °C
    assert (settings.sat_min_c, settings.sat_max_c) == (17.0, 22.0)
    oracle = build_policy(load_scenarios_policy("oracle"), cfg, sc.limits)
    assert isinstance(oracle, OraclePolicy)
    assert INLET_LIMIT_C - oracle.margin_k == pytest.approx(30.0 - 0.2)


def load_scenarios_policy(kind: str) -> Any:
    data = {"policies": [kind, "rule-based"], "scenarios": [{"climate": "miami"}]}
    return scenario_set_from_mapping(data, "mem.yaml").policies[0]


def test_a_chiller_outage_costs_energy_and_setpoint_limits_are_obeyed() -> None:
    data = {"policies": ["rule-based"],
            "defaults": {"climate": "miami", "period": {"start_day": 190, "days": 1}},
            "scenarios": [{"name": "normal"}, {"name": "one-chiller", "outages": {"chillers": 3}},
                          {"name": "capped", "limits": {"supply_air_temp_c": {"low": 16, "high": 20}}}]}
    s = scenario_set_from_mapping(data, "mem.yaml")
    normal, short, capped = (r["kpis"] for r in run_jobs(jobs_of(s)))
    assert short["inlet_temp_max_c"] > normal["inlet_temp_max_c"] + 2.0  # one 600 kW chiller cannot carry the hall
    assert not short["thermal_ok"] and normal["thermal_ok"]
    week = run_jobs(jobs_of(s)[2:])[0]["plots"]["week"]
    assert max(week["setpoint_supply_air_temp_c"]) <= 20.0 + 1e-9
    assert capped["inlet_temp_max_c"] < normal["inlet_temp_max_c"] - 2.0  # rule-based would run warmer air


def test_every_setpoint_of_the_contract_is_counted_and_plotted() -> None:
    """modern-hall (nine setpoints) and legacy-hall (five): KPIs count changes of each, the peak week plots each with
    the plant's response (chillers and tower cells running, flows), and the report draws a panel for each."""
    data = {"policies": ["legacy", "rule-based"],
            "defaults": {"climate": "chicago", "period": {"start_day": 120, "days": 0.5}},
            "scenarios": [{"name": "modern", "facility": "modern-hall"}, {"name": "legacy", "facility": "legacy-hall"}]}
    results = run_whatif(scenario_set_from_mapping(data, "mem.yaml"), workers=1, progress=False)
    for sc, preset in zip(results["scenarios"], ("modern-hall", "legacy-hall"), strict=True):
        names = load_facility(preset).contract.setpoint_names
        for run in sc["runs"].values():
            k, week = run["kpis"], run["plots"]["week"]
            assert tuple(k["setpoint_changes"]) == names
            assert k["setpoint_changes_total"] == sum(k["setpoint_changes"].values())
            assert k["chiller_starts_per_day"] == pytest.approx(k["chiller_starts"] / 0.5)
            assert k["peak_facility_power_kw"] > 0.0
            assert all(len(week[f"setpoint_{n}"]) == 12 for n in names)
            assert all(len(week[key]) == 12 for key in PLANT_SERIES)
    # Legacy leaves the levers to the plant: the plant's own sequence moves them, rule-based commands them.
    modern = results["scenarios"][0]["runs"]
    assert modern["rule-based"]["plots"]["week"]["setpoint_chiller_stage_up_plr"][0] != pytest.approx(
        modern["legacy"]["plots"]["week"]["setpoint_chiller_stage_up_plr"][0])
    page = render_report(results)
    first, second = page.split('id="sc-modern"')[1].split('id="sc-legacy"')
    for title in ("Chiller stage-up part-load ratio", "Minimum flow per tower cell",
                  "Chilled-water differential-pressure setpoint", "Condenser-water flow setpoint", "Economizer enable",
                  "Chillers running", "Tower cells running", "Chilled-water flow"):
        assert title in first, title
    assert "Chiller stage-up part-load ratio" in second and "Economizer enable" not in second
    assert "chiller starts per day" in page and "peak facility power (15-minute average)" in page


SMALL: dict[str, Any] = {
    "title": "small",
    "policies": ["legacy", "rule-based", BUNDLE, "oracle"],
    "defaults": {"facility": "modern-hall", "period": {"start_day": 190, "days": 0.5}},
    "scenarios": [
        {"name": "plain", "climate": "chicago"},
        {"name": "levers", "climate": "miami", "load": {"level": 1.2, "growth_per_year": 0.5},
         "weather": {"heat_wave": {"start_day": 189, "days": 3, "peak_k": 4}},
         "outages": {"chillers": 1, "tower_cells": 1}, "limits": {"inlet_limit_c": 29},
         "tariff": {"price_per_mwh": 90, "time_of_use": [{"start_hour": 6, "end_hour": 10, "price_per_mwh": 150}]},
         "carbon": {"green_power_share": 0.4}},
    ],
}


def test_results_are_identical_in_one_process_or_several() -> None:
    s = scenario_set_from_mapping(SMALL, "small.yaml")
    serial = run_whatif(s, workers=1, progress=False)
    parallel = run_whatif(s, workers=2, progress=False)
    assert parallel["timing"]["workers"] == 2
    for key in ("scenarios", "flags", "policies"):
        assert json.dumps(serial[key], sort_keys=True) == json.dumps(parallel[key], sort_keys=True)
    levers = serial["scenarios"][1]
    assert levers["runs"]["oracle"]["kpis"]["inlet_limit_c"] == 29.0
    share = levers["savings_vs_baseline"]["modern-hall-ppo"]["share_of_oracle_saving_pct"]
    assert levers["savings_vs_baseline"]["oracle"]["share_of_oracle_saving_pct"] == pytest.approx(100.0)
    assert share is None or np.isfinite(share)
    assert levers["savings_vs_baseline"]["legacy"]["share_of_oracle_saving_pct"] is None  # for learned policies only


OVERHEAT: dict[str, Any] = {
    "title": "overheat",
    "policies": ["rule-based", CONTRACT1_BUNDLE],
    "defaults": {"facility": "modern-hall", "period": {"start_day": 190, "days": 1}, "climate": "chicago"},
    "scenarios": [
        # The site allows 25 °C: rule-based keeps its margin under it; the bundle aims at ~25 °C as trained for 27 °C.
        {"name": "strict-25c", "limits": {"inlet_limit_c": 25}},
        {"name": "normal"},
    ],
}


def overheat_results() -> dict[str, Any]:
    return run_whatif(scenario_set_from_mapping(OVERHEAT, "overheat.yaml"), workers=1, progress=False)


def test_an_overheating_policy_is_flagged_in_the_report_not_hidden() -> None:
    results = overheat_results()
    flags = results["flags"]
    assert [(f["scenario"], f["policy"]) for f in flags] == [("strict-25c", "modern-hall-ppo")]
    strict = results["scenarios"][0]
    saving = strict["savings_vs_baseline"]["modern-hall-ppo"]
    assert saving["thermal_ok"] is False  # whatever it saves, it ran above the site's limit
    page = render_report(results)
    thermal = page.split('id="thermal-risk"')[1].split("</section>")[0]
    assert "Thermal risk: inlet limit exceeded" in thermal and "strict-25c" in thermal and "modern-hall-ppo" in thermal
    summary = page.split('id="summary"')[1].split("</section>")[0]
    assert "OVERHEAT — saving not valid" in summary
    assert "in the 1 of 2 scenario(s) where it kept every inlet under the limit" in summary
    scenario = page.split('id="sc-strict-25c"')[1].split("</section>")[0]
    assert "Inlet limit exceeded by: modern-hall-ppo" in scenario and 'class="badge bad">OVERHEAT' in scenario
    assert 'class="n badcell"' in scenario  # the K·h above the limit, in red
    normal = page.split('id="sc-normal"')[1].split("</section>")[0]
    assert "OVERHEAT" not in normal


def test_the_command_writes_report_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    data = dict(SMALL, policies=["legacy", "rule-based"], scenarios=SMALL["scenarios"][:1])
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["whatif", str(path), "--out", str(out), "--workers", "1", "--series", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "plain" in text and "legacy vs rule-based" in text  # the proposed policy defaults to the other one
    for name in ("report.html", "results.json", "kpis.csv", "monthly.csv", "savings.csv"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert results["proposed"] == "legacy" and results["baseline"] == "rule-based"
    kpis = (out / "kpis.csv").read_text().splitlines()
    assert kpis[0].startswith("scenario,policy,days,pue,facility_energy_mwh") and len(kpis) == 3
    assert len(list((out / "series").glob("plain__*.csv"))) == 2
    # Re-rendered by the installed command from outside the checkout (no repository folder on sys.path),
    # as a user runs it: package data (templates) and module names must resolve through the install.
    again = tmp_path / "again"
    subprocess.run([sys.executable, "-m", "coolpilot", "whatif", str(out / "results.json"), "--from-results",
                    "--out", str(again)], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert (again / "report.html").read_text() == (out / "report.html").read_text()
    assert main(["whatif", str(path), "--check"]) == 0
    assert "1 scenario(s) × 2 policies = 2 runs" in capsys.readouterr().out


def test_write_outputs_keeps_json_strict(tmp_path: Path) -> None:
    results = overheat_results()
    results["scenarios"][0]["runs"]["rule-based"]["kpis"]["pue"] = float("nan")
    paths = write_outputs(results, tmp_path)
    text = paths["results.json"].read_text()
    assert "NaN" not in text and json.loads(text)["scenarios"][0]["runs"]["rule-based"]["kpis"]["pue"] is None


@pytest.mark.slow
def test_a_year_of_the_quick_file_matches_a_plain_simulation() -> None:
    """The what-if path adds nothing to a scenario without levers: same energy as coolpilot.envs.simulation.simulate."""
    from coolpilot.envs.config import load_facility
    from coolpilot.envs.kpis import compute_kpis
    from coolpilot.envs.simulation import simulate
    from coolpilot.evaluation.policies import make_policy

    quick = yaml.safe_load((REPO / "examples" / "scenarios" / "quick.yaml").read_text())
    quick["defaults"]["period"] = "year"
    s = scenario_set_from_mapping(quick, "quick-year.yaml", REPO / "examples" / "scenarios")
    jobs = [j for j in jobs_of(s) if j.scenario.name == "las-vegas" and j.policy.kind in ("rule-based", "bundle")]
    rows = run_jobs(jobs, workers=2)
    cfg = load_facility("modern-hall")
    for job, row in zip(jobs, rows, strict=True):
        direct = compute_kpis(simulate(cfg, load_climate("las-vegas"), make_policy(job.policy.spec, cfg), days=365))
        assert row["kpis"]["facility_energy_mwh"] == direct.facility_energy_mwh
        assert row["kpis"]["days"] == 365.0 and len(row["kpis"]["monthly"]) == 12


def test_sigterm_stops_the_command_and_its_worker_processes(tmp_path: Path) -> None:
    """SIGTERM ends ``coolpilot whatif`` at once and leaves no worker process behind."""
    import signal
    import subprocess
    import sys
    import time

    scenarios = tmp_path / "long.yaml"
    scenarios.write_text(
        "policies: [rule-based, oracle]\nbaseline: rule-based\nproposed: oracle\n"
        "scenarios:\n  - {name: a, climate: miami, period: year}\n  - {name: b, climate: phoenix, period: year}\n")

    def children(pid: int) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
        return found

    proc = subprocess.Popen([sys.executable, "-m", "coolpilot", "whatif", str(scenarios), "--workers", "2",
                             "--no-progress", "--out", str(tmp_path / "out")], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(children(proc.pid)) < 2:  # the two workers (and the spawn resource tracker)
            assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
            assert time.monotonic() < deadline, "the workers did not start within 60 s"
            time.sleep(0.2)
        workers = children(proc.pid)
        time.sleep(2.0)  # the workers are simulating a year each
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode != 0
        assert not (tmp_path / "out" / "report.html").exists()
        deadline = time.monotonic() + 15
        while any(Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]
                  for w in workers if Path(f"/proc/{w}/stat").exists()):
            assert time.monotonic() < deadline, f"worker processes {workers} outlived the command"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_what_if_on_a_real_ray_head_equals_the_local_run(ray_head: str) -> None:
    """The same scenarios on a Ray cluster (a local head on 127.0.0.1) give the same results as locally."""
    sc = scenario_set_from_mapping({
        "policies": ["legacy", "rule-based", BUNDLE], "baseline": "rule-based", "proposed": BUNDLE,
        "scenarios": [{"name": "july", "climate": "miami", "period": {"start_day": 190, "days": 1}},
                      {"name": "january", "climate": "chicago", "period": {"start_day": 10, "days": 1},
                       "outages": {"chillers": 1}}]}, "ray.yaml")
    local = run_whatif(sc, workers=1, progress=False)
    on_ray = run_whatif(sc, progress=False, ray_address=ray_head)
    assert on_ray["timing"]["ray"] == ray_head and len(on_ray["timing"]["runs"]) == 6
    for out in (local, on_ray):
        out.pop("timing")
        out.pop("generated_at")
    assert json.dumps(on_ray, sort_keys=True) == json.dumps(local, sort_keys=True)


def test_an_unreachable_ray_address_is_a_clear_error() -> None:
    pytest.importorskip("ray")
    from tests.controller.helpers import free_port

    sc = scenario_set_from_mapping({"policies": ["legacy", "rule-based"], "baseline": "rule-based",
                                    "proposed": "legacy", "scenarios": [{"name": "a", "climate": "miami",
                                                   "period": {"start_day": 1, "days": 1}}]}, "ray.yaml")
    with pytest.raises(ValueError, match=r"--ray 127\.0\.0\.1"):
        run_whatif(sc, progress=False, ray_address=f"127.0.0.1:{free_port()}")


def test_the_progress_bar_weights_each_run_by_its_cost() -> None:
    """A run twice as long moves the bar twice as far; off a terminal each update is still written."""
    import io

    data = {"policies": ["legacy"], "baseline": "legacy", "defaults": {"facility": "modern-hall", "climate": "chicago"},
            "scenarios": [{"name": "short", "period": {"start_day": 10, "days": 0.25}},
                          {"name": "long", "period": {"start_day": 10, "days": 0.5}}]}
    jobs = jobs_of(scenario_set_from_mapping(data, "mem.yaml"))
    stream = io.StringIO()
    with progress_bar(jobs, stream) as bar:
        run_jobs(jobs, workers=1, progress=bar)
    updates = [u.strip() for u in stream.getvalue().replace("\n", "\r").split("\r") if u.strip()]
    assert "0/2 runs" in updates[0] and "0.0 %" in updates[0]
    assert "66.7 %" in updates[1] and "1/2 runs (long / legacy)" in updates[1]  # longest first: 0.5 of 0.75 days
    assert "100.0 %" in updates[-1] and "2/2 runs (short / legacy)" in updates[-1]
    silent = io.StringIO()
    with progress_bar(jobs, silent, enabled=False) as bar:
        run_jobs(jobs[:1], workers=1, progress=bar)
    assert silent.getvalue() == ""
