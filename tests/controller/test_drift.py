"""The drift monitor in the loop: the calibrated twin beside the plant, its figures in status, metrics and audit.

Runs the service on the in-process plant in plant time (``tests/controller/twin_loop.py``); the
twin is built from the plant's own facility file (a perfectly calibrated twin), and a fault is a
change of the plant's parameters (every chiller's COP down 20 %) that the twin does not know.
The long runs behind the documented numbers are ``benchmarks/bench_drift.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coolpilot.controller.api import create_app
from coolpilot.controller.audit import AuditStore
from coolpilot.controller.drift import DEFAULT_POINTS, DriftSettings
from coolpilot.controller.metrics import ServiceMetrics
from coolpilot.controller.site import SiteConfigError, site_from_mapping
from tests.controller.twin_loop import degrade_chillers, detection_delay, drift_events, make_loop

NOON = 190.0 + 10.0 / 24.0
"""Phoenix, 9 July, 10:00: the chillers carry the load (a COP loss shows in the power at once)."""
HEALTHY_CYCLES = 36
"""Three hours of the healthy plant before the fault: past ``min_cycles`` (12), the window (24) full."""
DETECTION_BOUND_CYCLES = 8
"""A 20 % COP loss is flagged within this many cycles (40 min at 300 s). Measured: 5 cycles here (non-IT
power's CV(RMSE) passes 6 % once about 5 of the 24 pairs carry the ~13 % error); benchmarks/results/drift.json
has the delays at four hours of the day in two climates."""


def test_a_20_percent_cop_loss_is_flagged_within_the_bound(tmp_path: Path) -> None:
    delay, point, false_alarms = detection_delay(tmp_path, climate="phoenix", start_day=NOON, seed=0,
                                                 healthy_cycles=HEALTHY_CYCLES, max_cycles=4 * DETECTION_BOUND_CYCLES,
                                                 mode="active", drift={})
    assert false_alarms == 0
    assert delay is not None and delay <= DETECTION_BOUND_CYCLES, f"flagged after {delay} cycles"
    assert point in ("non_it_power_kw", "cooling_power_kw")


def test_a_healthy_day_raises_no_drift_event(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, mode="active", drift={})
    try:
        outcomes = loop.run(288)
    finally:
        loop.close()
    assert drift_events(outcomes) == []
    status = outcomes[-1].drift
    assert status is not None and status.twin_errors == 0
    assert {p.name: p.state for p in status.points} == dict.fromkeys(DEFAULT_POINTS, "ok")


@pytest.mark.slow
@pytest.mark.parametrize(("climate", "day", "seed"), [("phoenix", 190.0, 1), ("chicago", 105.0, 1)])
def test_a_healthy_week_raises_no_drift_event(tmp_path: Path, climate: str, day: float, seed: int) -> None:
    loop = make_loop(tmp_path, climate=climate, start_day=day, seed=seed, mode="active", drift={})
    try:
        outcomes = loop.run(7 * 288)
    finally:
        loop.close()
    assert drift_events(outcomes) == []


def test_on_drift_fallback_falls_back_as_an_operator_would(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, start_day=NOON, mode="active", drift={"on_drift": "fallback"})
    try:
        healthy = loop.run(HEALTHY_CYCLES)
        assert all(o.mode == "active" and o.wrote for o in healthy)
        degrade_chillers(loop.twin, 0.8)
        after = loop.run(2 * DETECTION_BOUND_CYCLES)
        changes = loop.service.audit.mode_changes(limit=10)
    finally:
        loop.close()
    flagged = next(i for i, o in enumerate(after) if o.drift_events)
    event = after[flagged].drift_events[0]
    assert after[flagged].mode == "fallback", "the cycle that flags the drift already runs in fallback"
    assert all(o.mode == "fallback" for o in after[flagged:])
    assert loop.service.mode == "fallback"
    assert len(changes) == 1 and changes[0]["who"] == "drift-monitor" and changes[0]["old"] == "active"
    assert changes[0]["new"] == "fallback" and changes[0]["why"] == event.reason
    assert event.reason.startswith(f"drift: {event.point.name} CV(RMSE) ") and event.reason.endswith(
        f" % > {event.point.threshold.cv_rmse_pct:g} %")
    cv = float(event.reason.split("CV(RMSE) ")[1].split(" %")[0])
    assert cv > event.point.threshold.cv_rmse_pct
    # Fallback mode hands the setpoints back to the site (fallback_action relinquish): the plant's own control.
    assert loop.twin.commanded == {}


def test_drift_is_in_the_status_the_metrics_and_the_audit_once_per_episode(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, start_day=NOON, mode="active", drift={"window_cycles": 12, "min_cycles": 6})
    metrics = ServiceMetrics(loop.service)
    client = TestClient(create_app(loop.service, None, metrics))
    try:
        loop.run(HEALTHY_CYCLES)
        healthy = client.get("/api/v1/status").json()["drift"]
        degrade_chillers(loop.twin, 0.8)
        loop.run(24)
        sick = client.get("/api/v1/status").json()["drift"]
        scrape = client.get("/metrics").text
        degrade_chillers(loop.twin, 1.0 / 0.8)  # repaired
        loop.run(24)
        repaired = client.get("/api/v1/status").json()["drift"]
    finally:
        loop.close()
    assert healthy["facility"] == "modern-hall" and healthy["on_drift"] == "record" and healthy["window_cycles"] == 12
    assert {n: p["state"] for n, p in healthy["points"].items()} == dict.fromkeys(DEFAULT_POINTS, "ok")
    power = sick["points"]["non_it_power_kw"]
    assert power["state"] == "drift" and power["n"] == 12
    assert power["cv_rmse_pct"] > power["threshold"]["cv_rmse_pct"] == DEFAULT_POINTS["non_it_power_kw"].cv_rmse_pct
    assert power["nmbe_pct"] > 10.0, "the plant draws more than the twin predicts: measured minus predicted > 0"
    assert sick["points"]["inlet_temp_max_c"]["state"] == "ok", "the COP loss costs power, not cooling"
    assert loop.service.mode == "active", "on_drift: record does not change the mode"
    assert f'coolpilot_drift_cv_rmse_pct{{point="non_it_power_kw"}} {power["cv_rmse_pct"]}' in scrape
    assert 'coolpilot_drift_active{point="non_it_power_kw"} 1.0' in scrape
    assert 'coolpilot_drift_events_total{point="non_it_power_kw"} 1.0' in scrape
    assert 'coolpilot_drift_active{point="inlet_temp_max_c"} 0.0' in scrape
    assert {n: p["state"] for n, p in repaired["points"].items()} == dict.fromkeys(DEFAULT_POINTS, "ok")
    assert repaired["events_total"] == sick["events_total"] >= 1
    with AuditStore(tmp_path / "audit.sqlite") as audit:
        records = audit.decisions(limit=1000, newest_first=False)
    rows = [(r.cycle, i) for r in records for i in r.interventions if i["reason"].startswith("drift")]
    drifts = [i for _, i in rows if i["reason"] == "drift"]
    cleared = [i for _, i in rows if i["reason"] == "drift_cleared"]
    assert sorted(i["target"] for i in drifts) == sorted({i["target"] for i in drifts}), "one row per episode"
    assert {i["target"] for i in cleared} == {i["target"] for i in drifts}
    row = next(i for i in drifts if i["target"] == "non_it_power_kw")
    assert "CV(RMSE)" in row["detail"] and "(threshold 6 %)" in row["detail"] and "(threshold ±4 %)" in row["detail"]
    assert "over the last 12 cycles" in row["detail"]


def test_a_twin_error_is_counted_and_the_cycle_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    loop = make_loop(tmp_path, mode="active", drift={})
    metrics = ServiceMetrics(loop.service)
    assert loop.service.drift is not None
    twin = loop.service.drift.twin

    def broken(*args: Any, **kwargs: Any) -> dict[str, float]:
        raise FloatingPointError("kernel diverged")

    try:
        loop.run(3)
        twin.predict_next = broken  # type: ignore[method-assign]
        bad = loop.run(2)
        del twin.predict_next
        good = loop.run(8)
        scrape = TestClient(create_app(loop.service, None, metrics)).get("/metrics").text
    finally:
        loop.close()
    for o in bad:
        assert o.wrote and o.decision is not None and o.decision.setpoints is not None
        assert o.twin_error == "FloatingPointError: kernel diverged"
        assert ("drift_twin_error", "twin", "FloatingPointError: kernel diverged") in o.notes
    assert all(not o.twin_error for o in good) and good[-1].drift is not None
    assert good[-1].drift.twin_errors == 2
    assert good[-1].drift.points[0].n == 1, "the twin restarted: its burn-in (6 predictions) passed, then one pair"
    assert "coolpilot_drift_twin_errors_total 2.0" in scrape
    assert "twin error (2 so far): FloatingPointError: kernel diverged" in caplog.text


def test_a_missed_cycle_is_not_judged_against_a_stale_prediction(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, mode="active", drift={"burn_in_cycles": 2})
    try:
        loop.run(6)
        assert loop.service.drift is not None
        n = loop.service.drift.status().points[0].n
        assert n == 3, "6 cycles: 5 predictions compared, the first 2 after the start not"
        for _ in range(3):  # the plant runs on while the service is away for 15 min
            loop.twin.step()
        loop.run(3)
        assert loop.service.drift.status().points[0].n == n, "the stale prediction dropped, the twin restarted"
        loop.run(1)
        assert loop.service.drift.status().points[0].n == n + 1
    finally:
        loop.close()


# --- the site file -------------------------------------------------------------------------------------------------


def site(tmp_path: Path, drift: object, **extra: Any) -> dict[str, Any]:
    return {"name": "t", "facility": "modern-hall", "adapter": {"kind": "csv", "csv": {"path": "p.csv"}},
            "audit": {"path": str(tmp_path / "a.sqlite")}, "drift": drift, **extra}


def test_the_drift_section_defaults_to_the_sites_facility(tmp_path: Path) -> None:
    config = site_from_mapping(site(tmp_path, {}), "site.yaml", tmp_path)
    assert config.drift == DriftSettings(facility="modern-hall")
    assert set(config.drift.points) == {"inlet_temp_max_c", "chw_supply_temp_c", "non_it_power_kw", "cooling_power_kw"}
    calibrated = tmp_path / "calibrated.yaml"
    calibrated.write_text((Path(__file__).resolve().parents[2] / "envs" / "presets" / "modern-hall.yaml").read_text())
    config = site_from_mapping(site(tmp_path, {"facility": "calibrated.yaml"}), "site.yaml", tmp_path)
    assert config.drift is not None and config.drift.facility == str(calibrated)


@pytest.mark.parametrize(("drift", "extra", "words"), [
    ({"points": {"humidity_pct": {"cv_rmse_pct": 5, "nmbe_pct": 3}}}, {},
     ["drift", "points.humidity_pct: not a point of the site's facility contract", "non_it_power_kw"]),
    ({"points": {"it_power_kw": {"cv_rmse_pct": 5, "nmbe_pct": 3}}}, {},
     ["points.it_power_kw: an input of the twin"]),
    ({"points": {"inlet_temp_max_c": {"cv_rmse_pct": -1, "nmbe_pct": 3}}}, {},
     ["drift.points.inlet_temp_max_c.cv_rmse_pct", "= -1", "greater than 0"]),
    ({"points": {"inlet_temp_max_c": {"cv_rmse_pct": 4}}}, {}, ["drift.points.inlet_temp_max_c.nmbe_pct", "required"]),
    ({"min_cycles": 30, "window_cycles": 24}, {}, ["min_cycles = 30 exceeds window_cycles = 24"]),
    ({"on_drift": "panic"}, {}, ["drift.on_drift", "'record' or 'fallback'"]),
    ({"window_cycles": 2}, {}, ["drift.window_cycles", "= 2 cycles", "greater than or equal to 4"]),
    ({"facility": "legacy-hall"}, {}, ["field 'drift.facility' = 'legacy-hall'", "its contract is not the site's"]),
    ({"facility": "no-such-hall.yaml"}, {}, ["field 'drift.facility' = 'no-such-hall.yaml'"]),
    ({}, {"facility": None}, ["drift.facility", "give drift.facility", "or the site's facility"]),
    ({}, {"adapter": {"kind": "mqtt", "mqtt": {"host": "127.0.0.1", "port": 1883, "prefix": "p", "points": [
        "inlet_temp_max_c", "inlet_temp_mean_c", "chw_supply_temp_c", "supply_air_temp_c", "it_power_kw",
        "outdoor_drybulb_c", "outdoor_wetbulb_c"]}}},
     ["drift.points", "reads ['cooling_power_kw', 'facility_power_kw']", "adapter.mqtt map leaves out"]),
])
def test_bad_drift_sections_are_refused_naming_the_field(tmp_path: Path, drift: object, extra: dict[str, Any],
                                                         words: list[str]) -> None:
    data = site(tmp_path, drift, **extra)
    if data.get("facility") is None:
        del data["facility"]
    with pytest.raises(SiteConfigError) as err:
        site_from_mapping(data, "site.yaml", tmp_path)
    message = str(err.value)
    assert message.startswith("site.yaml: ")
    for w in words:
        assert w in message, message

