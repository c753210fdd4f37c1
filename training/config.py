"""The typed training configuration: one YAML file per run, every field documented.

``coolpilot train CONFIG.yaml --set ppo.learning_rate=1e-4 --set total_timesteps=2e6``
loads the file, applies the overrides (dotted field = YAML value) and validates the
result; an invalid file or override is refused with one line per problem naming the
file, the field, the value, its unit and the allowed range. The validated config is
written into the run directory (``config.yaml``) and into the exported policy's card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coolpilot.envs.objectives import Objective
from coolpilot.envs.randomization import Randomization
from coolpilot.envs.validation import format_validation_error
from coolpilot.evaluation.scenarios import Carbon, Tariff


class TrainConfigError(ValueError):
    """A training config or override is invalid; the message lists every problem."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _f(default: Any, doc: str, unit: str = "", **bounds: float) -> Any:
    return Field(default, description=doc, json_schema_extra={"unit": unit} if unit else None,
                 **bounds)  # type: ignore[call-overload]


class EnvSection(_Section):
    """The training environment: facility, climates, episodes, reward weights."""

    facility: str = _f("modern-hall", "Facility preset name or facility YAML path.")
    climates: list[str] = _f(["chicago", "miami", "phoenix", "sterling", "denver"],
                             "Climates training episodes are drawn from (bundled names or EPW paths). "
                             "Replaced by randomization.climates when that is given.")
    num_envs: int = _f(64, "Facilities simulated in parallel in the native vector env.", "1", ge=1, le=65536)
    episode_days: float = _f(3.0, "Length of one training episode.", "d", ge=1.0, le=365.0)
    dt_s: float = _f(300.0, "Control step.", "s", ge=60.0, le=3600.0)
    thermal_linear: float = _f(1.0, "Reward: linear penalty per K of inlet excess over 27 °C, per zone.", "1/K",
                               ge=0.0, le=1000.0)
    thermal_quadratic: float = _f(1.0, "Reward: quadratic penalty per K² of inlet excess over 27 °C, per zone.",
                                  "1/K²", ge=0.0, le=1000.0)
    energy_reward: Literal["facility", "controllable"] = _f(
        "controllable", "Energy reward: 'facility' = −facility power, or 'controllable' = −(facility − nominal IT "
        "power), the same optimum with far less variance from IT load (coolpilot.envs.env.reward_terms).")
    randomization: Randomization | None = _f(
        None, "Domain randomization per episode (climates, load level, facility factors); see "
        "envs/randomization.py. A mapping here, or a YAML path in randomization_file.")
    randomization_file: str | None = _f(None, "Path of a randomization YAML file (relative to the config file).")
    objective: Objective = _f(Objective(), "What the policy is paid for: energy, cost (time of use plus demand "
                              "charge) or carbon, each with wear per setpoint move and per chiller start "
                              "(coolpilot.envs.objectives).")
    tariff: Tariff | None = _f(None, "Electricity tariff, as in a what-if scenario (flat, time-of-use windows or a "
                               "provincial template, demand charge): the cost objective's prices and the "
                               "grid_signals points. Default: the scenarios' default flat price.")
    carbon: Carbon | None = _f(None, "Grid carbon, as in a what-if scenario (constant, a region, or hourly_csv): "
                               "the carbon objective's factors. Default: the scenarios' default factor.")
    action_deadband: dict[str, float] = _f({}, "Write deadband per setpoint (setpoint units by name): a move "
                                           "smaller than this is not made, in training and wherever the bundle "
                                           "runs (its card records it).")

    @model_validator(mode="after")
    def _one_randomization(self) -> EnvSection:
        if self.randomization is not None and self.randomization_file is not None:
            raise ValueError("give randomization or randomization_file, not both")
        if not self.climates:
            raise ValueError("climates: give at least one training climate")
        return self


class NormalizeSection(_Section):
    """VecNormalize: running statistics of observations and returns (saved with every checkpoint)."""

    observations: bool = _f(True, "Normalize observations by running mean and variance (inside the ONNX graph).")
    rewards: bool = _f(True, "Scale rewards by the running std of the discounted return (training only).")
    clip_obs: float = _f(10.0, "Clip normalized observations to ±clip_obs.", "1", gt=0.0, le=1000.0)
    clip_reward: float = _f(10.0, "Clip normalized rewards to ±clip_reward.", "1", gt=0.0, le=1000.0)


