"""BACnet/IP adapter (bacpypes3): points read from a device's objects, setpoints commanded at one priority.

Object map (``points`` / ``setpoints`` of :class:`BacnetSettings`; the default map, which the
plant twin's device :class:`BacnetTwinDevice` serves, is in brackets):

==========================  ===========================================  ===========================================
contract name               BACnet object, property                      what the adapter does
==========================  ===========================================  ===========================================
the 20 points               ``analog-input`` or ``analog-value``,        reads ``present-value`` (and ``status-flags``)
                            any readable property [``analog-input``
                            1…20 in contract order, ``present-value``]
the 4 setpoints             ``analog-value`` or ``analog-output`` (the   writes ``present-value`` at ``priority``;
                            commandable types), ``present-value``        relinquishes with a null at that priority
                            [``analog-value`` 1…4 in contract order]
==========================  ===========================================  ===========================================

Values are in the contract's units (°C, kW, %, fractions); BACnet ``REAL`` is float32, so
31.2 reads back as 31.200000762939453 (writes are rounded to a float32 that stays inside
the setpoint's hard bounds). :meth:`BacnetAdapter.connect` checks the device's ``units``
of every mapped object against the contract (°C: degrees-celsius; kW: kilowatts; %:
percent or percent-relative-humidity; fractions: no-units) and refuses a mismatch, so a
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

Priorities refused in :class:`BacnetSettings` (Table 19-1 of ASHRAE 135): 1 manual
life safety, 2 automatic life safety, 5 critical equipment control, 6 minimum on/off (the
device's own minimum on/off timing), and 16, the lowest, where many BMS programs command
their own loops (relinquishing there would erase the site's own command). Usable: 3, 4,
7 and 8–15; 8 is "manual operator" in the table and the usual choice for a supervisory
controller, with the site's operators above it at 3–4 or 7.

Errors: every request is bounded by ``timeout_s`` per try and ``retries`` retries
(bacpypes3's APDU timeout and retry count, plus an outer wall-clock bound). A device that
does not answer raises :class:`~controller.adapters.base.AdapterError` (connect, read
and write alike); the adapter needs no reconnection afterwards (UDP: the next request
simply goes out). BACnet error, reject and abort answers to a write are reported per
setpoint in the :class:`~controller.adapters.base.WriteResult`.

Loopback (tests, the twin): two bacpypes3 applications on one host need distinct UDP
ports on 127.0.0.1; the same port on 127.0.0.1 and 127.0.0.2 does not work in bacpypes3
0.0.110 (a 127.x destination on its own port is taken for itself), so the settings refuse
it. bacpypes3 binds with SO_REUSEPORT: a port clash does not fail but shares traffic, so
each device needs a port of its own. Not done: COV subscriptions, WritePropertyMultiple,
device discovery (the device's address is configured), value scaling.
"""

from __future__ import annotations

import asyncio
import builtins
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from bacpypes3.apdu import AbortPDU, AbortReason, ErrorRejectAbortNack, RejectPDU
from bacpypes3.app import Application
from bacpypes3.basetypes import PriorityValue, PropertyIdentifier, ServicesSupported
from bacpypes3.errors import UnrecognizedService
from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject, AnalogValueObject, AnalogValueObjectCmd
from bacpypes3.local.cmd import Commandable
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.local.oos import OutOfService
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import BitString, Boolean, Enumerated, Null, ObjectIdentifier, Real
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controller.adapters.base import AdapterError, Reading, WriteResult
from envs.contract import POINT_NAMES, POINTS_BY_NAME, SETPOINT_NAMES, SETPOINTS_BY_NAME

if TYPE_CHECKING:
    from controller.twin import PlantTwin

log = logging.getLogger(__name__)

