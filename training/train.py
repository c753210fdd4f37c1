"""``coolpilot train``: one run from a :class:`coolpilot.training.config.TrainConfig` to a run directory.

Run directory layout::

    config.yaml            the validated config (with overrides applied)
    train.log              the run's log
    metrics.jsonl          one line per held-out evaluation (savings vs rule-based, K·h >27 °C)
    baseline.json          the rule-based controller on the evaluation cases
    pretrain.json          behaviour-cloning data size and losses (if a teacher was cloned)
    contract.json          the env's contract (points and setpoints, coolpilot.envs.contract.Contract.to_dict)
    residual.json          the rule-based base and scale of a residual policy
    point_ranges.json      min/max of every raw point seen in training (the card's ranges)
    tb/                    TensorBoard logs
    checkpoints/           model_<steps>_steps.zip with vecnormalize_<steps>_steps.pkl
    best/                  model.zip, vecnormalize.pkl, eval.json of the best evaluation
    final/                 model.zip, vecnormalize.pkl at the end
    summary.json           wall time, steps/s, device, best evaluation
"""

from __future__ import annotations

import json
import logging
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import yaml
from gymnasium.vector import AutoresetMode
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from coolpilot import __version__
from coolpilot.controller.policies.rule_based import rule_based_settings
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.objectives import GridSignals
from coolpilot.envs.vector import DataCenterVectorEnv
from coolpilot.evaluation.policies import make_policy
from coolpilot.training.callbacks import (
    EvalCase,
    FixedRunningMeanStd,
    FreezeActorCallback,
    HeldOutEvalCallback,
    PointRangeWrapper,
    evaluate_policy,
)
from coolpilot.training.config import TrainConfig
from coolpilot.training.pretrain import collect, fit_actor, plan_chunks, teacher_dataset
from coolpilot.training.residual import ResidualActionWrapper, ResidualBase
from coolpilot.training.vec_env import SB3VecEnv

log = logging.getLogger(__name__)

SELECT_BEST = {"cost": "cost_saving_pct", "carbon": "carbon_saving_pct"}
"""The held-out saving that picks the best model, per objective (energy: the facility-energy saving)."""
ACTIVATIONS: dict[str, type[th.nn.Module]] = {
    "tanh": th.nn.Tanh, "relu": th.nn.ReLU, "elu": th.nn.ELU, "leaky_relu": th.nn.LeakyReLU,
}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU is refused."""
    if device == "auto":
        return "cuda" if th.cuda.is_available() else "cpu"
    if device == "cuda" and not th.cuda.is_available():
        raise ValueError("--device cuda: torch sees no CUDA GPU on this machine (use --device cpu or auto)")
    return device


def residual_base(cfg: TrainConfig, facility: FacilityConfig | None = None) -> ResidualBase | None:
    """The rule-based base of a residual policy, or None: commissioned for the training facility, every setpoint of
    its contract (the core loops and each plant lever it has)."""
    if cfg.policy.action != "residual":
        return None
    f = facility or load_facility(cfg.env.facility)
    return ResidualBase(rule_based_settings(f), f.contract, cfg.policy.residual_scale)


def training_signals(cfg: TrainConfig) -> GridSignals:
    """The grid signals of the training config's tariff and carbon (the what-if defaults where not given): the same
    prices the what-if KPIs use (coolpilot.evaluation.kpis.grid_signals). Forecast errors (the tariff's and carbon's
    ``forecast_uncertainty``) are drawn from the run's seed; a solar-heavy grid (``carbon.solar_share``) takes its
    hourly profile from the first training climate's irradiance (one profile serves every sub-env)."""
    from coolpilot.evaluation.kpis import grid_signals
    from coolpilot.evaluation.scenarios import Carbon, Tariff, read_carbon_profile

    carbon = cfg.env.carbon or Carbon()
    profile = read_carbon_profile(Path(carbon.hourly_csv)) if carbon.hourly_csv else None
    return grid_signals(cfg.env.tariff or Tariff(), carbon, profile, climate=cfg.training_climates[0], seed=cfg.seed)


def make_env(cfg: TrainConfig, seed: int) -> tuple[VecNormalize, PointRangeWrapper]:
    """The native vector env, residual actions (if so configured), point-range recorder and VecNormalize."""
    e = cfg.env
    venv = DataCenterVectorEnv(
        e.num_envs, facility=e.facility, climate=cfg.training_climates, episode_days=e.episode_days, dt_s=e.dt_s,
        thermal_linear=e.thermal_linear, thermal_quadratic=e.thermal_quadratic, energy_reward=e.energy_reward,
        autoreset_mode=AutoresetMode.SAME_STEP, randomization=e.randomization, objective=e.objective,
        signals=training_signals(cfg), action_deadband=e.action_deadband,
    )
    base = residual_base(cfg, venv.cfgs[0])
    inner: VecEnv = SB3VecEnv(venv) if base is None else ResidualActionWrapper(SB3VecEnv(venv), base)
    ranges = PointRangeWrapper(inner, venv.contract.point_names)
    ranges.seed(seed)
    norm = VecNormalize(ranges, norm_obs=cfg.normalize.observations, norm_reward=cfg.normalize.rewards,
                        clip_obs=cfg.normalize.clip_obs, clip_reward=cfg.normalize.clip_reward,
                        gamma=cfg.ppo.gamma if cfg.algo == "ppo" else cfg.sac.gamma)
    return norm, ranges


