"""The stable-baselines3 adapter of the vector env."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO

from envs.sb3 import SB3VecEnv
from envs.vector import DataCenterVectorEnv


def make(n: int = 4) -> SB3VecEnv:
    return SB3VecEnv(DataCenterVectorEnv(n, facility="modern-hall", climate="chicago", episode_days=1, dt_s=3600,
                                         autoreset_mode=AutoresetMode.SAME_STEP))


def test_terminal_observation_and_same_step_reset() -> None:
    env = make(2)
    env.seed(3)
    first = env.reset()
    assert first.shape == (2, 20)
    for k in range(24):
        obs, rewards, dones, infos = env.step(np.zeros((2, 4), np.float32))
        assert rewards.dtype == np.float32 and dones.all() == (k == 23)
    assert all("terminal_observation" in i and i["TimeLimit.truncated"] for i in infos)
    assert not np.array_equal(infos[0]["terminal_observation"], obs[0])


def test_ppo_learns_on_the_adapter_without_subprocesses() -> None:
    env = make(4)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    action, _ = model.predict(env.reset(), deterministic=True)
    assert action.shape == (4, 4)


def test_refuses_next_step_mode() -> None:
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(DataCenterVectorEnv(1))
