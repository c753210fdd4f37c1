"""Residual policies: the network corrects the rule-based controller instead of replacing it.

``setpoints = clip(rule_based(points) + scale · half_span · a, low, high)`` with ``a`` the
network's action in [-1, 1] and ``rule_based`` the stateless form of the rule-based
controller (:func:`coolpilot.controller.policies.rule_based.rule_based_batch`, trimming from the
measured supply air and fan speed). A zero action *is* good practice, so exploration starts
there and learning only has to find where to deviate (residual policy learning: Silver et
al. 2018, arXiv:1812.06298; Johannink et al. 2019). The rule-based part is a few dozen
arithmetic operations; the exporter generates its ONNX nodes from the same law
(:func:`coolpilot.controller.policies.rule_based.rule_based_law`), so the bundle stays "raw points in,
setpoints out".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from coolpilot.controller.policies.rule_based import RuleBasedSettings, rule_based_batch
from coolpilot.envs.contract import SETPOINTS
from coolpilot.envs.env import setpoints_to_action

LOW = np.array([s.low for s in SETPOINTS])
HIGH = np.array([s.high for s in SETPOINTS])
HALF_SPAN = 0.5 * (HIGH - LOW)


@dataclass(frozen=True)
class ResidualBase:
    """The rule-based base of a residual policy and how far the network may move from it."""

    settings: RuleBasedSettings
    scale: float = 0.5
    """Largest correction as a fraction of each setpoint's half span (1 reaches any setpoint)."""

    def setpoints(self, points: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Setpoints (N, 4) in physical units for raw points (N, 20) and actions (N, 4) in [-1, 1]."""
        a = np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)
        base = rule_based_batch(points, self.settings)
        return np.minimum(np.maximum(base + self.scale * HALF_SPAN * a, LOW), HIGH)

    def as_dict(self) -> dict[str, Any]:
        """For the card and the run directory."""
        return {"scale": self.scale, "rule_based_settings": asdict(self.settings)}


class ResidualActionWrapper(VecEnvWrapper):
    """Turns residual actions into the env's absolute actions, from the latest raw points."""

    def __init__(self, venv: VecEnv, base: ResidualBase) -> None:
        super().__init__(venv)
        self.base = base
        self._points = np.zeros((venv.num_envs, venv.observation_space.shape[0]))  # type: ignore[index]

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self._points = np.asarray(obs, dtype=np.float64)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        setpoints = self.base.setpoints(self._points, actions)
        self.venv.step_async(setpoints_to_action(setpoints).astype(np.float32))

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        self._points = np.asarray(obs, dtype=np.float64)  # after an autoreset: the new episode's first points
        return obs, rewards, dones, infos
