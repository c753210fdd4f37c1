"""ModbusAdapter, its register map and the twin's Modbus TCP server, all on 127.0.0.1 with fresh ports.

Encoding is checked against an independent ``struct`` oracle; the adapter runs against
:class:`ModbusTwinServer` exposing a real :class:`PlantTwin`; faults are injected with the
server's hooks (offline, slow) or with maps that disagree with the server's. The closed
loop runs the service, the adapter and the twin in lockstep. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pymodbus.client import AsyncModbusTcpClient

from coolpilot.controller.adapters.base import Adapter, AdapterError
from coolpilot.controller.adapters.modbus import GRACE_S, ModbusAdapter, plan_reads
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.protocols.modbus import (
    TYPE_RANGE,
    TYPE_WORDS,
    ModbusSettings,
    RegisterMap,
    SetpointRegisterMap,
    decode,
    default_point_map,
    default_setpoint_map,
    encode,
    encode_setpoint,
    exception_text,
    raw_to_registers,
    registers_to_raw,
)
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.controller.twin import PlantTwin
from coolpilot.controller.twin.modbus_server import ModbusTwinServer
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import (
    CORE_CONTRACT,
    INLET_LIMIT_C,
    POINT_NAMES,
    POINTS_BY_NAME,
    SETPOINT_NAMES,
    SETPOINTS_BY_NAME,
)
from coolpilot.envs.validation import format_validation_error
from tests.controller.helpers import HOST, free_port

REPO = Path(__file__).resolve().parents[2]
MODERN = load_facility("modern-hall").contract
DEFAULT_POINT_MAP = default_point_map(CORE_CONTRACT)
DEFAULT_SETPOINT_MAP = default_setpoint_map(CORE_CONTRACT)
"""The core block's default registers: what most tests map (on the modern-hall twin, a site mapping only some)."""
BUNDLE = REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"
TYPES = ("int16", "uint16", "int32", "uint32", "float32")
STRUCT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
WRITE = {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.7, "chw_supply_temp_c": 12.0,
         "condenser_water_temp_c": 24.0}
FLOAT32_REL = 2.0**-23
"""Relative resolution of float32 (one ulp at most, round-to-nearest gives half)."""


def fast(port: int, **extra: Any) -> ModbusSettings:
    """Adapter settings for tests: short timeout and backoff."""
    base: dict[str, Any] = {"host": HOST, "port": port, "timeout_s": 0.5, "reconnect_min_s": 0.05,
                            "reconnect_max_s": 0.2}
    return ModbusSettings(**{**base, **extra})


def failure_bound_s(settings: ModbusSettings, calls: int = 1) -> float:
    """Longest ``calls`` reads or writes to a lost or silent device may take to fail (s), from the settings.

    Per call, the adapter's own bounds: a connection attempt (``timeout_s`` + ``GRACE_S``) and one
    request (``timeout_s`` × (1 + ``retries``) + ``GRACE_S``); then as much again as slack for a
    loaded machine. Derived from the configured timeout, so a slow machine does not fail it while
    an adapter that waits past its timeout (for a device that answers 5 s late, say) still does.
    """
    per_call_s = (settings.timeout_s + GRACE_S) + (settings.timeout_s * (settings.retries + 1) + GRACE_S)
    return 2.0 * per_call_s * calls


