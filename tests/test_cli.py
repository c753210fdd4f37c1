"""The command line: lazy imports, simulate's outputs, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coolpilot.cli import main


def test_help_does_not_import_torch_or_the_simulator() -> None:
    code = ("import sys; from coolpilot.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'coolpilot.envs.physics', 'gymnasium', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_installed_command_runs_outside_the_checkout(tmp_path: Path) -> None:
    """From a folder outside the repository, with none of its folders on sys.path, as a user runs it:
    module names, bundled presets and climates resolve through the installed ``coolpilot`` package only."""
    code = ("import sys\n"
            "assert not any(p and __import__('os').path.isdir(__import__('os').path.join(p, 'envs', 'presets'))"
            " for p in sys.path), sys.path\n"
            "from coolpilot.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))\n")
    presets = subprocess.run([sys.executable, "-c", code, "presets"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
    assert presets.returncode == 0, presets.stderr
    assert "modern-hall" in presets.stdout and "chicago" in presets.stdout
    run = subprocess.run([sys.executable, "-c", code, "simulate", "--facility", "modern-hall", "--climate", "chicago",
                          "--days", "1", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert 1.0 < json.loads(run.stdout)["pue"] < 2.0
    for bare in ("envs", "controller", "training", "evaluation"):
        probe = subprocess.run([sys.executable, "-c", f"import {bare}"], cwd=tmp_path, capture_output=True,
                               timeout=60)
        assert probe.returncode != 0, f"a bare top-level {bare!r} is importable: it would collide in a user's env"


def test_simulate_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "series.csv"
    assert main(["simulate", "--facility", "campus", "--climate", "phoenix", "--days", "1",
                 "--policy", "legacy", "--json", "--csv", str(csv_path)]) == 0
    kpis = json.loads(capsys.readouterr().out)
    assert kpis["facility"] == "campus" and kpis["climate"] == "phoenix" and kpis["policy"] == "legacy"
    assert 1.0 < kpis["pue"] < 2.0 and kpis["water_m3"] > 0.0
    assert kpis["facility_energy_mwh"] == pytest.approx(sum(kpis["energy_by_component_mwh"].values()))
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 1 + 288
    header = lines[0].split(",")
    assert "facility_kw" in header and "inlet_temp_c_h1-ai-pod" in header and "setpoint_chw_supply_temp_c" in header
    # Every setpoint of campus's contract is recorded (legacy commands the core four; the plant runs its levers).
    from coolpilot.envs.config import load_facility

    recorded = [h.removeprefix("setpoint_") for h in header if h.startswith("setpoint_")]
    assert recorded == list(load_facility("campus").contract.setpoint_names) and len(recorded) == 8
    assert "chiller_starts" in header and "tower_cells_running" in header


def test_simulate_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "modern-hall in chicago, policy rule-based" in out and "PUE" in out and "degree-hours" in out


def test_bad_inputs_exit_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text("name: x\nfloor_area_m2: -3\nzones: []\nchillers: {capacity_kw: 100}\n")
    assert main(["simulate", "--facility", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "site.yaml" in err and "floor_area_m2" in err and "m²" in err
    assert main(["simulate", "--climate", "atlantis"]) == 2
    assert "unknown climate 'atlantis'" in capsys.readouterr().err
    assert main(["simulate", "--policy", "magic"]) == 2
    assert "unknown policy 'magic'" in capsys.readouterr().err
    assert main(["simulate", "--days", "0"]) == 2
    assert "days = 0.0 must be > 0" in capsys.readouterr().err


def test_a_missing_extra_is_named_with_its_install_command(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import builtins

    real_import = builtins.__import__

    def no_uvicorn(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "uvicorn":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    site = Path(__file__).resolve().parents[1] / "examples" / "site.yaml"
    assert main(["serve", str(site), "--cycles", "1"]) == 2
    err = capsys.readouterr().err
    assert "uvicorn" in err and "pip install 'coolpilot[serve]'" in err