class PPOSection(_Section):
    """PPO hyperparameters (stable-baselines3 names and meanings)."""

    learning_rate: float = _f(3e-4, "Adam learning rate.", "1", gt=0.0, le=1.0)
    n_steps: int = _f(128, "Steps per env per rollout (rollout = n_steps × num_envs).", "1", ge=1, le=100000)
    batch_size: int = _f(2048, "Minibatch size.", "1", ge=2, le=10_000_000)
    n_epochs: int = _f(10, "Passes over each rollout.", "1", ge=1, le=100)
    gamma: float = _f(0.99, "Discount factor per control step.", "1", gt=0.0, le=1.0)
    gae_lambda: float = _f(0.95, "GAE λ.", "1", ge=0.0, le=1.0)
    clip_range: float = _f(0.2, "Policy ratio clip.", "1", gt=0.0, le=1.0)
    ent_coef: float = _f(0.0, "Entropy bonus.", "1", ge=0.0, le=1.0)
    vf_coef: float = _f(0.5, "Value loss weight.", "1", ge=0.0, le=10.0)
    max_grad_norm: float = _f(0.5, "Gradient norm clip.", "1", gt=0.0, le=100.0)
    log_std_init: float = _f(-0.5, "Initial log std of the Gaussian actions (in [-1, 1] action units).", "1",
                             ge=-5.0, le=2.0)
    target_kl: float | None = _f(None, "Stop an update's epochs early past this KL.", "1", gt=0.0, le=1.0)


class SACSection(_Section):
    """SAC hyperparameters (stable-baselines3 names and meanings)."""

    learning_rate: float = _f(3e-4, "Adam learning rate.", "1", gt=0.0, le=1.0)
    buffer_size: int = _f(1_000_000, "Replay buffer transitions.", "1", ge=100, le=100_000_000)
    learning_starts: int = _f(10_000, "Transitions collected before learning starts.", "1", ge=0)
    batch_size: int = _f(256, "Minibatch size.", "1", ge=2, le=1_000_000)
    tau: float = _f(0.005, "Target network soft update rate.", "1", gt=0.0, le=1.0)
    gamma: float = _f(0.99, "Discount factor per control step.", "1", gt=0.0, le=1.0)
    train_freq: int = _f(1, "Vector-env steps between updates.", "1", ge=1)
    gradient_steps: int = _f(4, "Gradient steps per update.", "1", ge=1, le=10000)
    ent_coef: str = _f("auto", "Entropy coefficient: a number, or 'auto' to tune it.")


class PolicyNetSection(_Section):
    """The actor (and critic) networks."""

    net_arch: list[int] = _f([64, 64], "Hidden layer widths (actor and critic each).")
    activation: Literal["tanh", "relu", "elu", "leaky_relu"] = _f("tanh", "Hidden activation.")
    action: Literal["absolute", "residual"] = _f(
        "residual", "What the network outputs: 'absolute' setpoints, or a 'residual' correction added to the "
        "rule-based controller's setpoints (training/residual.py); both export to raw points in, setpoints out.")
    residual_scale: float = _f(0.5, "Residual only: largest correction as a fraction of each setpoint's half span.",
                               "1", gt=0.0, le=2.0)

    @model_validator(mode="after")
    def _widths(self) -> PolicyNetSection:
        if not self.net_arch or any(not 1 <= w <= 4096 for w in self.net_arch):
            raise ValueError(f"net_arch = {self.net_arch}: give 1+ hidden layers of 1..4096 units")
        return self


class PretrainSection(_Section):
    """Behaviour cloning of a teacher before reinforcement learning (a warm start)."""

    teacher: Literal["none", "rule-based", "oracle"] = _f(
        "none", "Clone this policy's setpoints first: 'rule-based' (fast) or 'oracle' (perfect-knowledge planner, "
        "about 0.5 s per simulated day), then fine-tune with RL.")
    days: float = _f(60.0, "Simulated teacher days to clone (split over the training climates).", "d",
                     ge=1.0, le=3650.0)
    chunk_days: float = _f(3.0, "Days per teacher run (random start day, load level and climate each).", "d",
                           ge=1.0, le=365.0)
    epochs: int = _f(60, "Passes over the teacher data.", "1", ge=1, le=10000)
    learning_rate: float = _f(1e-3, "Adam learning rate of the cloning.", "1", gt=0.0, le=1.0)
    batch_size: int = _f(512, "Minibatch size of the cloning.", "1", ge=2, le=1_000_000)
    workers: int = _f(2, "Processes collecting teacher data.", "1", ge=1, le=256)
    critic_warmup_timesteps: int = _f(
        100_000, "PPO only: steps during which the cloned actor stays fixed while the critic learns its values "
        "(a random critic would otherwise spoil the clone with noisy advantages).", "1", ge=0)