BACNET_PORT = 47808
"""UDP port of BACnet/IP (0xBAC0)."""
MAX_INSTANCE = 4194302
"""Largest object instance (4194303 is the wildcard)."""
DEFAULT_DEVICE_INSTANCE = 1000
"""Device instance of the plant twin's device (:class:`BacnetTwinDevice`), the default remote."""
DEFAULT_LOCAL_INSTANCE = 1999
"""Device instance of coolpilot's own BACnet device by default; must be unique on the site's internetwork."""
RESERVED_PRIORITIES: dict[int, str] = {
    1: "manual life safety",
    2: "automatic life safety",
    5: "critical equipment control",
    6: "minimum on/off (the device's own timing)",
    16: "the lowest priority, where BMS programs command their own loops",
}
"""Write priorities coolpilot refuses, and why (ASHRAE 135 Table 19-1)."""
ALLOWED_PRIORITIES = tuple(p for p in range(1, 17) if p not in RESERVED_PRIORITIES)

ObjectType = Literal["analog-input", "analog-value", "analog-output"]
COMMANDABLE_TYPES: tuple[str, ...] = ("analog-value", "analog-output")
"""Object types with a priority-array (an analog-value is commandable when the device gives it one)."""

UNITS: dict[str, tuple[str, ...]] = {
    "°C": ("degrees-celsius",),
    "kW": ("kilowatts",),
    "%": ("percent", "percent-relative-humidity"),
    "1": ("no-units",),
}
"""Contract unit -> BACnet engineering units the adapter accepts for it (no conversion is made)."""
TWIN_UNITS: dict[str, str] = {"°C": "degrees-celsius", "kW": "kilowatts", "%": "percent-relative-humidity",
                              "1": "no-units"}
"""Engineering units the twin device gives its objects, per contract unit."""

_PRESENT_VALUE = "present-value"
_STATUS_FLAGS = "status-flags"
_PRIORITY_ARRAY = "priority-array"
_UNITS = "units"
_READY_TIMEOUT_S = 5.0
"""Longest wait for a bacpypes3 application's UDP socket to open."""


