"""What both ends of a plant connection share, per protocol: settings, point maps, encoding.

The client adapters (:mod:`coolpilot.controller.adapters`) and the plant twin's device simulators
(:mod:`coolpilot.controller.twin`) are the two ends; a site file's ``adapter`` section configures both.

- :mod:`~coolpilot.controller.protocols.mqtt`: broker settings and the topic of every point and setpoint;
- :mod:`~coolpilot.controller.protocols.modbus`: the register map, data types and their encoding;
- :mod:`~coolpilot.controller.protocols.bacnet`: the object map, write priority and engineering units
  (with :mod:`~coolpilot.controller.protocols.bacnet_properties`, the property identifiers);
- :mod:`~coolpilot.controller.protocols.bacnet_stack`: the bacpypes3 plumbing both BACnet ends use;
- :mod:`~coolpilot.controller.protocols.contract_maps`: how every map follows the site's facility
  contract (defaults, names refused outside it).

All but ``bacnet_stack`` import no protocol library (Python, numpy and pydantic only), so
loading a site file imports none of paho-mqtt, pymodbus or bacpypes3: a connection imports
the one stack it uses when it is built (:mod:`coolpilot.controller.connect`).
"""

from coolpilot.controller.protocols.bacnet import BacnetSettings, ObjectRef
from coolpilot.controller.protocols.modbus import EnableMap, ModbusSettings, RegisterMap, SetpointRegisterMap
from coolpilot.controller.protocols.mqtt import MqttSettings, MqttTls

__all__ = ["BacnetSettings", "EnableMap", "ModbusSettings", "MqttSettings", "MqttTls", "ObjectRef", "RegisterMap",
           "SetpointRegisterMap"]
