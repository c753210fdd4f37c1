"""IT load: per-zone utilization profiles and CSV traces.

A zone's utilization (0–1) drives its IT power (``coolpilot.envs.physics.air.it_power_kw``: linear
from the servers' idle power at 0 to design power at 1). It comes either from a synthetic profile
or from a CSV trace a user supplies. Time is seconds since 1 January 00:00 of the weather year; day 0
is taken as a Monday (TMY years mix calendar years, so weekdays are nominal).

Synthetic shapes (``LoadProfile.shape``):

- ``enterprise`` (default): level, diurnal and weekly shape, trend and AR(1) noise, sampled at each
  step's time;
- ``training`` (:class:`TrainingLoad`): GPU-cluster training jobs whose GPUs move together, with
  checkpoint dips, failures and restarts, idle gaps between jobs;
- ``inference`` (:class:`InferenceLoad`): a GPU inference service following its users' day, with
  request bursts.

The AI shapes are piecewise-constant in continuous time and each step's value is their exact mean over
the step that ends at the row's time (``[t − dt, t)``, the step the plant integrates), so a checkpoint
dip shorter than a step lowers that step's mean in proportion at any ``dt_s``. Their random events
(job lengths, gaps, levels, failures, bursts) come from a counter-based hash keyed by one integer the
facility's generator draws per zone (:func:`draw_noise`): the events are the same at every ``dt_s`` and
are generated inside the compiled kernel without a per-event array.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from coolpilot.envs.physics._jit import jit
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE, SECONDS_PER_YEAR
from coolpilot.envs.validation import FieldProblem, FieldProblemsError


class LoadTraceError(ValueError):
    """A load trace CSV is invalid; the message names the file, line, column and range."""


def _field(default: Any, unit: str, doc: str, *, ge: float | None = None, le: float | None = None,
           lt: float | None = None) -> Any:
    """A pydantic field with its unit (for error messages) and bounds."""
    return Field(default, description=doc, json_schema_extra={"unit": unit}, ge=ge, le=le, lt=lt)


class TrainingLoad(BaseModel):
    """GPU-cluster training (shape ``training``): long synchronous jobs, checkpoint dips, failures, idle gaps.

    A zone runs ``jobs`` independent job streams, each on an equal share of its GPUs. All GPUs of a job
    move together (bulk-synchronous data/model parallelism): in one iteration every GPU computes, then
    all wait for the collective communication, so swings that cancel out across an enterprise hall's
    unrelated servers add up here. The iteration-scale swing (compute vs communication, seconds;
    Choukse et al. 2025, "Power Stabilization for AI Training Datacenters", arXiv:2508.14318) is averaged
    into the job's level, as a step of 1 s or more and the cold plates' and room's thermal mass see it;
    what a step mean shows is modelled:

    - a job runs at a level drawn uniformly from ``job_utilization_min..max`` (8-GPU H100 nodes measured
      about 76 % of their 10.2 kW TDP in training, Newkirk et al. 2025, arXiv:2506.14551: 95 % of a design
      power derated to 80 % of nameplate, a utilization of 0.92–0.94 for idle power at 20–40 % of design;
      the default range 0.85–0.97 is a choice around that);
    - every ``checkpoint_interval_min`` of compute the job stalls ``checkpoint_min`` at
      ``checkpoint_utilization`` while it writes a checkpoint (all GPUs wait for storage). The default
      38 min is Young's optimum interval √(2·C·MTBF) (Young 1974, CACM 17(9)) for a 2 min stall and the
      default 6 h MTBF;
    - failures come at exponential times with mean ``failure_mtbf_h`` while a job runs: the job drops to
      ``idle_utilization`` for ``restart_min``, then resumes from its last checkpoint, so the work since
      that checkpoint is done again (the job lasts longer). Meta's Llama 3 pre-training saw 419 unexpected
      interruptions in 54 days on 16,384 H100 GPUs, one per 3.1 h (Dubey et al. 2024, "The Llama 3 Herd
      of Models", arXiv:2407.21783, section 3.3.4), and names checkpoint waits, job start and stop as
      datacenter-wide power swings of tens of MW; failures scale with the GPU count, so the default 6 h is
      a job of about 8,000 GPUs (a choice). The 15 min restart is a choice (reschedule, reload);
    - a job's wall time (checkpoints included, re-done work added) is exponential with mean ``job_hours``
      and jobs are separated by exponential idle gaps with mean ``gap_hours`` (choices: planned
      maintenance, evaluation and job changes in a dedicated training hall).

    At an episode's start each stream is in a job with the long-run probability :attr:`job_share`, its
    remaining time exponential (memoryless) and its checkpoint phase uniform.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    jobs: int = _field(1, "1", "Independent job streams sharing the zone's GPUs equally.", ge=1, le=64)
    job_utilization_min: float = _field(0.85, "1", "Lowest level a job runs at.", ge=0.0, le=1.0)
    job_utilization_max: float = _field(0.97, "1", "Highest level a job runs at.", ge=0.0, le=1.0)
    job_hours: float = _field(24.0, "h", "Mean wall time of a job (exponential).", ge=0.25, le=2160.0)
    gap_hours: float = _field(0.5, "h", "Mean idle gap between jobs (exponential).", ge=0.0, le=720.0)
    checkpoint_interval_min: float = _field(38.0, "min", "Compute time between checkpoints.", ge=1.0, le=1440.0)
    checkpoint_min: float = _field(2.0, "min", "Stall while a checkpoint is written.", ge=0.0, le=120.0)
    checkpoint_utilization: float = _field(0.1, "1", "Level while a checkpoint is written.", ge=0.0, le=1.0)
    idle_utilization: float = _field(0.0, "1", "Level between jobs and during restarts.", ge=0.0, le=1.0)
    failure_mtbf_h: float | None = _field(6.0, "h", "Mean running time between failures; null: none.",
                                          ge=0.5, le=100_000.0)
    restart_min: float = _field(15.0, "min", "Time at idle from a failure to the job running again.",
                                ge=0.0, le=1440.0)

    @model_validator(mode="after")
    def _ordered_levels(self) -> TrainingLoad:
        if self.job_utilization_min > self.job_utilization_max:
            raise FieldProblemsError([FieldProblem(
                "job_utilization_min", f"{self.job_utilization_min:g} 1",
                f"exceeds job_utilization_max = {self.job_utilization_max:g}", "0..job_utilization_max 1")])
        return self

    @property
    def _lost_and_restart_per_running_s(self) -> tuple[float, float]:
        """Work re-done and restart time per second of running, both 0 without failures.

        A failure at exponential time F (mean M) after a (re)start loses ``F mod P`` of work (P the
        compute-plus-checkpoint period), whose mean is ``M − P/(exp(P/M) − 1)``.
        """
        if self.failure_mtbf_h is None:
            return 0.0, 0.0
        mtbf_s = self.failure_mtbf_h * SECONDS_PER_HOUR
        period_s = (self.checkpoint_interval_min + self.checkpoint_min) * SECONDS_PER_MINUTE
        lost_s = mtbf_s - period_s / math.expm1(period_s / mtbf_s)
        return lost_s / mtbf_s, self.restart_min * SECONDS_PER_MINUTE / mtbf_s

    @property
    def job_share(self) -> float:
        """Long-run share of time a stream spends in a job (running or restarting), 0–1."""
        lost, restart = self._lost_and_restart_per_running_s
        running_h = self.job_hours / (1.0 - lost)
        in_job_h = running_h * (1.0 + restart)
        return in_job_h / (in_job_h + self.gap_hours)

    @property
    def expected_utilization(self) -> float:
        """Long-run mean utilization (renewal-reward over job, restarts and gaps; partial cycles neglected)."""
        lost, restart = self._lost_and_restart_per_running_s
        running_h = self.job_hours / (1.0 - lost)
        interval, stall = self.checkpoint_interval_min, self.checkpoint_min
        level = 0.5 * (self.job_utilization_min + self.job_utilization_max)
        running_level = (interval * level + stall * self.checkpoint_utilization) / (interval + stall)
        idle_h = running_h * restart + self.gap_hours
        return (running_h * running_level + idle_h * self.idle_utilization) / (running_h + idle_h)


class InferenceLoad(BaseModel):
    """A GPU inference service (shape ``inference``): its users' day, weekends and request bursts.

    ``u = mean·(1 + A·cos(2π(h − h_peak)/24))·(1 − drop·weekend) + bursts``, each step's exact mean.
    Inference clusters run well below their provisioned power on average and at peak, unlike training
    (Patel et al. 2024, "Characterizing Power Management Opportunities for LLMs in the Cloud", ASPLOS,
    from Azure's production LLM clusters), and their load follows the users' day: Azure's public LLM
    inference traces (2023, Splitwise, ISCA 2024; May 2024, DynamoLLM, HPCA 2025) show request rates
    with a marked day/night cycle. The defaults (mean 0.55, A = 0.35, a peak-to-trough of about 2:1 at
    14:00, a 10 % weekend drop) are choices in that spirit. Bursts (a popular release, a batch client)
    arrive as a Poisson process, last an exponential time and add an exponential height (choices).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    utilization_mean: float = _field(0.55, "1", "Weekday mean utilization before bursts.", ge=0.0, le=1.0)
    diurnal_amplitude: float = _field(0.35, "1", "Relative daily swing.", ge=0.0, le=0.9)
    peak_hour: float = _field(14.0, "h", "Hour of the daily peak (local time of the weather file).",
                              ge=0.0, lt=24.0)
    weekend_drop: float = _field(0.1, "1", "Relative drop on Saturdays and Sundays.", ge=0.0, le=0.5)
    bursts_per_hour: float = _field(1.0, "1/h", "Mean rate of request bursts.", ge=0.0, le=60.0)
    burst_min: float = _field(10.0, "min", "Mean length of a burst (exponential).", ge=0.1, le=240.0)
    burst_utilization: float = _field(0.1, "1", "Mean height a burst adds (exponential).", ge=0.0, le=1.0)

    @property
    def expected_utilization(self) -> float:
        """Long-run mean utilization before clipping to 0..1."""
        bursts = self.bursts_per_hour * self.burst_min / 60.0 * self.burst_utilization
        return self.utilization_mean * (1.0 - self.weekend_drop * 2.0 / 7.0) + bursts


def _unit(model: type[BaseModel], name: str) -> str:
    """The unit a field declares (``json_schema_extra``)."""
    extra = model.model_fields[name].json_schema_extra
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


LoadShape = Literal["enterprise", "training", "inference"]
SHAPE_CODES: dict[str, int] = {"enterprise": 0, "training": 1, "inference": 2}
"""Code of each shape in :attr:`LoadTable.shape`."""
_ENTERPRISE_ONLY = ("utilization_mean", "diurnal_amplitude", "peak_hour", "weekend_drop")


class LoadProfile(BaseModel):
    """Synthetic utilization profile of one zone (all fractions of full utilization).

    The level, diurnal and weekend fields shape ``enterprise``; the AI shapes take theirs from
    ``training`` or ``inference``. Trend and noise apply to every shape.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    utilization_mean: float = Field(0.6, ge=0.0, le=1.0, description="Mean utilization.",
                                    json_schema_extra={"unit": "1"})
    diurnal_amplitude: float = Field(0.08, ge=0.0, le=0.5, description="Relative daily swing.",
                                     json_schema_extra={"unit": "1"})
    peak_hour: float = Field(15.0, ge=0.0, lt=24.0, description="Hour of the daily peak.",
                             json_schema_extra={"unit": "h"})
    weekend_drop: float = Field(0.05, ge=0.0, le=0.5, description="Relative drop on Saturdays and Sundays.",
                                json_schema_extra={"unit": "1"})
    trend_per_year: float = Field(0.0, ge=-0.5, le=2.0, description="Relative growth per year.",
                                  json_schema_extra={"unit": "1/yr"})
    noise_std: float = Field(0.02, ge=0.0, le=0.3, description="Std of the AR(1) noise (absolute).",
                             json_schema_extra={"unit": "1"})
    noise_tau_h: float = Field(1.0, gt=0.0, le=48.0, description="Correlation time of the noise.",
                               json_schema_extra={"unit": "h"})
    trace_csv: str | None = Field(None, description="CSV trace replacing the synthetic shape "
                                                    "(path relative to the facility file or absolute).")
    trace_column: str | None = Field(None, description="Column of the trace: '<name>_frac' (0–1) or "
                                                       "'<name>_kw' (divided by the zone's design IT power).")
    shape: LoadShape = Field("enterprise", description="Synthetic shape: 'enterprise', 'training' (GPU training "
                                                        "jobs) or 'inference' (GPU inference service).")
    training: TrainingLoad | None = Field(None, description="Parameters of shape 'training' (defaults if omitted).")
    inference: InferenceLoad | None = Field(None, description="Parameters of shape 'inference' (defaults if "
                                                               "omitted).")

    @model_validator(mode="after")
    def _fields_fit_shape(self) -> LoadProfile:
        problems = []
        if self.shape != "enterprise":
            hint = " (set 'inference.{}' instead)" if self.shape == "inference" else ""
            problems += [FieldProblem(name, f"{getattr(self, name):g} {_unit(LoadProfile, name)}",
                                      f"applies to shape 'enterprise' only{hint.format(name)}",
                                      "only with shape: enterprise")
                         for name in _ENTERPRISE_ONLY
                         if name in self.model_fields_set and getattr(self, name) != _DEFAULTS[name]]
            if self.trace_csv is not None:
                problems.append(FieldProblem("trace_csv", repr(self.trace_csv), f"a trace replaces the synthetic "
                                             f"shape, so it cannot go with shape {self.shape!r}",
                                             "only with shape: enterprise"))
        for name in ("training", "inference"):
            if getattr(self, name) is not None and self.shape != name:
                problems.append(FieldProblem(name, "(given)", f"parameters of shape {name!r} but shape is "
                                             f"{self.shape!r}", f"only with shape: {name}"))
        if problems:
            raise FieldProblemsError(problems)
        return self

    # A value left at its default (a dumped and reloaded profile carries every field) is not a conflict.

    @property
    def training_load(self) -> TrainingLoad:
        """The training parameters (defaults where omitted)."""
        return self.training or TrainingLoad()

    @property
    def inference_load(self) -> InferenceLoad:
        """The inference parameters (defaults where omitted)."""
        return self.inference or InferenceLoad()


# Columns of LoadTable.ai: the AI shapes' parameters of a zone, in SI units.
_JOB_U_MIN, _JOB_U_MAX, _JOB_S, _GAP_S, _CKPT_EVERY_S, _CKPT_S, _CKPT_U, _IDLE_U, _MTBF_S, _RESTART_S = range(10)
_JOBS, _JOB_SHARE = 10, 11
_INF_MEAN, _INF_AMP, _INF_PEAK_S, _INF_DROP, _BURST_RATE_PER_S, _BURST_S, _BURST_U = range(12, 19)
N_AI_PARAMS = 19
"""Number of AI-shape parameters per zone (the last axis of :attr:`LoadTable.ai`)."""
_BURST_STREAM = 1000
_NOISE_STREAM = 1001
"""Hash streams of a zone's bursts and initial noise state (training job streams are 0..63)."""
EVENT_KEY_HIGH = 2**31
"""Event keys are drawn from 0..EVENT_KEY_HIGH − 1."""
_EVENTS_LEAD_S = SECONDS_PER_HOUR
"""An AI zone's events start this long (or one step, if longer) before the episode: the same origin at every dt."""


class LoadTable(NamedTuple):
    """Synthetic-profile parameters of N facilities' zones as (N, Z) arrays (padding zones: zeros).

    ``synthetic`` is 1 where the zone follows a synthetic profile, 0 for traces and padding;
    ``shape`` holds :data:`SHAPE_CODES`; ``ai`` (N, Z, :data:`N_AI_PARAMS`) the AI shapes' parameters.
    """

    synthetic: np.ndarray
    mean: np.ndarray
    diurnal_amplitude: np.ndarray
    peak_hour: np.ndarray
    weekend_drop: np.ndarray
    trend_per_year: np.ndarray
    noise_std: np.ndarray
    noise_tau_s: np.ndarray
    shape: np.ndarray
    ai: np.ndarray

    def take(self, idx: np.ndarray) -> LoadTable:
        """Rows ``idx``."""
        return LoadTable(*(a[idx] for a in self))


def _ai_params(prof: LoadProfile) -> np.ndarray:
    """The AI-shape parameters of one zone in SI units (zeros for enterprise)."""
    p = np.zeros(N_AI_PARAMS)
    if prof.shape == "training":
        tr = prof.training_load
        p[_JOB_U_MIN], p[_JOB_U_MAX] = tr.job_utilization_min, tr.job_utilization_max
        p[_JOB_S], p[_GAP_S] = tr.job_hours * SECONDS_PER_HOUR, tr.gap_hours * SECONDS_PER_HOUR
        p[_CKPT_EVERY_S] = tr.checkpoint_interval_min * SECONDS_PER_MINUTE
        p[_CKPT_S] = tr.checkpoint_min * SECONDS_PER_MINUTE
        p[_CKPT_U], p[_IDLE_U] = tr.checkpoint_utilization, tr.idle_utilization
        p[_MTBF_S] = math.inf if tr.failure_mtbf_h is None else tr.failure_mtbf_h * SECONDS_PER_HOUR
        p[_RESTART_S], p[_JOBS], p[_JOB_SHARE] = tr.restart_min * SECONDS_PER_MINUTE, tr.jobs, tr.job_share
    elif prof.shape == "inference":
        inf = prof.inference_load
        p[_INF_MEAN], p[_INF_AMP], p[_INF_DROP] = inf.utilization_mean, inf.diurnal_amplitude, inf.weekend_drop
        p[_INF_PEAK_S] = inf.peak_hour * SECONDS_PER_HOUR
        p[_BURST_RATE_PER_S], p[_BURST_S] = inf.bursts_per_hour / SECONDS_PER_HOUR, inf.burst_min * SECONDS_PER_MINUTE
        p[_BURST_U] = inf.burst_utilization
    return p


def load_table(zone_profiles: Sequence[Sequence[LoadProfile]], n_zones: int) -> LoadTable:
    """Stack the zones' profiles of N facilities, padded to ``n_zones``."""
    n = len(zone_profiles)
    arrays = {name: np.zeros((n, n_zones)) for name in LoadTable._fields}
    arrays["noise_tau_s"][:] = SECONDS_PER_HOUR
    arrays["ai"] = np.zeros((n, n_zones, N_AI_PARAMS))
    for i, profiles in enumerate(zone_profiles):
        for j, prof in enumerate(profiles):
            arrays["synthetic"][i, j] = 1.0 if prof.trace_csv is None else 0.0
            arrays["mean"][i, j] = prof.utilization_mean
            arrays["diurnal_amplitude"][i, j] = prof.diurnal_amplitude
            arrays["peak_hour"][i, j] = prof.peak_hour
            arrays["weekend_drop"][i, j] = prof.weekend_drop
            arrays["trend_per_year"][i, j] = prof.trend_per_year
            arrays["noise_std"][i, j] = prof.noise_std
            arrays["noise_tau_s"][i, j] = prof.noise_tau_h * SECONDS_PER_HOUR
            arrays["shape"][i, j] = SHAPE_CODES[prof.shape]
            arrays["ai"][i, j] = _ai_params(prof)
    return LoadTable(**arrays)


def draw_noise(
    table: LoadTable, row: int, rng: np.random.Generator, shocks: np.ndarray, x0: np.ndarray
) -> None:
    """Random draws for one facility's synthetic zones, written in place.

    For each zone in zone order: an AI-shape zone draws the key of its events (an integer in
    0..:data:`EVENT_KEY_HIGH` − 1, into ``x0[j]``) and then, if it has noise, ``n_steps``
    standard-normal shocks into ``shocks[j]`` (Z, n_steps); an enterprise zone with noise draws its
    shocks and then its initial noise state into ``x0[j]``; other zones get zeros. The order is fixed
    so that single and vector envs seeded alike draw the same episode, and an AI zone's key comes
    first so that its events do not depend on the number of steps.
    """
    for j in range(shocks.shape[0]):
        noisy = table.noise_std[row, j] > 0.0
        if table.synthetic[row, j] > 0.0 and table.shape[row, j] != SHAPE_CODES["enterprise"]:
            x0[j] = float(rng.integers(EVENT_KEY_HIGH))
            if noisy:
                rng.standard_normal(out=shocks[j])
            else:
                shocks[j] = 0.0
        elif table.synthetic[row, j] > 0.0 and noisy:
            rng.standard_normal(out=shocks[j])
            x0[j] = rng.standard_normal()
        else:
            shocks[j] = 0.0
            x0[j] = 0.0


@jit
def synthetic_utilization_batch(
    start_s: np.ndarray, dt_s: float, n_steps: int, mean: np.ndarray, diurnal_amplitude: np.ndarray,
    peak_hour: np.ndarray, weekend_drop: np.ndarray, trend_per_year: np.ndarray, noise_std: np.ndarray,
    noise_tau_s: np.ndarray, shape: np.ndarray, ai: np.ndarray, shocks: np.ndarray, x0: np.ndarray,
) -> np.ndarray:
    """Utilization (N, n_steps, Z) of synthetic profiles, clipped to 0..1.

    Enterprise zones: ``u = mean·(1 + A_d·cos(2π(h − h_peak)/24))·(1 − drop·weekend)·(1 + trend·years)
    + noise`` at each step's time, the noise an AR(1) series of standard deviation ``noise_std`` and
    correlation time ``noise_tau_s`` driven by standard-normal ``shocks`` (N, Z, n_steps) from ``x0``
    (N, Z). AI zones (``shape`` ≠ 0, see :func:`_ai_column`): their shape's exact mean over each step
    ``[t − dt, t)``, times the trend, plus the same AR(1) noise, with ``x0`` the key of their events.
    Day 0 is a Monday. Parameters are (N, Z) arrays, ``ai`` (N, Z, :data:`N_AI_PARAMS`); ``start_s`` is (N,).
    """
    n, z = mean.shape
    out = np.empty((n, n_steps, z))
    x = np.empty(z)
    phi = np.empty(z)
    shock_scale = np.empty(z)
    cos_peak = np.empty(z)
    sin_peak = np.empty(z)
    for i in range(n):
        for j in range(z):
            phi[j] = np.exp(-dt_s / noise_tau_s[i, j])
            if shape[i, j] == 0.0:
                shock_scale[j] = noise_std[i, j] * np.sqrt(1.0 - phi[j] * phi[j])
                x[j] = x0[i, j] * noise_std[i, j]
            else:  # an AI zone: this loop's value is replaced below
                shock_scale[j] = 0.0
                x[j] = 0.0
            cos_peak[j] = np.cos(2.0 * np.pi * peak_hour[i, j] / 24.0)
            sin_peak[j] = np.sin(2.0 * np.pi * peak_hour[i, j] / 24.0)
        for k in range(n_steps):
            t = start_s[i] + dt_s * k
            angle = 2.0 * np.pi * (t % SECONDS_PER_DAY) / SECONDS_PER_DAY
            cos_h, sin_h = np.cos(angle), np.sin(angle)  # cos(h − peak) = cos h·cos peak + sin h·sin peak
            weekend = 1.0 if (np.floor(t / SECONDS_PER_DAY) % 7) >= 5 else 0.0
            years = (dt_s * k) / SECONDS_PER_YEAR
            for j in range(z):
                shape_factor = 1.0 + diurnal_amplitude[i, j] * (cos_h * cos_peak[j] + sin_h * sin_peak[j])
                shape_factor *= 1.0 - weekend_drop[i, j] * weekend
                shape_factor *= 1.0 + trend_per_year[i, j] * years
                x[j] = phi[j] * x[j] + shocks[i, j, k] * shock_scale[j]
                u = mean[i, j] * shape_factor + x[j]
                out[i, k, j] = min(max(u, 0.0), 1.0)
        for j in range(z):
            if shape[i, j] != 0.0:
                _ai_column(out[i, :, j], shape[i, j], start_s[i], dt_s, ai[i, j], trend_per_year[i, j],
                           noise_std[i, j], phi[j], shocks[i, j], x0[i, j])
    return out


@jit
def _mix32(x: int) -> int:
    """A 32-bit integer hash (two xorshift-multiply rounds; constants from Wellons' hash-prospector).

    Products stay below 2**63, so plain int64 (compiled) and Python ints (numpy mode) agree.
    """
    x = x & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x735A2D97) & 0xFFFFFFFF
    x ^= x >> 15
    return x


