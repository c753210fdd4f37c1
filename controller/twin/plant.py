"""The simulated plant: the simulator behind a BMS's topics, registers or objects, for tests and dry runs.

This package is the one bridge from ``controller/`` to the simulator (``envs.*``): every
other controller module sees only ``coolpilot.envs.contract``. The twin plays both the plant and the
site's BMS:

- The facility's contract (``FacilityConfig.contract``: its equipment blocks' points and
  setpoints) is the twin's: the MQTT topics and the frontends' maps are the site's maps
  validated against it (:func:`coolpilot.controller.protocols.contract_maps.for_contract`; a map
  naming what the facility does not have is refused).
- Every tick it steps the plant (``coolpilot.envs.physics.plant.step``) one control step of ``dt_s``
  plant seconds under the setpoints in force, then publishes every contract point the MQTT
  settings map, retained, at the settings' QoS, on the topics of
  :class:`~coolpilot.controller.protocols.mqtt.MqttSettings`,
  as ``{"value": v, "time_s": <wall-clock unix s of publication>}``; and every protocol
  frontend (:class:`TwinFrontend`: the Modbus TCP server of :mod:`coolpilot.controller.twin.modbus_server`,
  the BACnet/IP device of :mod:`coolpilot.controller.twin.bacnet_device`) refreshes what it serves.
- Setpoints arrive on the setpoint topics (``{"value": v}`` or a bare number) or through a
  frontend (:meth:`PlantTwin.apply_setpoint`). As a real BMS would, the twin clamps each to
  the contract's hard bounds (and counts such writes in
  :attr:`PlantTwin.out_of_bounds_writes`); messages that are not a finite number are
  ignored and counted in :attr:`PlantTwin.invalid_writes`. ``"value": null`` relinquishes.
- A setpoint never written, or relinquished, follows the site's own control. The core
  block's four follow the BMS's loops: the rule-based law commissioned for the facility
  (:func:`coolpilot.controller.policies.rule_based.rule_based_settings`, its core loops), run every
  tick on the plant's true points. The plant's levers (staging, tower cells, DP, condenser
  flow, economizer) are not commanded at all (NaN in the physics' command,
  :func:`coolpilot.envs.simulation.setpoint_command`): the plant's own local sequence runs them,
  at the values :attr:`PlantTwin.bms_setpoints` reports.

Pacing: ``speed=None`` ticks every ``tick_s`` wall seconds (as fast as that allows);
a number runs plant time ``speed`` times faster than real time (one tick every
``dt_s / speed`` s; ``speed=1``: real time). :meth:`PlantTwin.run_ticks` steps without
pacing, for deterministic tests.

Fault hooks (what a broken sensor or gateway looks like from the controller's side):
:meth:`~PlantTwin.drop_points` (stop publishing, retained values cleared: missing),
:meth:`~PlantTwin.inject_nan`, :meth:`~PlantTwin.freeze` (stuck),
:meth:`~PlantTwin.pause_publishing` (stale feed), :meth:`~PlantTwin.restore`.

Every tick is recorded (:class:`TickRecord`: hottest inlet, setpoints applied and who set
them) so tests can check, say, that the hall never went above 27 °C while the controller
was in charge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from coolpilot.controller.policies import RuleBasedPolicy
from coolpilot.controller.policies.rule_based import rule_based_settings
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.protocols.mqtt import MqttSettings, new_client_id
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import LEVERS, SETPOINT_NAMES
from coolpilot.envs.facility import build_params, points_array
from coolpilot.envs.load import draw_noise, load_table
from coolpilot.envs.physics.plant import Exogenous, step
from coolpilot.envs.simulation import ExoSeries, exogenous_batch, setpoint_command, start
from coolpilot.envs.units import SECONDS_PER_DAY
from coolpilot.envs.weather import Weather, load_climate

if TYPE_CHECKING:
    from coolpilot.controller.adapters.mqtt import MqttConnection

log = logging.getLogger(__name__)

CHUNK_STEPS = 2016
"""Exogenous inputs (weather, load) are generated this many steps at a time (a week at 300 s)."""


class TwinFrontend(Protocol):
    """A protocol server exposing a :class:`PlantTwin` (Modbus TCP, BACnet/IP).

    ``start`` binds and begins serving; ``publish`` runs after every tick and refreshes what
    the server shows from :attr:`PlantTwin.sensor_values` (nothing while
    :attr:`PlantTwin.publishing_paused`); writes received go to :meth:`PlantTwin.apply_setpoint`.
    """

    async def start(self, twin: PlantTwin) -> None: ...

    async def publish(self, twin: PlantTwin) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class TickRecord:
    """One plant step: what was applied, by whom, and the hottest inlet that resulted."""

    tick: int
    """1 for the first step after start."""
    plant_time_s: float
    """End of the step, s since 1 January 00:00 of the simulated year."""
    wall_time_s: float
    """Unix time (s) the step was computed."""
    inlet_temp_max_c: float
    """Hottest server inlet at the end of the step (°C)."""
    setpoints: dict[str, float]
    """Every contract setpoint during the step (contract names and units): as written (clamped), or the site's
    own control's (:attr:`PlantTwin.bms_setpoints`)."""
    sources: dict[str, str]
    """Per setpoint, ``"controller"`` (a received write), another writer named by :meth:`PlantTwin.apply_setpoint`
    (e.g. ``"operator"``), or ``"bms"`` (the site's own control: its loops, or the plant's local sequence)."""
    case_temp_max_c: float | None = None
    """Hottest liquid-cooled GPU case at the end of the step (°C); None for a facility without liquid cooling."""

    @property
    def controller_in_charge(self) -> bool:
        """At least one setpoint came from the controller."""
        return "controller" in self.sources.values()


