"""The BACnet/IP object map both ends share: settings, object references, priorities, units.

:class:`BacnetSettings` (``adapter.bacnet`` of a site file) names coolpilot's own device, the
remote device, timing, the write priority and the object of each point and setpoint of the
site's facility contract (:class:`ObjectRef`): by default all of them (without a contract,
the core block's); a site may leave
setpoints out (never written: the plant's own sequence runs them) and points the service does
not need (:mod:`coolpilot.controller.protocols.contract_maps`). The default map
(:data:`DEFAULT_POINT_OBJECTS`, :data:`DEFAULT_SETPOINT_OBJECTS`) is the one the plant twin's
device (:class:`coolpilot.controller.twin.bacnet_device.BacnetTwinDevice`) serves; instances are per
name in block order over every block, so the core block's keep analog-input 1…20 and
analog-value 1…4 whatever the facility. The client adapter
(:mod:`coolpilot.controller.adapters.bacnet`) describes what it does with each object.

Priorities refused in :class:`BacnetSettings` (Table 19-1 of ASHRAE 135): 1 manual
life safety, 2 automatic life safety, 5 critical equipment control, 6 minimum on/off (the
device's own minimum on/off timing), and 16, the lowest, where many BMS programs command
their own loops (relinquishing there would erase the site's own command). Usable: 3, 4,
7 and 8–15; 8 is "manual operator" in the table and the usual choice for a supervisory
controller, with the site's operators above it at 3–4 or 7.

Loopback (tests, the twin): two bacpypes3 applications on one host need distinct UDP
ports on 127.0.0.1; the same port on 127.0.0.1 and 127.0.0.2 does not work in bacpypes3
0.0.110 (a 127.x destination on its own port is taken for itself), so the settings refuse
it. bacpypes3 binds with SO_REUSEPORT: a port clash does not fail but shares traffic, so
each device needs a port of its own.

This module imports no protocol library (property identifiers are checked against
:mod:`coolpilot.controller.protocols.bacnet_properties`), so a site file parses without bacpypes3.
"""

from __future__ import annotations

import builtins
import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from coolpilot.controller.protocols.bacnet_properties import PROPERTY_IDENTIFIERS
from coolpilot.controller.protocols.contract_maps import (
    ALL_POINTS,
    ALL_SETPOINTS,
    check_names,
    context_contract,
    with_contract_defaults,
)
from coolpilot.envs.contract import CORE_CONTRACT, Contract

BACNET_PORT = 47808
"""UDP port of BACnet/IP (0xBAC0)."""
MAX_INSTANCE = 4194302
"""Largest object instance (4194303 is the wildcard)."""
DEFAULT_DEVICE_INSTANCE = 1000
"""Device instance of the plant twin's device (:class:`~coolpilot.controller.twin.bacnet_device.BacnetTwinDevice`), the
default remote."""
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
    "min": ("minutes",),
}
"""Contract unit -> BACnet engineering units the adapter accepts for it (no conversion is made).

A contract unit BACnet has no engineering unit for (a price per MWh, a carbon factor in t/MWh)
is carried as ``no-units`` (:func:`bacnet_units`)."""
TWIN_UNITS: dict[str, str] = {"°C": "degrees-celsius", "kW": "kilowatts", "%": "percent-relative-humidity",
                              "1": "no-units", "min": "minutes"}
"""Engineering units the twin device gives its objects, per contract unit (others: ``no-units``)."""


def bacnet_units(unit: str) -> tuple[str, ...]:
    """The BACnet engineering units accepted for contract unit ``unit`` (``no-units`` where BACnet has none)."""
    return UNITS.get(unit, ("no-units",))


def twin_units(unit: str) -> str:
    """The engineering units the twin device gives an object of contract unit ``unit``."""
    return TWIN_UNITS.get(unit, "no-units")

PRESENT_VALUE = "present-value"
STATUS_FLAGS = "status-flags"
PRIORITY_ARRAY = "priority-array"
UNITS_PROPERTY = "units"
"""Properties coolpilot reads or writes, by their standard names."""

PROPERTY_NAMES: dict[int, str] = {number: name for number, (name, _) in PROPERTY_IDENTIFIERS.items()}
"""Standard name (``present-value``) of every property identifier, by number."""
PROPERTY_NUMBERS: dict[str, int] = {
    name: number for number, names in PROPERTY_IDENTIFIERS.items() for name in names}
"""Number of every property identifier, by its standard and its camelCase name (``presentValue``)."""