def make_model(cfg: TrainConfig, env: VecNormalize, device: str, tb_dir: Path | None) -> BaseAlgorithm:
    """A PPO or SAC model as the config says."""
    arch = list(cfg.policy.net_arch)
    act = ACTIVATIONS[cfg.policy.activation]
    tb = str(tb_dir) if tb_dir is not None else None
    if cfg.algo == "ppo":
        p = cfg.ppo
        return PPO(
            "MlpPolicy", env, learning_rate=p.learning_rate, n_steps=p.n_steps, batch_size=p.batch_size,
            n_epochs=p.n_epochs, gamma=p.gamma, gae_lambda=p.gae_lambda, clip_range=p.clip_range, ent_coef=p.ent_coef,
            vf_coef=p.vf_coef, max_grad_norm=p.max_grad_norm, target_kl=p.target_kl, seed=cfg.seed, device=device,
            tensorboard_log=tb, verbose=0,
            policy_kwargs={"net_arch": {"pi": arch, "vf": arch}, "activation_fn": act, "log_std_init": p.log_std_init},
        )
    s = cfg.sac
    ent: float | str = s.ent_coef if s.ent_coef.startswith("auto") else float(s.ent_coef)
    return SAC(
        "MlpPolicy", env, learning_rate=s.learning_rate, buffer_size=s.buffer_size,
        learning_starts=s.learning_starts, batch_size=s.batch_size, tau=s.tau, gamma=s.gamma,
        train_freq=s.train_freq, gradient_steps=s.gradient_steps, ent_coef=ent, seed=cfg.seed, device=device,
        tensorboard_log=tb, verbose=0, policy_kwargs={"net_arch": {"pi": arch, "qf": arch}, "activation_fn": act},
    )


def eval_cases(cfg: TrainConfig) -> list[EvalCase]:
    """Held-out climates × start days."""
    return [EvalCase(c, d, cfg.eval.days) for c in cfg.eval.climates for d in cfg.eval.start_days]


def _pretrain(cfg: TrainConfig, facility: FacilityConfig, model: BaseAlgorithm, env: VecNormalize,
              ranges: PointRangeWrapper, run_dir: Path) -> None:
    p = cfg.pretrain
    rand = cfg.env.randomization
    load_range = rand.load_scale if rand is not None else (1.0, 1.0)
    chunks = plan_chunks(cfg.env.facility, cfg.training_climates, p.teacher, p.days, p.chunk_days, load_range,
                         cfg.seed)
    start = time.perf_counter()
    points, setpoints = collect(chunks, p.workers)
    collect_s = time.perf_counter() - start
    obs, actions = teacher_dataset(points, setpoints, facility.contract, residual_base(cfg, facility))
    if cfg.normalize.observations:
        rms = FixedRunningMeanStd(shape=(obs.shape[1],))
        rms.mean = obs.mean(axis=0).astype(np.float64)
        rms.var = obs.var(axis=0).astype(np.float64)
        rms.count = float(len(obs))
        env.obs_rms = rms  # type: ignore[assignment]  # SB3 types obs_rms for dict spaces too
    ranges.merge({n: [float(lo), float(hi)] for n, lo, hi in zip(facility.contract.point_names, obs.min(0),
                                                                  obs.max(0), strict=True)})
    start = time.perf_counter()
    normalized: Any = env.normalize_obs(obs)
    losses = fit_actor(model, normalized, actions, p.epochs, p.learning_rate, p.batch_size, cfg.seed)
    fit_s = time.perf_counter() - start
    info = {"teacher": p.teacher, "chunks": len(chunks), "samples": len(obs), "collect_s": collect_s, "fit_s": fit_s,
            "final_mse": losses[-1], "losses": losses}
    (run_dir / "pretrain.json").write_text(json.dumps(info, indent=2) + "\n")
    log.info("cloned %s: %d samples from %d runs in %.0f s, fit in %.0f s, final MSE %.5f", p.teacher, len(obs),
             len(chunks), collect_s, fit_s, losses[-1])


