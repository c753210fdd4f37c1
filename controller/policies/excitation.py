"""An excitation plan run as the service's policy: step tests on the setpoints, then back to the fallback policy.

``coolpilot calibrate --plan`` writes a plan (:class:`coolpilot.envs.calibration.plan.ExcitationPlan`):
step tests packed into nightly windows of low thermal risk, for the parameters a site's history
could not pin down. ``coolpilot serve SITE.yaml --excitation PLAN.yaml`` runs it in place of the
model, as :class:`ExcitationRun`:

- The plan starts at the first opening of its nightly window at or after the service starts
  (the plant's local standard time, :mod:`coolpilot.controller.plantclock`).
- While a test runs, the proposal is the plan's (:meth:`ExcitationPlan.setpoints_at`: the test's
  setpoint on its ramp or level, every other setpoint the plan names at the plan's baseline, the
  values the plan was designed and replayed with); a setpoint the plan does not name is the
  fallback policy's. Outside the tests, and after the plan, the fallback policy proposes
  everything. Every proposal goes through the safety envelope like a model's, and is audited.
- A test starts only while the hottest inlet is at least
  :data:`~coolpilot.envs.calibration.plan.START_MARGIN_K` below the guard, else it is skipped.
- The thermal guard (the hottest inlet at or above the lower of the plan's and the site's guard,
  or unknown) aborts the whole plan: the fallback policy decides from that cycle on.
- A test's stop rule ends that test (its setpoints go back to the fallback policy until the next
  test): ``point`` above ``above_c``, or above the value in force of ``setpoint`` by ``above_k``
  once that value has been held a whole period (the coil test brings supply air and chilled
  water together until the air stays that far above its setpoint; a plant still moving to a
  new setpoint is not the coil's limit). Read against the value in force rather than the
  plan's baseline (``StopRule``'s wording): the coil test that lowers supply air never reads
  above its baseline, only above the lowered setpoint.

In shadow mode the plan runs on the same clock and its proposals are recorded, never written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from coolpilot.controller.safety import SafetyLimits
from coolpilot.envs.calibration.history import HistoryError
from coolpilot.envs.calibration.plan import SETTLE_MIN, START_MARGIN_K, ExcitationPlan, StepTest, load_plan
from coolpilot.envs.contract import Contract
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE

StepState = Literal["pending", "running", "done", "stopped", "skipped", "aborted"]
RunState = Literal["waiting", "running", "done", "aborted"]


class ExcitationError(ValueError):
    """An excitation plan cannot run on this site; the message names the plan file and the field."""


@dataclass(frozen=True)
class Phase:
    """A stretch of a step test: a ramp toward a level, a hold at it, or the way back and settling."""

    label: str
    start_min: float
    end_min: float
    target: float


def step_phases(test: StepTest, baseline: float) -> tuple[Phase, ...]:
    """The test's ramps and holds in order (min from its start), as :meth:`StepTest.setpoint_at` walks them."""
    out: list[Phase] = []
    value, t = baseline, 0.0
    n = len(test.levels)
    for k, (level, hold) in enumerate([*((v, test.hold_min) for v in test.levels), (baseline, SETTLE_MIN)]):
        ramp = abs(level - value) / test.rate_per_min
        what = f"level {k + 1} of {n}" if k < n else "back to baseline"
        if ramp > 0.0:
            out.append(Phase(f"ramp to {what}", t, t + ramp, level))
        out.append(Phase(what if k < n else "settling at baseline", t + ramp, t + ramp + hold, level))
        value, t = level, t + ramp + hold
    return tuple(out)


@dataclass(frozen=True)
class ExcitationStatus:
    """Where a plan stands, for the status, the console and the audit trail."""

    plan: str
    """The plan file."""
    facility: str
    """The facility the plan was made for (the calibrated one)."""
    state: RunState
    test: str | None
    """The test running (or the next one while waiting); None when done or aborted."""
    test_index: int | None
    """1-based, in the plan's order."""
    tests_total: int
    step: str
    """The running test's phase (``level 2 of 3``, ``ramp to level 1 of 2``, ``settling at baseline``), or ""."""
    setpoint: str | None
    value: float | None
    """What the plan commands for the test's setpoint now."""
    elapsed_min: float
    """Time of the plan's tests passed (min): each test counts from its scheduled start to its end."""
    total_min: float
    """The tests' total duration (min), settling included."""
    test_elapsed_min: float | None
    test_total_min: float | None
    starts_in_min: float | None
    """While waiting: minutes until the next test is due."""
    reason: str
    """Why the plan was aborted, or the last test stopped or skipped ("" if none)."""
    tests: tuple[tuple[str, str], ...]
    """Each test's name and state (pending, running, done, stopped, skipped, aborted)."""


