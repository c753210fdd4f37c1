"""The shipped site files, one per protocol, drive both ends of the loop.

Each example (``examples/site*.yaml``) is loaded as an integrator would, given fresh
loopback ports, and run for a simulated day-part through ``build_adapter`` (the service's
side) and ``twin_for_site`` (the plant's side) with the same register or object map; then
shut down, which must hand every setpoint back to the site's own control.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from coolpilot.controller.audit import AuditStore
from coolpilot.controller.connect import build_adapter, twin_for_site
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import SiteConfig, SiteConfigError, load_site, site_from_mapping
from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINT_NAMES, SETPOINTS_BY_NAME
from tests.controller.helpers import Broker, free_port, free_udp_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
STACKS = ("paho", "pymodbus", "bacpypes3")
"""Top-level packages of the three protocol stacks: paho-mqtt, pymodbus, bacpypes3."""


def on_fresh_ports(site: SiteConfig, tmp_path: Path, broker: Broker | None = None) -> SiteConfig:
    """The site with fresh loopback ports, fast timeouts, lockstep rate period and a temporary audit file."""
    a = site.adapter
    if a.mqtt is not None:
        assert broker is not None
        a = a.model_copy(update={"mqtt": a.mqtt.model_copy(update={"host": broker.host, "port": broker.port})})
    if a.modbus is not None:
        a = a.model_copy(update={"modbus": a.modbus.model_copy(update={"port": free_port(), "timeout_s": 2.0})})
    if a.bacnet is not None:
        a = a.model_copy(update={"bacnet": a.bacnet.model_copy(update={
            "device_address": f"127.0.0.1:{free_udp_port()}", "local_port": free_udp_port()})})
    return site.model_copy(update={
        "adapter": a, "mode": "active", "period_s": 0.01, "rate_period_s": 300.0,
        "safety": site.safety.model_copy(update={"stale_after_s": 5.0}),
        "audit": site.audit.model_copy(update={"path": str(tmp_path / "audit.sqlite")})})


def decisions_in_order(path: str | Path, limit: int = 1000) -> list[Any]:
    """The audit trail's decisions at ``path``, oldest first."""
    audit = AuditStore(path)
    try:
        return list(reversed(audit.decisions(limit=limit)))
    finally:
        audit.close()


async def lockstep(site: SiteConfig, cycles: int, facility: str = "modern-hall") -> tuple[Any, ControllerService]:
    twin = twin_for_site(site.adapter, facility=facility, climate="miami", start_day=200.0)
    await twin.connect()
    service = ControllerService(site, build_adapter(site.adapter))
    try:
        await service.adapter.connect()
        service.connected = True
        for _ in range(cycles):
            await twin.run_ticks(1)
            if site.adapter.kind == "mqtt":  # MQTT is asynchronous: let the retained points arrive
                await asyncio.sleep(0.05)
            outcome = await service.run_cycle()
            if site.adapter.kind == "mqtt" and outcome.wrote:
                await asyncio.sleep(0.05)
        return twin, service
    finally:
        await service.shutdown()
        if site.adapter.kind == "mqtt":
            await asyncio.sleep(0.2)
        await twin.close()


@pytest.mark.parametrize("name", ["site-modbus.yaml", "site-bacnet.yaml", "site.yaml"])
def test_example_site_runs_closed_loop_and_hands_back(name: str, tmp_path: Path, request: pytest.FixtureRequest
                                                      ) -> None:
    site = load_site(EXAMPLES / name)
    broker = request.getfixturevalue("mosquitto") if site.adapter.kind == "mqtt" else None
    site = on_fresh_ports(site, tmp_path, broker)
    cycles = 36  # three plant hours

    twin, _ = asyncio.run(lockstep(site, cycles))
    records = decisions_in_order(site.audit.path)
    assert [r.cycle for r in records] == list(range(1, cycles + 1))
    wrote = [r for r in records if r.wrote]
    assert len(wrote) >= cycles - 3, [(r.cycle, r.source, r.interventions) for r in records if not r.wrote][:3]
    for r in wrote:
        assert r.written is not None
        for sp, value in r.written.items():
            spec = SETPOINTS_BY_NAME[sp]
            assert math.isfinite(value) and spec.low <= value <= spec.high
    assert twin.out_of_bounds_writes == 0 and twin.invalid_writes == 0
    in_charge = [t for t in twin.records if t.controller_in_charge]
    assert len(in_charge) >= cycles - 3
    assert all(t.inlet_temp_max_c <= INLET_LIMIT_C for t in in_charge)
    # what the plant received last is what the service wrote last, to the register's resolution (0.1 at worst)
    last = wrote[-1].written
    assert last is not None
    received = {m.name: m.applied for m in twin.setpoints_received if m.applied is not None}
    for sp in SETPOINT_NAMES:
        assert received[sp] == pytest.approx(last[sp], abs=0.1), sp
    assert twin.commanded == {}, f"shutdown left {twin.commanded} commanded"


