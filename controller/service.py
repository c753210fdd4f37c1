"""The control loop of ``coolpilot serve``: read → validate → infer → envelope → write → audit.

One :class:`ControllerService` per site. Every ``period_s`` it reads the points through the
adapter, asks the policy (the ONNX bundle, with a time limit, in a worker thread so a
hung model cannot stall the loop) and the fallback policy, passes both through the safety
envelope (``controller.safety.decide``), writes what the mode allows and records the
decision in the audit trail before the next cycle starts. Nothing in here imports torch or
the simulator.

Modes: ``shadow`` decides and records, never writes (the default at first start);
``active`` writes; ``fallback`` hands control to the site (relinquish, or the safe
setpoints if the site says so); ``off`` records the cycle and does nothing else. The mode
survives restarts (the last mode change in the audit trail wins over the site file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.adapters.base import Adapter, AdapterError, Reading, WriteResult
from controller.audit import AuditStore, DecisionRecord
from controller.policies import LegacyPolicy, RuleBasedPolicy, RuleBasedSettings
from controller.policies.onnx_policy import BundleError, OnnxPolicy
from controller.safety import Decision, EnvelopeState, ModelError, decide, initial_state
from controller.site import MODES, SiteConfig
from envs.contract import POINT_NAMES, SETPOINT_NAMES, SETPOINTS_BY_NAME

log = logging.getLogger(__name__)


@dataclass
class Override:
    """An operator's setpoint override, until ``expires_s`` (unix time)."""

    value: float
    expires_s: float
    who: str
    why: str


@dataclass
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


