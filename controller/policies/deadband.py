"""A write deadband on a policy's output: small moves are not written.

A BMS ignores writes that change a setpoint by less than its deadband; a smooth policy does
the same on purpose, so the plant's actuators and sequencers see a few deliberate moves instead
of a stream of small ones. Training applies the rule in the environment
(``coolpilot.envs.env.hold_within_deadband``, against the setpoints last commanded) and a
trained bundle's card records it (``card["action"]["deadband"]``, setpoint units by name);
:class:`WriteDeadband` applies the same rule to the policy's own last output wherever the
bundle runs (what-if evaluation, the controller service), so the policy is judged and served
as it was trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coolpilot.controller.policies.base import Policy


class WriteDeadband:
    """``inner``'s setpoints, each held at its last value while it moves less than its deadband."""

    def __init__(self, inner: Policy, deadband: Mapping[str, float]) -> None:
        bad = {k: v for k, v in deadband.items() if not (isinstance(v, (int, float)) and v >= 0.0)}
        if bad:
            raise ValueError(f"deadband of policy {inner.name}: every value must be a number ≥ 0, got {bad}")
        self.inner = inner
        self.deadband = {k: float(v) for k, v in deadband.items()}
        self.name = inner.name
        self._last: dict[str, float] = {}

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)  # card, contract, sha256 ... of the wrapped policy

    def reset(self) -> None:
        """Forget the last output (the next one is written as proposed)."""
        self.inner.reset()
        self._last = {}

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """The inner policy's setpoints, small moves held."""
        out = hold_small_moves(self.inner.act(points), self._last, self.deadband)
        self._last = dict(out)
        return out


def hold_small_moves(proposal: Mapping[str, float], last: Mapping[str, float],
                     deadband: Mapping[str, float]) -> dict[str, float]:
    """``proposal`` with each setpoint that moves less than its deadband from ``last`` held at ``last``."""
    out = dict(proposal)
    for name, value in out.items():
        previous = last.get(name)
        if previous is not None and abs(value - previous) < deadband.get(name, 0.0):
            out[name] = previous
    return out


def card_deadband(card: Mapping[str, Any], setpoints: tuple[str, ...], source: str) -> dict[str, float]:
    """The output deadband a bundle card records (``action.deadband``), checked against its setpoints."""
    action = card.get("action")
    deadband = action.get("deadband") if isinstance(action, Mapping) else None
    if not deadband:
        return {}
    if not isinstance(deadband, Mapping):
        raise ValueError(f"{source}: action.deadband must map setpoint names to values")
    unknown = [n for n in deadband if n not in setpoints]
    bad = {k: v for k, v in deadband.items() if not (isinstance(v, (int, float)) and v >= 0.0)}
    if unknown or bad:
        raise ValueError(f"{source}: action.deadband names setpoints {unknown} the card does not list or has values "
                         f"that are not numbers ≥ 0: {bad}")
    return {k: float(v) for k, v in deadband.items()}


def with_card_deadband(policy: Policy, card: Mapping[str, Any], setpoints: tuple[str, ...]) -> Policy:
    """``policy`` wrapped in the write deadband its card records, or unchanged when it records none."""
    deadband = card_deadband(card, setpoints, f"card of policy {policy.name}")
    return WriteDeadband(policy, deadband) if deadband else policy
