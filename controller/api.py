"""The HTTP API of the controller service (FastAPI), under ``/api/v1``.

Read-only endpoints (health, readiness, status, decisions, trends, metrics) are open on the bind
address (loopback unless the site opens it); every endpoint that changes something (mode,
overrides, model reload) needs ``Authorization: Bearer <token>``; without a configured
token they are refused (403), with a missing or wrong one 401. The OpenAPI schema is at
``/openapi.json``.

Request bodies are strict: numbers must be JSON numbers (a boolean is never a duration, a
string "1.5" is not a value), strings are bounded in length, unknown fields are refused,
and every refusal is a 422 whose ``loc`` names the field. The schema says the same (a JSON
Schema ``number`` admits neither booleans nor strings), so schemathesis can hold the API to it.
Query parameters are text, but read as plainly: a number is written in ASCII without
surrounding spaces or ``_`` digit groups (Python would read ``" 1_0"`` as 10), and a
parameter given twice is refused rather than one of its values silently chosen.

The routes run on the service's event loop: the mutating ones await the service's
commands, which take the control loop's lock (``coolpilot.controller.service``), and the reading
ones show the service's last published snapshot, never a cycle half done. Only the audit
reads (decision history, CSV, trends) run on worker threads, each on its own read-only SQLite
connection, so a long read never delays a control cycle; the trends are also aggregated,
validated and serialized to JSON on their thread, leaving the loop only the bytes to send.
"""

from __future__ import annotations

import asyncio
import io
import math
import secrets
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal, TypeVar, Union

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from coolpilot.controller.audit import TREND_POINTS
from coolpilot.controller.console import register_console
from coolpilot.controller.metrics import ServiceMetrics
from coolpilot.controller.policies.onnx_policy import BundleError
from coolpilot.controller.service import ControllerService, CycleOutcome, Snapshot
from coolpilot.envs.contract import Contract, SetpointSpec
from coolpilot.envs.jsonsafe import json_safe

F = TypeVar("F", bound=Callable[..., Any])

_bearer = HTTPBearer(auto_error=False)


class _Body(BaseModel):
    """A request body: strict types (no bool or string for a number), no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ModeChange(_Body):
    """A mode change, recorded with who asked and why."""

    mode: Literal["shadow", "active", "fallback", "off"]
    who: str = Field(min_length=1, max_length=100)
    why: str = Field(min_length=1, max_length=1000)


class _OverrideBase(_Body):
    """Hold one setpoint at a value for a while (still bounded by the safety envelope)."""

    duration_s: float = Field(gt=0.0, le=604800.0, description="How long the override holds (s).")
    who: str = Field(min_length=1, max_length=100)
    why: str = Field(min_length=1, max_length=1000)


def _override_model(spec: SetpointSpec) -> type[_OverrideBase]:
    """The override body of one setpoint, its value bounded by the contract's hard bounds (in the schema)."""
    name = spec.name
    title = "Override_" + name
    setpoint_type: Any = Literal[name]
    return create_model(
        title, __base__=_OverrideBase, __doc__=f"Override of {name}: {spec.description}",
        setpoint=(setpoint_type, Field(description="The setpoint held.")),
        value=(float, Field(ge=spec.low, le=spec.high, allow_inf_nan=False,
                            description=f"Value held ({spec.unit}, {spec.low}..{spec.high}).")),
    )


def setpoint_name_type(contract: Contract) -> Any:
    """``Literal`` of the contract's setpoint names: what a setpoint path parameter accepts (and its schema lists)."""
    return Literal[contract.setpoint_names]


def override_request_type(contract: Contract) -> Any:
    """The override body for ``contract``: one model per setpoint (value within its bounds), told by ``setpoint``."""
    models = tuple(_override_model(s) for s in contract.setpoints)
    return Annotated[Union[models], Field(discriminator="setpoint")]  # noqa: UP007


def _annotated(fn: F, **types: Any) -> F:
    """``fn`` with the types of some parameters set (the contract's, known only when the app is made).

    FastAPI reads a route's parameter types from its annotations when it is registered; types
    built per contract cannot be named in the module's source, so they are set here first.
    """
    fn.__annotations__.update(types)
    return fn