@jit
def _stream_seed(key: int, stream: int) -> int:
    """The seed of hash stream ``stream`` of event key ``key``."""
    return _mix32(_mix32(key) ^ stream)


@jit
def _uniform(seed: int, counter: int) -> float:
    """The ``counter``-th uniform (0, 1) of the hash stream ``seed``."""
    return (_mix32(seed ^ counter) + 0.5) / 4294967296.0


@jit
def _exponential(mean: float, seed: int, counter: int) -> float:
    """An exponential draw of mean ``mean`` (0 for mean 0) from the hash stream ``seed``."""
    if mean == 0.0:
        return 0.0
    return -np.log(_uniform(seed, counter)) * mean


@jit
def _add_segment(col: np.ndarray, t_first: float, dt_s: float, start: float, end: float, level: float) -> None:
    """Add ``level`` × the share of each step ``[t_first + k·dt, t_first + (k+1)·dt)`` covered by [start, end)."""
    n = col.shape[0]
    if end <= start or level == 0.0:
        return
    a = max((start - t_first) / dt_s, 0.0)
    b = min((end - t_first) / dt_s, float(n))
    if b <= a:
        return
    ka, kb = int(np.floor(a)), int(np.floor(b))
    if ka == kb:
        col[ka] += level * (b - a)
        return
    col[ka] += level * (ka + 1.0 - a)
    for k in range(ka + 1, kb):
        col[k] += level
    if kb < n:
        col[kb] += level * (b - kb)


