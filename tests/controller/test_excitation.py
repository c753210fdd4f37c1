"""``coolpilot serve --excitation PLAN``: a calibration's step tests run by the service, safely, against the plant.

The plan is made as a user makes it (``make_plan`` on a simulated history of the site under legacy
control: its baseline is what the site runs, its nightly window the history's quietest), and run by
the service on the in-process plant (``tests/controller/twin_loop.py``) in plant time, with the
legacy policy as the fallback, so the inlets sit far enough below the guard for tests to start.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coolpilot.controller.api import create_app
from coolpilot.controller.policies import LegacyPolicy
from coolpilot.controller.policies.excitation import ExcitationError, step_phases
from coolpilot.controller.service import CycleOutcome
from coolpilot.envs.calibration.plan import ExcitationPlan, make_plan, write_plan
from coolpilot.envs.calibration.synthetic import history_from_result
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR
from coolpilot.envs.weather import load_climate
from tests.controller.twin_loop import YEAR_START_S, Loop, make_loop

START_DAY = 190.0
"""Day of year the service starts (Phoenix, July); the history ends the day before."""


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ExcitationPlan]:
    """A plan for the chilled-water loop's mass and the coil approach, from two days of legacy history."""
    hall = load_facility("modern-hall")
    run = simulate(hall, load_climate("phoenix"), LegacyPolicy(), days=2.0, start_day=START_DAY - 2.0, seed=1)
    plan = make_plan(hall, history_from_result(run), ["chw_loop_volume", "coil_approach"])
    path = write_plan(plan, tmp_path_factory.mktemp("plan") / "plan.yaml", "excitation plan for the tests")
    return path, plan


LEAD_CYCLES = 36
"""The service starts 3 h before the plan's window: the envelope brings the plant from its own control to the
legacy fallback's setpoints at its rate limits, and the inlets settle, before the first test."""


def start_day_before_window(plan: ExcitationPlan, lead_h: float = LEAD_CYCLES / 12.0) -> float:
    """The day-of-year time ``lead_h`` hours before the plan's window opens on the start day."""
    return START_DAY + (plan.window_start_h - lead_h) * SECONDS_PER_HOUR / SECONDS_PER_DAY


def plan_loop(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan], mode: str = "active") -> Loop:
    path, plan = plan_file
    return make_loop(tmp_path, start_day=start_day_before_window(plan), mode=mode, excitation=path,
                     fallback_policy="legacy")


def reasons(o: CycleOutcome, prefix: str = "excitation") -> list[tuple[str, str, str]]:
    return [n for n in o.notes if n[0].startswith(prefix)]


