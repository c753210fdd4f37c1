"""Shared fixtures: one tiny training run and its exported bundle, built once per test session."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Ray head on 127.0.0.1 (fresh ports, 2 CPUs, 200 MB object store), stopped after the session.

    Shared by the sweep and the what-if tests (one head start per session).
    """
    from tests.ray_head import local_ray_head, loopback_env

    with pytest.MonkeyPatch.context() as mp:
        for key, value in loopback_env().items():  # before Ray is imported: it reads them at import
            mp.setenv(key, value)
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'coolpilot[cluster]')")
        from ray._private import ray_constants

        mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)  # in case Ray was imported before this fixture
        with local_ray_head(tmp_path_factory.mktemp("ray")) as address:
            yield address
