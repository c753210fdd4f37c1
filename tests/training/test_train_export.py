"""A tiny training run end to end: run directory, export, parity, the bundle as a policy; the export graph and
card follow the facility's contract (modern-hall: 30 points, 9 setpoints; legacy-hall: 23 and 5)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.controller.policies.rule_based import LEVERS, RuleBasedSettings, rule_based_settings
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT, Contract, contract_from_card
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.training.config import config_from_mapping, load_train_config
from coolpilot.training.export import ExportError, build_graph, check_parity, export, load_run
from coolpilot.training.residual import ResidualBase, settings_from_dict
from coolpilot.training.sb3_policy import ObsNormalization, SB3Policy
from coolpilot.training.train import resolve_device, train

REPO = Path(__file__).resolve().parents[2]
MODERN = load_facility("modern-hall").contract
LEGACY = load_facility("legacy-hall").contract


def test_run_directory_holds_config_logs_metrics_checkpoints_and_best(tiny_run: Path) -> None:
    for name in ("config.yaml", "train.log", "metrics.jsonl", "baseline.json", "point_ranges.json", "summary.json",
                 "contract.json", "residual.json",
                 "best/model.zip", "best/vecnormalize.pkl", "best/eval.json", "final/model.zip",
                 "final/vecnormalize.pkl", "checkpoints/model_1024_steps.zip",
                 "checkpoints/model_vecnormalize_1024_steps.pkl"):
        assert (tiny_run / name).is_file(), name
    assert list((tiny_run / "tb").glob("events.out.tfevents.*")), "no TensorBoard events"
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["timesteps"] for r in rows] == [0, 1024, 2048] and rows[0]["label"] == "initial"
    for row in rows:
        assert np.isfinite(row["facility_saving_pct"]) and row["degree_hours_above_27c"] >= 0.0
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["timesteps"] == 2048 and summary["device"] == "cpu" and summary["env_steps_per_s"] > 0
    ranges = json.loads((tiny_run / "point_ranges.json").read_text())
    assert list(ranges) == list(MODERN.point_names) and len(ranges) == 30
    assert all(lo <= hi for lo, hi in ranges.values())
    assert json.loads((tiny_run / "contract.json").read_text()) == MODERN.to_dict()
    residual = json.loads((tiny_run / "residual.json").read_text())
    assert residual["rule_based_settings"]["levers"] == list(MODERN.setpoint_names[4:])
    assert 4.0 < ranges["outdoor_drybulb_c"][1] < 50.0  # chicago/phoenix air temperatures, not a default range


def test_training_is_seeded(tiny_run: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    train(load_train_config(REPO / "training" / "configs" / "tiny.yaml"), again, progress_bar=False)
    first = [json.loads(x)["facility_saving_pct"] for x in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    second = [json.loads(x)["facility_saving_pct"] for x in (again / "metrics.jsonl").read_text().splitlines()]
    assert first == second


def test_export_writes_bundle_with_card_and_parity(tiny_bundle: Path) -> None:
    card = json.loads((tiny_bundle / "card.json").read_text())
    assert [p["name"] for p in card["points"]] == list(MODERN.point_names)
    assert [(s["name"], s["low"], s["high"]) for s in card["setpoints"]] == [(s.name, s.low, s.high)
                                                                              for s in MODERN.setpoints]
    assert card["env_id"] == "coolpilot/DataCenter-v1" and card["facility"] == "modern-hall"
    assert card["training"]["seed"] == 0 and card["training"]["config"]["algo"] == "ppo"
    assert card["parity"]["samples"] == 10_000 and card["parity"]["max_abs_diff"] <= 1e-4
    assert list(card["parity"]["max_abs_diff_by_setpoint"]) == list(MODERN.setpoint_names)
    assert "facility_saving_pct" in card["evaluation"] and card["evaluation"]["baseline"] == "rule-based"
    assert all(p["unit"] for p in card["points"])


def test_card_contract_round_trip(tiny_bundle: Path) -> None:
    """The card carries contract version 2 and the contract; contract_from_card gives the facility's back."""
    card = json.loads((tiny_bundle / "card.json").read_text())
    assert card["contract_version"] == 2 and card["contract"] == MODERN.to_dict()
    assert contract_from_card(card) == MODERN
    assert contract_from_card(card).fingerprint == MODERN.fingerprint
    import onnx

    graph = onnx.load(str(tiny_bundle / "policy.onnx")).graph
    widths = [t.type.tensor_type.shape.dim[-1].dim_value for t in (graph.input[0], graph.output[0])]
    assert widths == [30, 9]


