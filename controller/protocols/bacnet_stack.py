"""bacpypes3 plumbing both BACnet/IP ends use: an application on one UDP port, opened and closed in
bounded time, and bacpypes3 values as plain Python.

The client adapter (:mod:`coolpilot.controller.adapters.bacnet`) and the plant twin's device
(:mod:`coolpilot.controller.twin.bacnet_device`) are each one bacpypes3 application with a device
object and one BACnet/IP network port. This module imports bacpypes3; the object map they
share (:mod:`coolpilot.controller.protocols.bacnet`) does not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bacpypes3.app import Application
from bacpypes3.basetypes import PriorityValue
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.primitivedata import BitString, Boolean, Enumerated

from coolpilot.controller.adapters.base import AdapterError

READY_TIMEOUT_S = 5.0
"""Longest wait for a bacpypes3 application's UDP socket to open."""


@dataclass(frozen=True)
class Failure:
    """A property the device would not give (a BACnet error, reject or abort), with the reason."""

    reason: str


def to_python(value: Any) -> object:
    """A bacpypes3 value as plain Python: float, bool, str (enumerations), tuple of bits, list (arrays), Failure.

    A priority-array slot becomes its value (a float for numbers) or None when empty.
    """
    if isinstance(value, PriorityValue):
        return None if value.null is not None else to_python(getattr(value, value._choice))
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
        return [to_python(v) for v in value]
    return str(value)


def make_app(name: str, instance: int, address: str, app_class: type[Any] = Application) -> Any:
    """A bacpypes3 application (must run inside the event loop) with a device object and one BACnet/IP port.

    ``address`` is ``a.b.c.d/prefix:port``. The UDP socket opens in a background task: await
    :func:`wait_ready` before use, and close with :func:`close_app`.
    """
    device = DeviceObject(objectIdentifier=("device", instance), objectName=name)
    port = NetworkPortObject(address, objectIdentifier=("network-port", 1), objectName="NetworkPort-1",
                             networkNumber=0, networkNumberQuality="unknown")
    return app_class.from_object_list([device, port])


def _servers(app: Any) -> list[Any]:
    """The UDP servers of ``app``'s link layers (bacpypes3 internals: ``IPv4DatagramServer``)."""
    return [ll.server for ll in app.link_layers.values()]


async def wait_ready(app: Any, what: str) -> None:
    """Wait (bounded) until ``app``'s UDP sockets are open, or close it and raise :class:`AdapterError`."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            for server in _servers(app):
                await server._local_transport_ready.wait()
                await asyncio.gather(*server._transport_tasks)
    except TimeoutError:
        await close_app(app)
        raise AdapterError(f"{what}: could not open the UDP socket within {READY_TIMEOUT_S:g} s (is the address "
                           "one of this host's?)") from None


async def close_app(app: Any) -> None:
    """Close ``app``'s sockets and let the loop release them (the port is free when this returns)."""
    for server in _servers(app):
        for task in server._transport_tasks:
            task.cancel()
    app.close()
    for _ in range(3):  # transports close on a later loop iteration
        await asyncio.sleep(0)
