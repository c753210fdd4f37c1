"""MqttAdapter against a real mosquitto broker and the plant twin, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from coolpilot.controller.adapters.base import Adapter, AdapterError
from coolpilot.controller.adapters.mqtt import MqttAdapter, MqttConnection, parse_point_payload, setpoint_payload
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.protocols.mqtt import MqttSettings, MqttTls
from coolpilot.controller.twin import PlantTwin
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import SETPOINT_NAMES
from tests.controller.helpers import (
    USERS,
    WRITABLE_SETPOINTS,
    Broker,
    eventually,
    free_port,
    make_certificates,
    read_until,
)

WRITE = {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.7, "chw_supply_temp_c": 12.0,
         "condenser_water_temp_c": 24.0}


MODERN = load_facility("modern-hall").contract
POINT_NAMES = MODERN.point_names
"""The points the twin (modern-hall, its default facility) publishes."""


def settings(broker: Broker, **extra: Any) -> MqttSettings:
    """Test settings: short timeouts (``extra`` overrides), every point and setpoint of the twin's modern-hall."""
    return for_contract(MqttSettings(**{"host": broker.host, "port": broker.port, "timeout_s": 2.0, **extra}), MODERN)


def test_reads_and_writes_through_the_broker(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            assert isinstance(adapter, Adapter)
            before_s = time.time()
            await adapter.connect()
            try:
                reading = await adapter.read_points()
                assert set(reading.values) == set(POINT_NAMES), "connect() waits for every retained point"
                assert reading.values == twin.points
                await twin.run_ticks(1)
                reading = await read_until(adapter, lambda r: r.values == twin.points, "the tick's points")
                assert all(before_s - 1.0 <= t <= time.time() for t in reading.times_s.values()), reading.times_s

                result = await adapter.write_setpoints(WRITE)
                assert result.ok, result
                assert result.accepted == dict.fromkeys(WRITE, True)
                await eventually(lambda: twin.commanded == WRITE, "the twin to receive the four setpoints")
                received = twin.setpoints_received
                assert [(r.name, r.value) for r in received] == list(WRITE.items())
                assert twin.out_of_bounds_writes == 0 and twin.invalid_writes == 0
            finally:
                await adapter.close()
                await adapter.close()  # idempotent

    asyncio.run(go())


def test_write_refused_by_acl_is_reported_with_reason_135(mosquitto_auth: Broker) -> None:
    async def go() -> None:
        plant = settings(mosquitto_auth, username="plant", password=USERS["plant"])
        async with PlantTwin(mqtt=plant) as twin:
            adapter = MqttAdapter(settings(mosquitto_auth, username="controller", password=USERS["controller"]))
            await adapter.connect()
            try:
                reading = await adapter.read_points()
                assert set(reading.values) == set(POINT_NAMES)
                result = await adapter.write_setpoints(WRITE)
                assert not result.ok
                for name in SETPOINT_NAMES:
                    assert result.accepted[name] is (name in WRITABLE_SETPOINTS), result
                refused = set(SETPOINT_NAMES) - set(WRITABLE_SETPOINTS)
                assert set(result.errors) == refused
                for name in refused:
                    assert "135" in result.errors[name] and "Not authorized" in result.errors[name], result.errors
                    assert f"{mosquitto_auth.host}:{mosquitto_auth.port}" in result.errors[name]
                await eventually(lambda: set(twin.commanded) == set(WRITABLE_SETPOINTS), "the allowed writes")
                await asyncio.sleep(0.1)
                assert set(twin.commanded) == set(WRITABLE_SETPOINTS), "a refused write must not reach the plant"
            finally:
                await adapter.close()

    asyncio.run(go())


@pytest.mark.parametrize("credentials", [{"username": "controller", "password": "wrong"}, {}],
                         ids=["bad-password", "anonymous"])
def test_refused_connection_names_broker_and_reason(mosquitto_auth: Broker, credentials: dict[str, str]) -> None:
    async def go() -> None:
        adapter = MqttAdapter(settings(mosquitto_auth, timeout_s=10.0, **credentials))
        started = time.monotonic()
        with pytest.raises(AdapterError) as info:
            await adapter.connect()
        # The broker's refusal (CONNACK 135) is an answer: connect() fails at once instead of waiting out the
        # connection timeout, so the bound is the configured timeout itself (10 s, far above any scheduling delay).
        assert time.monotonic() - started < adapter.settings.timeout_s
        msg = str(info.value)
        assert f"{mosquitto_auth.host}:{mosquitto_auth.port}" in msg and "135" in msg and "Not authorized" in msg
        with pytest.raises(AdapterError, match="not connected"):
            await adapter.write_setpoints(WRITE)
        await adapter.close()

    asyncio.run(go())


def test_password_from_environment(mosquitto_auth: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MQTT_PASSWORD", USERS["controller"])

    async def go() -> None:
        adapter = MqttAdapter(settings(mosquitto_auth, username="controller", password="wrong",
                                       password_env="TEST_MQTT_PASSWORD", initial_wait_s=0.0))
        await adapter.connect()
        assert adapter.connected
        await adapter.close()

    asyncio.run(go())


def test_no_broker_fails_quickly() -> None:
    port = free_port()

    async def go() -> None:
        adapter = MqttAdapter(MqttSettings(port=port, timeout_s=10.0))
        started = time.monotonic()
        with pytest.raises(AdapterError) as info:
            await adapter.connect()
        # A refused TCP connection is an answer: connect() fails at once instead of waiting out the connection
        # timeout, so the bound is the configured timeout itself (10 s, far above any scheduling delay).
        assert time.monotonic() - started < adapter.settings.timeout_s
        assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value).lower()
        with pytest.raises(AdapterError, match="call connect"):
            await adapter.read_points()

    asyncio.run(go())


def test_reconnects_after_broker_restart(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                before = await adapter.read_points()
                assert set(before.values) == set(POINT_NAMES)

                mosquitto.stop()
                await eventually(lambda: not adapter.connected, "the adapter to notice the broker is gone")
                kept = await adapter.read_points()
                assert kept == before, "the last values (and their times, so they go stale) are kept"
                with pytest.raises(AdapterError, match="not connected"):
                    await adapter.write_setpoints(WRITE)
                with pytest.raises(AdapterError, match="not connected"):
                    await adapter.relinquish(list(SETPOINT_NAMES))

                mosquitto.start()
                await eventually(lambda: adapter.connected and twin.connected, "both to reconnect", timeout_s=10.0)
                assert adapter.connections == 2
                t_restart = max(before.times_s.values())
                await twin.run_ticks(1)
                fresh = await read_until(adapter, lambda r: min(r.times_s.values()) > t_restart,
                                         "fresh values after the restart (re-subscribed)")
                assert fresh.values == twin.points
                result = await adapter.write_setpoints(WRITE)
                assert result.ok, result
                await eventually(lambda: twin.commanded == WRITE, "writes to reach the twin after the restart")
            finally:
                await adapter.close()

    asyncio.run(go())


def test_relinquish_hands_control_back_to_the_bms(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                assert (await adapter.write_setpoints(WRITE)).ok
                await eventually(lambda: twin.commanded == WRITE, "the writes")
                (tick,) = await twin.run_ticks(1)
                assert {n: tick.sources[n] for n in SETPOINT_NAMES} == dict.fromkeys(SETPOINT_NAMES, "controller")
                assert {n: tick.setpoints[n] for n in WRITE} == WRITE

                result = await adapter.relinquish(["chw_supply_temp_c"])
                assert result.ok and result.accepted == {"chw_supply_temp_c": True}
                await eventually(lambda: "chw_supply_temp_c" not in twin.commanded, "the relinquish")
                (tick,) = await twin.run_ticks(1)
                assert tick.sources["chw_supply_temp_c"] == "bms"
                assert tick.sources["supply_air_temp_c"] == "controller"

                assert (await adapter.relinquish(list(SETPOINT_NAMES))).ok
                await eventually(lambda: not twin.commanded, "every setpoint relinquished")
                (tick,) = await twin.run_ticks(1)
                assert tick.sources == dict.fromkeys(tick.sources, "bms")
                assert not tick.controller_in_charge
                assert [r.value for r in twin.setpoints_received[-4:]] == [None] * 4
            finally:
                await adapter.close()

    asyncio.run(go())


def test_unwritable_values_are_refused_locally(mosquitto: Broker) -> None:
    async def go() -> None:
        async with PlantTwin(mqtt=settings(mosquitto)) as twin:
            adapter = MqttAdapter(settings(mosquitto))
            await adapter.connect()
            try:
                result = await adapter.write_setpoints({"supply_air_temp_c": math.nan, "fan": 0.5,
                                                        "crah_fan_speed_frac": 0.6})
                assert result.accepted == {"supply_air_temp_c": False, "fan": False, "crah_fan_speed_frac": True}
                assert "finite" in result.errors["supply_air_temp_c"]
                assert "not mapped by this site" in result.errors["fan"]
                await eventually(lambda: twin.commanded == {"crah_fan_speed_frac": 0.6}, "the valid write")
                assert twin.invalid_writes == 0
            finally:
                await adapter.close()

    asyncio.run(go())


def test_topic_overrides_and_odd_payloads(mosquitto: Broker) -> None:
    """Custom topics; bare numbers, garbage and withdrawn (empty retained) points as a gateway might send them."""
    custom = settings(mosquitto, point_topics={"inlet_temp_max_c": "bms/hall-a/rack-inlet-max"},
                      setpoint_topics={"supply_air_temp_c": "bms/hall-a/crah/sat-sp"})

    async def go() -> None:
        received: list[tuple[str, bytes]] = []
        gateway = MqttConnection(custom, "test-gateway", ["bms/hall-a/crah/sat-sp"],
                                 lambda topic, payload, _: received.append((topic, payload)))
        await gateway.connect()
        adapter = MqttAdapter(custom.model_copy(update={"initial_wait_s": 0.0}))
        await adapter.connect()
        try:
            base = custom.prefix + "/points/"
            errors = await gateway.publish_many([
                ("bms/hall-a/rack-inlet-max", b"24.5", True),
                (base + "supply_air_temp_c", b"not a number", True),
                (base + "it_power_kw", json.dumps({"value": 800.0, "time_s": "yesterday"}).encode(), True),
                (base + "crah_fan_speed_frac", json.dumps({"value": None, "time_s": 1.0e9}).encode(), True),
                (base + "inlet_temp_max_c", b"99", True),  # not the configured topic: ignored
            ])
            assert errors == [None] * 5
            reading = await read_until(adapter, lambda r: len(r.values) == 4, "four points")
            assert reading.values["inlet_temp_max_c"] == 24.5
            assert abs(reading.times_s["inlet_temp_max_c"] - time.time()) < 5.0, "bare numbers: receive time"
            assert reading.values["supply_air_temp_c"] == "not a number"
            assert reading.values["it_power_kw"] == 800.0 and math.isnan(reading.times_s["it_power_kw"])
            assert reading.values["crah_fan_speed_frac"] is None and reading.times_s["crah_fan_speed_frac"] == 1.0e9

            assert await gateway.publish_many([(base + "supply_air_temp_c", b"", True)]) == [None]
            await read_until(adapter, lambda r: "supply_air_temp_c" not in r.values, "the point to be withdrawn")

            assert (await adapter.write_setpoints({"supply_air_temp_c": 19.5})).ok
            await eventually(lambda: bool(received), "the write on the custom topic")
            topic, payload = received[0]
            message = json.loads(payload)
            assert topic == "bms/hall-a/crah/sat-sp" and message["value"] == 19.5 and message["source"] == "coolpilot"
        finally:
            await adapter.close()
            await gateway.close()

    asyncio.run(go())


def test_tls(mosquitto_tls: tuple[Broker, dict[str, Path]], tmp_path: Path) -> None:
    broker, certs = mosquitto_tls
    trusted = settings(broker, tls=MqttTls(ca_file=str(certs["ca.crt"])))
    other_ca = make_certificates(tmp_path / "other")["ca.crt"]

    async def go() -> None:
        async with PlantTwin(mqtt=trusted) as twin:
            adapter = MqttAdapter(trusted)
            await adapter.connect()
            try:
                assert (await adapter.read_points()).values == twin.points
                assert (await adapter.write_setpoints({"crah_fan_speed_frac": 0.75})).ok
                await eventually(lambda: twin.commanded == {"crah_fan_speed_frac": 0.75}, "the write over TLS")
            finally:
                await adapter.close()
        with pytest.raises(AdapterError, match=rf"{broker.port}.*certificate verify failed"):
            await MqttAdapter(settings(broker, tls=MqttTls(ca_file=str(other_ca)))).connect()
        with pytest.raises(ValueError, match=r"TLS setup .*missing\.crt"):
            await MqttAdapter(settings(broker, tls=MqttTls(ca_file=str(tmp_path / "missing.crt")))).connect()

    asyncio.run(go())


def test_parse_point_payload() -> None:
    now = 1.8e9
    assert parse_point_payload(b"", now) is None
    assert parse_point_payload(b"21.5", now) == (21.5, now)
    assert parse_point_payload(b'{"value": 21.5, "time_s": 1.7e9}', now) == (21.5, 1.7e9)
    assert parse_point_payload(b'{"value": 21.5}', now) == (21.5, now)
    value, t = parse_point_payload(b'{"value": NaN, "time_s": 1.7e9}', now) or (None, None)
    assert isinstance(value, float) and math.isnan(value) and t == 1.7e9
    assert math.isnan(parse_point_payload(b'{"value": 3, "time_s": true}', now)[1])  # type: ignore[index]
    assert parse_point_payload(b'{"temp": 3}', now) == ('{"temp": 3}', now)
    assert parse_point_payload(b'"21.5"', now) == ('"21.5"', now)
    assert parse_point_payload(b"\xff\xfe", now) == ("\ufffd\ufffd", now)
    assert json.loads(setpoint_payload(None, now)) == {"value": None, "time_s": now, "source": "coolpilot"}


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(ValidationError, match=r"point names \['inlet_max'\] are not points of any equipment block"):
        MqttSettings(point_topics={"inlet_max": "a/b"})
    with pytest.raises(ValidationError, match=r"setpoint names \['sat'\] are not setpoints of any equipment block"):
        MqttSettings(setpoint_topics={"sat": "a/b"})
    with pytest.raises(ValidationError, match=r"\['cw_flow_frac'\] are not setpoints of the site's facility contract"):
        MqttSettings.model_validate({"setpoint_topics": {"cw_flow_frac": "a/b"}},
                                    context={"contract": load_facility("legacy-hall").contract})
    with pytest.raises(ValidationError, match=r"topics are given for \['chw_flow_frac'\], which are not in points"):
        MqttSettings(points=("inlet_temp_max_c",), point_topics={"chw_flow_frac": "a/b"})
    with pytest.raises(ValidationError, match="wildcards"):
        MqttSettings(prefix="site/#")
    with pytest.raises(ValidationError, match="more than one"):
        MqttSettings(point_topics={"inlet_temp_max_c": "x/y", "inlet_temp_mean_c": "x/y"})
    with pytest.raises(ValidationError, match="reconnect_max_s"):
        MqttSettings(reconnect_min_s=10, reconnect_max_s=5)
    with pytest.raises(ValidationError):
        MqttSettings(port=70000)
    with pytest.raises(ValidationError):
        MqttSettings(hostname="x")  # type: ignore[call-arg]
    s = MqttSettings(prefix="coolpilot/hall-a")
    assert s.point_topic("it_power_kw") == "coolpilot/hall-a/points/it_power_kw"
    assert s.setpoint_topic("chw_supply_temp_c") == "coolpilot/hall-a/setpoints/chw_supply_temp_c"
    assert "secret" not in repr(MqttSettings(password="secret"))
