"""The control loop of ``coolpilot serve``: read → validate → infer → envelope → write → audit.

One :class:`ControllerService` per site. Every ``period_s`` it reads the points through the
adapter, asks the policy (the ONNX bundle, within a time limit, see *Inference* below) and
the fallback policy, passes both through the safety envelope (``coolpilot.controller.safety.decide``),
writes what the mode allows and records the decision in the audit trail before the next
cycle starts. Nothing in here imports torch or the simulator.

Modes: ``shadow`` decides and records, never writes (the default at first start);
``active`` writes; ``fallback`` hands control to the site (relinquish, or the safe
setpoints if the site says so); ``off`` records the cycle and does nothing else. The mode
survives restarts (the last mode change in the audit trail wins over the site file).

**One writer of the service's state.** The control loop owns mode, overrides and model,
the way a BMS controller's program is the only writer of its outputs. Every change goes
through the loop's side of one lock, an :class:`asyncio.Lock` of the event loop that runs
the service (``coolpilot serve`` runs the HTTP API on the same loop): a cycle holds it
from reading the points to recording the decision, and the commands (:meth:`~ControllerService.set_mode`,
:meth:`~ControllerService.set_override`, :meth:`~ControllerService.clear_override`, the
swap in :meth:`~ControllerService.reload_model`) are coroutines that take it, so a command
lands between two cycles, never inside one, and waits at most one cycle. A lock rather
than a command queue because a command's refusal (a bad value, a bundle that does not
verify) goes straight back to its caller as an exception. Slow work stays off the lock:
a reload loads and verifies the new bundle (card, sha256, contract, then a trial
inference within the time limit) on a worker thread while cycles go on, and only the swap
takes the lock. Readers never take it: after every cycle and every command the service
publishes an immutable :class:`Snapshot` (:attr:`ControllerService.snapshot`), so the API's
status and decision show one consistent state, never a cycle half done.

**The contract.** The site's facility determines the contract (``SiteConfig.contract``: its
equipment blocks' points and setpoints); a bundle must fit it
(:func:`coolpilot.envs.contract.bundle_fits`, at start and at every reload) or is refused naming
the difference. What the service commands (:attr:`ControllerService.commanded`, a
:func:`~coolpilot.controller.safety.sub_contract` of the facility's) is the points its site maps and
the setpoints its site maps and its model proposes (without a model, those the site maps): a
contract-1 bundle on a facility with more levers proposes the core block's four, and the
service writes only those; every other setpoint is never written and runs on the plant's own
sequence, and a setpoint a model swap stops commanding is relinquished. The site must map
every point the model and the fallback policy read (else the service refuses to start, or the
reload is refused, naming them). The policies read the contract's points by name.

**Inference.** The model runs on a worker thread of a :class:`coolpilot.controller.inference.InferenceRunner`:
a call past ``model_timeout_s`` is abandoned with its thread and the next cycle starts a
fresh worker, so a hung model costs its cycles their proposal (the envelope holds, then
falls back) but never stops the loop; abandoned threads are daemons and do not hold up
shutdown. ``model_unhealthy_after`` timeouts in a row mark the model *unhealthy*: it is no
longer called, every cycle records the ``model_unhealthy`` reason in the audit trail, the
status and the metrics show it, and the envelope's fallback ladder decides, until a model
is reloaded (the reload's trial inference must answer in time).

**Drift and excitation.** A site's ``drift`` section runs the calibrated twin beside the plant
(:mod:`coolpilot.controller.drift`, the only part of the loop that steps the simulator, compiled
before the first cycle): each cycle compares the last prediction with the reading, then predicts
the next one from the setpoints in force; ``on_drift: fallback`` switches an active service to
fallback mode through :meth:`~ControllerService.set_mode`'s path. ``excitation`` (``coolpilot serve
--excitation PLAN``) runs an excitation plan in place of the model
(:mod:`coolpilot.controller.policies.excitation`), its proposals through the same envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from coolpilot.controller.adapters.base import Adapter, AdapterError, Reading, WriteResult
from coolpilot.controller.audit import AuditStore, DecisionRecord
from coolpilot.controller.drift import DriftEvent, DriftMonitor, DriftStatus, held_setpoints
from coolpilot.controller.inference import InferenceRunner, WorkersExhaustedError
from coolpilot.controller.plantclock import local_time_s
from coolpilot.controller.policies import LegacyPolicy, RuleBasedPolicy, RuleBasedSettings
from coolpilot.controller.policies.onnx_policy import BundleError, OnnxPolicy
from coolpilot.controller.policies.rule_based import LEVERS, rule_based_settings
from coolpilot.controller.safety import Decision, EnvelopeState, ModelError, decide, initial_state, sub_contract
from coolpilot.controller.site import MODES, SiteConfig, facility_of
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import SETPOINT_NAMES, Contract

if TYPE_CHECKING:  # the plan's module reads plan files with the calibration's readers: imported when a plan runs
    from coolpilot.controller.policies.excitation import ExcitationRun, ExcitationStatus

log = logging.getLogger(__name__)

SERVICE_REASONS: dict[str, str] = {
    "write_refused": "The plant refused to write a setpoint (the adapter's error is the detail).",
    "model_unhealthy": "The model is marked unhealthy after repeated inference timeouts; it is not called "
                       "until a model is reloaded.",
    "drift": "The calibrated twin's one-step prediction of a point drifted past its CV(RMSE) or NMBE threshold "
             "(one record per episode; the detail gives the figures and thresholds).",
    "drift_cleared": "A point's drift episode ended: both figures back under the clearing share of their thresholds.",
    "drift_twin_error": "The drift monitor's twin could not predict this cycle (logged and counted; the cycle went "
                        "on).",
    "excitation": "An excitation plan's step test is running: the plan's test, phase and setpoint (the proposal).",
    "excitation_started": "An excitation plan's step test started (the hottest inlet was below the start margin).",
    "excitation_test_done": "An excitation plan's step test ran to its end.",
    "excitation_stopped": "An excitation plan's step test ended early by its stop rule; the fallback policy decides "
                          "until the next test.",
    "excitation_skipped": "An excitation plan's step test was not started (the hottest inlet too close to the guard, "
                          "or its time passed).",
    "excitation_aborted": "The thermal guard aborted the excitation plan; the fallback policy decides from then on.",
    "excitation_done": "The excitation plan has finished; the fallback policy decides from then on.",
}
"""Reason codes the service adds to a decision's audit record.

