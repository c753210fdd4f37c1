"""The safety envelope: what a policy proposes becomes what may be written, with every intervention explained.

:func:`decide` is a pure function (no I/O, no clock: the time is an argument, the memory
between decisions is the immutable :class:`EnvelopeState` it takes and returns). Whatever
the inputs hold (missing, NaN, infinite or absurd readings; a model that raised, timed
out or returned garbage), the setpoints it returns are finite, inside the hard bounds and
within the rate limit of the last written ones, or ``None``: relinquish, the site's own
control takes over. Each rule that changes anything adds an :class:`Intervention` whose
``reason`` is a code of :data:`REASONS`, for the audit trail and the metrics.

**The rules come from the contract.** Every per-setpoint rule reads the setpoint's
:class:`~coolpilot.envs.contract.SetpointSpec` in the site's facility contract (contract
version 2: the contract follows the equipment): hard bounds and slew rate (``low``,
``high``, ``slew_per_min``), which way cools more (``cooling_direction``), the configured
safe value (``safe``), the point that measures what the plant holds now (``measured_by``),
whole steps (``discrete``) and whether its warm side ends free cooling
(``ends_free_cooling``). :class:`SafetyLimits` is validated against that contract (a site
names only its contract's setpoints) and may only tighten it. A decision enforces a
contract (``decide(..., contract=...)``, default the limits' own): the points it checks and
the setpoints it writes. The service passes the part of the facility's contract it
commands (:func:`sub_contract`): the points the site reads and the setpoints the site maps
and the policy proposes (a contract-1 bundle proposes the core block's four); every other
setpoint is never written and runs on the plant's own local sequence.

The rules, in order (DESIGN.md section 5):

1. **Sensors.** Every point of the decision's contract (and always the critical ones) is
   checked: present, a finite real number, inside its physical range, fresh (timestamp
   within ``stale_after_s`` of ``now_s``), not stuck (the same value ``stuck_after`` cycles
   in a row; a point that measures a setpoint and reads what was last written is a loop
   holding its setpoint, not a frozen sensor, and does not count). A failed point sets
   ``sensors_ok=False``; a failed *critical* point (:data:`CRITICAL_POINTS`, the ones the
   policy's safety hinges on) means the proposal is not used.
2. **Out of distribution.** A healthy point beyond the card's training range by more than
   ``ood_margin_frac`` of the range's width is recorded; two or more such points and the
   proposal is not used.
3. **The proposal.** A mapping holding every setpoint of the decision's contract, or an
   array of shape ``(K,)`` in the contract's order, all finite (other setpoints of the
   facility's contract in a mapping are not commanded here and are ignored; names outside it
   make the proposal invalid). A :class:`ModelError` (inference raised or timed out) or
   anything else is a failed cycle. Failed or distrusted cycles in a row: up to
   ``hold_cycles`` of them hold the last written setpoints, after that the fallback policy's
   proposal is used, and without one the envelope relinquishes. A fallback policy may
   command only some of the setpoints (the legacy policy commands the core block's four):
   the others are handed back to the plant's own sequence (:attr:`Decision.relinquished`).
4. **Operator overrides** replace single setpoints of whatever the source proposed. An
   override is a proposal from a person, not a bypass: it passes through every rule
   below (hard bounds, thermal limit and guard, rate limit), so the plant reaches it as
   fast as the rate limits allow, and never while the hall is hot if it means less cooling.
   An override of a setpoint the decision does not command is not applied (and recorded).
5. **Hard bounds** clip each setpoint to ``limits.bounds``; a discrete setpoint is then
   rounded to a whole step (``economizer_enable``: on at ≥ 0.5, the plant's own reading).
6. **Thermal.** At or above ``limit_c`` at the hottest inlet the safe action (below) is
   written at once for every setpoint of the decision's contract, whatever the source (even
   instead of relinquishing): the rate limits do not apply. At or above ``guard_c`` (or when
   the hottest inlet is unknown) a setpoint may only stay or move toward more cooling (its
   ``cooling_direction``). A liquid-cooled hall's contract adds the hottest GPU case beside the
   inlet: ``case_limit_c`` and ``case_guard_c`` act the same way on ``case_temp_max_c``.
7. **Rate limits.** Every other move of a continuous setpoint is at most
   ``rate_per_min · period_s / 60`` from the reference: the last written value, else (first
   write, or after relinquishing) the measured value when that point is healthy, else no
   limit. A discrete setpoint cannot move by fractions: its rate is read as whole steps per
   minute, so one change at most every ``60 / rate_per_min`` seconds of plant time (the
   periods since its last written change, :attr:`EnvelopeState.held_s`); a change sooner is
   held at the reference. The contract's own rate for ``economizer_enable`` (10⁶ per minute)
   sets no such minimum (the plant holds each change 20 minutes itself); a site that wants
   the envelope to space changes gives a slower rate (0.05 per minute: one change per 20 min).
8. **Last check.** Every written value finite, within bounds and (discrete) a whole step,
   or the safe action (unreachable by construction; kept as the final line of defence).
   A discrete value taken from a reference that is not a whole step (a measurement between
   0 and 1) is rounded toward more cooling.

**The safe action: more cooling from where the plant is now, never less.** Each setpoint
gets the more cooling (``cooling_direction``) of its configured safe value
(``safe_setpoints``, default the contract's ``safe``) and its current state: the healthy
measurement of that setpoint (its ``measured_by`` point) and the last written setpoint,
whichever cools more (where the plant runs, and where it is being driven). So supply air
and chilled water only fall, fans, pumps' differential pressure and condenser flow only
rise, staging only moves toward more chillers and more tower cells, the economizer only
turns on, and condenser water never rises. That matters most in free cooling: the towers
make water near 10 °C for the waterside economizer, and a configured 29.4 °C (a chiller
plant's design condenser water) would end the economizer and start chillers exactly when
the hall is hottest. A configured value on the warm side of the current state is not
written: the current state is, and the intervention's detail says so. With neither a
healthy measurement nor a last write, the configured value is written, except for a
setpoint that ``ends_free_cooling`` while ``economizer_load_frac`` reads above zero: its
cooling-side bound (the towers' coldest) keeps the economizer carrying its load. Hard
bounds win over everything (a current state beyond a bound is written as that bound). The
service's fallback mode with ``fallback_action: safe_setpoints`` writes the same action
(``decide(..., write_safe=True)``), so the fallback cannot write a warmer setpoint than the
plant is running either.

Units are those of the contract's names: °C, fractions (1), seconds, cycles.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict

from coolpilot.envs.contract import (
    CORE_CONTRACT,
    INLET_LIMIT_C,
    POINT_SPECS,
    SETPOINT_SPECS,
    Contract,
    PointSpec,
    SetpointSpec,
)
from coolpilot.envs.validation import FieldProblem, FieldProblemsError, format_validation_error

REASONS: dict[str, str] = {
    "sensor_missing": "A contract point was not in the reading.",
    "sensor_nan": "A point's value is not a finite real number (None, text, NaN, ±inf).",
    "sensor_out_of_range": "A point's value is outside the physical range a healthy sensor can report.",
    "sensor_stale": "A point's timestamp is older (or further in the future) than stale_after_s, or missing.",
    "sensor_stuck": "A point read exactly the same value stuck_after cycles in a row.",
    "out_of_distribution": "A point lies beyond the policy's training range by more than the margin.",
    "model_error": "Inference raised or timed out (ModelError).",
    "model_invalid_output": "The proposal is not a complete set of finite setpoints.",
    "hard_bound": "A setpoint was clipped to its hard bounds.",
    "rate_limit": "A setpoint change was limited to the allowed rate (a discrete setpoint: held until its minimum "
                  "time between changes has passed).",
    "thermal_guard": "Near the inlet limit, a move toward less cooling was blocked (with no reference to tell "
                     "the direction from, the safe action's value was used).",
    "thermal_limit": "At the inlet limit, the safe action was written at once: each setpoint at its configured "
                     "safe value or, where that would cool less than the current state, held at the current "
                     "state (the setpoint's own intervention says which).",
    "fallback_safe": "Fallback mode with fallback_action safe_setpoints: the safe action was written, by the "
                     "same rule as at the inlet limit.",
    "hold_last_safe": "The proposal was not used; the last written setpoints are held.",
    "fallback_policy": "The proposal was not used; the fallback policy's proposal is used (setpoints it does not "
                       "command are handed back to the plant's own sequence).",
    "relinquish": "No usable proposal; control is handed back to the site.",
    "operator_override": "An operator override replaced (or could not replace) a setpoint.",
}
"""Every reason code an :class:`Intervention` may carry, with its meaning."""

CRITICAL_POINTS: tuple[str, ...] = ("inlet_temp_max_c", "inlet_temp_mean_c", "supply_air_temp_c")
"""Points without which the proposal is not used (the thermal state of the white space); always checked."""

INLET_POINTS: tuple[str, ...] = ("inlet_temp_max_c", "inlet_temp_mean_c")
"""Points giving (a lower bound of) the hottest server inlet temperature."""

CASE_POINT = "case_temp_max_c"
"""The hottest liquid-cooled GPU module case temperature (°C), in contracts with the liquid_cooling block."""

ECONOMIZER_POINT = "economizer_load_frac"
"""Share of the cooling load the waterside economizer carries (1); above zero means free cooling."""

DEFAULT_STUCK_POINTS: tuple[str, ...] = (
    "inlet_temp_max_c", "inlet_temp_mean_c", "return_air_temp_c", "chw_return_temp_c", "it_power_kw",
)
"""Points that always move a little on a live plant, so a frozen value means a frozen sensor.

