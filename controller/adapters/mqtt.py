"""MQTT adapter (paho-mqtt 2.x, MQTT v5): points from retained topics, setpoints with confirmed delivery.

Topic layout (``prefix`` defaults to ``coolpilot/site``; ``point_topics`` /
``setpoint_topics`` in :class:`~coolpilot.controller.protocols.mqtt.MqttSettings` override the topic of single
names):

====================================  ==============  ==============================================
topic                                 direction       payload
====================================  ==============  ==============================================
``{prefix}/points/{point_name}``      plant → us      ``{"value": <number|null>, "time_s": <unix s>}``,
                                                      retained. A bare number is accepted and stamped
                                                      with its receive time; so is a missing
                                                      ``time_s`` (an invalid one becomes NaN: stale).
                                                      An empty payload (a cleared retained message)
                                                      withdraws the point: absent from the reading.
``{prefix}/setpoints/{setpoint}``     us → plant      ``{"value": v, "time_s": <unix s>,
                                                      "source": "coolpilot"}``, QoS ``qos`` (1), not
                                                      retained; ``"value": null`` relinquishes.
====================================  ==============  ==============================================

Names and units are those of ``coolpilot.envs.contract`` (°C, fractions): the settings' ``points``
are read and its ``setpoints`` written (by default every name of the site's facility contract);
a write of any other name is refused. Values arrive unvalidated
(a number, null, NaN, a string from a broken gateway): validation is the safety envelope's.

Delivery: MQTT v5 brokers answer each QoS 1 publish with a PUBACK reason code;
:meth:`MqttAdapter.write_setpoints` waits for them (at most ``timeout_s`` in all) and
reports codes ≥ 128 (e.g. 135 Not authorized, an ACL refusal) as refused, so a refused
write reaches the audit trail. Code 16 (No matching subscribers: the broker took the
write but nobody listens on that topic now) counts as accepted, as MQTT defines it. With
``qos: 0`` there is no PUBACK and refusals go unseen.

Security: user name and password (``password_env`` preferred over ``password``) and TLS
(:class:`~coolpilot.controller.protocols.mqtt.MqttTls`: CA, optional client certificate) are optional.

Connection: paho's network thread (``loop_start``) reconnects on its own after a loss
(exponential delay ``reconnect_min_s`` … ``reconnect_max_s``) and every (re)connect
subscribes again. While disconnected, :meth:`MqttAdapter.read_points` keeps returning the
last values with their timestamps (so they go stale), and writes raise
:class:`~coolpilot.controller.adapters.base.AdapterError`. The thread talks to asyncio through
thread-safe :class:`concurrent.futures.Future` objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from coolpilot.controller.adapters.base import AdapterError, Reading, WriteResult
from coolpilot.controller.protocols.mqtt import MqttSettings, new_client_id

log = logging.getLogger(__name__)

SOURCE = "coolpilot"
"""``source`` field of every setpoint message this adapter publishes."""


def _resolve(future: Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless it is done already (cancelled by a timeout, say)."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class MqttConnection:
    """One paho client on its own network thread, awaited from asyncio.

    Subscribes to ``subscriptions`` (at the settings' QoS) on every (re)connect and hands
    each message to ``on_message(topic, payload, received_s)`` **on the network thread**
    (keep it short, lock shared state). Used by :class:`MqttAdapter` and by the plant twin.
    """

    def __init__(self, settings: MqttSettings, client_id: str, subscriptions: Sequence[str],
                 on_message: Callable[[str, bytes, float], None]) -> None:
        self.settings = settings
        self.client_id = client_id
        self.connections = 0
        """Successful CONNACKs so far, reconnections included."""
        self._subscriptions = list(subscriptions)
        self._on_message_cb = on_message
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._ready: Future[None] | None = None
        self._sub_mid: int | None = None
        self._pending: dict[int, Future[ReasonCode]] = {}
        self._early: dict[int, ReasonCode] = {}
        self._abandoned: set[int] = set()
        self._closing = False

    @property
    def connected(self) -> bool:
        """Connected to the broker right now (the network thread reconnects when not)."""
        return self._connected.is_set()

    @property
    def started(self) -> bool:
        """:meth:`connect` succeeded and :meth:`close` was not called."""
        return self._client is not None

    def _new_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        if s.username is not None:
            client.username_pw_set(s.username, self.settings.resolve_password())
        if s.tls is not None:
            try:
                client.tls_set(ca_certs=s.tls.ca_file, certfile=s.tls.cert_file, keyfile=s.tls.key_file)
            except (OSError, ValueError) as err:  # missing or unreadable files, bad PEM (ssl.SSLError is an OSError)
                files = f"ca_file={s.tls.ca_file}, cert_file={s.tls.cert_file}, key_file={s.tls.key_file}"
                raise ValueError(f"TLS setup for MQTT broker {s.address} failed ({files}): {err}") from None
            client.tls_insecure_set(s.tls.insecure)
        client.connect_timeout = s.timeout_s
        client.reconnect_delay_set(min_delay=s.reconnect_min_s, max_delay=s.reconnect_max_s)
        client.max_inflight_messages_set(100)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    async def connect(self) -> None:
        """Connect and subscribe within ``timeout_s``, or raise :class:`AdapterError` saying why.

        Unusable TLS files are a configuration error (:class:`ValueError`), not retried.
        """
        if self._client is not None:
            return
        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.timeout_s
        self._closing = False
        client = self._new_client()
        ready: Future[None] = Future()
        self._ready = ready
        try:  # TCP connect and TLS handshake are bounded by connect_timeout too; wait_for also bounds DNS
            await asyncio.wait_for(asyncio.to_thread(client.connect, s.host, s.port, s.keepalive_s), s.timeout_s)
        except OSError as err:  # refused, unreachable, DNS, TLS, and TimeoutError
            reason = err.strerror or str(err) or type(err).__name__
            if isinstance(err, TimeoutError):
                reason = f"no answer within {s.timeout_s:g} s"
            raise AdapterError(f"cannot connect to MQTT broker {s.address}: {reason}") from None
        self._client = client
        client.loop_start()
        try:
            await asyncio.wait_for(asyncio.wrap_future(ready), max(deadline - loop.time(), 0.05))
        except TimeoutError:
            await self.close()
            raise AdapterError(f"MQTT broker {s.address} did not accept the connection and subscriptions "
                               f"within {s.timeout_s:g} s") from None
        except AdapterError:
            await self.close()
            raise

    async def publish_many(self, messages: Sequence[tuple[str, bytes, bool]]) -> list[str | None]:
        """Publish ``(topic, payload, retain)`` messages and wait (≤ ``timeout_s`` in all) for their PUBACKs.

        Returns, per message, None when the broker accepted it, else why not (a reason
        code ≥ 128 such as ``135 Not authorized``, no PUBACK in time, connection lost).
        Raises :class:`AdapterError` when not connected.
        """
        client = self._client
        if client is None or not self.connected:
            raise AdapterError(f"not connected to MQTT broker {self.settings.address}")
        outcomes: list[str | tuple[int, Future[ReasonCode]]] = []
        for topic, payload, retain in messages:
            info = client.publish(topic, payload, qos=self.settings.qos, retain=retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                outcomes.append(f"not sent: {mqtt.error_string(info.rc)}")
            else:
                outcomes.append((info.mid, self._register(info.mid)))
        waits = [(o[0], asyncio.wrap_future(o[1])) for o in outcomes if not isinstance(o, str)]
        if waits:
            await asyncio.wait([w for _, w in waits], timeout=self.settings.timeout_s)
        done = iter(waits)
        return [o if isinstance(o, str) else self._outcome(*next(done)) for o in outcomes]

    def _outcome(self, mid: int, wait: asyncio.Future[ReasonCode]) -> str | None:
        if not wait.done():
            wait.cancel()
            with self._lock:
                if self._pending.pop(mid, None) is not None:
                    self._abandoned.add(mid)
            return f"no PUBACK from broker {self.settings.address} within {self.settings.timeout_s:g} s"
        error = wait.exception()
        if error is not None:
            return str(error)
        code = wait.result()
        if code.is_failure:
            return f"refused by broker {self.settings.address}: {code.value} {code}"
        return None

    def _register(self, mid: int) -> Future[ReasonCode]:
        """A future for the PUBACK of ``mid`` (already done if the acknowledgement came first)."""
        fut: Future[ReasonCode] = Future()
        with self._lock:
            self._abandoned.discard(mid)
            early = self._early.pop(mid, None)
            if early is None:
                self._pending[mid] = fut
        if early is not None:
            fut.set_result(early)
        return fut

    async def close(self) -> None:
        """Disconnect and stop the network thread (idempotent)."""
        client, self._client = self._client, None
        if client is None:
            return
        self._closing = True
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._connected.clear()
        self._fail_pending("connection closed")

    def _fail_pending(self, why: str) -> None:
        with self._lock:
            pending = list(self._pending.items())
            self._pending.clear()
            self._abandoned.update(mid for mid, _ in pending)
        for _, fut in pending:
            _resolve(fut, error=AdapterError(f"{why} before the broker {self.settings.address} confirmed the write"))

    # paho callbacks: run on the network thread.

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason_code: ReasonCode,
                    properties: Any) -> None:
        if reason_code.is_failure:
            msg = f"MQTT broker {self.settings.address} refused the connection: {reason_code.value} {reason_code}"
            ready = self._ready
            if ready is not None and not ready.done():
                client.disconnect()  # a first refusal is final: no retries
                _resolve(ready, error=AdapterError(msg))
            else:
                log.warning("%s; retrying", msg)
            return
        self.connections += 1
        self._connected.set()
        if self.connections > 1:
            log.info("reconnected to MQTT broker %s", self.settings.address)
        if not self._subscriptions:
            self._set_ready()
            return
        topics: list[tuple[str, int]] = [(topic, self.settings.qos) for topic in self._subscriptions]
        _, mid = client.subscribe(topics)
        with self._lock:
            self._sub_mid = mid

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode],
                      properties: Any) -> None:
        refused = [f"{t} ({rc.value} {rc})" for t, rc in zip(self._subscriptions, reason_codes, strict=False)
                   if rc.is_failure]
        if refused:
            log.warning("MQTT broker %s refused subscriptions: %s", self.settings.address, ", ".join(refused))
        with self._lock:
            ours = mid == self._sub_mid
        if ours:
            self._set_ready()

    def _set_ready(self) -> None:
        ready = self._ready
        if ready is not None:
            _resolve(ready)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                       reason_code: ReasonCode, properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._fail_pending("connection lost")
        if was_connected and not self._closing:
            log.warning("lost connection to MQTT broker %s (%s); reconnecting", self.settings.address, reason_code)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode,
                    properties: Any) -> None:
        with self._lock:
            if mid in self._abandoned:
                self._abandoned.discard(mid)
                return
            fut = self._pending.pop(mid, None)
            if fut is None:
                self._early[mid] = reason_code
                return
        _resolve(fut, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._on_message_cb(message.topic, bytes(message.payload), time.time())
        except Exception:  # a bad message must not kill the network thread
            log.exception("error handling MQTT message on %s", message.topic)


def parse_point_payload(payload: bytes, received_s: float) -> tuple[object, float] | None:
    """``(value, time_s)`` of a point message, or None for an empty payload (the point is withdrawn).

    ``{"value": v, "time_s": t}`` gives ``v`` (anything, unvalidated) at ``t`` (unix s;
    the receive time when absent, NaN when not a finite number: stale); a bare JSON
    number gives it at the receive time; anything else is kept as its raw text.
    """
    if not payload:
        return None
    text = payload.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text, received_s
    if isinstance(data, dict) and "value" in data:
        if "time_s" not in data:
            return data["value"], received_s
        t = data["time_s"]
        valid = isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t)
        return data["value"], float(t) if valid else math.nan
    if isinstance(data, int | float) and not isinstance(data, bool):
        return data, received_s
    return text, received_s


def setpoint_payload(value: float | None, time_s: float) -> bytes:
    """The JSON message writing ``value`` (None: relinquish) at unix time ``time_s``."""
    return json.dumps({"value": value, "time_s": time_s, "source": SOURCE}).encode()


class MqttAdapter:
    """The plant over MQTT (see the module docstring for topics and payloads).

    ``connect()`` raises :class:`AdapterError` naming ``host:port`` and the reason (for
    example ``135 Not authorized`` or ``Connection refused``) within ``timeout_s``, and
    :class:`ValueError` for unusable TLS files.
    """

    def __init__(self, settings: MqttSettings | None = None) -> None:
        self.settings = settings or MqttSettings()
        s = self.settings
        self.name = f"mqtt://{s.host}:{s.port}/{s.prefix}"
        self._topic_point = {s.point_topic(n): n for n in s.points}
        self._lock = threading.Lock()
        self._values: dict[str, object] = {}
        self._times_s: dict[str, float] = {}
        self._conn = MqttConnection(s, s.client_id or new_client_id(), list(self._topic_point), self._on_point)

    @property
    def connected(self) -> bool:
        """Connected to the broker right now."""
        return self._conn.connected

    @property
    def connections(self) -> int:
        """Successful connections so far (1 + reconnections)."""
        return self._conn.connections

    async def connect(self) -> None:
        """Connect, subscribe to every point topic and wait (≤ ``initial_wait_s``) for their retained values."""
        await self._conn.connect()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.initial_wait_s
        while loop.time() < deadline:
            with self._lock:
                if len(self._values) >= len(self._topic_point):
                    break
            await asyncio.sleep(0.01)

    async def read_points(self) -> Reading:
        """The last value and time of every point received (kept through connection losses)."""
        if not self._conn.started:
            raise AdapterError(f"MQTT adapter {self.name} is not connected: call connect() first")
        with self._lock:
            return Reading(dict(self._values), dict(self._times_s))

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        """Publish each setpoint (QoS ``qos``) and report which the broker accepted."""
        return await self._publish(dict(setpoints))

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        """Publish ``"value": null`` for each name: the site's own control takes over."""
        return await self._publish(dict.fromkeys(names))

    async def close(self) -> None:
        """Disconnect (idempotent); the last readings stay readable until then."""
        await self._conn.close()

    async def _publish(self, values: Mapping[str, object]) -> WriteResult:
        if not self._conn.started or not self._conn.connected:
            raise AdapterError(f"not connected to MQTT broker {self.settings.address}")
        accepted: dict[str, bool] = {}
        errors: dict[str, str] = {}
        names: list[str] = []
        messages: list[tuple[str, bytes, bool]] = []
        now_s = time.time()
        for name, value in values.items():
            number, problem = _as_setpoint(name, value, self.settings.setpoints)
            if problem is not None:
                accepted[name], errors[name] = False, problem
                continue
            names.append(name)
            messages.append((self.settings.setpoint_topic(name), setpoint_payload(number, now_s), False))
        if messages:
            for name, error in zip(names, await self._conn.publish_many(messages), strict=True):
                accepted[name] = error is None
                if error is not None:
                    errors[name] = error
                    log.warning("write of %s refused: %s", name, error)
        return WriteResult(accepted, errors)

    def _on_point(self, topic: str, payload: bytes, received_s: float) -> None:
        name = self._topic_point.get(topic)
        if name is None:
            return
        parsed = parse_point_payload(payload, received_s)
        with self._lock:
            if parsed is None:
                self._values.pop(name, None)
                self._times_s.pop(name, None)
            else:
                self._values[name], self._times_s[name] = parsed


def _as_setpoint(name: str, value: object, mapped: Sequence[str]) -> tuple[float | None, str | None]:
    """``(value as float or None for relinquish, None)``, or ``(None, why it cannot be written)``."""
    if name not in mapped:
        return None, f"setpoint {name!r} is not mapped by this site; its setpoints are {list(mapped)}"
    if value is None:
        return None, None
    if isinstance(value, bool | str | bytes):
        return None, f"not a number: {value!r}"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, f"not a number: {value!r}"
    if not math.isfinite(number):
        return None, f"not a finite number: {value!r}"
    return number, None
