"""The plant twin as a Modbus TCP device (pymodbus 3.16 server): the register map of a site, served on loopback.

:class:`ModbusTwinServer` is a :class:`~coolpilot.controller.twin.plant.TwinFrontend`: it serves a
:class:`~coolpilot.controller.twin.plant.PlantTwin` with the register map of a
:class:`~coolpilot.controller.protocols.modbus.ModbusSettings` (the default map, or a site file's), so a
commissioning dry run exercises exactly the registers the real site will use. The map and the
encoding of values are shared with the client adapter (:mod:`coolpilot.controller.adapters.modbus`)
through :mod:`coolpilot.controller.protocols.modbus`.

pymodbus API notes (pinned ``pymodbus==3.16.1``): the server is built from
:mod:`pymodbus.simulator` ``SimDevice``/``SimData`` (the datastore contexts are deprecated);
every datastore access passes one ``action`` callback, which checks, delays and applies requests.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.protocols.modbus import (
    TYPE_RANGE,
    ModbusSettings,
    RegisterMap,
    decode,
    encode,
    encode_setpoint,
    raw_to_registers,
)
from coolpilot.envs.contract import SETPOINTS_BY_NAME

if TYPE_CHECKING:
    from coolpilot.controller.twin.plant import PlantTwin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Owner:
    """What a register or coil of the twin server belongs to."""

    kind: Literal["point", "setpoint", "enable"]
    name: str
    first: int
    words: int


_READ_CODES = {3: "holding", 4: "input"}
_CLIENT_WRITE_CODES = {5, 6, 15, 16}


class ModbusTwinServer:
    """The plant twin (:class:`~coolpilot.controller.twin.plant.PlantTwin`) as a Modbus TCP device: a ``TwinFrontend``.

    Serves the register map of ``settings`` (input and holding registers, and coils for the
    enables) on ``host:port`` (default the settings'; port 0 picks a free one, see
    :attr:`port`). At the first :meth:`start` the map is validated against the twin's facility
    contract (:func:`~coolpilot.controller.protocols.contract_maps.for_contract`): a map not given
    serves every point and setpoint of the facility, a map given must name only the facility's.
    Unmapped addresses answer ``02 ILLEGAL DATA ADDRESS``, as do writes to point registers and
    writes that cover only part of a 32-bit value; a setpoint value that is not finite, or an
    enable other than 0/1, answers ``03 ILLEGAL DATA VALUE`` (counted in ``twin.invalid_writes``).

    Setpoint registers start at the site's own setpoints (:attr:`PlantTwin.bms_setpoints`) and
    hold the last value written. A value
    written to a setpoint whose enable is 1 (or that has no enable) goes to
    :meth:`PlantTwin.apply_setpoint` at once; with the enable at 0 it is stored, and applied
    when the enable goes to 1. Enable 1 → 0 relinquishes to the BMS.

    :meth:`publish` writes :attr:`PlantTwin.sensor_values` into the point registers (nothing
    while the feed is paused). A dropped or NaN point shows NaN in a float32; integer types
    cannot carry NaN, so their registers keep the last value (stale, as many devices do).
    Values beyond an integer type's range saturate at its limits.

    Fault hooks: :meth:`slow` (answer every request late), :meth:`go_offline` /
    :meth:`go_online` (device lost and back on the same port). ``requests`` counts
    requests received per function code, ``exception_responses`` exceptions sent per code.
    """

    def __init__(self, settings: ModbusSettings | None = None, host: str | None = None,
                 port: int | None = None) -> None:
        self.settings = settings or ModbusSettings()
        self.host = host or self.settings.host
        self.port = self.settings.port if port is None else port
        """The port served (the one picked when started with port 0)."""
        self.requests: Counter[int] = Counter()
        self.exception_responses: Counter[int] = Counter()
        self._delay_s = 0.0
        self._twin: PlantTwin | None = None
        self._server: ModbusTcpServer | None = None
        self._owners: dict[tuple[int, str], dict[int, _Owner]] = {}
        self._enabled: dict[str, bool] = {}
        self._setpoint_raw: dict[str, list[int]] = {}
        self._point_raw: dict[str, list[int]] = {}

    @property
    def serving(self) -> bool:
        """Listening for connections now."""
        return self._server is not None

    @property
    def enabled(self) -> dict[str, bool]:
        """Remote-setpoint enable per setpoint served (True: the controller's value is in force; empty before
        the first :meth:`start`)."""
        return dict(self._enabled)

    def _unit(self, reg: RegisterMap) -> int:
        return reg.unit(self.settings.unit_id)

    def _build_owners(self) -> None:
        def own(unit: int, table: str, first: int, words: int, kind: Literal["point", "setpoint", "enable"],
                name: str) -> None:
            cells = self._owners.setdefault((unit, table), {})
            for address in range(first, first + words):
                cells[address] = _Owner(kind, name, first, words)

        for name, reg in self.settings.points.items():
            own(self._unit(reg), reg.table, reg.address, reg.words, "point", name)
        for name, sp in self.settings.setpoints.items():
            own(self._unit(sp), "holding", sp.address, sp.words, "setpoint", name)
            if sp.enable is not None:
                own(self._unit(sp), sp.enable.table, sp.enable.address, 1, "enable", name)

    def _devices(self) -> list[SimDevice]:
        """One simulated device per unit id, with a register (or coil) for every mapped address."""
        devices = []
        for unit in sorted({u for u, _ in self._owners}):
            tables: dict[str, list[SimData]] = {"coil": [], "discrete": [], "holding": [], "input": []}
            for table in ("coil", "holding", "input"):
                for address in sorted(self._owners.get((unit, table), {})):
                    if table == "coil":
                        tables[table].append(SimData(address, values=[False], datatype=SimType.BITS))
                    else:
                        tables[table].append(SimData(address, values=[0], datatype=SimType.REGISTERS))
            for table in ("coil", "discrete"):  # pymodbus needs one entry per table; the action refuses them
                if not tables[table]:
                    tables[table].append(SimData(0, values=[False], datatype=SimType.BITS))
            for table in ("holding", "input"):
                if not tables[table]:
                    tables[table].append(SimData(0, datatype=SimType.INVALID))
            simdata = (tables["coil"], tables["discrete"], tables["holding"], tables["input"])
            devices.append(SimDevice(id=unit, simdata=simdata, action=self._action_for(unit)))
        return devices

    # TwinFrontend.

    async def start(self, twin: PlantTwin) -> None:
        """Serve ``twin``: the map fitted to its contract, setpoint registers at its site's setpoints, enables at 0."""
        self._twin = twin
        if not self._owners:
            self.settings = for_contract(self.settings, twin.contract)
            self._enabled = dict.fromkeys(self.settings.setpoints, False)
            self._build_owners()
        bms = twin.bms_setpoints
        for name, sp in self.settings.setpoints.items():
            if name not in self._setpoint_raw:
                spec = SETPOINTS_BY_NAME[name]
                self._setpoint_raw[name] = encode_setpoint(min(max(bms[name], spec.low), spec.high), sp, spec.low,
                                                           spec.high)
        await self.go_online()

    async def publish(self, twin: PlantTwin) -> None:
        """Write the sensors' values into the point registers (unless the feed is paused)."""
        if twin.publishing_paused:
            return
        values = twin.sensor_values
        for name, reg in self.settings.points.items():
            registers = _point_registers(values.get(name, math.nan), reg)
            if registers is None:
                continue
            self._point_raw[name] = registers
            if self._server is not None:
                await self._server.async_setValues(self._unit(reg), 4 if reg.table == "input" else 3, reg.address,
                                                   registers)

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        await self.go_offline()

    # Fault hooks.

    def slow(self, delay_s: float) -> None:
        """Answer every request ``delay_s`` late (0: normal again)."""
        if not delay_s >= 0.0:
            raise ValueError(f"delay_s = {delay_s} s must be ≥ 0")
        self._delay_s = delay_s

    async def go_offline(self) -> None:
        """Close the listener and every connection: the device is lost (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()

    async def go_online(self) -> None:
        """Listen again on :attr:`port`, with the registers as they were (the device is back)."""
        if self._server is not None:
            return
        server = ModbusTcpServer(self._devices(), address=(self.host, self.port), trace_pdu=self._trace)
        await server.serve_forever(background=True)
        listener: Any = server.transport
        self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        for name, sp in self.settings.setpoints.items():
            unit = self._unit(sp)
            await server.async_setValues(unit, 3, sp.address, self._setpoint_raw[name])
            if sp.enable is not None:
                on = self._enabled[name]
                if sp.enable.table == "coil":
                    await server.async_setValues(unit, 1, sp.enable.address, [on])
                else:
                    await server.async_setValues(unit, 3, sp.enable.address, [int(on)])
        for name, registers in self._point_raw.items():
            reg = self.settings.points[name]
            await server.async_setValues(self._unit(reg), 4 if reg.table == "input" else 3, reg.address, registers)
        log.info("Modbus twin serving on %s:%d", self.host, self.port)

    # Requests.

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests[pdu.function_code] += 1
        elif pdu.isError():
            self.exception_responses[pdu.exception_code] += 1
        return pdu

    def _action_for(self, unit: int) -> Callable[..., Coroutine[Any, Any, ExcCodes | None]]:
        async def action(function_code: int, start_address: int, address: int, count: int,
                         registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
            return await self._on_request(unit, function_code, address, count, set_values)

        return action

    async def _on_request(self, unit: int, code: int, address: int, count: int,
                          values: list[int] | list[bool] | None) -> ExcCodes | None:
        """Gatekeeper of every datastore access: our own updates pass, requests are checked (and delayed)."""
        if values is not None and code not in _CLIENT_WRITE_CODES:
            return None  # publish() or go_online() updating the registers
        if values is None and code in (5, 6):
            return None  # pymodbus reads back a single write to answer it
        if self._delay_s > 0.0:
            await asyncio.sleep(self._delay_s)
        if code in _READ_CODES:
            cells = self._owners.get((unit, _READ_CODES[code]), {})
            return None if all(a in cells for a in range(address, address + count)) else ExcCodes.ILLEGAL_ADDRESS
        if code == 1:
            return None if address in self._owners.get((unit, "coil"), {}) else ExcCodes.ILLEGAL_ADDRESS
        if code in (5, 15) and values is not None:
            return self._write_coils(unit, address, [bool(v) for v in values])
        if code in (6, 16) and values is not None:
            return self._write_holding(unit, address, [int(v) for v in values])
        return ExcCodes.ILLEGAL_ADDRESS if code == 2 else ExcCodes.ILLEGAL_FUNCTION

    def _write_coils(self, unit: int, address: int, bits: list[bool]) -> ExcCodes | None:
        cells = self._owners.get((unit, "coil"), {})
        owners = [cells.get(address + i) for i in range(len(bits))]
        if any(o is None for o in owners):
            return ExcCodes.ILLEGAL_ADDRESS
        for owner, bit in zip(owners, bits, strict=True):
            assert owner is not None
            self._set_enabled(owner.name, bit)
        return None

    def _write_holding(self, unit: int, address: int, words: list[int]) -> ExcCodes | None:
        cells = self._owners.get((unit, "holding"), {})
        end = address + len(words)
        owners: dict[tuple[str, str], _Owner] = {}
        for a in range(address, end):
            owner = cells.get(a)
            if owner is None or owner.kind == "point":
                return ExcCodes.ILLEGAL_ADDRESS
            owners[(owner.kind, owner.name)] = owner
        if any(o.first < address or o.first + o.words > end for o in owners.values()):
            return ExcCodes.ILLEGAL_ADDRESS  # part of a 32-bit value
        new_values: dict[str, tuple[list[int], float]] = {}
        enables: dict[str, bool] = {}
        for (kind, name), owner in sorted(owners.items(), key=lambda item: item[1].first):
            part = words[owner.first - address : owner.first - address + owner.words]
            if kind == "setpoint":
                value = decode(part, self.settings.setpoints[name])
                if not math.isfinite(value):
                    return self._invalid(f"setpoint {name} = {value}")
                new_values[name] = (part, value)
            elif part[0] in (0, 1):
                enables[name] = part[0] == 1
            else:
                return self._invalid(f"enable of {name} = {part[0]} (allowed 0 or 1)")
        for name, (part, value) in new_values.items():
            self._setpoint_raw[name] = part
            if self.settings.setpoints[name].enable is None or self._enabled[name]:
                self._to_twin(name, value)
        for name, on in enables.items():
            self._set_enabled(name, on)
        return None

    def _invalid(self, what: str) -> ExcCodes:
        log.warning("Modbus twin refused a write: %s", what)
        if self._twin is not None:
            self._twin.invalid_writes += 1
        return ExcCodes.ILLEGAL_VALUE

    def _set_enabled(self, name: str, on: bool) -> None:
        """Apply an enable write: 0 → 1 puts the stored value in force, 1 → 0 relinquishes."""
        was = self._enabled[name]
        self._enabled[name] = on
        if on and not was:
            self._to_twin(name, decode(self._setpoint_raw[name], self.settings.setpoints[name]))
        elif was and not on:
            self._to_twin(name, None)

    def _to_twin(self, name: str, value: float | None) -> None:
        """Hand a received setpoint (None: relinquish) to the twin's BMS, which clamps and records it."""
        if self._twin is not None:
            self._twin.apply_setpoint(name, value)


def _point_registers(value: float, reg: RegisterMap) -> list[int] | None:
    """Registers showing ``value``: NaN as NaN in a float32, beyond the type's range saturated at its limits.

    None for NaN in an integer type, which cannot show it: the registers keep their last value.
    """
    if not math.isfinite(value):
        return encode(math.nan, reg) if reg.type == "float32" else None
    raw = (value - reg.offset) / reg.scale
    lo, hi = TYPE_RANGE[reg.type]
    raw = min(max(raw if reg.type == "float32" else float(round(raw)), lo), hi)
    return raw_to_registers(raw, reg)