def test_onnx_and_sb3_give_the_same_setpoints_over_a_simulated_day(tiny_run: Path, tiny_bundle: Path) -> None:
    _, reference, _ = load_run(tiny_run)
    bundle = OnnxPolicy(tiny_bundle)

    class Both:
        name = "both"
        worst = 0.0

        def reset(self) -> None:
            pass

        def act(self, points: dict[str, float]) -> dict[str, float]:
            a, b = reference.act(points), bundle.act(points)
            assert list(a) == list(b) == list(MODERN.setpoint_names)
            Both.worst = max(Both.worst, *(abs(a[n] - b[n]) for n in MODERN.setpoint_names))
            return b

    result = simulate(load_facility("modern-hall"), load_climate("san-francisco"), Both(), days=1, start_day=196)
    assert result.n_steps == 288
    assert Both.worst <= 1e-4


def test_parity_check_fails_on_a_wrong_graph(tiny_run: Path) -> None:
    _, policy, ranges = load_run(tiny_run)
    wrong = SB3Policy(policy.model, policy.norm.__class__(policy.norm.mean + 0.5, policy.norm.var), MODERN)
    data = build_graph(wrong.model, wrong.norm, MODERN).SerializeToString()
    obs = np.array([[np.mean(ranges[p]) for p in MODERN.point_names]] * 1000, dtype=np.float32)
    with pytest.raises(ExportError, match="parity check failed: setpoint"):
        check_parity(policy, data, obs)