def _valid_property(value: str) -> str:
    try:
        return str(PropertyIdentifier(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a BACnet property identifier (e.g. present-value)") from None


class ObjectRef(BaseModel):
    """One property of one BACnet object of the remote device, e.g. ``analog-input 7 present-value``.

    In YAML either a mapping (``{object_type: analog-input, instance: 7}``) or the short form
    ``"analog-input,7"`` (``present-value``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    object_type: ObjectType = Field(description="BACnet object type (analog-input, analog-value, analog-output).")
    instance: int = Field(ge=0, le=MAX_INSTANCE, description="Object instance number on the device.")
    property: str = Field(_PRESENT_VALUE, description="Property read (points) or written (setpoints: present-value "
                                                      "only), as BACnet names it.")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, str):
            kind, sep, number = data.partition(",")
            if not sep or not number.strip().isdigit():
                raise ValueError(f"{data!r}: write an object as 'analog-input,7' or as a mapping with object_type "
                                 "and instance")
            return {"object_type": kind.strip(), "instance": int(number)}
        return data

    @field_validator("property")
    @classmethod
    def _known_property(cls, value: str) -> str:
        return _valid_property(value)

    @builtins.property  # the field "property" shadows the builtin in this class body
    def object_id(self) -> str:
        """``type,instance`` as bacpypes3 parses it."""
        return f"{self.object_type},{self.instance}"

    def __str__(self) -> str:
        return f"{self.object_type} {self.instance} {self.property}"


DEFAULT_POINT_OBJECTS: dict[str, ObjectRef] = {
    name: ObjectRef(object_type="analog-input", instance=i) for i, name in enumerate(POINT_NAMES, start=1)}
"""The default point map: ``analog-input`` 1…20, present-value, in contract order."""
DEFAULT_SETPOINT_OBJECTS: dict[str, ObjectRef] = {
    name: ObjectRef(object_type="analog-value", instance=i) for i, name in enumerate(SETPOINT_NAMES, start=1)}
"""The default setpoint map: commandable ``analog-value`` 1…4, present-value, in contract order."""


def _parse_host_port(value: str, what: str, default_port: int | None = BACNET_PORT) -> tuple[str, int]:
    """``(ipv4, port)`` of ``"a.b.c.d[:port]"``; :class:`ValueError` naming ``what`` otherwise."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = value, ""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{what} {value!r} must be an IPv4 address with an optional UDP port, e.g. "
                         "'192.168.1.20:47808' (BACnet/IP devices are reached by address, not by name)") from None
    if not sep:
        if default_port is None:
            raise ValueError(f"{what} {value!r} needs a UDP port, e.g. '{host}:47808'")
        return host, default_port
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{what} {value!r}: UDP port {port_text!r} must be in 1..65535")
    return host, int(port_text)


class BacnetSettings(BaseModel):
    """coolpilot's own BACnet/IP device, the remote device, timing, priority and object map (``adapter.bacnet``).

    ``BacnetSettings(device_address="127.0.0.1:47809")`` reaches a :class:`BacnetTwinDevice`
    there with the default object map.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_address: str = Field(description="IPv4 address and UDP port of the remote BACnet/IP device "
                                            "('a.b.c.d:port'; the port defaults to 47808).")
    device_instance: int = Field(DEFAULT_DEVICE_INSTANCE, ge=0, le=MAX_INSTANCE,
                                 description="Device object instance of the remote device; connect() checks it.")
    local_address: str = Field("127.0.0.1/32", description="coolpilot's own address with its network prefix, as "
                                                           "bacpypes3 binds it ('192.168.1.10/24'); the prefix "
                                                           "gives the broadcast address (/32: none).")
    local_port: int = Field(BACNET_PORT, ge=0, le=65535,
                            description="coolpilot's own UDP port (0: any free port, unicast only).")
    local_device_instance: int = Field(DEFAULT_LOCAL_INSTANCE, ge=0, le=MAX_INSTANCE,
                                       description="Device instance of coolpilot's own BACnet device; unique on "
                                                   "the site's internetwork.")
    local_device_name: str = Field("coolpilot", min_length=1, description="Object name of coolpilot's device.")
    timeout_s: float = Field(2.0, gt=0.0, le=60.0, json_schema_extra={"unit": "s"},
                             description="Time allowed for the device to answer one try of a request (the APDU "
                                         "timeout).")
    retries: int = Field(1, ge=0, le=10, description="Retries of an unanswered request; a dead device is reported "
                                                     "after timeout_s × (retries + 1).")
    priority: int = Field(8, ge=1, le=16, description="Priority of every setpoint write and relinquish (ASHRAE 135 "
                                                      "Table 19-1); 1, 2, 5, 6 and 16 are refused.")
    use_rpm: bool = Field(True, description="Read with ReadPropertyMultiple when the device supports it, else one "
                                            "ReadProperty per property.")
    rpm_max_objects: int = Field(20, ge=1, le=200, description="Objects per ReadPropertyMultiple request (keep the "
                                                               "answer within the device's APDU size).")
    read_status: bool = Field(True, description="Also read status-flags; points flagged as faulty are left out of "
                                                "the reading (missing).")
    check_units: bool = Field(True, description="connect() refuses objects whose BACnet units differ from the "
                                                "contract's.")
    points: dict[str, ObjectRef] = Field(default_factory=lambda: dict(DEFAULT_POINT_OBJECTS),
                                         description="Object of every contract point (all 20).")
    setpoints: dict[str, ObjectRef] = Field(default_factory=lambda: dict(DEFAULT_SETPOINT_OBJECTS),
                                            description="Commandable object of every contract setpoint (all 4).")

    @field_validator("device_address")
    @classmethod
    def _valid_device_address(cls, value: str) -> str:
        host, port = _parse_host_port(value, "device_address")
        return f"{host}:{port}"

    @field_validator("local_address")
    @classmethod
    def _valid_local_address(cls, value: str) -> str:
        try:
            ipaddress.IPv4Interface(value)
        except ValueError:
            raise ValueError(f"local_address {value!r} must be an IPv4 address with its network prefix, e.g. "
                             "'192.168.1.10/24' (no port: that is local_port)") from None
        return value if "/" in value else f"{value}/32"

    @field_validator("priority")
    @classmethod
    def _allowed_priority(cls, value: int) -> int:
        if value in RESERVED_PRIORITIES:
            raise ValueError(f"priority {value} is reserved for {RESERVED_PRIORITIES[value]} (ASHRAE 135 Table 19-1); "
                             f"choose one of {list(ALLOWED_PRIORITIES)} (8 is usual)")
        return value

    @field_validator("points")
    @classmethod
    def _all_points(cls, value: dict[str, ObjectRef]) -> dict[str, ObjectRef]:
        unknown = sorted(set(value) - set(POINTS_BY_NAME))
        missing = [n for n in POINT_NAMES if n not in value]
        if unknown or missing:
            raise ValueError(f"points must map every contract point to an object: unknown names {unknown}, "
                             f"missing {missing}; the contract's points are {list(POINT_NAMES)}")
        return value

    @field_validator("setpoints")
    @classmethod
    def _all_setpoints(cls, value: dict[str, ObjectRef]) -> dict[str, ObjectRef]:
        unknown = sorted(set(value) - set(SETPOINTS_BY_NAME))
        missing = [n for n in SETPOINT_NAMES if n not in value]
        if unknown or missing:
            raise ValueError(f"setpoints must map every contract setpoint to an object: unknown names {unknown}, "
                             f"missing {missing}; the contract's setpoints are {list(SETPOINT_NAMES)}")
        for name, ref in value.items():
            if ref.object_type not in COMMANDABLE_TYPES:
                raise ValueError(f"setpoint {name} is mapped to {ref.object_type} {ref.instance}, which is not "
                                 f"commandable: use one of {list(COMMANDABLE_TYPES)}")
            if ref.property != _PRESENT_VALUE:
                raise ValueError(f"setpoint {name}: property {ref.property!r} cannot be commanded; setpoints are "
                                 "written to present-value")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BacnetSettings:
        seen: dict[tuple[str, int, str], str] = {}
        for name, ref in [*self.points.items(), *self.setpoints.items()]:
            key = (ref.object_type, ref.instance, ref.property)
            if key in seen:
                raise ValueError(f"{name} and {seen[key]} are both mapped to {ref}: each point and setpoint needs an "
                                 "object (or property) of its own")
            seen[key] = name
        host, port = self.device_host_port
        local_ip = str(ipaddress.IPv4Interface(self.local_address).ip)
        if port == self.local_port and (host == local_ip or (host.startswith("127.") and local_ip.startswith("127."))):
            raise ValueError(f"device_address {self.device_address} and local_address {self.local_address} use the "
                             f"same UDP port {port} on this host: bacpypes3 would answer its own requests; give "
                             "local_port another port (or 0)")
        return self

    @property
    def device_host_port(self) -> tuple[str, int]:
        """``(ipv4, port)`` of the remote device."""
        host, _, port = self.device_address.rpartition(":")
        return host, int(port)

    @property
    def request_bound_s(self) -> float:
        """Longest a single request may take before it is abandoned (s): every try, plus a margin."""
        return self.timeout_s * (self.retries + 1) + 0.5


# --- bacpypes3, typed at the edges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A property the device would not give (a BACnet error, reject or abort), with the reason."""

    reason: str


def _describe(err: BaseException) -> str:
    """``error: object: unknown-object``, ``reject: unrecognized-service``, ``abort: no-response``."""
    kind = "reject" if isinstance(err, RejectPDU) else "abort" if isinstance(err, AbortPDU) else "error"
    return f"{kind}: {err}"


def _no_response(err: BaseException) -> bool:
    """The request was never answered (bacpypes3 aborts it locally after its last retry)."""
    return isinstance(err, AbortPDU) and err.apduAbortRejectReason == AbortReason.noResponse


def _python(value: Any) -> object:
    """A bacpypes3 value as plain Python: float, bool, str (enumerations), tuple of bits, list (arrays), Failure.

    A priority-array slot becomes its value (a float for numbers) or None when empty.
    """
    if isinstance(value, PriorityValue):
        return None if value.null is not None else _python(getattr(value, value._choice))
    if hasattr(value, "errorClass") and hasattr(value, "errorCode"):  # an error in a ReadPropertyMultiple answer
        return Failure(f"error: {value.errorClass}: {value.errorCode}")
    if isinstance(value, BitString):
        return tuple(int(bit) for bit in value)
    if isinstance(value, Enumerated):
        return str(value)
    if isinstance(value, bool | Boolean):
        return bool(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_python(v) for v in value]
    return str(value)


def _app(name: str, instance: int, address: str, app_class: type[Any] = Application) -> Any:
    """A bacpypes3 application (must run inside the event loop) with a device object and one BACnet/IP port.

    ``address`` is ``a.b.c.d/prefix:port``. The UDP socket opens in a background task: await
    :func:`_ready` before use, and close with :func:`_close`.
    """
    device = DeviceObject(objectIdentifier=("device", instance), objectName=name)
    port = NetworkPortObject(address, objectIdentifier=("network-port", 1), objectName="NetworkPort-1",
                             networkNumber=0, networkNumberQuality="unknown")
    return app_class.from_object_list([device, port])


def _servers(app: Any) -> list[Any]:
    """The UDP servers of ``app``'s link layers (bacpypes3 internals: ``IPv4DatagramServer``)."""
    return [ll.server for ll in app.link_layers.values()]


async def _ready(app: Any, what: str) -> None:
    """Wait (bounded) until ``app``'s UDP sockets are open, or close it and raise :class:`AdapterError`."""
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S):
            for server in _servers(app):
                await server._local_transport_ready.wait()
                await asyncio.gather(*server._transport_tasks)
    except TimeoutError:
        await _close(app)
        raise AdapterError(f"{what}: could not open the UDP socket within {_READY_TIMEOUT_S:g} s (is the address "
                           "one of this host's?)") from None