def _finite_points(values: Mapping[str, object]) -> dict[str, float] | None:
    """All contract points as floats, or None if any is missing or not a finite number."""
    out: dict[str, float] = {}
    for name in POINT_NAMES:
        v = values.get(name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            return None
        out[name] = float(v)
    return out


def fallback_settings(policy: OnnxPolicy | None) -> RuleBasedSettings:
    """The rule-based fallback's commissioning: the bundle's own base when it has one, else defaults."""
    if policy is not None:
        action = policy.card.get("action", {})
        settings = action.get("rule_based_settings") if isinstance(action, dict) else None
        if isinstance(settings, dict):
            try:
                return RuleBasedSettings(**settings)
            except TypeError:
                log.warning("bundle %s: rule_based_settings not understood; fallback uses defaults", policy.name)
    return RuleBasedSettings()


class ControllerService:
    """The control loop of one site, with its mode, overrides, model, audit trail and metrics."""

    def __init__(self, site: SiteConfig, adapter: Adapter, audit: AuditStore | None = None,
                 clock: Any = time.time) -> None:
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
        self.policy: OnnxPolicy | None = OnnxPolicy(site.model) if site.model else None
        self.fallback = self._make_fallback()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coolpilot-infer")
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self.mode = self._initial_mode()
        self.listeners: list[Any] = []
        """Callables ``f(outcome)`` run after every cycle (metrics)."""

    # --- setup ------------------------------------------------------------------
    def _make_fallback(self) -> RuleBasedPolicy | LegacyPolicy | None:
        if self.site.fallback_policy == "rule-based":
            return RuleBasedPolicy(fallback_settings(self.policy))
        if self.site.fallback_policy == "legacy":
            return LegacyPolicy()
        return None

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

    # --- operator actions ---------------------------------------------------------
    async def set_mode(self, mode: str, who: str, why: str) -> None:
        """Change mode, recorded with who and why; leaving active hands the setpoints back at once."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
        async with self._lock:
            old = self.mode
            self.audit.record_mode_change(self.clock(), self.run_id, old, mode, who, why)
            self.mode = mode
            log.info("mode %s -> %s by %s: %s", old, mode, who, why)
            if old == "active" and mode in ("shadow", "off", "fallback") and self.connected:
                await self._relinquish_all()

    def set_override(self, name: str, value: float, duration_s: float, who: str, why: str) -> Override:
        """Hold setpoint ``name`` at ``value`` for ``duration_s`` (still bounded by the envelope)."""
        if name not in SETPOINTS_BY_NAME:
            raise ValueError(f"setpoint {name!r} is not in the contract ({', '.join(SETPOINT_NAMES)})")
        spec = SETPOINTS_BY_NAME[name]
        if not math.isfinite(value) or not spec.low <= value <= spec.high:
            raise ValueError(f"override {name} = {value} {spec.unit} outside {spec.low}..{spec.high} {spec.unit}")
        if not 0.0 < duration_s <= 7 * 86400.0:
            raise ValueError(f"override duration {duration_s} s must be in (0, 604800] s")
        ov = Override(float(value), self.clock() + duration_s, who, why)
        self.overrides[name] = ov
        return ov

    def clear_override(self, name: str) -> bool:
        """Remove an override; False if there was none."""
        return self.overrides.pop(name, None) is not None

    def active_overrides(self) -> dict[str, float]:
        """Overrides not yet expired (expired ones are dropped)."""
        now = self.clock()
        for name in [n for n, o in self.overrides.items() if o.expires_s <= now]:
            del self.overrides[name]
        return {n: o.value for n, o in self.overrides.items()}

    def reload_model(self, path: str | None = None) -> OnnxPolicy:
        """Load a bundle (verified against its card and the contract) and swap it in; on error the old one stays."""
        target = path or self.site.model
        if target is None:
            raise BundleError("no model path given and the site names none")
        new = OnnxPolicy(Path(target))
        self.policy = new
        self.fallback = self._make_fallback()
        log.info("model reloaded: %s sha256 %s", new.name, new.sha256)
        return new

    # --- the loop -----------------------------------------------------------------
    async def _infer(self, points: dict[str, float]) -> dict[str, float] | ModelError:
        """The policy's proposal within the time limit; errors come back as ModelError."""
        policy = self.policy
        if policy is None:
            return ModelError("no model loaded")
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, policy.act, points),
                                          timeout=self.site.model_timeout_s)
        except TimeoutError:
            return ModelError(f"inference took longer than {self.site.model_timeout_s} s")
        except Exception as err:  # any failure of the model is recorded, never raised into the loop
            return ModelError(f"{type(err).__name__}: {err}")

    async def run_cycle(self) -> CycleOutcome:
        """One control cycle (what the loop runs every period)."""
        async with self._lock:
            return await self._cycle()

    async def _cycle(self) -> CycleOutcome:
        start = time.perf_counter()
        now = self.clock()
        self.cycle += 1
        mode = self.mode
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
        if mode != "off":
            points = _finite_points(reading.values)
            proposal: object
            if points is None:
                bad = [n for n in POINT_NAMES if _finite_points({**dict.fromkeys(POINT_NAMES, 0.0),
                                                                 n: reading.values.get(n)}) is None]
                proposal = ModelError(f"not inferred: points missing or not finite: {', '.join(bad)}")
                fallback_sp = None
            else:
                proposal = await self._infer(points)
                fallback_sp = self.fallback.act(points) if self.fallback is not None else None
            raw = proposal.message if isinstance(proposal, ModelError) else _jsonable(proposal)
            ranges = self.policy.training_ranges if self.policy is not None else None
            decision = decide(reading.values, reading.times_s, now, proposal, self.state, self.site.safety,
                              self.site.rate_period_s or self.site.period_s, ranges, fallback_sp,
                              self.active_overrides(),
                              write_safe=mode == "fallback" and self.site.fallback_action == "safe_setpoints")
            self.state = decision.state
        latency_ms = (time.perf_counter() - start) * 1000.0
        wrote, errors = await self._act(mode, decision)
        outcome = CycleOutcome(self.cycle, now, mode, decision, raw, wrote, errors, latency_ms)
        self._record(outcome, reading)
        self.last = outcome
        for listener in self.listeners:
            listener(outcome)
        return outcome

    async def _act(self, mode: str, decision: Decision | None) -> tuple[bool, dict[str, str]]:
        """Write what the mode allows; returns whether anything was written and the refusals."""
        result: WriteResult | None = None
        try:
            if mode == "active" and decision is not None:
                if decision.setpoints is None:
                    result = await self.adapter.relinquish(list(SETPOINT_NAMES))
                else:
                    result = await self.adapter.write_setpoints(decision.setpoints)
            elif mode == "fallback":
                safe = decision.setpoints if decision is not None else None  # the safe action: never warmer than now
                if self.site.fallback_action == "safe_setpoints" and safe is not None:
                    result = await self.adapter.write_setpoints(safe)
                else:
                    result = await self.adapter.relinquish(list(SETPOINT_NAMES))
        except AdapterError as err:
            log.warning("cycle %d: write failed: %s", self.cycle, err)
            return False, {"adapter": str(err)}
        if result is None:
            return False, {}
        return any(result.accepted.values()), dict(result.errors)

    def _record(self, outcome: CycleOutcome, reading: Reading) -> None:
        d = outcome.decision
        interventions = [{"reason": i.reason, "target": i.target, "detail": i.detail}
                         for i in (d.interventions if d is not None else ())]
        for name, err in outcome.write_errors.items():
            interventions.append({"reason": "write_refused", "target": name, "detail": err})
        points = {n: (v if isinstance(v, int | float) and not isinstance(v, bool) else None)
                  for n, v in reading.values.items()}
        self.audit.record(DecisionRecord(
            cycle=outcome.cycle, run_id=self.run_id, time_s=outcome.time_s, mode=outcome.mode,
            source=d.source if d is not None else "off", points=points,
            raw_output=outcome.raw_output,
            written=(d.setpoints if d is not None and outcome.wrote else None),
            interventions=interventions, model_sha256=self.model_sha256, latency_ms=outcome.latency_ms,
            wrote=outcome.wrote,
        ))

    async def _relinquish_all(self) -> None:
        try:
            await self.adapter.relinquish(list(SETPOINT_NAMES))
        except AdapterError as err:
            log.warning("relinquish failed: %s", err)

    async def run(self, cycles: int | None = None) -> None:
        """Connect, then run cycles every ``period_s`` until :meth:`stop` (or ``cycles`` cycles)."""
        try:
            await self.adapter.connect()
            self.connected = True
        except AdapterError as err:  # the loop keeps trying every cycle, recording each one
            log.warning("plant not reachable at start (%s); retrying every cycle", err)
        done = 0
        next_s = time.monotonic()
        try:
            while not self._stop.is_set() and (cycles is None or done < cycles):
                await self.run_cycle()
                done += 1
                next_s += self.site.period_s
                delay = max(0.0, next_s - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
        finally:
            await self.shutdown()

    def stop(self) -> None:
        """Ask the loop to end after the current cycle."""
        self._stop.set()

    async def shutdown(self) -> None:
        """Hand setpoints back (if configured and we were writing), close adapter and audit."""
        if self.site.relinquish_on_shutdown and self.mode == "active":
            await self._relinquish_all()
        await self.adapter.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
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
