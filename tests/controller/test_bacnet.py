"""BacnetAdapter against the plant twin's BACnet device, both bacpypes3 applications on 127.0.0.1.

Every test uses fresh UDP ports (the twin's device on a fixed fresh port, the adapter on
an ephemeral one unless the test checks its own port), short timeouts (0.3 s per try, one
retry: a silent device is reported after 0.6 s) and closes every application it opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bacpypes3.basetypes import PropertyIdentifier
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from coolpilot.controller.adapters.bacnet import BacnetAdapter, _real32_within
from coolpilot.controller.adapters.base import Adapter, AdapterError, WriteResult
from coolpilot.controller.protocols.bacnet import (
    PROPERTY_NUMBERS,
    BacnetSettings,
    ObjectRef,
    default_point_objects,
    default_setpoint_objects,
    property_name,
)
from coolpilot.controller.protocols.bacnet_properties import PROPERTY_IDENTIFIERS
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.controller.twin import PlantTwin
from coolpilot.controller.twin.bacnet_device import BacnetTwinDevice
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT, INLET_LIMIT_C, POINT_NAMES, SETPOINT_NAMES, SETPOINTS_BY_NAME
from tests.controller.helpers import HOST, free_udp_port, udp_port_is_free

REPO = Path(__file__).resolve().parents[2]
MODERN = load_facility("modern-hall").contract
DEFAULT_POINT_OBJECTS = default_point_objects(CORE_CONTRACT)
DEFAULT_SETPOINT_OBJECTS = default_setpoint_objects(CORE_CONTRACT)
"""The core block's default objects: what most tests map (on the modern-hall twin, a site mapping only some)."""
BUNDLE = REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"
WRITE = {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.7, "chw_supply_temp_c": 12.0,
         "condenser_water_temp_c": 24.0}
TIMEOUT_S = 0.3
RETRIES = 1
DEAD_BOUND_S = 2.0 * BacnetSettings(device_address=f"{HOST}:47808", local_port=0, timeout_s=TIMEOUT_S,
                                    retries=RETRIES).request_bound_s
"""Longest a request to a silent device may take in these tests (s), derived from the configured timeout: the
adapter's own bound (every try, plus its margin), and as much again as slack for a loaded machine."""


def bacnet_settings(port: int, **extra: Any) -> BacnetSettings:
    """The adapter's settings for a device on ``port``: ephemeral local port, short timeouts."""
    return BacnetSettings(**{"device_address": f"{HOST}:{port}", "local_port": 0, "timeout_s": TIMEOUT_S,
                             "retries": RETRIES, **extra})


@contextlib.asynccontextmanager
async def plant(port: int | None = None, **twin_args: Any) -> AsyncIterator[tuple[PlantTwin, BacnetTwinDevice]]:
    """A twin (no MQTT) behind its BACnet device on a fresh port, serving the core block's objects; both stopped
    afterwards."""
    address = f"{HOST}:{port or free_udp_port()}"
    device = BacnetTwinDevice(for_contract(BacnetSettings(device_address=address, local_port=0), CORE_CONTRACT))
    twin = PlantTwin(mqtt=None, frontends=[device], **twin_args)
    await twin.connect()
    try:
        yield twin, device
    finally:
        await twin.close()


@contextlib.asynccontextmanager
async def connected(settings: BacnetSettings) -> AsyncIterator[BacnetAdapter]:
    adapter = BacnetAdapter(settings)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.close()


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    """``(result of call(), or the AdapterError it raised; seconds taken)``."""
    start = time.monotonic()
    try:
        result = await call()
    except AdapterError as err:
        result = err
    return result, time.monotonic() - start


def assert_relinquished(twin: PlantTwin, device: BacnetTwinDevice, priority: int = 8) -> None:
    """Slot ``priority`` empty everywhere; present values are the BMS's; the plant follows the BMS."""
    for name in SETPOINT_NAMES:
        slots = device.priority_array(name)
        assert slots[priority - 1] is None, (name, slots)
        assert device.present_value(name) == pytest.approx(device.relinquish_default(name), rel=1e-6)
        assert device.relinquish_default(name) == pytest.approx(twin.bms_setpoints[name], rel=1e-6)
    assert twin.commanded == {}


