"""Modbus TCP adapter (pymodbus 3.16): points from input/holding registers, setpoints to holding registers.

The register map (:class:`ModbusSettings`, ``adapter.modbus`` of a site file) gives, for every
contract point and setpoint, the unit id, table, address, data type, word order and scaling
(``physical = raw × scale + offset``, in the contract's units). Every point and every
setpoint must be mapped. The default map (``ModbusSettings()``) is the one
:class:`ModbusTwinServer` serves, so the twin needs no configuration:

==============================  =========  ==================  ===========================================
what                            table      addresses           encoding
==============================  =========  ==================  ===========================================
the 20 points, contract order   input      0, 2, … 38          float32, big word order, scale 1, unit 1
the 4 setpoints, contract order holding    0, 2, 4, 6          float32, big word order, scale 1, unit 1
their remote-setpoint enables   coil       0, 1, 2, 3          1 = coolpilot's value in force, 0 = local
==============================  =========  ==================  ===========================================

Validation happens when the settings load, never at run time: unknown or missing names,
registers that overlap, 32-bit values past address 65535, setpoints in input registers, and
scalings whose type cannot hold the contract's physical range (say int16 × 0.1 for
``it_power_kw``, 0..1e6 kW) are refused with one line per problem naming the field, the
value and the allowed range.

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
:class:`~controller.adapters.base.AdapterError`, as does a lost connection. The next read or
write reconnects by itself (at once when the device merely closed an idle connection);
after a failure the next attempt waits ``reconnect_min_s``, doubling up to
``reconnect_max_s`` (calls in between fail at once, saying when the next attempt is due),
so a dead device is never polled in a tight loop. An exception response is an answer: the
connection stays.

pymodbus API notes (pinned ``pymodbus==3.16.1``; the API churns across 3.x): requests take
``device_id=`` (older 3.x releases took ``slave=``); the server is built from
:mod:`pymodbus.simulator` ``SimDevice``/``SimData`` (the datastore contexts are deprecated);
conversions use the client's own ``convert_to_registers``/``convert_from_registers``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from controller.adapters.base import AdapterError, Reading, WriteResult
from envs.contract import POINT_NAMES, POINTS_BY_NAME, SETPOINT_NAMES, SETPOINTS_BY_NAME

if TYPE_CHECKING:
    from controller.twin import PlantTwin

log = logging.getLogger(__name__)

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
"""Data types a register map may use."""

MAX_READ_REGISTERS = 125
"""Most registers one read request may return (Modbus application protocol, functions 3 and 4)."""

GRACE_S = 0.5
"""Slack added to pymodbus's own timeouts before a request is abandoned from outside (s)."""

_DATATYPE = AsyncModbusTcpClient.DATATYPE
_PYMODBUS_TYPE: dict[str, AsyncModbusTcpClient.DATATYPE] = {
    "int16": _DATATYPE.INT16, "uint16": _DATATYPE.UINT16, "int32": _DATATYPE.INT32,
    "uint32": _DATATYPE.UINT32, "float32": _DATATYPE.FLOAT32,
}
FLOAT32_MAX = float(np.finfo(np.float32).max)
TYPE_WORDS: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
"""Registers (16-bit words) per value of each type."""
TYPE_RANGE: dict[str, tuple[float, float]] = {
    "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1), "float32": (-FLOAT32_MAX, FLOAT32_MAX),
}
"""Raw values each type can hold."""

EXCEPTION_NAMES: dict[int, str] = {
    1: "ILLEGAL FUNCTION", 2: "ILLEGAL DATA ADDRESS", 3: "ILLEGAL DATA VALUE", 4: "SERVER DEVICE FAILURE",
    5: "ACKNOWLEDGE", 6: "SERVER DEVICE BUSY", 7: "NEGATIVE ACKNOWLEDGE", 8: "MEMORY PARITY ERROR",
    10: "GATEWAY PATH UNAVAILABLE", 11: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}
"""Modbus exception codes by the names of the Modbus application protocol specification."""