async def eventually(predicate: Callable[[], Any], what: str, timeout_s: float = 5.0) -> Any:
    """Await ``predicate()`` (a coroutine function) every 20 ms until it returns truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = await predicate()
            if result:
                return result
        except AdapterError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def plant(server_settings: ModbusSettings | None = None, port: int = 0,
                ) -> AsyncIterator[tuple[PlantTwin, ModbusTwinServer]]:
    """A twin served over Modbus on ``port`` (0: one picked by the OS, see ``server.port``), stopped on exit.

    Without ``server_settings`` the device serves the core block's default map (a site that maps only those
    on the modern-hall twin)."""
    server = ModbusTwinServer(server_settings or for_contract(ModbusSettings(), CORE_CONTRACT), host=HOST, port=port)
    twin = PlantTwin(frontends=[server])
    await twin.connect()
    try:
        yield twin, server
    finally:
        await twin.close()


def struct_registers(raw: float, type_: str, word_order: str) -> list[int]:
    """Independent oracle: the registers of ``raw`` by ``struct`` (big-endian bytes, words in ``word_order``)."""
    data = struct.pack(STRUCT[type_], int(raw) if type_ != "float32" else raw)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return words[::-1] if word_order == "little" else words


def with_points(**changes: dict[str, Any]) -> dict[str, Any]:
    """The default point map as plain data, with some points changed."""
    points: dict[str, Any] = {n: r.model_dump() for n, r in DEFAULT_POINT_MAP.items()}
    for name, change in changes.items():
        points[name] = {**points[name], **change}
    return points


def with_setpoints(**changes: dict[str, Any]) -> dict[str, Any]:
    """The default setpoint map as plain data, with some setpoints changed."""
    setpoints: dict[str, Any] = {n: r.model_dump() for n, r in DEFAULT_SETPOINT_MAP.items()}
    for name, change in changes.items():
        setpoints[name] = {**setpoints[name], **change}
    return setpoints


# --- encoding ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", TYPES)
@pytest.mark.parametrize("word_order", ["big", "little"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_raw_values_round_trip_and_match_struct(type_: str, word_order: str, data: st.DataObject) -> None:
    """Every raw value of every type: the registers equal struct's, and decode back to the same physical value."""
    scale = data.draw(st.sampled_from([1.0, 0.1, 0.01, 0.5, 10.0, -0.1]), label="scale")
    offset = data.draw(st.sampled_from([0.0, -40.0, 273.15]), label="offset")
    reg = RegisterMap(address=0, type=type_, word_order=word_order, scale=scale, offset=offset)
    lo, hi = TYPE_RANGE[type_]
    if type_ == "float32":
        raw = data.draw(st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
    else:
        raw = float(data.draw(st.integers(int(lo), int(hi))))
    exact = raw_to_registers(raw, reg)
    assert exact == struct_registers(raw, type_, word_order)
    assert registers_to_raw(exact, reg) == raw
    value = raw * scale + offset
    registers = encode(value, reg)
    assert len(registers) == TYPE_WORDS[type_] and all(0 <= r <= 0xFFFF for r in registers)
    if type_ != "float32":
        assert registers == exact, "physical → raw recovers the integer exactly"
    tolerance = abs(raw * scale) * FLOAT32_REL + 1e-9 * (abs(offset) + abs(value)) + 1e-12
    assert decode(registers, reg) == pytest.approx(value, abs=tolerance)


@pytest.mark.parametrize("type_", TYPES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_physical_values_round_trip_within_resolution(type_: str, data: st.DataObject) -> None:
    """Any physical value the type holds comes back within half a count (integers) or a float32 ulp."""
    scale = data.draw(st.sampled_from([1.0, 0.1, 0.01, 0.25]), label="scale")
    offset = data.draw(st.sampled_from([0.0, -40.0]), label="offset")
    reg = RegisterMap(address=0, type=type_, scale=scale, offset=offset)
    lo, hi = TYPE_RANGE[type_]
    low, high = max(lo * scale + offset, -1e6), min(hi * scale + offset, 1e6)
    value = data.draw(st.floats(low, high), label="value")
    back = decode(encode(value, reg), reg)
    if type_ == "float32":
        assert back == pytest.approx(value, abs=(abs(value) + abs(offset)) * FLOAT32_REL + 1e-9)
    else:
        assert abs(back - value) <= scale / 2 + 1e-9


def test_known_encodings() -> None:
    """Hand-checked registers: word order, sign, scale and offset."""
    assert encode(1.0, RegisterMap(address=0)) == [0x3F80, 0x0000]
    assert encode(1.0, RegisterMap(address=0, word_order="little")) == [0x0000, 0x3F80]
    assert encode(-2, RegisterMap(address=0, type="int32")) == [0xFFFF, 0xFFFE]
    assert encode(0x12345678, RegisterMap(address=0, type="uint32", word_order="little")) == [0x5678, 0x1234]
    assert encode(-1, RegisterMap(address=0, type="int16")) == [0xFFFF]
    celsius = RegisterMap(address=0, type="int16", scale=0.1, offset=-40.0)
    assert encode(21.5, celsius) == [615]
    assert decode([615], celsius) == pytest.approx(21.5)
    assert decode([0xFFFF], RegisterMap(address=0, type="uint16")) == 65535.0


@pytest.mark.parametrize("type_", TYPES)
@pytest.mark.parametrize("word_order", ["big", "little"])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_encoding_is_the_layout_pymodbus_uses(type_: str, word_order: Literal["big", "little"],
                                              data: st.DataObject) -> None:
    """The map's own encoding (it imports no pymodbus) writes and reads registers as pymodbus's client does."""
    reg = RegisterMap(address=0, type=type_, word_order=word_order)
    datatype = getattr(AsyncModbusTcpClient.DATATYPE, type_.upper())
    lo, hi = TYPE_RANGE[type_]
    raw: float | int = (data.draw(st.floats(width=32), label="raw") if type_ == "float32"
                        else data.draw(st.integers(int(lo), int(hi)), label="raw"))
    assert raw_to_registers(raw, reg) == AsyncModbusTcpClient.convert_to_registers(raw, datatype, word_order)
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=reg.words, max_size=reg.words), label="registers")
    ours, theirs = registers_to_raw(words, reg), AsyncModbusTcpClient.convert_from_registers(words, datatype,
                                                                                             word_order)
    assert isinstance(theirs, int | float)
    assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))


def test_a_value_needs_exactly_its_registers() -> None:
    with pytest.raises(ValueError, match="3 registers do not hold one float32"):
        registers_to_raw([0, 0, 0], RegisterMap(address=0))
    with pytest.raises(ValueError, match="2 registers do not hold one int16"):
        registers_to_raw([0, 0], RegisterMap(address=0, type="int16"))


def test_nan_passes_float32_and_integers_refuse_what_they_cannot_hold() -> None:
    assert math.isnan(decode(encode(math.nan, RegisterMap(address=0)), RegisterMap(address=0)))
    with pytest.raises(ValueError, match="int16"):
        encode(math.nan, RegisterMap(address=0, type="int16"))
    with pytest.raises(ValueError, match=r"outside|range"):
        encode(40000, RegisterMap(address=0, type="int16"))
    with pytest.raises(ValueError, match="range"):
        encode(-1, RegisterMap(address=0, type="uint32"))
    with pytest.raises(ValueError, match="float32"):
        encode(1e39, RegisterMap(address=0))


@pytest.mark.parametrize("name", SETPOINT_NAMES)
@pytest.mark.parametrize(("type_", "scale"), [("int16", 0.25), ("uint16", 0.3), ("int32", 0.07), ("float32", 1.0),
                                              ("float32", 0.1)])