# --- settings ---------------------------------------------------------------------------------------------------


def test_default_settings_map_every_point_and_setpoint() -> None:
    s = BacnetSettings(device_address="127.0.0.1:47809")
    assert list(s.points) == list(POINT_NAMES) and list(s.setpoints) == list(SETPOINT_NAMES)
    assert [(r.object_type, r.instance, r.property) for r in s.points.values()] == [
        ("analog-input", i, "present-value") for i in range(1, 21)]
    assert [(r.object_type, r.instance) for r in s.setpoints.values()] == [("analog-value", i) for i in range(1, 5)]
    assert s.priority == 8 and s.local_port == 47808 and s.use_rpm
    assert BacnetSettings(device_address="10.0.0.5").device_address == "10.0.0.5:47808"
    short = BacnetSettings(device_address="10.0.0.5",
                           points={**DEFAULT_POINT_OBJECTS, "it_power_kw": "analog-value,40"})
    assert short.points["it_power_kw"] == ObjectRef(object_type="analog-value", instance=40)


def test_unknown_point_name_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"point names \['inlet_temp_c'\] are not points of any equipment block"):
        BacnetSettings(device_address="10.0.0.5", points={**DEFAULT_POINT_OBJECTS, "inlet_temp_c": "analog-input,99"})


def test_unknown_setpoint_name_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"setpoint names \['fan_speed'\] are not setpoints of any"):
        BacnetSettings(device_address="10.0.0.5",
                       setpoints={**DEFAULT_SETPOINT_OBJECTS, "fan_speed": "analog-value,9"})


def test_a_map_may_leave_names_out_but_not_name_what_the_facility_lacks() -> None:
    partial = {k: v for k, v in DEFAULT_POINT_OBJECTS.items() if k != "outdoor_rh_pct"}
    assert "outdoor_rh_pct" not in BacnetSettings(device_address="10.0.0.5", points=partial).points
    modern = for_contract(BacnetSettings(device_address="10.0.0.5"), MODERN)
    assert list(modern.points) == list(MODERN.point_names) and list(modern.setpoints) == list(MODERN.setpoint_names)
    assert [r.instance for r in modern.setpoints.values()] == list(range(1, 10)), "core four keep 1..4"
    legacy = load_facility("legacy-hall").contract
    with pytest.raises(ValidationError, match=r"\['economizer_enable'\] are not setpoints of the site's facility"):
        BacnetSettings.model_validate({"device_address": "10.0.0.5",
                                       "setpoints": {"economizer_enable": "analog-value,9"}},
                                      context={"contract": legacy})


def test_duplicate_objects_are_refused() -> None:
    with pytest.raises(ValidationError, match="it_power_kw and outdoor_drybulb_c are both mapped to analog-input 1"):
        BacnetSettings(device_address="10.0.0.5", points={**DEFAULT_POINT_OBJECTS, "it_power_kw": "analog-input,1"})


def test_setpoint_on_a_non_commandable_object_is_refused() -> None:
    with pytest.raises(ValidationError, match="supply_air_temp_c is mapped to analog-input 30, which is not "
                                              "commandable"):
        BacnetSettings(device_address="10.0.0.5",
                       setpoints={**DEFAULT_SETPOINT_OBJECTS, "supply_air_temp_c": "analog-input,30"})


def test_setpoint_property_other_than_present_value_is_refused() -> None:
    ref = ObjectRef(object_type="analog-value", instance=1, property="relinquish-default")
    with pytest.raises(ValidationError, match="written to present-value"):
        BacnetSettings(device_address="10.0.0.5", setpoints={**DEFAULT_SETPOINT_OBJECTS, "supply_air_temp_c": ref})


