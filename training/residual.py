"""Residual policies: the network corrects the rule-based controller instead of replacing it.

``setpoints = clip(rule_based(points) + scale · half_span · a, low, high)`` with ``a`` the
network's action in [-1, 1] (one entry per setpoint of the facility's contract) and
``rule_based`` the stateless form of the rule-based controller
(:func:`coolpilot.controller.policies.rule_based.rule_based_batch`, trimming from the measured supply
air and fan speed, with the plant-lever law for every lever the contract has). A zero action
*is* good practice, so exploration starts there and learning only has to find where to
deviate (residual policy learning: Silver et al. 2018, arXiv:1812.06298; Johannink et al.
2019). The rule-based part is a few dozen arithmetic operations; the exporter generates its
ONNX nodes from the same laws (:func:`coolpilot.controller.policies.rule_based.rule_based_law` and
:func:`coolpilot.controller.policies.rule_based.plant_lever_law`), so the bundle stays "raw points
in, setpoints out".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from coolpilot.controller.policies.rule_based import RuleBasedSettings, rule_based_batch
from coolpilot.envs.contract import Contract
from coolpilot.envs.env import Bounds, bounds


def settings_from_dict(data: Mapping[str, Any]) -> RuleBasedSettings:
    """Rule-based settings from their JSON form (``residual.json``, a card's ``action``); unknown keys refused."""
    known = {f.name for f in fields(RuleBasedSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"rule-based settings {unknown} are not fields of RuleBasedSettings ({sorted(known)})")
    values = dict(data)
    if "levers" in values:
        values["levers"] = tuple(values["levers"])
    return RuleBasedSettings(**values)


@dataclass(frozen=True)
class ResidualBase:
    """The rule-based base of a residual policy, the contract it reads and writes, and how far the network may move.

    The base's setpoints must be the contract's, in its order (the core four, then one per
    plant lever: :attr:`RuleBasedSettings.setpoint_names`), and every point the base reads must
    be one of the contract's; anything else is refused at construction.
    """

    settings: RuleBasedSettings
    contract: Contract
    scale: float = 0.5
    """Largest correction as a fraction of each setpoint's half span (1 reaches any setpoint)."""

    def __post_init__(self) -> None:
        if self.settings.setpoint_names != self.contract.setpoint_names:
            raise ValueError(f"the rule-based base writes {list(self.settings.setpoint_names)} but the contract's "
                             f"setpoints are {list(self.contract.setpoint_names)}: commission it for this facility "
                             "(rule_based_settings of the facility config)")
        missing = [p for p in self.settings.point_names if p not in self.contract.points_by_name]
        if missing:
            raise ValueError(f"the rule-based base reads points {missing} that the contract does not have")
        if not 0.0 < self.scale <= 2.0:
            raise ValueError(f"residual scale = {self.scale}: must be in (0, 2] (fraction of each half span)")

    @property
    def bounds(self) -> Bounds:
        """The contract's setpoint bounds and action scaling."""
        return bounds(self.contract)

    def base_setpoints(self, points: np.ndarray) -> np.ndarray:
        """The stateless rule-based setpoints (N, K) for raw points (N, P) in the contract's order, float64."""
        return rule_based_batch(points, self.settings, point_names=self.contract.point_names)

    def setpoints(self, points: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Setpoints (N, K) in physical units for raw points (N, P) and residual actions (N, K) in [-1, 1]."""
        b = self.bounds
        a = np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)
        return np.minimum(np.maximum(self.base_setpoints(points) + self.scale * b.half_span * a, b.setpoint_low),
                          b.setpoint_high)

    def actions(self, points: np.ndarray, setpoints: np.ndarray) -> np.ndarray:
        """The residual actions (N, K) in [-1, 1] closest to ``setpoints`` (the inverse of :meth:`setpoints`)."""
        span = self.scale * self.bounds.half_span
        return np.clip((np.asarray(setpoints, dtype=np.float64) - self.base_setpoints(points)) / span, -1.0, 1.0)

    def as_dict(self) -> dict[str, Any]:
        """For the card and the run directory (``residual.json``)."""
        settings = asdict(self.settings)
        settings["levers"] = list(self.settings.levers)
        return {"scale": self.scale, "rule_based_settings": settings}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], contract: Contract) -> ResidualBase:
        """The base :meth:`as_dict` wrote, for ``contract``."""
        return cls(settings_from_dict(data["rule_based_settings"]), contract, float(data["scale"]))


class ResidualActionWrapper(VecEnvWrapper):
    """Turns residual actions into the env's absolute actions, from the latest raw points."""

    def __init__(self, venv: VecEnv, base: ResidualBase) -> None:
        super().__init__(venv)
        shape = (venv.observation_space.shape, venv.action_space.shape)
        want = ((len(base.contract.points),), (len(base.contract.setpoints),))
        if shape != want:
            raise ValueError(f"the env observes {shape[0]} points and takes {shape[1]} actions; the residual base's "
                             f"contract has {want[0]} points and {want[1]} setpoints")
        self.base = base
        self._points = np.zeros((venv.num_envs, len(base.contract.points)))

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self._points = np.asarray(obs, dtype=np.float64)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        setpoints = self.base.setpoints(self._points, actions)
        self.venv.step_async(self.base.bounds.setpoints_to_action(setpoints).astype(np.float32))

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        self._points = np.asarray(obs, dtype=np.float64)  # after an autoreset: the new episode's first points
        return obs, rewards, dones, infos