class EvalSection(_Section):
    """Evaluation on climates held out from training, against the rule-based controller."""

    climates: list[str] = _f(["las-vegas", "san-francisco", "oklahoma-city"],
                             "Held-out climates (must not be training climates).")
    start_days: list[float] = _f([15.0, 196.0], "Days of year the evaluation runs start (0 = 1 January).", "d")
    days: float = _f(3.0, "Simulated days per evaluation run.", "d", ge=0.5, le=365.0)
    every_timesteps: int = _f(200_000, "Evaluate every this many environment steps (0 = only at the end).", "1",
                              ge=0)
    thermal_tolerance_kh: float = _f(0.0, "A model is 'best' only with at most this many degree-hours above 27 °C "
                                          "in evaluation.", "K·h", ge=0.0)


class TrainConfig(_Section):
    """One training run. Every field has a default; a config file overrides what it names."""

    name: str = _f("run", "Run name (the run directory is runs/<name>-<timestamp> unless --run-dir).")
    algo: Literal["ppo", "sac"] = _f("ppo", "Algorithm.")
    total_timesteps: int = _f(2_000_000, "Environment steps of RL training (summed over the parallel envs).", "1",
                              ge=0, le=10_000_000_000)
    seed: int = _f(0, "Seed of networks, environments and evaluation.", "1", ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = _f("auto", "Torch device; auto = cuda when present.")
    torch_threads: int = _f(0, "CPU threads torch may use (0 = torch's default).", "1", ge=0, le=1024)
    checkpoint_every: int = _f(500_000, "Save model and normalization statistics every this many steps (0 = off).",
                               "1", ge=0)
    env: EnvSection = Field(default_factory=EnvSection, description=EnvSection.__doc__)
    normalize: NormalizeSection = Field(default_factory=NormalizeSection, description=NormalizeSection.__doc__)
    policy: PolicyNetSection = Field(default_factory=PolicyNetSection, description=PolicyNetSection.__doc__)
    ppo: PPOSection = Field(default_factory=PPOSection, description=PPOSection.__doc__)
    sac: SACSection = Field(default_factory=SACSection, description=SACSection.__doc__)
    pretrain: PretrainSection = Field(default_factory=PretrainSection, description=PretrainSection.__doc__)
    eval: EvalSection = Field(default_factory=EvalSection, description=EvalSection.__doc__)

    @model_validator(mode="after")
    def _held_out(self) -> TrainConfig:
        train = set(self.training_climates)
        overlap = sorted(train & set(self.eval.climates))
        if overlap:
            raise ValueError(f"eval.climates {overlap} are also training climates; held-out means unseen")
        if self.algo == "sac":
            try:
                float(self.sac.ent_coef)
            except ValueError:
                if not self.sac.ent_coef.startswith("auto"):
                    raise ValueError(f"sac.ent_coef = {self.sac.ent_coef!r}: a number or 'auto'") from None
        return self

    @property
    def training_climates(self) -> list[str]:
        """Climates training episodes come from (the randomization's, if it names any)."""
        rand = self.env.randomization
        return list(rand.climates) if rand is not None and rand.climates else list(self.env.climates)


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, Any]:
    """Apply ``dotted.field=value`` overrides (values parsed as YAML) to a config mapping."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(data)) or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TrainConfigError(f"{source} {item!r}: write an override as field.subfield=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise TrainConfigError(f"{source} {item!r}: the value is not valid YAML: {err}") from None
        if isinstance(value, str):  # YAML reads 2e6 as a string; accept scientific notation numbers
            try:
                value = float(value) if any(c in value for c in ".eE") else value
                if isinstance(value, float) and value.is_integer() and "." not in raw:
                    value = int(value)
            except ValueError:
                pass
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise TrainConfigError(f"{source} {item!r}: field '{part}' is not a section")
            node = child
        node[parts[-1]] = value
    return out


def config_from_mapping(data: Any, source: str = "<mapping>", base_dir: Path | None = None) -> TrainConfig:
    """Validate a mapping into a :class:`TrainConfig`; a randomization file is read now."""
    if not isinstance(data, dict):
        raise TrainConfigError(f"{source}: a training config must be a YAML mapping, got {type(data).__name__}")
    try:
        cfg = TrainConfig.model_validate(data)
    except ValidationError as err:
        raise TrainConfigError(format_validation_error(err, TrainConfig, source, "training config")) from None
    if cfg.env.randomization_file is not None:
        from coolpilot.envs.randomization import load_randomization

        path = Path(cfg.env.randomization_file)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        rand = load_randomization(path)
        env = cfg.env.model_copy(update={"randomization": rand, "randomization_file": None})
        data = {**cfg.model_dump(mode="json"), "env": env.model_dump(mode="json")}
        return config_from_mapping(data, source, base_dir)
    return cfg


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a training config YAML file and apply CLI overrides."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise TrainConfigError(f"{p}: cannot read training config: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise TrainConfigError(f"{p}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise TrainConfigError(f"{p}: a training config must be a YAML mapping, got {type(data).__name__}")
    if overrides:
        data = apply_overrides(data, overrides)
    return config_from_mapping(data, str(p), p.parent)