@dataclass(frozen=True)
class ExcitationStep:
    """One cycle of the plan: the proposal and what to record."""

    setpoints: dict[str, float]
    notes: tuple[tuple[str, str, str], ...]
    """(reason, target, detail) for the audit trail."""
    status: ExcitationStatus


def load_excitation(path: str | Path, contract: Contract, commanded: Sequence[str], limits: SafetyLimits
                    ) -> ExcitationPlan:
    """Read a plan file and check it can run on this site: its setpoints are the facility's and commanded here,
    and every test level lies inside the site's safety bounds (a clipped level is not the test planned)."""
    try:
        plan = load_plan(path)
    except HistoryError as err:
        raise ExcitationError(str(err)) from None
    problems = []
    for name in plan.baseline:
        if name not in contract.setpoints_by_name:
            problems.append(f"baseline_setpoints.{name}: not a setpoint of the site's facility (its setpoints: "
                            f"{', '.join(contract.setpoint_names)})")
    for i, s in enumerate(plan.schedule):
        t = s.test
        if t.setpoint not in contract.setpoints_by_name or t.setpoint not in commanded:
            problems.append(f"tests[{i}].setpoint = {t.setpoint!r}: not a setpoint this site writes (it writes "
                            f"{', '.join(commanded)})")
            continue
        spec = contract.setpoints_by_name[t.setpoint]
        low, high = limits.bounds.get(t.setpoint, (spec.low, spec.high))
        outside = [v for v in t.levels if not low <= v <= high]
        if outside:
            problems.append(f"tests[{i}] ({t.name}).levels = {list(t.levels)} {spec.unit}: {outside} outside the "
                            f"site's safety bounds of {t.setpoint} (allowed {low:g}..{high:g} {spec.unit})")
        if t.setpoint not in plan.baseline:
            problems.append(f"tests[{i}] ({t.name}): its setpoint {t.setpoint} has no baseline_setpoints entry")
        if not (math.isfinite(t.rate_per_min) and t.rate_per_min > 0.0):
            problems.append(f"tests[{i}] ({t.name}).rate_per_min = {t.rate_per_min}: must be > 0 per min")
    if problems:
        raise ExcitationError(f"{path}: {len(problems)} problem(s) in the excitation plan:\n"
                              + "\n".join(f"  - {p}" for p in problems))
    return plan