They sit beside the envelope's own (``coolpilot.controller.safety.REASONS``)."""

RELOAD_TIMEOUT_S = 60.0
"""Longest a bundle may take to load and verify (read, sha256, onnxruntime session) before a reload is refused (s)."""

MAX_OVERRIDE_S = 7 * 86400.0
"""Longest operator override (s): one week."""


@dataclass(frozen=True)
class Override:
    """An operator's setpoint override, until ``expires_s`` (unix time)."""

    value: float
    expires_s: float
    who: str
    why: str


@dataclass(frozen=True)
class ModelHealth:
    """Whether the running model may be called, and its record of timeouts."""

    healthy: bool
    consecutive_timeouts: int
    """Inference timeouts in a row (any answer, even an error, resets it)."""
    timeouts_total: int
    """Inference timeouts since this model was loaded."""
    unhealthy_since_s: float | None = None
    """Unix time the model was marked unhealthy (None while healthy)."""
    detail: str = ""
    """Why it is unhealthy, for the status and the audit trail ("" while healthy)."""


HEALTHY = ModelHealth(healthy=True, consecutive_timeouts=0, timeouts_total=0)
"""The health of a model just loaded."""


@dataclass(frozen=True)
class CycleOutcome:
    """What one control cycle did (also kept as the service's current decision)."""

    cycle: int
    time_s: float
    mode: str
    decision: Decision | None
    raw_output: dict[str, float] | str | None
    wrote: bool
    write_errors: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    model_sha256: str | None = None
    """sha256 of the model this cycle ran (or would have run), as recorded in the audit trail."""
    model_timed_out: bool = False
    """The model's call in this cycle passed the time limit (or found no worker to run on)."""
    model_health: ModelHealth = HEALTHY
    """The model's health after this cycle."""
    points: dict[str, float | None] = field(default_factory=dict)
    """The points as read this cycle (contract units; None for a reading that was not a number)."""
    drift: DriftStatus | None = None
    """The drift monitor after this cycle (None without one)."""
    drift_events: tuple[DriftEvent, ...] = ()
    """Drift episodes that started or ended this cycle."""
    twin_error: str = ""
    """The drift monitor's twin error this cycle ("" if none)."""
    excitation: ExcitationStatus | None = None
    """The excitation plan after this cycle (None without one)."""
    notes: tuple[tuple[str, str, str], ...] = ()
    """Service records of this cycle beyond the envelope's: (reason, target, detail) of :data:`SERVICE_REASONS`."""