class ReloadRequest(_Body):
    """Load a policy bundle; it replaces the running one only if it verifies."""

    path: str | None = Field(None, min_length=1, max_length=4096,
                             description="Bundle folder; default: the site's model.")


def _plain_number(value: Any) -> Any:
    """Refuse a query number not written plainly (non-ASCII digits, surrounding whitespace, ``_`` groups)."""
    if isinstance(value, str) and (not value.isascii() or "_" in value or value != value.strip()):
        raise ValueError("write the number plainly: ASCII digits, no spaces, no underscores")
    return value


PLAIN = BeforeValidator(_plain_number)
"""Refuses a query number not written plainly (runs before the lax parsing of query text; keep it after
``Query(...)`` in ``Annotated``, where the schema still shows the ``Query`` bounds)."""
QueryTime = Annotated[float | None, Query(allow_inf_nan=False, description="Unix time (s)."), PLAIN]
"""An optional time query parameter (unix s), written plainly and finite."""


async def _each_query_parameter_once(request: Request) -> None:
    """Refuse a query parameter given more than once (422 naming it): which of its values would the caller mean?"""
    params = request.query_params
    repeated = sorted({key for key in params if len(params.getlist(key)) > 1})
    if repeated:
        raise RequestValidationError([{"type": "repeated_parameter", "loc": ("query", key),
                                       "msg": "given more than once; give it once", "input": params.getlist(key)}
                                      for key in repeated])


class Problem(BaseModel):
    """Why a request was refused."""

    detail: Any


_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong bearer token"},
    403: {"model": Problem, "description": "no API token is configured: mutating endpoints are disabled"},
}
_BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_AUTH_RESPONSES, 400: {"model": Problem, "description": "the body cannot be parsed (not UTF-8 JSON)"}}


class Health(BaseModel):
    status: str
    uptime_s: float


class ModelHealthStatus(BaseModel):
    """Whether the running model is called; unhealthy after repeated inference timeouts, until a reload."""

    healthy: bool
    consecutive_timeouts: int = Field(description="Inference timeouts in a row.")
    timeouts_total: int = Field(description="Inference timeouts since the model was loaded.")
    unhealthy_after: int = Field(description="Timeouts in a row that mark the model unhealthy (site file).")
    unhealthy_since_s: float | None = Field(description="Unix time it was marked unhealthy (s).")
    detail: str = Field(description="Why it is unhealthy (empty while healthy).")
    hung_workers: int = Field(description="Inference threads abandoned past the time limit and still running.")


class ContractStatus(BaseModel):
    """The contract the service runs (its site's facility's) and the part of it the service commands."""

    version: int = Field(description="Contract version (2: built from equipment blocks).")
    blocks: list[str] = Field(description="The facility's equipment blocks, in contract order.")
    fingerprint: str = Field(description="Short sha256 of the contract's names, units, bounds and rates.")
    points: list[str] = Field(description="The facility's points, in contract order.")
    setpoints: list[str] = Field(description="The facility's setpoints, in contract order.")
    commanded_points: list[str] = Field(description="The points the service reads (the site maps them).")
    commanded_setpoints: list[str] = Field(description="The setpoints the service writes (the site maps them and "
                                                       "the model proposes them); the others run on the plant's "
                                                       "own sequence.")


class PointDriftStatus(BaseModel):
    """One watched point's rolling one-step prediction error (the calibrated twin against the plant)."""

    cv_rmse_pct: float | None = Field(description="Rolling CV(RMSE) (%); null before two pairs or with a zero mean.")
    nmbe_pct: float | None = Field(description="Rolling NMBE, measured minus predicted (%).")
    n: int = Field(description="Pairs of prediction and reading in the window.")
    threshold: dict[str, float] = Field(description="cv_rmse_pct and nmbe_pct (%) above which the point drifts.")
    state: Literal["ok", "warming_up", "drift"]


