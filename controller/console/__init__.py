"""The operator console: the service as the facility team sees it, in a browser, served by the service itself.

:func:`register_console` adds to the API's app (``coolpilot.controller.api.create_app``):

- ``GET /`` redirects to ``/console``; ``GET /console`` is the page (``index.html``), and
  ``GET /console/console.js`` and ``/console/console.css`` its script and style. The three
  files ship inside this package (package data), are read once when the app is built and
  are served from memory, so a missing file stops the service at start rather than
  showing a broken page. No CDN, no external font, no request leaves the host: every URL
  in them is relative to the page's own origin.
- ``GET /api/v1/console`` (read-only, no token): what the page needs beyond ``/api/v1/status``
  and ``/api/v1/trends``: the service's clock, period and polling interval, the contract's
  points and setpoints with units and bounds (at run time, so new setpoints appear
  without touching the page), the meaning of every intervention reason, the model card's
  summary with its training ranges, who set the current mode, when and why, the last
  operator actions from the audit trail, and today's metered energy by mode.

**Security.** Every console response carries a strict Content-Security-Policy
(``default-src 'self'``: no inline script or style, no other origin, not framed, no form
posted anywhere), ``nosniff``, ``no-referrer`` and ``no-store``. The page reads the open
``GET`` endpoints; its actions (mode change, override set and clear) go through the same
token-protected endpoints as any client. The token is typed into the page once per tab and
kept in a JavaScript variable only, never in a cookie or web storage, so closing the tab
forgets it and no cross-site request can carry it. Without a token the page says
"viewer: read-only" and its action controls are disabled.

**Live updates: polling at the control period.** The service publishes one snapshot per
cycle, so the page asks for ``/api/v1/status`` and ``/api/v1/console`` once every
:func:`poll_interval_s` (the control period, at least :data:`MIN_POLL_S` and at most
:data:`MAX_POLL_S`) and for the trends only when a new cycle has been recorded. Polling
rather than server-sent events: each request is independent (nothing to hold open per
screen, nothing to fan out on the control loop's event loop, works through any proxy),
it reuses the API's own endpoints, and a service that stops answering shows at the next
poll as a failed request, where a quiet event stream would need heartbeats to tell.
The upper bound makes a dead service show within :data:`MAX_POLL_S` even at a 5-minute
period. The page shows **stale**, in words, when a request fails, when the last decision
is older than :data:`STALE_PERIODS` control periods by the service's clock, when the plant
cannot be read, or when the last decision found points stale or missing (a stopped plant:
its last values stay on the broker with their old timestamps, and the safety envelope
reports them ``sensor_stale``).

The console's reads of the audit trail run on a worker thread, one request at a time (as
the trends do), on their own read-only SQLite connections, so polling screens never delay
a control cycle.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from coolpilot.controller.audit import ModeEnergy
from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.controller.safety import REASONS
from coolpilot.controller.service import SERVICE_REASONS, ControllerService, Snapshot
from coolpilot.controller.site import MODES

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")
"""The console's CSP: its own origin only, no inline script or style (``data:`` only for the empty favicon)."""

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Headers on every console file."""

ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
"""The files the console serves, with their media types (package data of this package)."""

MIN_POLL_S = 0.25
"""Shortest polling interval (s): a fast test period is not polled faster than this."""
MAX_POLL_S = 10.0
"""Longest polling interval (s): at a 5-minute period a service that stops answering shows within this."""
STALE_PERIODS = 2.0
"""A last decision older than this many control periods (by the service's clock) shows the page stale."""
ACTIONS_SHOWN = 20
"""Operator actions (mode changes and overrides) listed, the newest."""
ENERGY_POINTS: tuple[str, ...] = ("facility_power_kw", "cooling_power_kw", "it_power_kw")
"""Power points (kW) integrated into today's energy, where the contract has them."""


def poll_interval_s(period_s: float) -> float:
    """How often the page polls (s): the control period, clamped to ``[MIN_POLL_S, MAX_POLL_S]``."""
    return min(max(period_s, MIN_POLL_S), MAX_POLL_S)


def asset(name: str) -> bytes:
    """One of the console's files (:data:`ASSETS`) as shipped in the installed package."""
    if name not in ASSETS:
        raise KeyError(f"{name!r} is not a console file ({', '.join(ASSETS)})")
    return resources.files(__name__).joinpath(name).read_bytes()


# --- the console's data ------------------------------------------------------------------


class PointInfo(BaseModel):
    """A contract point."""

    name: str
    unit: str
    low: float = Field(description="Lowest value a healthy sensor can report (point unit).")
    high: float = Field(description="Highest value a healthy sensor can report (point unit).")
    description: str


class SetpointInfo(BaseModel):
    """A contract setpoint, with the site's tighter bounds."""

    name: str
    unit: str
    low: float = Field(description="Contract hard bound, low (setpoint unit); overrides may go down to it.")
    high: float = Field(description="Contract hard bound, high (setpoint unit); overrides may go up to it.")
    site_low: float = Field(description="The site's bound, low (setpoint unit): what the envelope writes at least.")
    site_high: float = Field(description="The site's bound, high (setpoint unit): what the envelope writes at most.")
    description: str


class ContractInfo(BaseModel):
    """The points and setpoints the service reads and writes, in contract order."""

    version: int
    points: list[PointInfo]
    setpoints: list[SetpointInfo]


class Limits(BaseModel):
    """The site's safety limits the page shows beside the data."""

    guard_c: float = Field(description="Inlet guard (°C): at or above it setpoints only move toward more cooling.")
    limit_c: float = Field(description="Inlet limit (°C): at or above it the safe action is written at once.")
    stale_after_s: float = Field(description="A reading older than this is stale (s).")
    ood_margin_frac: float = Field(description="Margin beyond a training range before a point counts as out of "
                                               "distribution (fraction of the range's width).")


class CardSummary(BaseModel):
    """The running bundle's card, summarized; null fields are absent from the card."""

    name: str
    sha256: str
    path: str
    created_at: str | None
    env_id: str | None
    facility: str | None
    algo: str | None = Field(description="Training algorithm (e.g. ppo).")
    timesteps: int | None = Field(description="Environment steps trained.")
    seed: int | None
    training_climates: list[str] | None
    action_mode: str | None = Field(description="How the policy acts (e.g. residual on the rule-based base).")
    baseline: str | None = Field(description="The policy the card's evaluation compares against.")
    evaluation_climates: list[str] | None
    facility_saving_pct: float | None = Field(description="Simulated facility-energy saving vs the baseline (%).")
    cooling_saving_pct: float | None = Field(description="Simulated cooling-energy saving vs the baseline (%).")
    pue: float | None = Field(description="Simulated PUE of the policy in the evaluation.")
    baseline_pue: float | None = Field(description="Simulated PUE of the baseline in the evaluation.")
    degree_hours_above_27c: float | None = Field(description="Simulated inlet degree-hours above 27 °C (K·h).")
    training_ranges: dict[str, tuple[float, float]] = Field(
        description="Per point, the range seen in training (point unit).")


class ModeSince(BaseModel):
    """The current mode, and the recorded change that set it."""

    mode: str
    since_s: float = Field(description="Unix time of the change (s); the service's start when none is recorded.")
    recorded: bool = Field(description="A change is recorded in the audit trail; false: the site file's mode.")
    who: str
    why: str


class OperatorAction(BaseModel):
    """A mode change or an override set or cleared, from the audit trail."""

    time_s: float = Field(description="Unix time (s).")
    kind: Literal["mode", "override_set", "override_clear"]
    target: str = Field(description="The new mode, or the setpoint overridden.")
    old: str | None = Field(description="The mode it replaced (mode changes).")
    value: float | None = Field(description="The value held (override set; setpoint unit).")
    expires_s: float | None = Field(description="When the override ends (override set; unix s).")
    who: str
    why: str


class EnergyFigures(BaseModel):
    """Energy metered over the cycles of a mode (or of all of them)."""

    decisions: int
    hours: float = Field(description="Time those cycles stand for (h).")
    kwh: dict[str, float | None] = Field(description="Per power point, energy (kWh); null if never metered.")
    metered_h: dict[str, float] = Field(description="Per power point, hours with a valid reading (h).")


class EnergyToday(BaseModel):
    """Today's energy from the audit trail's meter readings (no counterfactual: the service runs no plant model)."""

    since_s: float = Field(description="Local midnight of the service's clock (unix s).")
    until_s: float = Field(description="Now (unix s).")
    timezone: str = Field(description="The service's local time zone (its abbreviation).")
    max_gap_s: float = Field(description="Longest time one reading stands for (s): two control periods.")
    total: EnergyFigures
    by_mode: dict[str, EnergyFigures]


class ConsoleData(BaseModel):
    """What the console needs beyond ``/api/v1/status`` and ``/api/v1/trends``."""

    site: str
    run_id: str
    now_s: float = Field(description="The service's clock (unix s): ages and time left are measured against it.")
    started_s: float = Field(description="When the service started (unix s).")
    period_s: float = Field(description="Control period (s).")
    poll_s: float = Field(description="How often the page polls (s): the period within 0.25..10 s.")
    decision_stale_after_s: float = Field(description="A last decision older than this shows the page stale (s).")
    modes: list[str]
    contract: ContractInfo
    reasons: dict[str, str] = Field(description="Meaning of every intervention reason code.")
    limits: Limits
    model: CardSummary | None
    mode: ModeSince
    actions: list[OperatorAction] = Field(description="The last operator actions, newest first.")
    energy_today: EnergyToday


def _typed(value: object, kind: type | tuple[type, ...]) -> Any:
    """``value`` if it is of ``kind`` (never a bool standing for a number), else None: a card is read, not trusted."""
    if isinstance(value, bool) and kind is not bool:
        return None
    return value if isinstance(value, kind) else None


def _strings(value: object) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None


def card_summary(policy: OnnxPolicy) -> CardSummary:
    """The card of ``policy`` in the console's terms (a field the card lacks or mistypes is null)."""
    card = policy.card

    def section(mapping: object, key: str) -> Mapping[str, object]:
        value = mapping.get(key) if isinstance(mapping, Mapping) else None
        return value if isinstance(value, Mapping) else {}

    training, evaluation = section(card, "training"), section(card, "evaluation")
    env = section(section(training, "config"), "env")
    number = (int, float)
    return CardSummary(
        name=policy.name, sha256=policy.sha256, path=str(policy.path),
        created_at=_typed(card.get("created_at"), str), env_id=_typed(card.get("env_id"), str),
        facility=_typed(card.get("facility"), str), algo=_typed(training.get("algo"), str),
        timesteps=_typed(training.get("timesteps"), int), seed=_typed(training.get("seed"), int),
        training_climates=_strings(env.get("climates")), action_mode=_typed(section(card, "action").get("mode"), str),
        baseline=_typed(evaluation.get("baseline"), str), evaluation_climates=_strings(evaluation.get("climates")),
        facility_saving_pct=_typed(evaluation.get("facility_saving_pct"), number),
        cooling_saving_pct=_typed(evaluation.get("cooling_saving_pct"), number),
        pue=_typed(evaluation.get("pue"), number), baseline_pue=_typed(evaluation.get("baseline_pue"), number),
        degree_hours_above_27c=_typed(evaluation.get("degree_hours_above_27c"), number),
        training_ranges=dict(policy.training_ranges),
    )


def contract_info(service: ControllerService) -> ContractInfo:
    """The contract the service runs, with the site's bounds per setpoint."""
    bounds = service.site.safety.bounds
    contract = service.contract
    return ContractInfo(
        version=contract.version,
        points=[PointInfo(name=p.name, unit=p.unit, low=p.low, high=p.high, description=p.description)
                for p in contract.points],
        setpoints=[SetpointInfo(name=s.name, unit=s.unit, low=s.low, high=s.high,
                                site_low=bounds.get(s.name, (s.low, s.high))[0],
                                site_high=bounds.get(s.name, (s.low, s.high))[1], description=s.description)
                   for s in contract.setpoints],
    )


def local_midnight_s(now_s: float) -> float:
    """The last local midnight at or before ``now_s`` (unix s), daylight-saving time included."""
    t = time.localtime(now_s)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def _figures(modes: Mapping[str, ModeEnergy], names: tuple[str, ...]) -> EnergyFigures:
    """The sum of ``modes``' figures (kWh null where no mode metered the point)."""
    kwh: dict[str, float | None] = {}
    for name in names:
        metered = [m.kwh[name] for m in modes.values() if m.kwh.get(name) is not None]
        kwh[name] = math.fsum(v for v in metered if v is not None) if metered else None
    return EnergyFigures(decisions=sum(m.decisions for m in modes.values()),
                         hours=math.fsum(m.hours for m in modes.values()), kwh=kwh,
                         metered_h={n: math.fsum(m.metered_h.get(n, 0.0) for m in modes.values()) for n in names})


def energy_today(service: ControllerService, now_s: float) -> EnergyToday:
    """Today's metered energy (since the service's local midnight) from the audit trail, by mode (blocking)."""
    since_s = local_midnight_s(now_s)
    ranges = {p.name: (p.low, p.high) for p in service.contract.points if p.name in ENERGY_POINTS}
    max_gap_s = STALE_PERIODS * service.site.period_s
    e = service.audit.energy(since_s, math.nextafter(now_s, math.inf), max_gap_s, ranges)
    names = tuple(ranges)
    return EnergyToday(
        since_s=since_s, until_s=now_s, timezone=time.strftime("%Z", time.localtime(now_s)), max_gap_s=max_gap_s,
        total=_figures(e.by_mode, names),
        by_mode={mode: _figures({mode: m}, names) for mode, m in e.by_mode.items()})


def _number(value: object) -> float | None:
    """A number read back from the audit trail (SQLite REAL or NULL)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _actions(service: ControllerService) -> list[OperatorAction]:
    """The newest :data:`ACTIONS_SHOWN` mode changes and override changes, merged, newest first (blocking)."""
    actions = [OperatorAction(time_s=_number(c["time_s"]) or 0.0, kind="mode", target=str(c["new"]),
                              old=str(c["old"]), value=None, expires_s=None, who=str(c["who"]), why=str(c["why"]))
               for c in service.audit.mode_changes(limit=ACTIONS_SHOWN)]
    actions += [OperatorAction(time_s=_number(c["time_s"]) or 0.0,
                               kind="override_set" if c["action"] == "set" else "override_clear",
                               target=str(c["setpoint"]), old=None, value=_number(c["value"]),
                               expires_s=_number(c["expires_s"]), who=str(c["who"]), why=str(c["why"]))
                for c in service.audit.override_changes(limit=ACTIONS_SHOWN)]
    actions.sort(key=lambda a: a.time_s, reverse=True)
    return actions[:ACTIONS_SHOWN]


def _mode_since(service: ControllerService, snap: Snapshot) -> ModeSince:
    """The current mode and the last recorded change, if it is the one in force (blocking)."""
    changes = service.audit.mode_changes(limit=1)
    if changes and changes[0]["new"] == snap.mode:
        c = changes[0]
        return ModeSince(mode=snap.mode, since_s=_number(c["time_s"]) or service.started_s, recorded=True,
                         who=str(c["who"]), why=str(c["why"]))
    return ModeSince(mode=snap.mode, since_s=service.started_s, recorded=False, who="", why="")


def console_json(service: ControllerService, snap: Snapshot, now_s: float) -> bytes:
    """The console's data at ``now_s`` as JSON bytes (blocking: reads the audit trail; run it on a worker thread)."""
    site = service.site
    limits = site.safety
    data = ConsoleData(
        site=site.name, run_id=service.run_id, now_s=now_s, started_s=service.started_s, period_s=site.period_s,
        poll_s=poll_interval_s(site.period_s), decision_stale_after_s=STALE_PERIODS * site.period_s,
        modes=list(MODES), contract=contract_info(service), reasons={**REASONS, **SERVICE_REASONS},
        limits=Limits(guard_c=limits.guard_c, limit_c=limits.limit_c, stale_after_s=limits.stale_after_s,
                      ood_margin_frac=limits.ood_margin_frac),
        model=card_summary(snap.policy) if snap.policy is not None else None,
        mode=_mode_since(service, snap), actions=_actions(service), energy_today=energy_today(service, now_s),
    )
    return data.model_dump_json().encode()  # pydantic writes NaN and infinity as null


# --- routes ------------------------------------------------------------------------------


def register_console(app: FastAPI, service: ControllerService) -> None:
    """Serve the console page, its files and ``GET /api/v1/console`` from ``app`` (see the module docstring)."""
    files = {name: asset(name) for name in ASSETS}

    def serve(name: str) -> Response:
        return Response(files[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        """The console is the service's front page."""
        return RedirectResponse("console", status_code=307)

    @app.get("/console", include_in_schema=False)
    async def page() -> Response:
        return serve("index.html")

    @app.get("/console/console.js", include_in_schema=False)
    async def script() -> Response:
        return serve("console.js")

    @app.get("/console/console.css", include_in_schema=False)
    async def style() -> Response:
        return serve("console.css")

    router = APIRouter(prefix="/api/v1")
    one_at_a_time = asyncio.Lock()  # many polling screens share one worker thread's share of the GIL, not N

    @router.get("/console", response_model=ConsoleData)
    async def console_data() -> Response:
        """What the operator console shows beyond status and trends (read-only, no token).

        The contract with units and bounds, reason meanings, the model card's summary, who set
        the mode and why, the last operator actions and today's metered energy by mode. The
        audit reads run on a worker thread, one request at a time, never on the control loop.
        """
        snap = service.snapshot
        async with one_at_a_time:
            body = await asyncio.to_thread(console_json, service, snap, service.clock())
        return Response(body, media_type="application/json")

    app.include_router(router)
