"""The HTTP API of the controller service (FastAPI), under ``/api/v1``.

Read-only endpoints (health, readiness, status, decisions, metrics) are open on the bind
address (loopback unless the site opens it); every endpoint that changes something (mode,
overrides, model reload) needs ``Authorization: Bearer <token>``; without a configured
token they are refused (403), with a missing or wrong one 401. Request bodies are
validated with bounds (422 on anything malformed). The OpenAPI schema is at
``/openapi.json``.
"""

from __future__ import annotations

import io
import math
import secrets
from dataclasses import asdict
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, create_model

from controller.metrics import ServiceMetrics
from controller.policies.onnx_policy import BundleError
from controller.service import ControllerService, CycleOutcome
from envs.contract import SETPOINT_NAMES, SETPOINTS_BY_NAME

SetpointName = Literal["supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c", "condenser_water_temp_c"]
assert tuple(SetpointName.__args__) == SETPOINT_NAMES  # type: ignore[attr-defined]  # kept in step with the contract

_bearer = HTTPBearer(auto_error=False)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


def _override_model(name: str) -> type[_OverrideBase]:
    """The override body of one setpoint, its value bounded by the contract's hard bounds (in the schema)."""
    spec = SETPOINTS_BY_NAME[name]
    title = "Override_" + name
    setpoint_type: Any = Literal[name]
    return create_model(
        title, __base__=_OverrideBase, __doc__=f"Override of {name}: {spec.description}",
        setpoint=(setpoint_type, Field(description="The setpoint held.")),
        value=(float, Field(ge=spec.low, le=spec.high, allow_inf_nan=False,
                            description=f"Value held ({spec.unit}, {spec.low}..{spec.high}).")),
    )


OverrideRequest = Annotated[  # type: ignore[valid-type]
    Union[tuple(_override_model(n) for n in SETPOINT_NAMES)],  # noqa: UP007
    Field(discriminator="setpoint"),
]


class ReloadRequest(_Body):
    """Load a policy bundle; it replaces the running one only if it verifies."""

    path: str | None = Field(None, max_length=4096, description="Bundle folder; default: the site's model.")


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


class Status(BaseModel):
    site: str
    mode: str
    run_id: str
    cycle: int
    connected: bool
    model: dict[str, Any] | None
    overrides: dict[str, dict[str, Any]]
    envelope: dict[str, Any]
    last_decision: dict[str, Any] | None


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def outcome_json(o: CycleOutcome | None) -> dict[str, Any] | None:
    """A cycle as JSON (NaN and inf become null)."""
    if o is None:
        return None
    d = o.decision
    return _finite({
        "cycle": o.cycle, "time_s": o.time_s, "mode": o.mode, "wrote": o.wrote, "latency_ms": o.latency_ms,
        "raw_output": o.raw_output, "write_errors": o.write_errors,
        "source": d.source if d is not None else "off",
        "setpoints": d.setpoints if d is not None else None,
        "sensors_ok": d.sensors_ok if d is not None else None,
        "interventions": [{"reason": i.reason, "target": i.target, "detail": i.detail}
                          for i in (d.interventions if d is not None else ())],
    })