@jit
def _job_pattern(col: np.ndarray, t_first: float, dt_s: float, start: float, end: float, phase_s: float,
                 running: float, checkpoint: float, every_s: float, period_s: float) -> None:
    """A running job from ``start`` to ``end``: ``every_s`` of compute at ``running``, then a checkpoint stall
    at ``checkpoint`` until ``period_s``, repeated, beginning ``phase_s`` into the period."""
    s, p = start, phase_s
    while s < end:
        if p < every_s:
            e = s + (every_s - p)
            if e >= end:
                _add_segment(col, t_first, dt_s, s, end, running)
                return
            _add_segment(col, t_first, dt_s, s, e, running)
            s, p = e, every_s
        else:
            e = s + (period_s - p)
            if e >= end:
                _add_segment(col, t_first, dt_s, s, end, checkpoint)
                return
            _add_segment(col, t_first, dt_s, s, e, checkpoint)
            s, p = e, 0.0


@jit
def _training_stream(col: np.ndarray, weight: float, key: int, stream: int, origin: float, t_first: float,
                     dt_s: float, t_end: float, p: np.ndarray) -> None:
    """Add one job stream's utilization × ``weight`` to the step means ``col`` (see :class:`TrainingLoad`)."""
    every_s = p[_CKPT_EVERY_S]
    period_s = every_s + p[_CKPT_S]
    span = p[_JOB_U_MAX] - p[_JOB_U_MIN]
    idle = weight * p[_IDLE_U]
    seed = _stream_seed(key, stream)
    in_job = _uniform(seed, 0) < p[_JOB_SHARE]
    remaining = _exponential(p[_JOB_S], seed, 1)
    phase = _uniform(seed, 2) * period_s
    level = p[_JOB_U_MIN] + span * _uniform(seed, 3)
    c = 4
    t = origin
    if not in_job:
        gap = _exponential(p[_GAP_S], seed, c)
        c += 1
        _add_segment(col, t_first, dt_s, t, t + gap, idle)
        t += gap
        phase = 0.0
    while t < t_end:
        to_failure = math.inf if p[_MTBF_S] == math.inf else _exponential(p[_MTBF_S], seed, c)
        c += 1
        run = min(remaining, to_failure)
        _job_pattern(col, t_first, dt_s, t, min(t + run, t_end), phase, weight * level, weight * p[_CKPT_U],
                     every_s, period_s)
        if to_failure < remaining:  # back to the last checkpoint: the work since then is done again
            remaining += (phase + to_failure) % period_s - to_failure
            t += to_failure
            _add_segment(col, t_first, dt_s, t, t + p[_RESTART_S], idle)
            t += p[_RESTART_S]
        else:
            t += remaining
            gap = _exponential(p[_GAP_S], seed, c)
            remaining = _exponential(p[_JOB_S], seed, c + 1)
            level = p[_JOB_U_MIN] + span * _uniform(seed, c + 2)
            c += 3
            _add_segment(col, t_first, dt_s, t, t + gap, idle)
            t += gap
        phase = 0.0


