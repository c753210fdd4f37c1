"""The plant twin: physics behind MQTT, clamping like a BMS, fault hooks as seen through the adapter, CLI."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import coolpilot.controller.twin.plant as plant_module
from coolpilot.cli import main
from coolpilot.controller.adapters.base import Reading
from coolpilot.controller.adapters.mqtt import MqttAdapter, MqttConnection
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.protocols.mqtt import MqttSettings
from coolpilot.controller.twin import PlantTwin, parse_setpoint_payload
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINT_NAMES
from tests.controller.helpers import Broker, eventually, read_until

REPO = Path(__file__).resolve().parents[2]
MODERN = load_facility("modern-hall").contract
"""The twin's default facility's contract: 30 points, 9 setpoints."""
POINT_NAMES = MODERN.point_names


def settings(broker: Broker) -> MqttSettings:
    """Test settings: short timeouts, the twin's facility's every point and setpoint."""
    return for_contract(MqttSettings(host=broker.host, port=broker.port, timeout_s=2.0), MODERN)


def test_twin_steps_without_a_broker_across_exogenous_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plant_module, "CHUNK_STEPS", 4)
    twin = PlantTwin(start_day=180.0, dt_s=300.0)
    records = asyncio.run(twin.run_ticks(11))
    assert [r.tick for r in records] == list(range(1, 12))
    times = [r.plant_time_s for r in records]
    assert times == [180 * 86400.0 + 300.0 * k for k in range(1, 12)]
    assert twin.plant_time_s == times[-1]
    hour = (times[-1] % 86400.0) / 3600.0
    assert twin.points["time_of_day_sin"] == pytest.approx(math.sin(2 * math.pi * hour / 24))
    assert all(r.sources == dict.fromkeys(MODERN.setpoint_names, "bms") for r in records)
    assert set(twin.points) == set(POINT_NAMES) and set(twin.bms_setpoints) == set(MODERN.setpoint_names)
    assert all(math.isfinite(v) for v in twin.points.values())
    assert max(r.inlet_temp_max_c for r in records) < INLET_LIMIT_C, "the BMS alone keeps the hall in bounds"


def test_twin_clamps_writes_and_the_plant_responds(mosquitto: Broker) -> None:
    """A warmer supply air setpoint (clamped from 30 to the 26 °C bound) warms the measured supply air."""
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                await twin.run_ticks(2)
                before = await read_until(adapter, lambda r: r.values == twin.points, "the BMS-run points")
                supply_before = before.values["supply_air_temp_c"]
                assert isinstance(supply_before, float) and supply_before < 22.0
                assert (await adapter.write_setpoints({"supply_air_temp_c": 30.0})).ok
                await eventually(lambda: "supply_air_temp_c" in twin.commanded, "the write")
                assert twin.commanded == {"supply_air_temp_c": 26.0}
                assert twin.out_of_bounds_writes == 1
                (received,) = twin.setpoints_received
                assert received.value == 30.0 and received.applied == 26.0 and received.out_of_bounds

                records = await twin.run_ticks(4)
                assert all(r.setpoints["supply_air_temp_c"] == 26.0 for r in records)
                assert all(r.sources["supply_air_temp_c"] == "controller" for r in records)
                after = await read_until(adapter, lambda r: r.values == twin.points, "the points after 4 ticks")
                supply_after = after.values["supply_air_temp_c"]
                assert isinstance(supply_after, float)
                # Slew 0.3 °C/min: up to 1.5 K per 300 s tick.
                assert supply_after > supply_before + 3.0, (supply_before, supply_after)
                inlet_before, inlet_after = before.values["inlet_temp_max_c"], after.values["inlet_temp_max_c"]
                assert isinstance(inlet_before, float) and isinstance(inlet_after, float)
                assert inlet_after > inlet_before + 1.0, "warmer supply air warms the server inlets"
            finally:
                await adapter.close()

    asyncio.run(go())


def test_controller_keeps_the_hall_cool(mosquitto: Broker) -> None:
    """The records let a test tell whether the controller (not the BMS) ever let the hall exceed 27 °C."""
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                write = {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.8, "chw_supply_temp_c": 12.0,
                         "condenser_water_temp_c": 25.0}
                assert (await adapter.write_setpoints(write)).ok
                await eventually(lambda: twin.commanded == write, "the writes")
                await twin.run_ticks(6)
                ours = [r for r in twin.records if r.controller_in_charge]
                assert len(ours) == 6
                assert all(r.inlet_temp_max_c <= INLET_LIMIT_C for r in ours), [r.inlet_temp_max_c for r in ours]
            finally:
                await adapter.close()

    asyncio.run(go())


LAST = POINT_NAMES[-1]
"""The point the twin publishes last in each tick: once its message of a tick is in, the whole tick is."""


async def tick_read(twin: PlantTwin, adapter: MqttAdapter, what: str) -> object:
    """One tick, and the adapter's reading once every message of it has arrived (stamped after the tick began)."""
    began = time.time()
    await twin.run_ticks(1)
    return await read_until(adapter, lambda r: r.times_s.get(LAST, 0.0) >= began, what)