def exception_text(code: int) -> str:
    """``"02 ILLEGAL DATA ADDRESS"`` for code 2; unknown codes by number."""
    return f"{code:02d} {EXCEPTION_NAMES.get(code, 'UNKNOWN EXCEPTION')}"


# --- settings ---------------------------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EnableMap(_Frozen):
    """The "remote setpoint enable" of a setpoint: 1 = the written value is in force, 0 = local control."""

    table: Literal["coil", "holding"] = Field("coil", description="A coil, or a holding register (0/1).")
    address: int = Field(ge=0, le=65535, description="Protocol address (0-based, as sent on the wire).")


class RegisterMap(_Frozen):
    """Where one point lives: unit, table, address, data type and scaling (physical = raw × scale + offset)."""

    unit_id: int | None = Field(None, ge=0, le=255, description="Unit (slave) id; none = the settings' unit_id.")
    table: Literal["input", "holding"] = Field("input", description="Register table: input (function 4) or "
                                                                    "holding (function 3).")
    address: int = Field(ge=0, le=65535, description="First register's protocol address (0-based, as sent on "
                                                     "the wire; a manual's 30001/40001 is 0).")
    type: RegisterType = Field("float32", description="Data type: int16, uint16, int32, uint32 or float32 "
                                                      "(32-bit types take two registers).")
    word_order: Literal["big", "little"] = Field("big", description="Order of the two registers of a 32-bit "
                                                                    "value: big = high word first.")
    scale: float = Field(1.0, description="Physical value per raw count (contract units per count).")
    offset: float = Field(0.0, description="Physical value at raw 0 (contract units).")

    @field_validator("scale")
    @classmethod
    def _valid_scale(cls, value: float) -> float:
        if not math.isfinite(value) or value == 0.0:
            raise ValueError(f"scale = {value}: must be a finite number other than 0")
        return value

    @field_validator("offset")
    @classmethod
    def _valid_offset(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"offset = {value}: must be a finite number")
        return value

    @model_validator(mode="after")
    def _fits_address_space(self) -> RegisterMap:
        if self.address + self.words - 1 > 65535:
            raise ValueError(f"address = {self.address}: a {self.type} takes {self.words} registers, so the "
                             f"address must be 0..{65536 - self.words}")
        return self

    @property
    def words(self) -> int:
        """Registers this value takes."""
        return TYPE_WORDS[self.type]

    def unit(self, default: int) -> int:
        """Unit id, ``default`` unless overridden."""
        return default if self.unit_id is None else self.unit_id

    def span(self) -> str:
        """``"holding registers 10..11"``, for messages."""
        return f"{self.table} registers {self.address}..{self.address + self.words - 1}"


class SetpointRegisterMap(RegisterMap):
    """Where one setpoint is written (a holding register) and its optional remote-setpoint enable."""

    table: Literal["input", "holding"] = Field("holding", description="Must be holding: input registers are "
                                                                      "read-only.")
    enable: EnableMap | None = Field(None, description="Remote-setpoint enable: set to 1 with every write, 0 to "
                                                       "relinquish; none = relinquish is not supported.")

    @field_validator("table")
    @classmethod
    def _holding_only(cls, value: str) -> str:
        if value != "holding":
            raise ValueError(f"table = {value!r}: setpoints are written, and input registers are read-only; "
                             "allowed: 'holding'")
        return value


DEFAULT_POINT_MAP: dict[str, RegisterMap] = {
    name: RegisterMap(table="input", address=2 * i) for i, name in enumerate(POINT_NAMES)
}
"""The 20 points as float32 in input registers 0..39, contract order."""
DEFAULT_SETPOINT_MAP: dict[str, SetpointRegisterMap] = {
    name: SetpointRegisterMap(address=2 * i, enable=EnableMap(table="coil", address=i))
    for i, name in enumerate(SETPOINT_NAMES)
}
"""The 4 setpoints as float32 in holding registers 0..7, enables in coils 0..3, contract order."""


