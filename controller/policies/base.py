"""What a policy is: anything with ``act(points) -> setpoints``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class Policy(Protocol):
    """Maps measured points to setpoints, by name and in the units of the facility's contract
    (``coolpilot.envs.contract``); a policy reads the points it needs among the contract's and may
    propose only some of its setpoints (the plant's own sequence runs the others).

    ``reset()`` clears any internal state (integrators) before a new run.
    """

    name: str

    def reset(self) -> None: ...

    def act(self, points: Mapping[str, float]) -> dict[str, float]: ...