@settings(max_examples=60, deadline=None)
@given(fraction=st.floats(0.0, 1.0))
def test_written_setpoints_decode_within_the_hard_bounds(name: str, type_: str, scale: float,
                                                         fraction: float) -> None:
    """Quantization never pushes a setpoint out of its bounds (0.3 at scale 0.25 would otherwise be 0.25)."""
    spec = SETPOINTS_BY_NAME[name]
    reg = SetpointRegisterMap(address=0, type=type_, scale=scale)
    value = spec.low + fraction * (spec.high - spec.low)
    back = decode(encode_setpoint(value, reg, spec.low, spec.high), reg)
    assert spec.low <= back <= spec.high
    assert abs(back - value) <= scale + abs(value) * FLOAT32_REL


def test_out_of_bounds_setpoints_are_not_encoded() -> None:
    spec = SETPOINTS_BY_NAME["supply_air_temp_c"]
    with pytest.raises(ValueError, match=r"outside the hard bounds 14\.\.26"):
        encode_setpoint(30.0, SetpointRegisterMap(address=0), spec.low, spec.high)
    with pytest.raises(ValueError, match="outside"):
        encode_setpoint(math.nan, SetpointRegisterMap(address=0), spec.low, spec.high)


def test_exception_names() -> None:
    assert exception_text(2) == "02 ILLEGAL DATA ADDRESS"
    assert exception_text(11) == "11 GATEWAY TARGET DEVICE FAILED TO RESPOND"


# --- mapping validation -----------------------------------------------------------------------------------------


def problems(**fields: Any) -> str:
    with pytest.raises(ValidationError) as info:
        ModbusSettings(**fields)
    return str(info.value)


def test_default_map_is_valid_and_read_in_one_request() -> None:
    s = ModbusSettings()
    assert set(s.points) == set(POINT_NAMES) and set(s.setpoints) == set(SETPOINT_NAMES)
    blocks = plan_reads(s)
    assert [(b.unit_id, b.table, b.address, b.count) for b in blocks] == [(1, "input", 0, 40)]
    assert all(sp.enable is not None for sp in s.setpoints.values())
    modern = for_contract(ModbusSettings(), MODERN)
    assert tuple(modern.points) == MODERN.point_names and tuple(modern.setpoints) == MODERN.setpoint_names
    assert [(b.table, b.address, b.count) for b in plan_reads(modern)] == [("input", 0, 60)]
    assert {n: (sp.address, sp.enable.address if sp.enable else None) for n, sp in modern.setpoints.items()} == {
        n: (2 * i, i) for i, n in enumerate(MODERN.setpoint_names)}, "the core four keep holding 0..7, coils 0..3"
    legacy = for_contract(ModbusSettings(), load_facility("legacy-hall").contract)
    assert legacy.setpoints["chiller_stage_up_plr"].address == 8 and "cw_flow_frac" not in legacy.setpoints


def test_wrong_data_type_in_the_mapping_is_a_clear_error_at_start() -> None:
    """A site's YAML puts IT power (0..1e6 kW) in an int16 at 0.1 kW: refused when loaded, naming field and ranges."""
    text = """
host: 10.0.0.5
points:
""" + "".join(f"  {n}: {{address: {2 * i}}}\n" for i, n in enumerate(POINT_NAMES) if n != "it_power_kw") + """
  it_power_kw: {address: 100, type: int16, scale: 0.1}
"""
    with pytest.raises(ValidationError) as info:
        ModbusSettings.model_validate(yaml.safe_load(text))
    message = format_validation_error(info.value, ModbusSettings, "site.yaml", "site file")
    assert "points.it_power_kw" in message
    assert "int16 with scale 0.1" in message and "-3276.8..3276.7 kW" in message
    assert "0..1e+06 kW" in message and "32-bit type" in message


def test_unsupported_type_names_the_allowed_ones() -> None:
    message = problems(points=with_points(inlet_temp_max_c={"type": "float64"}))
    assert "points.inlet_temp_max_c.type" in message
    assert "'int16', 'uint16', 'int32', 'uint32' or 'float32'" in message


def test_unknown_names_and_names_outside_the_facility() -> None:
    points = with_points()
    points["inlet_temp_p99_c"] = {"address": 500}
    assert "point names ['inlet_temp_p99_c'] are not points of any equipment block" in problems(points=points)
    del points["inlet_temp_p99_c"], points["outdoor_rh_pct"]
    assert set(ModbusSettings(points=points).points) == set(POINT_NAMES) - {"outdoor_rh_pct"}, "a site maps some"
    setpoints = with_setpoints()
    setpoints["return_air_temp_c"] = setpoints.pop("supply_air_temp_c")
    assert "setpoint names ['return_air_temp_c'] are not setpoints" in problems(setpoints=setpoints)
    legacy = load_facility("legacy-hall").contract
    with pytest.raises(ValidationError) as info:
        ModbusSettings.model_validate({"setpoints": {"cw_flow_frac": {"address": 40}}}, context={"contract": legacy})
    assert "setpoint names ['cw_flow_frac'] are not setpoints of the site's facility contract (blocks core, " \
           "chiller_staging); its setpoints are ['supply_air_temp_c'" in str(info.value)


def test_overlapping_registers_name_both_values() -> None:
    message = problems(points=with_points(outdoor_wetbulb_c={"address": 1}))
    assert "points.outdoor_wetbulb_c (input registers 1..2)" in message
    assert "points.outdoor_drybulb_c (input registers 0..1)" in message and "register 1 of unit 1" in message
    enable_clash = with_setpoints(chw_supply_temp_c={"enable": {"table": "coil", "address": 0}})
    assert "setpoints.chw_supply_temp_c.enable (coil 0)" in problems(setpoints=enable_clash)
    # different units, or a point and a setpoint in different tables, do not overlap
    ModbusSettings(points=with_points(outdoor_wetbulb_c={"address": 1, "unit_id": 2}))