class ModbusSettings(_Frozen):
    """Device address, timing and register map of the Modbus TCP adapter (``adapter.modbus``)."""

    host: str = Field("127.0.0.1", min_length=1, description="Device or gateway host name or address.")
    port: int = Field(502, ge=1, le=65535, description="TCP port.")
    unit_id: int = Field(1, ge=0, le=255, description="Default unit (slave) id; behind a gateway, the id of the "
                                                      "serial device.")
    timeout_s: float = Field(2.0, gt=0.0, le=60.0, json_schema_extra={"unit": "s"},
                             description="Longest wait for connecting, and for the answer to one try of a request.")
    retries: int = Field(0, ge=0, le=5, description="Tries after the first when a request gets no answer "
                                                    "(each waits timeout_s).")
    reconnect_min_s: float = Field(1.0, gt=0.0, le=60.0, json_schema_extra={"unit": "s"},
                                   description="Wait after a failed (re)connection before the next attempt; "
                                               "doubles each failure.")
    reconnect_max_s: float = Field(30.0, gt=0.0, le=3600.0, json_schema_extra={"unit": "s"},
                                   description="Longest wait between reconnection attempts.")
    max_registers_per_read: int = Field(MAX_READ_REGISTERS, ge=2, le=MAX_READ_REGISTERS,
                                        description="Most registers one read request spans.")
    max_gap_registers: int = Field(0, ge=0, le=MAX_READ_REGISTERS - 2,
                                   description="Unmapped registers a read may span to join two blocks (0: only "
                                               "adjacent ones; many devices refuse reads of unmapped registers).")
    points: dict[str, RegisterMap] = Field(default_factory=lambda: dict(DEFAULT_POINT_MAP),
                                           description="Register of every contract point.")
    setpoints: dict[str, SetpointRegisterMap] = Field(default_factory=lambda: dict(DEFAULT_SETPOINT_MAP),
                                                      description="Register (and enable) of every contract "
                                                                  "setpoint.")

    @field_validator("points")
    @classmethod
    def _known_points(cls, value: dict[str, RegisterMap]) -> dict[str, RegisterMap]:
        unknown = sorted(set(value) - set(POINTS_BY_NAME))
        missing = [n for n in POINT_NAMES if n not in value]
        if unknown:
            raise ValueError(f"unknown point names {unknown}; the contract's points are {list(POINT_NAMES)}")
        if missing:
            raise ValueError(f"no register for points {missing}: map all {len(POINT_NAMES)} contract points")
        return value

    @field_validator("setpoints")
    @classmethod
    def _known_setpoints(cls, value: dict[str, SetpointRegisterMap]) -> dict[str, SetpointRegisterMap]:
        unknown = sorted(set(value) - set(SETPOINTS_BY_NAME))
        missing = [n for n in SETPOINT_NAMES if n not in value]
        if unknown:
            raise ValueError(f"unknown setpoint names {unknown}; the contract's setpoints are {list(SETPOINT_NAMES)}")
        if missing:
            raise ValueError(f"no register for setpoints {missing}: map all {len(SETPOINT_NAMES)} contract "
                             "setpoints")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModbusSettings:
        problems: list[str] = []
        if self.reconnect_max_s < self.reconnect_min_s:
            problems.append(f"reconnect_max_s = {self.reconnect_max_s} s is below reconnect_min_s = "
                            f"{self.reconnect_min_s} s")
        for name, reg in self.points.items():
            spec = POINTS_BY_NAME[name]
            problems += _range_problems(f"points.{name}", reg, spec.low, spec.high, spec.unit, "physical range")
        for name, sp in self.setpoints.items():
            spec_sp = SETPOINTS_BY_NAME[name]
            found = _range_problems(f"setpoints.{name}", sp, spec_sp.low, spec_sp.high, spec_sp.unit, "hard bounds")
            if not found:
                try:
                    encode_setpoint(spec_sp.low, sp, spec_sp.low, spec_sp.high)
                    encode_setpoint(spec_sp.high, sp, spec_sp.low, spec_sp.high)
                except ValueError as err:
                    found.append(f"setpoints.{name}: {err}")
            problems += found
        problems += self._overlaps()
        if problems:
            raise ValueError("; ".join(problems) if len(problems) == 1 else
                             f"{len(problems)} problems in the register map:\n  - " + "\n  - ".join(problems))
        return self

    def _overlaps(self) -> list[str]:
        """Registers or coils claimed twice within one unit and table."""
        used: dict[tuple[int, str, int], str] = {}
        problems: list[str] = []

        def claim(unit: int, table: str, first: int, words: int, what: str) -> None:
            for address in range(first, first + words):
                other = used.setdefault((unit, table, address), what)
                if other != what:
                    cell = f"coil {address}" if table == "coil" else f"{table} register {address}"
                    problems.append(f"{what} overlaps {other}: both use {cell} of unit {unit}; every register "
                                    "may belong to one value only")
                    return

        for name, reg in self.points.items():
            claim(reg.unit(self.unit_id), reg.table, reg.address, reg.words, f"points.{name} ({reg.span()})")
        for name, sp in self.setpoints.items():
            unit = sp.unit(self.unit_id)
            claim(unit, sp.table, sp.address, sp.words, f"setpoints.{name} ({sp.span()})")
            if sp.enable is not None:
                claim(unit, sp.enable.table, sp.enable.address, 1,
                      f"setpoints.{name}.enable ({sp.enable.table} {sp.enable.address})")
        return problems

    @property
    def address(self) -> str:
        """``host:port`` of the device, for messages."""
        return f"{self.host}:{self.port}"


