"""How a site's protocol maps follow its facility's contract: one rule for MQTT, Modbus and BACnet settings.

A map (topics, registers, objects) names points and setpoints. Which names exist depends on
the facility: its contract is the ordered union of its equipment blocks'
(:mod:`coolpilot.envs.contract`). The settings classes validate in two situations:

- **with a contract** (``model_validate(data, context={"contract": c})``, as the site file
  does with its facility's contract, and :func:`for_contract`): a map not given defaults to
  every name of the contract at its default address, and a map given may name only the
  contract's names (an unknown one is refused naming the valid ones). A site may map only
  some setpoints (the others are never written and run on the plant's own sequence) and only
  some points (the service checks that the points its policies and its safety envelope need
  are there, and names those that are not);
- **without one** (``ModbusSettings()`` in code): defaults map the core block's names (what
  a site file without a facility runs: contract version 1), and names must belong to some
  block.

Default addresses are per name, over every block in the order the blocks were added to
coolpilot (:data:`ALL_POINTS`, :data:`ALL_SETPOINTS`), so a name keeps its default register or
object whatever the facility and whatever block a later version adds: the core block's 20 points
and 4 setpoints keep the addresses they had when the contract was only the core block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationInfo

from coolpilot.envs.contract import BLOCKS, LEVERS, Contract

ADDRESS_ORDER: tuple[str, ...] = ("core", "chiller_staging", "tower_cells", "chw_dp_reset", "cw_flow", "economizer",
                                  "grid_signals", "thermal_storage", "pv", "liquid_cooling", "heat_reuse")
"""Blocks in the order they were added to coolpilot: default addresses follow it, so a block added later
takes addresses after every earlier one and no existing point moves (a new block goes at the end)."""
if sorted(ADDRESS_ORDER) != sorted(BLOCKS):
    raise RuntimeError("controller.protocols.contract_maps.ADDRESS_ORDER must list every block of the contract")
ALL_POINTS: tuple[str, ...] = tuple(p.name for b in ADDRESS_ORDER for p in BLOCKS[b].points)
"""Every point any block defines, in :data:`ADDRESS_ORDER`: the order of default point addresses."""
ALL_SETPOINTS: tuple[str, ...] = LEVERS
"""Every setpoint any block defines, in block order: the order of default setpoint addresses."""

M = TypeVar("M", bound=BaseModel)


def context_contract(info: ValidationInfo) -> Contract | None:
    """The contract given as validation context (``{"contract": c}``), or None."""
    context = info.context if isinstance(info.context, Mapping) else {}
    contract = context.get("contract")
    if contract is not None and not isinstance(contract, Contract):
        raise TypeError(f"validation context 'contract' must be a Contract, got {type(contract).__name__}")
    return contract


def known_names(kind: Literal["point", "setpoint"], contract: Contract | None) -> tuple[str, ...]:
    """The names a map may use: the contract's, or without one every block's."""
    if contract is None:
        return ALL_POINTS if kind == "point" else ALL_SETPOINTS
    return contract.point_names if kind == "point" else contract.setpoint_names


def check_names(kind: Literal["point", "setpoint"], names: Iterable[str], contract: Contract | None) -> None:
    """Raise :class:`ValueError` naming the names outside the contract (or every block) and the valid ones."""
    known = known_names(kind, contract)
    unknown = [str(n) for n in names if n not in known]
    if unknown:
        where = (f"the site's facility contract (blocks {', '.join(contract.blocks)})" if contract is not None
                 else "any equipment block")
        raise ValueError(f"{kind} names {unknown} are not {kind}s of {where}; its {kind}s are {list(known)}")


def with_contract_defaults(data: Any, info: ValidationInfo,
                           defaults: Mapping[str, Callable[[Contract], object]]) -> Any:
    """``data`` with each map not given set to its default for the context's contract (unchanged without one)."""
    contract = context_contract(info)
    if contract is None or not isinstance(data, Mapping):
        return data
    out = dict(data)
    for field, make in defaults.items():
        if field not in out:
            out[field] = make(contract)
    return out


def for_contract(settings: M, contract: Contract) -> M:
    """``settings`` validated again against ``contract``: maps it did not give default to the contract's names.

    What the settings gave explicitly must fit the contract (:class:`pydantic.ValidationError` otherwise);
    the plant twin takes a site's settings this way for the facility it simulates.
    """
    return type(settings).model_validate(settings.model_dump(exclude_unset=True), context={"contract": contract})