def test_32_bit_value_past_the_last_address() -> None:
    message = problems(points=with_points(it_power_kw={"address": 65535}))
    assert "points.it_power_kw" in message and "address = 65535" in message and "0..65534" in message
    ModbusSettings(points=with_points(it_power_kw={"address": 65535, "type": "uint16", "scale": 20.0}))


def test_setpoint_on_an_input_register() -> None:
    message = problems(setpoints=with_setpoints(supply_air_temp_c={"table": "input"}))
    assert "setpoints.supply_air_temp_c.table" in message and "'input'" in message and "allowed: 'holding'" in message


def test_bad_scale_and_unreachable_bounds() -> None:
    assert "scale = 0.0" in problems(points=with_points(it_load_frac={"scale": 0.0}))
    message = problems(setpoints=with_setpoints(supply_air_temp_c={"type": "uint16", "scale": 100.0}))
    assert "setpoints.supply_air_temp_c" in message and "no raw value" in message and "14..26" in message
    message = problems(setpoints=with_setpoints(crah_fan_speed_frac={"type": "int16", "scale": 1e-5}))
    assert "setpoints.crah_fan_speed_frac: type int16 with scale 1e-05" in message and "hard bounds" in message


def test_all_problems_reported_at_once() -> None:
    message = problems(points=with_points(it_power_kw={"type": "int16"}, cooling_load_kw={"type": "uint16"}),
                       reconnect_min_s=10.0, reconnect_max_s=5.0)
    assert "3 problems" in message
    assert "points.it_power_kw" in message and "points.cooling_load_kw" in message and "reconnect_max_s" in message


# --- batching ---------------------------------------------------------------------------------------------------


def scattered_map() -> dict[str, Any]:
    """20 points in 3 runs: 10 int16 at input 0..9, 5 float32 at input 100..109, 5 uint16 at holding 300..304."""
    points: dict[str, Any] = {}
    for i, name in enumerate(POINT_NAMES):
        spec = POINTS_BY_NAME[name]
        if i < 10:
            scale = max(abs(spec.low), abs(spec.high)) / 30000.0
            points[name] = {"table": "input", "address": i, "type": "int16", "scale": scale}
        elif i < 15:
            points[name] = {"table": "input", "address": 100 + 2 * (i - 10)}
        else:
            points[name] = {"table": "holding", "address": 300 + i - 15, "type": "uint16",
                            "scale": spec.high / 60000.0}
    return points


def test_read_plan_merges_adjacent_registers_and_respects_limits() -> None:
    s = ModbusSettings(points=scattered_map())
    assert [(b.table, b.address, b.count, len(b.points)) for b in plan_reads(s)] == [
        ("holding", 300, 5, 5), ("input", 0, 10, 10), ("input", 100, 10, 5)]
    small = ModbusSettings(points=scattered_map(), max_registers_per_read=4)
    assert [(b.table, b.address, b.count) for b in plan_reads(small)] == [
        ("holding", 300, 4), ("holding", 304, 1), ("input", 0, 4), ("input", 4, 4), ("input", 8, 2),
        ("input", 100, 4), ("input", 104, 4), ("input", 108, 2)]
    gap = ModbusSettings(points=scattered_map(), max_gap_registers=90)
    assert [(b.table, b.address, b.count) for b in plan_reads(gap)] == [("holding", 300, 5), ("input", 0, 110)]
    default = {n: r.model_dump() for n, r in DEFAULT_POINT_MAP.items()}
    units = ModbusSettings(points={**default, "inlet_temp_max_c": {**default["inlet_temp_max_c"], "unit_id": 7}})
    assert [(b.unit_id, b.address, b.count) for b in plan_reads(units)] == [(1, 0, 14), (1, 16, 24), (7, 14, 2)]


def test_batched_reads_one_request_per_block() -> None:
    """20 points in 3 contiguous blocks: every read_points sends exactly 3 read requests, and decodes them all."""
    s = ModbusSettings(points=scattered_map())

    async def go() -> None:
        async with plant(s) as (twin, server):
            adapter = ModbusAdapter(fast(server.port, points=scattered_map()))
            try:
                for _ in range(5):
                    await twin.run_ticks(1)
                    before = sum(server.requests.values())
                    reading = await adapter.read_points()
                    assert sum(server.requests.values()) - before == 3
                    assert set(reading.values) == set(POINT_NAMES)
                    for name, value in reading.values.items():
                        reg = s.points[name]
                        resolution = abs(reg.scale) if reg.type != "float32" else abs(twin.points[name]) * 1e-6
                        assert value == pytest.approx(twin.sensor_values[name], abs=resolution + 1e-9), name
                assert server.requests[4] == 10 and server.requests[3] == 5
                assert adapter.requests == 15
            finally:
                await adapter.close()

    asyncio.run(go())


# --- adapter against the twin server ----------------------------------------------------------------------------


