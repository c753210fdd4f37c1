"""Modbus TCP adapter (pymodbus 3.16): points from input/holding registers, setpoints to holding registers.

The register map (:class:`~coolpilot.controller.protocols.modbus.ModbusSettings`, ``adapter.modbus`` of
a site file), its validation and the encoding of values live in :mod:`coolpilot.controller.protocols.modbus`,
shared with the plant twin's Modbus device (:mod:`coolpilot.controller.twin.modbus_server`).

Reading: points are read in blocks, one request per run of registers of the same unit and
table that are adjacent (or at most ``max_gap_registers`` apart) and span at most
``max_registers_per_read`` (≤ 125, the protocol's limit). Each value is stamped with the
unix time its block's answer arrived. A block the device refuses (a Modbus exception
response) leaves its points out of the reading, which the safety envelope treats as
missing; a float32 NaN passes through as NaN.

Writing: one ``write_registers`` (function 16) per setpoint, so a refusal is reported per
setpoint in :attr:`WriteResult.errors` with the Modbus exception code and name (e.g.
``02 ILLEGAL DATA ADDRESS``). Values outside the contract's hard bounds, or not finite, are
not sent. Quantization never pushes a value out of bounds: an integer or float32 raw value
that would decode outside them is moved one step inwards. After the value, the setpoint's
``enable`` (a coil or holding register, the usual "remote setpoint enable" of a chiller
plant controller) is set to 1; :meth:`ModbusAdapter.relinquish` sets it to 0. A setpoint
without ``enable`` cannot be relinquished (the device keeps the last value written): the
result says so per setpoint.

Connection: every request waits at most ``timeout_s`` per try, ``1 + retries`` tries. A
request that gets no answer closes the connection (Modbus TCP cannot cancel a request, so
a late answer could otherwise be taken for the answer to the next one) and raises
:class:`~coolpilot.controller.adapters.base.AdapterError`, as does a lost connection. The next read or
write reconnects by itself (at once when the device merely closed an idle connection);
after a failure the next attempt waits ``reconnect_min_s``, doubling up to
``reconnect_max_s`` (calls in between fail at once, saying when the next attempt is due),
so a dead device is never polled in a tight loop. An exception response is an answer: the
connection stays.

pymodbus API notes (pinned ``pymodbus==3.16.1``; the API churns across 3.x): requests take
``device_id=`` (older 3.x releases took ``slave=``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from coolpilot.controller.adapters.base import AdapterError, Reading, WriteResult
from coolpilot.controller.protocols.modbus import (
    ModbusSettings,
    RegisterMap,
    SetpointRegisterMap,
    decode,
    encode_setpoint,
    exception_text,
)
from coolpilot.envs.contract import SETPOINTS_BY_NAME

log = logging.getLogger(__name__)

GRACE_S = 0.5
"""Slack added to pymodbus's own timeouts before a request is abandoned from outside (s)."""


# --- read plan --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadBlock:
    """One read request: ``count`` registers from ``address`` of one unit and table, and the points in it."""

    unit_id: int
    table: Literal["input", "holding"]
    address: int
    count: int
    points: tuple[tuple[str, RegisterMap], ...]

    def describe(self) -> str:
        """``"input registers 0..39 of unit 1"``, for messages."""
        return f"{self.table} registers {self.address}..{self.address + self.count - 1} of unit {self.unit_id}"


def plan_reads(settings: ModbusSettings) -> list[ReadBlock]:
    """The read requests covering every mapped point: runs of nearby registers per unit and table.

    Registers join a block when they are at most ``max_gap_registers`` after its end and the
    block then spans at most ``max_registers_per_read`` registers.
    """
    groups: dict[tuple[int, Literal["input", "holding"]], list[tuple[str, RegisterMap]]] = {}
    for name, reg in settings.points.items():
        groups.setdefault((reg.unit(settings.unit_id), reg.table), []).append((name, reg))
    blocks: list[ReadBlock] = []
    for (unit, table), members in sorted(groups.items()):
        members.sort(key=lambda m: m[1].address)
        current: list[tuple[str, RegisterMap]] = []
        start = end = 0
        for name, reg in members:
            joins = (current and reg.address - end <= settings.max_gap_registers
                     and reg.address + reg.words - start <= settings.max_registers_per_read)
            if not joins:
                if current:
                    blocks.append(ReadBlock(unit, table, start, end - start, tuple(current)))
                current, start = [], reg.address
            current.append((name, reg))
            end = reg.address + reg.words
        blocks.append(ReadBlock(unit, table, start, end - start, tuple(current)))
    return blocks


