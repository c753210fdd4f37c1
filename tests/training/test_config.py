"""The training config: defaults, overrides, and errors that name the field, unit and range."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coolpilot.training.config import (
    TrainConfig,
    TrainConfigError,
    apply_overrides,
    config_from_mapping,
    load_train_config,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tiny.yaml", "modern-hall-ppo.yaml", "modern-hall-sac.yaml",
                                  "modern-hall-tes-carbon-ppo.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_train_config(REPO / "training" / "configs" / name)
    assert not set(cfg.training_climates) & set(cfg.eval.climates)


def test_default_config_is_complete_and_documented() -> None:
    cfg = TrainConfig()
    assert cfg.algo == "ppo" and cfg.env.facility == "modern-hall"
    for section in (TrainConfig, *(type(getattr(cfg, s)) for s in ("env", "ppo", "sac", "pretrain", "eval"))):
        for field_name, info in section.model_fields.items():
            assert info.description, f"{section.__name__}.{field_name} has no description"


def test_randomization_file_is_read_relative_to_the_config() -> None:
    cfg = load_train_config(REPO / "training" / "configs" / "modern-hall-ppo.yaml")
    assert cfg.env.randomization is not None and cfg.env.randomization_file is None
    assert cfg.training_climates == ["chicago", "miami", "phoenix", "sterling", "denver"]


def test_overrides_set_nested_fields_with_yaml_values(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("algo: ppo\nppo:\n  n_steps: 64\n")
    cfg = load_train_config(path, ["ppo.learning_rate=1e-4", "total_timesteps=2e6", "policy.net_arch=[32, 16]",
                                   "env.num_envs=4"])
    assert cfg.ppo.learning_rate == pytest.approx(1e-4) and cfg.ppo.n_steps == 64
    assert cfg.total_timesteps == 2_000_000 and cfg.policy.net_arch == [32, 16] and cfg.env.num_envs == 4


def test_bad_values_name_file_field_unit_and_range(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"env": {"dt_s": 5, "num_envs": 0}, "ppo": {"gamma": 1.5}, "algo": "dqn"}))
    with pytest.raises(TrainConfigError) as err:
        load_train_config(path)
    msg = str(err.value)
    assert str(path) in msg and "4 problem(s)" in msg
    assert "field 'env.dt_s' = 5 s" in msg and "60" in msg
    assert "field 'env.num_envs' = 0" in msg
    assert "field 'ppo.gamma' = 1.5" in msg
    assert "field 'algo'" in msg and "'ppo'" in msg


def test_unknown_fields_and_overlapping_climates_are_refused() -> None:
    with pytest.raises(TrainConfigError, match="learning_rte"):
        config_from_mapping({"ppo": {"learning_rte": 1e-3}}, "x.yaml")
    with pytest.raises(TrainConfigError, match=r"eval.climates \['chicago'\] are also training climates"):
        config_from_mapping({"env": {"climates": ["chicago"]}, "eval": {"climates": ["chicago"]}}, "x.yaml")


def test_malformed_overrides_and_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match=r"field.subfield=value"):
        apply_overrides({}, ["total_timesteps"])
    with pytest.raises(TrainConfigError, match="'seed' is not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])
    with pytest.raises(TrainConfigError, match="cannot read training config"):
        load_train_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(TrainConfigError, match="must be a YAML mapping"):
        load_train_config(tmp_path / "list.yaml")
    (tmp_path / "r.yaml").write_text("env:\n  randomization_file: nowhere.yaml\n")
    with pytest.raises(ValueError, match=r"nowhere.yaml"):
        load_train_config(tmp_path / "r.yaml")