@dataclass(frozen=True)
class ReceivedSetpoint:
    """A setpoint message as the twin's BMS received it."""

    wall_time_s: float
    """Unix time (s) of receipt."""
    name: str
    value: float | None
    """As written (None: relinquish)."""
    applied: float | None
    """Clamped into the contract's hard bounds (None: relinquish)."""

    @property
    def out_of_bounds(self) -> bool:
        """The written value was outside the contract's hard bounds."""
        return self.value is not None and self.applied != self.value


def parse_setpoint_payload(payload: bytes) -> float | None:
    """A setpoint message's value (None: relinquish); :class:`ValueError` unless a finite number or null.

    Accepts ``{"value": v, ...}`` (as :mod:`coolpilot.controller.adapters.mqtt` writes) or a bare number.
    """
    data = json.loads(payload.decode("utf-8", errors="replace"))
    value = data.get("value", "missing") if isinstance(data, dict) else data
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a finite number or null: {value!r}")
    return float(value)


class PlantTwin:
    """A facility simulated step by step behind MQTT topics (see the module docstring).

    Arguments: ``facility`` a preset name, YAML path or config; ``climate`` a bundled
    climate name, EPW path or :class:`~coolpilot.envs.weather.Weather`; ``start_day`` day of year
    (0 = 1 January 00:00); ``dt_s`` plant seconds per tick; ``seed`` of the load noise;
    ``mqtt`` broker and topics (the twin uses its own client id); ``speed`` and ``tick_s``
    the pacing of :meth:`run`; ``history`` ticks and setpoint messages kept.
    """

    def __init__(
        self,
        facility: str | FacilityConfig = "modern-hall",
        climate: str | Weather = "chicago",
        start_day: float = 180.0,
        dt_s: float = 300.0,
        seed: int = 0,
        mqtt: MqttSettings | None = None,
        speed: float | None = None,
        tick_s: float = 0.05,
        history: int = 100_000,
        frontends: Sequence[TwinFrontend] = (),
    ) -> None:
        if not 0.0 <= start_day < 366.0:
            raise ValueError(f"start_day = {start_day} must be in 0..365")
        if not 1.0 <= dt_s <= 3600.0:
            raise ValueError(f"dt_s = {dt_s} s must be in 1..3600 s")
        if speed is not None and not speed > 0.0:
            raise ValueError(f"speed = {speed} must be > 0 (times real time), or None")
        if not tick_s > 0.0:
            raise ValueError(f"tick_s = {tick_s} s must be > 0")
        self.cfg = facility if isinstance(facility, FacilityConfig) else load_facility(facility)
        self.contract = self.cfg.contract
        """The facility's contract: the points it publishes and the setpoints it takes."""
        self.weather = climate if isinstance(climate, Weather) else load_climate(climate)
        self.dt_s = dt_s
        self.start_s = start_day * SECONDS_PER_DAY
        self.interval_s = tick_s if speed is None else dt_s / speed
        """Wall seconds between ticks in :meth:`run`."""
        self.settings = for_contract(mqtt or MqttSettings(), self.contract)
        self.frontends: list[TwinFrontend] = list(frontends)
        """Protocol servers besides MQTT (Modbus TCP, BACnet/IP) exposing this plant."""
        self.records: deque[TickRecord] = deque(maxlen=history)
        self.out_of_bounds_writes = 0
        """Setpoint writes received outside the contract's hard bounds (clamped)."""
        self.invalid_writes = 0
        """Setpoint messages ignored: not a finite number or null."""
        self.publish_errors = 0
        """Point publications the broker refused or did not confirm."""
        self.tick = 0

        self._rng = np.random.default_rng(seed)
        self._table = load_table([[z.load for z in self.cfg.zones]], len(self.cfg.zones))
        self._params = build_params([self.cfg])
        self._it_design = np.array([self.cfg.it_design_kw])
        self._chunk_k0 = 0
        self._exo = self._chunk(0)
        self._state, first = start(self._params, self._exo.at(0), self._exo.rh_pct[0:1], self._exo.time_s[0:1],
                                   dt_s, self._it_design, contract=self.contract)
        self._points = dict(zip(self.contract.point_names, first[0].tolist(), strict=True))
        self._bms = RuleBasedPolicy(replace(rule_based_settings(self.cfg), levers=()))  # its core loops only
        self._bms.reset()
        self._local = {n: float(self._params.lever_local[0, LEVERS.index(n)])
                       for n in self.contract.setpoint_names if n not in SETPOINT_NAMES}
        """The plant's own sequence's value of each lever (what it holds when nobody commands it)."""
        self._bms_last = {**{n: float(v) for n, v in self._bms.act(self._points).items()}, **self._local}

        self._lock = threading.Lock()
        self._commanded: dict[str, float] = {}
        self._sources: dict[str, str] = {}
        self._received: deque[ReceivedSetpoint] = deque(maxlen=history)
        self._topic_setpoint = {self.settings.setpoint_topic(n): n for n in self.settings.setpoints}
        self._conn: MqttConnection | None = None
        if mqtt is not None:
            from coolpilot.controller.adapters.mqtt import MqttConnection  # paho only for a twin that speaks MQTT

            self._conn = MqttConnection(self.settings, new_client_id("coolpilot-twin"), list(self._topic_setpoint),
                                        self._on_setpoint)
        self._dropped: set[str] = set()
        self._to_clear: set[str] = set()
        self._frozen: dict[str, float] = {}
        self._nan_ticks: dict[str, int] = {}
        self._paused = False
        self._started = False
        self._task: asyncio.Task[None] | None = None

    # Plant.

    @property
    def points(self) -> dict[str, float]:
        """The plant's true points after the last step (what a healthy sensor reads)."""
        return dict(self._points)

    @property
    def plant_time_s(self) -> float:
        """Plant time after the last step, s since 1 January 00:00."""
        return self.start_s + self.tick * self.dt_s

    @property
    def commanded(self) -> dict[str, float]:
        """Setpoints the controller holds now (clamped); the others follow the BMS."""
        with self._lock:
            return dict(self._commanded)

    @property
    def bms_setpoints(self) -> dict[str, float]:
        """What the site's own control holds now, per contract setpoint: the BMS's rule-based loops for the
        core four, the plant's own local sequence for the levers."""
        with self._lock:
            return dict(self._bms_last)

    @property
    def sensor_values(self) -> dict[str, float]:
        """What the plant's sensors report now, faults applied: dropped points absent, NaN or stuck values.

        Protocol frontends publish this (a paused feed is :attr:`publishing_paused`).
        """
        values = {}
        for name in self.contract.point_names:
            if name in self._dropped:
                continue
            values[name] = math.nan if self._nan_ticks.get(name, 0) > 0 else self._frozen.get(name, self._points[name])
        return values

    @property
    def dropped_points(self) -> frozenset[str]:
        """Points whose sensors are gone (:meth:`drop_points`)."""
        return frozenset(self._dropped)

    @property
    def publishing_paused(self) -> bool:
        """The feed is stale (:meth:`pause_publishing`): frontends must not refresh values."""
        return self._paused

    @property
    def setpoints_received(self) -> list[ReceivedSetpoint]:
        """Every setpoint message received (oldest first), relinquishments included."""
        with self._lock:
            return list(self._received)

    def _chunk(self, k0: int) -> ExoSeries:
        """Exogenous inputs of steps ``k0`` … ``k0 + CHUNK_STEPS``."""
        n = CHUNK_STEPS + 1
        z = len(self.cfg.zones)
        shocks, x0 = np.empty((z, n)), np.empty(z)
        draw_noise(self._table, 0, self._rng, shocks, x0)
        start_s = np.array([self.start_s + k0 * self.dt_s])
        return exogenous_batch([self.cfg], [self.weather], start_s, self.dt_s, n, self._table, shocks[None],
                               x0[None], np.array([1.0])).row(0)

    def _exo_at(self, k: int) -> tuple[Exogenous, np.ndarray, np.ndarray]:
        if k > self._chunk_k0 + CHUNK_STEPS:
            self._chunk_k0 = k
            self._exo = self._chunk(k)
        i = k - self._chunk_k0
        return self._exo.at(i), self._exo.rh_pct[i : i + 1], self._exo.time_s[i : i + 1]

    def step(self) -> TickRecord:
        """Step the plant once under the setpoints in force (no publishing)."""
        bms = {**{n: float(v) for n, v in self._bms.act(self._points).items()}, **self._local}
        names = self.contract.setpoint_names
        with self._lock:
            self._bms_last = bms
            commanded = dict(self._commanded)
            sources = {n: self._sources.get(n, "controller") if n in commanded else "bms" for n in names}
        applied = {n: commanded.get(n, bms[n]) for n in names}
        in_force = {n: applied[n] for n in names if n in commanded or n in SETPOINT_NAMES}  # the rest: NaN, local
        command = setpoint_command(self.contract, in_force)
        exo, rh, t = self._exo_at(self.tick + 1)
        self._state, out = step(self._state, command, exo, self._params, self.dt_s)
        pts = points_array(out, exo, rh, t, self._it_design, self.contract)[0]
        self._points = dict(zip(self.contract.point_names, pts.tolist(), strict=True))
        self.tick += 1
        record = TickRecord(self.tick, float(t[0]), time.time(), self._points["inlet_temp_max_c"], applied, sources,
                            self._points.get("case_temp_max_c"))
        self.records.append(record)
        log.debug("tick %d: inlet max %.2f °C, setpoints %s from %s", self.tick, record.inlet_temp_max_c, applied,
                  sources)
        return record

    # MQTT.

    @property
    def connected(self) -> bool:
        """Connected to the broker right now (True without MQTT)."""
        return self._conn is None or self._conn.connected

    @property
    def started(self) -> bool:
        """:meth:`connect` has run (and :meth:`stop` not since)."""
        return self._started

    async def connect(self) -> None:
        """Connect to the broker (if MQTT), start the frontends, and publish the current points."""
        if self._conn is not None:
            await self._conn.connect()
        for frontend in self.frontends:
            await frontend.start(self)
        self._started = True
        await self.publish()

    async def close(self) -> None:
        """Stop :meth:`run` if running and disconnect (idempotent)."""
        await self.stop()

    async def __aenter__(self) -> PlantTwin:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def publish(self) -> None:
        """Publish the current points (faults applied) on MQTT and every frontend."""
        for frontend in self.frontends:
            try:
                await frontend.publish(self)
            except Exception:
                log.exception("frontend %s failed to publish", type(frontend).__name__)
        await self._publish_mqtt()

    async def _publish_mqtt(self) -> None:
        """Publish the current points on MQTT and wait for the broker to take them."""
        if self._conn is None or self._paused or not self._conn.connected:
            return
        now_s = time.time()
        messages = [(self.settings.point_topic(n), b"", True) for n in sorted(self._to_clear)]
        mapped = set(self.settings.points)
        for name, value in self.sensor_values.items():
            if name not in mapped:
                continue
            payload = json.dumps({"value": value, "time_s": now_s}).encode()
            messages.append((self.settings.point_topic(name), payload, True))
        try:
            errors = await self._conn.publish_many(messages)
        except Exception as err:  # connection lost between the check and the publish: next tick retries
            log.debug("points not published: %s", err)
            return
        self._to_clear.clear()
        failed = [e for e in errors if e is not None]
        if failed:
            self.publish_errors += len(failed)
            log.warning("%d point publications failed, e.g. %s", len(failed), failed[0])

    async def run_ticks(self, n: int) -> list[TickRecord]:
        """Step and publish ``n`` times, unpaced; returns the new records."""
        records = []
        for _ in range(n):
            records.append(self.step())
            await self.publish()
            self._nan_ticks = {k: v - 1 for k, v in self._nan_ticks.items() if v > 1}
        return records

    async def run(self, ticks: int | None = None) -> None:
        """Tick every :attr:`interval_s` wall seconds, ``ticks`` times or until cancelled."""
        loop = asyncio.get_running_loop()
        next_s = loop.time()
        done = 0
        while ticks is None or done < ticks:
            next_s = max(next_s + self.interval_s, loop.time())
            await self.run_ticks(1)
            done += 1
            await asyncio.sleep(max(next_s - loop.time(), 0.0))

    async def start(self) -> None:
        """Connect (if needed) and run :meth:`run` as a background task."""
        if not self._started:
            await self.connect()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="plant-twin")

    async def stop(self) -> None:
        """Stop the background task and disconnect (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():  # we were cancelled ourselves, not just the task
                    raise
            except Exception:
                log.exception("the plant twin's run loop failed")
        for frontend in self.frontends:
            try:
                await frontend.stop()
            except Exception:
                log.exception("frontend %s failed to stop", type(frontend).__name__)
        if self._conn is not None:
            await self._conn.close()
        self._started = False

    def _on_setpoint(self, topic: str, payload: bytes, received_s: float) -> None:
        """Network thread: a setpoint write, clamped into the contract's bounds as a BMS would."""
        name = self._topic_setpoint.get(topic)
        if name is None or not payload:
            return
        try:
            value = parse_setpoint_payload(payload)
        except ValueError:
            with self._lock:
                self.invalid_writes += 1
            log.warning("ignored setpoint message on %s: not a number or null: %r", topic, payload[:100])
            return
        self.apply_setpoint(name, value, received_s)

    def apply_setpoint(self, name: str, value: float | None, received_s: float | None = None,
                       source: str = "controller") -> float | None:
        """A setpoint write from any protocol (thread-safe): clamped into the contract's bounds as a BMS would.

        ``value`` None relinquishes (the BMS's own control takes over). ``source`` names the writer
        in :attr:`TickRecord.sources` (``"controller"``, or e.g. ``"operator"`` for a higher-priority
        BACnet write). Returns the value applied (None: relinquished).
        """
        spec = self.contract.setpoints_by_name.get(name)
        if spec is None:
            raise ValueError(f"unknown setpoint {name!r}; the facility's setpoints are "
                             f"{list(self.contract.setpoint_names)}")
        received_s = time.time() if received_s is None else received_s
        with self._lock:
            if value is None:
                self._commanded.pop(name, None)
                self._sources.pop(name, None)
                self._received.append(ReceivedSetpoint(received_s, name, None, None))
                return None
            applied = min(max(value, spec.low), spec.high)
            if applied != value:
                self.out_of_bounds_writes += 1
                log.warning("setpoint %s = %g %s is outside %g..%g: clamped", name, value, spec.unit, spec.low,
                            spec.high)
            self._commanded[name] = applied
            self._sources[name] = source
            self._received.append(ReceivedSetpoint(received_s, name, value, applied))
            return applied

    # Fault hooks.

    def drop_points(self, names: Iterable[str]) -> None:
        """Stop publishing ``names`` and clear their retained values at the next publication (missing)."""
        names = self._checked(names)
        self._dropped.update(names)
        self._to_clear.update(names)

    def inject_nan(self, names: Iterable[str], ticks: int = 1) -> None:
        """Publish NaN for ``names`` during the next ``ticks`` ticks."""
        for name in self._checked(names):
            self._nan_ticks[name] = ticks

    def freeze(self, names: Iterable[str]) -> None:
        """Publish the current value of ``names`` forever, with fresh timestamps (a stuck sensor)."""
        for name in self._checked(names):
            self._frozen[name] = self._points[name]

    def pause_publishing(self) -> None:
        """Keep stepping the plant but publish nothing (a stale feed)."""
        self._paused = True

    def resume_publishing(self) -> None:
        """Publish again from the next tick."""
        self._paused = False

    def restore(self, names: Iterable[str] | None = None) -> None:
        """Undo drop, NaN and freeze faults of ``names`` (default all) and resume publishing."""
        chosen = set(self.contract.point_names) if names is None else set(self._checked(names))
        self._dropped -= chosen
        self._to_clear -= chosen
        for name in chosen:
            self._frozen.pop(name, None)
            self._nan_ticks.pop(name, None)
        self._paused = False

    def _checked(self, names: Iterable[str]) -> list[str]:
        """``names`` as a list, refusing names that are not points of the facility's contract."""
        chosen = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in chosen if n not in self.contract.points_by_name]
        if unknown:
            raise ValueError(f"unknown points {unknown}; the facility's points are {list(self.contract.point_names)}")
        return chosen