def test_the_plans_setpoints_are_written_through_the_envelope_and_audited(
        tmp_path: Path, plan_file: tuple[Path, ExcitationPlan]) -> None:
    path, plan = plan_file
    assert [s.test.name for s in plan.schedule] == ["coil-approach", "chilled-water"]
    loop = plan_loop(tmp_path, plan_file)
    run = loop.service.excitation
    assert run is not None
    try:
        last_end = max(run.test_times()[-1][1] for _ in (0,)) if run.start_s is not None else None
        assert last_end is None, "the plan starts at the first cycle"
        outcomes = loop.run(LEAD_CYCLES + 1)
        end_s = max(end for _, end in run.test_times())
        outcomes += loop.run(math.ceil((end_s - (outcomes[-1].time_s - YEAR_START_S)) / 300.0) + 6)
    finally:
        loop.close()
    assert outcomes[0].excitation is not None and outcomes[0].excitation.state == "waiting"
    assert outcomes[0].excitation.starts_in_min == pytest.approx(LEAD_CYCLES * 5.0, abs=5.0)
    first = outcomes[LEAD_CYCLES - 1]  # the last cycle before the window
    assert first.excitation is not None and first.excitation.state == "waiting"
    assert first.decision is not None and first.decision.setpoints is not None and first.wrote
    legacy = LegacyPolicy().act({})
    assert {n: first.decision.setpoints[n] for n in legacy} == pytest.approx(legacy), "the fallback, outside tests"
    assert {n: v for n, v in first.decision.setpoints.items() if n not in legacy} == pytest.approx(
        {n: v for n, v in plan.baseline.items() if n not in legacy}), "the plan's baseline for what legacy leaves"
    running = [o for o in outcomes if o.excitation is not None and o.excitation.state == "running"]
    assert {o.excitation.test for o in running if o.excitation} == {"coil-approach", "chilled-water"}
    assert plan.nights == 2 and plan.schedule[1].night == 1, "the second test runs in the next night's window"
    for o in running:
        assert o.excitation is not None and o.decision is not None and o.decision.setpoints is not None and o.wrote
        status = o.excitation
        local = o.time_s - YEAR_START_S  # the plant's local standard time at the cycle
        expected = plan.setpoints_at(local, run.start_s or 0.0)
        assert status.setpoint is not None and status.value == pytest.approx(expected[status.setpoint])
        touched = {i.target for i in o.decision.interventions}
        for name, value in expected.items():  # what the plan commands is what the plant gets, unless clipped
            if name not in touched:
                assert o.decision.setpoints[name] == pytest.approx(value), (name, status)
        assert status.setpoint not in touched, f"the envelope changed the test's own setpoint: {o.decision}"
        assert reasons(o, "excitation")[-1][2].startswith(f"{path}: test {status.test} ({status.test_index} of 2)")
        assert 0.0 <= status.test_elapsed_min <= status.test_total_min  # type: ignore[operator]
    # The levels were written: the coil test raised chilled water toward the supply air until the coils could
    # no longer make the air (its stop rule), the chilled-water test went down and up to its end.
    coil, loop_test = plan.schedule[0].test, plan.schedule[1].test
    assert coil.setpoint == loop_test.setpoint == "chw_supply_temp_c"

    def written(name: str) -> list[float]:
        return [o.decision.setpoints[coil.setpoint] for o in running
                if o.excitation and o.excitation.test == name and o.decision and o.decision.setpoints]

    assert coil.levels[0] in written("coil-approach") and max(written("coil-approach")) < coil.levels[-1]
    stopped = [n for o in outcomes for n in reasons(o, "excitation_stopped")]
    assert len(stopped) == 1 and "supply_air_temp_c" in stopped[0][2] and "more than 1 above" in stopped[0][2]
    assert set(loop_test.levels) <= set(written("chilled-water"))
    # The plan ends: back to the fallback policy, recorded once.
    last = outcomes[-1]
    assert last.excitation is not None and last.excitation.state == "done"
    assert last.excitation.elapsed_min == pytest.approx(last.excitation.total_min)
    done = [o for o in outcomes if any(r == "excitation_done" for r, _, _ in o.notes)]
    assert len(done) == 1
    assert last.decision is not None and last.decision.setpoints is not None
    assert {n: last.decision.setpoints[n] for n in legacy} == pytest.approx(legacy)
    # The audit trail says which test and step ran in every cycle of a test.
    with loop.service.audit.__class__(tmp_path / "audit.sqlite") as audit:
        records = audit.decisions(limit=1000, newest_first=False)
    steps = [i["detail"] for r in records for i in r.interventions if i["reason"] == "excitation"]
    assert len(steps) == len(running)
    assert any("level 1 of" in d for d in steps) and any("settling at baseline" in d for d in steps)


def test_status_shows_the_plans_progress(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan]) -> None:
    loop = plan_loop(tmp_path, plan_file)
    try:
        client = TestClient(create_app(loop.service, None))
        assert client.get("/api/v1/status").json()["excitation"] is None  # before the first cycle
        loop.run(LEAD_CYCLES + 4)  # up to the window, then 20 min into the first test
        body = client.get("/api/v1/status").json()["excitation"]
    finally:
        loop.close()
    assert body["state"] == "running" and body["test"] == "coil-approach" and body["test_index"] == 1
    assert body["tests"] == {"coil-approach": "running", "chilled-water": "pending"}
    assert body["elapsed_min"] == pytest.approx(body["test_elapsed_min"]) and 10.0 <= body["elapsed_min"] <= 25.0
    assert body["total_min"] == pytest.approx(plan_file[1].duration_min)
    assert body["step"] == "level 1 of 5" and body["setpoint"] == "chw_supply_temp_c" and body["value"] == 11.5


def test_the_thermal_guard_aborts_the_plan_and_the_fallback_takes_over(
        tmp_path: Path, plan_file: tuple[Path, ExcitationPlan]) -> None:
    loop = plan_loop(tmp_path, plan_file)
    try:
        loop.run(LEAD_CYCLES + 3)
        assert loop.service.snapshot.excitation is not None
        assert loop.service.snapshot.excitation.state == "running"
        loop.adapter.bias["inlet_temp_max_c"] = 26.2 - loop.twin.points["inlet_temp_max_c"]  # the hall at 26.2 °C
        hot = loop.run(1)[0]
        loop.adapter.bias.clear()
        after = loop.run(12)
    finally:
        loop.close()
    aborted = reasons(hot, "excitation_aborted")
    assert aborted and "thermal guard: hottest inlet 26.20 °C" in aborted[0][2] and "guard 26 °C" in aborted[0][2]
    assert hot.excitation is not None and hot.excitation.state == "aborted"
    assert dict(hot.excitation.tests) == {"coil-approach": "aborted", "chilled-water": "aborted"}
    assert hot.decision is not None and hot.decision.setpoints is not None
    legacy = LegacyPolicy().act({})
    # From the guard on, the proposal is the fallback's (the envelope moves toward it at its rates, never warmer).
    for o in after:
        assert o.raw_output == pytest.approx({**o.raw_output, **legacy})  # type: ignore[dict-item]
        assert not reasons(o, "excitation ")
        assert o.excitation is not None and o.excitation.state == "aborted"
    final = after[-1].decision
    assert final is not None and final.setpoints is not None
    assert final.setpoints == pytest.approx({**final.setpoints, **legacy})