def test_fault_hooks_as_seen_through_the_adapter(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                # NaN for one tick, then real values again.
                twin.inject_nan(["supply_air_temp_c"], ticks=1)
                r = await tick_read(twin, adapter, "the NaN tick")
                assert isinstance(r, Reading)
                nan = r.values["supply_air_temp_c"]
                assert isinstance(nan, float) and math.isnan(nan)
                await twin.run_ticks(1)
                await read_until(adapter, lambda r: r.values == twin.points, "healthy values after the NaN tick")

                # Missing: not published any more and the retained value cleared.
                twin.drop_points(["chw_return_temp_c"])
                await twin.run_ticks(1)
                r = await read_until(adapter, lambda r: "chw_return_temp_c" not in r.values, "the dropped point")
                assert set(r.values) == set(POINT_NAMES) - {"chw_return_temp_c"}
                late = MqttAdapter(settings(mosquitto).model_copy(update={"initial_wait_s": 0.3}))
                await late.connect()
                assert "chw_return_temp_c" not in (await late.read_points()).values, "no retained value either"
                assert len((await late.read_points()).values) == len(POINT_NAMES) - 1
                await late.close()

                # Stuck: the same value with fresh timestamps.
                twin.freeze(["inlet_temp_max_c"])
                frozen = twin.points["inlet_temp_max_c"]
                seen = []
                for _ in range(3):
                    r = await tick_read(twin, adapter, "the tick")
                    assert isinstance(r, Reading)
                    seen.append((r.values["inlet_temp_max_c"], r.times_s["inlet_temp_max_c"]))
                assert [v for v, _ in seen] == [frozen] * 3
                assert seen[0][1] < seen[1][1] < seen[2][1], "a stuck sensor still reports, with fresh times"
                assert twin.points["inlet_temp_max_c"] != frozen, "the plant itself moved on"

                # Stale: nothing published while paused.
                twin.pause_publishing()
                last = await adapter.read_points()
                await twin.run_ticks(2)
                await asyncio.sleep(0.1)
                assert await adapter.read_points() == last
                twin.resume_publishing()
                await twin.run_ticks(1)
                r = await read_until(adapter, lambda r: r.times_s["it_power_kw"] > last.times_s["it_power_kw"],
                                     "fresh values after resuming")

                twin.restore()
                await twin.run_ticks(1)
                r = await read_until(adapter, lambda r: r.values == twin.points, "every point healthy again")
                with pytest.raises(ValueError, match="unknown points"):
                    twin.freeze(["inlet_max"])
            finally:
                await adapter.close()

    asyncio.run(go())


def test_invalid_setpoint_messages_are_ignored_and_counted(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            sender = MqttConnection(settings(mosquitto), "test-sender", [], lambda *_: None)
            await sender.connect()
            try:
                topic = twin.settings.setpoint_topic("crah_fan_speed_frac")
                assert await sender.publish_many([(topic, b"fast", False), (topic, b'{"value": "NaN"}', False),
                                                  (topic, b"0.9", False)]) == [None] * 3
                await eventually(lambda: twin.commanded == {"crah_fan_speed_frac": 0.9}, "the bare-number write")
                assert twin.invalid_writes == 2 and twin.out_of_bounds_writes == 0
            finally:
                await sender.close()

    asyncio.run(go())


def test_parse_setpoint_payload() -> None:
    assert parse_setpoint_payload(b'{"value": 18.5, "time_s": 1, "source": "coolpilot"}') == 18.5
    assert parse_setpoint_payload(b'{"value": null}') is None
    assert parse_setpoint_payload(b"7") == 7.0
    for bad in (b"{}", b'{"value": true}', b'{"value": NaN}', b'"18"', b"x", b"[1]"):
        with pytest.raises(ValueError):
            parse_setpoint_payload(bad)


def test_start_and_stop_pace_the_twin(mosquitto: Broker) -> None:
    async def go() -> None:
        twin = PlantTwin(mqtt=settings(mosquitto), tick_s=0.02)
        assert PlantTwin(speed=600.0).interval_s == pytest.approx(0.5)
        await twin.start()
        try:
            await eventually(lambda: twin.tick >= 5, "five paced ticks")
        finally:
            await twin.stop()
        ticks = twin.tick
        await asyncio.sleep(0.1)
        assert twin.tick == ticks and not twin.connected
        await twin.stop()  # idempotent

    asyncio.run(go())


def test_cli_runs_given_ticks(mosquitto: Broker) -> None:
    rc = main(["twin", "--mqtt-port", str(mosquitto.port), "--ticks", "3", "--tick-s", "0.01",
               "--prefix", "coolpilot/hall-a"])
    assert rc == 0

    async def go() -> None:
        adapter = MqttAdapter(for_contract(MqttSettings(port=mosquitto.port, prefix="coolpilot/hall-a", timeout_s=2.0),
                                           MODERN))
        await adapter.connect()
        reading = await adapter.read_points()
        await adapter.close()
        assert set(reading.values) == set(POINT_NAMES), "the twin's points stay retained"

    asyncio.run(go())


def test_cli_stops_cleanly_on_sigint(mosquitto: Broker, tmp_path: Path) -> None:
    log = tmp_path / "twin.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "coolpilot", "twin", "--mqtt-port", str(mosquitto.port),
                                 "--tick-s", "0.05"], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        async def wait_for_points() -> None:
            adapter = MqttAdapter(for_contract(MqttSettings(port=mosquitto.port, timeout_s=2.0, initial_wait_s=0.0),
                                               MODERN))
            await adapter.connect()
            try:
                await read_until(adapter, lambda r: len(r.values) == len(POINT_NAMES), "the twin's points",
                                 timeout_s=30.0)
            finally:
                await adapter.close()

        asyncio.run(wait_for_points())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0, log.read_text()
        assert "twin stopped after" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_received_history_records_relinquish(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            sender = MqttConnection(settings(mosquitto), "test-sender", [], lambda *_: None)
            await sender.connect()
            try:
                topic = twin.settings.setpoint_topic("chw_supply_temp_c")
                payloads = [json.dumps({"value": 11.0}).encode(), json.dumps({"value": None}).encode()]
                await sender.publish_many([(topic, p, False) for p in payloads])
                await eventually(lambda: len(twin.setpoints_received) == 2, "both messages")
                first, second = twin.setpoints_received
                assert (first.value, second.value, second.applied) == (11.0, None, None)
                assert first.wall_time_s <= second.wall_time_s <= time.time()
                assert twin.commanded == {}
            finally:
                await sender.close()

    asyncio.run(go())


def test_levers_not_written_run_on_the_plants_own_sequence(mosquitto: Broker) -> None:
    """An economizer lock-out written over MQTT holds the economizer off; relinquished, the plant's own sequence
    enables it again (after its 20-minute hold); the core setpoints stay with the BMS throughout."""
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto), climate="chicago", start_day=30.0) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                assert twin.bms_setpoints["economizer_enable"] == 1.0, "the local sequence keeps it enabled"
                assert (await adapter.write_setpoints({"economizer_enable": 0.0})).ok
                await eventually(lambda: twin.commanded == {"economizer_enable": 0.0}, "the lock-out")
                records = await twin.run_ticks(5)
                assert all(r.sources["economizer_enable"] == "controller" for r in records)
                assert all(r.sources[n] == "bms" for r in records for n in SETPOINT_NAMES)
                assert twin.points["economizer_enable"] == 0.0 and twin.points["economizer_load_frac"] == 0.0
                assert (await adapter.relinquish(["economizer_enable"])).ok
                await eventually(lambda: twin.commanded == {}, "the relinquish")
                records = await twin.run_ticks(5)
                assert records[-1].sources["economizer_enable"] == "bms"
                assert twin.points["economizer_enable"] == 1.0, "the plant's own sequence enabled it again"
            finally:
                await adapter.close()

    asyncio.run(go())


def test_a_legacy_hall_twin_publishes_its_contract_and_refuses_other_setpoints() -> None:
    twin = PlantTwin(facility="legacy-hall")
    legacy = load_facility("legacy-hall").contract
    assert twin.contract == legacy and set(twin.points) == set(legacy.point_names)
    assert set(twin.sensor_values) == set(legacy.point_names) and "cw_flow_frac" not in twin.points
    with pytest.raises(ValueError, match=r"unknown setpoint 'cw_flow_frac'; the facility's setpoints are"):
        twin.apply_setpoint("cw_flow_frac", 0.8)
    with pytest.raises(ValueError, match="not setpoints of the site's facility contract"):
        PlantTwin(facility="legacy-hall", mqtt=MqttSettings(setpoints=("cw_flow_frac",)))
    core_only = PlantTwin(facility="legacy-hall", mqtt=MqttSettings(points=("inlet_temp_max_c", "it_power_kw")))
    assert core_only.settings.points == ("inlet_temp_max_c", "it_power_kw"), "a site's own map is kept"
    assert core_only.settings.setpoints == legacy.setpoint_names, "a map not given: the facility's"
