"""Behaviour cloning of a teacher (rule-based controller or oracle) as RL's warm start.

The teacher runs closed loop in ``coolpilot.envs.simulation.simulate`` over random chunks of the
year, training climates and load levels; every (points, setpoints) pair it produced is
kept, in the order of the facility's contract. The setpoints are what the plant was told
(``SimResult.series["setpoint_<name>"]``): the teacher's command, or for a setpoint the
teacher leaves to the plant (a contract-1 teacher, the legacy policy), the value the
plant's own sequence held, so the clone starts from the plant's behaviour there. The actor
is then fitted to the teacher's actions (in the env's [-1, 1] action units) by mean-squared
error on normalized observations, and the normalization statistics of the data become
VecNormalize's starting statistics, so the RL phase starts from a policy that already
controls the plant as the teacher does.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.contract import Contract
from coolpilot.envs.env import bounds
from coolpilot.envs.physics.plant import PlantParams, PlantState
from coolpilot.envs.simulation import ExoSeries, PlantAwarePolicy, simulate
from coolpilot.envs.weather import load_climate
from coolpilot.training.residual import ResidualBase

log = logging.getLogger(__name__)


@dataclass
class TeacherChunk:
    """One teacher run to record: where, when, how loaded."""

    facility: str
    climate: str
    start_day: float
    days: float
    load_scale: float
    seed: int
    teacher: str


class _Recorder:
    """Wraps a points-only teacher and records the points it saw, in the contract's order."""

    def __init__(self, teacher: object, point_names: tuple[str, ...]) -> None:
        self.teacher = teacher
        self.name = getattr(teacher, "name", "teacher")
        self.point_names = point_names
        self.points: list[list[float]] = []

    def reset(self) -> None:
        self.teacher.reset()  # type: ignore[attr-defined]

    def _keep(self, points: Mapping[str, float], sp: dict[str, float]) -> dict[str, float]:
        self.points.append([points[n] for n in self.point_names])
        return sp

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        return self._keep(points, self.teacher.act(points))  # type: ignore[attr-defined]


class _PlanRecorder(_Recorder):
    """Wraps a plant-aware teacher (the oracle)."""

    def bind(self, params: PlantParams, exo: ExoSeries, dt_s: float) -> None:
        self.teacher.bind(params, exo, dt_s)  # type: ignore[attr-defined]

    def plan(self, state: PlantState, k: int, points: Mapping[str, float]) -> dict[str, float]:
        return self._keep(points, self.teacher.plan(state, k, points))  # type: ignore[attr-defined]


def run_chunk(chunk: TeacherChunk) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, P) and the setpoints the plant was told (n, K) of one teacher run, in the contract's order."""
    from coolpilot.evaluation.policies import make_policy

    cfg = load_facility(chunk.facility)
    contract = cfg.contract
    teacher = make_policy(chunk.teacher, cfg)
    rec = (_PlanRecorder(teacher, contract.point_names) if isinstance(teacher, PlantAwarePolicy)
           else _Recorder(teacher, contract.point_names))
    result = simulate(cfg, load_climate(chunk.climate), rec, days=chunk.days, start_day=chunk.start_day,
                      seed=chunk.seed, load_scale=chunk.load_scale)
    told = np.stack([result.series[f"setpoint_{n}"] for n in contract.setpoint_names], axis=1)
    return np.array(rec.points, dtype=np.float32), told


def plan_chunks(facility: str | FacilityConfig, climates: list[str], teacher: str, days: float, chunk_days: float,
                load_range: tuple[float, float], seed: int) -> list[TeacherChunk]:
    """Spread ``days`` of teacher runs over climates, the year and the load range."""
    name = facility if isinstance(facility, str) else facility.name
    rng = np.random.default_rng(seed)
    n = max(1, round(days / chunk_days))
    return [TeacherChunk(name, climates[i % len(climates)], float(rng.uniform(0.0, 365.0 - chunk_days)), chunk_days,
                         float(rng.uniform(*load_range)), int(rng.integers(2**31)), teacher) for i in range(n)]


def collect(chunks: list[TeacherChunk], workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Run the teacher chunks (in ``workers`` processes) and stack their data."""
    if workers <= 1 or len(chunks) == 1:
        parts = [run_chunk(c) for c in chunks]
    else:
        # spawn, not fork: torch's thread pools do not survive a fork
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(run_chunk, chunks))
    points = np.concatenate([p for p, _ in parts])
    setpoints = np.concatenate([s for _, s in parts])
    return points, setpoints


def fit_actor(model: BaseAlgorithm, obs: np.ndarray, actions: np.ndarray, epochs: int, learning_rate: float,
              batch_size: int, seed: int) -> list[float]:
    """Fit the deterministic actor of ``model`` to ``actions`` in [-1, 1] on normalized ``obs``; losses per epoch."""
    device = model.device
    x = th.as_tensor(obs, dtype=th.float32, device=device)
    y = th.as_tensor(np.clip(actions, -0.999, 0.999), dtype=th.float32, device=device)
    if isinstance(model, PPO):
        policy = model.policy
        params = [*policy.features_extractor.parameters(), *policy.mlp_extractor.policy_net.parameters(),
                  *policy.action_net.parameters()]

        def forward(batch: th.Tensor) -> th.Tensor:
            features = policy.extract_features(batch, policy.pi_features_extractor)
            assert isinstance(features, th.Tensor)
            latent = policy.mlp_extractor.forward_actor(features)
            return th.clamp(policy.action_net(latent), -1.0, 1.0)
    elif isinstance(model, SAC):
        actor = model.actor
        params = list(actor.parameters())

        def forward(batch: th.Tensor) -> th.Tensor:
            return actor(batch, deterministic=True)
    else:
        raise ValueError(f"cannot pretrain a {type(model).__name__}")
    opt = th.optim.Adam(params, lr=learning_rate)
    gen = th.Generator(device="cpu").manual_seed(seed)
    losses = []
    n = x.shape[0]
    for _ in range(epochs):
        order = th.randperm(n, generator=gen).to(device)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss = th.nn.functional.mse_loss(forward(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
    return losses


def teacher_dataset(points: np.ndarray, setpoints: np.ndarray, contract: Contract,
                    residual: ResidualBase | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Clipped raw observations (n, P) and the teacher's actions (n, K) in [-1, 1], absolute or residual to the base.

    ``points`` and ``setpoints`` are in ``contract``'s order (:func:`run_chunk`).
    """
    b = bounds(contract)
    if points.shape[1:] != (len(contract.points),) or setpoints.shape[1:] != (len(contract.setpoints),):
        raise ValueError(f"teacher data of {points.shape[1:]} points and {setpoints.shape[1:]} setpoints; the "
                         f"contract has {len(contract.points)} and {len(contract.setpoints)}")
    obs = b.observe(np.asarray(points, dtype=np.float32))
    if residual is None:
        return obs, b.setpoints_to_action(setpoints)
    return obs, residual.actions(obs, setpoints)
