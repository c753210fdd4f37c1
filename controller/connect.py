"""Build a site's plant connection from its adapter section: the adapter for ``coolpilot serve``,
and the matching simulated plant for ``coolpilot twin --site``.

One site file configures both ends of the loop, so a commissioning dry run against the
twin exercises exactly the topics, registers or objects that the real site will use.
Parsing the site file imports no protocol library (:mod:`coolpilot.controller.protocols`); the
adapter and the twin's device simulator import the one stack of the kind in use, here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coolpilot.controller.adapters.base import Adapter

if TYPE_CHECKING:
    from coolpilot.controller.site import AdapterSection
    from coolpilot.controller.twin import PlantTwin


def build_adapter(section: AdapterSection) -> Adapter:
    """The adapter named by ``section.kind`` with its settings."""
    if section.kind == "mqtt":
        from coolpilot.controller.adapters.mqtt import MqttAdapter

        return MqttAdapter(section.mqtt)
    if section.kind == "modbus":
        from coolpilot.controller.adapters.modbus import ModbusAdapter

        return ModbusAdapter(section.modbus)
    if section.kind == "bacnet":
        from coolpilot.controller.adapters.bacnet import BacnetAdapter

        assert section.bacnet is not None  # the site file's validator guarantees it
        return BacnetAdapter(section.bacnet)
    from coolpilot.controller.adapters.csv_replay import CsvReplayAdapter

    assert section.csv is not None
    return CsvReplayAdapter(section.csv.path)


def twin_for_site(section: AdapterSection, **twin_args: Any) -> PlantTwin:
    """A :class:`~coolpilot.controller.twin.plant.PlantTwin` speaking the site's protocol at the site's addresses.

    ``twin_args`` go to :class:`PlantTwin` (facility, climate, start_day, dt_s, seed, speed,
    tick_s). MQTT: the same broker and topics; Modbus TCP: a server with the site's register
    map on its host and port; BACnet/IP: a device with the site's object map at its
    ``device_address`` (127.0.0.1 only). A CSV replay site has no plant to simulate.
    """
    from coolpilot.controller.twin import PlantTwin

    if section.kind == "mqtt":
        return PlantTwin(mqtt=section.mqtt, **twin_args)
    if section.kind == "modbus":
        from coolpilot.controller.twin.modbus_server import ModbusTwinServer

        return PlantTwin(frontends=[ModbusTwinServer(section.modbus)], **twin_args)
    if section.kind == "bacnet":
        from coolpilot.controller.twin.bacnet_device import BacnetTwinDevice

        return PlantTwin(frontends=[BacnetTwinDevice(section.bacnet)], **twin_args)
    raise ValueError("adapter.kind is csv: a CSV replay has no plant to simulate; use mqtt, modbus or bacnet")