def test_reads_writes_and_relinquishes_through_the_twin() -> None:
    async def go() -> None:
        async with plant() as (twin, server):
            adapter = ModbusAdapter(fast(server.port))
            assert isinstance(adapter, Adapter)
            try:
                await adapter.connect()
                await twin.run_ticks(1)
                before_s = time.time()
                reading = await adapter.read_points()
                after_s = time.time()
                assert set(reading.values) == set(POINT_NAMES)
                for name, value in reading.values.items():
                    assert value == pytest.approx(twin.sensor_values[name], rel=FLOAT32_REL, abs=1e-6), name
                assert all(before_s <= t <= after_s for t in reading.times_s.values())

                result = await adapter.write_setpoints(WRITE)
                assert result.ok, result
                assert twin.commanded == pytest.approx(WRITE, rel=FLOAT32_REL)
                assert server.enabled == dict.fromkeys(SETPOINT_NAMES, True), "the device serves the core map"
                assert [(r.name, r.value) for r in twin.setpoints_received] == [
                    (n, pytest.approx(v, rel=FLOAT32_REL)) for n, v in WRITE.items()]
                again = {**WRITE, "supply_air_temp_c": 21.0}
                assert (await adapter.write_setpoints(again)).ok
                assert twin.commanded["supply_air_temp_c"] == 21.0
                assert len(twin.setpoints_received) == 8, "one record per value; an enable already at 1 adds none"

                result = await adapter.relinquish(["supply_air_temp_c", "chw_supply_temp_c"])
                assert result.ok, result
                assert set(twin.commanded) == {"crah_fan_speed_frac", "condenser_water_temp_c"}
                await twin.run_ticks(1)
                record = twin.records[-1]
                assert record.sources["supply_air_temp_c"] == "bms" and record.sources["crah_fan_speed_frac"] == \
                    "controller"
                assert twin.out_of_bounds_writes == 0 and twin.invalid_writes == 0
                assert server.exception_responses == {}
            finally:
                await adapter.close()
                await adapter.close()  # idempotent

    asyncio.run(go())


def test_sensor_faults_show_through_modbus() -> None:
    """Dropped or NaN points read NaN in float32; integer registers keep their last value (documented)."""
    int_map = with_points(outdoor_rh_pct={"type": "uint16", "scale": 0.01, "address": 200},
                          chillers_running={"type": "uint16", "address": 201})
    s = ModbusSettings(points=int_map)

    async def go() -> None:
        async with plant(s) as (twin, server):
            adapter = ModbusAdapter(fast(server.port, points=int_map))
            try:
                await twin.run_ticks(1)
                before = await adapter.read_points()
                twin.drop_points(["inlet_temp_max_c", "outdoor_rh_pct"])
                twin.inject_nan(["it_power_kw", "chillers_running"], ticks=1)
                await twin.run_ticks(1)
                reading = await adapter.read_points()
                assert math.isnan(reading.values["inlet_temp_max_c"])  # type: ignore[arg-type]
                assert math.isnan(reading.values["it_power_kw"])  # type: ignore[arg-type]
                assert reading.values["outdoor_rh_pct"] == before.values["outdoor_rh_pct"]
                assert reading.values["chillers_running"] == before.values["chillers_running"]
                twin.restore()
                twin.pause_publishing()
                await twin.run_ticks(1)
                paused = await adapter.read_points()
                assert math.isnan(paused.values["inlet_temp_max_c"]), "a paused feed is not refreshed"  # type: ignore[arg-type]
                twin.resume_publishing()
                await twin.run_ticks(1)
                reading = await adapter.read_points()
                assert reading.values["inlet_temp_max_c"] == pytest.approx(twin.points["inlet_temp_max_c"], rel=1e-6)
            finally:
                await adapter.close()

    asyncio.run(go())


def test_modbus_exception_responses_are_reported_per_setpoint_and_point() -> None:
    """The adapter's map puts chw_supply_temp_c and it_power_kw where the device has nothing: exception 02."""
    wrong_setpoints = with_setpoints(chw_supply_temp_c={"address": 200})
    wrong_points = with_points(it_power_kw={"address": 150})

    async def go() -> None:
        async with plant() as (twin, server):
            adapter = ModbusAdapter(fast(server.port, setpoints=wrong_setpoints, points=wrong_points))
            try:
                result = await adapter.write_setpoints(WRITE)
                assert result.accepted == {**dict.fromkeys(WRITE, True), "chw_supply_temp_c": False}
                assert set(result.errors) == {"chw_supply_temp_c"}
                assert "Modbus exception 02 ILLEGAL DATA ADDRESS" in result.errors["chw_supply_temp_c"]
                assert "holding registers 200..201 of unit 1" in result.errors["chw_supply_temp_c"]
                assert set(twin.commanded) == set(WRITE) - {"chw_supply_temp_c"}

                reading = await adapter.read_points()
                assert set(reading.values) == set(POINT_NAMES) - {"it_power_kw"}
                assert set(reading.times_s) == set(reading.values)
                assert server.exception_responses[2] == 2
                assert adapter.connected, "an exception response is an answer: the connection stays"
            finally:
                await adapter.close()

    asyncio.run(go())


def test_relinquish_without_enable_is_reported_as_unsupported() -> None:
    no_enable = with_setpoints(condenser_water_temp_c={"enable": None})

    async def go() -> None:
        async with plant(ModbusSettings(setpoints=no_enable)) as (twin, server):
            adapter = ModbusAdapter(fast(server.port, setpoints=no_enable))
            try:
                assert (await adapter.write_setpoints(WRITE)).ok
                result = await adapter.relinquish(list(SETPOINT_NAMES))
                assert result.accepted == {**dict.fromkeys(SETPOINT_NAMES, True), "condenser_water_temp_c": False}
                error = result.errors["condenser_water_temp_c"]
                assert error.startswith("relinquish not supported") and "no enable register" in error
                assert twin.commanded == {"condenser_water_temp_c": 24.0}, "the device keeps the last value"
            finally:
                await adapter.close()

    asyncio.run(go())