Supply air and chilled-water supply are left out by default: a loop that holds its
setpoint well (the BMS's, while coolpilot only watches in shadow mode) reads the same
value cycle after cycle, and flagging that as a stuck sensor would distrust a healthy
plant. Sites with noisy enough sensors can add them in ``safety.stuck_points``."""

_TRACKING_TOL = 1e-6
"""Relative and absolute tolerance within which a reading equals the setpoint it tracks."""

_ALWAYS_CHECKED: tuple[PointSpec, ...] = tuple(POINT_SPECS[n] for n in CRITICAL_POINTS)
"""Points every decision checks, mapped by the site or not (a missing one is a failed critical sensor)."""


# --- records ------------------------------------------------------------------------


@dataclass(frozen=True)
class Intervention:
    """One thing the envelope did or found."""

    reason: str
    """A code of :data:`REASONS`."""
    target: str
    """The point or setpoint concerned, or ``""`` for the whole decision."""
    detail: str
    """What happened, with values and units, for a person reading the audit trail."""


@dataclass(frozen=True)
class ModelError:
    """What the caller passes as the proposal when inference raised or timed out."""

    message: str


@dataclass(frozen=True)
class EnvelopeState:
    """What one decision hands to the next (immutable: :func:`decide` returns a new one)."""

    last_written: dict[str, float] | None
    """The setpoints of the last decision, or None before the first and after relinquishing (a fallback
    that commands only some setpoints leaves the others out)."""
    history: dict[str, tuple[float, int]]
    """Per stuck-checked point: last value and how many cycles in a row it was read."""
    model_failures: int
    """Consecutive cycles whose proposal failed or was not trusted."""
    held_s: dict[str, float] = field(default_factory=dict)
    """Per discrete setpoint written: plant seconds (periods) it has held its value since it last changed."""


@dataclass(frozen=True)
class Decision:
    """The envelope's answer for one control period."""

    setpoints: dict[str, float] | None
    """What may be written (physical units); None means relinquish every setpoint of the decision's contract."""
    interventions: tuple[Intervention, ...]
    source: str
    """Where the setpoints come from: ``policy``, ``hold`` (last written), ``fallback``,
    ``safe`` (thermal limit), ``relinquish`` (none), or ``override`` when an operator
    override replaced at least one setpoint (its intervention names what it replaced)."""
    state: EnvelopeState
    sensors_ok: bool
    """Every checked point passed validation."""
    relinquished: tuple[str, ...] = ()
    """Setpoints of the decision's contract handed back to the plant's own sequence (all of them with
    ``setpoints`` None; those a fallback policy does not command otherwise)."""


def initial_state() -> EnvelopeState:
    """The state before the first decision: nothing written, no history, no failures."""
    return EnvelopeState(last_written=None, history={}, model_failures=0)


def sub_contract(contract: Contract, points: Collection[str] | None = None,
                 setpoints: Collection[str] | None = None) -> Contract:
    """The part of ``contract`` a decision enforces: these points and setpoints (default all), in contract order.

    The controller service reads the points its site maps and writes the setpoints its site maps and
    its policy proposes; the rest of the facility's contract is not its business (a setpoint it does
    not write runs on the plant's own sequence). Names outside ``contract`` are refused.
    """
    unknown = sorted(set(points or ()) - set(contract.point_names)) + sorted(
        set(setpoints or ()) - set(contract.setpoint_names))
    if unknown:
        raise ValueError(f"{unknown} are not in the contract (points {list(contract.point_names)}, setpoints "
                         f"{list(contract.setpoint_names)})")
    return Contract(
        blocks=contract.blocks,
        points=tuple(p for p in contract.points if points is None or p.name in points),
        setpoints=tuple(s for s in contract.setpoints if setpoints is None or s.name in setpoints),
        version=contract.version,
    )


# --- limits -------------------------------------------------------------------------


class SafetyConfigError(ValueError):
    """Safety limits are invalid; the message has one line per problem."""


# Unit and allowed range per setpoint key, for validation messages (the ``keys`` hook of coolpilot.envs.validation).
_KEYS_IN_BOUNDS: JsonDict = {s.name: {"unit": s.unit, "range": f"{s.low:g}..{s.high:g} {s.unit}"}
                             for s in SETPOINT_SPECS.values()}
_KEYS_RATES: JsonDict = {s.name: {"unit": f"{s.unit}/min", "range": f">0..{s.slew_per_min:g} {s.unit}/min"}
                         for s in SETPOINT_SPECS.values()}

_PER_SETPOINT = ("bounds", "rate_per_min", "safe_setpoints")


def _context_contract(info: ValidationInfo) -> Contract:
    """The contract the limits are validated against: ``context={"contract": ...}``, else the core block's."""
    context = info.context if isinstance(info.context, Mapping) else {}
    contract = context.get("contract", CORE_CONTRACT)
    if not isinstance(contract, Contract):
        raise TypeError(f"validation context 'contract' must be a Contract, got {type(contract).__name__}")
    return contract


def _defaults(contract: Contract, name: str) -> dict[str, Any]:
    """The contract's value of per-setpoint field ``name`` for each of its setpoints."""
    if name == "bounds":
        return {s.name: (s.low, s.high) for s in contract.setpoints}
    if name == "rate_per_min":
        return {s.name: s.slew_per_min for s in contract.setpoints}
    return {s.name: s.safe for s in contract.setpoints}


class SafetyLimits(BaseModel):
    """Limits of the safety envelope (the ``safety`` section of a site file), for one facility's contract.

    Per-setpoint mappings may name only some setpoints of the contract: the others keep the
    contract's values. Limits can only tighten the contract: bounds inside its hard bounds,
    rates at most its slew rates. ``SafetyLimits()`` are the core block's limits (contract
    version 1); :meth:`for_contract` (or validation with ``context={"contract": c}``, as the
    site file does) gives a facility's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    bounds: dict[str, tuple[float, float]] = Field(
        default_factory=dict, json_schema_extra={"keys": _KEYS_IN_BOUNDS},
        description="Hard bounds (low, high) per setpoint, in its unit (a discrete setpoint's in whole steps); "
                    "default and widest: the contract's.")
    rate_per_min: dict[str, float] = Field(
        default_factory=dict, json_schema_extra={"keys": _KEYS_RATES},
        description="Largest change per minute per setpoint (unit/min); the step per period is "
                    "rate_per_min·period_s/60 (a discrete setpoint: one whole step per 1/rate_per_min minutes). "
                    "Default and largest: the contract's slew_per_min.")
    guard_c: float = Field(26.0, ge=10.0, le=35.0, json_schema_extra={"unit": "°C"},
                           description="Hottest inlet at or above which setpoints only move toward more cooling.")
    limit_c: float = Field(INLET_LIMIT_C, ge=10.0, le=35.0, json_schema_extra={"unit": "°C"},
                           description="Hottest inlet at or above which the safe action is written at once "
                                       "(35 °C: ASHRAE class A2 allowable maximum).")
    safe_setpoints: dict[str, float] = Field(
        default_factory=dict, json_schema_extra={"keys": _KEYS_IN_BOUNDS},
        description="Configured safe value per setpoint, inside its bounds (default: the contract's safe value): "
                    "written at the thermal limit (and by fallback mode's safe_setpoints) where it cools at least "
                    "as much as the current state; where it would cool less, the current state is held instead.")
    stale_after_s: float = Field(900.0, gt=0.0, le=86400.0, json_schema_extra={"unit": "s"},
                                 description="A point whose timestamp is further than this from now is stale.")
    stuck_after: int = Field(12, ge=2, le=100000, json_schema_extra={"unit": "cycles"},
                             description="A stuck-checked point read exactly the same this many cycles in a row "
                                         "is stuck.")
    stuck_points: tuple[str, ...] = Field(DEFAULT_STUCK_POINTS, description="Points checked for being stuck.")
    ood_margin_frac: float = Field(0.1, ge=0.0, le=10.0, json_schema_extra={"unit": "1"},
                                   description="Margin beyond a training range, as a fraction of its width, "
                                               "before a point is out of distribution.")
    case_guard_c: float = Field(75.0, ge=30.0, le=120.0, json_schema_extra={"unit": "°C"},
                                description="Hottest liquid-cooled GPU case at or above which setpoints only move "
                                            "toward more cooling (contracts with the liquid_cooling block).")
    case_limit_c: float = Field(80.0, ge=30.0, le=120.0, json_schema_extra={"unit": "°C"},
                                description="Hottest GPU case at or above which the safe action is written at once "
                                            "(the facility's cold_plates.case_limit_c; default 80 °C).")
    hold_cycles: int = Field(2, ge=0, le=1000, json_schema_extra={"unit": "cycles"},
                             description="Failed or distrusted cycles during which the last setpoints are held "
                                         "before the fallback policy (or relinquish) takes over.")

    _contract: Contract = PrivateAttr(default=CORE_CONTRACT)

    @classmethod
    def default(cls) -> SafetyLimits:
        """The default limits of the core block (its bounds, slew rates and safe values)."""
        return cls()

    @classmethod
    def for_contract(cls, contract: Contract, **fields: Any) -> SafetyLimits:
        """Limits for ``contract`` (a facility's): ``fields`` as in a site file's ``safety`` section."""
        return cls.model_validate(fields, context={"contract": contract})

    @property
    def contract(self) -> Contract:
        """The contract these limits were validated against (the site's facility's)."""
        return self._contract

    @model_validator(mode="before")
    @classmethod
    def _contract_values(cls, data: Any, info: ValidationInfo) -> Any:
        """Per-setpoint mappings start from the contract's values; the given ones replace them."""
        if not isinstance(data, Mapping):
            return data
        contract = _context_contract(info)
        out = dict(data)
        for name in _PER_SETPOINT:
            given = out.get(name, {})
            if isinstance(given, Mapping):
                out[name] = {**_defaults(contract, name), **given}
        return out

    @field_validator("bounds", mode="after")
    @classmethod
    def _narrow_bounds(cls, value: dict[str, tuple[float, float]],
                       info: ValidationInfo) -> dict[str, tuple[float, float]]:
        contract = _context_contract(info)
        problems: list[FieldProblem] = []
        for name, (low, high) in value.items():
            spec = contract.setpoints_by_name.get(name)
            if spec is None:
                problems.append(_unknown_setpoint(name, f"({low:g}, {high:g})", contract))
            elif not spec.low <= low <= high <= spec.high:
                problems.append(FieldProblem(name, f"({low:g}, {high:g}) {spec.unit}",
                                             "bounds may only narrow the contract's hard bounds, low ≤ high",
                                             f"{spec.low:g}..{spec.high:g} {spec.unit}"))
            elif spec.discrete and not (low.is_integer() and high.is_integer()):
                problems.append(FieldProblem(name, f"({low:g}, {high:g}) {spec.unit}",
                                             "a discrete setpoint's bounds are whole steps",
                                             f"whole numbers in {spec.low:g}..{spec.high:g}"))
        _raise(problems)
        return value

    @field_validator("rate_per_min", mode="after")
    @classmethod
    def _slower_rates(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        contract = _context_contract(info)
        problems: list[FieldProblem] = []
        for name, rate in value.items():
            spec = contract.setpoints_by_name.get(name)
            if spec is None:
                problems.append(_unknown_setpoint(name, f"{rate:g}", contract))
            elif not 0.0 < rate <= spec.slew_per_min:
                problems.append(FieldProblem(name, f"{rate:g} {spec.unit}/min",
                                             "must be positive and at most the contract's slew rate",
                                             f">0..{spec.slew_per_min:g} {spec.unit}/min"))
        _raise(problems)
        return value

    @field_validator("safe_setpoints", mode="after")
    @classmethod
    def _known_safe_setpoints(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        contract = _context_contract(info)
        _raise([_unknown_setpoint(n, f"{v:g}", contract) for n, v in value.items()
                if n not in contract.setpoints_by_name])
        return value

    @field_validator("stuck_points", mode="after")
    @classmethod
    def _known_points(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        contract = _context_contract(info)
        _raise([FieldProblem(f"[{i}]", repr(n), "not a point of the contract", ", ".join(contract.point_names))
                for i, n in enumerate(value) if n not in contract.points_by_name])
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> SafetyLimits:
        contract = _context_contract(info)
        problems: list[FieldProblem] = []
        for name, value in self.safe_setpoints.items():
            low, high = self.bounds[name]
            spec = contract.setpoints_by_name[name]
            if not low <= value <= high:
                problems.append(FieldProblem(f"safe_setpoints.{name}", f"{value:g} {spec.unit}",
                                             "outside the hard bounds (give a safe value inside them)",
                                             f"{low:g}..{high:g} {spec.unit}"))
            elif spec.discrete and not value.is_integer():
                problems.append(FieldProblem(f"safe_setpoints.{name}", f"{value:g} {spec.unit}",
                                             "a discrete setpoint's safe value is a whole step",
                                             f"whole numbers in {low:g}..{high:g}"))
        if self.guard_c > self.limit_c:
            problems.append(FieldProblem("guard_c", f"{self.guard_c:g} °C", f"above limit_c = {self.limit_c:g} °C",
                                         f"10..{self.limit_c:g} °C"))
        if self.case_guard_c > self.case_limit_c:
            problems.append(FieldProblem("case_guard_c", f"{self.case_guard_c:g} °C",
                                         f"above case_limit_c = {self.case_limit_c:g} °C",
                                         f"30..{self.case_limit_c:g} °C"))
        _raise(problems)
        self._contract = contract
        return self

    def max_step(self, name: str, period_s: float) -> float:
        """Largest change of continuous setpoint ``name`` in one period of ``period_s`` seconds (its unit)."""
        return self.rate_per_min[name] * period_s / 60.0

    def min_hold_s(self, name: str) -> float:
        """Shortest plant time between two changes of discrete setpoint ``name`` (s): one step per 1/rate min."""
        return 60.0 / self.rate_per_min[name]


def _raise(problems: list[FieldProblem]) -> None:
    if problems:
        raise FieldProblemsError(problems)


def _unknown_setpoint(name: str, value: str, contract: Contract) -> FieldProblem:
    where = "another equipment block's setpoint, not one of this facility's contract" if name in SETPOINT_SPECS \
        else "not a setpoint of the contract"
    return FieldProblem(name, value, f"{where} (blocks {', '.join(contract.blocks)})",
                        ", ".join(contract.setpoint_names))


def limits_from_mapping(data: object, source: str = "<mapping>", contract: Contract = CORE_CONTRACT) -> SafetyLimits:
    """Validate a mapping (a site file's ``safety`` section) into :class:`SafetyLimits` for ``contract``.

    Raises :class:`SafetyConfigError` with one line per problem naming ``source``, the
    field, its value and unit, and the allowed range (``coolpilot.envs.validation``'s format, as
    for every config file of the project).
    """
    if not isinstance(data, Mapping):
        raise SafetyConfigError(f"{source}: safety limits must be a mapping, got {type(data).__name__}")
    try:
        return SafetyLimits.model_validate(dict(data), context={"contract": contract})
    except ValidationError as err:
        raise SafetyConfigError(format_validation_error(err, SafetyLimits, source, "safety limits")) from None


# --- helpers ------------------------------------------------------------------------


def _real(value: object) -> float | None:
    """``value`` as a finite float; None for anything else (None, text, bool, NaN, ±inf, arrays)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    try:
        x = float(value)
    except (OverflowError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _unit(name: str) -> str:
    spec = SETPOINT_SPECS.get(name) or POINT_SPECS.get(name)
    return spec.unit if spec is not None else ""


def _q(x: float, name: str) -> str:
    """A value with the unit of point or setpoint ``name`` (fractions bare)."""
    unit = _unit(name)
    return f"{x:.6g}" if unit in ("", "1") else f"{x:.6g} {unit}"


def _show(raw: object) -> str:
    """A short repr of a raw value for an intervention's detail (garbage can be long)."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 40
    short.maxlist = short.maxdict = short.maxtuple = 4
    try:
        return short.repr(raw)
    except Exception:  # a value whose repr fails (an int too long to print) must not stop the envelope
        return f"<unprintable {type(raw).__name__}>"


def _whole_step(x: float) -> float:
    """A discrete setpoint's proposal as a whole step (half up: ``economizer_enable`` is on at ≥ 0.5)."""
    return float(math.floor(x + 0.5))


def _whole_step_cooling(x: float, spec: SetpointSpec) -> float:
    """A discrete value that is not a whole step (a reference between steps), rounded toward more cooling."""
    return float(math.ceil(x) if spec.cooling_direction > 0 else math.floor(x))


# --- 1. sensors ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Sensors:
    valid: dict[str, float]
    """Points that passed every check."""
    readable: dict[str, float]
    """Points that are finite and physically possible, even if stale or stuck."""
    interventions: tuple[Intervention, ...]
    history: dict[str, tuple[float, int]]

    @property
    def failed(self) -> set[str]:
        return {i.target for i in self.interventions}


def _check_sensors(points: Mapping[str, object], times: Mapping[str, float] | None, now_s: float,
                   limits: SafetyLimits, state: EnvelopeState, contract: Contract) -> _Sensors:
    valid: dict[str, float] = {}
    readable: dict[str, float] = {}
    found: list[Intervention] = []
    history: dict[str, tuple[float, int]] = {}
    tracking = {s.measured_by: s.name for s in contract.setpoints}
    checked = (*contract.points, *(p for p in _ALWAYS_CHECKED if p.name not in contract.points_by_name))
    for spec in checked:
        name = spec.name
        if name not in points:
            found.append(Intervention("sensor_missing", name, f"{name} is not in the reading"))
            continue
        x = _real(points[name])
        if x is None:
            found.append(Intervention("sensor_nan", name, f"{name} = {_show(points[name])} is not a finite number"))
            continue
        if not spec.low <= x <= spec.high:
            found.append(Intervention("sensor_out_of_range", name, f"{name} = {_q(x, name)} outside the physical "
                                      f"range {_q(spec.low, name)}..{_q(spec.high, name)}"))
            continue
        readable[name] = x
        if name in limits.stuck_points:
            history[name] = _count_repeats(name, x, state, tracking.get(name))
        problem = _stale(name, times, now_s, limits) or _stuck(name, x, history, limits)
        if problem is not None:
            found.append(problem)
        else:
            valid[name] = x
    return _Sensors(valid, readable, tuple(found), history)


def _count_repeats(name: str, x: float, state: EnvelopeState, tracks: str | None) -> tuple[float, int]:
    """The point's (value, identical readings in a row).

    A point that measures a setpoint (``tracks``: the setpoint whose ``measured_by`` it is) and
    reads what was last written is a loop holding its setpoint, not a frozen sensor: its count
    restarts.
    """
    written = _real((state.last_written or {}).get(tracks or ""))
    if written is not None and math.isclose(x, written, rel_tol=_TRACKING_TOL, abs_tol=_TRACKING_TOL):
        return x, 0
    previous = state.history.get(name)
    return x, (previous[1] + 1 if previous is not None and previous[0] == x else 1)


def _stale(name: str, times: Mapping[str, float] | None, now_s: float, limits: SafetyLimits) -> Intervention | None:
    if times is None:
        return None
    t = _real(times.get(name))
    if t is None:
        return Intervention("sensor_stale", name, f"{name} has no valid timestamp ({_show(times.get(name))})")
    age_s = now_s - t
    if abs(age_s) <= limits.stale_after_s:
        return None
    when = f"{age_s:.6g} s old" if age_s >= 0 else f"{-age_s:.6g} s in the future"
    if not math.isfinite(age_s):
        when = f"of unknown age (now = {now_s!r} s)"
    return Intervention("sensor_stale", name, f"{name} reading is {when} (limit {limits.stale_after_s:g} s)")


def _stuck(name: str, x: float, history: Mapping[str, tuple[float, int]], limits: SafetyLimits) -> Intervention | None:
    count = history.get(name, (x, 0))[1]
    if count < limits.stuck_after:
        return None
    return Intervention("sensor_stuck", name, f"{name} read exactly {_q(x, name)} for {count} cycles in a row "
                                              f"(limit {limits.stuck_after})")


# --- 2. out of distribution ---------------------------------------------------------


def _check_ood(valid: Mapping[str, float], ranges: Mapping[str, tuple[float, float]] | None,
               margin_frac: float) -> list[Intervention]:
    """Healthy points beyond their training range by more than ``margin_frac`` of its width."""
    found: list[Intervention] = []
    for name, x in valid.items():
        bounds = _range(ranges, name)
        if bounds is None:
            continue
        low, high = bounds
        margin = margin_frac * (high - low)
        if not low - margin <= x <= high + margin:
            found.append(Intervention("out_of_distribution", name, f"{name} = {_q(x, name)} beyond the training range "
                                      f"{_q(low, name)}..{_q(high, name)} by more than {_q(margin, name)}"))
    return found


def _range(ranges: Mapping[str, tuple[float, float]] | None, name: str) -> tuple[float, float] | None:
    """The training range of ``name``, or None if there is none or it is not two finite ordered numbers."""
    if ranges is None:
        return None
    pair = ranges.get(name)
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        return None
    low, high = _real(pair[0]), _real(pair[1])
    return (low, high) if low is not None and high is not None and low <= high else None


# --- 3. the proposal ----------------------------------------------------------------


def parse_setpoints(proposal: object, contract: Contract = CORE_CONTRACT, known: Contract | None = None,
                    partial: bool = False) -> tuple[dict[str, float] | None, str]:
    """The proposal's setpoints of ``contract`` as finite numbers, or None and what is wrong with it.

    Accepted: a mapping holding every setpoint of ``contract`` (with ``partial``, at least one)
    with finite real values, or a numeric numpy array of shape ``(K,)`` in the contract's
    order. Other setpoints of ``known`` (the facility's contract; default ``contract``) in a
    mapping are ignored: they are not commanded here. Any other name makes it invalid.
    """
    names = contract.setpoint_names
    if isinstance(proposal, np.ndarray):
        if proposal.shape != (len(names),) or proposal.dtype.kind not in "iuf":
            return None, f"array of shape {proposal.shape} and dtype {proposal.dtype}, expected {(len(names),)} numbers"
        proposal = dict(zip(names, proposal.tolist(), strict=True))
    if not isinstance(proposal, Mapping):
        return None, f"expected a mapping of setpoints or an array, got {type(proposal).__name__}"
    allowed = (known or contract).setpoints_by_name
    missing = [n for n in names if n not in proposal]
    unknown = [str(k) for k in proposal if k not in allowed and k not in contract.setpoints_by_name]
    if unknown or (missing and not partial) or len(missing) == len(names):
        return None, f"setpoints missing {missing}, unknown {unknown} (expected {list(names)})"
    values = {n: _real(proposal[n]) for n in names if n in proposal}
    bad = [f"{n} = {_show(proposal[n])}" for n, v in values.items() if v is None]
    if bad:
        return None, f"not finite numbers: {', '.join(bad)}"
    return {n: v for n, v in values.items() if v is not None}, ""


def _distrust(proposal: object, sensors: _Sensors, ood: list[Intervention], contract: Contract, known: Contract
              ) -> tuple[dict[str, float] | None, list[str], list[Intervention]]:
    """The usable proposal (or None), why it is not used, and the model's interventions."""
    why: list[str] = []
    found: list[Intervention] = []
    if isinstance(proposal, ModelError):
        values = None
        found.append(Intervention("model_error", "", f"inference failed: {proposal.message}"))
        why.append(f"model error ({proposal.message})")
    else:
        values, problem = parse_setpoints(proposal, contract, known)
        if values is None:
            found.append(Intervention("model_invalid_output", "", f"invalid proposal: {problem}"))
            why.append(f"invalid proposal ({problem})")
    critical = [n for n in CRITICAL_POINTS if n in sensors.failed]
    if critical:
        why.append(f"critical sensor(s) failed: {', '.join(critical)}")
    if len(ood) >= 2:
        why.append(f"{len(ood)} points out of distribution: {', '.join(i.target for i in ood)}")
    return (values if not why else None), why, found


def _degraded(failures: int, why: list[str], state: EnvelopeState, fallback: Mapping[str, float] | None,
              limits: SafetyLimits, contract: Contract) -> tuple[dict[str, float] | None, str, list[Intervention]]:
    """Hold, fall back or relinquish after ``failures`` failed or distrusted cycles in a row."""
    reason = "; ".join(why)
    held = _written(state.last_written, contract)
    if failures <= limits.hold_cycles and held is not None:
        return held, "hold", [Intervention("hold_last_safe", "", f"holding the last written setpoints "
                                           f"(failed cycle {failures} of {limits.hold_cycles} held): {reason}")]
    found: list[Intervention] = []
    if fallback is not None:
        values, problem = parse_setpoints(fallback, contract, limits.contract, partial=True)
        if values is not None:
            left = [n for n in contract.setpoint_names if n not in values]
            handed = f"; it does not command {', '.join(left)}: handed back to the plant's own sequence" if left else ""
            return values, "fallback", [Intervention("fallback_policy", "", f"fallback policy decides "
                                                     f"(failed cycle {failures}): {reason}{handed}")]
        found.append(Intervention("fallback_policy", "", f"fallback proposal unusable: {problem}"))
    found.append(Intervention("relinquish", "", f"no usable proposal (failed cycle {failures}): {reason}; "
                                                "control handed back to the site"))
    return None, "relinquish", found


def _written(setpoints: Mapping[str, float] | None, contract: Contract) -> dict[str, float] | None:
    """The finite values of ``contract``'s setpoints in ``setpoints`` (None if there are none or one is not finite)."""
    if not setpoints:
        return None
    values: dict[str, float] = {}
    for name in contract.setpoint_names:
        if name in setpoints:
            value = _real(setpoints[name])
            if value is None:
                return None
            values[name] = value
    return values or None


# --- 4.-8. from a proposal to what is written -----------------------------------------


def _apply_overrides(base: dict[str, float] | None, source: str, overrides: Mapping[str, float] | None,
                     contract: Contract, known: Contract, refused: str = "control is relinquished to the site"
                     ) -> tuple[dict[str, float] | None, str, list[Intervention]]:
    """Operator overrides replace single setpoints of ``base``; with no base, none applies (``refused`` says why)."""
    found: list[Intervention] = []
    if not overrides:
        return base, source, found
    out = dict(base) if base is not None else None
    applied = False
    for name, raw in overrides.items():
        value = _real(raw)
        if name not in known.setpoints_by_name or value is None:
            found.append(Intervention("operator_override", str(name), f"override {name} = {_show(raw)} ignored: "
                                      "not a setpoint of the contract or not a finite number"))
        elif name not in contract.setpoints_by_name:
            found.append(Intervention("operator_override", name, f"override {name} = {_q(value, name)} not applied: "
                                      "not commanded here (the plant's own sequence runs it)"))
        elif out is None:
            found.append(Intervention("operator_override", name, f"override {name} = {_q(value, name)} not applied: "
                                      f"{refused}"))
        else:
            was = (f"replaces the {source} value {_q(out[name], name)}" if name in out
                   else f"commands it (the {source} proposal left it to the plant's own sequence)")
            found.append(Intervention("operator_override", name, f"override {name} = {_q(value, name)} {was}"))
            out[name] = value
            applied = True
    ordered = None if out is None else {n: out[n] for n in contract.setpoint_names if n in out}
    return ordered, ("override" if applied else source), found


def _clip_bounds(values: dict[str, float], limits: SafetyLimits, contract: Contract, why: str) -> list[Intervention]:
    """Clip to the hard bounds; proposals of discrete setpoints become whole steps (no intervention: their form)."""
    found: list[Intervention] = []
    for name in values:
        low, high = limits.bounds[name]
        x = values[name]
        if not low <= x <= high:
            values[name] = min(max(x, low), high)
            found.append(Intervention("hard_bound", name, f"{name} {_q(x, name)} clipped to {_q(values[name], name)}"
                                      f" ({why} {_q(low, name)}..{_q(high, name)})"))
        spec = contract.setpoints_by_name[name]
        if spec.discrete:
            values[name] = min(max(_whole_step(values[name]), low), high)
    return found


def _thermal(sensors: _Sensors, limits: SafetyLimits, contract: Contract) -> tuple[str, str]:
    """``limit``, ``guard`` or ``normal``, and why.

    Any physically possible inlet reading at the limit counts (even stale or stuck: it
    can only call for more cooling); the guard needs a healthy ``inlet_temp_max_c``
    below ``guard_c`` to stand down. A contract with liquid cooling has a second limit beside
    the inlet's: the hottest GPU case (``case_temp_max_c``) at ``case_limit_c`` writes the safe
    action, at ``case_guard_c`` (or unknown) holds every setpoint to moves toward more cooling.
    """
    hot = {n: sensors.readable[n] for n in INLET_POINTS if n in sensors.readable}
    if hot and max(hot.values()) >= limits.limit_c:
        name = max(hot, key=hot.__getitem__)
        return "limit", f"{name} = {_q(hot[name], name)} at or above the limit {limits.limit_c:g} °C"
    liquid = CASE_POINT in contract.points_by_name
    case = sensors.readable.get(CASE_POINT)
    if liquid and case is not None and case >= limits.case_limit_c:
        return "limit", f"{CASE_POINT} = {_q(case, CASE_POINT)} at or above the case limit {limits.case_limit_c:g} °C"
    if "inlet_temp_max_c" not in sensors.valid:
        return "guard", "hottest inlet unknown (inlet_temp_max_c failed validation)"
    if liquid and CASE_POINT not in sensors.valid:
        return "guard", f"hottest GPU case unknown ({CASE_POINT} failed validation)"
    hottest = max(sensors.valid[n] for n in INLET_POINTS if n in sensors.valid)
    if hottest >= limits.guard_c:
        return "guard", f"hottest inlet {hottest:.6g} °C at or above the guard {limits.guard_c:g} °C"
    if liquid and sensors.valid[CASE_POINT] >= limits.case_guard_c:
        return "guard", (f"hottest GPU case {sensors.valid[CASE_POINT]:.6g} °C at or above the case guard "
                         f"{limits.case_guard_c:g} °C")
    return "normal", ""


def _reference(spec: SetpointSpec, state: EnvelopeState, sensors: _Sensors) -> float | None:
    """Where setpoint ``spec`` stands: last written, else its healthy measurement, else unknown."""
    written = _real((state.last_written or {}).get(spec.name))
    return written if written is not None else sensors.valid.get(spec.measured_by)


def _safe_value(spec: SetpointSpec, sensors: _Sensors, state: EnvelopeState, limits: SafetyLimits
                ) -> tuple[float, str]:
    """The safe action for setpoint ``spec`` (module docstring) and, where it is not the configured value, why."""
    name = spec.name
    configured = limits.safe_setpoints[name]
    low, high = limits.bounds[name]
    direction = spec.cooling_direction
    point = spec.measured_by
    known: list[tuple[float, str]] = []
    measured = sensors.valid.get(point)
    if measured is not None:
        known.append((measured, f"measured {point}"))
    written = _real((state.last_written or {}).get(name))
    if written is not None:
        known.append((written, "last written"))
    if not known:
        economizer = sensors.readable.get(ECONOMIZER_POINT)
        if not spec.ends_free_cooling or economizer is None or economizer <= 0.0:
            return configured, ""
        cooling_bound = low if direction < 0 else high
        return cooling_bound, (f"{name}: no healthy measurement and no last write, and the economizer carries "
                               f"{economizer:.0%} of the load ({ECONOMIZER_POINT}); the cooling-side bound "
                               f"{_q(cooling_bound, name)} instead of the configured {_q(configured, name)}, "
                               "which could end free cooling")
    current, where = max(known, key=lambda k: direction * k[0])
    if direction * (configured - current) >= 0.0:
        return configured, ""
    value = min(max(current, low), high)
    if spec.discrete and not value.is_integer():
        value = min(max(_whole_step_cooling(value, spec), low), high)
    bounded = "" if value == current else f" (bounded to {_q(low, name)}..{_q(high, name)}, whole steps)" \
        if spec.discrete else f" (bounded to {_q(low, name)}..{_q(high, name)})"
    return value, (f"{name}: the configured safe value {_q(configured, name)} would cool less than the current "
                   f"state {_q(current, name)} ({where}); {_q(value, name)} written instead{bounded}")


def _safe_action(sensors: _Sensors, state: EnvelopeState, limits: SafetyLimits, contract: Contract, reason: str,
                 why: str) -> tuple[dict[str, float], list[Intervention]]:
    """Every setpoint's safe value, one ``reason`` intervention saying ``why``, and one per setpoint held."""
    values: dict[str, float] = {}
    held: list[Intervention] = []
    for spec in contract.setpoints:
        values[spec.name], note = _safe_value(spec, sensors, state, limits)
        if note:
            held.append(Intervention(reason, spec.name, note))
    written = ", ".join(f"{n} {_q(v, n)}" for n, v in values.items())
    return values, [Intervention(reason, "", f"{why}: safe action written at once ({written})"), *held]


def _guard(values: dict[str, float], refs: Mapping[str, float | None], sensors: _Sensors, state: EnvelopeState,
           limits: SafetyLimits, contract: Contract, why: str) -> list[Intervention]:
    """Block moves toward less cooling; with no reference, the safe action's value."""
    found: list[Intervention] = []
    for name in values:
        spec = contract.setpoints_by_name[name]
        ref, x = refs[name], values[name]
        if ref is None:
            values[name], note = _safe_value(spec, sensors, state, limits)
            found.append(Intervention("thermal_guard", name, f"{name}: no reference to tell the cooling direction "
                                      f"from; safe value {_q(values[name], name)} instead of {_q(x, name)} ({why})"
                                      + (f"; {note}" if note else "")))
        elif spec.cooling_direction * (x - ref) < 0.0:
            values[name] = ref
            found.append(Intervention("thermal_guard", name, f"{name}: {_q(x, name)} would cool less than "
                                      f"{_q(ref, name)}; kept {_q(ref, name)} ({why})"))
    return found


def _rate_limit(values: dict[str, float], refs: Mapping[str, float | None], state: EnvelopeState,
                limits: SafetyLimits, contract: Contract, period_s: float) -> list[Intervention]:
    found: list[Intervention] = []
    for name in values:
        ref, x = refs[name], values[name]
        if ref is None:
            continue
        if contract.setpoints_by_name[name].discrete:
            held_s = state.held_s.get(name) if state.last_written and name in state.last_written else None
            hold_s = limits.min_hold_s(name)
            if x != ref and held_s is not None and held_s + period_s < hold_s:
                values[name] = ref
                found.append(Intervention("rate_limit", name, f"{name}: change to {_q(x, name)} held at "
                                          f"{_q(ref, name)} (changed {held_s + period_s:g} s ago; at most one step "
                                          f"per {hold_s:g} s)"))
            continue
        step = limits.max_step(name, period_s)
        if not ref - step <= x <= ref + step:
            values[name] = min(max(x, ref - step), ref + step)
            found.append(Intervention("rate_limit", name, f"{name}: {_q(x, name)} limited to {_q(values[name], name)}"
                                      f" (at most {_q(step, name)} per {period_s:g} s period from {_q(ref, name)})"))
    return found


def _final_bounds(values: dict[str, float], limits: SafetyLimits, contract: Contract) -> list[Intervention]:
    """Bounds win over the rate limit; a discrete value from a reference between steps rounds toward more cooling."""
    found = []
    for name in values:
        low, high = limits.bounds[name]
        x = values[name]
        spec = contract.setpoints_by_name[name]
        y = min(max(_whole_step_cooling(x, spec) if spec.discrete else x, low), high)
        if y != x and not low <= x <= high:
            found.append(Intervention("hard_bound", name, f"{name} {_q(x, name)} clipped to {_q(y, name)} (reference "
                                      f"outside the hard bounds; bounds win over the rate limit: "
                                      f"{_q(low, name)}..{_q(high, name)})"))
        values[name] = y
    return found


def _is_safe(values: Mapping[str, float], limits: SafetyLimits, contract: Contract) -> bool:
    """Every value a setpoint of the contract, finite, within its hard bounds and (discrete) a whole step."""
    for name, x in values.items():
        spec = contract.setpoints_by_name.get(name)
        if spec is None or not math.isfinite(x) or not limits.bounds[name][0] <= x <= limits.bounds[name][1]:
            return False
        if spec.discrete and not x.is_integer():
            return False
    return bool(values)


def _bound_and_limit(base: dict[str, float], source: str, sensors: _Sensors, state: EnvelopeState,
                     limits: SafetyLimits, contract: Contract, period_s: float
                     ) -> tuple[dict[str, float], str, list[Intervention]]:
    """Rules 5 to 8 on the setpoints proposed (all of the contract's, or those a fallback commands)."""
    values = dict(base)
    found = _clip_bounds(values, limits, contract, "hard bounds")
    zone, why = _thermal(sensors, limits, contract)
    if zone == "limit":
        safe, notes = _safe_action(sensors, state, limits, contract, "thermal_limit", why)
        return safe, "safe", found + notes
    refs = {n: _reference(contract.setpoints_by_name[n], state, sensors) for n in values}
    if zone == "guard":
        found += _guard(values, refs, sensors, state, limits, contract, why)
    found += _rate_limit(values, refs, state, limits, contract, period_s)
    found += _final_bounds(values, limits, contract)
    if not _is_safe(values, limits, contract):
        found.append(Intervention("hard_bound", "", f"internal check failed on {values}; safe action written"))
        safe, notes = _safe_action(sensors, state, limits, contract, "hard_bound", "last check")
        return safe, "safe", found + notes
    return values, source, found


def _held_s(setpoints: Mapping[str, float] | None, state: EnvelopeState, contract: Contract,
            period_s: float) -> dict[str, float]:
    """Per discrete setpoint written: plant seconds since its written value last changed (0 for a change)."""
    if setpoints is None:
        return {}
    last = state.last_written or {}
    held: dict[str, float] = {}
    for name, value in setpoints.items():
        if contract.setpoints_by_name[name].discrete:
            same = name in last and last[name] == value and name in state.held_s
            held[name] = state.held_s[name] + period_s if same else 0.0
    return held


# --- the envelope -------------------------------------------------------------------


def decide(points: Mapping[str, object], point_times_s: Mapping[str, float] | None, now_s: float, proposal: object,
           state: EnvelopeState, limits: SafetyLimits, period_s: float,
           training_ranges: Mapping[str, tuple[float, float]] | None = None,
           fallback: Mapping[str, float] | None = None,
           overrides: Mapping[str, float] | None = None,
           write_safe: bool = False, contract: Contract | None = None) -> Decision:
    """Turn a policy's proposal into the setpoints that may be written (module docstring: the rules).

    Args:
        points: the latest reading, contract point name -> value (unvalidated: anything).
        point_times_s: unix time (s) each point was measured; None skips the staleness check.
        now_s: the decision's unix time (s).
        proposal: the policy's setpoints (mapping or array of shape (K,)), or a :class:`ModelError`.
        state: what the previous decision returned (:func:`initial_state` at first).
        limits: the envelope's limits, validated against the site's facility contract.
        period_s: the control period (s); the rate limit per decision is ``rate_per_min·period_s/60``.
        training_ranges: point name -> (low, high) seen in training (the card's); None skips the check.
        fallback: the fallback policy's setpoints for this period, if there is one (it may command only some).
        overrides: operator overrides, setpoint name -> value.
        write_safe: the service is in fallback mode with ``fallback_action: safe_setpoints``: the
            decision is the safe action (source ``safe``, reason ``fallback_safe``) whatever the
            proposal and the inlet temperature; the proposal is still judged (its failures
            counted and recorded) and overrides are not applied.
        contract: what this decision enforces: the points it checks and the setpoints it writes
            (:func:`sub_contract` of ``limits.contract``); default ``limits.contract``.

    Raises:
        ValueError: ``period_s`` is not a positive finite number, or ``contract`` holds a setpoint the
            limits' contract does not (a caller's bug, not plant data).
    """
    if not (math.isfinite(period_s) and period_s > 0.0):
        raise ValueError(f"period_s = {period_s!r} s must be a positive finite number")
    known = limits.contract
    contract = known if contract is None else contract
    foreign = [n for n in contract.setpoint_names if n not in known.setpoints_by_name]
    if foreign:
        raise ValueError(f"setpoints {foreign} are not in the safety limits' contract {list(known.setpoint_names)}")
    sensors = _check_sensors(points, point_times_s, now_s, limits, state, contract)
    ood = _check_ood(sensors.valid, training_ranges, limits.ood_margin_frac)
    usable, why, model_notes = _distrust(proposal, sensors, ood, contract, known)
    found = [*sensors.interventions, *ood, *model_notes]
    failures = 0 if usable is not None else state.model_failures + 1
    setpoints: dict[str, float] | None
    if write_safe:
        found += _apply_overrides(None, "safe", overrides, contract, known, "fallback mode writes the safe action")[2]
        setpoints, notes = _safe_action(sensors, state, limits, contract, "fallback_safe",
                                        "fallback mode (fallback_action safe_setpoints)")
        source = "safe"
        found += notes
    else:
        base, source = usable, "policy"
        if usable is None:
            base, source, notes = _degraded(failures, why, state, fallback, limits, contract)
            found += notes
        base, source, notes = _apply_overrides(base, source, overrides, contract, known)
        found += notes
        zone, why_hot = _thermal(sensors, limits, contract)
        if base is None and zone == "limit":  # at the limit the safe action, even instead of relinquishing
            setpoints, notes = _safe_action(sensors, state, limits, contract, "thermal_limit", why_hot)
            source = "safe"
        elif base is None:
            setpoints, notes = None, []
        else:
            setpoints, source, notes = _bound_and_limit(base, source, sensors, state, limits, contract, period_s)
        found += notes
    new_state = EnvelopeState(last_written=dict(setpoints) if setpoints is not None else None,
                              history=sensors.history, model_failures=failures,
                              held_s=_held_s(setpoints, state, contract, period_s))
    relinquished = tuple(n for n in contract.setpoint_names if setpoints is None or n not in setpoints)
    return Decision(setpoints, tuple(found), source, new_state, sensors_ok=not sensors.interventions,
                    relinquished=relinquished)
