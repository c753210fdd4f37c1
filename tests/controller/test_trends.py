"""The console's trends (``GET /api/v1/trends``): right figures, strict input, never in the control loop's way.

A week of synthetic decisions every 300 s (with missing and non-finite readings, error
outputs, cycles that wrote nothing and interventions) is recorded straight into a service's
audit trail; the endpoint's buckets are checked against a brute-force computation over the
same records. Then the service runs at a short period with a week of history while several
clients poll the week's trends as fast as they are answered: the cycles keep their period
and each is recorded once.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from coolpilot.controller.api import TREND_BUCKETS, TREND_MARKS, create_app
from coolpilot.controller.audit import TREND_POINTS, AuditStore, DecisionRecord
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.contract import POINT_NAMES, SETPOINT_NAMES
from tests.controller.helpers import FakePlant, live_points, make, site_mapping

WEEK_RECORDS = 2016
"""A week of decisions at 300 s."""
STEP_S = 300.0
"""Time between two synthetic decisions (s)."""
TOKEN = "t" * 32
REL_TOL = 1e-9
"""Relative tolerance between SQLite's and Python's sums of the same floats."""


def synthetic_week(end_s: float, seed: int = 0) -> list[DecisionRecord]:
    """:data:`WEEK_RECORDS` decisions every :data:`STEP_S` up to ``end_s`` (unix s), with the awkward cases."""
    rng = random.Random(seed)
    records = []
    for i in range(WEEK_RECORDS):
        points: dict[str, float | None] = {n: rng.uniform(15.0, 35.0) for n in POINT_NAMES}
        points["facility_power_kw"] = rng.uniform(800.0, 1200.0)
        points["cooling_power_kw"] = rng.uniform(50.0, 250.0)
        if i % 17 == 0:
            del points["inlet_temp_max_c"]           # not read at all
        if i % 19 == 0:
            points["inlet_temp_max_c"] = math.nan    # a NaN reading
        if i % 23 == 0:
            points["inlet_temp_mean_c"] = None       # a missing reading
        if 400 <= i < 420:
            points["facility_power_kw"] = None       # a meter out for 100 minutes
        if i % 29 == 0:
            points["cooling_power_kw"] = math.inf
        raw: dict[str, float] | str | None = {n: rng.uniform(0.0, 30.0) for n in SETPOINT_NAMES}
        if i % 13 == 0:
            raw = "TimeoutError('inference past 0.5 s')"
        elif i % 31 == 0:
            raw = None
        wrote = i % 3 != 0
        written = {n: rng.uniform(0.0, 30.0) for n in SETPOINT_NAMES} if wrote else None
        interventions = ([{"reason": "rate_limit", "target": SETPOINT_NAMES[i % 4], "detail": "step bounded"},
                          {"reason": "thermal_guard", "target": "supply_air_temp_c", "detail": "near the limit"}]
                         if i % 3 == 1 else [])
        records.append(DecisionRecord(
            cycle=i + 1, run_id="week", time_s=end_s - STEP_S * (WEEK_RECORDS - i), mode="active", source="policy",
            points=points, raw_output=raw, written=written, interventions=interventions, model_sha256="f" * 64,
            latency_ms=0.4, wrote=wrote))
    return records


def finite(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def brute_force(records: list[DecisionRecord], since_s: float, until_s: float,
                bucket_s: float) -> dict[int, dict[str, Any]]:
    """Per bucket index, every figure the endpoint reports, computed naively from the records."""
    groups: dict[int, list[DecisionRecord]] = {}
    for rec in records:
        if since_s <= rec.time_s < until_s:
            groups.setdefault(int((rec.time_s - since_s) / bucket_s), []).append(rec)
    out: dict[int, dict[str, Any]] = {}
    for b, recs in groups.items():
        fig: dict[str, Any] = {"records": len(recs)}
        for name, how in TREND_POINTS.items():
            vals = finite([r.points.get(name) for r in recs])
            fig[name] = (max(vals) if how == "max" else sum(vals) / len(vals)) if vals else None
        for name in SETPOINT_NAMES:
            proposed = finite([r.raw_output.get(name) if isinstance(r.raw_output, dict) else None for r in recs])
            wrote = [r for r in recs if r.written is not None]
            fig[f"proposed_{name}"] = sum(proposed) / len(proposed) if proposed else None
            fig[f"written_{name}"] = (max(wrote, key=lambda r: r.time_s).written or {}).get(name) if wrote else None
        out[b] = fig
    return out


@pytest.fixture
def week(tmp_path: Path) -> Iterator[tuple[ControllerService, list[DecisionRecord]]]:
    """A service (manual clock) whose audit trail holds a synthetic week ending at its clock."""
    service, _, clock = make(tmp_path)
    records = synthetic_week(clock[0])
    for rec in records:
        service.audit.record(rec)
    yield service, records
    asyncio.run(service.shutdown())


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)


@pytest.mark.parametrize("hours", [1, 24, 168])
def test_buckets_match_a_brute_force_computation(week: tuple[ControllerService, list[DecisionRecord]],
                                                 hours: int) -> None:
    service, records = week
    response = TestClient(create_app(service, None)).get("/api/v1/trends", params={"hours": hours})
    assert response.status_code == 200, response.text
    t = response.json()
    bucket_s = hours * 3600.0 / TREND_BUCKETS
    now = service.clock()
    assert t["hours"] == hours and t["bucket_s"] == bucket_s and t["max_buckets"] == TREND_BUCKETS
    assert t["until_s"] - t["since_s"] == pytest.approx(TREND_BUCKETS * bucket_s)
    assert t["since_s"] % bucket_s == 0.0 and t["since_s"] <= now < t["until_s"] <= now + bucket_s
    assert (t["guard_c"], t["limit_c"]) == (service.site.safety.guard_c, service.site.safety.limit_c)

    expected = brute_force(records, t["since_s"], t["until_s"], bucket_s)
    assert len(t["time_s"]) == len(expected) <= TREND_BUCKETS
    assert t["time_s"] == sorted(t["time_s"])
    n_series = {len(t[k]) for k in ("time_s", "records", *TREND_POINTS)}
    n_series |= {len(s[k]) for s in t["setpoints"].values() for k in ("proposed", "written")}
    assert n_series == {len(expected)}
    assert set(t["setpoints"]) == set(SETPOINT_NAMES)
    for k, start in enumerate(t["time_s"]):
        b = round((start - t["since_s"]) / bucket_s)
        assert start == t["since_s"] + b * bucket_s
        fig = expected[b]
        assert t["records"][k] == fig["records"]
        for name in TREND_POINTS:
            assert close(t[name][k], fig[name]), (name, start, t[name][k], fig[name])
        for name in SETPOINT_NAMES:
            assert close(t["setpoints"][name]["proposed"][k], fig[f"proposed_{name}"]), (name, start)
            assert close(t["setpoints"][name]["written"][k], fig[f"written_{name}"]), (name, start)
    assert sum(t["records"]) == sum(t["since_s"] <= r.time_s < t["until_s"] for r in records)


def test_a_day_is_one_record_a_bucket_and_a_week_is_several(
        week: tuple[ControllerService, list[DecisionRecord]]) -> None:
    service, records = week
    client = TestClient(create_app(service, None))
    day = client.get("/api/v1/trends").json()  # 24 h by default
    in_day = sum(day["since_s"] <= r.time_s < day["until_s"] for r in records)
    assert day["hours"] == 24 and day["bucket_s"] == 144.0
    assert set(day["records"]) == {1} and len(day["time_s"]) == in_day >= 24 * 3600 / STEP_S - 1
    week_t = client.get("/api/v1/trends", params={"hours": 168}).json()
    assert week_t["bucket_s"] == 1008.0 and TREND_BUCKETS - 2 <= len(week_t["time_s"]) <= TREND_BUCKETS
    assert set(week_t["records"]) == {3, 4} and sum(week_t["records"]) >= WEEK_RECORDS - 4


def test_missing_and_non_finite_readings_are_null(week: tuple[ControllerService, list[DecisionRecord]]) -> None:
    service, records = week
    t = TestClient(create_app(service, None)).get("/api/v1/trends", params={"hours": 24}).json()
    nulls = {name: 0 for name in TREND_POINTS}
    for k, start in enumerate(t["time_s"]):
        (rec,) = [r for r in records if start <= r.time_s < start + t["bucket_s"]]  # one decision per 144 s bucket
        for name in TREND_POINTS:
            value = rec.points.get(name)
            if value is None or not math.isfinite(value):
                assert t[name][k] is None, (name, start)
                nulls[name] += 1
            else:
                assert t[name][k] == value
        if rec.written is None:
            assert all(t["setpoints"][n]["written"][k] is None for n in SETPOINT_NAMES)
        if not isinstance(rec.raw_output, dict):
            assert all(t["setpoints"][n]["proposed"][k] is None for n in SETPOINT_NAMES)
    assert nulls["inlet_temp_max_c"] > 0 and nulls["inlet_temp_mean_c"] > 0 and nulls["cooling_power_kw"] > 0
    week_t = TestClient(create_app(service, None)).get("/api/v1/trends", params={"hours": 168}).json()
    assert None in week_t["facility_power_kw"], "the meter's 100-minute outage leaves whole 1008 s buckets empty"


def test_interventions_are_marks_capped_with_a_count_left_out(
        week: tuple[ControllerService, list[DecisionRecord]]) -> None:
    service, records = week
    client = TestClient(create_app(service, None))
    for hours in (24, 168):
        t = client.get("/api/v1/trends", params={"hours": hours}).json()
        expected = [(r.time_s, i["reason"], i["target"]) for r in records if t["since_s"] <= r.time_s < t["until_s"]
                    for i in r.interventions]
        marks = [(m["time_s"], m["reason"], m["target"]) for m in t["marks"]]
        assert len(marks) == min(len(expected), TREND_MARKS)
        assert t["marks_left_out"] == len(expected) - len(marks)
        assert sorted(marks) == sorted(expected[len(expected) - len(marks):]), "the newest marks are kept"
        assert [m[0] for m in marks] == sorted(m[0] for m in marks)
    assert t["marks_left_out"] > 0, "a week of this trail has more interventions than the cap"


@pytest.mark.parametrize("query", ["hours=0", "hours=169", "hours=-1", "hours=true", "hours=1_0", "hours=%201",
                                   "hours=1.5", "hours=", "hours=24&hours=24", "hours=24&hours=48"])
def test_hours_outside_1_to_168_or_not_plain_or_repeated_are_refused(
        week: tuple[ControllerService, list[DecisionRecord]], query: str) -> None:
    service, _ = week
    response = TestClient(create_app(service, TOKEN)).get(f"/api/v1/trends?{query}")
    assert response.status_code == 422, (query, response.text)
    assert any(err["loc"][-1] == "hours" for err in response.json()["detail"]), response.json()


def test_no_token_is_needed(week: tuple[ControllerService, list[DecisionRecord]]) -> None:
    service, _ = week
    for token in (None, TOKEN):
        response = TestClient(create_app(service, token)).get("/api/v1/trends", params={"hours": 1})
        assert response.status_code == 200, (token, response.text)
    schema = TestClient(create_app(service, TOKEN)).get("/openapi.json").json()
    assert "security" not in schema["paths"]["/api/v1/trends"]["get"]


def test_an_empty_trail_has_no_buckets(tmp_path: Path) -> None:
    service, _, _ = make(tmp_path)
    try:
        t = TestClient(create_app(service, None)).get("/api/v1/trends").json()
        assert t["time_s"] == [] and t["marks"] == [] and t["marks_left_out"] == 0
        assert all(t["setpoints"][n] == {"proposed": [], "written": []} for n in SETPOINT_NAMES)
    finally:
        asyncio.run(service.shutdown())


# --- never in the loop's way -----------------------------------------------------------

PERIOD_S = 0.05
"""Control period of the polled service (s)."""
WINDOW_PERIODS = 60
"""Length of the measured window, in periods."""
MIN_SHARE = 0.6
"""Share of the window's periods that must have had their cycle while the trends are polled hard."""
POLLERS = 4
"""Concurrent clients polling ``/api/v1/trends?hours=168`` back to back."""
BOUND_S = 60.0
"""Bound on every wait of the test (s): the run is far shorter; this only keeps a hang from lasting."""