@dataclass
class ExcitationRun:
    """An excitation plan as a policy, with its fallback policy (module docstring).

    ``setpoint_names`` are the setpoints the service commands while the plan runs; ``guard_c``
    the site's thermal guard (°C; the plan's own guard applies too, whichever is lower).
    """

    plan: ExcitationPlan
    path: str
    fallback_name: str
    """The fallback policy (its proposals are the service's, made once per cycle: the policy may keep state)."""
    setpoint_names: tuple[str, ...]
    guard_c: float
    start_s: float | None = None
    """Local standard time (s since 1 January) the plan's first window opens; set at the first cycle."""
    states: list[StepState] = field(default_factory=list)
    reason: str = ""
    aborted: bool = False
    done_recorded: bool = False
    previous_in_force: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.states = ["pending"] * len(self.plan.schedule)
        self.guard_c = min(self.guard_c, self.plan.guard_c)

    @property
    def name(self) -> str:
        """For the audit and logs."""
        return f"excitation plan {self.path}"

    def first_opening(self, local_s: float) -> float:
        """The first opening of the plan's nightly window at or after ``local_s`` (local s since 1 January)."""
        day = math.floor(local_s / SECONDS_PER_DAY)
        opening = day * SECONDS_PER_DAY + self.plan.window_start_h * SECONDS_PER_HOUR
        return opening if opening >= local_s else opening + SECONDS_PER_DAY

    def test_times(self) -> list[tuple[float, float]]:
        """Each test's scheduled start and end (local s), as :meth:`ExcitationPlan.setpoints_at` places them."""
        assert self.start_s is not None
        day0 = math.floor(self.start_s / SECONDS_PER_DAY)
        out = []
        for s in self.plan.schedule:
            start = (day0 + s.night) * SECONDS_PER_DAY + self.plan.window_start_h * SECONDS_PER_HOUR + \
                s.start_min * SECONDS_PER_MINUTE
            out.append((start, start + s.test.duration_min(self.plan.baseline[s.test.setpoint]) * SECONDS_PER_MINUTE))
        return out

    def step(self, points: Mapping[str, float], local_s: float, in_force: Mapping[str, float] | None,
             fallback: Mapping[str, float] | None) -> ExcitationStep:
        """The proposal for the cycle at local time ``local_s`` from the finite ``points`` read; ``in_force`` the
        setpoints written last cycle (what the plant holds), ``fallback`` the fallback policy's proposal."""
        if self.start_s is None:
            self.start_s = self.first_opening(local_s)
        notes: list[tuple[str, str, str]] = []
        times = self.test_times()
        running: int | None = None
        for i, (start, end) in enumerate(times):
            if self.states[i] == "running" and local_s >= end:
                self.states[i] = "done"
                notes.append(("excitation_test_done", self.plan.schedule[i].test.setpoint,
                              f"test {self.plan.schedule[i].test.name} ran to its end"))
            if self.states[i] == "pending" and start <= local_s < end and not self.aborted:
                self._begin(i, points, notes)
            elif self.states[i] == "pending" and local_s >= end:
                self.states[i] = "skipped"
                self.reason = f"test {self.plan.schedule[i].test.name}: its time passed with no cycle inside it"
                notes.append(("excitation_skipped", self.plan.schedule[i].test.setpoint, self.reason))
            if self.states[i] == "running":
                running = i
        if running is not None:
            running = self._check(running, points, in_force, notes)
        self.previous_in_force = dict(in_force or {})
        commanded = self._fallback_values(fallback)
        if running is not None:
            plan_values = self.plan.setpoints_at(local_s, self.start_s)
            commanded.update({n: v for n, v in plan_values.items() if n in self.setpoint_names})
        status = self.status(local_s, running)
        if running is not None:
            notes.append(("excitation", status.setpoint or "", self._describe(status)))
        if status.state == "done" and not self.done_recorded:
            self.done_recorded = True
            notes.append(("excitation_done", "", f"plan finished: tests {self._summary()}; the fallback policy "
                                                 f"({self.fallback_name}) decides from now on"))
        return ExcitationStep(commanded, tuple(notes), status)

    def _begin(self, i: int, points: Mapping[str, float], notes: list[tuple[str, str, str]]) -> None:
        test = self.plan.schedule[i].test
        hottest = points.get("inlet_temp_max_c")
        start_below = self.guard_c - START_MARGIN_K
        if hottest is None or hottest >= start_below:
            self.states[i] = "skipped"
            shown = "unknown" if hottest is None else f"{hottest:.2f} °C"
            self.reason = (f"test {test.name} not started: hottest inlet {shown}, a test starts only below "
                           f"{start_below:g} °C (guard {self.guard_c:g} °C − {START_MARGIN_K:g} K)")
            notes.append(("excitation_skipped", test.setpoint, self.reason))
            return
        self.states[i] = "running"
        notes.append(("excitation_started", test.setpoint, f"test {test.name} ({i + 1} of {len(self.states)}) "
                                                           f"starts: {test.purpose}"))

    def _check(self, i: int, points: Mapping[str, float], in_force: Mapping[str, float] | None,
               notes: list[tuple[str, str, str]]) -> int | None:
        """Abort on the thermal guard, stop on the test's rule; the running test's index if it goes on."""
        test = self.plan.schedule[i].test
        hottest = points.get("inlet_temp_max_c")
        if hottest is None or hottest >= self.guard_c:
            shown = "unknown (no valid reading)" if hottest is None else f"{hottest:.2f} °C"
            self.reason = (f"thermal guard: hottest inlet {shown} during test {test.name}, guard {self.guard_c:g} °C; "
                           f"plan aborted, the fallback policy ({self.fallback_name}) decides")
            self.aborted = True
            self.states = ["aborted" if s in ("pending", "running") else s for s in self.states]
            notes.append(("excitation_aborted", "inlet_temp_max_c", self.reason))
            return None
        rule = test.stop
        if rule is None:
            return i
        value = points.get(rule.point)
        fired = ""
        if value is not None and rule.above_c is not None and value > rule.above_c:
            fired = f"{rule.point} = {value:.3g} above {rule.above_c:g}"
        ref = in_force.get(rule.setpoint) if in_force is not None and rule.setpoint is not None else None
        if ref is not None and ref != self.previous_in_force.get(str(rule.setpoint)):
            ref = None  # the plant has not had a whole period at it yet: it may still be moving there
        if not fired and value is not None and rule.above_k is not None and ref is not None and \
                value > ref + rule.above_k:
            fired = f"{rule.point} = {value:.3g}, more than {rule.above_k:g} above {rule.setpoint} in force ({ref:.3g})"
        if not fired:
            return i
        self.states[i] = "stopped"
        self.reason = f"test {test.name} stopped by its rule: {fired}"
        notes.append(("excitation_stopped", test.setpoint, self.reason))
        return None

    def _fallback_values(self, fallback: Mapping[str, float] | None) -> dict[str, float]:
        """The fallback policy's setpoints (those of :attr:`setpoint_names`), the plan's baseline where it has none
        (or could not act for want of a point)."""
        base = {n: float(v) for n, v in (fallback or {}).items()}
        return {n: base[n] if n in base else self.plan.baseline[n] for n in self.setpoint_names
                if n in base or n in self.plan.baseline}

    def status(self, local_s: float, running: int | None = None) -> ExcitationStatus:
        """Where the plan stands at local time ``local_s``."""
        if self.start_s is None:
            self.start_s = self.first_opening(local_s)
        times = self.test_times()
        durations = [(end - start) / SECONDS_PER_MINUTE for start, end in times]
        elapsed = sum(min(max(local_s - start, 0.0) / SECONDS_PER_MINUTE, d)
                      for (start, _), d in zip(times, durations, strict=True))
        tests = tuple((s.test.name, st) for s, st in zip(self.plan.schedule, self.states, strict=True))
        base = ExcitationStatus(plan=self.path, facility=self.plan.facility, state="done", test=None, test_index=None,
                                tests_total=len(times), step="", setpoint=None, value=None, elapsed_min=elapsed,
                                total_min=sum(durations), test_elapsed_min=None, test_total_min=None,
                                starts_in_min=None, reason=self.reason, tests=tests)
        if running is not None:
            test = self.plan.schedule[running].test
            start, _ = times[running]
            into = (local_s - start) / SECONDS_PER_MINUTE
            phase = next((p.label for p in step_phases(test, self.plan.baseline[test.setpoint])
                          if p.start_min <= into < p.end_min), "")
            return replace(base, state="running", test=test.name, test_index=running + 1, step=phase,
                           setpoint=test.setpoint, value=test.setpoint_at(into, self.plan.baseline[test.setpoint]),
                           test_elapsed_min=into, test_total_min=durations[running])
        upcoming = [i for i, st in enumerate(self.states) if st == "pending" and times[i][1] > local_s]
        if self.aborted or not upcoming:
            return replace(base, state="aborted" if self.aborted else "done")
        nxt = upcoming[0]
        return replace(base, state="waiting", test=self.plan.schedule[nxt].test.name, test_index=nxt + 1,
                       setpoint=self.plan.schedule[nxt].test.setpoint, test_total_min=durations[nxt],
                       starts_in_min=max(times[nxt][0] - local_s, 0.0) / SECONDS_PER_MINUTE)

    def _describe(self, s: ExcitationStatus) -> str:
        spec_unit = next((t.test.unit for t in self.plan.schedule if t.test.name == s.test), "")
        return (f"{self.path}: test {s.test} ({s.test_index} of {s.tests_total}), {s.step}: {s.setpoint} -> "
                f"{s.value:.4g} {spec_unit}; {s.test_elapsed_min:.1f} of {s.test_total_min:.1f} min of the test, "
                f"{s.elapsed_min:.1f} of {s.total_min:.1f} min of the plan")

    def _summary(self) -> str:
        return ", ".join(f"{s.test.name} {st}" for s, st in zip(self.plan.schedule, self.states, strict=True))