async def _close(app: Any) -> None:
    """Close ``app``'s sockets and let the loop release them (the port is free when this returns)."""
    for server in _servers(app):
        for task in server._transport_tasks:
            task.cancel()
    app.close()
    for _ in range(3):  # transports close on a later loop iteration
        await asyncio.sleep(0)


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
        """One property as plain Python (see :func:`_python`), or a :class:`Failure`."""
        value = await self._request(
            lambda: self.app.read_property(self.address, ObjectIdentifier(object_id), PropertyIdentifier(prop)),
            f"a read of {object_id} {prop}")
        return value if isinstance(value, Failure) else _python(value)

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
                values[(str(object_id), str(prop))] = _python(value)
        return values

    async def write(self, object_id: str, value: float | None, priority: int) -> Failure | None:
        """Write ``present-value`` (None: a null, relinquishing) at ``priority``; None when acknowledged."""
        encoded = Null(()) if value is None else Real(value)
        response = await self._request(
            lambda: self.app.write_property(self.address, ObjectIdentifier(object_id),
                                            PropertyIdentifier(_PRESENT_VALUE), encoded, priority=priority),
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


def _as_setpoint(name: str, value: object) -> tuple[float | None, str | None]:
    """``(value as float, or None to relinquish; None)``, or ``(None, why it cannot be written)``."""
    if name not in SETPOINTS_BY_NAME:
        return None, f"unknown setpoint {name!r}; the contract's setpoints are {list(SETPOINT_NAMES)}"
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
            app = _app(s.local_device_name, s.local_device_instance, f"{s.local_address}:{s.local_port}")
            await _ready(app, f"coolpilot's BACnet device on {s.local_address} port {s.local_port}")
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
        found = await self._read_properties([(ref.object_id, [_UNITS]) for ref in refs.values()])
        wrong = []
        for name, ref in refs.items():
            units = found.get((ref.object_id, _UNITS))
            if units is None or isinstance(units, Failure):
                continue  # no units property: nothing to check
            unit = POINTS_BY_NAME[name].unit if name in POINTS_BY_NAME else SETPOINTS_BY_NAME[name].unit
            if str(units) not in UNITS[unit]:
                wrong.append(f"{name} ({ref.object_type} {ref.instance}) is in {units}, expected "
                             f"{' or '.join(UNITS[unit])} ({unit})")
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
        extra = [_STATUS_FLAGS] if s.read_status else []
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
            flags = found.get((ref.object_id, _STATUS_FLAGS))
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
            await _close(client.app)

    async def _command(self, values: Mapping[str, object]) -> WriteResult:
        client = self._require()
        s = self.settings
        accepted: dict[str, bool] = {}
        errors: dict[str, str] = {}
        written: dict[str, float | None] = {}
        for name, value in values.items():
            number, problem = _as_setpoint(name, value)
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
        found = await self._read_properties([(ref.object_id, [_PRIORITY_ARRAY, _PRESENT_VALUE])
                                             for ref in refs.values()])
        outcome: dict[str, str | None] = {}
        for name, value in written.items():
            ref = refs[name]
            slots = found.get((ref.object_id, _PRIORITY_ARRAY))
            present = found.get((ref.object_id, _PRESENT_VALUE))
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


# --- the plant twin's BACnet device ----------------------------------------------------------------------------------


class _TwinApplication(Application):
    """The twin device's application: optionally slow, optionally without ReadPropertyMultiple."""

    delay_s: float = 0.0
    rpm: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delayed: set[asyncio.Task[Any]] = set()
        """Requests waiting out ``delay_s`` (cancelled when the device stops)."""

    async def indication(self, apdu: Any) -> None:
        if self.delay_s > 0.0:
            task = asyncio.current_task()
            if task is not None:
                self.delayed.add(task)
            try:
                await asyncio.sleep(self.delay_s)
            finally:
                self.delayed.discard(task)
        await super().indication(apdu)

    async def do_ReadPropertyMultipleRequest(self, apdu: Any) -> None:  # noqa: N802 (bacpypes3's name)
        if not self.rpm:
            raise UnrecognizedService("ReadPropertyMultiple is switched off on this device")
        await super().do_ReadPropertyMultipleRequest(apdu)

    def get_services_supported(self) -> Any:
        services = super().get_services_supported()
        if not self.rpm:
            services[ServicesSupported.readPropertyMultiple] = 0
        return services


class _ReadOnlyAnalogInput(OutOfService, AnalogInputObject):
    """An analog input whose present-value only the device changes (unless out of service), as on real devices."""


class _ReadOnlyAnalogValue(OutOfService, AnalogValueObject):
    """A non-commandable analog value, read-only over the network."""


class _CommandHook:
    """Calls ``_on_command(self)`` after every change of the priority-array (a write or a relinquish)."""

    _on_command: Callable[[Any], None] | None = None

    def recalculating(self) -> None:
        super().recalculating()  # type: ignore[misc]  # the bacpypes3 object class it is mixed into
        if self._on_command is not None:
            self._on_command(self)


class _TwinAnalogValue(_CommandHook, AnalogValueObjectCmd):
    """A commandable analog value reporting its commands to the twin."""


class _TwinAnalogOutput(_CommandHook, AnalogOutputObject):
    """An analog output reporting its commands to the twin."""


class BacnetTwinDevice:
    """The plant twin as a BACnet/IP device on 127.0.0.1 (a :class:`~controller.twin.TwinFrontend`).

    Serves the object map of ``settings`` (default: :data:`DEFAULT_POINT_OBJECTS`,
    :data:`DEFAULT_SETPOINT_OBJECTS`) as device ``device_instance`` at ``settings.device_address``;
    ``address`` (``"127.0.0.1:PORT"``) and ``device_instance`` override them. Only 127.0.0.1
    and a fixed port: the adapter must know where to find it.

    Points: read-only analog inputs (or analog values) in the contract's units, refreshed by
    :meth:`publish` from :attr:`PlantTwin.sensor_values` after every tick (not while
    :attr:`PlantTwin.publishing_paused`: the values go stale). A dropped point's object
    reports reliability ``no-sensor`` (status-flags fault) and a NaN present-value until
    restored; an injected NaN is served as a NaN with no fault.

    Setpoints: commandable analog values (or outputs) with a 16-slot priority-array, whose
    relinquish-default is the BMS's own setpoint (:attr:`PlantTwin.bms_setpoints`) refreshed
    every tick. After every change of a priority-array the effective command (the value at
    the highest priority in use) goes to :meth:`PlantTwin.apply_setpoint`, as
    ``source="controller"`` when it sits at ``controller_priority`` (default
    ``settings.priority``) and ``"operator"`` otherwise; when every slot is empty the
    setpoint is relinquished to the BMS. Refreshing the relinquish-default is not a command.

    Test hooks: :meth:`operator_write` (another writer at any priority), :meth:`stop` then
    :meth:`start` (the device lost and back, its priority-arrays kept, as after a network
    outage), :attr:`delay_s` (every answer delayed: a slow device), :attr:`rpm` (False: no
    ReadPropertyMultiple), :meth:`point_object` and :meth:`setpoint_object` (the local
    bacpypes3 objects), :meth:`priority_array`.
    """

    def __init__(self, settings: BacnetSettings | None = None, *, address: str | None = None,
                 device_instance: int | None = None, controller_priority: int | None = None,
                 name: str = "coolpilot-twin") -> None:
        if settings is None:
            if address is None:
                raise ValueError("give settings or address ('127.0.0.1:PORT') for the twin's BACnet device")
            settings = BacnetSettings(device_address=address, local_port=0)
        host, port = _parse_host_port(address or settings.device_address, "twin device address", None)
        if host != "127.0.0.1":
            raise ValueError(f"the twin's BACnet device binds to 127.0.0.1 only, not {host}")
        self.settings = settings
        self.host, self.port = host, port
        self.device_instance = settings.device_instance if device_instance is None else device_instance
        self.controller_priority = settings.priority if controller_priority is None else controller_priority
        if not 1 <= self.controller_priority <= 16:
            raise ValueError(f"controller_priority = {self.controller_priority} must be in 1..16")
        self.name = name
        for pname, ref in settings.points.items():
            if ref.property != _PRESENT_VALUE:
                raise ValueError(f"the twin device serves present-value only; point {pname} reads {ref.property}")
            if ref.object_type == "analog-output":
                raise ValueError(f"the twin device serves points as analog-input or analog-value, not {ref}")
        self._delay_s = 0.0
        self._rpm = True
        self._app: Any = None
        self._twin: PlantTwin | None = None
        self._points: dict[str, Any] = {}
        self._setpoints: dict[str, Any] = {}

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` of the device."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """The device answers on its port."""
        return self._app is not None

    @property
    def delay_s(self) -> float:
        """Delay (s) before the device handles each request (0: none)."""
        return self._delay_s

    @delay_s.setter
    def delay_s(self, value: float) -> None:
        if not 0.0 <= value <= 60.0:
            raise ValueError(f"delay_s = {value} s must be in 0..60 s")
        self._delay_s = value
        if self._app is not None:
            self._app.delay_s = value

    @property
    def rpm(self) -> bool:
        """The device serves (and lists) ReadPropertyMultiple."""
        return self._rpm

    @rpm.setter
    def rpm(self, value: bool) -> None:
        self._rpm = value
        if self._app is not None:
            self._app.rpm = value

    def point_object(self, name: str) -> Any:
        """The local bacpypes3 object of a point (tests inspect or alter it); made at the first start."""
        if name not in self._points:
            raise KeyError(f"no object for point {name!r}; start() the device first")
        return self._points[name]

    def setpoint_object(self, name: str) -> Any:
        """The local commandable bacpypes3 object of a setpoint; made at the first start."""
        if name not in self._setpoints:
            raise KeyError(f"no object for setpoint {name!r}; start() the device first")
        return self._setpoints[name]

    def priority_array(self, name: str) -> list[float | None]:
        """The 16 slots of a setpoint's priority-array (None: empty), priority 1 first."""
        return [v if isinstance(v, float) or v is None else math.nan
                for v in (_python(pv) for pv in self.setpoint_object(name).priorityArray)]

    def present_value(self, name: str) -> float:
        """A setpoint object's present-value (its effective command, or the relinquish-default)."""
        return float(self.setpoint_object(name).presentValue)

    def relinquish_default(self, name: str) -> float:
        """A setpoint object's relinquish-default (the BMS's own value)."""
        return float(self.setpoint_object(name).relinquishDefault)

    async def start(self, twin: PlantTwin) -> None:
        """Bind 127.0.0.1:PORT and serve ``twin`` (objects made at the first start, kept afterwards)."""
        self._twin = twin
        if self._app is not None:
            return
        if not self._points:
            self._make_objects(twin)
        app = _app(self.name, self.device_instance, f"{self.host}/32:{self.port}", _TwinApplication)
        app.delay_s, app.rpm = self._delay_s, self._rpm
        for obj in [*self._points.values(), *self._setpoints.values()]:
            app.add_object(obj)
        await _ready(app, f"the twin's BACnet device on {self.address}")
        self._app = app
        log.info("twin BACnet device %d serving on %s", self.device_instance, self.address)

    def _make_objects(self, twin: PlantTwin) -> None:
        values = twin.sensor_values
        for name, ref in self.settings.points.items():
            spec = POINTS_BY_NAME[name]
            kind = _ReadOnlyAnalogInput if ref.object_type == "analog-input" else _ReadOnlyAnalogValue
            self._points[name] = kind(
                objectIdentifier=ref.object_id, objectName=name, description=spec.description,
                presentValue=values.get(name, math.nan), units=TWIN_UNITS[spec.unit], outOfService=False,
                reliability="no-fault-detected" if name in values else "no-sensor", eventState="normal",
                covIncrement=0.1)
        bms = twin.bms_setpoints
        for name, ref in self.settings.setpoints.items():
            sp = SETPOINTS_BY_NAME[name]
            command = _TwinAnalogValue if ref.object_type == "analog-value" else _TwinAnalogOutput
            obj = command(objectIdentifier=ref.object_id, objectName=f"{name}_sp", description=sp.description,
                          presentValue=bms[name], relinquishDefault=bms[name], units=TWIN_UNITS[sp.unit],
                          outOfService=False, eventState="normal", covIncrement=0.1,
                          minPresValue=sp.low, maxPresValue=sp.high)
            obj._on_command = self._command_hook(name)
            self._setpoints[name] = obj

    def _command_hook(self, name: str) -> Callable[[Any], None]:
        def on_command(obj: Any) -> None:
            twin = self._twin
            if twin is None:
                return
            slot = next((k for k, pv in enumerate(obj.priorityArray, start=1) if pv.null is None), None)
            if slot is None:
                twin.apply_setpoint(name, None)
            else:
                source = "controller" if slot == self.controller_priority else "operator"
                twin.apply_setpoint(name, float(obj.presentValue), source=source)
        return on_command

    async def publish(self, twin: PlantTwin) -> None:
        """Refresh points (unless the feed is paused) and relinquish-defaults from ``twin``."""
        self._twin = twin
        if not self._points:
            return
        if not twin.publishing_paused:
            values = twin.sensor_values
            for name, obj in self._points.items():
                if name in values:
                    obj.presentValue = values[name]
                    obj.reliability = "no-fault-detected"
                else:
                    obj.presentValue = math.nan
                    obj.reliability = "no-sensor"
        for name, default in twin.bms_setpoints.items():
            obj = self._setpoints.get(name)
            if obj is not None:
                obj.relinquishDefault = default
                Commandable.recalculating(obj)  # new present-value if nobody commands it; not a command

    def operator_write(self, name: str, value: float | None, priority: int) -> None:
        """Another writer (an operator's workstation) commands ``name`` at ``priority`` (None: relinquish)."""
        if not 1 <= priority <= 16:
            raise ValueError(f"priority {priority} must be in 1..16")
        obj = self.setpoint_object(name)
        obj.priorityArray[priority - 1] = PriorityValue(Null(()) if value is None else Real(value))

    async def stop(self) -> None:
        """Stop answering and release the port (idempotent); objects and priority-arrays are kept."""
        app, self._app = self._app, None
        if app is not None:
            for task in list(app.delayed):
                task.cancel()
            for obj in [*self._points.values(), *self._setpoints.values()]:
                app.delete_object(obj)
            await _close(app)
            log.info("twin BACnet device %d on %s stopped", self.device_instance, self.address)