# --- adapter ----------------------------------------------------------------------------------------------------


RequestMaker = Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]]


class ModbusAdapter:
    """The plant over Modbus TCP (see the module docstring for the map, timing and failure handling).

    ``requests`` counts requests sent, ``connections`` successful connections and
    ``connect_attempts`` all attempts (for tests and metrics).
    """

    def __init__(self, settings: ModbusSettings | None = None) -> None:
        self.settings = settings or ModbusSettings()
        s = self.settings
        self.name = f"modbus://{s.host}:{s.port}"
        self.blocks = plan_reads(s)
        """The read requests of one :meth:`read_points`."""
        self.requests = 0
        self.connections = 0
        self.connect_attempts = 0
        self._client: AsyncModbusTcpClient | None = None
        self._lost = asyncio.Event()
        """Set when the current connection drops (pymodbus's trace_connect), so a request in flight fails at once."""
        self._delay_s = s.reconnect_min_s
        self._next_attempt_s = 0.0
        self._last_error = ""

    @property
    def connected(self) -> bool:
        """Connected to the device right now."""
        return self._client is not None and self._client.connected

    async def connect(self) -> None:
        """Connect within ``timeout_s``, or raise :class:`AdapterError` (at once while backing off)."""
        if not self.connected:
            await self._open()

    async def close(self) -> None:
        """Close the connection (idempotent); a later call reconnects."""
        self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _open(self) -> AsyncModbusTcpClient:
        s = self.settings
        wait_s = self._next_attempt_s - time.monotonic()
        if wait_s > 0.0:
            raise AdapterError(f"Modbus device {s.address} not reachable ({self._last_error}); next connection "
                               f"attempt in {wait_s:.2g} s")
        self._drop()
        self.connect_attempts += 1
        lost = asyncio.Event()
        client = AsyncModbusTcpClient(s.host, port=s.port, name=f"coolpilot-{s.address}", timeout=s.timeout_s,
                                      retries=s.retries, reconnect_delay=0.0, reconnect_delay_max=0.0,
                                      trace_connect=lambda up: None if up else lost.set())
        try:
            ok = await asyncio.wait_for(client.connect(), s.timeout_s + GRACE_S)
        except (TimeoutError, OSError, ModbusException):
            ok = False
        if not ok or not client.connected:
            client.close()
            raise self._failed(f"cannot connect: refused, unreachable or no answer within {s.timeout_s:g} s")
        self._client, self._lost = client, lost
        self.connections += 1
        self._delay_s, self._next_attempt_s = s.reconnect_min_s, 0.0
        if self.connections > 1:
            log.info("reconnected to Modbus device %s", s.address)
        return client

    def _failed(self, reason: str) -> AdapterError:
        """Close the connection, schedule the next attempt (exponential backoff) and say why."""
        self._drop()
        delay_s = self._delay_s
        self._next_attempt_s = time.monotonic() + delay_s
        self._delay_s = min(delay_s * 2.0, self.settings.reconnect_max_s)
        self._last_error = reason
        log.warning("Modbus device %s: %s; next connection attempt in %.3g s", self.settings.address, reason, delay_s)
        return AdapterError(f"Modbus device {self.settings.address}: {reason}")

    async def _request(self, what: str, make: RequestMaker) -> ModbusPDU:
        """Send one request (connecting first if needed), bounded in time; AdapterError on no answer or loss."""
        client = self._client if self.connected else None
        if client is None:
            client = await self._open()
        s = self.settings
        self.requests += 1
        lost = self._lost
        try:
            request = asyncio.ensure_future(make(client))
        except ConnectionException:
            raise self._failed(f"connection lost ({what})") from None
        watch = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({request, watch}, timeout=s.timeout_s * (s.retries + 1) + GRACE_S,
                               return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled from outside: take the request down with us
            request.cancel()
            raise
        finally:
            watch.cancel()
        if not request.done():
            request.cancel()
            if lost.is_set():
                raise self._failed(f"connection lost ({what})")
            raise self._failed(f"no answer within {s.timeout_s:g} s × {s.retries + 1} tries ({what}); connection "
                               "closed")
        try:
            return request.result()
        except ConnectionException:
            raise self._failed(f"connection lost ({what})") from None
        except ModbusIOException:
            raise self._failed(f"no answer within {s.timeout_s:g} s × {s.retries + 1} tries ({what}); connection "
                               "closed") from None
        except (ModbusException, OSError) as err:
            raise self._failed(f"{what} failed: {err}") from None

    async def read_points(self) -> Reading:
        """Every mapped point, read block by block; points of refused blocks are absent."""
        values: dict[str, object] = {}
        times_s: dict[str, float] = {}
        for block in self.blocks:
            response = await self._request(f"read {block.describe()}", _reader(block))
            received_s = time.time()
            registers = list(response.registers)
            if response.isError() or len(registers) < block.count:
                why = (exception_text(response.exception_code) if response.isError()
                       else f"{len(registers)} of {block.count} registers returned")
                log.warning("Modbus device %s refused the read of %s: %s; points %s missing", self.settings.address,
                            block.describe(), why, [n for n, _ in block.points])
                continue
            for name, reg in block.points:
                first = reg.address - block.address
                values[name] = decode(registers[first : first + reg.words], reg)
                times_s[name] = received_s
        return Reading(values, times_s)

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        """Write each setpoint (then set its enable) and report, per setpoint, what the device accepted.

        A value of None relinquishes that setpoint, as :meth:`relinquish` does.
        """
        return await self._apply(setpoints)

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        """Set each setpoint's enable to 0 (local control); unsupported without an ``enable`` register."""
        return await self._apply(dict.fromkeys(names))

    async def _apply(self, setpoints: Mapping[str, object]) -> WriteResult:
        accepted: dict[str, bool] = {}
        errors: dict[str, str] = {}
        for name, value in setpoints.items():
            if value is None:
                error = await self._relinquish_one(name)
            else:
                error = await self._write_one(name, value)
            accepted[name] = error is None
            if error is not None:
                errors[name] = error
                log.warning("write of %s refused: %s", name, error)
        return WriteResult(accepted, errors)

    async def _write_one(self, name: str, value: object) -> str | None:
        sp = self.settings.setpoints.get(name)
        if sp is None:
            return f"setpoint {name!r} is not mapped by this site; its setpoints are {list(self.settings.setpoints)}"
        spec = SETPOINTS_BY_NAME[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"not a number: {value!r}"
        try:
            registers = encode_setpoint(float(value), sp, spec.low, spec.high)
        except ValueError as err:
            return f"not written: {err} {spec.unit}"
        unit = sp.unit(self.settings.unit_id)
        where = f"{sp.span()} of unit {unit}"
        response = await self._request(f"write {name} to {where}",
                                       lambda c: c.write_registers(sp.address, registers, device_id=unit))
        if response.isError():
            return f"refused by the device: Modbus exception {exception_text(response.exception_code)} ({where})"
        if sp.enable is not None:
            return await self._set_enable(name, sp, True)
        return None

    async def _relinquish_one(self, name: str) -> str | None:
        sp = self.settings.setpoints.get(name)
        if sp is None:
            return f"setpoint {name!r} is not mapped by this site; its setpoints are {list(self.settings.setpoints)}"
        if sp.enable is None:
            return (f"relinquish not supported: setpoints.{name} has no enable register in the Modbus map, so the "
                    f"device keeps the last value written; add setpoints.{name}.enable (the coil or holding "
                    "register of its remote-setpoint enable) to hand control back")
        return await self._set_enable(name, sp, False)

    async def _set_enable(self, name: str, sp: SetpointRegisterMap, on: bool) -> str | None:
        enable = sp.enable
        assert enable is not None
        unit = sp.unit(self.settings.unit_id)
        where = f"enable {enable.table} {enable.address} of unit {unit}"
        if enable.table == "coil":
            make: RequestMaker = lambda c: c.write_coil(enable.address, on, device_id=unit)  # noqa: E731
        else:
            make = lambda c: c.write_register(enable.address, int(on), device_id=unit)  # noqa: E731
        response = await self._request(f"set {name} {where} to {int(on)}", make)
        if response.isError():
            return (f"refused by the device: Modbus exception {exception_text(response.exception_code)} "
                    f"(setting {where} to {int(on)})")
        return None


def _reader(block: ReadBlock) -> RequestMaker:
    """The request reading ``block``."""
    if block.table == "input":
        return lambda c: c.read_input_registers(block.address, count=block.count, device_id=block.unit_id)
    return lambda c: c.read_holding_registers(block.address, count=block.count, device_id=block.unit_id)
