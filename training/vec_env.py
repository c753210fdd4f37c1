"""Adapter: the native vector env as a stable-baselines3 ``VecEnv`` (no subprocesses).

stable-baselines3 resets finished sub-envs in the same step and reports the last
observation as ``info["terminal_observation"]``; the adapter runs the vector env in
``SAME_STEP`` autoreset mode and translates. Import this module only where
stable-baselines3 is installed (the ``train`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from coolpilot.envs.contract import Contract
from coolpilot.envs.vector import DataCenterVectorEnv


class SB3VecEnv(VecEnv):
    """A :class:`DataCenterVectorEnv` speaking stable-baselines3's ``VecEnv`` protocol.

    Its spaces are the facility's contract's: one observation entry per point, one action per
    setpoint (:attr:`contract`).
    """

    def __init__(self, venv: DataCenterVectorEnv) -> None:
        if venv.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError("SB3VecEnv needs a DataCenterVectorEnv with autoreset_mode=AutoresetMode.SAME_STEP")
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.contract: Contract = venv.contract
        self._actions = np.zeros((venv.num_envs, len(venv.contract.setpoints)), dtype=np.float32)

    def reset(self) -> VecEnvObs:
        """Reset all sub-envs, with the seeds given to :meth:`seed` if any."""
        seeds: list[int | None] = list(self._seeds)
        obs, _ = self.venv.reset(seed=seeds if any(s is not None for s in seeds) else None)
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for :meth:`step_wait`."""
        self._actions = np.asarray(actions, dtype=np.float32)

    def step_wait(self) -> VecEnvStepReturn:
        """Step every sub-env; finished ones are reset with their last observation in the info."""
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        dones = terminated | truncated
        out: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            info: dict[str, Any] = {
                "reward_energy": float(infos["reward_energy"][i]),
                "reward_thermal": float(infos["reward_thermal"][i]),
            }
            if dones[i]:
                info["terminal_observation"] = infos["final_obs"][i]
                info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            out.append(info)
        return obs, rewards.astype(np.float32), dones, out

    def close(self) -> None:
        """Nothing to release: no subprocesses."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """An attribute of the vector env, once per selected sub-env."""
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the vector env (shared by all sub-envs)."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method of the vector env, once per selected sub-env."""
        return [getattr(self.venv, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrappers inside."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """The env does not render."""
        return [None] * self.num_envs
