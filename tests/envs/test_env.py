"""The gymnasium env: API checks, registration, seeding, reward terms."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from coolpilot import envs
from coolpilot.controller.policies import LegacyPolicy, RuleBasedPolicy, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import POINT_NAMES
from coolpilot.envs.env import DataCenterEnv, action_to_setpoints, setpoints_to_action


@pytest.mark.parametrize("preset", ["legacy-hall", "modern-hall", "campus"])
def test_check_env_passes(preset: str) -> None:
    env = DataCenterEnv(facility=preset, climate="miami")
    check_env(env, skip_render_check=True)


def test_registered_id_makes_the_env() -> None:
    env = gym.make(envs.ENV_ID, facility="legacy-hall", climate="phoenix", episode_days=1)
    obs, info = env.reset(seed=3)
    contract = load_facility("legacy-hall").contract
    assert obs.shape == (len(contract.point_names),) == (23,)
    assert env.action_space.shape == (len(contract.setpoint_names),) == (5,)
    assert info["climate"] == "phoenix"
    env.close()


def run_episode(seed: int, steps: int = 200) -> tuple[np.ndarray, np.ndarray]:
    env = DataCenterEnv(facility="campus", climate=["miami", "chicago"], episode_days=2)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, _, _, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards)


def test_same_seed_same_trajectory_bit_for_bit() -> None:
    obs_a, rew_a = run_episode(11)
    obs_b, rew_b = run_episode(11)
    assert obs_a.tobytes() == obs_b.tobytes() and rew_a.tobytes() == rew_b.tobytes()
    obs_c, _ = run_episode(12)
    assert obs_c.tobytes() != obs_a.tobytes()


def test_episode_truncates_after_its_length() -> None:
    env = DataCenterEnv(facility="modern-hall", climate="chicago", episode_days=1, dt_s=900)
    env.reset(seed=0)
    flags = [env.step(np.zeros(env.action_space.shape, dtype=np.float32))[3] for _ in range(96)]
    assert not any(flags[:-1]) and flags[-1]


def test_reward_terms_in_info_and_thermal_penalty_bites() -> None:
    env = DataCenterEnv(facility="modern-hall", climate="phoenix", start_day=190)
    env.reset(seed=0)
    # Warmest core setpoints; the levers at their least-cooling ends (one chiller stages late, thin flows).
    hot = setpoints_to_action(np.array([26.0, 0.3, 18.0, 32.0, 1.0, 1.0, 0.2, 0.6, 0.0]), env.contract)
    info: dict = {}
    for _ in range(36):
        _, reward, _, _, info = env.step(hot.astype(np.float32))
    assert reward == pytest.approx(info["reward_energy"] + info["reward_thermal"])
    assert info["inlet_temp_max_c"] > 27.0 and info["reward_thermal"] < 0.0
    assert info["reward_energy"] == pytest.approx(-info["facility_kw"] / env.cfg.it_design_kw)


def test_action_mapping_round_trips_and_clips() -> None:
    sp = np.array([20.0, 0.5, 10.0, 25.0])
    np.testing.assert_allclose(action_to_setpoints(setpoints_to_action(sp)), sp)
    np.testing.assert_allclose(action_to_setpoints(np.array([5.0, -5.0, 1.0, -1.0])), [26.0, 0.3, 18.0, 10.0])


def test_policies_drive_the_env_through_points() -> None:
    env = DataCenterEnv(facility="modern-hall", climate="chicago")
    policy = RuleBasedPolicy(rule_based_settings(env.cfg))
    env.reset(seed=1)
    policy.reset()
    for _ in range(12):
        sp = policy.act(env.points)
        assert list(sp) == list(env.contract.setpoint_names)
        env.step(setpoints_to_action(np.array(list(sp.values())), env.contract).astype(np.float32))
    assert list(env.points) == list(env.contract.point_names) and set(POINT_NAMES) <= set(env.points)
    # The legacy policy writes the core setpoints only; it reads the points it knows.
    assert set(LegacyPolicy().act(env.points)) == {"supply_air_temp_c", "crah_fan_speed_frac", "chw_supply_temp_c",
                                                   "condenser_water_temp_c"}


def test_contract_per_preset_defines_the_spaces() -> None:
    """Each preset's equipment gives its contract; the env's spaces are the contract's."""
    expected = {
        "legacy-hall": ("core", "chiller_staging"),
        "modern-hall": ("core", "chiller_staging", "tower_cells", "chw_dp_reset", "cw_flow", "economizer"),
        "campus": ("core", "chiller_staging", "tower_cells", "chw_dp_reset", "economizer"),
    }
    for preset, blocks in expected.items():
        env = DataCenterEnv(facility=preset, climate="miami")
        assert env.contract.blocks == blocks
        assert env.action_space.shape == (len(env.contract.setpoints),)
        assert env.observation_space.shape == (len(env.contract.points),)
        np.testing.assert_array_equal(env.observation_space.low, [p.low for p in env.contract.points])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="episode_days"):
        DataCenterEnv(episode_days=400)
    with pytest.raises(ValueError, match="dt_s"):
        DataCenterEnv(dt_s=0.1)
    with pytest.raises(ValueError, match="climate"):
        DataCenterEnv(climate=[])


def test_controllable_energy_reward_differs_by_the_nominal_it_power_only() -> None:
    """Same trajectory; the 'controllable' energy term is the facility one plus nominal IT over design IT."""
    from coolpilot.envs.vector import DataCenterVectorEnv

    a = DataCenterEnv(episode_days=1, energy_reward="facility")
    b = DataCenterEnv(episode_days=1, energy_reward="controllable")
    a.reset(seed=3)
    b.reset(seed=3)
    action = np.array([0.2, -0.3, 0.1, 0.0, 0.5, -1.0, 0.0, 1.0, 1.0], dtype=np.float32)
    for _ in range(20):
        oa, _, _, _, ia = a.step(action)
        ob, _, _, _, ib = b.step(action)
        np.testing.assert_array_equal(oa, ob)
        nominal_frac = ib["reward_energy"] - ia["reward_energy"]
        assert 0.3 < nominal_frac < 1.2  # nominal IT power over design IT power
        assert ib["it_kw"] / a.it_design_kw[0] >= nominal_frac - 1e-12  # fans only add to the nominal power
    v = DataCenterVectorEnv(2, episode_days=1, energy_reward="controllable")
    v.reset(seed=[3, 4])
    _, rewards, _, _, info = v.step(np.tile(action, (2, 1)))
    assert np.all(np.isfinite(rewards)) and np.all(info["reward_energy"] > -1.0)
    with pytest.raises(ValueError, match="energy_reward = 'it'"):
        DataCenterEnv(energy_reward="it")