@jit
def _diurnal_integral(a_s: float, b_s: float, amplitude: float, peak_s: float) -> float:
    """∫ (1 + A·cos(2π(t − t_peak)/day)) dt over [a, b] (seconds of one day)."""
    omega = 2.0 * np.pi / SECONDS_PER_DAY
    return (b_s - a_s) + amplitude * (np.sin(omega * (b_s - peak_s)) - np.sin(omega * (a_s - peak_s))) / omega


@jit
def _weekend_factor(day: float, drop: float) -> float:
    """1 − drop on Saturdays and Sundays (day 0 a Monday, negative days before it)."""
    return 1.0 - drop if day - 7.0 * np.floor(day / 7.0) >= 5.0 else 1.0


@jit
def _inference_column(col: np.ndarray, key: int, origin: float, t_first: float, dt_s: float, t_end: float,
                      p: np.ndarray) -> None:
    """Add the inference shape's exact step means to ``col`` (see :class:`InferenceLoad`).

    A step's mean of ``cos`` is its value at the step's middle times sin(ω·dt/2)/(ω·dt/2); a step that
    crosses a midnight where the weekend factor changes is integrated in two parts.
    """
    amplitude, peak_s, drop = p[_INF_AMP], p[_INF_PEAK_S], p[_INF_DROP]
    half_angle = np.pi * dt_s / SECONDS_PER_DAY
    mean_of_cos = amplitude * np.sin(half_angle) / half_angle
    for k in range(col.shape[0]):
        a = t_first + dt_s * k
        day = np.floor(a / SECONDS_PER_DAY)
        a_s = a - day * SECONDS_PER_DAY
        b_s = a_s + dt_s
        weekend = _weekend_factor(day, drop)
        if b_s <= SECONDS_PER_DAY or _weekend_factor(day + 1.0, drop) == weekend:
            shape = weekend * (1.0 + mean_of_cos * np.cos(2.0 * np.pi * (a_s + 0.5 * dt_s - peak_s) / SECONDS_PER_DAY))
        else:  # the step crosses the midnight where a weekend starts or ends (dt ≤ 1 day: at most once)
            shape = (weekend * _diurnal_integral(a_s, SECONDS_PER_DAY, amplitude, peak_s)
                     + _weekend_factor(day + 1.0, drop)
                     * _diurnal_integral(0.0, b_s - SECONDS_PER_DAY, amplitude, peak_s)) / dt_s
        col[k] += p[_INF_MEAN] * shape
    rate = p[_BURST_RATE_PER_S]
    if rate <= 0.0 or p[_BURST_U] <= 0.0:
        return
    seed = _stream_seed(key, _BURST_STREAM)
    t = origin
    c = 0
    while True:
        t += _exponential(1.0 / rate, seed, c)
        if t >= t_end:
            return
        length = _exponential(p[_BURST_S], seed, c + 1)
        height = _exponential(p[_BURST_U], seed, c + 2)
        c += 3
        _add_segment(col, t_first, dt_s, t, t + length, height)