def test_holding_register_enables_and_scaled_integer_setpoints() -> None:
    """int16 × 0.01 setpoints with holding-register enables: the value counts only while enabled."""
    setpoints = {name: {"address": 10 + i, "type": "int16", "scale": 0.01,
                        "enable": {"table": "holding", "address": 20 + i}}
                 for i, name in enumerate(SETPOINT_NAMES)}
    s = ModbusSettings(setpoints=setpoints)

    async def go() -> None:
        async with plant(s) as (twin, server):
            adapter = ModbusAdapter(fast(server.port, setpoints=setpoints))
            try:
                assert (await adapter.write_setpoints({**WRITE, "crah_fan_speed_frac": 0.42})).ok
                assert twin.commanded == pytest.approx({**WRITE, "crah_fan_speed_frac": 0.42}, abs=1e-9)
                assert (await adapter.relinquish(["supply_air_temp_c"])).ok
                assert "supply_air_temp_c" not in twin.commanded

                client = AsyncModbusTcpClient(HOST, port=server.port, timeout=1, retries=0, reconnect_delay=0)
                await client.connect()
                try:
                    # the value alone does nothing while the enable is 0; enabling applies it
                    assert not (await client.write_register(10, 1850, device_id=1)).isError()
                    assert "supply_air_temp_c" not in twin.commanded
                    assert not (await client.write_register(20, 1, device_id=1)).isError()
                    assert twin.commanded["supply_air_temp_c"] == pytest.approx(18.5)
                    # a value and its enable in one request
                    assert not (await client.write_registers(11, [50], device_id=1)).isError()
                    assert twin.commanded["crah_fan_speed_frac"] == pytest.approx(0.5)
                    refused = await client.write_register(21, 2, device_id=1)
                    assert refused.isError() and refused.exception_code == 3
                finally:
                    client.close()
                assert twin.invalid_writes == 1
            finally:
                await adapter.close()

    asyncio.run(go())


def test_twin_server_refuses_what_a_device_would() -> None:
    """Writes outside the map, to points, to half a float32, of NaN, and reads of gaps get exception responses."""
    async def go() -> None:
        async with plant() as (twin, server):
            client = AsyncModbusTcpClient(HOST, port=server.port, timeout=1, retries=0, reconnect_delay=0)
            assert await client.connect()
            try:
                nan = AsyncModbusTcpClient.convert_to_registers(math.nan, AsyncModbusTcpClient.DATATYPE.FLOAT32)
                cases = [
                    (client.write_registers(100, [1, 2], device_id=1), 2),  # nothing mapped there
                    (client.write_register(1, 0, device_id=1), 2),  # half of a float32
                    (client.write_registers(0, nan, device_id=1), 3),  # not a number
                    (client.write_coil(9, True, device_id=1), 2),  # no such enable
                    (client.read_input_registers(38, count=4, device_id=1), 2),  # past the last point
                    (client.read_discrete_inputs(0, count=1, device_id=1), 2),
                ]
                for request, code in cases:
                    response = await request
                    assert response.isError() and response.exception_code == code, (response, code)
                ok = await client.read_holding_registers(0, count=8, device_id=1)
                assert not ok.isError() and len(ok.registers) == 8
                coils = await client.read_coils(0, count=4, device_id=1)
                assert not coils.isError() and list(coils.bits[:4]) == [False] * 4
                assert twin.commanded == {} and twin.invalid_writes == 1
                assert server.exception_responses == {2: 5, 3: 1}
            finally:
                client.close()

    asyncio.run(go())


def test_values_that_must_not_be_written_are_refused_locally() -> None:
    async def go() -> None:
        async with plant() as (twin, server):
            adapter = ModbusAdapter(fast(server.port))
            try:
                result = await adapter.write_setpoints({"supply_air_temp_c": 40.0, "crah_fan_speed_frac": math.nan,
                                                        "chw_supply_temp_c": "cold",  # type: ignore[dict-item]
                                                        "outdoor_rh_pct": 50.0})
                assert result.accepted == dict.fromkeys(result.accepted, False)
                assert "outside the hard bounds 14..26" in result.errors["supply_air_temp_c"]
                assert "outside" in result.errors["crah_fan_speed_frac"]
                assert "not a number" in result.errors["chw_supply_temp_c"]
                assert "not mapped by this site" in result.errors["outdoor_rh_pct"]
                assert server.requests == {} and twin.setpoints_received == []
            finally:
                await adapter.close()

    asyncio.run(go())


# --- faults -----------------------------------------------------------------------------------------------------


def test_device_down_at_start_fails_fast_then_connects() -> None:
    port = free_port()

    async def go() -> None:
        settings = fast(port, timeout_s=10.0)
        adapter = ModbusAdapter(settings)
        start = time.monotonic()
        with pytest.raises(AdapterError, match=rf"Modbus device 127\.0\.0\.1:{port}: cannot connect"):
            await adapter.connect()
        # A refused connection is an answer: it fails at once instead of waiting out the connection timeout, so the
        # bound is the configured timeout itself (10 s, far above any scheduling delay of a loaded machine).
        assert time.monotonic() - start < settings.timeout_s
        with pytest.raises(AdapterError, match="next connection attempt in"):
            await adapter.read_points()  # backing off: fails at once, without another attempt
        assert adapter.connect_attempts == 1
        async def connect() -> bool:
            await adapter.connect()
            return True

        async with plant(port=port) as (_, server):
            assert server.port == port
            await eventually(connect, "the adapter to connect")
            assert adapter.connected and adapter.connections == 1
            assert len((await adapter.read_points()).values) == len(POINT_NAMES)
            await adapter.close()

    asyncio.run(go())


