"""The HTTP API under attack: missing or wrong tokens, malformed bodies, and its OpenAPI schema fuzzed.

Schemathesis generates requests from ``/openapi.json`` (valid and invalid ones, with and
without the token) and checks every response: no server error, status codes and bodies as
documented, invalid data refused. The service behind it is real (bundle, envelope, audit)
over an in-memory plant.

The fuzzing is deterministic in CI: it runs under the hypothesis profile that
``tests/conftest.py`` loads (``ci``: derandomized, no example database), so a commit passes
or fails the same way on every run. To hunt with fresh randomness (and more examples)::

    COOLPILOT_FUZZ=fresh python -m pytest tests/controller/test_api.py -k fuzzed

and pin what it finds in :data:`STRICT_BODY_CASES` (or a test of its own) as a fixed example.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from coolpilot.controller.api import create_app
from coolpilot.controller.service import ControllerService
from tests.controller.helpers import BUNDLE, cycles, make

TOKEN = "k" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ControllerService]:
    """A service that has run three cycles; shut down afterwards (its inference worker ends, the audit closes)."""
    svc, _, clock = make(tmp_path)
    cycles(svc, clock, 3)
    yield svc
    asyncio.run(svc.shutdown())


@pytest.fixture
def client(service: ControllerService) -> TestClient:
    return TestClient(create_app(service, TOKEN))


MUTATING = [
    ("post", "/api/v1/mode", {"mode": "active", "who": "a", "why": "b"}),
    ("post", "/api/v1/override", {"setpoint": "crah_fan_speed_frac", "value": 0.8, "duration_s": 60,
                                  "who": "a", "why": "b"}),
    ("delete", "/api/v1/override/crah_fan_speed_frac", None),
    ("post", "/api/v1/model/reload", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), MUTATING)
def test_mutating_endpoints_refuse_missing_or_wrong_tokens(client: TestClient, service: ControllerService,
                                                           method: str, path: str, body: Any) -> None:
    mode, model = service.mode, service.model_sha256
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.status_code, response.text)
        assert response.headers.get("www-authenticate", "").startswith("Bearer")
    assert service.mode == mode and service.model_sha256 == model and dict(service.snapshot.overrides) == {}


def test_without_a_configured_token_nothing_mutates(service: ControllerService) -> None:
    client = TestClient(create_app(service, None))
    for method, path, body in MUTATING:
        assert client.request(method, path, json=body, headers=AUTH).status_code == 403
    assert client.get("/api/v1/status").status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"mode": "auto", "who": "a", "why": "b"}, "mode"),
    ({"mode": "active", "who": "", "why": "b"}, "who"),
    ({"mode": "active", "who": "a"}, "why"),
    ({"mode": "active", "who": "a", "why": "b", "extra": 1}, "extra"),
])
def test_malformed_mode_changes_are_refused_and_name_the_field(client: TestClient, service: ControllerService,
                                                               body: dict[str, Any], field: str) -> None:
    response = client.post("/api/v1/mode", json=body, headers=AUTH)
    assert response.status_code == 422
    assert any(field in [str(p) for p in err["loc"]] for err in response.json()["detail"]), response.json()
    assert service.mode == "shadow"


@pytest.mark.parametrize("override", [
    {"setpoint": "crah_fan_speed_frac", "value": 1.5, "duration_s": 60},   # above the hard bound
    {"setpoint": "supply_air_temp_c", "value": 10.0, "duration_s": 60},    # below the hard bound
    {"setpoint": "warp_drive", "value": 1.0, "duration_s": 60},            # not a setpoint
    {"setpoint": "crah_fan_speed_frac", "value": 0.8, "duration_s": 0},    # no duration
    {"setpoint": "crah_fan_speed_frac", "value": 0.8, "duration_s": 1e9},  # longer than a week
])
def test_malformed_overrides_are_refused(client: TestClient, service: ControllerService,
                                         override: dict[str, Any]) -> None:
    response = client.post("/api/v1/override", json={**override, "who": "a", "why": "b"}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert dict(service.snapshot.overrides) == {}


OVERRIDE = {"setpoint": "crah_fan_speed_frac", "value": 0.8, "duration_s": 60, "who": "a", "why": "b"}

STRICT_BODY_CASES = [
    # the fuzzer's find (issue 13): a boolean held as a 1 s override
    ("/api/v1/override", {**OVERRIDE, "duration_s": True}, "duration_s"),
    ("/api/v1/override", {**OVERRIDE, "duration_s": False}, "duration_s"),
    ("/api/v1/override", {**OVERRIDE, "value": True}, "value"),
    # numbers in strings are text, not numbers
    ("/api/v1/override", {**OVERRIDE, "value": "0.8"}, "value"),
    ("/api/v1/override", {**OVERRIDE, "duration_s": "1.5"}, "duration_s"),
    ("/api/v1/override", {**OVERRIDE, "value": None}, "value"),
    ("/api/v1/override", {**OVERRIDE, "value": 10**400}, "value"),
    ("/api/v1/override", {**OVERRIDE, "value": [0.8]}, "value"),
    # unknown fields, wrong types and unbounded strings
    ("/api/v1/override", {**OVERRIDE, "priority": 8}, "priority"),
    ("/api/v1/override", {**OVERRIDE, "who": 7}, "who"),
    ("/api/v1/override", {**OVERRIDE, "why": "x" * 1001}, "why"),
    ("/api/v1/override", {**OVERRIDE, "setpoint": True}, "setpoint"),
    ("/api/v1/override", {key: v for key, v in OVERRIDE.items() if key != "setpoint"}, "setpoint"),
    ("/api/v1/mode", {"mode": "active", "who": "a" * 101, "why": "b"}, "who"),
    ("/api/v1/mode", {"mode": 1, "who": "a", "why": "b"}, "mode"),
    ("/api/v1/model/reload", {"path": 5}, "path"),
    ("/api/v1/model/reload", {"path": ""}, "path"),
    ("/api/v1/model/reload", {"path": "p" * 4097}, "path"),
    ("/api/v1/model/reload", {"bundle": str(BUNDLE)}, "bundle"),
]
"""Bodies the strict API refuses (path, body, the field its 422 must name); fixed examples of what fuzzing found."""


@pytest.mark.parametrize(("path", "body", "field"), STRICT_BODY_CASES,
                         ids=[f"{p.rsplit('/', 1)[-1]}-{f}-{i}" for i, (p, _, f) in enumerate(STRICT_BODY_CASES)])
def test_strict_bodies_refuse_coercion_unknown_fields_and_long_strings(
        client: TestClient, service: ControllerService, path: str, body: Any, field: str) -> None:
    mode, model = service.mode, service.model_sha256
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    locs = [[str(p) for p in err["loc"]] for err in response.json()["detail"]]
    assert any(loc[0] == "body" and loc[-1] == field for loc in locs), locs
    assert service.mode == mode and service.model_sha256 == model and dict(service.snapshot.overrides) == {}


QUERY_CASES = [
    # the fuzzer's find: a parameter given twice was read as its last value (200)
    ("/api/v1/decisions.csv?since_s=1&since_s=2", "since_s"),
    ("/api/v1/decisions?limit=5&limit=6", "limit"),
    # numbers not written plainly, which Python's parsing would take
    ("/api/v1/decisions.csv?until_s=%0C0", "until_s"),
    ("/api/v1/decisions?since_s=%201.5", "since_s"),
    ("/api/v1/decisions?limit=1_0", "limit"),
    ("/api/v1/decisions?offset=%EF%BC%95", "offset"),  # a full-width digit five
    ("/api/v1/decisions?since_s=inf", "since_s"),
]
"""Query strings the API refuses (URL, the parameter its 422 must name); fixed examples of what fuzzing found."""


@pytest.mark.parametrize(("url", "field"), QUERY_CASES, ids=[f"{f}-{i}" for i, (_, f) in enumerate(QUERY_CASES)])
def test_query_numbers_are_plain_and_given_once(client: TestClient, url: str, field: str) -> None:
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert ["query", field] in [[str(p) for p in err["loc"]] for err in response.json()["detail"]], response.text


def test_plain_query_numbers_are_taken(client: TestClient) -> None:
    assert [d["cycle"] for d in client.get("/api/v1/decisions?limit=2&offset=0&since_s=0&until_s=1e10").json()] \
        == [3, 2]
    assert client.get("/api/v1/decisions.csv?since_s=-1.5e3").status_code == 200


def test_strict_bodies_still_take_json_integers_for_numbers(client: TestClient, service: ControllerService) -> None:
    """A JSON integer is a number: strictness refuses booleans and strings, not ``60`` for ``60.0``."""
    response = client.post("/api/v1/override", json={**OVERRIDE, "value": 1, "duration_s": 60}, headers=AUTH)
    assert response.status_code == 200, response.text
    held = service.snapshot.overrides["crah_fan_speed_frac"]
    assert held.value == 1.0 and isinstance(held.value, float)


def test_non_json_and_non_finite_bodies_are_refused(client: TestClient) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    assert client.post("/api/v1/mode", content=b"{not json", headers=headers).status_code == 422
    nan = b'{"setpoint": "crah_fan_speed_frac", "value": NaN, "duration_s": 60, "who": "a", "why": "b"}'
    assert client.post("/api/v1/override", content=nan, headers=headers).status_code == 422
    assert client.get("/api/v1/decisions?limit=0").status_code == 422
    assert client.get("/api/v1/decisions?limit=abc").status_code == 422
    assert client.delete("/api/v1/override/warp_drive", headers=AUTH).status_code == 422
    assert client.get("/api/v1/nowhere").status_code == 404


def test_reload_of_a_missing_or_corrupt_bundle_is_a_conflict_and_keeps_the_model(
        client: TestClient, service: ControllerService, tmp_path: Path) -> None:
    before = service.model_sha256
    assert client.post("/api/v1/model/reload", json={"path": str(tmp_path / "nope")}, headers=AUTH).status_code == 409
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "policy.onnx").write_bytes(b"\x00garbage")
    (broken / "card.json").write_text("{}")
    response = client.post("/api/v1/model/reload", json={"path": str(broken)}, headers=AUTH)
    assert response.status_code == 409 and response.json()["detail"]
    assert service.model_sha256 == before


FUZZ_EXAMPLES = 15
"""Examples per operation and generation mode in CI."""


def operations(service: ControllerService) -> list[Any]:
    """Every operation of the live app's OpenAPI schema."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service, TOKEN))
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize("token", [False, True], ids=["no-token", "token"])
def test_openapi_schema_fuzzed(service: ControllerService, mode: schemathesis.GenerationMode, token: bool) -> None:
    """Valid and invalid requests to every operation, with and without the token: no 5xx, all documented.

    (Driven through hypothesis directly: schemathesis's pytest plugin does not load under pytest 9.)
    Derandomized under the ``ci`` profile; the ``fresh`` profile (``COOLPILOT_FUZZ=fresh``)
    draws fresh examples, as many per operation as the profile's ``max_examples``.
    """
    ops = operations(service)
    assert {op.path for op in ops} >= {"/api/v1/mode", "/api/v1/override", "/api/v1/model/reload",
                                       "/api/v1/decisions", "/api/v1/status", "/metrics"}
    headers = AUTH if token else None
    profile = settings()  # the profile tests/conftest.py loaded
    examples = FUZZ_EXAMPLES if profile.derandomize else max(FUZZ_EXAMPLES, profile.max_examples)
    for op in ops:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers)

        try:
            check()
        except Unsatisfiable:  # e.g. no invalid request exists for an operation without parameters
            continue