class DriftStatusModel(BaseModel):
    """The drift monitor (the site file's ``drift`` section)."""

    facility: str = Field(description="The calibrated facility the twin is built from.")
    window_cycles: int
    min_cycles: int
    on_drift: str = Field(description="record, or fallback (an active service falls back at a drift event).")
    events_total: int = Field(description="Drift episodes recorded since the service started.")
    twin_errors: int = Field(description="Cycles the twin could not predict (logged; the cycle went on).")
    last_twin_error: str
    points: dict[str, PointDriftStatus]


class ExcitationStatusModel(BaseModel):
    """The excitation plan run in place of the model (``coolpilot serve --excitation``)."""

    plan: str
    facility: str
    state: Literal["waiting", "running", "done", "aborted"]
    test: str | None = Field(description="The test running, or the next one while waiting.")
    test_index: int | None = Field(description="1-based, in the plan's order.")
    tests_total: int
    step: str = Field(description="The running test's phase, e.g. 'level 2 of 3'.")
    setpoint: str | None
    value: float | None = Field(description="What the plan commands for the test's setpoint now (its unit).")
    elapsed_min: float = Field(description="Minutes of the plan's tests passed.")
    total_min: float = Field(description="The plan's tests' total duration (min).")
    test_elapsed_min: float | None
    test_total_min: float | None
    starts_in_min: float | None = Field(description="While waiting: minutes until the next test is due.")
    reason: str = Field(description="Why the plan was aborted, or the last test stopped or skipped.")
    tests: dict[str, str] = Field(description="Each test's state: pending, running, done, stopped, skipped, aborted.")


class Status(BaseModel):
    site: str
    mode: str
    run_id: str
    cycle: int
    connected: bool
    contract: ContractStatus
    model: dict[str, Any] | None
    model_health: ModelHealthStatus
    overrides: dict[str, dict[str, Any]]
    envelope: dict[str, Any]
    last_decision: dict[str, Any] | None
    drift: DriftStatusModel | None = Field(None, description="The drift monitor; null when the site watches none.")
    excitation: ExcitationStatusModel | None = Field(None, description="The excitation plan; null when none runs.")


TREND_BUCKETS = 600
"""Most buckets a trend is drawn from: the window is cut into this many buckets of ``hours * 3600 / 600`` s."""
TREND_MARKS = 500
"""Most intervention marks a trend carries (the newest); the rest are counted in ``marks_left_out``."""
_SERIES = "One value per bucket, in the order of ``time_s``; null where there was nothing to aggregate."


class SetpointTrend(BaseModel):
    """One setpoint over the buckets (setpoint units)."""

    proposed: list[float | None] = Field(description="Mean of the policy's raw output in each bucket. " + _SERIES)
    written: list[float | None] = Field(description="Last value written to the plant in each bucket. " + _SERIES)


class TrendMark(BaseModel):
    """A safety-envelope intervention (or a refused write, an unhealthy model) at one cycle."""

    time_s: float = Field(description="Unix time of the cycle (s).")
    reason: str
    target: str = Field(description="The setpoint (or point, or ``model``) it concerns.")


class Trends(BaseModel):
    """The audit trail of the last hours in at most 600 buckets: what the console plots."""

    hours: int = Field(description="Hours asked for.")
    since_s: float = Field(description="Start of the first bucket (unix s).")
    until_s: float = Field(description="End of the last bucket, excluded (unix s); the bucket holding now ends here.")
    bucket_s: float = Field(description="Width of a bucket (s): hours * 3600 / 600.")
    max_buckets: int = Field(description="Most buckets a trend holds (600); only those holding a decision are listed.")
    guard_c: float = Field(description="The site's inlet guard (°C).")
    limit_c: float = Field(description="The site's inlet limit (°C).")
    time_s: list[float] = Field(description="Start of each bucket holding a decision, oldest first (unix s).")
    records: list[int] = Field(description="Decisions in each bucket.")
    inlet_temp_max_c: list[float | None] = Field(description="Hottest inlet in each bucket (°C, max). " + _SERIES)
    inlet_temp_mean_c: list[float | None] = Field(description="Mean inlet in each bucket (°C, mean). " + _SERIES)
    facility_power_kw: list[float | None] = Field(description="Facility power in each bucket (kW, mean). " + _SERIES)
    cooling_power_kw: list[float | None] = Field(description="Cooling power in each bucket (kW, mean). " + _SERIES)
    setpoints: dict[str, SetpointTrend] = Field(description="Per setpoint of the service's contract, proposed and "
                                                            "written.")
    marks: list[TrendMark] = Field(description="Interventions in the window, oldest first (at most 500, the newest).")
    marks_left_out: int = Field(description="Interventions in the window not listed in ``marks`` (older ones).")


