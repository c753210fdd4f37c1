"""The plant twin as a BACnet/IP device (bacpypes3): the object map of a site, served on 127.0.0.1.

:class:`BacnetTwinDevice` is a :class:`~coolpilot.controller.twin.plant.TwinFrontend`: read-only analog
objects for the points, commandable ones with a 16-slot priority-array for the setpoints, as
a plant controller exposes them, so that a commissioning dry run exercises exactly the
objects (and the command prioritization) the real site will use. The object map is shared
with the client adapter (:mod:`coolpilot.controller.adapters.bacnet`) through
:mod:`coolpilot.controller.protocols.bacnet`; the bacpypes3 plumbing through
:mod:`coolpilot.controller.protocols.bacnet_stack`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bacpypes3.app import Application
from bacpypes3.basetypes import PriorityValue, ServicesSupported
from bacpypes3.errors import UnrecognizedService
from bacpypes3.local.analog import AnalogInputObject, AnalogOutputObject, AnalogValueObject, AnalogValueObjectCmd
from bacpypes3.local.cmd import Commandable
from bacpypes3.local.oos import OutOfService
from bacpypes3.primitivedata import Null, Real

from coolpilot.controller.protocols.bacnet import PRESENT_VALUE, BacnetSettings, parse_host_port, twin_units
from coolpilot.controller.protocols.bacnet_stack import close_app, make_app, to_python, wait_ready
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.envs.contract import POINTS_BY_NAME, SETPOINTS_BY_NAME

if TYPE_CHECKING:
    from coolpilot.controller.twin.plant import PlantTwin

log = logging.getLogger(__name__)


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
    """The plant twin as a BACnet/IP device on 127.0.0.1 (a :class:`~coolpilot.controller.twin.plant.TwinFrontend`).

    Serves the object map of ``settings`` (default:
    :data:`~coolpilot.controller.protocols.bacnet.DEFAULT_POINT_OBJECTS`,
    :data:`~coolpilot.controller.protocols.bacnet.DEFAULT_SETPOINT_OBJECTS`) as device ``device_instance``
    at ``settings.device_address``; ``address`` (``"127.0.0.1:PORT"``) and ``device_instance``
    override them. Only 127.0.0.1 and a fixed port: the adapter must know where to find it. At
    the first :meth:`start` the map is validated against the twin's facility contract
    (:func:`~coolpilot.controller.protocols.contract_maps.for_contract`): a map not given serves
    every point and setpoint of the facility, a map given must name only the facility's.

    Points: read-only analog inputs (or analog values) in the contract's units, refreshed by
    :meth:`publish` from :attr:`PlantTwin.sensor_values` after every tick (not while
    :attr:`PlantTwin.publishing_paused`: the values go stale). A dropped point's object
    reports reliability ``no-sensor`` (status-flags fault) and a NaN present-value until
    restored; an injected NaN is served as a NaN with no fault.

    Setpoints: commandable analog values (or outputs) with a 16-slot priority-array, whose
    relinquish-default is the site's own setpoint (:attr:`PlantTwin.bms_setpoints`: the BMS's
    loops, or for a plant lever its own local sequence) refreshed
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
        host, port = parse_host_port(address or settings.device_address, "twin device address", None)
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
            if ref.property != PRESENT_VALUE:
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
                for v in (to_python(pv) for pv in self.setpoint_object(name).priorityArray)]

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
            self.settings = for_contract(self.settings, twin.contract)
            self._make_objects(twin)
        app = make_app(self.name, self.device_instance, f"{self.host}/32:{self.port}", _TwinApplication)
        app.delay_s, app.rpm = self._delay_s, self._rpm
        for obj in [*self._points.values(), *self._setpoints.values()]:
            app.add_object(obj)
        await wait_ready(app, f"the twin's BACnet device on {self.address}")
        self._app = app
        log.info("twin BACnet device %d serving on %s", self.device_instance, self.address)

    def _make_objects(self, twin: PlantTwin) -> None:
        values = twin.sensor_values
        for name, ref in self.settings.points.items():
            spec = POINTS_BY_NAME[name]
            kind = _ReadOnlyAnalogInput if ref.object_type == "analog-input" else _ReadOnlyAnalogValue
            self._points[name] = kind(
                objectIdentifier=ref.object_id, objectName=name, description=spec.description,
                presentValue=values.get(name, math.nan), units=twin_units(spec.unit), outOfService=False,
                reliability="no-fault-detected" if name in values else "no-sensor", eventState="normal",
                covIncrement=0.1)
        bms = twin.bms_setpoints
        for name, ref in self.settings.setpoints.items():
            sp = SETPOINTS_BY_NAME[name]
            command = _TwinAnalogValue if ref.object_type == "analog-value" else _TwinAnalogOutput
            obj = command(objectIdentifier=ref.object_id, objectName=f"{name}_sp", description=sp.description,
                          presentValue=bms[name], relinquishDefault=bms[name], units=twin_units(sp.unit),
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
            await close_app(app)
            log.info("twin BACnet device %d on %s stopped", self.device_instance, self.address)