@jit
def _ai_column(col: np.ndarray, code: float, start_s: float, dt_s: float, p: np.ndarray, trend_per_year: float,
               noise_std: float, phi: float, shocks: np.ndarray, key_f: float) -> None:
    """One AI zone's utilization over ``col``'s steps, written in place (row k: mean over [t_k − dt, t_k))."""
    n_steps = col.shape[0]
    key = int(key_f)
    t_first = start_s - dt_s
    t_end = t_first + dt_s * n_steps
    origin = start_s - max(dt_s, _EVENTS_LEAD_S)
    col[:] = 0.0
    if code == 1.0:
        jobs = int(p[_JOBS])
        for stream in range(jobs):
            _training_stream(col, 1.0 / jobs, key, stream, origin, t_first, dt_s, t_end, p)
    else:
        _inference_column(col, key, origin, t_first, dt_s, t_end, p)
    noise_seed = _stream_seed(key, _NOISE_STREAM)
    u1, u2 = _uniform(noise_seed, 0), _uniform(noise_seed, 1)
    x = noise_std * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # stationary start (Box–Muller)
    scale = noise_std * np.sqrt(1.0 - phi * phi)
    for k in range(n_steps):
        x = phi * x + shocks[k] * scale
        u = col[k] * (1.0 + trend_per_year * (dt_s * k) / SECONDS_PER_YEAR) + x
        col[k] = min(max(u, 0.0), 1.0)