def property_name(value: str) -> str:
    """The standard name of a property identifier given by name (either form) or number (``"85"``).

    Numbers without a standard name (proprietary ones, 512 and up) stay numbers, as bacpypes3
    names them; :class:`ValueError` for anything else.
    """
    number = PROPERTY_NUMBERS.get(value)
    if number is None:
        try:
            number = int(value, 0)
        except ValueError:
            number = None
    if number is None or number < 0:
        raise ValueError(f"{value!r} is not a BACnet property identifier (e.g. present-value)")
    return PROPERTY_NAMES.get(number, str(number))


class ObjectRef(BaseModel):
    """One property of one BACnet object of the remote device, e.g. ``analog-input 7 present-value``.

    In YAML either a mapping (``{object_type: analog-input, instance: 7}``) or the short form
    ``"analog-input,7"`` (``present-value``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    object_type: ObjectType = Field(description="BACnet object type (analog-input, analog-value, analog-output).")
    instance: int = Field(ge=0, le=MAX_INSTANCE, description="Object instance number on the device.")
    property: str = Field(PRESENT_VALUE, description="Property read (points) or written (setpoints: present-value "
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
        return property_name(value)

    @builtins.property  # the field "property" shadows the builtin in this class body
    def object_id(self) -> str:
        """``type,instance`` as bacpypes3 parses it."""
        return f"{self.object_type},{self.instance}"

    def __str__(self) -> str:
        return f"{self.object_type} {self.instance} {self.property}"


DEFAULT_POINT_OBJECTS: dict[str, ObjectRef] = {
    name: ObjectRef(object_type="analog-input", instance=i) for i, name in enumerate(ALL_POINTS, start=1)}
"""The default point map: ``analog-input`` 1, 2, … over every block's points in block order (core: 1…20)."""
DEFAULT_SETPOINT_OBJECTS: dict[str, ObjectRef] = {
    name: ObjectRef(object_type="analog-value", instance=i) for i, name in enumerate(ALL_SETPOINTS, start=1)}
"""The default setpoint map: commandable ``analog-value`` 1, 2, … over every block's setpoints (core: 1…4)."""


def default_point_objects(contract: Contract) -> dict[str, ObjectRef]:
    """The default objects of ``contract``'s points."""
    return {n: DEFAULT_POINT_OBJECTS[n] for n in contract.point_names}


def default_setpoint_objects(contract: Contract) -> dict[str, ObjectRef]:
    """The default objects of ``contract``'s setpoints."""
    return {n: DEFAULT_SETPOINT_OBJECTS[n] for n in contract.setpoint_names}


def parse_host_port(value: str, what: str, default_port: int | None = BACNET_PORT) -> tuple[str, int]:
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

    ``BacnetSettings(device_address="127.0.0.1:47809")`` reaches a
    :class:`~coolpilot.controller.twin.bacnet_device.BacnetTwinDevice` there with the default object map.
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
    points: dict[str, ObjectRef] = Field(default_factory=lambda: default_point_objects(CORE_CONTRACT),
                                         description="Object of each point read (default: every point of the site's "
                                                     "facility contract at its default object).")
    setpoints: dict[str, ObjectRef] = Field(default_factory=lambda: default_setpoint_objects(CORE_CONTRACT),
                                            description="Commandable object of each setpoint written (default: every "
                                                        "setpoint of the site's facility contract); a setpoint not "
                                                        "mapped is never written: the plant's own sequence runs it.")

    @model_validator(mode="before")
    @classmethod
    def _contract_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        return with_contract_defaults(data, info, {"points": default_point_objects,
                                                   "setpoints": default_setpoint_objects})

    @field_validator("device_address")
    @classmethod
    def _valid_device_address(cls, value: str) -> str:
        host, port = parse_host_port(value, "device_address")
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
    def _known_points(cls, value: dict[str, ObjectRef], info: ValidationInfo) -> dict[str, ObjectRef]:
        check_names("point", value, context_contract(info))
        return value

    @field_validator("setpoints")
    @classmethod
    def _known_setpoints(cls, value: dict[str, ObjectRef], info: ValidationInfo) -> dict[str, ObjectRef]:
        check_names("setpoint", value, context_contract(info))
        for name, ref in value.items():
            if ref.object_type not in COMMANDABLE_TYPES:
                raise ValueError(f"setpoint {name} is mapped to {ref.object_type} {ref.instance}, which is not "
                                 f"commandable: use one of {list(COMMANDABLE_TYPES)}")
            if ref.property != PRESENT_VALUE:
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
    def point_names(self) -> tuple[str, ...]:
        """The points this map reads."""
        return tuple(self.points)

    @property
    def setpoint_names(self) -> tuple[str, ...]:
        """The setpoints this map writes."""
        return tuple(self.setpoints)

    @property
    def request_bound_s(self) -> float:
        """Longest a single request may take before it is abandoned (s): every try, plus a margin."""
        return self.timeout_s * (self.retries + 1) + 0.5