@dataclass(frozen=True)
class Snapshot:
    """The service's state as the last cycle or command left it: what readers (the API, metrics) see."""

    mode: str
    cycle: int
    connected: bool
    policy: OnnxPolicy | None
    model_health: ModelHealth
    overrides: Mapping[str, Override]
    """Overrides set (an expired one stays listed until the next cycle drops it)."""
    envelope: EnvelopeState
    last: CycleOutcome | None
    commanded: Contract
    """What the service commands now: the points it reads and the setpoints it writes."""
    drift: DriftStatus | None = None
    """The drift monitor's state (None when the site watches no drift)."""
    excitation: ExcitationStatus | None = None
    """The excitation plan's progress (None when none runs)."""


def _finite_points(values: Mapping[str, object], names: Sequence[str]) -> dict[str, float]:
    """The points of ``names`` that are finite numbers, as floats."""
    out: dict[str, float] = {}
    for name in names:
        v = values.get(name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            continue
        out[name] = float(v)
    return out


def fallback_settings(policy: OnnxPolicy | None, facility: FacilityConfig | None = None,
                      contract: Contract | None = None) -> RuleBasedSettings:
    """The rule-based fallback's commissioning: the bundle's own base when it has one, else the facility's, else
    defaults; it commands the levers of ``contract`` it knows (its core loops alone without one)."""
    levers = tuple(n for n in LEVERS if contract is not None and n in contract.setpoints_by_name)
    settings = rule_based_settings(facility) if facility is not None else RuleBasedSettings()
    if policy is not None:
        action = policy.card.get("action", {})
        card = action.get("rule_based_settings") if isinstance(action, dict) else None
        if isinstance(card, dict):
            try:
                settings = RuleBasedSettings(**card)
            except (TypeError, ValueError):
                log.warning("bundle %s: rule_based_settings not understood; fallback uses the facility's",
                            policy.name)
    return replace(settings, levers=levers)


def policy_points(policy: OnnxPolicy | RuleBasedPolicy | LegacyPolicy | None) -> tuple[str, ...]:
    """The points a policy reads (every one must be a finite number for it to act)."""
    if isinstance(policy, OnnxPolicy):
        return tuple(policy.point_names)
    if isinstance(policy, RuleBasedPolicy):
        return policy.settings.point_names
    return ()


class ControllerService:
    """The control loop of one site, with its mode, overrides, model, audit trail and metrics.

    Its attributes are the loop's working state; code outside the loop reads
    :attr:`snapshot` and changes state only through the ``async`` commands (module docstring).
    """

    def __init__(self, site: SiteConfig, adapter: Adapter, audit: AuditStore | None = None,
                 clock: Any = time.time, excitation: str | Path | None = None) -> None:
        self.site = site
        self.adapter = adapter
        self.audit = audit or AuditStore(site.audit.path)
        self.clock = clock
        self.run_id = uuid.uuid4().hex
        self.cycle = 0
        self.state: EnvelopeState = initial_state()
        self.overrides: dict[str, Override] = {}
        self.last: CycleOutcome | None = None
        self.connected = False
        self.started_s = clock()
        self.contract = site.contract
        """The site's facility contract."""
        self.facility = facility_of(site)
        self.facility_name = self.facility.name if self.facility is not None else "core"
        """The facility, for messages (``core``: a site file without one, the core block's contract)."""
        self.policy: OnnxPolicy | None = (OnnxPolicy(site.model, self.contract, self.facility_name)
                                          if site.model else None)
        self.model_health = HEALTHY
        self.fallback = self._make_fallback(self.policy)
        self.excitation: ExcitationRun | None = None
        """The excitation plan run in place of the model (``coolpilot serve --excitation``), if any."""
        self.commanded = self._commanded(self.policy, self.fallback)
        if excitation is not None:
            self.excitation = self._make_excitation(excitation)
            self.commanded = self._commanded(self.policy, self.fallback)
        self.drift: DriftMonitor | None = None
        """The drift monitor (the site's ``drift`` section), if any."""
        if site.drift is not None:
            drift_facility = load_facility(site.drift.facility) if site.drift.facility else self.facility
            assert drift_facility is not None  # the site file's validation requires one
            self.drift = DriftMonitor(site.drift, drift_facility, site.rate_period_s or site.period_s)
        self._runner = InferenceRunner()
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self.mode = self._initial_mode()
        self.listeners: list[Any] = []
        """Callables ``f(outcome)`` run after every cycle (metrics)."""
        self.snapshot = self._snapshot()

    # --- setup ------------------------------------------------------------------
    def _make_fallback(self, policy: OnnxPolicy | None) -> RuleBasedPolicy | LegacyPolicy | None:
        if self.site.fallback_policy == "rule-based":
            return RuleBasedPolicy(fallback_settings(policy, self.facility, self.contract))
        if self.site.fallback_policy == "legacy":
            return LegacyPolicy()
        return None

    def _make_excitation(self, path: str | Path) -> ExcitationRun:
        """The plan at ``path`` checked against the site (:func:`load_excitation`), run with the fallback policy."""
        from coolpilot.controller.policies.excitation import ExcitationError, ExcitationRun, load_excitation

        if self.fallback is None:
            raise ExcitationError(f"{path}: an excitation plan needs a fallback policy to hold the setpoints the plan "
                                  f"leaves and to take over after it; site {self.site.name} has fallback_policy: none")
        mapped = self.site.adapter.setpoint_names or self.contract.setpoint_names
        plan = load_excitation(path, self.contract, mapped, self.site.safety)
        fallback_names = (self.fallback.settings.setpoint_names if isinstance(self.fallback, RuleBasedPolicy)
                          else SETPOINT_NAMES)
        names = tuple(n for n in self.contract.setpoint_names if n in mapped
                      and (n in plan.baseline or n in fallback_names))
        return ExcitationRun(plan, str(path), self.fallback.name, names, self.site.safety.guard_c)

    def _commanded(self, policy: OnnxPolicy | None,
                   fallback: RuleBasedPolicy | LegacyPolicy | None) -> Contract:
        """What the service commands with ``policy``: the mapped points; the mapped setpoints it proposes.

        Raises :class:`BundleError` when the site's map leaves out a point the model or the fallback
        reads, or none of the model's setpoints is mapped (naming them).
        """
        mapped_points = self.site.adapter.point_names or self.contract.point_names
        mapped_setpoints = self.site.adapter.setpoint_names or self.contract.setpoint_names
        problems = []
        for who, p in (("the model", policy), ("the fallback policy", fallback)):
            missing = [n for n in policy_points(p) if n not in mapped_points]
            if missing:
                problems.append(f"{who} reads points {missing}, which the site's adapter.{self.site.adapter.kind} map "
                                "leaves out")
        proposed = policy.setpoint_names if policy is not None else self.contract.setpoint_names
        if self.excitation is not None:  # the plan proposes in place of the model
            proposed = self.excitation.setpoint_names
        setpoints = [n for n in proposed if n in mapped_setpoints]
        if not setpoints:
            problems.append(f"the site maps none of the setpoints {list(proposed)}")
        if problems:
            raise BundleError(f"site {self.site.name} (facility {self.facility_name}): " + "; ".join(problems))
        return sub_contract(self.contract, mapped_points, setpoints)

    def _initial_mode(self) -> str:
        changes = self.audit.mode_changes(limit=1)
        if changes:
            mode = str(changes[0]["new"])
            if mode in MODES:
                log.info("resuming in mode %s (last recorded change)", mode)
                return mode
        return self.site.mode

    @property
    def model_sha256(self) -> str | None:
        """sha256 of the running bundle's graph."""
        return self.policy.sha256 if self.policy is not None else None

    @property
    def hung_workers(self) -> int:
        """Inference threads abandoned past their time limit that have not returned yet."""
        return self._runner.hung

    def _snapshot(self) -> Snapshot:
        return Snapshot(mode=self.mode, cycle=self.cycle, connected=self.connected, policy=self.policy,
                        model_health=self.model_health, overrides=MappingProxyType(dict(self.overrides)),
                        envelope=self.state, last=self.last, commanded=self.commanded,
                        drift=self.drift.status() if self.drift is not None else None,
                        excitation=self.last.excitation if self.last is not None else None)

    def _publish(self) -> None:
        """Make the current state what readers see (called under the lock, at the end of a cycle or command)."""
        self.snapshot = self._snapshot()

    # --- operator actions (each takes the loop's lock) ------------------------------
    async def set_mode(self, mode: str, who: str, why: str) -> str:
        """Change mode, recorded with who and why; leaving active hands the setpoints back at once.

        Returns the mode it replaced.
        """
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
        async with self._lock:
            old = self._change_mode(mode, who, why)
            if old == "active" and mode in ("shadow", "off", "fallback") and self.connected:
                await self._relinquish_all()
            self._publish()
        return old

    def _change_mode(self, mode: str, who: str, why: str) -> str:
        """Record and make the mode change (under the lock; the caller hands setpoints back). Returns the old mode."""
        old = self.mode
        self.audit.record_mode_change(self.clock(), self.run_id, old, mode, who, why)
        self.mode = mode
        log.info("mode %s -> %s by %s: %s", old, mode, who, why)
        return old

    async def set_override(self, name: str, value: float, duration_s: float, who: str, why: str) -> Override:
        """Hold setpoint ``name`` at ``value`` for ``duration_s`` seconds (still bounded by the envelope).

        ``name`` must be a setpoint the service commands (:attr:`commanded`): one the plant's own sequence
        runs cannot be overridden from here.
        """
        spec = self.contract.setpoints_by_name.get(name)
        if spec is None:
            raise ValueError(f"setpoint {name!r} is not in facility {self.facility_name}'s contract "
                             f"({', '.join(self.contract.setpoint_names)})")
        if name not in self.commanded.setpoints_by_name:
            raise ValueError(f"setpoint {name!r} is not commanded by this service (the site's map or the model "
                             f"leave it to the plant's own sequence); it commands "
                             f"{', '.join(self.commanded.setpoint_names)}")
        if not math.isfinite(value) or not spec.low <= value <= spec.high:
            raise ValueError(f"override {name} = {value} {spec.unit} outside {spec.low}..{spec.high} {spec.unit}")
        if not 0.0 < duration_s <= MAX_OVERRIDE_S:
            raise ValueError(f"override duration {duration_s} s must be in (0, {MAX_OVERRIDE_S:.0f}] s")
        async with self._lock:
            now = self.clock()
            ov = Override(float(value), now + duration_s, who, why)
            self.audit.record_override_change(now, self.run_id, name, "set", ov.value, ov.expires_s, who, why)
            self.overrides[name] = ov
            self._publish()
        log.info("override %s = %g %s for %g s by %s: %s", name, value, spec.unit, duration_s, who, why)
        return ov

    async def clear_override(self, name: str, who: str = "", why: str = "") -> bool:
        """Remove an override (recorded with who and why, "" where not given); False if there was none."""
        async with self._lock:
            cleared = name in self.overrides
            if cleared:
                self.audit.record_override_change(self.clock(), self.run_id, name, "clear", None, None, who, why)
                del self.overrides[name]
            self._publish()
        return cleared

    def active_overrides(self) -> dict[str, float]:
        """Overrides not yet expired, dropping expired ones (the loop calls it under the lock)."""
        now = self.clock()
        for name in [n for n, o in self.overrides.items() if o.expires_s <= now]:
            del self.overrides[name]
        return {n: o.value for n, o in self.overrides.items()}

    async def reload_model(self, path: str | None = None) -> OnnxPolicy:
        """Load a bundle (verified against its card and the contract) and install it; on error the old one stays.

        Loading runs on a worker thread, off the lock, while cycles go on; see :meth:`install_model`.
        """
        target = path or self.site.model
        if target is None:
            raise BundleError("no model path given and the site names none")
        load = functools.partial(OnnxPolicy, facility=self.contract, facility_name=self.facility_name)
        try:
            new = await self._runner.call_once(load, Path(target), RELOAD_TIMEOUT_S)
        except TimeoutError:
            raise BundleError(f"{target}: loading took longer than {RELOAD_TIMEOUT_S:g} s; old model kept") from None
        except WorkersExhaustedError as err:
            raise BundleError(f"{target}: not loaded: {err}") from None
        return await self.install_model(new)

    async def install_model(self, policy: OnnxPolicy) -> OnnxPolicy:
        """Make ``policy`` the running model if it fits and answers a trial inference in time; clears an unhealthy mark.

        The bundle must fit the facility's contract and the site's map (its points mapped). The
        trial (the middle of every training range, on a worker thread of its own, within
        ``model_timeout_s``) runs off the lock; only the swap takes it. Setpoints the new model
        does not command are relinquished (active mode). Raises
        :class:`~coolpilot.controller.policies.onnx_policy.BundleError` (and keeps the old model) when
        it does not fit, or the trial times out, raises or does not return finite setpoints.
        """
        policy.check_fits(self.contract, self.facility_name)
        fallback = self._make_fallback(policy)
        commanded = self._commanded(policy, fallback)
        await self._trial(policy)
        async with self._lock:
            dropped = [n for n in self.commanded.setpoint_names if n not in commanded.setpoints_by_name]
            self.policy, self.fallback, self.commanded = policy, fallback, commanded
            self.model_health = HEALTHY
            if dropped and self.mode == "active" and self.connected:
                await self._relinquish(dropped)
            self._publish()
        log.info("model installed: %s sha256 %s", policy.name, policy.sha256)
        return policy

    async def _trial(self, policy: OnnxPolicy) -> None:
        points = {name: (low + high) / 2.0 for name, (low, high) in policy.training_ranges.items()}
        limit = self.site.model_timeout_s
        try:
            out = await self._runner.call_once(policy.act, points, limit)
        except TimeoutError:
            raise BundleError(f"{policy.path}: no answer to a trial inference within {limit:g} s "
                              f"(model_timeout_s); old model kept") from None
        except WorkersExhaustedError as err:
            raise BundleError(f"{policy.path}: trial inference not run: {err}") from None
        except Exception as err:  # whatever the model raises, the bundle is refused with it
            raise BundleError(f"{policy.path}: trial inference failed: {type(err).__name__}: {err}") from None
        values = _jsonable(out)
        if not (isinstance(values, dict) and set(values) == set(policy.setpoint_names)
                and all(math.isfinite(v) for v in values.values())):
            raise BundleError(f"{policy.path}: a trial inference at the middle of the training ranges returned "
                              f"{values!r}, not finite values of {', '.join(policy.setpoint_names)}; old model kept")

    # --- the loop -----------------------------------------------------------------
    async def _infer(self, policy: OnnxPolicy, points: dict[str, float], now: float
                     ) -> tuple[dict[str, float] | ModelError, bool]:
        """The policy's proposal within the time limit (errors as ModelError), and whether it timed out."""
        limit = self.site.model_timeout_s
        try:
            proposal = await self._runner.call(policy.act, points, limit)
        except TimeoutError:
            self._count_timeout(policy, now, f"inference took longer than {limit:g} s")
            return ModelError(f"inference took longer than {limit:g} s (call abandoned)"), True
        except WorkersExhaustedError as err:
            self._count_timeout(policy, now, str(err))
            return ModelError(f"not inferred: {err}"), True
        except Exception as err:  # any failure of the model is recorded, never raised into the loop
            self._answered()
            return ModelError(f"{type(err).__name__}: {err}"), False
        self._answered()
        return proposal, False

    def _answered(self) -> None:
        """The model answered (a result or an error): its timeouts are no longer in a row."""
        if self.model_health.consecutive_timeouts:
            self.model_health = replace(self.model_health, consecutive_timeouts=0)

    def _count_timeout(self, policy: OnnxPolicy, now: float, what: str) -> None:
        """One more timeout in a row; ``model_unhealthy_after`` of them mark the model unhealthy."""
        h = self.model_health
        in_row, limit = h.consecutive_timeouts + 1, self.site.model_unhealthy_after
        if in_row < limit:
            self.model_health = replace(h, consecutive_timeouts=in_row, timeouts_total=h.timeouts_total + 1)
            return
        detail = (f"{in_row} inference timeouts in a row (model_unhealthy_after = {limit}; last: {what}); the model "
                  f"is not called until a model is reloaded")
        self.model_health = ModelHealth(healthy=False, consecutive_timeouts=in_row,
                                        timeouts_total=h.timeouts_total + 1, unhealthy_since_s=now, detail=detail)
        log.error("model %s (sha256 %s) marked unhealthy: %s", policy.name, policy.sha256, detail)

    async def run_cycle(self) -> CycleOutcome:
        """One control cycle (what the loop runs every period), under the lock from read to record."""
        async with self._lock:
            outcome = await self._cycle()
            self._publish()
        return outcome

    async def _propose(self, policy: OnnxPolicy | None, points: dict[str, float], now: float
                       ) -> tuple[dict[str, float] | ModelError, bool]:
        """The model's proposal, or why there is none; and whether its call timed out."""
        if policy is None:
            return ModelError("no model loaded"), False
        if not self.model_health.healthy:
            return ModelError(f"not inferred: model unhealthy: {self.model_health.detail}"), False
        return await self._infer(policy, points, now)

    async def _cycle(self) -> CycleOutcome:
        start = time.perf_counter()
        now = self.clock()
        self.cycle += 1
        mode = self.mode
        policy = self.policy
        try:
            if not self.connected:
                await self.adapter.connect()
            reading = await self.adapter.read_points()
            self.connected = True
        except AdapterError as err:
            log.warning("cycle %d: cannot read points: %s", self.cycle, err)
            reading = Reading()
            self.connected = False
        decision: Decision | None = None
        raw: dict[str, float] | str | None = None
        timed_out = False
        notes: list[tuple[str, str, str]] = []
        drift_events: tuple[DriftEvent, ...] = ()
        if self.drift is not None and mode != "off" and reading.values:
            drift_events = tuple(self.drift.observe(reading.values, now, self.site.period_s))
            notes += [(e.kind if e.kind == "drift" else "drift_cleared", e.point.name, e.detail) for e in drift_events]
            mode = self._fall_back_on_drift(mode, drift_events)
        excitation = None
        if mode != "off":
            points = _finite_points(reading.values, self.commanded.point_names)
            proposal: object
            ranges = self.policy.training_ranges if self.policy is not None else None
            bad = [n for n in policy_points(policy) if n not in points]
            fallback_sp = None
            if self.fallback is not None and all(n in points for n in policy_points(self.fallback)):
                fallback_sp = self.fallback.act(points)
            if self.excitation is not None:  # the plan proposes in place of the model (no training ranges)
                step = self.excitation.step(points, local_time_s(now, reading.values), self.state.last_written,
                                            fallback_sp)
                proposal, ranges, excitation = step.setpoints, None, step.status
                notes += step.notes
            elif bad:
                proposal = ModelError(f"not inferred: points missing or not finite: {', '.join(bad)}")
            else:
                proposal, timed_out = await self._propose(policy, points, now)
            raw = proposal.message if isinstance(proposal, ModelError) else _jsonable(proposal)
            decision = decide(reading.values, reading.times_s, now, proposal, self.state, self.site.safety,
                              self.site.rate_period_s or self.site.period_s, ranges, fallback_sp,
                              self.active_overrides(),
                              write_safe=mode == "fallback" and self.site.fallback_action == "safe_setpoints",
                              contract=self.commanded)
            self.state = decision.state
        latency_ms = (time.perf_counter() - start) * 1000.0
        wrote, errors = await self._act(mode, decision)
        points_read = {n: (v if isinstance(v, int | float) and not isinstance(v, bool) else None)
                       for n, v in reading.values.items()}
        twin_error = self._predict(mode, reading, decision if wrote else None, now)
        if twin_error:
            notes.append(("drift_twin_error", "twin", twin_error))
        outcome = CycleOutcome(self.cycle, now, mode, decision, raw, wrote, errors, latency_ms,
                               model_sha256=(policy.sha256 if policy is not None and self.excitation is None
                                             else None),
                               model_timed_out=timed_out, model_health=self.model_health, points=points_read,
                               drift=self.drift.status() if self.drift is not None else None,
                               drift_events=drift_events, twin_error=twin_error, excitation=excitation,
                               notes=tuple(notes))
        self._record(outcome)
        self.last = outcome
        for listener in self.listeners:
            listener(outcome)
        return outcome

    def _fall_back_on_drift(self, mode: str, events: tuple[DriftEvent, ...]) -> str:
        """With ``on_drift: fallback``, an active service goes to fallback mode at a drift event, recorded as an
        operator's change would be (who: ``drift-monitor``); returns the mode this cycle runs in."""
        started = [e for e in events if e.kind == "drift"]
        if not started or mode != "active" or self.site.drift is None or self.site.drift.on_drift != "fallback":
            return mode
        self._change_mode("fallback", "drift-monitor", started[0].reason)
        return "fallback"

    def _predict(self, mode: str, reading: Reading, written: Decision | None, now: float) -> str:
        """The drift monitor's prediction of the next reading under the setpoints in force; its twin error or ""."""
        if self.drift is None:
            return ""
        if mode == "off" or not reading.values:
            self.drift.forget_prediction()
            return ""
        held = held_setpoints(reading.values, written.setpoints if written is not None else None,
                              self.contract.setpoint_names)
        return self.drift.predict(reading.values, held, now, local_time_s(now, reading.values))

    async def _act(self, mode: str, decision: Decision | None) -> tuple[bool, dict[str, str]]:
        """Write what the mode allows; returns whether anything was written and the refusals."""
        result: WriteResult | None = None
        try:
            if mode == "active" and decision is not None:
                if decision.setpoints is None:
                    result = await self.adapter.relinquish(list(self.commanded.setpoint_names))
                else:
                    result = await self.adapter.write_setpoints(decision.setpoints)
                    if decision.relinquished:  # a fallback that commands fewer setpoints hands the others back
                        handed = await self.adapter.relinquish(list(decision.relinquished))
                        result = WriteResult({**result.accepted, **handed.accepted}, {**result.errors,
                                                                                      **handed.errors})
            elif mode == "fallback":
                safe = decision.setpoints if decision is not None else None  # the safe action: never warmer than now
                if self.site.fallback_action == "safe_setpoints" and safe is not None:
                    result = await self.adapter.write_setpoints(safe)
                else:
                    result = await self.adapter.relinquish(list(self.commanded.setpoint_names))
        except AdapterError as err:
            log.warning("cycle %d: write failed: %s", self.cycle, err)
            return False, {"adapter": str(err)}
        if result is None:
            return False, {}
        return any(result.accepted.values()), dict(result.errors)

    def _record(self, outcome: CycleOutcome) -> None:
        d = outcome.decision
        interventions = [{"reason": i.reason, "target": i.target, "detail": i.detail}
                         for i in (d.interventions if d is not None else ())]
        for name, err in outcome.write_errors.items():
            interventions.append({"reason": "write_refused", "target": name, "detail": err})
        if not outcome.model_health.healthy:
            interventions.append({"reason": "model_unhealthy", "target": "model",
                                  "detail": outcome.model_health.detail})
        interventions += [{"reason": r, "target": t, "detail": detail} for r, t, detail in outcome.notes]
        self.audit.record(DecisionRecord(
            cycle=outcome.cycle, run_id=self.run_id, time_s=outcome.time_s, mode=outcome.mode,
            source=d.source if d is not None else "off", points=outcome.points,
            raw_output=outcome.raw_output,
            written=(d.setpoints if d is not None and outcome.wrote else None),
            interventions=interventions, model_sha256=outcome.model_sha256, latency_ms=outcome.latency_ms,
            wrote=outcome.wrote,
        ))

    async def _relinquish_all(self) -> None:
        await self._relinquish(list(self.commanded.setpoint_names))

    async def _relinquish(self, names: list[str]) -> None:
        try:
            await self.adapter.relinquish(names)
        except AdapterError as err:
            log.warning("relinquish of %s failed: %s", ", ".join(names), err)

    async def run(self, cycles: int | None = None) -> None:
        """Connect, then run cycles every ``period_s`` until :meth:`stop` (or ``cycles`` cycles).

        Cycles keep the phase of the first one; a cycle that overruns its period (a slow plant,
        a model call up to its time limit) makes the loop skip the periods it missed rather than
        run them back to back.
        """
        try:
            await self.adapter.connect()
            self.connected = True
        except AdapterError as err:  # the loop keeps trying every cycle, recording each one
            log.warning("plant not reachable at start (%s); retrying every cycle", err)
        period = self.site.period_s
        done = 0
        next_s = time.monotonic()
        try:
            while not self._stop.is_set() and (cycles is None or done < cycles):
                await self.run_cycle()
                done += 1
                next_s += period
                late_s = time.monotonic() - next_s
                if late_s > 0.0:
                    next_s += math.ceil(late_s / period) * period
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, next_s - time.monotonic()))
        finally:
            await self.shutdown()

    def stop(self) -> None:
        """Ask the loop to end after the current cycle."""
        self._stop.set()

    async def shutdown(self) -> None:
        """Hand setpoints back (if configured and we were writing), close adapter and audit.

        A hung inference thread is not waited for: it is a daemon, left to the process's exit.
        """
        if self.site.relinquish_on_shutdown and self.mode == "active":
            await self._relinquish_all()
        await self.adapter.close()
        self._runner.close()
        self.audit.close()


def _jsonable(proposal: object) -> dict[str, float] | str:
    """The raw proposal as a mapping of floats, or a short description of garbage."""
    if isinstance(proposal, Mapping):
        out: dict[str, float] = {}
        for k, v in proposal.items():
            try:
                out[str(k)] = float(v)
            except (TypeError, ValueError):
                return repr(proposal)[:500]
        return out
    return repr(proposal)[:500]
