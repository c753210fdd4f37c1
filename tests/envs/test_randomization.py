"""Domain randomization: validated files, per-episode draws, single = vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from coolpilot.envs.env import DataCenterEnv
from coolpilot.envs.randomization import RandomizationError, load_randomization, randomization_from_mapping
from coolpilot.envs.vector import DataCenterVectorEnv

EXAMPLE = Path(__file__).parents[2] / "training" / "configs" / "randomization.yaml"


def test_example_file_loads_and_env_checks() -> None:
    r = load_randomization(EXAMPLE)
    assert r.climates and "las-vegas" not in r.climates
    check_env(DataCenterEnv(facility="campus", randomization=str(EXAMPLE)), skip_render_check=True)


def test_factors_vary_per_episode_within_their_ranges() -> None:
    env = DataCenterEnv(facility="modern-hall", randomization=str(EXAMPLE))
    base = env._base_params
    seen = []
    for seed in range(6):
        env.reset(seed=seed)
        ratio = env.params.recirc_frac[0, 0] / base.recirc_frac[0, 0]
        assert 0.7 <= ratio <= 1.5
        cop = env.params.chiller_cop_ref[0] / base.chiller_cop_ref[0]
        assert 0.9 <= cop <= 1.05
        approach = env.params.coil_approach_k[0] - base.coil_approach_k[0]
        assert -0.5 <= approach <= 1.0
        seen.append(ratio)
    assert len(set(seen)) == 6
    assert env.weather.name in {"chicago", "miami", "phoenix", "sterling", "denver"}


def test_vector_equals_single_with_randomization() -> None:
    vec = DataCenterVectorEnv(3, facility="campus", episode_days=1, dt_s=3600, randomization=str(EXAMPLE))
    singles = [DataCenterEnv(facility="campus", episode_days=1, dt_s=3600, randomization=str(EXAMPLE))
               for _ in range(3)]
    obs_v, _ = vec.reset(seed=40)
    obs_s = np.array([env.reset(seed=40 + i)[0] for i, env in enumerate(singles)])
    assert obs_v.tobytes() == obs_s.tobytes()
    rng = np.random.default_rng(0)
    for _ in range(30):  # crosses an autoreset: new factors are drawn on both sides
        actions = rng.uniform(-1, 1, (3, 8)).astype(np.float32)  # campus: 8 setpoints
        obs_v = vec.step(actions)[0]
        for i, env in enumerate(singles):
            if env._k >= env.n_steps:
                obs, _ = env.reset()
            else:
                obs = env.step(actions[i])[0]
            assert obs.tobytes() == obs_v[i].tobytes()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"load_scale": [1.2, 0.8]}, "low 1.2 is above high 0.8"),
        ({"load_scale": [0.5, 3.0]}, "must lie within 0..2"),
        ({"facility": {"chiller_cop_scale": [0.1, 1.0]}}, r"chiller_cop_scale = \[0.1, 1.0\] must lie within 0.5..1.5"),
        ({"facility": {"fan_scale": [1, 2]}}, "facility.fan_scale"),
        ({"climates": []}, "at least one climate"),
        ([1, 2], "must be a YAML mapping"),
    ],
)
def test_bad_randomization_is_refused(data: object, match: str) -> None:
    with pytest.raises(RandomizationError, match=match):
        randomization_from_mapping(data, "rand.yaml")


def test_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("load_scale: [0.5,\n")
    with pytest.raises(RandomizationError, match="not valid YAML"):
        load_randomization(bad)