def test_export_refuses_bad_runs_and_names(tiny_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not a training run directory"):
        export(tmp_path, "x", tmp_path / "models")
    with pytest.raises(ExportError, match="plain folder name"):
        export(tiny_run, "../x", tmp_path / "models")
    with pytest.raises(ExportError, match=r"checkpoints/model_9_steps.zip is missing"):
        export(tiny_run, "x", tmp_path / "models", checkpoint="checkpoints/model_9_steps.zip")
    export(tiny_run, "x", tmp_path / "models", checkpoint="checkpoints/model_1024_steps.zip")
    with pytest.raises(ExportError, match="exists; pass --force"):
        export(tiny_run, "x", tmp_path / "models")
    assert export(tiny_run, "x", tmp_path / "models", checkpoint="final", force=True).is_dir()


def test_export_refuses_a_run_whose_contract_is_not_its_facilitys(tiny_run: Path, tmp_path: Path) -> None:
    """A run is exported only for the facility whose contract its env had; the refusal names the difference."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["env"]["facility"] = "legacy-hall"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ExportError, match="not the contract of facility legacy-hall") as err:
        export(run, "x", tmp_path / "models")
    assert "'tower_cell_flow_min_frac'" in str(err.value) and "'economizer_enable'" in str(err.value)
    assert not (tmp_path / "models" / "x").exists()

    shutil.copytree(tiny_run, run, dirs_exist_ok=True)  # the facility back, the contract file gone
    (run / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    (run / "contract.json").unlink()
    with pytest.raises(ExportError, match="contract version 1") as err:
        export(run, "x", tmp_path / "models")
    assert "'chiller_stage_up_plr'" in str(err.value)

    recorded = json.loads((tiny_run / "contract.json").read_text())
    recorded["setpoints"][0]["slew_per_min"] = 9.0  # same names and bounds, another rate
    (run / "contract.json").write_text(json.dumps(recorded))
    with pytest.raises(ExportError, match="ranges, rates or blocks differ"):
        export(run, "x", tmp_path / "models")


def test_sac_trains_and_exports(tmp_path: Path) -> None:
    cfg = config_from_mapping({
        "algo": "sac", "total_timesteps": 512, "device": "cpu", "checkpoint_every": 0, "torch_threads": 1,
        "env": {"climates": ["chicago"], "num_envs": 4, "episode_days": 1},
        "policy": {"net_arch": [16], "activation": "relu", "action": "absolute"},
        "sac": {"learning_starts": 128, "batch_size": 64, "buffer_size": 1000},
        "eval": {"climates": ["denver"], "start_days": [10], "days": 1, "every_timesteps": 0},
    })
    train(cfg, tmp_path / "sac", progress_bar=False)
    bundle = export(tmp_path / "sac", "sac", tmp_path / "models", parity_samples=2000)
    card = json.loads((bundle / "card.json").read_text())
    assert card["training"]["algo"] == "sac" and card["parity"]["max_abs_diff"] <= 1e-4
    assert card["action"] == {"mode": "absolute"} and contract_from_card(card) == MODERN


def test_residual_bundle_with_zero_correction_is_the_stateless_rule_based(tiny_run: Path, tmp_path: Path) -> None:
    """The rule-based part inside the graph matches rule_based_batch where the network's correction is zero."""
    import onnx

    from coolpilot.controller.policies.rule_based import rule_based_batch
    from coolpilot.training.export import parity_observations

    _, policy, ranges = load_run(tiny_run)
    assert isinstance(policy.residual, ResidualBase)
    zero = SB3Policy(policy.model, policy.norm, MODERN, residual=ResidualBase(policy.residual.settings, MODERN, 1e-9))
    graph = build_graph(zero.model, zero.norm, MODERN, zero.residual)
    onnx.checker.check_model(graph)
    obs = parity_observations(ranges, MODERN.point_names, 5000, seed=1)
    assert max(check_parity(zero, graph.SerializeToString(), obs).values()) <= 1e-4
    import onnxruntime as ort

    got = ort.InferenceSession(graph.SerializeToString()).run(None, {"points": obs})[0]
    low = np.array([s.low for s in MODERN.setpoints])
    high = np.array([s.high for s in MODERN.setpoints])
    want = np.clip(rule_based_batch(obs, policy.residual.settings, point_names=MODERN.point_names), low, high)
    assert got.shape == (5000, 9) and np.abs(got - want).max() <= 1e-4
    card = json.loads((export(tiny_run, "res", tmp_path) / "card.json").read_text())
    assert card["action"]["mode"] == "residual" and card["action"]["scale"] == 0.5


# --- export parity for every setpoint of each preset's contract -------------------------------------------------


def _untrained(preset: str, algo: str, residual: bool) -> tuple[Contract, SB3Policy]:
    """A freshly initialized model on the preset's env (seeded), with VecNormalize-like statistics of its points."""
    from gymnasium.vector import AutoresetMode
    from stable_baselines3 import PPO, SAC

    from coolpilot.envs.vector import DataCenterVectorEnv
    from coolpilot.training.vec_env import SB3VecEnv

    cfg = load_facility(preset)
    contract = cfg.contract
    env = SB3VecEnv(DataCenterVectorEnv(1, facility=cfg, autoreset_mode=AutoresetMode.SAME_STEP))
    kwargs = {"policy_kwargs": {"net_arch": [32, 32]}, "seed": 0, "device": "cpu"}
    model = PPO("MlpPolicy", env, **kwargs) if algo == "ppo" else SAC("MlpPolicy", env, buffer_size=100, **kwargs)
    low = np.array([p.low for p in contract.points])
    high = np.array([p.high for p in contract.points])
    norm = ObsNormalization(0.5 * (low + high), ((high - low) / 4.0) ** 2)
    base = ResidualBase(rule_based_settings(cfg), contract, 0.5) if residual else None
    return contract, SB3Policy(model, norm, contract, residual=base)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
@pytest.mark.parametrize("action", ["absolute", "residual"])
@pytest.mark.parametrize(("preset", "widths"), [("modern-hall", (30, 9)), ("legacy-hall", (23, 5)),
                                                ("campus", (29, 8)), ("modern-hall-tes", (35, 10))])
def test_export_parity_holds_for_every_setpoint_of_the_presets_contract(preset: str, widths: tuple[int, int],
                                                                        algo: str, action: str) -> None:
    """The graph reads the contract's points and writes every one of its setpoints within 1e-4 of SB3."""
    import onnx

    contract, policy = _untrained(preset, algo, action == "residual")
    assert (len(contract.points), len(contract.setpoints)) == widths
    graph = build_graph(policy.model, policy.norm, contract, policy.residual)
    shapes = [t.type.tensor_type.shape.dim[-1].dim_value for t in (*graph.graph.input, *graph.graph.output)]
    assert shapes == list(widths)
    onnx.checker.check_model(graph)
    rng = np.random.default_rng(3)
    low = np.array([p.low for p in contract.points])
    high = np.array([p.high for p in contract.points])
    obs = rng.uniform(low, high, size=(4000, len(low))).astype(np.float32)
    worst = check_parity(policy, graph.SerializeToString(), obs)
    assert list(worst) == list(contract.setpoint_names) and max(worst.values()) <= 1e-4
    moved = policy.act_batch(obs).std(axis=0)
    assert (moved > 0.0).all(), "a setpoint the parity check never saw move proves nothing"


def test_a_graph_for_another_contract_is_refused() -> None:
    contract, policy = _untrained("legacy-hall", "ppo", residual=False)
    with pytest.raises(ExportError, match="the contract has 30 points and 9 setpoints"):
        build_graph(policy.model, policy.norm, MODERN)
    with pytest.raises(ValueError, match="observes"):
        SB3Policy(policy.model, policy.norm, MODERN)
    with pytest.raises(ValueError, match="the rule-based base writes"):
        ResidualBase(rule_based_settings(load_facility("modern-hall")), contract)


def test_a_legacy_hall_run_exports_a_five_setpoint_bundle(tmp_path: Path) -> None:
    """legacy-hall (constant-speed plant, staged chillers): a residual run exports 23 points -> 5 setpoints, the card
    round-trips its contract and the bundle drives the plant as SB3 does over a simulated day."""
    cfg = config_from_mapping({
        "total_timesteps": 256, "device": "cpu", "checkpoint_every": 0, "torch_threads": 1,
        "env": {"facility": "legacy-hall", "climates": ["chicago"], "num_envs": 4, "episode_days": 1},
        "policy": {"net_arch": [16]}, "ppo": {"n_steps": 64, "batch_size": 128, "n_epochs": 1},
        "eval": {"climates": ["denver"], "start_days": [180], "days": 1, "every_timesteps": 0},
    })
    train(cfg, tmp_path / "legacy", progress_bar=False)
    bundle = export(tmp_path / "legacy", "legacy", tmp_path / "models", parity_samples=2000)
    card = json.loads((bundle / "card.json").read_text())
    assert card["contract"]["blocks"] == ["core", "chiller_staging"]
    assert contract_from_card(card) == LEGACY and len(card["points"]) == 23
    assert [s["name"] for s in card["setpoints"]] == list(LEGACY.setpoint_names)
    assert set(card["parity"]["max_abs_diff_by_setpoint"]) == set(LEGACY.setpoint_names)
    assert card["action"]["rule_based_settings"]["levers"] == ["chiller_stage_up_plr"]
    _, reference, _ = load_run(tmp_path / "legacy")
    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle / "policy.onnx"), providers=["CPUExecutionProvider"])

    class Both:
        name = "both"
        worst = 0.0

        def reset(self) -> None:
            pass

        def act(self, points: dict[str, float]) -> dict[str, float]:
            row = np.array([[points[n] for n in LEGACY.point_names]], dtype=np.float32)
            got = session.run(["setpoints"], {"points": row})[0][0]
            want = reference.act(points)
            Both.worst = max(Both.worst, *(abs(float(g) - want[n]) for g, n in zip(got, LEGACY.setpoint_names,
                                                                                   strict=True)))
            return dict(zip(LEGACY.setpoint_names, got.tolist(), strict=True))

    result = simulate(load_facility("legacy-hall"), load_climate("denver"), Both(), days=1, start_day=180)
    assert Both.worst <= 1e-4 and "setpoint_chiller_stage_up_plr" in result.series