def test_polling_the_week_hard_does_not_delay_the_cycles(tmp_path: Path) -> None:
    site = site_from_mapping(site_mapping(tmp_path, "active", period_s=PERIOD_S, model_timeout_s=2.0), "test")
    plant = FakePlant(live_points(), time.time, drift=True)
    service = ControllerService(site, plant)
    for rec in synthetic_week(time.time()):
        service.audit.record(rec)
    app = create_app(service, TOKEN)
    polled: list[int] = []
    counted: list[int] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        loop_task = asyncio.create_task(service.run())
        stop = asyncio.Event()

        async def poll(client: httpx.AsyncClient) -> None:
            while not stop.is_set():
                response = await client.get("/api/v1/trends", params={"hours": 168})
                polled.append(response.status_code)
                await asyncio.sleep(0)  # an in-process transport need not yield: let a loop that is starved show it

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coolpilot.test", timeout=BOUND_S) as client:
            deadline = loop.time() + BOUND_S
            while service.snapshot.cycle < 1:
                assert loop.time() < deadline and not loop_task.done(), "the loop never cycled"
                await asyncio.sleep(PERIOD_S / 5)
            pollers = [asyncio.create_task(poll(client)) for _ in range(POLLERS)]
            while len(polled) < POLLERS:  # every poller has been answered once: the pressure is on
                assert loop.time() < deadline and not loop_task.done(), "the trends were never answered"
                await asyncio.sleep(PERIOD_S / 5)
            first = service.snapshot.cycle
            await asyncio.sleep(WINDOW_PERIODS * PERIOD_S)
            counted.append(service.snapshot.cycle - first)
            polled_in_window = len(polled)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*pollers), timeout=BOUND_S)
            counted.append(len(polled) - polled_in_window)
        service.stop()
        await asyncio.wait_for(loop_task, timeout=BOUND_S)

    asyncio.run(go())
    cycles_in_window = counted[0]
    assert set(polled) == {200}
    assert len(polled) > 2 * POLLERS, f"the trends were barely polled ({len(polled)} answers)"
    assert cycles_in_window >= MIN_SHARE * WINDOW_PERIODS, (
        f"{cycles_in_window} cycles in {WINDOW_PERIODS} periods of {PERIOD_S} s while the trends were polled")
    last = service.cycle
    with AuditStore(service.audit.path) as audit:
        assert audit.count(service.run_id) == last
        assert audit.last_cycle(service.run_id) == last
