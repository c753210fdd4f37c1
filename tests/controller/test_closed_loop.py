"""The service and the simulated plant closed over a real mosquitto broker, and faults injected into that loop.

The loop runs in lockstep and accelerated time: the twin steps the plant 300 s and
publishes its points; once the adapter has them the service runs one cycle; once the
twin has the setpoints the next step starts. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from coolpilot.controller.adapters.base import Reading
from coolpilot.controller.adapters.mqtt import MqttAdapter
from coolpilot.controller.policies.onnx_policy import BundleError
from coolpilot.controller.protocols.mqtt import MqttSettings
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.controller.twin import PlantTwin
from coolpilot.envs.contract import INLET_LIMIT_C, SETPOINTS_BY_NAME
from tests.controller.helpers import Broker

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"
WAIT_S = 10.0


async def wait_until(predicate: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll every 2 ms; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.002)


class Loop:
    """A twin, an MQTT adapter and a service on one broker, stepped in lockstep."""

    def __init__(self, broker: Broker, tmp_path: Path, mode: str, prefix: str = "coolpilot/test",
                 safety: dict[str, Any] | None = None, climate: str = "phoenix", start_day: float = 190.0,
                 **site: Any) -> None:
        self.broker = broker
        settings = {"host": broker.host, "port": broker.port, "prefix": prefix, "timeout_s": 5,
                    "reconnect_min_s": 1, "reconnect_max_s": 1}
        self.site = site_from_mapping({
            "name": "loop", "model": str(BUNDLE), "mode": mode, "period_s": 0.01, "rate_period_s": 300,
            "adapter": {"kind": "mqtt", "mqtt": settings},
            "safety": {"stale_after_s": 2.0, **(safety or {})},
            "audit": {"path": str(tmp_path / "audit.sqlite")}, **site,
        }, "test")
        self.twin = PlantTwin("modern-hall", climate, start_day=start_day, mqtt=MqttSettings(**settings))
        self.adapter = MqttAdapter(self.site.adapter.mqtt)
        self.service = ControllerService(self.site, self.adapter)

    async def __aenter__(self) -> Loop:
        await self.twin.connect()
        await self.adapter.connect()
        self.service.connected = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.shutdown()
        await self.twin.close()

    async def steps(self, n: int, fresh: bool = True) -> None:
        """``n`` plant steps, each followed by one control cycle (waiting for fresh points if ``fresh``)."""
        for _ in range(n):
            before = time.time()
            await self.twin.run_ticks(1)
            if fresh:
                await self._fresh(before)
            received = len(self.twin.setpoints_received)
            outcome = await self.service.run_cycle()
            if outcome.wrote:
                sent = len(self.service.commanded.setpoint_names)  # each written or handed back
                await wait_until(lambda r=received, s=sent: len(self.twin.setpoints_received) >= r + s,
                                 "the twin to receive the setpoints")

    async def _fresh(self, since_s: float) -> None:
        async def oldest() -> float:
            """Time of the least recent point: the whole tick has arrived once it is fresh."""
            reading: Reading = await self.adapter.read_points()
            return min(reading.times_s.values(), default=0.0)

        deadline = time.monotonic() + WAIT_S
        while await oldest() < since_s:
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for the adapter to see the twin's new points")
            await asyncio.sleep(0.002)

    def reasons(self, last: int) -> list[set[str]]:
        """Intervention reasons of the last ``last`` cycles, oldest first."""
        return [{i["reason"] for i in r.interventions} for r in reversed(self.service.audit.decisions(limit=last))]

    def sources(self, last: int) -> list[str]:
        return [r.source for r in reversed(self.service.audit.decisions(limit=last))]

    def assert_safe(self) -> None:
        """Nothing out of bounds reached the plant; no inlet above 27 °C while the controller was in charge."""
        assert self.twin.out_of_bounds_writes == 0 and self.twin.invalid_writes == 0
        for r in self.service.audit.decisions(limit=100_000):
            if r.written is not None:
                for name, value in r.written.items():
                    spec = SETPOINTS_BY_NAME[name]
                    assert math.isfinite(value) and spec.low <= value <= spec.high, (r.cycle, name, value)
        hot = [t for t in self.twin.records if t.controller_in_charge and t.inlet_temp_max_c > INLET_LIMIT_C]
        assert not hot, f"inlet above 27 °C under the controller at ticks {[t.tick for t in hot][:5]}"

    def assert_audit_complete(self, cycles: int) -> None:
        assert [r.cycle for r in reversed(self.service.audit.decisions(limit=cycles + 10))] == list(
            range(1, cycles + 1))


WEEK = pytest.param(2016, marks=pytest.mark.slow, id="week")
DAY = pytest.param(288, id="day")


@pytest.mark.parametrize("cycles", [DAY, WEEK])
def test_active_loop_over_mqtt(mosquitto: Broker, tmp_path: Path, cycles: int) -> None:
    """A simulated July day or week in Phoenix: every cycle audited once, writes in bounds, inlets below 27 °C."""
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active") as loop:
            await loop.steps(cycles)
            loop.assert_audit_complete(cycles)
            loop.assert_safe()
            in_charge = sum(t.controller_in_charge for t in loop.twin.records)
            assert in_charge >= cycles - 2, in_charge
            assert max(t.inlet_temp_max_c for t in loop.twin.records) < INLET_LIMIT_C
            sources = loop.sources(cycles)
            assert sources.count("policy") > 0.95 * len(sources)
    asyncio.run(go())


@pytest.mark.parametrize("cycles", [DAY, WEEK])
def test_shadow_loop_never_publishes_a_setpoint(mosquitto: Broker, tmp_path: Path, cycles: int) -> None:
    seen: list[str] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="spy", protocol=mqtt.MQTTv5)
    subscribed = []
    spy.on_message = lambda c, u, m: seen.append(m.topic)
    spy.on_subscribe = lambda *a: subscribed.append(True)
    spy.connect(mosquitto.host, mosquitto.port)
    spy.loop_start()
    try:
        spy.subscribe("coolpilot/test/setpoints/#", qos=1)

        async def go() -> None:
            await wait_until(lambda: subscribed, "the spy's SUBACK")
            async with Loop(mosquitto, tmp_path, "shadow") as loop:
                await loop.steps(cycles)
                loop.assert_audit_complete(cycles)
                assert all(not r.wrote for r in loop.service.audit.decisions(limit=3000))
                assert loop.twin.setpoints_received == []
                assert not any(t.controller_in_charge for t in loop.twin.records)
        asyncio.run(go())
        assert seen == [], f"shadow mode published {seen[:3]}"
    finally:
        spy.loop_stop()
        spy.disconnect()


def test_sensor_dropout_holds_then_falls_back_and_recovers(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active") as loop:
            await loop.steps(12)
            loop.twin.drop_points(["inlet_temp_max_c"])
            await loop.steps(6)
            assert all("sensor_missing" in r for r in loop.reasons(5))
            assert set(loop.sources(5)) <= {"hold", "fallback", "relinquish", "safe"}
            loop.twin.restore()
            await loop.steps(6)
            assert loop.sources(1) == ["policy"]
            loop.assert_audit_complete(24)
            loop.assert_safe()
    asyncio.run(go())


def test_nan_burst_is_recorded_and_never_written(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active") as loop:
            await loop.steps(6)
            loop.twin.inject_nan(["inlet_temp_mean_c", "it_power_kw"], ticks=4)
            await loop.steps(4)
            assert all("sensor_nan" in r for r in loop.reasons(4))
            await loop.steps(6)
            assert loop.sources(1) == ["policy"]
            loop.assert_safe()
    asyncio.run(go())


def test_stale_feed_is_detected(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active", safety={"stale_after_s": 0.3}) as loop:
            await loop.steps(6)
            loop.twin.pause_publishing()
            await asyncio.sleep(0.5)
            await loop.steps(3, fresh=False)
            assert all("sensor_stale" in r for r in loop.reasons(3))
            assert "policy" not in loop.sources(3)
            loop.twin.resume_publishing()
            await loop.steps(4)
            assert loop.sources(1) == ["policy"]
            loop.assert_safe()
    asyncio.run(go())


def test_stuck_sensor_is_detected(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active", safety={"stuck_after": 4}) as loop:
            await loop.steps(6)
            loop.twin.freeze(["inlet_temp_max_c"])
            await loop.steps(6)
            assert "sensor_stuck" in loop.reasons(1)[0]
            loop.twin.restore()
            await loop.steps(4)
            assert loop.sources(1) == ["policy"]
            loop.assert_safe()
    asyncio.run(go())


def test_broker_restart_is_survived(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active") as loop:
            await loop.steps(6)
            mosquitto.restart()
            await wait_until(lambda: loop.adapter.connected and loop.twin.connected, "both clients to reconnect")
            await loop.steps(6)
            assert loop.sources(1) == ["policy"]
            loop.assert_audit_complete(12)
            loop.assert_safe()
    asyncio.run(go())


class Raising:
    name = "raising"
    sha256 = "f" * 64
    training_ranges: dict[str, tuple[float, float]] = {}  # noqa: RUF012
    card: dict[str, Any] = {}  # noqa: RUF012

    def act(self, points: Any) -> dict[str, float]:
        raise RuntimeError("model crashed")


class Garbage(Raising):
    def act(self, points: Any) -> dict[str, float]:
        return {"supply_air_temp_c": math.inf, "crah_fan_speed_frac": -5.0, "chw_supply_temp_c": math.nan}


@pytest.mark.parametrize(("policy", "reason"), [(Raising(), "model_error"), (Garbage(), "model_invalid_output")])
def test_policy_faults_fall_back_safely(mosquitto: Broker, tmp_path: Path, policy: Any, reason: str) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active") as loop:
            await loop.steps(6)
            good = loop.service.policy
            loop.service.policy = policy
            await loop.steps(8)
            assert all(reason in r for r in loop.reasons(8))
            assert loop.sources(8)[0] == "hold" and loop.sources(1) == ["fallback"]
            loop.service.policy = good
            await loop.steps(2)
            assert loop.sources(1) == ["policy"]
            loop.assert_safe()
    asyncio.run(go())


def test_corrupted_bundle_reload_is_refused_and_the_loop_goes_on(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active") as loop:
            await loop.steps(4)
            bad = tmp_path / "bundle"
            shutil.copytree(BUNDLE, bad)
            data = bytearray((bad / "policy.onnx").read_bytes())
            data[-10] ^= 0x55
            (bad / "policy.onnx").write_bytes(bytes(data))
            sha = loop.service.model_sha256
            with pytest.raises(BundleError, match="sha256"):
                await loop.service.reload_model(str(bad))
            await loop.steps(4)
            assert {r.model_sha256 for r in loop.service.audit.decisions(limit=8)} == {sha}
            assert loop.sources(1) == ["policy"]
            loop.assert_safe()
    asyncio.run(go())


def test_killed_service_restarts_with_its_mode_and_a_complete_audit(mosquitto: Broker, tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "shadow") as loop:
            await loop.steps(5)
            await loop.service.set_mode("active", "alice", "go live")
            await loop.steps(5)
            first_run = loop.service.run_id
            # killed: no shutdown, no relinquish; a new service starts on the same audit file
            loop.service = ControllerService(loop.site, loop.adapter)
            assert loop.service.mode == "active" and loop.service.run_id != first_run
            await loop.steps(5)
            records = loop.service.audit.decisions(limit=100)
            assert len(records) == 15
            assert sorted(r.cycle for r in records if r.run_id == first_run) == list(range(1, 11))
            assert sorted(r.cycle for r in records if r.run_id != first_run) == list(range(1, 6))
            loop.assert_safe()
    asyncio.run(go())


def test_modern_hall_loop_over_mqtt_commands_every_lever(mosquitto: Broker, tmp_path: Path) -> None:
    """A site on modern-hall without a model: the rule-based fallback commands all nine setpoints over MQTT (four
    simulated hours), every point of the contract read and healthy, every write in bounds, the hall below 27 °C."""
    cycles = 48

    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active", safety={"hold_cycles": 0}, facility="modern-hall",
                        model=None) as loop:
            modern = loop.site.contract
            assert loop.service.commanded == modern
            await loop.steps(cycles)
            loop.assert_audit_complete(cycles)
            loop.assert_safe()
            records = loop.service.audit.decisions(limit=cycles)
            assert all(set(r.written or {}) == set(modern.setpoint_names) for r in records)
            assert all(set(r.points) == set(modern.point_names) for r in records)
            assert loop.service.last is not None and loop.service.last.decision is not None
            assert loop.service.last.decision.sensors_ok
            assert set(loop.twin.records[-1].sources.values()) == {"controller"}
        assert loop.twin.commanded == {}, "shutdown relinquishes every lever"
    asyncio.run(go())


def test_a_contract_1_bundle_on_modern_hall_writes_only_its_setpoints_over_mqtt(mosquitto: Broker,
                                                                                tmp_path: Path) -> None:
    async def go() -> None:
        async with Loop(mosquitto, tmp_path, "active", facility="modern-hall") as loop:
            await loop.steps(12)
            loop.assert_safe()
            core = set(loop.service.commanded.setpoint_names)
            assert core == {"supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c", "condenser_water_temp_c"}
            assert {r.name for r in loop.twin.setpoints_received} == core, "the levers are never written"
            assert all(t.sources[n] == "bms" for t in loop.twin.records for n in loop.site.contract.setpoint_names
                       if n not in core)
            assert loop.sources(12)[-1] == "policy"
    asyncio.run(go())
