"""``coolpilot export RUN --name NAME``: a trained run as a self-describing policy bundle.

The ONNX graph is written node by node from the trained weights (no tracing), so every
step between raw points and setpoints is explicit and inside the graph:

1. clip the raw points to their physical ranges (as the env clips observations);
2. VecNormalize: ``clip((x − mean) / sqrt(var + eps), ±clip_obs)``;
3. the deterministic actor: the MLP and its mean-action head;
4. squashing: PPO clips the mean to [-1, 1] (what ``predict`` does), SAC applies tanh;
5. rescaling from [-1, 1] to each setpoint's bounds (``envs.env.action_to_setpoints``), or,
   for a residual policy, adding the scaled action to the rule-based setpoints computed in
   the graph from the same points, then clipping to the bounds.

Export then checks parity: the SB3 model's ``predict(deterministic=True)`` followed by the
env's rescaling, against onnxruntime, on ``parity_samples`` observations drawn uniformly
over the ranges seen in training; any setpoint differing by more than 1e-4 (physical
units) fails the export and nothing is written (DESIGN.md section 2).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch as th
import yaml
from onnx import TensorProto, helper, numpy_helper
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.torch_layers import FlattenExtractor

from controller.policies.rule_based import RuleBasedSettings
from envs.contract import CONTRACT_VERSION, POINT_NAMES, POINTS, SETPOINTS
from envs.env import ENV_ID, POINT_HIGH, POINT_LOW
from envs.version import __version__
from training.config import TrainConfig, config_from_mapping
from training.residual import ResidualBase
from training.sb3_policy import ALGORITHMS, ObsNormalization, SB3Policy

CARD_SCHEMA_VERSION = 1
PARITY_TOLERANCE = 1e-4
"""Largest allowed |SB3 − ONNX| of any setpoint, in its physical unit."""
OPSET = 17
IR_VERSION = 8
"""ONNX IR version 8 loads in every onnxruntime from 1.10 on."""
INPUT_NAME = "points"
OUTPUT_NAME = "setpoints"


class ExportError(ValueError):
    """The run cannot be exported (missing files, unsupported network, parity failure)."""


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _actor_layers(model: BaseAlgorithm) -> tuple[list[th.nn.Module], str]:
    """The actor's modules from features to mean action, and the squashing (``clip`` or ``tanh``)."""
    if isinstance(model, PPO):
        policy = model.policy
        if getattr(policy, "use_sde", False) or policy.squash_output:
            raise ExportError("PPO with gSDE or squashed outputs is not supported by the exporter")
        if not isinstance(policy.pi_features_extractor, FlattenExtractor):
            raise ExportError("only the flat MlpPolicy features extractor is supported")
        return [*policy.mlp_extractor.policy_net, policy.action_net], "clip"
    if isinstance(model, SAC):
        actor = model.actor
        if actor.use_sde:
            raise ExportError("SAC with gSDE is not supported by the exporter")
        if not isinstance(actor.features_extractor, FlattenExtractor):
            raise ExportError("only the flat MlpPolicy features extractor is supported")
        return [*actor.latent_pi, actor.mu], "tanh"
    raise ExportError(f"cannot export a {type(model).__name__}; PPO and SAC are supported")


