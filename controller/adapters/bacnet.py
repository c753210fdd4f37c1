"""BACnet/IP adapter (bacpypes3): points read from a device's objects, setpoints commanded at one priority.

Object map (``points`` / ``setpoints`` of :class:`~coolpilot.controller.protocols.bacnet.BacnetSettings`; the
default map, which the plant twin's device :class:`~coolpilot.controller.twin.bacnet_device.BacnetTwinDevice`
serves, is in brackets):

==========================  ===========================================  ===========================================
contract name               BACnet object, property                      what the adapter does
==========================  ===========================================  ===========================================
the points mapped           ``analog-input`` or ``analog-value``,        reads ``present-value`` (and ``status-flags``)
                            any readable property [``analog-input``
                            1, 2, … per name in block order: the core
                            block's 20 are 1…20]
the setpoints mapped        ``analog-value`` or ``analog-output`` (the   writes ``present-value`` at ``priority``;
                            commandable types), ``present-value``        relinquishes with a null at that priority
                            [``analog-value`` 1, 2, … in block order:
                            the core four are 1…4]
==========================  ===========================================  ===========================================

Values are in the contract's units (°C, kW, %, fractions); BACnet ``REAL`` is float32, so
31.2 reads back as 31.200000762939453 (writes are rounded to a float32 that stays inside
the setpoint's hard bounds). :meth:`BacnetAdapter.connect` checks the device's ``units``
of every mapped object against the contract (°C: degrees-celsius; kW: kilowatts; %:
percent or percent-relative-humidity; fractions: no-units; min: minutes; units BACnet has
none for, a price or a carbon factor: no-units) and refuses a mismatch, so a
°F or a 0–100 % object is never taken for °C or a fraction; no scaling is done.

Reading: with ``use_rpm`` and a device that lists ReadPropertyMultiple among its
protocol-services-supported, one request per ``rpm_max_objects`` objects; otherwise (or
after the device rejects or aborts a ReadPropertyMultiple) one ReadProperty per property.
With ``read_status`` the object's ``status-flags`` are read too and a point whose *fault*
flag is set (reliability other than no-fault-detected, e.g. no-sensor) is left out of the
reading: missing, as a withdrawn MQTT point is. A point the device answers with an error
(unknown object, say) is missing too, and logged. Each value is stamped with the unix
time its answer arrived: BACnet carries no measurement time, so a controller that stops
updating its objects looks fresh; the safety envelope's stuck-sensor check catches that.

Writing (ASHRAE 135 clause 19.2, command prioritization): each setpoint is written at
``priority`` (default 8) and nothing else; then the object's ``priority-array`` and
``present-value`` are read back. If a higher priority (a smaller number) holds a value,
another writer (an operator at the workstation, a life-safety sequence) is in control:
the setpoint is reported **not accepted**, with an error like ``overridden at priority 4
by another writer: present value 20.0``, and the adapter keeps commanding only its own
slot (never a higher priority, never the other writer's slot), so its value takes effect
again when the other writer relinquishes. A write the device acknowledges but does not
keep in our slot is reported too. Relinquish writes a null at ``priority``; the object
then follows the next lower priority or its relinquish-default (the BMS's own control).

The write priority and the priorities refused for it are described with the settings
(:mod:`coolpilot.controller.protocols.bacnet`).

Errors: every request is bounded by ``timeout_s`` per try and ``retries`` retries
(bacpypes3's APDU timeout and retry count, plus an outer wall-clock bound). A device that
does not answer raises :class:`~coolpilot.controller.adapters.base.AdapterError` (connect, read
and write alike); the adapter needs no reconnection afterwards (UDP: the next request
simply goes out). BACnet error, reject and abort answers to a write are reported per
setpoint in the :class:`~coolpilot.controller.adapters.base.WriteResult`.

Not done: COV subscriptions, WritePropertyMultiple, device discovery (the device's address is
configured), value scaling.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from bacpypes3.apdu import AbortPDU, AbortReason, ErrorRejectAbortNack, RejectPDU
from bacpypes3.basetypes import PropertyIdentifier, ServicesSupported
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Null, ObjectIdentifier, Real

from coolpilot.controller.adapters.base import AdapterError, Reading, WriteResult
from coolpilot.controller.protocols.bacnet import (
    PRESENT_VALUE,
    PRIORITY_ARRAY,
    STATUS_FLAGS,
    UNITS_PROPERTY,
    BacnetSettings,
    ObjectRef,
    bacnet_units,
)
from coolpilot.controller.protocols.bacnet_stack import Failure, close_app, make_app, to_python, wait_ready
from coolpilot.envs.contract import POINTS_BY_NAME, SETPOINTS_BY_NAME

log = logging.getLogger(__name__)


def _describe(err: BaseException) -> str:
    """``error: object: unknown-object``, ``reject: unrecognized-service``, ``abort: no-response``."""
    kind = "reject" if isinstance(err, RejectPDU) else "abort" if isinstance(err, AbortPDU) else "error"
    return f"{kind}: {err}"


def _no_response(err: BaseException) -> bool:
    """The request was never answered (bacpypes3 aborts it locally after its last retry)."""
    return isinstance(err, AbortPDU) and err.apduAbortRejectReason == AbortReason.noResponse



class _Client:
    """Requests of coolpilot's own bacpypes3 application to one remote device, each bounded in time.

    Raises :class:`AdapterError` when the device does not answer; returns BACnet errors,
    rejects and aborts as :class:`Failure` values.
    """

    def __init__(self, app: Any, settings: BacnetSettings) -> None:
        self.app = app
        self.settings = settings
        self.address = Address(settings.device_address)
        app.device_object.apduTimeout = max(1, round(settings.timeout_s * 1000.0))
        app.device_object.numberOfApduRetries = settings.retries

    def _unreachable(self, what: str) -> AdapterError:
        s = self.settings
        return AdapterError(f"BACnet device {s.device_instance} at {s.device_address} did not answer {what} within "
                            f"{s.timeout_s:g} s × {s.retries + 1} tries")

    async def _request(self, call: Callable[[], Any], what: str) -> Any:
        """Run one bacpypes3 request; its BACnet answer, or raise for no answer."""
        try:
            async with asyncio.timeout(self.settings.request_bound_s):
                response = await call()
        except TimeoutError:
            raise self._unreachable(what) from None
        except ErrorRejectAbortNack as err:  # bacpypes3 raises these (a BaseException, not an Exception)
            if _no_response(err):
                raise self._unreachable(what) from None
            return Failure(_describe(err))
        if isinstance(response, ErrorRejectAbortNack):  # some bacpypes3 paths return them instead
            if _no_response(response):
                raise self._unreachable(what)
            return Failure(_describe(response))
        return response

    async def read(self, object_id: str, prop: str) -> object:
        """One property as plain Python (see :func:`~coolpilot.controller.protocols.bacnet_stack.to_python`),
        or a Failure."""
        value = await self._request(
            lambda: self.app.read_property(self.address, ObjectIdentifier(object_id), PropertyIdentifier(prop)),
            f"a read of {object_id} {prop}")
        return value if isinstance(value, Failure) else to_python(value)

    async def read_multiple(self, specs: Sequence[tuple[str, Sequence[str]]]
                            ) -> dict[tuple[str, str], object] | Failure:
        """ReadPropertyMultiple of ``(object_id, [properties])``: values by ``(object_id, property)``.

        Returns a :class:`Failure` when the device refuses the request as a whole (reject, abort, error).
        """
        args: list[Any] = []
        for object_id, props in specs:
            args += [ObjectIdentifier(object_id), [PropertyIdentifier(p) for p in props]]
        response = await self._request(lambda: self.app.read_property_multiple(self.address, args),
                                       f"a ReadPropertyMultiple of {len(specs)} objects")
        if isinstance(response, Failure):
            return response
        values: dict[tuple[str, str], object] = {}
        for object_id, prop, index, value in response or ():
            if index is None:
                values[(str(object_id), str(prop))] = to_python(value)
        return values

    async def write(self, object_id: str, value: float | None, priority: int) -> Failure | None:
        """Write ``present-value`` (None: a null, relinquishing) at ``priority``; None when acknowledged."""
        encoded = Null(()) if value is None else Real(value)
        response = await self._request(
            lambda: self.app.write_property(self.address, ObjectIdentifier(object_id),
                                            PropertyIdentifier(PRESENT_VALUE), encoded, priority=priority),
            f"a write of {object_id} present-value")
        return response if isinstance(response, Failure) else None


def _real32_within(value: float, low: float, high: float) -> float:
    """``value`` rounded to float32 (BACnet REAL) without leaving ``[low, high]`` when it was inside."""
    f = np.float32(value)
    if low <= value <= high:
        if float(f) < low:
            f = np.nextafter(f, np.float32(np.inf))
        elif float(f) > high:
            f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def _same_real(a: float, b: float) -> bool:
    """Equal as float32 values are (relative 1e-6)."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def _as_setpoint(name: str, value: object, mapped: Sequence[str]) -> tuple[float | None, str | None]:
    """``(value as float, or None to relinquish; None)``, or ``(None, why it cannot be written)``."""
    if name not in mapped:
        return None, f"setpoint {name!r} is not mapped by this site; its setpoints are {list(mapped)}"
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        return None, f"not a number: {value!r}"
    number = float(value)
    if not math.isfinite(number):
        return None, f"not a finite number: {value!r}"
    spec = SETPOINTS_BY_NAME[name]
    return _real32_within(number, spec.low, spec.high), None


