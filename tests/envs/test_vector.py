"""The native vector env: equivalence with single envs, autoreset, mixed presets."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import ContractError
from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.vector import DataCenterVectorEnv


def core_only(preset: str) -> FacilityConfig:
    """A preset whose policy commands only the core block (its levers run on the plant's own sequence)."""
    return load_facility(preset).model_copy(update={"blocks": []})


MIXED = [core_only(p) for p in ("legacy-hall", "modern-hall", "campus")]
"""Three different facilities sharing one contract, so they can share a batch."""


def test_n_copies_equal_n_single_envs_bit_for_bit() -> None:
    n, steps, seed = 4, 300, 7
    vec = DataCenterVectorEnv(n, facility="campus", climate=["miami", "chicago", "denver"], episode_days=1)
    singles = [DataCenterEnv(facility="campus", climate=["miami", "chicago", "denver"], episode_days=1)
               for _ in range(n)]
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    assert obs_v.tobytes() == np.array(obs_s).tobytes()
    rng = np.random.default_rng(0)
    needs_reset = [False] * n
    for _ in range(steps):
        actions = rng.uniform(-1, 1, size=(n, 8)).astype(np.float32)  # campus: 8 setpoints
        obs_v, rew_v, _, trunc_v, _ = vec.step(actions)
        for i, env in enumerate(singles):
            if needs_reset[i]:
                obs, _ = env.reset()
                rew, trunc = 0.0, False
            else:
                obs, rew, _, trunc, _ = env.step(actions[i])
            needs_reset[i] = trunc
            assert obs.tobytes() == obs_v[i].tobytes(), f"sub-env {i} diverged"
            assert rew == rew_v[i] and trunc == trunc_v[i]


def test_same_step_autoreset_reports_final_obs() -> None:
    vec = DataCenterVectorEnv(2, facility="modern-hall", climate="phoenix", episode_days=1, dt_s=3600,
                              autoreset_mode=AutoresetMode.SAME_STEP)
    vec.reset(seed=0)
    for k in range(24):
        obs, _, _, trunc, infos = vec.step(np.zeros((2, 9), np.float32))
        assert trunc.all() == (k == 23)
    assert "final_obs" in infos and infos["_final_obs"].all()
    assert not np.array_equal(infos["final_obs"], obs)
    _, _, _, trunc, _ = vec.step(np.zeros((2, 9), np.float32))
    assert not trunc.any()


def test_mixed_presets_and_climates_in_one_batch() -> None:
    vec = DataCenterVectorEnv(3, facility=MIXED,
                              climate_per_env=["miami", ["chicago"], "san-francisco"], load_scale=[1.0, 0.8, 1.1])
    obs, info = vec.reset(seed=1)
    assert obs.shape == (3, 20) and vec.observation_space.contains(obs)
    assert list(info["climate"]) == ["miami", "chicago", "san-francisco"]
    for _ in range(20):
        obs, rew, _, _, _ = vec.step(vec.action_space.sample())
        assert vec.observation_space.contains(obs) and np.all(np.isfinite(rew))
    single = DataCenterEnv(facility=MIXED[0], climate="miami")
    assert single.reset(seed=1)[0].tobytes() == DataCenterVectorEnv(3, facility=MIXED,
        climate_per_env=["miami", "chicago", "san-francisco"]).reset(seed=1)[0][0].tobytes()


def test_mixing_contracts_is_refused_naming_the_difference() -> None:
    with pytest.raises(ContractError, match=r"share a contract.*setpoints \['cw_flow_frac'\] are in facility "
                                            r"modern-hall but not in facility campus"):
        DataCenterVectorEnv(2, facility=["campus", "modern-hall"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="3 values given for 2 sub-envs"):
        DataCenterVectorEnv(2, facility=["legacy-hall", "modern-hall", "campus"])
    with pytest.raises(ValueError, match="num_envs"):
        DataCenterVectorEnv(0)
    with pytest.raises(RuntimeError, match="reset"):
        DataCenterVectorEnv(1).step(np.zeros((1, 9)))
    env = DataCenterVectorEnv(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions of shape \(2, 4\).*expected \(2, 9\).*modern-hall"):
        env.step(np.zeros((2, 4)))


def test_two_thread_split_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import coolpilot.envs.vector as vector

    def run(threshold: int) -> np.ndarray:
        monkeypatch.setattr(vector, "PARALLEL_MIN_ENVS", threshold)
        env = DataCenterVectorEnv(9, facility=[MIXED[2], MIXED[0], MIXED[1]] * 3, climate="miami")
        env.reset(seed=5)
        rng = np.random.default_rng(1)
        return np.array([env.step(rng.uniform(-1, 1, (9, 4)).astype(np.float32))[0] for _ in range(30)])

    assert run(2).tobytes() == run(10_000).tobytes()


def test_vector_env_checks_in_the_spirit_of_check_env() -> None:
    """gymnasium has no vector-env checker; these are check_env's checks, batched."""
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    env = DataCenterVectorEnv(3, facility=[MIXED[2], MIXED[1], MIXED[0]], climate=["miami", "denver"],
                              episode_days=1, dt_s=3600)
    assert env.observation_space.shape == (3, 20) and env.action_space.shape == (3, 4)
    obs_a, info = env.reset(seed=9)
    obs_b, _ = env.reset(seed=9)
    assert obs_a.dtype == np.float32 and env.observation_space.contains(obs_a)
    assert obs_a.tobytes() == obs_b.tobytes() and len(info["climate"]) == 3
    env.reset(seed=10)
    assert env.reset(seed=10)[0].tobytes() != obs_a.tobytes()
    env.reset()  # unseeded reset works
    actions = np.random.default_rng(0).uniform(-1, 1, (5, 3, 4)).astype(np.float32)
    runs = []
    for _ in range(2):
        env.reset(seed=3)
        runs.append([env.step(a) for a in actions])
    for (o1, r1, te1, tr1, _), (o2, r2, te2, tr2, _) in zip(*runs, strict=True):
        assert o1.tobytes() == o2.tobytes() and r1.tobytes() == r2.tobytes()
        assert np.array_equal(te1, te2) and np.array_equal(tr1, tr2)
        assert env.observation_space.contains(o1) and r1.dtype == np.float64 and te1.dtype == bool
    stats = RecordEpisodeStatistics(DataCenterVectorEnv(2, episode_days=1, dt_s=3600))
    stats.reset(seed=0)
    episodes = [stats.step(np.zeros((2, 9), np.float32))[4] for _ in range(25)]
    assert "episode" in episodes[23] and np.all(episodes[23]["_episode"])


def test_cost_objective_with_grid_signals_single_equals_vector() -> None:
    """Cost and wear terms, the billing peak and the signal points match a single env bit for bit."""
    from coolpilot.envs.objectives import HOURS_PER_YEAR, GridSignals, Objective

    cfg = load_facility("modern-hall")
    cfg = cfg.model_copy(update={"blocks": [*cfg.contract.blocks[1:], "grid_signals"]})
    hours = np.arange(HOURS_PER_YEAR) % 24
    signals = GridSignals(np.where((hours >= 8) & (hours < 22), 120.0, 40.0), np.full(HOURS_PER_YEAR, 0.6),
                          demand_charge_per_kw_month=12.0)
    objective = Objective(kind="cost", wear_kwh_per_move=5.0, wear_kwh_per_start=40.0)
    kwargs = dict(facility=cfg, climate="phoenix", episode_days=1, dt_s=900, objective=objective, signals=signals)
    vec = DataCenterVectorEnv(2, **kwargs)  # type: ignore[arg-type]
    singles = [DataCenterEnv(**kwargs) for _ in range(2)]  # type: ignore[arg-type]
    obs_v, _ = vec.reset(seed=3)
    obs_s = [env.reset(seed=3 + i)[0] for i, env in enumerate(singles)]
    assert obs_v.tobytes() == np.array(obs_s).tobytes() and obs_v.shape[1] == len(cfg.contract.points) == 35
    rng = np.random.default_rng(2)
    total_cost = np.zeros(2)
    for _ in range(100):  # past the episode's end: autoreset on both sides
        actions = rng.uniform(-1, 1, (2, 9)).astype(np.float32)
        obs_v, rew_v, _, _, info_v = vec.step(actions)
        for i, env in enumerate(singles):
            if env._k >= env.n_steps:
                obs = env.reset()[0]
                assert rew_v[i] == 0.0
            else:
                obs, rew, _, _, info = env.step(actions[i])
                assert rew == rew_v[i] and info["cost"] == info_v["cost"][i]
                assert info["reward_wear"] < 0.0  # random actions move setpoints
                total_cost[i] += info["cost"]
            assert obs.tobytes() == obs_v[i].tobytes()
    assert np.all(total_cost > 0.0)
    peak = obs_v[:, cfg.contract.point_names.index("facility_peak_kw")]
    power = obs_v[:, cfg.contract.point_names.index("facility_power_kw")]
    assert np.all(peak > 0.0) and np.all(peak >= 0.5 * power)


def test_action_deadband_holds_small_moves_alike_in_single_and_vector() -> None:
    deadband = {"supply_air_temp_c": 0.5, "chw_dp_setpoint_frac": 0.1, "economizer_enable": 0.6}
    kwargs = dict(facility="modern-hall", climate="miami", episode_days=1, action_deadband=deadband)
    vec = DataCenterVectorEnv(2, **kwargs)  # type: ignore[arg-type]
    singles = [DataCenterEnv(**kwargs) for _ in range(2)]  # type: ignore[arg-type]
    vec.reset(seed=5)
    for i, env in enumerate(singles):
        env.reset(seed=5 + i)
    rng = np.random.default_rng(4)
    base = rng.uniform(-1, 1, (2, 9))
    sat = []
    for _ in range(40):
        actions = np.clip(base + rng.normal(0.0, 0.02, (2, 9)), -1, 1).astype(np.float32)  # jitter < deadband
        obs_v = vec.step(actions)[0]
        for i, env in enumerate(singles):
            obs, _, _, _, info = env.step(actions[i])
            assert obs.tobytes() == obs_v[i].tobytes()
        sat.append(info["setpoints"]["supply_air_temp_c"])
    assert len(set(sat[1:])) == 1, "a 0.1 K jitter under a 0.5 K deadband must not move the setpoint"
    with pytest.raises(ValueError, match=r"action_deadband: 'bogus' is not a setpoint"):
        DataCenterEnv(action_deadband={"bogus": 1.0})
    with pytest.raises(ValueError, match=r"supply_air_temp_c = 20.0 °C must lie in \[0, 12\)"):
        DataCenterEnv(action_deadband={"supply_air_temp_c": 20.0})