def synthetic_utilization(
    profile: LoadProfile, start_s: float, dt_s: float, n_steps: int, rng: np.random.Generator
) -> np.ndarray:
    """Utilization (n_steps,) of one synthetic profile (see :func:`synthetic_utilization_batch`)."""
    table = load_table([[profile.model_copy(update={"trace_csv": None})]], 1)
    shocks, x0 = np.empty((1, n_steps)), np.empty(1)
    draw_noise(table, 0, rng, shocks, x0)
    return synthetic_utilization_batch(
        np.array([start_s]), dt_s, n_steps, *table[1:], shocks[None], x0[None]
    )[0, :, 0]


_TRACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def write_trace(
    path: str | Path, profiles: Mapping[str, LoadProfile], days: float, dt_s: float = 300.0, seed: int = 0,
    start_day: float = 0.0,
) -> None:
    """Write a CSV trace of synthetic profiles, as :class:`LoadTrace` reads it: ``hour`` then ``<name>_frac``.

    Row k holds each profile's utilization at ``start_day`` + k·``dt_s`` (for the AI shapes, the mean
    over the step ending there), ``days``·86400/``dt_s`` + 1 rows, so the trace repeats with period
    ``days``. The profiles are the zones of one facility drawn from ``np.random.default_rng(seed)`` as
    the simulator draws a facility's zones (same seed, same trace).
    """
    for name in profiles:
        if not _TRACE_NAME.fullmatch(name):
            raise ValueError(f"trace column name {name!r} must be letters, digits, '_', '.' or '-' "
                             f"(it becomes the column '{name}_frac')")
    for name, value, unit, low, high in (("days", days, "d", 1.0 / 24.0, 3660.0), ("dt_s", dt_s, "s", 1.0, 3600.0),
                                         ("start_day", start_day, "d", 0.0, 365.0)):
        if not low <= value <= high:
            raise ValueError(f"{name} = {value:g} {unit} is outside the allowed range {low:g}..{high:g} {unit}")
    n_steps = round(days * SECONDS_PER_DAY / dt_s) + 1
    if not profiles or n_steps < 2:
        raise ValueError(f"a trace needs at least one profile and two rows; got {len(profiles)} profile(s) "
                         f"and {n_steps} row(s) for days = {days:g} d at dt_s = {dt_s:g} s")
    zones = [prof.model_copy(update={"trace_csv": None}) for prof in profiles.values()]
    table = load_table([zones], len(zones))
    shocks, x0 = np.empty((len(zones), n_steps)), np.empty(len(zones))
    draw_noise(table, 0, np.random.default_rng(seed), shocks, x0)
    start_s = start_day * SECONDS_PER_DAY
    util = synthetic_utilization_batch(np.array([start_s]), dt_s, n_steps, *table[1:], shocks[None], x0[None])[0]
    hours = (start_s + dt_s * np.arange(n_steps)) / SECONDS_PER_HOUR
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["hour", *(f"{name}_frac" for name in profiles)])
        for k in range(n_steps):
            writer.writerow([f"{hours[k]:.6f}", *(f"{v:.5f}" for v in util[k])])