def test_schema_documents_auth_and_errors(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    post_mode = doc["paths"]["/api/v1/mode"]["post"]
    assert {"200", "401", "403", "422"} <= set(post_mode["responses"])


@pytest.fixture
def modern(tmp_path: Path) -> Iterator[ControllerService]:
    """A service on modern-hall running the shipped contract-1 bundle: it commands the core four of nine."""
    svc, _, clock = make(tmp_path, facility="modern-hall")
    cycles(svc, clock, 2)
    yield svc
    asyncio.run(svc.shutdown())


def test_the_override_schema_and_status_follow_the_services_contract(modern: ControllerService) -> None:
    client = TestClient(create_app(modern, TOKEN))
    doc = client.get("/openapi.json").json()
    tags = {s["properties"]["setpoint"]["const"] for name, s in doc["components"]["schemas"].items()
            if name.startswith("Override_")}
    assert tags == set(modern.contract.setpoint_names) and "economizer_enable" in tags
    status = client.get("/api/v1/status").json()["contract"]
    assert status["blocks"] == list(modern.contract.blocks) and status["fingerprint"] == modern.contract.fingerprint
    assert status["setpoints"] == list(modern.contract.setpoint_names)
    assert status["commanded_setpoints"] == ["supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c",
                                             "condenser_water_temp_c"]
    assert status["commanded_points"] == list(modern.contract.point_names)
    lever = {"setpoint": "cw_flow_frac", "value": 0.8, "duration_s": 60, "who": "a", "why": "b"}
    refused = client.post("/api/v1/override", json=lever, headers=AUTH)
    assert refused.status_code == 409 and "not commanded by this service" in refused.json()["detail"]
    assert "supply_air_temp_c, crah_fan_speed_frac" in refused.json()["detail"]
    too_high = client.post("/api/v1/override", json={**lever, "value": 1.2}, headers=AUTH)
    assert too_high.status_code == 422, "the lever's own bounds are in the schema"
    assert client.post("/api/v1/override", json={**lever, "setpoint": "crah_fan_speed_frac"},
                       headers=AUTH).status_code == 200
    assert client.delete("/api/v1/override/economizer_enable", headers=AUTH).status_code == 404
    assert client.delete("/api/v1/override/crah_fan_speed_frac", headers=AUTH).status_code == 200
    assert client.delete("/api/v1/override/warp_drive", headers=AUTH).status_code == 422
    trends = client.get("/api/v1/trends?hours=1").json()
    assert set(trends["setpoints"]) == set(modern.contract.setpoint_names)


def test_openapi_schema_of_a_modern_hall_service_fuzzed(modern: ControllerService) -> None:
    """The per-contract request models hold up to the same fuzzing (positive and negative, with the token)."""
    for op in operations(modern):
        if "override" not in op.path:
            continue
        for mode in schemathesis.GenerationMode:
            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                      database=None)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=AUTH)

            try:
                check()
            except Unsatisfiable:
                continue