assert tuple(TREND_POINTS) == ("inlet_temp_max_c", "inlet_temp_mean_c", "facility_power_kw", "cooling_power_kw")


def trends_json(service: ControllerService, hours: int, now_s: float) -> bytes:
    """The trends of the last ``hours`` at unix time ``now_s``, as JSON bytes (blocking: run it on a worker thread).

    Buckets are aligned to multiples of their width in unix time, so a trend polled again keeps its
    buckets; the window is the :data:`TREND_BUCKETS` buckets ending with the one that holds ``now_s``.
    """
    bucket_s = hours * 3600.0 / TREND_BUCKETS
    until_s = (math.floor(now_s / bucket_s) + 1) * bucket_s
    since_s = until_s - TREND_BUCKETS * bucket_s
    names = service.contract.setpoint_names
    t = service.audit.trends(since_s, until_s, bucket_s, max_marks=TREND_MARKS, setpoints=names)
    limits = service.site.safety
    body = json_safe({
        "hours": hours, "since_s": t.since_s, "until_s": t.until_s, "bucket_s": t.bucket_s,
        "max_buckets": TREND_BUCKETS, "guard_c": limits.guard_c, "limit_c": limits.limit_c,
        "time_s": t.start_s, "records": t.records, **t.points,
        "setpoints": {n: {"proposed": t.proposed[n], "written": t.written[n]} for n in names},
        "marks": t.marks, "marks_left_out": t.marks_left_out,
    })
    return Trends.model_validate(body).model_dump_json().encode()


def outcome_json(o: CycleOutcome | None) -> dict[str, Any] | None:
    """A cycle as JSON (NaN and inf become null)."""
    if o is None:
        return None
    d = o.decision
    return json_safe({
        "cycle": o.cycle, "time_s": o.time_s, "mode": o.mode, "wrote": o.wrote, "latency_ms": o.latency_ms,
        "points": o.points, "raw_output": o.raw_output, "model_sha256": o.model_sha256, "write_errors": o.write_errors,
        "source": d.source if d is not None else "off",
        "setpoints": d.setpoints if d is not None else None,
        "sensors_ok": d.sensors_ok if d is not None else None,
        "interventions": [{"reason": i.reason, "target": i.target, "detail": i.detail}
                          for i in (d.interventions if d is not None else ())],
    })


