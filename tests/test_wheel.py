"""The wheel: built from the repository, installed outside the checkout, it runs a what-if with a bundle by name.

A user who installs coolpilot from a wheel has no ``models/`` folder of a checkout: the shipped bundles
must be package data, resolvable by bare name. This test builds the wheel offline from a copy of the
source tree (``pip wheel --no-deps --no-build-isolation``: setuptools from the project's environment, no
index), installs it with ``--no-deps`` into a fresh virtual environment in a temporary folder, gives that
environment the project environment's third-party packages through a ``.pth`` line (not its editable
coolpilot, whose finder a ``.pth``-added folder never runs), then, from a folder with no checkout in sight,
lists the shipped bundles and runs a one-day what-if that names ``modern-hall-ppo``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "out", "ci-artifacts", "*.egg-info",
                                 "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis")


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, (f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n"
                                 f"{out.stderr[-3000:]}")
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel built from this checkout installed in it; its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=IGNORED)  # a clean tree: no stale build/ in the wheel
    dist = root / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(dist), str(src)], root, timeout=300)
    wheels = list(dist.glob("coolpilot-*.whl"))
    assert len(wheels) == 1, wheels
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, timeout=120)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheels[0])], root, timeout=300)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([str(python), "-c", purelib], root, timeout=60).strip())
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return venv / "bin"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = _run([str(installed / "python"), "-c", "import coolpilot.envs.grid as g, coolpilot; "
                  "print(coolpilot.__file__); print(g.GRID_DATA_DIR)"], tmp_path, 120, _env()).split()
    for path in where:
        assert Path(path).is_relative_to(installed.parent), where
        assert not Path(path).resolve().is_relative_to(REPO), where


def test_models_lists_the_shipped_bundles_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    listed = json.loads(_run([str(installed / "coolpilot"), "models", "--json"], tmp_path, 120, _env()))
    names = [b["name"] for b in listed]
    assert "modern-hall-ppo" in names
    bundle = listed[names.index("modern-hall-ppo")]
    assert Path(bundle["path"]).is_relative_to(installed.parent)
    card = json.loads((REPO / "models" / "modern-hall-ppo" / "card.json").read_text())
    assert bundle["sha256"] == card["onnx"]["sha256"] and bundle["facility"] == card["facility"]
    assert bundle["training_climates"] and bundle["kpis"]["baseline"] == card["evaluation"]["baseline"]


def test_a_one_day_whatif_names_the_bundle_by_name(installed: Path, tmp_path: Path) -> None:
    scenarios = {
        "title": "Installed from a wheel",
        "policies": ["rule-based", "modern-hall-ppo"],
        "defaults": {"facility": "modern-hall", "climate": "chicago", "period": {"start_day": 190, "days": 1}},
        "scenarios": [{"name": "july-day", "carbon": {"region": "guangdong"},
                       "tariff": {"template": "guangdong", "price_per_mwh": 650}}],
    }
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump(scenarios, allow_unicode=True), encoding="utf-8")
    _run([str(installed / "coolpilot"), "whatif", str(path), "--out", "out", "--workers", "1", "--no-progress"],
         tmp_path, 600, _env())
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert results["proposed"] == "modern-hall-ppo"
    bundle = next(p for p in results["policies"] if p["label"] == "modern-hall-ppo")
    assert Path(bundle["spec"]).is_relative_to(installed.parent), bundle["spec"]
    run = results["scenarios"][0]["runs"]["modern-hall-ppo"]["kpis"]
    assert 1.0 < run["pue"] < 2.0 and run["currency"] == "CNY"
    assert run["grid_factor_mean_t_per_mwh"] == pytest.approx(0.4403)
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000