def test_unknown_property_and_bad_object_are_refused() -> None:
    with pytest.raises(ValidationError, match="not a BACnet property identifier"):
        ObjectRef(object_type="analog-input", instance=1, property="present-valu")
    with pytest.raises(ValidationError, match="instance"):
        ObjectRef(object_type="analog-input", instance=4194303)
    with pytest.raises(ValidationError, match="object_type"):
        ObjectRef.model_validate("binary-input,3")
    with pytest.raises(ValidationError, match="write an object as 'analog-input,7'"):
        ObjectRef.model_validate("analog-input 7")


def test_property_table_matches_bacpypes3() -> None:
    """The table that lets a site file parse without bacpypes3 is the one bacpypes3 knows."""
    expected = {n: (str(PropertyIdentifier(n)), camel) for n, camel in sorted(PropertyIdentifier._attr_map.items())}
    entries = "\n".join(f'    {n}: ("{name}", "{camel}"),' for n, (name, camel) in expected.items())
    assert expected == PROPERTY_IDENTIFIERS, f"paste into controller/protocols/bacnet_properties.py:\n{entries}"
    assert dict(PropertyIdentifier._enum_map) == PROPERTY_NUMBERS


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.sampled_from(sorted(PROPERTY_NUMBERS)), st.integers(-3, 5_000_000).map(str),
                       st.sampled_from([" 85", "0x55", "0o125", "1_0", "00085", "+85", "Present-Value", "present_value",
                                        ""]),
                       st.text(max_size=12)))
def test_property_names_are_read_as_bacpypes3_reads_them(value: str) -> None:
    """Names in either form and numbers give bacpypes3's standard name; what it refuses is refused."""
    try:
        expected = str(PropertyIdentifier(value))
    except ValueError:
        with pytest.raises(ValueError, match="not a BACnet property identifier"):
            property_name(value)
    else:
        assert property_name(value) == expected


@pytest.mark.parametrize(("priority", "reason"), [
    (0, "greater than or equal to 1"), (17, "less than or equal to 16"), (1, "manual life safety"),
    (2, "automatic life safety"), (5, "critical equipment control"), (6, "minimum on/off"), (16, "BMS programs")])
