"""The plant twin: the simulator behind the site's own protocol, for tests, dry runs and commissioning.

- :mod:`coolpilot.controller.twin.plant`: :class:`PlantTwin`, the plant and the site's BMS stepped tick
  by tick, publishing its points over MQTT and through protocol frontends;
- :mod:`coolpilot.controller.twin.modbus_server`: ``ModbusTwinServer``, the twin as a Modbus TCP device;
- :mod:`coolpilot.controller.twin.bacnet_device`: ``BacnetTwinDevice``, the twin as a BACnet/IP device.

The device simulators are imported from their own modules, so that a twin loads only the
protocol stack it serves; what they share with the client adapters (register and object
maps, encoding) is in :mod:`coolpilot.controller.protocols`.
"""

from coolpilot.controller.twin.plant import (
    PlantTwin,
    ReceivedSetpoint,
    TickRecord,
    TwinFrontend,
    parse_setpoint_payload,
)

__all__ = ["PlantTwin", "ReceivedSetpoint", "TickRecord", "TwinFrontend", "parse_setpoint_payload"]