def _range_problems(field: str, reg: RegisterMap, low: float, high: float, unit: str, what: str) -> list[str]:
    """A message if ``reg``'s type and scaling cannot hold ``low..high`` (physical units)."""
    raw_lo, raw_hi = sorted(((low - reg.offset) / reg.scale, (high - reg.offset) / reg.scale))
    type_lo, type_hi = TYPE_RANGE[reg.type]
    slack = 0.5 if reg.type != "float32" else 0.0
    if type_lo - slack <= raw_lo and raw_hi <= type_hi + slack:
        return []
    held_lo, held_hi = sorted((type_lo * reg.scale + reg.offset, type_hi * reg.scale + reg.offset))
    hint = ("a 32-bit type (int32, uint32, float32) or a coarser scale" if reg.words == 1
            else "float32 or a coarser scale")
    return [f"{field}: type {reg.type} with scale {reg.scale:g} and offset {reg.offset:g} holds "
            f"{held_lo:g}..{held_hi:g} {unit}, but the contract's {what} of {field.split('.')[-1]} is "
            f"{low:g}..{high:g} {unit}; choose {hint}"]


# --- encoding ---------------------------------------------------------------------------------------------------


def raw_to_registers(raw: float, reg: RegisterMap) -> list[int]:
    """The registers of raw value ``raw`` (an integer for integer types); ValueError if the type cannot hold it."""
    if reg.type == "float32":
        if math.isfinite(raw) and abs(raw) > FLOAT32_MAX:
            raise ValueError(f"raw value {raw:g} is outside float32 (±{FLOAT32_MAX:.4g})")
        return AsyncModbusTcpClient.convert_to_registers(float(raw), _PYMODBUS_TYPE[reg.type], reg.word_order)
    lo, hi = TYPE_RANGE[reg.type]
    if not math.isfinite(raw) or raw != int(raw) or not lo <= raw <= hi:
        raise ValueError(f"raw value {raw:g} is not an integer in {reg.type} range {lo:g}..{hi:g}")
    return AsyncModbusTcpClient.convert_to_registers(int(raw), _PYMODBUS_TYPE[reg.type], reg.word_order)


def registers_to_raw(registers: Sequence[int], reg: RegisterMap) -> float:
    """The raw value held by ``registers`` (``reg.words`` of them)."""
    raw = AsyncModbusTcpClient.convert_from_registers(list(registers), _PYMODBUS_TYPE[reg.type], reg.word_order)
    if not isinstance(raw, int | float):
        raise ValueError(f"{len(registers)} registers do not hold one {reg.type}")
    return float(raw)