@functools.lru_cache(maxsize=64)
def load_trace(path: str) -> LoadTrace:
    """A trace read once per path (traces are immutable inputs)."""
    return LoadTrace(path)


class LoadTrace:
    """A CSV trace of utilization or IT power, interpolated linearly and repeated cyclically.

    Format: a header row; the first column is ``hour`` (hours since 1 January 00:00) or
    ``timestamp`` (ISO 8601, measured from the first row's 1 January 00:00); further
    columns are ``<name>_frac`` (0–1) or ``<name>_kw`` (kW, at most 5x the design power).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hours, self.columns = _read_trace(self.path)

    def utilization(self, column: str, design_kw: float, start_s: float, dt_s: float, n_steps: int) -> np.ndarray:
        """Utilization (n_steps,) of ``column``, kW columns divided by ``design_kw``, clipped 0..1."""
        if column not in self.columns:
            raise LoadTraceError(
                f"{self.path}: column {column!r} not found; columns are {sorted(self.columns)}"
            )
        values = self.columns[column]
        if column.endswith("_kw"):
            values = values / design_kw
        t_h = (start_s + dt_s * np.arange(n_steps)) / SECONDS_PER_HOUR
        span = self.hours[-1] - self.hours[0]
        t_rel = self.hours[0] + np.mod(t_h - self.hours[0], span) if span > 0 else t_h
        return np.clip(np.interp(t_rel, self.hours, values), 0.0, 1.0)


def _read_trace(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not path.is_file():
        raise LoadTraceError(f"{path}: load trace not found")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise LoadTraceError(f"{path}: empty file; expected a header row")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2 or header[0] not in ("hour", "timestamp"):
        raise LoadTraceError(
            f"{path} line 1: the first column must be 'hour' or 'timestamp', then at least one "
            f"'<name>_frac' or '<name>_kw' column; got {header}"
        )
    for name in header[1:]:
        if not (name.endswith("_frac") or name.endswith("_kw")):
            raise LoadTraceError(f"{path} line 1: column {name!r} must end in '_frac' (0–1) or '_kw' (kW)")
    data = rows[1:]
    if len(data) < 2:
        raise LoadTraceError(f"{path}: at least two data rows are needed, found {len(data)}")
    times = np.empty(len(data))
    values = np.empty((len(data), len(header) - 1))
    origin: np.datetime64 | None = None
    for i, row in enumerate(data):
        line = i + 2
        if len(row) != len(header):
            raise LoadTraceError(f"{path} line {line}: {len(row)} fields, the header has {len(header)}")
        if header[0] == "hour":
            times[i] = _number(path, line, "hour", row[0], "h")
        else:
            try:
                stamp = np.datetime64(row[0].strip(), "s")
            except ValueError:
                raise LoadTraceError(f"{path} line {line}: column 'timestamp' = {row[0]!r} is not ISO 8601") from None
            if origin is None:
                origin = np.datetime64(str(stamp.astype("datetime64[Y]")) + "-01-01T00:00:00", "s")
            times[i] = (stamp - origin).astype(np.int64) / SECONDS_PER_HOUR
        for j, name in enumerate(header[1:]):
            unit = "1" if name.endswith("_frac") else "kW"
            v = _number(path, line, name, row[j + 1], unit)
            high = 1.0 if unit == "1" else math.inf
            if not 0.0 <= v <= high:
                raise LoadTraceError(
                    f"{path} line {line}: column {name!r} = {v:g} {unit} is outside the allowed range "
                    f"0..{'1' if unit == '1' else '∞'} {unit}"
                )
            values[i, j] = v
    if np.any(np.diff(times) <= 0.0):
        bad = int(np.argmax(np.diff(times) <= 0.0)) + 3
        raise LoadTraceError(f"{path} line {bad}: time does not increase (column {header[0]!r})")
    return times, {name: values[:, j] for j, name in enumerate(header[1:])}


def _number(path: Path, line: int, column: str, text: str, unit: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise LoadTraceError(f"{path} line {line}: column {column!r} = {text!r} is not a number ({unit})") from None
    if not math.isfinite(v):
        raise LoadTraceError(f"{path} line {line}: column {column!r} = {text!r} is not finite ({unit})")
    return v


_DEFAULTS = {name: LoadProfile.model_fields[name].default for name in _ENTERPRISE_ONLY}
"""Enterprise-only fields' defaults: a training or inference profile may carry them (a dumped profile does)."""