def _rule_based_nodes(s: RuleBasedSettings, x: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """:func:`controller.policies.rule_based.rule_based_batch` (stateless form) as ONNX nodes on points ``x``."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    consts: dict[float, str] = {}

    def c(value: float) -> str:
        if value not in consts:
            consts[value] = f"rb_c{len(consts)}"
            inits.append(_const(consts[value], np.array(value)))
        return consts[value]

    def op(kind: str, *inputs: str, out: str) -> str:
        nodes.append(helper.make_node(kind, list(inputs), [f"rb_{out}"], name=f"rule_based_{out}"))
        return f"rb_{out}"

    def clip(v: str, low: float, high: float, out: str) -> str:
        return op("Min", op("Max", v, c(low), out=f"{out}_lo"), c(high), out=out)

    cols = {}
    for name in ("inlet_temp_max_c", "supply_air_temp_c", "crah_fan_speed_frac", "outdoor_wetbulb_c",
                 "chw_return_temp_c"):
        idx = f"rb_idx_{name}"
        inits.append(numpy_helper.from_array(np.array([POINT_NAMES.index(name)], dtype=np.int64), idx))
        nodes.append(helper.make_node("Gather", [x, idx], [f"rb_{name}"], axis=1, name=f"rule_based_gather_{name}"))
        cols[name] = f"rb_{name}"
    inlet, supply, fan0 = cols["inlet_temp_max_c"], cols["supply_air_temp_c"], cols["crah_fan_speed_frac"]
    wetbulb = cols["outdoor_wetbulb_c"]
    guard = op("Greater", inlet, c(s.guard_c), out="guard")
    mixing = op("Sub", inlet, supply, out="mixing")
    fan_trim = clip(op("Mul", op("Sub", mixing, c(s.mix_target_k), out="mix_error"), c(s.fan_gain), out="fan_raw"),
                    -0.05, 0.1, "fan_trim")
    fan_normal = clip(op("Add", fan0, fan_trim, out="fan_sum"), s.fan_min_frac, 1.0, "fan_normal")
    fan_guard = op("Min", op("Add", fan0, c(0.1), out="fan_up"), c(1.0), out="fan_guard")
    fan = op("Where", guard, fan_guard, fan_normal, out="fan")
    sat_trim = clip(op("Mul", c(s.sat_gain), op("Sub", c(s.inlet_target_c), inlet, out="inlet_error"), out="sat_raw"),
                    -1.0, 0.5, "sat_trim")
    sat_normal = clip(op("Add", supply, sat_trim, out="sat_sum"), s.sat_min_c, s.sat_max_c, "sat_normal")
    sat_guard = op("Max", op("Sub", supply, c(1.0), out="sat_down"), c(s.sat_min_c), out="sat_guard")
    sat = op("Where", guard, sat_guard, sat_normal, out="sat")
    chw = clip(op("Sub", op("Sub", sat, c(s.coil_approach_k), out="chw_a"), c(s.chw_margin_k), out="chw_raw"),
               s.chw_min_c, s.chw_max_c, "chw")
    cw = clip(op("Add", wetbulb, c(s.tower_approach_k), out="cw_raw"), s.min_condenser_c, s.cw_design_c, "cw_normal")
    if s.economizer:
        reach = op("Add", op("Add", wetbulb, c(s.tower_approach_k), out="tower_reach"), c(1.0), out="reach")
        free = op("Less", reach, cols["chw_return_temp_c"], out="free_cooling")
        cw = op("Where", free, op("Add", op("Mul", cw, c(0.0), out="cw_zero"), c(s.cw_free_cooling_c), out="cw_free"),
                cw, out="cw")
    nodes.append(helper.make_node("Concat", [sat, fan, chw, cw], ["rb_setpoints"], axis=1, name="rule_based_concat"))
    return nodes, inits, "rb_setpoints"


def build_graph(model: BaseAlgorithm, norm: ObsNormalization, residual: ResidualBase | None = None) -> onnx.ModelProto:
    """The ONNX graph: raw points (float32 [batch, 20]) -> setpoints in physical units (float32 [batch, 4]).

    With ``residual``, the network's action corrects the rule-based setpoints computed in
    the graph from the same raw points (training/residual.py).
    """
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = [_const("point_low", POINT_LOW), _const("point_high", POINT_HIGH)]
    nodes += [helper.make_node("Max", [INPUT_NAME, "point_low"], ["x_lo"], name="clip_points_low"),
              helper.make_node("Min", ["x_lo", "point_high"], ["x_clipped"], name="clip_points_high")]
    x = "x_clipped"
    if norm.enabled:
        std = np.sqrt(norm.var + norm.epsilon)
        inits += [_const("obs_mean", norm.mean), _const("obs_std", std),
                  _const("obs_clip_low", np.array(-norm.clip_obs)), _const("obs_clip_high", np.array(norm.clip_obs))]
        nodes += [helper.make_node("Sub", [x, "obs_mean"], ["x_centered"], name="normalize_center"),
                  helper.make_node("Div", ["x_centered", "obs_std"], ["x_scaled"], name="normalize_scale"),
                  helper.make_node("Max", ["x_scaled", "obs_clip_low"], ["x_norm_lo"], name="normalize_clip_low"),
                  helper.make_node("Min", ["x_norm_lo", "obs_clip_high"], ["x_norm"], name="normalize_clip_high")]
        x = "x_norm"
    layers, squash = _actor_layers(model)
    for i, layer in enumerate(layers):
        out = f"h{i}"
        if isinstance(layer, th.nn.Linear):
            inits += [_const(f"W{i}", layer.weight.detach().cpu().numpy()),
                      _const(f"b{i}", layer.bias.detach().cpu().numpy())]
            nodes.append(helper.make_node("Gemm", [x, f"W{i}", f"b{i}"], [out], transB=1, name=f"linear_{i}"))
        elif isinstance(layer, th.nn.Tanh):
            nodes.append(helper.make_node("Tanh", [x], [out], name=f"tanh_{i}"))
        elif isinstance(layer, th.nn.ReLU):
            nodes.append(helper.make_node("Relu", [x], [out], name=f"relu_{i}"))
        elif isinstance(layer, th.nn.ELU):
            nodes.append(helper.make_node("Elu", [x], [out], alpha=float(layer.alpha), name=f"elu_{i}"))
        elif isinstance(layer, th.nn.LeakyReLU):
            nodes.append(helper.make_node("LeakyRelu", [x], [out], alpha=float(layer.negative_slope),
                                          name=f"leaky_relu_{i}"))
        else:
            raise ExportError(f"actor layer {i} is a {type(layer).__name__}; the exporter knows Linear, Tanh, "
                              "ReLU, ELU and LeakyReLU")
        x = out
    if squash == "tanh":
        nodes.append(helper.make_node("Tanh", [x], ["action"], name="squash_tanh"))
    else:
        inits += [_const("action_low", np.array(-1.0)), _const("action_high", np.array(1.0))]
        nodes += [helper.make_node("Max", [x, "action_low"], ["action_lo"], name="clip_action_low"),
                  helper.make_node("Min", ["action_lo", "action_high"], ["action"], name="clip_action_high")]
    low = np.array([s.low for s in SETPOINTS])
    high = np.array([s.high for s in SETPOINTS])
    half = 0.5 * (high - low)
    if residual is None:
        inits += [_const("setpoint_half_span", half), _const("setpoint_mid", low + half)]
        nodes += [helper.make_node("Mul", ["action", "setpoint_half_span"], ["action_scaled"], name="rescale_span"),
                  helper.make_node("Add", ["action_scaled", "setpoint_mid"], [OUTPUT_NAME], name="rescale_offset")]
    else:
        rb_nodes, rb_inits, rb_out = _rule_based_nodes(residual.settings, "x_clipped")
        nodes += rb_nodes
        inits += [*rb_inits, _const("residual_span", residual.scale * half), _const("setpoint_low", low),
                  _const("setpoint_high", high)]
        nodes += [helper.make_node("Mul", ["action", "residual_span"], ["correction"], name="residual_scale"),
                  helper.make_node("Add", [rb_out, "correction"], ["setpoints_raw"], name="residual_add"),
                  helper.make_node("Max", ["setpoints_raw", "setpoint_low"], ["setpoints_lo"], name="bound_low"),
                  helper.make_node("Min", ["setpoints_lo", "setpoint_high"], [OUTPUT_NAME], name="bound_high")]
    graph = helper.make_graph(
        nodes, "coolpilot_policy",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", len(POINTS)])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", len(SETPOINTS)])],
        inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="coolpilot",
                              producer_version=__version__, doc_string="raw points in, setpoints in physical units out")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    return proto


def parity_observations(ranges: dict[str, list[float]], n: int, seed: int) -> np.ndarray:
    """``n`` raw observations drawn uniformly over each point's training range (float32)."""
    rng = np.random.default_rng(seed)
    low = np.array([ranges[p][0] for p in POINT_NAMES])
    high = np.array([ranges[p][1] for p in POINT_NAMES])
    return rng.uniform(low, high, size=(n, len(POINT_NAMES))).astype(np.float32)


def check_parity(reference: SB3Policy, onnx_bytes: bytes, obs: np.ndarray) -> float:
    """Max |SB3 − ONNX| over all setpoints and observations; raises past :data:`PARITY_TOLERANCE`."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0]
    want = reference.act_batch(obs)
    diff = np.abs(got.astype(np.float64) - want)
    worst = float(diff.max())
    if not np.isfinite(worst) or worst > PARITY_TOLERANCE:
        i, j = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
        raise ExportError(f"parity check failed: setpoint {SETPOINTS[j].name} of observation {i} is "
                          f"{got[i, j]:.6f} {SETPOINTS[j].unit} in ONNX vs {want[i, j]:.6f} in SB3 "
                          f"(|diff| {worst:.2e} > {PARITY_TOLERANCE:g})")
    return worst


def _checkpoint_files(run: Path, checkpoint: str) -> tuple[Path, Path]:
    if checkpoint in ("best", "final"):
        return run / checkpoint / "model.zip", run / checkpoint / "vecnormalize.pkl"
    model = Path(checkpoint)
    if not model.is_absolute():
        model = run / model
    match = re.fullmatch(r"(.*)_(\d+)_steps", model.stem)
    if match is None:
        raise ExportError(f"--checkpoint {checkpoint}: expected best, final or a checkpoint file named "
                          "<prefix>_<steps>_steps.zip")
    return model, model.with_name(f"{match.group(1)}_vecnormalize_{match.group(2)}_steps.pkl")


def load_run(run: Path, checkpoint: str = "best") -> tuple[TrainConfig, SB3Policy, dict[str, list[float]]]:
    """The config, the chosen model (as an SB3 policy) and the training point ranges of a run directory."""
    if not (run / "config.yaml").is_file():
        raise ExportError(f"{run}: not a training run directory (no config.yaml)")
    cfg = config_from_mapping(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")),
                              str(run / "config.yaml"))
    model_path, norm_path = _checkpoint_files(run, checkpoint)
    for path in (model_path, norm_path, run / "point_ranges.json"):
        if not path.is_file():
            raise ExportError(f"{run}: {path.relative_to(run) if path.is_relative_to(run) else path} is missing "
                              "(did the run finish?)")
    residual = None
    if cfg.policy.action == "residual":
        res_file = run / "residual.json"
        if not res_file.is_file():
            raise ExportError(f"{run}: residual.json is missing (a residual policy needs its rule-based base)")
        data = json.loads(res_file.read_text(encoding="utf-8"))
        residual = ResidualBase(RuleBasedSettings(**data["rule_based_settings"]), float(data["scale"]))
    policy = SB3Policy.load(model_path, norm_path, cfg.algo, residual=residual)
    if not isinstance(policy.model, ALGORITHMS[cfg.algo]):
        raise ExportError(f"{model_path}: not a {cfg.algo.upper()} model")
    ranges = json.loads((run / "point_ranges.json").read_text(encoding="utf-8"))
    missing = [p for p in POINT_NAMES if p not in ranges]
    if missing:
        raise ExportError(f"{run / 'point_ranges.json'}: no training range for points {missing}")
    return cfg, policy, ranges


def make_card(name: str, cfg: TrainConfig, ranges: dict[str, list[float]], sha256: str, run: Path,
              checkpoint: str, parity: dict[str, Any], residual: ResidualBase | None = None) -> dict[str, Any]:
    """The bundle's card (DESIGN.md section 2)."""
    evaluation: dict[str, Any] = {}
    eval_file = run / "best" / "eval.json"
    if checkpoint == "best" and eval_file.is_file():
        evaluation = json.loads(eval_file.read_text(encoding="utf-8"))
    summary_file = run / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.is_file() else {}
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "coolpilot_version": __version__,
        "contract_version": CONTRACT_VERSION,
        "env_id": ENV_ID,
        "facility": cfg.env.facility,
        "onnx": {"file": "policy.onnx", "sha256": sha256, "opset": OPSET, "input": INPUT_NAME,
                 "output": OUTPUT_NAME, "dtype": "float32"},
        "points": [{"name": p.name, "unit": p.unit, "description": p.description,
                    "physical_range": [p.low, p.high], "training_range": ranges[p.name]} for p in POINTS],
        "setpoints": [{"name": s.name, "unit": s.unit, "low": s.low, "high": s.high, "description": s.description}
                      for s in SETPOINTS],
        "training": {"algo": cfg.algo, "seed": cfg.seed, "run": run.name, "checkpoint": checkpoint,
                     "timesteps": summary.get("timesteps"), "wall_s": summary.get("wall_s"),
                     "device": summary.get("device"), "config": cfg.model_dump(mode="json")},
        "evaluation": {"baseline": "rule-based", "climates": cfg.eval.climates, "start_days": cfg.eval.start_days,
                       "days_per_run": cfg.eval.days, **evaluation},
        "parity": parity,
        "action": ({"mode": "absolute"} if residual is None
                   else {"mode": "residual", "base": "rule-based (stateless form, inside the graph)",
                         **residual.as_dict()}),
    }