def create_app(service: ControllerService, token: str | None, metrics: ServiceMetrics | None = None) -> FastAPI:
    """The API of one running service."""
    metrics = metrics or ServiceMetrics(service)
    app = FastAPI(title="coolpilot controller", version="1", description=__doc__)
    router = APIRouter(prefix="/api/v1")

    def authorized(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if token is None:
            raise HTTPException(403, "no API token is configured for this site: mutating endpoints are disabled")
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorized)]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field; non-finite numbers in the echoed input become null (valid JSON)."""
        return JSONResponse(status_code=422, content={"detail": _finite(jsonable_encoder(exc.errors()))})

    @router.get("/health", response_model=Health)
    def health() -> Health:
        """The process is alive."""
        return Health(status="ok", uptime_s=service.clock() - service.started_s)

    @router.get("/ready", responses={503: {"model": Problem, "description": "not ready"}})
    def ready() -> dict[str, Any]:
        """Ready when the plant is reachable and a cycle has completed."""
        checks = {"connected": service.connected, "cycled": service.last is not None,
                  "model": service.policy is not None or service.site.model is None}
        if not all(checks.values()):
            raise HTTPException(503, detail={"ready": False, **checks})
        return {"ready": True, **checks}

    @router.get("/status", response_model=Status)
    def status() -> Status:
        """Mode, model, overrides, envelope state and the last decision."""
        p = service.policy
        return Status(
            site=service.site.name, mode=service.mode, run_id=service.run_id, cycle=service.cycle,
            connected=service.connected,
            model=({"name": p.name, "sha256": p.sha256, "path": str(p.path), "facility": p.card.get("facility")}
                   if p is not None else None),
            overrides={n: {"value": o.value, "expires_s": o.expires_s, "who": o.who, "why": o.why}
                       for n, o in service.overrides.items()},
            envelope={"model_failures": service.state.model_failures,
                      "last_written": _finite(service.state.last_written)},
            last_decision=outcome_json(service.last),
        )

    @router.get("/decision", responses={404: {"model": Problem, "description": "no decision yet"}})
    def current_decision() -> dict[str, Any]:
        """The latest cycle's decision."""
        if service.last is None:
            raise HTTPException(404, "no decision yet")
        out = outcome_json(service.last)
        assert out is not None
        return out

    @router.get("/decisions")
    def decisions(limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
                  since_s: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                  until_s: Annotated[float | None, Query(allow_inf_nan=False)] = None) -> list[dict[str, Any]]:
        """Decision history from the audit trail, newest first."""
        records = service.audit.decisions(since_s=since_s, until_s=until_s, limit=limit, offset=offset)
        return [_finite(asdict(r)) for r in records]

    @router.get("/decisions.csv", response_class=PlainTextResponse)
    def decisions_csv(since_s: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                      until_s: Annotated[float | None, Query(allow_inf_nan=False)] = None) -> str:
        """The audit trail as CSV."""
        buf = io.StringIO()
        service.audit.export_csv(buf, since_s=since_s, until_s=until_s)
        return buf.getvalue()

    @router.post("/mode", dependencies=auth, responses=_BODY_RESPONSES)
    async def change_mode(body: ModeChange) -> dict[str, Any]:
        """Change mode (recorded with who and why)."""
        old = service.mode
        await service.set_mode(body.mode, body.who, body.why)
        return {"old": old, "mode": service.mode}

    @router.post("/override", dependencies=auth,
                 responses={**_BODY_RESPONSES, 409: {"model": Problem, "description": "refused by the service"}})
    def override(body: OverrideRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Hold a setpoint at a value until the override expires (the envelope still bounds what is written)."""
        try:
            req: Any = body
            ov = service.set_override(req.setpoint, req.value, req.duration_s, req.who, req.why)
        except ValueError as err:  # the body schema already holds the service's checks; kept as a guard
            raise HTTPException(409, str(err)) from None
        return {"setpoint": req.setpoint, "value": ov.value, "expires_s": ov.expires_s}

    @router.delete("/override/{setpoint}", dependencies=auth,
                   responses={**_AUTH_RESPONSES, 404: {"model": Problem, "description": "no override on it"}})
    def clear_override(setpoint: SetpointName) -> dict[str, Any]:
        """End an override now."""
        if not service.clear_override(setpoint):
            raise HTTPException(404, f"no override on {setpoint}")
        return {"setpoint": setpoint, "cleared": True}

    @router.post("/model/reload", dependencies=auth,
                 responses={**_BODY_RESPONSES, 409: {"model": Problem, "description": "bundle refused; old model "
                                                                                       "kept"}})
    def reload_model(body: ReloadRequest) -> dict[str, Any]:
        """Verify a bundle against its card and the contract, then swap it in (the old one stays on error)."""
        try:
            p = service.reload_model(body.path)
        except (BundleError, OSError) as err:
            raise HTTPException(409, f"model not reloaded: {err}") from None
        return {"name": p.name, "sha256": p.sha256, "path": str(p.path)}

    app.include_router(router)

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus(request: Request) -> Response:
        """Prometheus exposition."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