class BacnetAdapter:
    """The plant over BACnet/IP (see the module docstring: object map, priorities, overrides, errors).

    ``connect()`` opens coolpilot's own BACnet device on ``local_address:local_port`` and
    checks the remote device (its instance, whether it serves ReadPropertyMultiple, the
    units of the mapped objects); :meth:`close` releases the UDP port.
    """

    def __init__(self, settings: BacnetSettings) -> None:
        self.settings = settings
        s = settings
        self.name = f"bacnet://{s.device_address}/device/{s.device_instance}"
        self._client: _Client | None = None
        self._rpm = False
        self._overridden: dict[str, int] = {}
        self._unread: dict[str, str] = {}

    @property
    def connected(self) -> bool:
        """The local BACnet device is open (the remote may still be unreachable: UDP has no connection)."""
        return self._client is not None

    @property
    def uses_rpm(self) -> bool:
        """Reads go out as ReadPropertyMultiple (False: one ReadProperty per property)."""
        return self._rpm

    async def connect(self) -> None:
        """Open the local device (once) and check the remote one; :class:`AdapterError` if it does not answer.

        Called again (the service does after an error), it checks the remote device again.
        """
        s = self.settings
        fresh = self._client is None
        if self._client is None:
            app = make_app(s.local_device_name, s.local_device_instance, f"{s.local_address}:{s.local_port}")
            await wait_ready(app, f"coolpilot's BACnet device on {s.local_address} port {s.local_port}")
            self._client = _Client(app, s)
        try:
            await self._check_device(fresh)
        except AdapterError:
            if fresh:
                await self.close()
            raise

    async def _check_device(self, fresh: bool) -> None:
        client = self._require()
        s = self.settings
        services = await client.read(f"device,{s.device_instance}", "protocol-services-supported")
        if isinstance(services, Failure):
            raise AdapterError(f"BACnet device at {s.device_address} refused a read of device {s.device_instance} "
                               f"({services.reason}): check device_instance")
        rpm_bit = ServicesSupported.readPropertyMultiple
        supports_rpm = isinstance(services, tuple) and len(services) > rpm_bit and services[rpm_bit] == 1
        self._rpm = s.use_rpm and supports_rpm
        if fresh:
            log.info("BACnet device %d at %s: %s", s.device_instance, s.device_address,
                     "ReadPropertyMultiple" if self._rpm else "ReadProperty only")
        if s.check_units:
            await self._check_units()

    async def _check_units(self) -> None:
        refs = {**self.settings.points, **self.settings.setpoints}
        found = await self._read_properties([(ref.object_id, [UNITS_PROPERTY]) for ref in refs.values()])
        wrong = []
        for name, ref in refs.items():
            units = found.get((ref.object_id, UNITS_PROPERTY))
            if units is None or isinstance(units, Failure):
                continue  # no units property: nothing to check
            unit = POINTS_BY_NAME[name].unit if name in POINTS_BY_NAME else SETPOINTS_BY_NAME[name].unit
            if str(units) not in bacnet_units(unit):
                wrong.append(f"{name} ({ref.object_type} {ref.instance}) is in {units}, expected "
                             f"{' or '.join(bacnet_units(unit))} ({unit})")
        if wrong:
            raise AdapterError(f"BACnet device {self.settings.device_instance} at {self.settings.device_address}: "
                               f"units differ from the contract's: {'; '.join(wrong)}")

    def _require(self) -> _Client:
        if self._client is None:
            raise AdapterError(f"BACnet adapter {self.name} is not connected: call connect() first")
        return self._client

    async def _read_properties(self, specs: Sequence[tuple[str, Sequence[str]]]) -> dict[tuple[str, str], object]:
        """Values (or :class:`Failure`) by ``(object_id, property)``, with RPM when it works, else one by one."""
        client = self._require()
        values: dict[tuple[str, str], object] = {}
        if self._rpm:
            size = self.settings.rpm_max_objects
            for k in range(0, len(specs), size):
                chunk = specs[k : k + size]
                result = await client.read_multiple(chunk)
                if isinstance(result, Failure):
                    log.warning("BACnet device %s refused ReadPropertyMultiple (%s): reading one property at a "
                                "time from now on", self.settings.device_address, result.reason)
                    self._rpm = False
                    break
                values.update(result)
            else:
                return values
        for object_id, props in specs:
            for prop in props:
                if (object_id, prop) not in values:
                    values[(object_id, prop)] = await client.read(object_id, prop)
        return values

    async def read_points(self) -> Reading:
        """Every mapped point's value, stamped with the time its answer arrived (faulty ones left out)."""
        s = self.settings
        extra = [STATUS_FLAGS] if s.read_status else []
        specs: dict[str, list[str]] = {}
        for ref in s.points.values():
            specs.setdefault(ref.object_id, [*extra])
            specs[ref.object_id].insert(0, ref.property)
        found = await self._read_properties([(oid, list(dict.fromkeys(props))) for oid, props in specs.items()])
        now_s = time.time()
        values: dict[str, object] = {}
        times_s: dict[str, float] = {}
        for name, ref in s.points.items():
            value = found.get((ref.object_id, ref.property))
            flags = found.get((ref.object_id, STATUS_FLAGS))
            problem = None
            if isinstance(value, Failure) or value is None:
                problem = value.reason if isinstance(value, Failure) else "no value"
            elif isinstance(flags, tuple) and len(flags) > 1 and flags[1]:
                problem = "status-flags: fault"
            self._note_unread(name, ref, problem)
            if problem is None:
                values[name], times_s[name] = value, now_s
        return Reading(values, times_s)

    def _note_unread(self, name: str, ref: ObjectRef, problem: str | None) -> None:
        """Log a point becoming unreadable (and readable again) once, not every cycle."""
        before = self._unread.get(name)
        if problem is None:
            if before is not None:
                del self._unread[name]
                log.info("point %s (%s) readable again", name, ref)
        elif before != problem:
            self._unread[name] = problem
            log.warning("point %s (%s) left out of the reading: %s", name, ref, problem)

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        """Write each setpoint at the configured priority, then check who is in control of it."""
        return await self._command(dict(setpoints))

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        """Write a null at the configured priority: the object follows lower priorities or its relinquish-default."""
        return await self._command(dict.fromkeys(names))

    async def close(self) -> None:
        """Close coolpilot's BACnet device and release its UDP port (idempotent)."""
        client, self._client = self._client, None
        if client is not None:
            await close_app(client.app)

    async def _command(self, values: Mapping[str, object]) -> WriteResult:
        client = self._require()
        s = self.settings
        accepted: dict[str, bool] = {}
        errors: dict[str, str] = {}
        written: dict[str, float | None] = {}
        for name, value in values.items():
            number, problem = _as_setpoint(name, value, list(self.settings.setpoints))
            if problem is None:
                ref = s.setpoints[name]
                refused = await client.write(ref.object_id, number, s.priority)
                if refused is None:
                    written[name] = number
                    continue
                what = "relinquish" if number is None else f"write {number:g}"
                problem = f"device refused to {what} {ref} at priority {s.priority}: {refused.reason}"
            accepted[name], errors[name] = False, problem
            log.warning("setpoint %s not written: %s", name, problem)
        if written:
            for name, problem in (await self._verify(written)).items():
                accepted[name] = problem is None
                if problem is not None:
                    errors[name] = problem
        return WriteResult(accepted, errors)

    async def _verify(self, written: Mapping[str, float | None]) -> dict[str, str | None]:
        """Per written setpoint: None if our slot holds what we wrote and no higher priority overrides it."""
        s = self.settings
        refs = {name: s.setpoints[name] for name in written}
        found = await self._read_properties([(ref.object_id, [PRIORITY_ARRAY, PRESENT_VALUE])
                                             for ref in refs.values()])
        outcome: dict[str, str | None] = {}
        for name, value in written.items():
            ref = refs[name]
            slots = found.get((ref.object_id, PRIORITY_ARRAY))
            present = found.get((ref.object_id, PRESENT_VALUE))
            if not isinstance(slots, list) or len(slots) != 16:
                reason = slots.reason if isinstance(slots, Failure) else f"got {slots!r}"
                outcome[name] = f"written, but the priority-array of {ref.object_type} {ref.instance} is unreadable " \
                                f"({reason}): cannot tell who is in control"
                continue
            ours = slots[s.priority - 1]
            higher = next((k for k in range(1, s.priority) if slots[k - 1] is not None), None)
            if value is None:
                outcome[name] = None if ours is None else f"priority {s.priority} still holds {ours} after relinquish"
                continue
            if higher is not None:
                shown = f"{present:g}" if isinstance(present, float) else str(present)
                outcome[name] = f"overridden at priority {higher} by another writer: present value {shown}"
            elif not isinstance(ours, float) or not _same_real(ours, value):
                outcome[name] = f"the device acknowledged {value:g} but priority {s.priority} holds {ours}"
            else:
                outcome[name] = None
            self._note_override(name, higher, outcome[name])
        return outcome

    def _note_override(self, name: str, priority: int | None, message: str | None) -> None:
        """Log an override when it starts and when it ends, not every cycle."""
        before = self._overridden.get(name)
        if priority is None and before is not None:
            del self._overridden[name]
            log.info("setpoint %s: the override at priority %d ended; coolpilot's value is in force", name, before)
        elif priority is not None and before != priority:
            self._overridden[name] = priority
            log.warning("setpoint %s: %s; respected (coolpilot keeps writing only priority %d)", name, message,
                        self.settings.priority)
