"""A trained stable-baselines3 model as a coolpilot policy (``act(points) -> setpoints``).

The model is paired with the observation statistics of its VecNormalize, so it sees
exactly what it saw in training, and with the contract of the facility it was trained on:
it reads that contract's points and writes its setpoints. Used by the evaluation callback,
by export (the parity reference for the ONNX graph) and by tests comparing the two.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from coolpilot.envs.contract import Contract
from coolpilot.envs.env import bounds
from coolpilot.training.residual import ResidualBase

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC}


@dataclass
class ObsNormalization:
    """VecNormalize's observation transform: clip((x − mean)/sqrt(var + eps), ±clip)."""

    mean: np.ndarray
    var: np.ndarray
    epsilon: float = 1e-8
    clip_obs: float = 10.0
    enabled: bool = True

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """Normalize raw (clipped) points as VecNormalize does."""
        if not self.enabled:
            return obs.astype(np.float32)
        z = (obs - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(z, -self.clip_obs, self.clip_obs).astype(np.float32)

    @classmethod
    def identity(cls, n_points: int) -> ObsNormalization:
        """No normalization (a run with ``normalize.observations: false``)."""
        return cls(np.zeros(n_points), np.ones(n_points), enabled=False)

    @classmethod
    def from_vecnormalize_file(cls, path: str | Path) -> ObsNormalization:
        """Read the statistics a VecNormalize saved with ``save(path)``."""
        with open(path, "rb") as fh:
            vn = pickle.load(fh)  # our own run directory's file, never a download
        return cls(np.asarray(vn.obs_rms.mean, dtype=np.float64), np.asarray(vn.obs_rms.var, dtype=np.float64),
                   float(vn.epsilon), float(vn.clip_obs), bool(vn.norm_obs))


class SB3Policy:
    """``act(points) -> setpoints`` of an SB3 model, its observation normalization and its contract.

    The model's observation and action spaces must have the contract's widths (one entry per
    point, one per setpoint); a model trained on another facility's contract is refused.
    """

    def __init__(self, model: BaseAlgorithm, norm: ObsNormalization, contract: Contract, name: str = "sb3",
                 residual: ResidualBase | None = None) -> None:
        obs_shape, act_shape = model.observation_space.shape, model.action_space.shape
        if obs_shape != (len(contract.points),) or act_shape != (len(contract.setpoints),):
            raise ValueError(f"model {name} observes {obs_shape} and acts {act_shape}, but the contract has "
                             f"{len(contract.points)} points and {len(contract.setpoints)} setpoints "
                             f"({list(contract.setpoint_names)})")
        if residual is not None and residual.contract != contract:
            raise ValueError(f"model {name}: the residual base's contract is not the policy's: "
                             + "; ".join(residual.contract.differences(contract, "the base", "the policy")))
        self.model = model
        self.norm = norm
        self.contract = contract
        self.bounds = bounds(contract)
        self.name = name
        self.residual = residual

    @classmethod
    def load(cls, model_path: str | Path, vecnormalize_path: str | Path, algo: str, contract: Contract,
             name: str = "sb3", residual: ResidualBase | None = None) -> SB3Policy:
        """A saved model (``.zip``) and its VecNormalize statistics (``.pkl``), on CPU."""
        model = ALGORITHMS[algo].load(str(model_path), device="cpu")
        return cls(model, ObsNormalization.from_vecnormalize_file(vecnormalize_path), contract, name, residual)

    def reset(self) -> None:
        """Stateless."""

    def act_batch(self, points: np.ndarray) -> np.ndarray:
        """Setpoints (batch, K) in physical units for raw points (batch, P) in the contract's order."""
        obs = self.bounds.observe(np.asarray(points, dtype=np.float32))
        action, _ = self.model.predict(self.norm.apply(obs), deterministic=True)
        if self.residual is not None:
            return self.residual.setpoints(obs, np.asarray(action))
        return self.bounds.action_to_setpoints(np.asarray(action))

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """Setpoints by name for points by name (every point of the contract is needed)."""
        missing = [n for n in self.contract.point_names if n not in points]
        if missing:
            raise KeyError(f"policy {self.name}: points missing: {', '.join(missing)}")
        row = np.array([[points[n] for n in self.contract.point_names]], dtype=np.float32)
        return dict(zip(self.contract.setpoint_names, self.act_batch(row)[0].tolist(), strict=True))