def test_device_lost_mid_run_and_back_is_recovered_by_the_adapter_itself() -> None:
    async def go() -> None:
        async with plant() as (twin, server):
            adapter = ModbusAdapter(fast(server.port))
            try:
                assert len((await adapter.read_points()).values) == len(POINT_NAMES)
                await server.go_offline()
                start = time.monotonic()
                with pytest.raises(AdapterError, match=r"connection lost|cannot connect"):
                    await adapter.read_points()
                with pytest.raises(AdapterError):
                    await adapter.write_setpoints(WRITE)
                assert time.monotonic() - start < failure_bound_s(adapter.settings, calls=2)
                await twin.run_ticks(1)
                await server.go_online()
                reading = await eventually(adapter.read_points, "reads to succeed again")
                assert set(reading.values) == set(POINT_NAMES)
                assert reading.values["it_power_kw"] == pytest.approx(twin.points["it_power_kw"], rel=1e-6)
                assert (await adapter.write_setpoints(WRITE)).ok
                assert adapter.connections == 2
            finally:
                await adapter.close()

    asyncio.run(go())


def test_reconnection_backs_off_exponentially() -> None:
    """A dead device polled every 5 ms: connection attempts at least 0.1, 0.2, 0.4, 0.4 s apart, none in between."""
    port = free_port()

    async def go() -> None:
        adapter = ModbusAdapter(fast(port, reconnect_min_s=0.1, reconnect_max_s=0.4))
        attempts: list[tuple[float, float]] = []
        """Monotonic time before and after each call that made a connection attempt."""
        polls = 0
        deadline = time.monotonic() + 30.0
        while len(attempts) < 5:
            before = time.monotonic()
            with pytest.raises(AdapterError):
                await adapter.read_points()
            polls += 1
            if adapter.connect_attempts > len(attempts):
                attempts.append((before, time.monotonic()))
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after 30 s waiting for 5 connection attempts; made {attempts}")
            await asyncio.sleep(0.005)
        assert adapter.connect_attempts == 5
        # The adapter refuses to try again before the failure plus its backoff delay, so from the start of the call
        # that failed to the end of the one that tried again at least that delay passed: a lower bound, which holds
        # however slowly a loaded machine runs the loop.
        for k, delay_s in enumerate([0.1, 0.2, 0.4, 0.4]):
            assert attempts[k + 1][1] - attempts[k][0] >= delay_s, (k, attempts)
        assert polls > len(attempts), "the polls between attempts must fail at once, without an attempt"

    asyncio.run(go())


def test_slow_device_is_bounded_by_the_timeout() -> None:
    async def go() -> None:
        async with plant() as (_, server):
            adapter = ModbusAdapter(fast(server.port, timeout_s=0.3))
            try:
                await adapter.connect()
                delay_s = 5.0
                bound_s = failure_bound_s(adapter.settings)
                assert bound_s < delay_s, "the bound must tell a request abandoned at its timeout from a late answer"
                server.slow(delay_s)
                for call in (adapter.read_points(), adapter.write_setpoints(WRITE)):
                    start = time.monotonic()
                    with pytest.raises(AdapterError, match=r"no answer within 0\.3 s|next connection attempt"):
                        await call
                    assert time.monotonic() - start < bound_s
                    await asyncio.sleep(0.1)
                server.slow(0.0)
                reading = await eventually(adapter.read_points, "reads to succeed once the device is quick again")
                assert set(reading.values) == set(POINT_NAMES)
            finally:
                await adapter.close()

    asyncio.run(go())


# --- closed loop ------------------------------------------------------------------------------------------------


class ModbusLoop:
    """The service, a ModbusAdapter and the twin behind a ModbusTwinServer, stepped in lockstep."""

    def __init__(self, tmp_path: Path, mode: str, **site: Any) -> None:
        self.site = site_from_mapping({
            "name": "modbus-loop", "model": str(BUNDLE), "mode": mode, "period_s": 0.01, "rate_period_s": 300,
            "adapter": {"kind": "mqtt", "mqtt": {"host": HOST, "port": 1}},  # unused: the adapter is passed in
            "safety": {"stale_after_s": 2.0},
            "audit": {"path": str(tmp_path / "audit.sqlite")}, **site,
        }, "test")
        self.server = ModbusTwinServer(ModbusSettings(), host=HOST, port=0)
        self.twin = PlantTwin("modern-hall", "phoenix", start_day=190.0, frontends=[self.server])
        self.adapter: ModbusAdapter
        self.service: ControllerService

    async def __aenter__(self) -> ModbusLoop:
        await self.twin.connect()
        self.adapter = ModbusAdapter(for_contract(fast(self.server.port, timeout_s=2.0), self.site.contract))
        self.service = ControllerService(self.site, self.adapter)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.service.shutdown()
        finally:
            await self.twin.close()

    async def steps(self, n: int) -> None:
        """``n`` plant steps, each followed by one control cycle; no write may be refused."""
        for _ in range(n):
            await self.twin.run_ticks(1)
            outcome = await self.service.run_cycle()
            assert outcome.write_errors == {}, (outcome.cycle, outcome.write_errors)

    def assert_audit_complete(self, cycles: int) -> None:
        records = self.service.audit.decisions(limit=cycles + 10)
        assert [r.cycle for r in reversed(records)] == list(range(1, cycles + 1))

    def assert_safe(self) -> None:
        assert self.twin.out_of_bounds_writes == 0 and self.twin.invalid_writes == 0
        for r in self.service.audit.decisions(limit=100_000):
            for name, value in (r.written or {}).items():
                spec = SETPOINTS_BY_NAME[name]
                assert math.isfinite(value) and spec.low <= value <= spec.high, (r.cycle, name, value)
        hot = [t for t in self.twin.records if t.controller_in_charge and t.inlet_temp_max_c > INLET_LIMIT_C]
        assert not hot, f"inlet above 27 °C under the controller at ticks {[t.tick for t in hot][:5]}"