def stacks_imported(code: str) -> set[str]:
    """The protocol stacks (:data:`STACKS`) in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {STACKS!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("name", "stack"), [("site.yaml", "paho"), ("site-modbus.yaml", "pymodbus"),
                                             ("site-bacnet.yaml", "bacpypes3")])
def test_a_site_loads_without_protocol_stacks_and_connects_with_its_own_only(name: str, stack: str) -> None:
    """Parsing a site file imports no stack; building its adapter and its twin imports the one the site uses."""
    load = f"from coolpilot.controller.site import load_site\nsite = load_site({str(EXAMPLES / name)!r})"
    assert stacks_imported(load) == set()
    connect = (f"{load}\nfrom coolpilot.controller.connect import build_adapter, twin_for_site\n"
               "build_adapter(site.adapter)\ntwin_for_site(site.adapter)")
    assert stacks_imported(connect) == {stack}


def test_a_register_type_that_cannot_hold_the_range_is_refused_in_the_site_file(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "site-modbus.yaml").read_text())
    data["adapter"]["modbus"]["points"]["it_power_kw"] = {"table": "input", "address": 100, "type": "int16"}
    with pytest.raises(SiteConfigError) as err:
        site_from_mapping(data, "site-modbus.yaml", EXAMPLES)
    text = str(err.value)
    assert "site-modbus.yaml" in text and "it_power_kw" in text and "int16" in text and "kW" in text

    data = yaml.safe_load((EXAMPLES / "site-modbus.yaml").read_text())
    data["adapter"]["modbus"]["setpoints"]["supply_air_temp_c"]["table"] = "input"
    with pytest.raises(SiteConfigError, match=r"adapter\.modbus\.setpoints\.supply_air_temp_c\.table.*holding"):
        site_from_mapping(data, "site-modbus.yaml", EXAMPLES)


def test_kind_and_settings_must_agree() -> None:
    with pytest.raises(SiteConfigError, match=r"adapter\.kind is bacnet: give adapter\.bacnet"):
        site_from_mapping({"adapter": {"kind": "bacnet"}}, "s.yaml")
    with pytest.raises(SiteConfigError, match="settings for modbus are also given"):
        site_from_mapping({"adapter": {"kind": "mqtt", "mqtt": {}, "modbus": {}}}, "s.yaml")


def test_a_csv_site_has_no_twin() -> None:
    site = site_from_mapping({"adapter": {"kind": "csv", "csv": {"path": "x.csv"}}}, "s.yaml")
    with pytest.raises(ValueError, match="CSV replay has no plant"):
        twin_for_site(site.adapter)


def test_twin_and_serve_processes_share_one_modbus_site_file(tmp_path: Path) -> None:
    """``coolpilot twin --site`` and ``coolpilot serve`` as processes, both reading the same Modbus site file."""
    data = yaml.safe_load((EXAMPLES / "site-modbus.yaml").read_text())
    data["model"] = str(REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo")
    data["mode"] = "active"
    data["period_s"] = 0.2
    data["rate_period_s"] = 300
    data["adapter"]["modbus"]["port"] = free_port()
    data["audit"]["path"] = str(tmp_path / "audit.sqlite")
    site_file = tmp_path / "site.yaml"
    site_file.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    twin = subprocess.Popen([sys.executable, "-m", "coolpilot", "twin", "--site", str(site_file), "--tick-s", "0.2"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(data["adapter"]["modbus"]["port"], twin)  # a cold start compiles the physics first
        serve = subprocess.run([sys.executable, "-m", "coolpilot", "serve", str(site_file), "--cycles", "15",
                                "--no-api"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert serve.returncode == 0, serve.stdout[-2000:] + serve.stderr[-2000:]
        audit = AuditStore(site_file.parent / "audit.sqlite")
        try:
            records = audit.decisions(limit=100)
        finally:
            audit.close()
        assert len(records) == 15
        unwritten = [(r.cycle, r.source, r.interventions) for r in records if not r.wrote]
        assert len(records) - len(unwritten) >= 10, unwritten
        twin.send_signal(signal.SIGTERM)
        out, _ = twin.communicate(timeout=30)
        assert twin.returncode == 0, out.decode()[-2000:]
        assert b"Modbus TCP on 127.0.0.1" in out
    finally:
        if twin.poll() is None:
            twin.kill()
            twin.wait(timeout=10)



@pytest.mark.parametrize("name", ["site-modbus.yaml", "site-bacnet.yaml", "site.yaml"])
def test_example_site_maps_carry_every_lever_of_modern_hall(name: str, tmp_path: Path,
                                                            request: pytest.FixtureRequest) -> None:
    """The examples' maps of the new setpoints and points work end to end: without a model the rule-based
    fallback writes all nine setpoints through the example's registers, objects or topics, and every point of
    the contract is read back healthy."""
    site = load_site(EXAMPLES / name)
    assert site.facility == "modern-hall" and set(site.adapter.setpoint_names or ()) == set(
        site.contract.setpoint_names)
    broker = request.getfixturevalue("mosquitto") if site.adapter.kind == "mqtt" else None
    site = on_fresh_ports(site, tmp_path, broker)
    site = site.model_copy(update={"model": None, "safety": site.safety.model_copy(update={"hold_cycles": 0})})
    twin, service = asyncio.run(lockstep(site, 6))
    assert service.commanded == site.contract
    records = decisions_in_order(site.audit.path)
    last = records[-1]
    assert last.wrote and last.source == "fallback" and set(last.written or {}) == set(site.contract.setpoint_names)
    assert set(last.points) == set(site.contract.point_names)
    assert not any(i["reason"].startswith("sensor_") or i["reason"] == "write_refused" for i in last.interventions)
    received = {m.name: m.applied for m in twin.setpoints_received if m.applied is not None}
    for sp, value in (last.written or {}).items():  # to the register's resolution (0.1 at worst)
        assert received[sp] == pytest.approx(value, abs=0.1), sp
    assert twin.commanded == {}, f"shutdown left {twin.commanded} commanded"


@pytest.mark.parametrize(("extra", "parts"), [
    ({"facility": "greenhouse"}, ["field 'facility' = 'greenhouse'", "campus, campus-tes, legacy-hall, modern-hall"]),
    ({"facility": "legacy-hall", "adapter": {"kind": "modbus", "modbus": {"setpoints": {"cw_flow_frac": {
        "address": 0}}}}},
     ["adapter.modbus.setpoints", "['cw_flow_frac'] are not setpoints of the site's facility contract (blocks core, "
      "chiller_staging)", "its setpoints are ['supply_air_temp_c', 'crah_fan_speed_frac', 'chw_supply_temp_c', "
      "'condenser_water_temp_c', 'chiller_stage_up_plr']"]),
    ({"facility": "campus", "adapter": {"kind": "bacnet", "bacnet": {"device_address": "10.0.0.5", "points": {
        "cw_flow_frac": "analog-input,1"}}}}, ["adapter.bacnet.points", "['cw_flow_frac'] are not points"]),
    ({"adapter": {"kind": "mqtt", "mqtt": {"setpoints": ["economizer_enable"]}}},
     ["adapter.mqtt.setpoints", "(blocks core)"]),
    ({"facility": "legacy-hall", "safety": {"safe_setpoints": {"economizer_enable": 1}}},
     ["safety.safe_setpoints.economizer_enable", "another equipment block's setpoint"]),
    ({"facility": "modern-hall", "adapter": {"kind": "mqtt", "mqtt": {"points": ["it_power_kw"]}}},
     ["the safety envelope needs points ['inlet_temp_max_c', 'inlet_temp_mean_c', 'supply_air_temp_c']"]),
])
def test_the_site_files_facility_decides_which_names_its_maps_may_use(extra: dict[str, Any],
                                                                      parts: list[str]) -> None:
    data = {"adapter": {"kind": "mqtt", "mqtt": {}}, **extra}
    with pytest.raises(SiteConfigError) as err:
        site_from_mapping(data, "site.yaml", EXAMPLES)
    text = str(err.value)
    assert text.startswith("site.yaml: ") and all(p in text for p in parts), text


def test_a_site_without_a_facility_runs_the_core_block_and_a_facility_file_resolves_beside_it(
        tmp_path: Path) -> None:
    core = site_from_mapping({"adapter": {"kind": "modbus", "modbus": {}}}, "site.yaml")
    assert core.facility is None and core.contract.blocks == ("core",)
    assert core.adapter.setpoint_names == SETPOINT_NAMES and len(core.adapter.point_names or ()) == 20
    (tmp_path / "hall.yaml").write_text((REPO / "envs" / "presets" / "legacy-hall.yaml").read_text())
    local = site_from_mapping({"facility": "hall.yaml", "adapter": {"kind": "modbus", "modbus": {}}}, "site.yaml",
                              tmp_path)
    assert local.facility == str(tmp_path / "hall.yaml") and local.contract.blocks == ("core", "chiller_staging")
    assert local.adapter.setpoint_names == (*SETPOINT_NAMES, "chiller_stage_up_plr")
    assert set(local.safety.bounds) == set(local.contract.setpoint_names)