def encode(value: float, reg: RegisterMap) -> list[int]:
    """Registers holding physical ``value`` (raw = (value − offset) / scale, rounded for integer types).

    float32 carries NaN and ±inf; integer types raise :class:`ValueError` for them, and any
    type for a value it cannot hold.
    """
    raw = (value - reg.offset) / reg.scale
    if reg.type != "float32":
        if not math.isfinite(raw):
            raise ValueError(f"{value} cannot be encoded as {reg.type}")
        raw = float(round(raw))
    return raw_to_registers(raw, reg)


def decode(registers: Sequence[int], reg: RegisterMap) -> float:
    """Physical value of ``registers`` (raw × scale + offset); a float32 NaN stays NaN."""
    return registers_to_raw(registers, reg) * reg.scale + reg.offset


def _step(raw: float, reg: RegisterMap, physically_up: bool) -> float:
    """The next raw value that moves the physical value up (or down) by one count or float32 ulp."""
    raw_up = physically_up == (reg.scale > 0.0)
    if reg.type == "float32":
        target = np.float32(np.inf if raw_up else -np.inf)
        return float(np.nextafter(np.float32(raw), target))
    return raw + (1.0 if raw_up else -1.0)


def encode_setpoint(value: float, reg: RegisterMap, low: float, high: float) -> list[int]:
    """Registers of ``value`` (within ``low..high``) that also decode within ``low..high``.

    Rounding to the type's resolution may cross a bound (0.3 at scale 0.25 becomes 0.25);
    the raw value then moves one count (or float32 ulp) inwards. :class:`ValueError` if the
    value is out of bounds or no raw value inside them exists.
    """
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"value {value} is outside the hard bounds {low:g}..{high:g}")
    regs = encode(value, reg)
    for _ in range(3):
        decoded = decode(regs, reg)
        if low <= decoded <= high:
            return regs
        raw = _step(registers_to_raw(regs, reg), reg, physically_up=decoded < low)
        try:
            regs = raw_to_registers(raw, reg)
        except ValueError:
            break
    raise ValueError(f"type {reg.type} with scale {reg.scale:g} and offset {reg.offset:g} has no raw value that "
                     f"decodes within the hard bounds {low:g}..{high:g} near {value:g}")


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
            return f"unknown setpoint {name!r}; the contract's setpoints are {list(SETPOINT_NAMES)}"
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
            return f"unknown setpoint {name!r}; the contract's setpoints are {list(SETPOINT_NAMES)}"
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


# --- the plant twin as a Modbus device --------------------------------------------------------------------------


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
    """The plant twin (:class:`controller.twin.PlantTwin`) as a Modbus TCP device: a ``TwinFrontend``.

    Serves the register map of ``settings`` (input and holding registers, and coils for the
    enables) on ``host:port`` (default the settings'; port 0 picks a free one, see
    :attr:`port`). Unmapped addresses answer ``02 ILLEGAL DATA ADDRESS``, as do writes to
    point registers and writes that cover only part of a 32-bit value; a setpoint value that
    is not finite, or an enable other than 0/1, answers ``03 ILLEGAL DATA VALUE`` (counted in
    ``twin.invalid_writes``).

    Setpoint registers start at the BMS's setpoints and hold the last value written. A value
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
        self._enabled: dict[str, bool] = dict.fromkeys(self.settings.setpoints, False)
        self._setpoint_raw: dict[str, list[int]] = {}
        self._point_raw: dict[str, list[int]] = {}
        self._build_owners()

    @property
    def serving(self) -> bool:
        """Listening for connections now."""
        return self._server is not None

    @property
    def enabled(self) -> dict[str, bool]:
        """Remote-setpoint enable per setpoint (True: the controller's value is in force)."""
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
        """Serve ``twin``: setpoint registers start at its BMS setpoints, enables at 0."""
        self._twin = twin
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
