"""The Modbus register map both ends share: settings, register maps, data types and their encoding.

:class:`ModbusSettings` (``adapter.modbus`` of a site file) gives, for the points and
setpoints of the site's facility contract, the unit id, table, address, data type, word order
and scaling (``physical = raw × scale + offset``, in the contract's units). A map not given
is the default map of the contract's names (without a contract, the core block's); a map
given may name only the contract's names
and may leave some out (:mod:`coolpilot.controller.protocols.contract_maps`: a setpoint not mapped
is never written, the plant's own sequence runs it). The default map is the one the plant
twin's Modbus device (:class:`coolpilot.controller.twin.modbus_server.ModbusTwinServer`) serves, so the
twin needs no configuration. Addresses are per name, in block order over every block, so a
name keeps its register whatever the facility:

==================================  =========  ==================  ===========================================
what                                table      addresses           encoding
==================================  =========  ==================  ===========================================
points, block order (core: 0..19)   input      0, 2, … 2·(k − 1)   float32, big word order, scale 1, unit 1
setpoints, block order (core: 0..3) holding    0, 2, … 2·(j − 1)   float32, big word order, scale 1, unit 1
their remote-setpoint enables       coil       0, 1, … j − 1       1 = coolpilot's value in force, 0 = local
==================================  =========  ==================  ===========================================

(``k`` and ``j`` count every block's points and setpoints: the core block's 20 points and 4
setpoints keep input registers 0..39, holding registers 0..7 and coils 0..3.)

Validation happens when the settings load, never at run time: unknown names,
registers that overlap, 32-bit values past address 65535, setpoints in input registers, and
scalings whose type cannot hold the contract's physical range (say int16 × 0.1 for
``it_power_kw``, 0..1e6 kW) are refused with one line per problem naming the field, the
value and the allowed range.

Encoding (:func:`encode`, :func:`decode`, :func:`encode_setpoint`): a value's bytes are
big-endian within each 16-bit register, and ``word_order`` orders the two registers of a
32-bit value; a float32 carries NaN and ±inf. This is the layout pymodbus's
``convert_to_registers``/``convert_from_registers`` use, written here with :mod:`struct`
so that this module imports no protocol library: a site file parses without pymodbus, which
only the adapter (:mod:`coolpilot.controller.adapters.modbus`) and the twin's server import.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from coolpilot.controller.protocols.contract_maps import (
    ALL_POINTS,
    ALL_SETPOINTS,
    check_names,
    context_contract,
    with_contract_defaults,
)
from coolpilot.envs.contract import CORE_CONTRACT, POINTS_BY_NAME, SETPOINTS_BY_NAME, Contract

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
"""Data types a register map may use."""

MAX_READ_REGISTERS = 125
"""Most registers one read request may return (Modbus application protocol, functions 3 and 4)."""

FLOAT32_MAX = float(np.finfo(np.float32).max)
STRUCT_FORMAT: dict[str, str] = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
"""Big-endian :mod:`struct` format of each type (the bytes of a value, high byte first in every register)."""
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
    name: RegisterMap(table="input", address=2 * i) for i, name in enumerate(ALL_POINTS)
}
"""Every block's points as float32 in input registers from 0, block order (the core block's 20 at 0..39)."""
DEFAULT_SETPOINT_MAP: dict[str, SetpointRegisterMap] = {
    name: SetpointRegisterMap(address=2 * i, enable=EnableMap(table="coil", address=i))
    for i, name in enumerate(ALL_SETPOINTS)
}
"""Every block's setpoints as float32 in holding registers from 0, enables in coils from 0, block order."""


def default_point_map(contract: Contract) -> dict[str, RegisterMap]:
    """The default registers of ``contract``'s points."""
    return {n: DEFAULT_POINT_MAP[n] for n in contract.point_names}


def default_setpoint_map(contract: Contract) -> dict[str, SetpointRegisterMap]:
    """The default registers (and enables) of ``contract``'s setpoints."""
    return {n: DEFAULT_SETPOINT_MAP[n] for n in contract.setpoint_names}


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
    points: dict[str, RegisterMap] = Field(default_factory=lambda: default_point_map(CORE_CONTRACT),
                                           description="Register of each point read (default: every point of the "
                                                       "site's facility contract at its default register).")
    setpoints: dict[str, SetpointRegisterMap] = Field(
        default_factory=lambda: default_setpoint_map(CORE_CONTRACT),
        description="Register (and enable) of each setpoint written (default: every setpoint of the site's facility "
                    "contract); a setpoint not mapped is never written: the plant's own sequence runs it.")

    @model_validator(mode="before")
    @classmethod
    def _contract_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        return with_contract_defaults(data, info, {"points": default_point_map, "setpoints": default_setpoint_map})

    @field_validator("points")
    @classmethod
    def _known_points(cls, value: dict[str, RegisterMap], info: ValidationInfo) -> dict[str, RegisterMap]:
        check_names("point", value, context_contract(info))
        return value

    @field_validator("setpoints")
    @classmethod
    def _known_setpoints(cls, value: dict[str, SetpointRegisterMap],
                         info: ValidationInfo) -> dict[str, SetpointRegisterMap]:
        check_names("setpoint", value, context_contract(info))
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

    @property
    def point_names(self) -> tuple[str, ...]:
        """The points this map reads."""
        return tuple(self.points)

    @property
    def setpoint_names(self) -> tuple[str, ...]:
        """The setpoints this map writes."""
        return tuple(self.setpoints)


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


def _to_registers(data: bytes, reg: RegisterMap) -> list[int]:
    """16-bit registers of a value's big-endian bytes, in ``reg.word_order``."""
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return words[::-1] if reg.word_order == "little" else words


def raw_to_registers(raw: float, reg: RegisterMap) -> list[int]:
    """The registers of raw value ``raw`` (an integer for integer types); ValueError if the type cannot hold it."""
    if reg.type == "float32":
        if math.isfinite(raw) and abs(raw) > FLOAT32_MAX:
            raise ValueError(f"raw value {raw:g} is outside float32 (±{FLOAT32_MAX:.4g})")
        return _to_registers(struct.pack(STRUCT_FORMAT[reg.type], float(raw)), reg)
    lo, hi = TYPE_RANGE[reg.type]
    if not math.isfinite(raw) or raw != int(raw) or not lo <= raw <= hi:
        raise ValueError(f"raw value {raw:g} is not an integer in {reg.type} range {lo:g}..{hi:g}")
    return _to_registers(struct.pack(STRUCT_FORMAT[reg.type], int(raw)), reg)


def registers_to_raw(registers: Sequence[int], reg: RegisterMap) -> float:
    """The raw value held by ``registers`` (``reg.words`` of them, each 0..65535)."""
    if len(registers) != reg.words:
        raise ValueError(f"{len(registers)} registers do not hold one {reg.type}")
    words = list(registers)[::-1] if reg.word_order == "little" else list(registers)
    data = b"".join(word.to_bytes(2, "big") for word in words)
    return float(struct.unpack(STRUCT_FORMAT[reg.type], data)[0])


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