def export(run: str | Path, name: str, models_dir: str | Path = "models", checkpoint: str = "best",
           parity_samples: int = 10_000, force: bool = False) -> Path:
    """Write ``models_dir/name/{policy.onnx,card.json}`` from a run; returns the bundle directory."""
    run = Path(run)
    if not name or "/" in name or name.startswith("."):
        raise ExportError(f"--name {name!r}: give a plain folder name")
    if parity_samples < 1000:
        raise ExportError(f"parity_samples = {parity_samples}: check at least 1000 observations")
    target = Path(models_dir) / name
    if target.exists() and not force:
        raise ExportError(f"{target} exists; pass --force to replace it")
    cfg, policy, ranges = load_run(run, checkpoint)
    proto = build_graph(policy.model, policy.norm, policy.residual)
    data = proto.SerializeToString()
    obs = parity_observations(ranges, parity_samples, cfg.seed)
    worst = check_parity(policy, data, obs)
    sha = hashlib.sha256(data).hexdigest()
    card = make_card(name, cfg, ranges, sha, run, checkpoint,
                     {"samples": parity_samples, "max_abs_diff": worst, "tolerance": PARITY_TOLERANCE,
                      "reference": "stable-baselines3 predict(deterministic=True), then envs.env.action_to_setpoints "
                                   "or the residual's rule-based base"}, policy.residual)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        (staging / "policy.onnx").write_bytes(data)
        (staging / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be read by the service's user
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
