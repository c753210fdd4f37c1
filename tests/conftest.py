"""Shared fixtures: one tiny training run and its exported bundle, built once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "training" / "configs" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seconds-long PPO run of ``training/configs/tiny.yaml``."""
    pytest.importorskip("stable_baselines3")
    from training.config import load_train_config
    from training.train import train

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    train(load_train_config(TINY_CONFIG), run_dir, progress_bar=False)
    return run_dir


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run exported as ``models/tiny`` in a temporary folder."""
    from training.export import export

    return export(tiny_run, "tiny", tmp_path_factory.mktemp("models"))