def test_priority_out_of_range_or_reserved_is_refused(priority: int, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        BacnetSettings(device_address="10.0.0.5", priority=priority)


@pytest.mark.parametrize("priority", [3, 4, 7, 8, 9, 15])
def test_usable_priorities_are_accepted(priority: int) -> None:
    assert BacnetSettings(device_address="10.0.0.5", priority=priority).priority == priority


@pytest.mark.parametrize(("address", "match"), [
    ("plant.local:47808", "IPv4 address"), ("10.0.0.5:70000", "1..65535"), ("10.0.0.5:", "1..65535")])
def test_bad_device_address_is_refused(address: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        BacnetSettings(device_address=address)


def test_same_loopback_port_for_both_ends_is_refused() -> None:
    with pytest.raises(ValidationError, match="same UDP port 47808"):
        BacnetSettings(device_address="127.0.0.2:47808", local_address="127.0.0.1/8")
    with pytest.raises(ValidationError, match="network prefix"):
        BacnetSettings(device_address="10.0.0.5", local_address="10.0.0.9:47808")


def test_write_rounding_to_float32_stays_inside_the_bounds() -> None:
    assert float(np.float32(0.7)) < 0.7  # a naive REAL encoding of a 0.7 lower bound would leave the bounds
    assert _real32_within(0.7, 0.7, 1.0) >= 0.7
    assert _real32_within(0.3, 0.1, 0.3) <= 0.3
    assert _real32_within(20.0, 14.0, 26.0) == 20.0


def test_the_twin_device_binds_to_loopback_only() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        BacnetTwinDevice(address="10.0.0.5:47808")


# --- adapter and twin device on loopback ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_rpm", [True, False])
def test_reads_every_point(use_rpm: bool) -> None:
    async def go() -> None:
        async with plant() as (twin, device), connected(bacnet_settings(device.port, use_rpm=use_rpm)) as adapter:
            assert isinstance(adapter, Adapter)
            assert adapter.uses_rpm is use_rpm
            await twin.run_ticks(1)
            before_s = time.time()
            reading = await adapter.read_points()
            assert set(reading.values) == set(POINT_NAMES)
            for name, value in reading.values.items():
                assert value == pytest.approx(twin.sensor_values[name], rel=1e-6, abs=1e-6), name  # REAL is float32
            assert all(before_s <= t <= time.time() for t in reading.times_s.values())
            await twin.run_ticks(1)
            again = await adapter.read_points()
            assert again.values["time_of_day_sin"] == pytest.approx(twin.points["time_of_day_sin"], abs=1e-6)
            assert again.values["time_of_day_sin"] != reading.values["time_of_day_sin"]
    asyncio.run(go())


def test_device_without_rpm_is_read_one_property_at_a_time() -> None:
    """A device that does not list ReadPropertyMultiple, and one that starts rejecting it, are both read."""
    async def go() -> None:
        async with plant() as (twin, device):
            device.rpm = False
            async with connected(bacnet_settings(device.port)) as adapter:
                assert not adapter.uses_rpm
                assert set((await adapter.read_points()).values) == set(POINT_NAMES)
            device.rpm = True
            async with connected(bacnet_settings(device.port)) as adapter:
                assert adapter.uses_rpm
                device.rpm = False  # e.g. replaced by a simpler controller behind the same address
                reading = await adapter.read_points()
                assert not adapter.uses_rpm
                assert reading.values["it_power_kw"] == pytest.approx(twin.sensor_values["it_power_kw"], rel=1e-6)
    asyncio.run(go())


def test_faulty_and_nan_points() -> None:
    """A dropped sensor is flagged as a fault by the device and missing from the reading; a NaN comes through."""
    async def go() -> None:
        async with plant() as (twin, device), connected(bacnet_settings(device.port)) as adapter:
            twin.drop_points(["inlet_temp_max_c"])
            twin.inject_nan(["it_power_kw"], ticks=1)
            await twin.run_ticks(1)
            assert device.point_object("inlet_temp_max_c").statusFlags[1] == 1  # fault
            reading = await adapter.read_points()
            assert "inlet_temp_max_c" not in reading.values and "inlet_temp_max_c" not in reading.times_s
            assert math.isnan(reading.values["it_power_kw"])  # type: ignore[arg-type]
            twin.restore()
            await twin.run_ticks(1)
            reading = await adapter.read_points()
            assert set(reading.values) == set(POINT_NAMES)
            assert math.isfinite(reading.values["it_power_kw"])  # type: ignore[arg-type]
    asyncio.run(go())


def test_write_at_priority_8_then_relinquish() -> None:
    async def go() -> None:
        async with plant() as (twin, device), connected(bacnet_settings(device.port)) as adapter:
            result = await adapter.write_setpoints(WRITE)
            assert result == WriteResult(dict.fromkeys(WRITE, True), {})
            for name, value in WRITE.items():
                slots = device.priority_array(name)
                assert slots[7] == pytest.approx(value, rel=1e-6)
                assert [k + 1 for k, v in enumerate(slots) if v is not None] == [8]
                assert device.present_value(name) == pytest.approx(value, rel=1e-6)
            assert twin.commanded == pytest.approx(WRITE, rel=1e-6)
            record = (await twin.run_ticks(1))[0]
            assert {n: record.sources[n] for n in SETPOINT_NAMES} == dict.fromkeys(SETPOINT_NAMES, "controller")
            assert {n: record.setpoints[n] for n in WRITE} == pytest.approx(WRITE, rel=1e-6)

            result = await adapter.relinquish(list(SETPOINT_NAMES))
            assert result == WriteResult(dict.fromkeys(SETPOINT_NAMES, True), {})
            assert_relinquished(twin, device)
            await twin.run_ticks(1)
            assert_relinquished(twin, device)  # relinquish-defaults follow the BMS every tick
            assert set(twin.records[-1].sources.values()) == {"bms"}
            assert [r.value for r in twin.setpoints_received[-4:]] == [None] * 4
            assert twin.out_of_bounds_writes == 0
    asyncio.run(go())


def test_unwritable_values_and_bacnet_errors_are_reported_per_setpoint() -> None:
    """NaN and unknown names are not sent; a device error answers one setpoint, the others go through."""
    async def go() -> None:
        async with plant() as (twin, device):
            missing = {**DEFAULT_SETPOINT_OBJECTS, "condenser_water_temp_c": "analog-value,99"}
            async with connected(bacnet_settings(device.port, setpoints=missing)) as adapter:
                result = await adapter.write_setpoints({**WRITE, "chw_supply_temp_c": math.nan, "fan": 1.0})
                assert result.accepted == {"supply_air_temp_c": True, "crah_fan_speed_frac": True,
                                           "chw_supply_temp_c": False, "condenser_water_temp_c": False, "fan": False}
                assert "not a finite number" in result.errors["chw_supply_temp_c"]
                assert "setpoint 'fan' is not mapped by this site" in result.errors["fan"]
                assert result.errors["condenser_water_temp_c"] == (
                    "device refused to write 24 analog-value 99 present-value at priority 8: "
                    "error: object: unknown-object")
                assert set(twin.commanded) == {"supply_air_temp_c", "crah_fan_speed_frac"}
    asyncio.run(go())


def test_operator_override_at_priority_4_is_respected_and_reported(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant() as (twin, device), connected(bacnet_settings(device.port)) as adapter:
            assert (await adapter.write_setpoints(WRITE)).ok
            device.operator_write("supply_air_temp_c", 18.0, priority=4)
            assert twin.commanded["supply_air_temp_c"] == 18.0
            result = await adapter.write_setpoints({**WRITE, "supply_air_temp_c": 22.0})
            assert result.accepted == {**dict.fromkeys(WRITE, True), "supply_air_temp_c": False}
            assert result.errors == {"supply_air_temp_c":
                                     "overridden at priority 4 by another writer: present value 18"}
            slots = device.priority_array("supply_air_temp_c")
            assert slots[3] == 18.0, "coolpilot never touches the operator's slot"
            assert slots[7] == 22.0, "coolpilot keeps commanding its own slot only"
            assert [k + 1 for k, v in enumerate(slots) if v is not None] == [4, 8]
            record = (await twin.run_ticks(1))[0]
            assert record.setpoints["supply_air_temp_c"] == 18.0, "the plant follows the operator"
            assert record.sources["supply_air_temp_c"] == "operator"
            assert record.sources["chw_supply_temp_c"] == "controller"

            # the service records the refusal in the audit trail, cycle after cycle, and never fights
            site = make_site(tmp_path, "active")
            service = ControllerService(site, adapter)
            service.connected = True
            for _ in range(3):
                await twin.run_ticks(1)
                outcome = await service.run_cycle()
                assert "overridden at priority 4" in outcome.write_errors["supply_air_temp_c"]
                assert device.priority_array("supply_air_temp_c")[3] == 18.0
            refused = [i for i in service.audit.decisions(limit=1)[0].interventions if i["reason"] == "write_refused"]
            assert refused == [{"reason": "write_refused", "target": "supply_air_temp_c",
                                "detail": "overridden at priority 4 by another writer: present value 18"}]
            assert twin.records[-1].setpoints["supply_air_temp_c"] == 18.0

            device.operator_write("supply_air_temp_c", None, priority=4)  # the operator hands back
            await twin.run_ticks(1)
            outcome = await service.run_cycle()
            assert outcome.write_errors == {}
            await twin.run_ticks(1)
            last = twin.records[-1]
            assert {n: last.sources[n] for n in SETPOINT_NAMES} == dict.fromkeys(SETPOINT_NAMES, "controller")
            service.audit.close()
    asyncio.run(go())


def test_fallback_mode_and_shutdown_leave_the_slot_empty(tmp_path: Path) -> None:
    async def go() -> None:
        async with plant() as (twin, device):
            service = ControllerService(make_site(tmp_path, "active"), BacnetAdapter(bacnet_settings(device.port)))
            try:
                for _ in range(3):
                    await twin.run_ticks(1)
                    assert (await service.run_cycle()).wrote
                assert all(device.priority_array(n)[7] is not None for n in SETPOINT_NAMES)
                await service.set_mode("fallback", "alice", "chiller maintenance")
                assert_relinquished(twin, device)
                for _ in range(2):
                    await twin.run_ticks(1)
                    outcome = await service.run_cycle()
                    assert outcome.mode == "fallback" and outcome.write_errors == {}
                    assert_relinquished(twin, device)
                await service.set_mode("active", "alice", "maintenance done")
                await twin.run_ticks(1)
                assert (await service.run_cycle()).wrote
                assert all(device.priority_array(n)[7] is not None for n in SETPOINT_NAMES)
            finally:
                await service.shutdown()
            assert_relinquished(twin, device)
            await twin.run_ticks(1)
            assert set(twin.records[-1].sources.values()) == {"bms"}
    asyncio.run(go())


# --- faults ---------------------------------------------------------------------------------------------------------


def test_device_down_at_start_then_appears() -> None:
    async def go() -> None:
        port = free_udp_port()
        adapter = BacnetAdapter(bacnet_settings(port))
        try:
            error, took_s = await timed(adapter.connect)
            assert isinstance(error, AdapterError) and took_s < DEAD_BOUND_S, (error, took_s)
            assert "did not answer a read of device,1000 protocol-services-supported within 0.3 s × 2 tries" in str(
                error) and f"127.0.0.1:{port}" in str(error)
            assert not adapter.connected
            with pytest.raises(AdapterError, match="call connect"):
                await adapter.read_points()
            async with plant(port):
                await adapter.connect()
                assert set((await adapter.read_points()).values) == set(POINT_NAMES)
                assert (await adapter.write_setpoints(WRITE)).ok
        finally:
            await adapter.close()
    asyncio.run(go())


def test_device_lost_mid_run_and_back(tmp_path: Path) -> None:
    """Reads and writes fail within the bound while the device is gone; the adapter recovers by itself."""
    async def go() -> None:
        async with plant() as (twin, device), connected(bacnet_settings(device.port)) as adapter:
            assert (await adapter.write_setpoints(WRITE)).ok
            await device.stop()
            assert udp_port_is_free(device.port)
            calls: list[Callable[[], Awaitable[Any]]] = [
                adapter.read_points, lambda: adapter.write_setpoints(WRITE),
                lambda: adapter.relinquish(["chw_supply_temp_c"])]
            for call in calls:
                error, took_s = await timed(call)
                assert isinstance(error, AdapterError) and took_s < DEAD_BOUND_S, (error, took_s)
                assert "did not answer" in str(error)
            service = ControllerService(make_site(tmp_path, "active"), adapter)
            service.connected = True
            outcome = await service.run_cycle()
            assert not service.connected and "adapter" in outcome.write_errors

            await device.start(twin)  # back, with its priority-arrays as they were
            assert device.priority_array("chw_supply_temp_c")[7] == 12.0
            await twin.run_ticks(1)
            reading = await adapter.read_points()  # no reconnection needed
            assert set(reading.values) == set(POINT_NAMES)
            outcome = await service.run_cycle()
            assert service.connected and outcome.wrote and outcome.write_errors == {}
            assert outcome.decision is not None and outcome.decision.source == "policy"
            service.audit.close()
    asyncio.run(go())


def test_slow_device_times_out_within_the_bound() -> None:
    async def go() -> None:
        async with plant() as (_twin, device), connected(bacnet_settings(device.port)) as adapter:
            device.delay_s = 3.0
            assert device.delay_s > DEAD_BOUND_S, "the bound must tell a request abandoned in time from a late answer"
            calls: list[Callable[[], Awaitable[Any]]] = [
                adapter.read_points, lambda: adapter.write_setpoints(WRITE), adapter.connect]
            for call in calls:
                error, took_s = await timed(call)
                assert isinstance(error, AdapterError) and took_s < DEAD_BOUND_S, (error, took_s)
            device.delay_s = 0.0
            assert set((await adapter.read_points()).values) == set(POINT_NAMES)
            assert (await adapter.write_setpoints(WRITE)).ok
    asyncio.run(go())


def test_connect_checks_device_instance_and_units() -> None:
    async def go() -> None:
        async with plant() as (_twin, device):
            with pytest.raises(AdapterError, match=r"refused a read of device 1234 .*unknown-object.*device_instance"):
                await BacnetAdapter(bacnet_settings(device.port, device_instance=1234)).connect()
            device.point_object("inlet_temp_max_c").units = "degrees-fahrenheit"
            with pytest.raises(AdapterError, match=r"inlet_temp_max_c \(analog-input 8\) is in degrees-fahrenheit, "
                                                   r"expected degrees-celsius"):
                await BacnetAdapter(bacnet_settings(device.port)).connect()
            async with connected(bacnet_settings(device.port, check_units=False)) as adapter:
                assert "inlet_temp_max_c" in (await adapter.read_points()).values
    asyncio.run(go())


def test_close_is_idempotent_and_releases_the_udp_ports() -> None:
    async def go() -> None:
        local = free_udp_port()
        async with plant() as (_twin, device):
            adapter = BacnetAdapter(bacnet_settings(device.port, local_port=local))
            await adapter.connect()
            assert not udp_port_is_free(local)
            await adapter.close()
            await adapter.close()
            assert udp_port_is_free(local) and not adapter.connected
        assert udp_port_is_free(device.port)
    asyncio.run(go())


# --- closed loop ----------------------------------------------------------------------------------------------------


def make_site(tmp_path: Path, mode: str, **site: Any) -> Any:
    """A site for the service (the adapter is given to the service directly; the mqtt section is unused)."""
    return site_from_mapping({
        "name": "bacnet-loop", "model": str(BUNDLE), "mode": mode, "period_s": 0.01, "rate_period_s": 300,
        "adapter": {"kind": "mqtt", "mqtt": {"host": HOST, "port": 1}},
        "safety": {"stale_after_s": 5.0},
        "audit": {"path": str(tmp_path / "audit.sqlite")}, **site,
    }, "test")


class Loop:
    """Twin, BACnet device, adapter and service in lockstep: step the plant, publish, run one cycle."""

    def __init__(self, tmp_path: Path, mode: str, **site: Any) -> None:
        self.device = BacnetTwinDevice(address=f"{HOST}:{free_udp_port()}")
        self.twin = PlantTwin("modern-hall", "phoenix", start_day=190.0, mqtt=None, frontends=[self.device])
        config = make_site(tmp_path, mode, **site)
        self.adapter = BacnetAdapter(for_contract(bacnet_settings(self.device.port), config.contract))
        self.service = ControllerService(config, self.adapter)

    async def __aenter__(self) -> Loop:
        await self.twin.connect()
        await self.adapter.connect()
        self.service.connected = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.shutdown()
        await self.twin.close()

    async def steps(self, n: int) -> None:
        for _ in range(n):
            await self.twin.run_ticks(1)
            await self.service.run_cycle()

    def assert_audit_complete(self, cycles: int) -> None:
        """Exactly one audit record per cycle."""
        assert [r.cycle for r in reversed(self.service.audit.decisions(limit=cycles + 10))] == list(
            range(1, cycles + 1))

    def assert_safe(self) -> None:
        """Nothing out of bounds reached the plant; no inlet above 27 °C while the controller was in charge."""
        assert self.twin.out_of_bounds_writes == 0 and self.twin.invalid_writes == 0
        for r in self.service.audit.decisions(limit=100_000):
            for name, value in (r.written or {}).items():
                spec = SETPOINTS_BY_NAME[name]
                assert math.isfinite(value) and spec.low <= value <= spec.high, (r.cycle, name, value)
        hot = [t for t in self.twin.records if t.controller_in_charge and t.inlet_temp_max_c > INLET_LIMIT_C]
        assert not hot, f"inlet above 27 °C under the controller at ticks {[t.tick for t in hot][:5]}"


def run_active_loop(tmp_path: Path, cycles: int) -> None:
    async def go() -> None:
        async with Loop(tmp_path, "active") as loop:
            await loop.steps(cycles)
            loop.assert_audit_complete(cycles)
            loop.assert_safe()
            records = loop.service.audit.decisions(limit=cycles)
            assert sum(r.source == "policy" for r in records) > 0.95 * cycles
            assert all(not any(i["reason"] == "write_refused" for i in r.interventions) for r in records)
            assert sum(t.controller_in_charge for t in loop.twin.records) >= cycles - 1
            assert max(t.inlet_temp_max_c for t in loop.twin.records) < INLET_LIMIT_C
        assert_relinquished(loop.twin, loop.device)  # shutdown handed everything back
    asyncio.run(go())


def test_active_day_in_closed_loop_over_bacnet(tmp_path: Path) -> None:
    """A simulated July day in Phoenix (288 cycles of 300 s)."""
    run_active_loop(tmp_path, 288)


@pytest.mark.slow
def test_active_week_in_closed_loop_over_bacnet(tmp_path: Path) -> None:
    """A simulated July week in Phoenix (2016 cycles of 300 s)."""
    run_active_loop(tmp_path, 2016)


def test_shadow_loop_writes_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(tmp_path, "shadow") as loop:
            await loop.steps(288)
            loop.assert_audit_complete(288)
            assert all(not r.wrote for r in loop.service.audit.decisions(limit=1000))
            assert loop.twin.setpoints_received == []
            assert not any(t.controller_in_charge for t in loop.twin.records)
            assert all(all(v is None for v in loop.device.priority_array(n)) for n in SETPOINT_NAMES)
    asyncio.run(go())


def test_loop_helpers_fail_when_they_should(tmp_path: Path) -> None:
    """The loop's safety check is not vacuous: an out-of-bounds write through BACnet is caught."""
    async def go() -> None:
        async with Loop(tmp_path, "active") as loop:
            await loop.steps(2)
            result = await loop.adapter.write_setpoints({"supply_air_temp_c": 30.0})
            assert result.ok and loop.twin.commanded["supply_air_temp_c"] == 26.0  # the BMS clamps
            with pytest.raises(AssertionError):
                loop.assert_safe()
    asyncio.run(go())


def test_modern_hall_in_closed_loop_over_bacnet_commands_every_lever(tmp_path: Path) -> None:
    """Without a model the rule-based fallback commands all nine setpoints of modern-hall at priority 8 (two
    simulated hours): each accepted and in bounds, the economizer enable in whole steps, the hall below 27 °C;
    shutdown empties slot 8 of every one of them."""
    cycles = 24

    async def go() -> None:
        async with Loop(tmp_path, "active", facility="modern-hall", model=None, safety={"hold_cycles": 0,
                                                                                        "stale_after_s": 5.0}) as loop:
            await loop.steps(cycles)
            loop.assert_audit_complete(cycles)
            loop.assert_safe()
            records = loop.service.audit.decisions(limit=cycles)
            assert all(r.source == "fallback" and set(r.written or {}) == set(MODERN.setpoint_names) for r in records)
            assert all(not any(i["reason"] == "write_refused" for i in r.interventions) for r in records)
            assert {r.written["economizer_enable"] for r in records if r.written} <= {0.0, 1.0}
            assert set(loop.twin.records[-1].sources.values()) == {"controller"}
            assert loop.device.priority_array("chiller_stage_up_plr")[7] is not None
        assert all(loop.device.priority_array(n)[7] is None for n in MODERN.setpoint_names)
        assert loop.twin.commanded == {}
    asyncio.run(go())


def test_a_contract_1_bundle_on_modern_hall_leaves_the_levers_to_the_plant_over_bacnet(tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(tmp_path, "active", facility="modern-hall") as loop:
            await loop.steps(12)
            loop.assert_safe()
            assert {r.name for r in loop.twin.setpoints_received} == set(SETPOINT_NAMES)
            levers = [n for n in MODERN.setpoint_names if n not in SETPOINT_NAMES]
            assert all(all(v is None for v in loop.device.priority_array(n)) for n in levers), "never written"
            assert all(t.sources[n] == "bms" for t in loop.twin.records for n in levers)
    asyncio.run(go())