def train(cfg: TrainConfig, run_dir: Path, progress_bar: bool = True) -> dict[str, Any]:
    """Run training; returns the summary also written to ``run_dir/summary.json``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        return _train(cfg, run_dir, progress_bar)
    finally:
        root.removeHandler(handler)
        handler.close()


def _train(cfg: TrainConfig, run_dir: Path, progress_bar: bool) -> dict[str, Any]:
    device = resolve_device(cfg.device)
    if cfg.torch_threads:
        th.set_num_threads(cfg.torch_threads)
    set_random_seed(cfg.seed, using_cuda=device == "cuda")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    facility = load_facility(cfg.env.facility)
    (run_dir / "contract.json").write_text(json.dumps(facility.contract.to_dict(), indent=2) + "\n")
    base = residual_base(cfg, facility)
    if base is not None:
        (run_dir / "residual.json").write_text(json.dumps(base.as_dict(), indent=2) + "\n")
    cases = eval_cases(cfg)
    log.info("run %s: %s on %s (contract %s: %d points, setpoints %s), device %s, %d envs, %d steps; training "
             "climates %s, held out %s", run_dir.name, cfg.algo.upper(), facility.name, facility.contract.fingerprint,
             len(facility.contract.points), list(facility.contract.setpoint_names), device, cfg.env.num_envs,
             cfg.total_timesteps, cfg.training_climates, cfg.eval.climates)
    start = time.perf_counter()
    signals = training_signals(cfg)
    baseline = evaluate_policy(make_policy("rule-based", facility), facility, cases, cfg.seed, signals)
    baseline_info = {"policy": "rule-based", "facility_kwh": baseline.facility_kwh, "cooling_kwh": baseline.cooling_kwh,
                     "pue": baseline.pue, "setpoint_changes_per_day": baseline.setpoint_changes / baseline.days,
                     "chiller_starts_per_day": baseline.chiller_starts / baseline.days,
                     "peak_facility_power_kw": baseline.peak_facility_power_kw, "cost": baseline.cost,
                     "per_case": baseline.per_case}
    (run_dir / "baseline.json").write_text(json.dumps(baseline_info, indent=2) + "\n")
    env, ranges = make_env(cfg, cfg.seed)
    model = make_model(cfg, env, device, run_dir / "tb")
    model.set_logger(configure(str(run_dir / "tb"), ["tensorboard", "csv"]))
    if cfg.pretrain.teacher != "none":
        _pretrain(cfg, facility, model, env, ranges, run_dir)
    evaluator = HeldOutEvalCallback(facility, cases, baseline, run_dir, cfg.eval.every_timesteps,
                                    cfg.eval.thermal_tolerance_kh, cfg.seed, env, base, cfg.env.action_deadband,
                                    signals, SELECT_BEST.get(cfg.env.objective.kind, "facility_saving_pct"))
    evaluator.init_callback(model)
    evaluator.evaluate("pretrained" if cfg.pretrain.teacher != "none" else "initial")
    callbacks: list[BaseCallback] = [evaluator]
    if cfg.checkpoint_every > 0:
        callbacks.append(CheckpointCallback(max(1, cfg.checkpoint_every // cfg.env.num_envs),
                                            str(run_dir / "checkpoints"), name_prefix="model",
                                            save_vecnormalize=True))
    if cfg.algo == "ppo" and cfg.pretrain.teacher != "none":
        callbacks.append(FreezeActorCallback(cfg.pretrain.critic_warmup_timesteps))
    learn_start = time.perf_counter()
    if cfg.total_timesteps > 0:
        model.learn(total_timesteps=cfg.total_timesteps, callback=CallbackList(callbacks),
                    progress_bar=progress_bar, tb_log_name="", reset_num_timesteps=True)
    learn_s = time.perf_counter() - learn_start
    final = run_dir / "final"
    final.mkdir(exist_ok=True)
    model.save(final / "model.zip")
    env.save(str(final / "vecnormalize.pkl"))
    (run_dir / "point_ranges.json").write_text(json.dumps(ranges.ranges(), indent=2) + "\n")
    if evaluator.best is None:
        log.warning("no evaluation stayed within %.2f K·h above 27 °C: best/ holds the final model",
                    cfg.eval.thermal_tolerance_kh)
        best = run_dir / "best"
        best.mkdir(exist_ok=True)
        model.save(best / "model.zip")
        env.save(str(best / "vecnormalize.pkl"))
        (best / "eval.json").write_text(json.dumps({**evaluator.history[-1], "within_tolerance": False}, indent=2))
    summary = {
        "run_dir": str(run_dir), "algo": cfg.algo, "device": device, "torch_version": th.__version__,
        "coolpilot_version": __version__, "python": platform.python_version(), "machine": platform.machine(),
        "cpu_threads": th.get_num_threads(), "timesteps": int(model.num_timesteps),
        "learn_s": learn_s, "wall_s": time.perf_counter() - start,
        "env_steps_per_s": model.num_timesteps / learn_s if learn_s > 0 and model.num_timesteps else 0.0,
        "best_eval": evaluator.best, "evaluations": len(evaluator.history),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    env.close()
    return summary


def default_run_dir(cfg: TrainConfig, root: Path = Path("runs")) -> Path:
    """runs/<name>-<UTC timestamp>."""
    return root / f"{cfg.name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
