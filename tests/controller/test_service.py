"""The control loop with an in-memory plant: modes, audit, model faults, overrides, reload, shutdown, API."""

from __future__ import annotations

import asyncio
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from coolpilot.controller.audit import AuditStore
from coolpilot.controller.site import SiteConfig, SiteConfigError, load_site
from tests.controller.helpers import BUNDLE, cycles, in_bounds, make

REPO = Path(__file__).resolve().parents[2]


def test_shadow_never_writes_and_records_every_cycle(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path)
    cycles(service, clock, 5)
    assert plant.writes == [] and plant.relinquished == []
    records = service.audit.decisions(limit=10)
    assert [r.cycle for r in records] == [5, 4, 3, 2, 1]
    assert all(r.mode == "shadow" and not r.wrote and r.model_sha256 == service.model_sha256 for r in records)
    assert all(r.source == "policy" for r in records)


def test_active_writes_in_bounds_and_records_what_was_written(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active")
    cycles(service, clock, 3)
    assert len(plant.writes) == 3 and all(in_bounds(w) for w in plant.writes)
    last = service.audit.decisions(limit=1)[0]
    assert last.wrote and last.written == plant.writes[-1]


def test_mode_changes_are_recorded_and_survive_a_restart(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active")
    cycles(service, clock, 1)
    asyncio.run(service.set_mode("fallback", "alice", "chiller maintenance"))
    assert plant.relinquished, "leaving active hands the setpoints back"
    cycles(service, clock, 1)
    assert service.audit.decisions(limit=1)[0].mode == "fallback"
    change = service.audit.mode_changes(limit=1)[0]
    assert change["who"] == "alice" and change["why"] == "chiller maintenance" and change["new"] == "fallback"
    service.audit.close()
    again, _, _ = make(tmp_path, mode="active")
    assert again.mode == "fallback"
    with pytest.raises(ValueError, match="choose one of"):
        asyncio.run(again.set_mode("auto", "bob", "typo"))


class Raising:
    name = "raising"
    sha256 = "x" * 64
    training_ranges: dict[str, tuple[float, float]] = {}  # noqa: RUF012
    card: dict[str, Any] = {}  # noqa: RUF012

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        raise RuntimeError("onnxruntime exploded")


class Garbage(Raising):
    name = "garbage"

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        return {"supply_air_temp_c": math.nan, "crah_fan_speed_frac": 1e9}  # type: ignore[dict-item]


class Slow(Raising):
    name = "slow"

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        import time

        time.sleep(0.5)
        return {}


@pytest.mark.parametrize(("policy", "reason"), [(Raising(), "model_error"), (Garbage(), "model_invalid_output"),
                                                (Slow(), "model_error")])
def test_model_faults_hold_then_fall_back_and_writes_stay_safe(tmp_path: Path, policy: Any, reason: str) -> None:
    service, plant, clock = make(tmp_path, mode="active", model_timeout_s=0.1)
    cycles(service, clock, 2)
    service.policy = policy
    cycles(service, clock, 5)
    records = list(reversed(service.audit.decisions(limit=5)))
    assert all(any(i["reason"] == reason for i in r.interventions) for r in records)
    sources = [r.source for r in records]
    assert sources[0] == "hold" and sources[-1] == "fallback"
    assert all(in_bounds(w) for w in plant.writes)


def test_unreadable_plant_is_recorded_and_the_loop_goes_on(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active")
    cycles(service, clock, 1)
    plant.fail_reads = True
    cycles(service, clock, 4)
    assert not service.connected
    assert service.audit.count() == 5
    assert all(in_bounds(w) for w in plant.writes)
    plant.fail_reads = False
    cycles(service, clock, 1)
    assert service.connected


def test_refused_writes_are_audited(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active")
    plant.refuse = {"chw_supply_temp_c"}
    cycles(service, clock, 1)
    rec = service.audit.decisions(limit=1)[0]
    assert any(i["reason"] == "write_refused" and i["target"] == "chw_supply_temp_c" for i in rec.interventions)


def test_override_holds_then_expires(tmp_path: Path) -> None:
    service, _, clock = make(tmp_path, mode="active")
    cycles(service, clock, 3)
    asyncio.run(service.set_override("crah_fan_speed_frac", 0.9, 600.0, "op", "test"))
    cycles(service, clock, 2)
    assert service.audit.decisions(limit=1)[0].written is not None
    assert any(i["reason"] == "operator_override" for i in service.audit.decisions(limit=1)[0].interventions)
    cycles(service, clock, 2)
    assert "crah_fan_speed_frac" not in service.snapshot.overrides
    with pytest.raises(ValueError, match="outside"):
        asyncio.run(service.set_override("crah_fan_speed_frac", 1.5, 60.0, "op", "typo"))


def test_reload_refuses_a_corrupted_bundle_and_keeps_the_old_one(tmp_path: Path) -> None:
    from coolpilot.controller.policies.onnx_policy import BundleError

    service, _, _ = make(tmp_path)
    bad = tmp_path / "bad"
    shutil.copytree(BUNDLE, bad)
    data = bytearray((bad / "policy.onnx").read_bytes())
    data[100] ^= 0xFF
    (bad / "policy.onnx").write_bytes(bytes(data))
    before = service.model_sha256
    with pytest.raises(BundleError, match="sha256"):
        asyncio.run(service.reload_model(str(bad)))
    assert service.model_sha256 == before
    assert asyncio.run(service.reload_model(str(BUNDLE))).sha256 == before


def test_shutdown_relinquishes_when_active(tmp_path: Path) -> None:
    service, plant, _ = make(tmp_path, mode="active", period_s=0.01)
    asyncio.run(service.run(cycles=2))
    assert len(plant.writes) == 2 and plant.relinquished


def test_site_file_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("mode: auto\nperiod_s: -1\nadapter: {kind: mqtt}\napi: {port: 70000}\n")
    with pytest.raises(SiteConfigError) as err:
        load_site(path)
    msg = str(err.value)
    assert str(path) in msg and "field 'mode'" in msg and "field 'period_s' = -1 s" in msg
    assert "adapter.mqtt" in msg and "field 'api.port' = 70000" in msg
    site = load_site(REPO / "examples" / "site.yaml")
    assert isinstance(site, SiteConfig) and site.mode == "shadow" and Path(site.audit.path).is_absolute()


def test_api_auth_status_mode_decisions_metrics(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from coolpilot.controller.api import create_app

    service, _, clock = make(tmp_path)
    token = "t" * 32
    client = TestClient(create_app(service, token))
    assert client.get("/api/v1/health").json()["status"] == "ok"
    assert client.get("/api/v1/ready").status_code == 503
    cycles(service, clock, 2)
    assert client.get("/api/v1/ready").status_code == 200
    status = client.get("/api/v1/status").json()
    assert status["mode"] == "shadow" and status["model"]["sha256"] == service.model_sha256
    body = {"mode": "active", "who": "alice", "why": "commissioning done"}
    assert client.post("/api/v1/mode", json=body).status_code == 401
    assert client.post("/api/v1/mode", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/mode", json={"mode": "auto", "who": "a", "why": "b"}, headers=auth).status_code == 422
    assert client.post("/api/v1/mode", json=body, headers=auth).json() == {"old": "shadow", "mode": "active"}
    ov = {"setpoint": "crah_fan_speed_frac", "value": 0.8, "duration_s": 600, "who": "a", "why": "b"}
    assert client.post("/api/v1/override", json=ov, headers=auth).status_code == 200
    assert client.post("/api/v1/override", json={**ov, "value": 5.0}, headers=auth).status_code == 422
    assert client.delete("/api/v1/override/crah_fan_speed_frac", headers=auth).status_code == 200
    assert client.post("/api/v1/model/reload", json={"path": str(tmp_path)}, headers=auth).status_code == 409
    history = client.get("/api/v1/decisions?limit=5").json()
    assert [d["cycle"] for d in history] == [2, 1]
    assert client.get("/api/v1/decisions.csv").text.startswith("time_s,")
    metrics = client.get("/metrics").text
    assert "coolpilot_decisions_total" in metrics and "coolpilot_decision_latency_seconds_bucket" in metrics
    no_token = TestClient(create_app(service, None))
    assert no_token.post("/api/v1/mode", json=body, headers=auth).status_code == 403
    assert "/api/v1/mode" in client.get("/openapi.json").json()["paths"]
    _ = AuditStore  # the audit store is the service's own


# --- the contract of the site's facility -------------------------------------------------------------------------

CORE = ["supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c", "condenser_water_temp_c"]


def test_without_a_model_the_rule_based_fallback_commands_every_lever_of_the_facility(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active", facility="modern-hall", model=None,
                                 safety={"hold_cycles": 0})
    modern = service.contract
    assert service.commanded == modern and len(modern.setpoint_names) == 9
    cycles(service, clock, 3)
    assert all(set(w) == set(modern.setpoint_names) and in_bounds(w) for w in plant.writes)
    assert plant.writes[-1]["economizer_enable"] in (0.0, 1.0)
    assert plant.relinquished == [], "nothing handed back: the fallback commands every lever"


def test_a_contract_1_bundle_commands_the_core_four_and_never_writes_the_levers(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active", facility="modern-hall")
    assert list(service.commanded.setpoint_names) == CORE
    assert service.commanded.point_names == service.contract.point_names
    cycles(service, clock, 3)
    assert all(list(w) == CORE for w in plant.writes)
    asyncio.run(service.set_mode("shadow", "a", "b"))
    assert plant.relinquished == [CORE], "leaving active hands back only what it commanded"


def test_a_legacy_fallback_writes_the_core_and_hands_the_levers_back(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active", facility="modern-hall", model=None,
                                 fallback_policy="legacy", safety={"hold_cycles": 0})
    cycles(service, clock, 2)
    levers = [n for n in service.contract.setpoint_names if n not in CORE]
    assert [list(w) for w in plant.writes] == [CORE, CORE]
    assert plant.relinquished == [levers, levers], "the plant's own sequence runs the levers"
    record = service.audit.decisions(limit=1)[0]
    assert record.source == "fallback" and list(record.written or {}) == CORE


def test_a_site_that_maps_only_some_setpoints_writes_only_those(tmp_path: Path) -> None:
    mqtt = {"host": "127.0.0.1", "port": 1883, "setpoints": ["supply_air_temp_c", "economizer_enable"]}
    service, plant, clock = make(tmp_path, mode="active", facility="modern-hall", model=None,
                                 adapter={"kind": "mqtt", "mqtt": mqtt}, safety={"hold_cycles": 0})
    assert service.commanded.setpoint_names == ("supply_air_temp_c", "economizer_enable")
    cycles(service, clock, 2)
    assert all(set(w) == {"supply_air_temp_c", "economizer_enable"} for w in plant.writes)
    with pytest.raises(ValueError, match="not commanded by this service"):
        asyncio.run(service.set_override("chw_supply_temp_c", 10.0, 60.0, "a", "b"))


def test_a_site_whose_map_leaves_out_a_point_the_bundle_reads_is_refused_naming_it(tmp_path: Path) -> None:
    from coolpilot.controller.policies.onnx_policy import BundleError
    from coolpilot.envs.contract import POINT_NAMES

    points = [n for n in POINT_NAMES if n != "outdoor_wetbulb_c"]
    with pytest.raises(BundleError, match=r"the model reads points \['outdoor_wetbulb_c'\], which the site's "
                                          r"adapter.mqtt map leaves out"):
        make(tmp_path, facility="modern-hall", adapter={"kind": "mqtt", "mqtt": {"points": points}})


def test_a_bundle_for_another_facility_is_refused_at_start_and_at_reload(tmp_path: Path) -> None:
    import json

    from coolpilot.controller.policies.onnx_policy import BundleError

    other = tmp_path / "core-v2"
    shutil.copytree(BUNDLE, other)
    card = json.loads((other / "card.json").read_text())
    (other / "card.json").write_text(json.dumps({**card, "contract_version": 2, "name": "core-v2"}))
    levers = r"\['chiller_stage_up_plr', 'tower_cell_flow_min_frac', 'chw_dp_setpoint_frac', 'cw_flow_frac', " \
             r"'economizer_enable'\]"
    with pytest.raises(BundleError, match=f"bundle core-v2 does not fit facility modern-hall: .* setpoints {levers} "
                                          "are in facility modern-hall but not in bundle core-v2"):
        make(tmp_path, facility="modern-hall", model=str(other))
    service, _, _ = make(tmp_path, facility="modern-hall", audit={"path": str(tmp_path / "b.sqlite")})
    before = service.model_sha256
    with pytest.raises(BundleError, match="are in facility modern-hall but not in bundle core-v2"):
        asyncio.run(service.reload_model(str(other)))
    assert service.model_sha256 == before and list(service.commanded.setpoint_names) == CORE


def test_a_model_swap_that_commands_fewer_setpoints_hands_the_others_back(tmp_path: Path) -> None:
    service, plant, clock = make(tmp_path, mode="active", facility="modern-hall", model=None,
                                 safety={"hold_cycles": 0})
    cycles(service, clock, 1)
    asyncio.run(service.reload_model(str(BUNDLE)))
    levers = [n for n in service.contract.setpoint_names if n not in CORE]
    assert plant.relinquished == [levers] and list(service.commanded.setpoint_names) == CORE
    cycles(service, clock, 1)
    assert list(plant.writes[-1]) == CORE
