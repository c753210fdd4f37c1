"""One interface for every way the controller reaches a plant: read points, write setpoints, relinquish.

An adapter maps the contract's names (``coolpilot.envs.contract``) to the site's addresses (MQTT
topics, Modbus registers, BACnet objects, CSV columns); the service never sees addresses.
Readings carry a time per point so the safety envelope can tell a live value from a
stale one. Writes report, per setpoint, whether the plant accepted them, so a refused
write (an MQTT v5 PUBACK with a failure code, a Modbus exception, a BACnet error) is
visible in the audit trail instead of silently lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class AdapterError(RuntimeError):
    """The plant cannot be reached (connection lost, broker down); the service retries."""


@dataclass(frozen=True)
class Reading:
    """The latest value of every point the adapter knows, and when each was measured.

    ``values`` holds what arrived, unvalidated (a float, None, NaN, a string from a broken
    gateway): validation is the safety envelope's job. ``times_s`` is the unix time (s) of
    each value; a point never received is absent from both.
    """

    values: dict[str, object] = field(default_factory=dict)
    times_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteResult:
    """Per setpoint: accepted by the plant, or the reason it was refused."""

    accepted: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every write accepted."""
        return all(self.accepted.values()) and not self.errors


@runtime_checkable
class Adapter(Protocol):
    """What the control loop needs from a plant connection (all methods are coroutines)."""

    name: str

    async def connect(self) -> None:
        """Open the connection; raise :class:`AdapterError` if the plant cannot be reached."""
        ...

    async def read_points(self) -> Reading:
        """The latest readings (never blocks longer than the adapter's timeout)."""
        ...

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        """Write setpoints (contract names, physical units); returns what was accepted."""
        ...

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        """Hand the named setpoints back to the site's own control."""
        ...

    async def close(self) -> None:
        """Release the connection (idempotent)."""
        ...