def test_active_week_in_closed_loop_over_modbus(tmp_path: Path) -> None:
    """A simulated July week in Phoenix (2016 cycles of 300 s, about 7 s): one audit record per cycle, every write
    accepted and in bounds, inlets never above 27 °C while the controller is in charge."""
    cycles = 2016

    async def go() -> None:
        loop = ModbusLoop(tmp_path, "active")
        async with loop:
            await loop.steps(cycles)
            loop.assert_audit_complete(cycles)
            loop.assert_safe()
            in_charge = sum(t.controller_in_charge for t in loop.twin.records)
            assert in_charge >= cycles - 16, in_charge
            sources = [r.source for r in loop.service.audit.decisions(limit=cycles)]
            assert sources.count("policy") > 0.95 * cycles
            assert loop.server.requests[16] >= 4 * (cycles - 16) and loop.adapter.connections == 1
        assert loop.twin.commanded == {}, "shutdown relinquishes every setpoint through its enable"
        assert not any(loop.server.enabled.values())

    asyncio.run(go())


def test_shadow_week_in_closed_loop_over_modbus_writes_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        loop = ModbusLoop(tmp_path, "shadow")
        async with loop:
            await loop.steps(2016)
            loop.assert_audit_complete(2016)
            assert all(not r.wrote for r in loop.service.audit.decisions(limit=3000))
            assert loop.twin.setpoints_received == []
            assert not any(t.controller_in_charge for t in loop.twin.records)
            assert set(loop.server.requests) == {4}, f"only reads on the wire, got {loop.server.requests}"
        assert loop.twin.setpoints_received == []

    asyncio.run(go())


def test_closed_loop_rides_out_a_device_outage(tmp_path: Path) -> None:
    """The device disappears for a few cycles: those cycles are audited without points, then the loop resumes."""
    async def go() -> None:
        loop = ModbusLoop(tmp_path, "active")
        async with loop:
            await loop.steps(6)
            await loop.server.go_offline()
            for _ in range(3):
                await loop.twin.run_ticks(1)
                outcome = await loop.service.run_cycle()
                assert not outcome.wrote
            await loop.server.go_online()
            await asyncio.sleep(0.25)  # past the adapter's longest backoff (0.2 s)
            await loop.steps(4)
            loop.assert_audit_complete(13)
            records = list(reversed(loop.service.audit.decisions(limit=13)))
            assert all(r.points == {} for r in records[6:9])
            assert records[-1].source == "policy" and records[-1].wrote
            loop.assert_safe()

    asyncio.run(go())


def test_modern_hall_in_closed_loop_over_modbus_commands_every_lever(tmp_path: Path) -> None:
    """Without a model the rule-based fallback commands all nine setpoints of modern-hall (ten simulated hours over
    Modbus): each written, accepted, in bounds, whole steps for the economizer enable, the hall below 27 °C."""
    cycles = 120

    async def go() -> None:
        loop = ModbusLoop(tmp_path, "active", facility="modern-hall", model=None, safety={"hold_cycles": 0})
        async with loop:
            assert loop.service.commanded.setpoint_names == MODERN.setpoint_names
            await loop.steps(cycles)
            loop.assert_audit_complete(cycles)
            loop.assert_safe()
            records = loop.service.audit.decisions(limit=cycles)
            assert all(r.source == "fallback" and set(r.written or {}) == set(MODERN.setpoint_names) for r in records)
            assert {r.written["economizer_enable"] for r in records if r.written} <= {0.0, 1.0}
            received = {r.name for r in loop.twin.setpoints_received}
            assert received == set(MODERN.setpoint_names)
            assert all(set(t.sources.values()) == {"controller"} for t in list(loop.twin.records)[1:])
            assert loop.twin.records[-1].setpoints["tower_cell_flow_min_frac"] == pytest.approx(0.33, abs=1e-6), \
                "rule-based spreads the flow over every tower cell"
        assert loop.twin.commanded == {} and not any(loop.server.enabled.values()), "shutdown relinquishes all nine"

    asyncio.run(go())


def test_a_contract_1_bundle_on_modern_hall_writes_only_the_core_four_over_modbus(tmp_path: Path) -> None:
    """The shipped bundle (contract 1) on modern-hall: the service writes its four setpoints; the plant's own
    sequence keeps the levers, which are never written."""
    async def go() -> None:
        loop = ModbusLoop(tmp_path, "active", facility="modern-hall")
        async with loop:
            assert loop.service.commanded.setpoint_names == SETPOINT_NAMES
            assert loop.service.commanded.point_names == MODERN.point_names
            await loop.steps(24)
            loop.assert_safe()
            assert {r.name for r in loop.twin.setpoints_received} == set(SETPOINT_NAMES)
            levers = [n for n in MODERN.setpoint_names if n not in SETPOINT_NAMES]
            assert all(t.sources[n] == "bms" for t in loop.twin.records for n in levers)
            assert [loop.server.enabled[n] for n in levers] == [False] * len(levers)
            assert loop.service.audit.decisions(limit=1)[0].source == "policy"
        assert loop.twin.commanded == {}

    asyncio.run(go())