def test_behaviour_cloning_warm_start_learns_the_teacher(tmp_path: Path) -> None:
    cfg = config_from_mapping({
        "total_timesteps": 0, "device": "cpu", "checkpoint_every": 0, "torch_threads": 1,
        "env": {"climates": ["chicago"], "num_envs": 4, "episode_days": 1},
        "ppo": {"n_steps": 64, "batch_size": 256},
        "pretrain": {"teacher": "rule-based", "days": 2, "chunk_days": 1, "epochs": 30, "workers": 1},
        "eval": {"climates": ["denver"], "start_days": [150], "days": 1},
    })
    train(cfg, tmp_path / "bc", progress_bar=False)
    info = json.loads((tmp_path / "bc" / "pretrain.json").read_text())
    assert info["samples"] == 2 * 288 and info["losses"][-1] < 0.5 * info["losses"][0]
    rows = [json.loads(x) for x in (tmp_path / "bc" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["label"] == "pretrained"


def test_cuda_is_refused_without_a_gpu() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_cli_train_and_export(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "coolpilot", "train", str(REPO / "training" / "configs" / "tiny.yaml"),
           "--run-dir", str(run_dir), "--no-progress", "--set", "total_timesteps=512",
           "--set", "eval.every_timesteps=0"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "export with: coolpilot export" in out.stdout
    cmd = [sys.executable, "-m", "coolpilot", "export", str(run_dir), "--name", "cli", "--parity-samples", "1000"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "parity max |SB3 - ONNX|" in out.stdout and (tmp_path / "models" / "cli" / "policy.onnx").is_file()
    bad = subprocess.run([sys.executable, "-m", "coolpilot", "train", str(tmp_path / "nope.yaml")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "nope.yaml: cannot read training config" in bad.stderr


# --- the residual base in the graph is the rule-based law, operation for operation --------------------------------


def _edge_points(s: RuleBasedSettings, contract: Contract) -> np.ndarray:
    """Points at and around every branch of the law: the guard, each trim's clip, the economizer switch, and (with
    the DP reset) both clips of the differential-pressure setpoint.

    Thresholds are float32-exact where the test's settings are, so both sides of each branch
    are reached in the float32 graph exactly as in the float64 law. Columns are ``contract``'s points.
    """
    up, down = np.float32(np.inf), np.float32(-np.inf)
    g = np.float32(s.guard_c)
    inlets = [np.nextafter(g, down), g, np.nextafter(g, up), np.float32(s.inlet_target_c), np.float32(s.inlet_target_c
              + 3.0), np.float32(s.inlet_target_c - 6.0), np.float32(0.0), np.float32(60.0)]
    supplies = [np.float32(v) for v in (s.sat_min_c - 2.0, s.sat_min_c, s.sat_min_c + 0.3, s.sat_max_c - 0.2,
                                        s.sat_max_c, s.sat_max_c + 2.0, 0.0, 50.0)]
    fans = [np.float32(v) for v in (0.0, s.fan_min_frac, s.fan_min_frac + 0.02, 0.5, 0.95, 1.0)]
    free_edge = np.float32(12.0) + np.float32(s.tower_approach_k) + np.float32(1.0)
    weather = [(np.float32(12.0), r) for r in (np.nextafter(free_edge, down), free_edge, np.nextafter(free_edge, up))]
    weather += [(np.float32(wb), np.float32(18.0)) for wb in (-60.0, 2.0, s.min_condenser_c - s.tower_approach_k,
                                                             s.cw_design_c - s.tower_approach_k + 1.0, 40.0)]
    has_flow = "chw_flow_frac" in contract.points_by_name
    flows = [np.float32(v) for v in (0.0, 0.3, 0.4, 0.6, 0.84, 0.86, 1.2, 1.5)] if has_flow else [np.float32(0.0)]
    index = {n: contract.point_names.index(n) for n in contract.point_names}
    mid = np.array([0.5 * (p.low + p.high) for p in contract.points], dtype=np.float32)
    rows = []
    for inlet in inlets:
        for supply in supplies:
            for fan in fans:
                for wetbulb, chw_return in weather:
                    for flow in flows:
                        row = mid.copy()
                        row[index["inlet_temp_max_c"]], row[index["supply_air_temp_c"]] = inlet, supply
                        row[index["crah_fan_speed_frac"]] = fan
                        row[index["outdoor_wetbulb_c"]], row[index["chw_return_temp_c"]] = wetbulb, chw_return
                        if has_flow:
                            row[index["chw_flow_frac"]] = flow
                        rows.append(row)
    return np.array(rows, dtype=np.float32)


def _random_points(n: int, seed: int, contract: Contract) -> np.ndarray:
    """Half over each point's physical range, half over the range a hall really sees."""
    rng = np.random.default_rng(seed)
    low = np.array([p.low for p in contract.points])
    high = np.array([p.high for p in contract.points])
    wide = rng.uniform(low, high, size=(n // 2, len(low)))
    real = rng.uniform(low, high, size=(n - n // 2, len(low)))
    for name, lo, hi in (("inlet_temp_max_c", 15.0, 32.0), ("supply_air_temp_c", 12.0, 27.0),
                         ("crah_fan_speed_frac", 0.0, 1.0), ("outdoor_wetbulb_c", -15.0, 32.0),
                         ("chw_return_temp_c", 6.0, 26.0), ("chw_flow_frac", 0.2, 1.1)):
        if name in contract.points_by_name:
            real[:, contract.point_names.index(name)] = rng.uniform(lo, hi, size=len(real))
    return np.concatenate([wide, real]).astype(np.float32)


def _site_settings() -> list[tuple[str, RuleBasedSettings, Contract]]:
    cases = []
    for preset in ("modern-hall", "legacy-hall", "campus", "modern-hall-tes", "ai-factory"):
        cfg = load_facility(preset)
        cases.append((preset, rule_based_settings(cfg), cfg.contract))
    cases.append(("defaults", RuleBasedSettings(), CORE_CONTRACT))
    strict = RuleBasedSettings(economizer=False, guard_c=24.5, inlet_target_c=23.5, sat_max_c=22.0, fan_gain=0.25,
                               sat_gain=2.0, levers=LEVERS[:5], stage_up_plr=0.7, dp_valve_target=0.9, dp_min_frac=0.3,
                               cw_flow_frac=0.8, tower_cell_flow_min_frac=0.5)
    cases.append(("no-economizer-strict-all-levers", strict, MODERN))
    return cases


@pytest.mark.parametrize(("label", "settings", "contract"), _site_settings(), ids=[c[0] for c in _site_settings()])
def test_exported_rule_based_base_is_the_law_on_random_and_edge_points(label: str, settings: RuleBasedSettings,
                                                                       contract: Contract) -> None:
    """The base's ONNX nodes (float32) give rule_based_batch's setpoints (float64), core loops and plant levers, to
    float32 precision, on the facility contract's points."""
    import onnxruntime as ort

    from coolpilot.controller.policies.rule_based import rule_based_batch
    from coolpilot.training.export import RULE_BASED_OUTPUT, rule_based_graph

    graph = rule_based_graph(settings, contract)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    edge = _edge_points(settings, contract)
    for points in (edge, _random_points(20_000, 7, contract)):
        got = session.run([RULE_BASED_OUTPUT], {"points": points})[0]
        want = rule_based_batch(points, settings, point_names=contract.point_names)
        assert got.shape == want.shape == (len(points), len(contract.setpoints))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5, err_msg=label)
    inlet = edge[:, contract.point_names.index("inlet_temp_max_c")]
    assert (inlet > settings.guard_c).any() and (inlet <= settings.guard_c).any()  # both sides of the guard
    out = rule_based_batch(edge, settings, point_names=contract.point_names)
    column = dict(zip(contract.setpoint_names, out.T, strict=True))
    cw = column["condenser_water_temp_c"]
    assert (cw == settings.cw_free_cooling_c).any() == settings.economizer  # economizer on and off both reached
    if "chw_dp_setpoint_frac" in column:  # the DP reset's floor, ceiling and trim all reached
        dp = column["chw_dp_setpoint_frac"]
        trimmed = (dp > settings.dp_min_frac) & (dp < 1.0)
        assert (dp == settings.dp_min_frac).any() and (dp == 1.0).any() and trimmed.any()
    if "economizer_enable" in column:
        assert set(np.unique(column["economizer_enable"])) == {0.0, 1.0}
    if "tes_rate_frac" in column:  # the storage schedule charges, idles and discharges over random points
        rate = rule_based_batch(_random_points(20_000, 7, contract), settings, point_names=contract.point_names)
        assert set(np.unique(np.sign(rate[:, contract.setpoint_names.index("tes_rate_frac")]))) == {-1.0, 0.0, 1.0}


def test_the_shipped_bundles_base_is_the_law() -> None:
    """models/modern-hall-ppo's in-graph base, cut out of its policy.onnx, computes the law with its card's settings.

    The shipped bundle predates contract version 2: its card has the core block's points and setpoints and no levers.
    """
    import onnx
    import onnxruntime as ort

    from coolpilot.controller.policies.rule_based import rule_based_batch
    from coolpilot.training.export import RULE_BASED_OUTPUT

    bundle = REPO / "models" / "modern-hall-ppo"
    card = json.loads((bundle / "card.json").read_text())
    contract = contract_from_card(card)
    settings = settings_from_dict(card["action"]["rule_based_settings"])
    assert settings.setpoint_names == contract.setpoint_names
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(bundle / "policy.onnx")))
    base = onnx.utils.Extractor(graph).extract_model(["x_clipped"], [RULE_BASED_OUTPUT])
    assert all(node.name.startswith("rule_based_") for node in base.graph.node)  # the base alone, no network
    session = ort.InferenceSession(base.SerializeToString(), providers=["CPUExecutionProvider"])
    low = np.array([p.low for p in contract.points], dtype=np.float32)
    high = np.array([p.high for p in contract.points], dtype=np.float32)
    for points in (_edge_points(settings, contract), _random_points(20_000, 11, contract)):
        clipped = np.clip(points, low, high)  # the graph clips raw points to their physical ranges first
        got = session.run([RULE_BASED_OUTPUT], {"x_clipped": clipped})[0]
        want = rule_based_batch(clipped, settings, point_names=contract.point_names)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


def test_cost_objective_with_wear_and_a_write_deadband_trains_exports_and_runs_held(tmp_path: Path) -> None:
    """A cost-objective run under a time-of-use tariff with a demand charge: its card records the deadband it trained
    with, and the bundle holds small moves wherever it runs."""
    deadband = {"supply_air_temp_c": 0.5, "chiller_stage_up_plr": 0.05}
    cfg = config_from_mapping({
        "total_timesteps": 512, "device": "cpu", "checkpoint_every": 0, "torch_threads": 1,
        "env": {"facility": "legacy-hall", "climates": ["phoenix"], "num_envs": 4, "episode_days": 1,
                "objective": {"kind": "cost", "wear_kwh_per_move": 5.0, "wear_kwh_per_start": 50.0},
                "tariff": {"price_per_mwh": 60.0, "demand_charge_per_kw_month": 12.0,
                           "time_of_use": [{"start_hour": 12, "end_hour": 20, "price_per_mwh": 180.0}]},
                "action_deadband": deadband},
        "policy": {"net_arch": [16]},
        "ppo": {"n_steps": 64, "batch_size": 128, "n_epochs": 1},
        "eval": {"climates": ["denver"], "start_days": [190], "days": 1, "every_timesteps": 0},
    })
    train(cfg, tmp_path / "cost", progress_bar=False)
    bundle = export(tmp_path / "cost", "cost", tmp_path / "models", parity_samples=2000)
    card = json.loads((bundle / "card.json").read_text())
    assert card["action"]["deadband"] == deadband and card["action"]["mode"] == "residual"
    assert card["training"]["config"]["env"]["objective"]["kind"] == "cost"
    policy = OnnxPolicy(bundle, load_facility("legacy-hall").contract, "legacy-hall")
    assert policy.deadband == deadband
    result = simulate(load_facility("legacy-hall"), load_climate("denver"), policy, days=1, start_day=190)
    sat = result.series["setpoint_supply_air_temp_c"]
    moves = np.abs(np.diff(sat))
    assert np.all((moves == 0.0) | (moves >= 0.5)), "a move under the 0.5 K deadband was written"
    with pytest.raises(ValueError, match="action_deadband: 'cw_flow_frac' is not a setpoint"):
        train(config_from_mapping({**cfg.model_dump(mode="json"),
                                   "env": {**cfg.model_dump(mode="json")["env"],
                                           "action_deadband": {"cw_flow_frac": 0.1}}}),
              tmp_path / "bad", progress_bar=False)


def test_card_describes_the_exported_checkpoint_not_the_best(tiny_run: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    final = json.loads((export(tiny_run, "final", tmp_path, checkpoint="final") / "card.json").read_text())
    assert final["evaluation"]["timesteps"] == rows[-1]["timesteps"]
    mid = json.loads((export(tiny_run, "mid", tmp_path, checkpoint="checkpoints/model_1024_steps.zip")
                      / "card.json").read_text())
    assert 1024 <= mid["evaluation"]["timesteps"] < 1024 + 8 * 64  # the evaluation made at that checkpoint