def test_a_test_does_not_start_near_the_guard(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan]) -> None:
    """Under rule-based control the hottest inlet sits at its 25 °C target: above the plan's start threshold
    (guard 26 °C − 2 K), so the plan's tests are skipped, recorded, and nothing but the fallback is written."""
    path, plan = plan_file
    loop = make_loop(tmp_path, start_day=start_day_before_window(plan), mode="active", excitation=path)
    try:
        outcomes = loop.run(LEAD_CYCLES + 2)
    finally:
        loop.close()
    skipped = [n for o in outcomes for n in reasons(o, "excitation_skipped")]
    assert skipped and "a test starts only below 24 °C (guard 26 °C − 2 K)" in skipped[0][2]
    assert not any(reasons(o, "excitation_started") for o in outcomes)


def test_shadow_mode_records_what_the_plan_would_write(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan]
                                                       ) -> None:
    loop = plan_loop(tmp_path, plan_file, mode="shadow")
    try:
        outcomes = loop.run(LEAD_CYCLES + 6)
    finally:
        loop.close()
    assert not loop.adapter.writes and not any(o.wrote for o in outcomes)
    legacy = LegacyPolicy().act({})
    for o in outcomes[:LEAD_CYCLES]:  # what it would write, recorded: the fallback's proposal before the window
        assert isinstance(o.raw_output, dict) and {n: o.raw_output[n] for n in legacy} == pytest.approx(legacy)
    # The plant stays under its own control (rule-based loops, inlets near 25 °C): the plan's first test does
    # not start, and says why.
    assert any(reasons(o, "excitation_skipped") for o in outcomes)


def test_the_phases_follow_the_tests_own_path(plan_file: tuple[Path, ExcitationPlan]) -> None:
    """The phase the status names holds the value the test commands (the two walk the same path)."""
    _, plan = plan_file
    for s in plan.schedule:
        base = plan.baseline[s.test.setpoint]
        phases = step_phases(s.test, base)
        assert phases[-1].end_min == pytest.approx(s.test.duration_min(base))
        for p in phases:
            if not p.label.startswith("ramp"):
                middle = (p.start_min + p.end_min) / 2.0
                assert s.test.setpoint_at(middle, base) == pytest.approx(p.target), p


@pytest.mark.parametrize(("edit", "words"), [
    (lambda d: d["tests"][0].update(levels=[19.0]), ["tests[0] (coil-approach).levels", "outside the site's safety "
                                                     "bounds of chw_supply_temp_c", "allowed 5..18 °C"]),
    (lambda d: d["tests"][0].update(setpoint="humidity_pct"),
     ["tests[0].setpoint", "'humidity_pct' is not a setpoint"]),
    (lambda d: d.update(plan_version=7), ["plan_version", "7"]),
    (lambda d: d.pop("window"), ["not a coolpilot excitation plan"]),
])
def test_bad_plans_are_refused_naming_the_field(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan],
                                                edit: object, words: list[str]) -> None:
    import yaml

    data = yaml.safe_load(plan_file[0].read_text())
    edit(data)  # type: ignore[operator]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ExcitationError) as err:
        make_loop(tmp_path, mode="active", excitation=bad, fallback_policy="legacy")
    assert str(bad) in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_a_plan_needs_a_fallback_policy(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan]) -> None:
    with pytest.raises(ExcitationError, match=r"needs a fallback policy.*fallback_policy: none"):
        make_loop(tmp_path, mode="active", excitation=plan_file[0], fallback_policy="none")


def test_the_cli_refuses_a_plan_the_site_cannot_run(tmp_path: Path, plan_file: tuple[Path, ExcitationPlan],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from coolpilot.cli import main

    site = tmp_path / "site.yaml"
    site.write_text(json.dumps({"name": "t", "facility": "modern-hall", "fallback_policy": "none",
                                "adapter": {"kind": "csv", "csv": {"path": "points.csv"}},
                                "audit": {"path": str(tmp_path / "a.sqlite")}}))
    (tmp_path / "points.csv").write_text("time_s,inlet_temp_max_c\n0,22.0\n")
    assert main(["serve", str(site), "--no-api", "--cycles", "1", "--excitation", str(plan_file[0])]) != 0
    assert "needs a fallback policy" in capsys.readouterr().err
