"""What a policy is: anything with ``act(points) -> setpoints``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


@runtime_checkable
class Policy(Protocol):
    """Maps measured points (names and units of coolpilot.envs.contract.POINTS) to setpoints.

    ``reset()`` clears any internal state (integrators) before a new run.
    """

    name: str

    def reset(self) -> None: ...

    def act(self, points: Mapping[str, float]) -> dict[str, float]: ...