def _name_the_field(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors whose ``loc`` ends at the field at fault: a discriminated union's tag errors name the tag field."""
    named = []
    for err in errors:
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            tag = str(err.get("ctx", {}).get("discriminator", "")).strip("'")
            err = {**err, "loc": [*err["loc"], tag]} if tag else err
        named.append(err)
    return named


def _status(service: ControllerService, snap: Snapshot) -> Status:
    """The status of one snapshot (plus the live count of hung inference threads)."""
    p, health, c = snap.policy, snap.model_health, service.contract
    return Status(
        site=service.site.name, mode=snap.mode, run_id=service.run_id, cycle=snap.cycle, connected=snap.connected,
        contract=ContractStatus(version=c.version, blocks=list(c.blocks), fingerprint=c.fingerprint,
                                points=list(c.point_names), setpoints=list(c.setpoint_names),
                                commanded_points=list(snap.commanded.point_names),
                                commanded_setpoints=list(snap.commanded.setpoint_names)),
        model=({"name": p.name, "sha256": p.sha256, "path": str(p.path), "facility": p.card.get("facility")}
               if p is not None else None),
        model_health=ModelHealthStatus(
            healthy=health.healthy, consecutive_timeouts=health.consecutive_timeouts,
            timeouts_total=health.timeouts_total, unhealthy_after=service.site.model_unhealthy_after,
            unhealthy_since_s=health.unhealthy_since_s, detail=health.detail, hung_workers=service.hung_workers),
        overrides={n: {"value": o.value, "expires_s": o.expires_s, "who": o.who, "why": o.why}
                   for n, o in snap.overrides.items()},
        envelope={"model_failures": snap.envelope.model_failures,
                  "last_written": json_safe(snap.envelope.last_written)},
        last_decision=outcome_json(snap.last),
        drift=_drift_json(snap),
        excitation=(ExcitationStatusModel.model_validate({**json_safe(asdict(snap.excitation)),
                                                         "tests": dict(snap.excitation.tests)})
                    if snap.excitation is not None else None),
    )


def _drift_json(snap: Snapshot) -> DriftStatusModel | None:
    d = snap.drift
    if d is None:
        return None
    return DriftStatusModel(
        facility=d.facility, window_cycles=d.window_cycles, min_cycles=d.min_cycles, on_drift=d.on_drift,
        events_total=d.events_total, twin_errors=d.twin_errors, last_twin_error=d.last_twin_error,
        points={p.name: PointDriftStatus(cv_rmse_pct=json_safe(p.cv_rmse_pct), nmbe_pct=json_safe(p.nmbe_pct), n=p.n,
                                         threshold=p.threshold.model_dump(), state=p.state) for p in d.points})


def create_app(service: ControllerService, token: str | None, metrics: ServiceMetrics | None = None) -> FastAPI:
    """The API of one running service (its override bodies and setpoint paths follow the service's contract)."""
    metrics = metrics or ServiceMetrics(service)
    setpoint_name = setpoint_name_type(service.contract)
    override_request = override_request_type(service.contract)
    app = FastAPI(title="coolpilot controller", version="1", description=__doc__)
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(_each_query_parameter_once)])

    def authorized(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if token is None:
            raise HTTPException(403, "no API token is configured for this site: mutating endpoints are disabled")
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorized)]
    trends_one_at_a_time = asyncio.Lock()  # many polling screens take one worker thread's share of the GIL, not N

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field; non-finite numbers in the echoed input become null (valid JSON)."""
        errors = _name_the_field(list(exc.errors()))
        return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(errors))})

    @router.get("/health", response_model=Health)
    async def health() -> Health:
        """The process is alive."""
        return Health(status="ok", uptime_s=service.clock() - service.started_s)

    @router.get("/ready", responses={503: {"model": Problem, "description": "not ready"}})
    async def ready() -> dict[str, Any]:
        """Ready when the plant is reachable, a cycle has completed and the site's model (if any) is loaded, healthy."""
        snap = service.snapshot
        checks = {"connected": snap.connected, "cycled": snap.last is not None,
                  "model": (snap.policy is not None and snap.model_health.healthy) or service.site.model is None}
        if not all(checks.values()):
            raise HTTPException(503, detail={"ready": False, **checks})
        return {"ready": True, **checks}

    @router.get("/status", response_model=Status)
    async def status() -> Status:
        """Mode, model and its health, overrides, envelope state and the last decision (one consistent snapshot)."""
        return _status(service, service.snapshot)

    @router.get("/decision", responses={404: {"model": Problem, "description": "no decision yet"}})
    async def current_decision() -> dict[str, Any]:
        """The latest cycle's decision."""
        last = service.snapshot.last
        if last is None:
            raise HTTPException(404, "no decision yet")
        out = outcome_json(last)
        assert out is not None
        return out

    @router.get("/decisions")
    def decisions(limit: Annotated[int, Query(ge=1, le=1000), PLAIN] = 100,
                  offset: Annotated[int, Query(ge=0, le=2**31), PLAIN] = 0,
                  since_s: QueryTime = None, until_s: QueryTime = None) -> list[dict[str, Any]]:
        """Decision history from the audit trail, newest first."""
        records = service.audit.decisions(since_s=since_s, until_s=until_s, limit=limit, offset=offset)
        return [json_safe(asdict(r)) for r in records]

    @router.get("/trends", response_model=Trends)
    async def trends(hours: Annotated[int, Query(ge=1, le=168, description="Hours back from now (1..168)."),
                                      PLAIN] = 24) -> Response:
        """The audit trail of the last ``hours``, downsampled to at most 600 buckets, with the guard and limit.

        Per bucket: the hottest inlet (max), the mean inlet, facility and cooling power (mean), per
        setpoint the policy's mean proposal and the last value written; interventions as marks. The
        aggregation runs in SQLite on a worker thread, never on the control loop, one request at a time.
        """
        async with trends_one_at_a_time:
            body = await asyncio.to_thread(trends_json, service, hours, service.clock())
        return Response(body, media_type="application/json")

    @router.get("/decisions.csv", response_class=PlainTextResponse)
    def decisions_csv(since_s: QueryTime = None, until_s: QueryTime = None) -> str:
        """The audit trail as CSV."""
        buf = io.StringIO()
        service.audit.export_csv(buf, since_s=since_s, until_s=until_s)
        return buf.getvalue()

    @router.post("/mode", dependencies=auth, responses=_BODY_RESPONSES)
    async def change_mode(body: ModeChange) -> dict[str, Any]:
        """Change mode (recorded with who and why)."""
        old = await service.set_mode(body.mode, body.who, body.why)
        return {"old": old, "mode": body.mode}

    async def override(body: Any) -> dict[str, Any]:
        """Hold a setpoint at a value until the override expires (the envelope still bounds what is written).

        Any setpoint of the service's contract is accepted by the schema; one the service does not
        command (the site's map or the model leave it to the plant's own sequence) is refused (409).
        """
        try:
            ov = await service.set_override(body.setpoint, body.value, body.duration_s, body.who, body.why)
        except ValueError as err:  # a setpoint not commanded; the schema holds the rest of the service's checks
            raise HTTPException(409, str(err)) from None
        return {"setpoint": body.setpoint, "value": ov.value, "expires_s": ov.expires_s}

    router.add_api_route("/override", _annotated(override, body=override_request), methods=["POST"],
                         dependencies=auth, responses={**_BODY_RESPONSES,
                                                       409: {"model": Problem, "description": "refused by the "
                                                             "service (a setpoint it does not command)"}})

    async def clear_override(
            setpoint: str,
            who: Annotated[str | None, Query(min_length=1, max_length=100, description="Who (audited).")] = None,
            why: Annotated[str | None, Query(min_length=1, max_length=1000, description="Why (audited).")] = None,
    ) -> dict[str, Any]:
        """End an override now (recorded in the audit trail with who and why, when given)."""
        if not await service.clear_override(setpoint, who or "", why or ""):
            raise HTTPException(404, f"no override on {setpoint}")
        return {"setpoint": setpoint, "cleared": True}

    router.add_api_route("/override/{setpoint}", _annotated(clear_override, setpoint=setpoint_name),
                         methods=["DELETE"], dependencies=auth,
                         responses={**_AUTH_RESPONSES, 404: {"model": Problem, "description": "no override on it"}})

    @router.post("/model/reload", dependencies=auth,
                 responses={**_BODY_RESPONSES, 409: {"model": Problem, "description": "bundle refused; old model "
                                                                                       "kept"}})
    async def reload_model(body: ReloadRequest) -> dict[str, Any]:
        """Verify a bundle (card, contract, a trial inference in time), then swap it in; the old one stays on error.

        A reload clears an unhealthy mark: the new model is called again from the next cycle.
        """
        try:
            p = await service.reload_model(body.path)
        except (BundleError, OSError) as err:
            raise HTTPException(409, f"model not reloaded: {err}") from None
        return {"name": p.name, "sha256": p.sha256, "path": str(p.path)}

    app.include_router(router)
    register_console(app, service)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus(request: Request) -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
