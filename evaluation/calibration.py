"""Fit a facility file to a site's history: CMA-ES over the batched twin, then sensitivity and uncertainty.

The method, in order:

1. **Split in time.** The last ``holdout_days`` of the history are held out; the fit sees only the
   period before them.
2. **Misfit.** Every candidate facility replays the training period through the batched physics
   (:func:`coolpilot.envs.calibration.twin.replay`: recorded weather, setpoints and IT power; the whole
   population in one call) and is scored by its multi-step prediction error: for each recorded
   point, the mean squared error over the period in units of its misfit scale
   (:func:`coolpilot.envs.calibration.targets.loss_scale`: 0.2 K, 2 % of a power's root-mean-square,
   0.02 of a fraction), summed over points. The twin is never reset to the measurements: a candidate
   must carry its own state for weeks. A weak pull toward the draft's values (:data:`DRAFT_PULL`)
   decides only where the data cannot (a maximum a posteriori estimate).
3. **Search.** CMA-ES (Hansen's ``cma`` package) over the parameters scaled to the unit cube of their
   physical bounds (log scale for masses and powers): :attr:`FitSettings.restarts` searches side by
   side, their populations replayed together in one batch per generation; then Levenberg–Marquardt
   steps on the same misfit with a central-difference Jacobian (one replay of 2P + 1 candidates per
   step) settle the directions CMA-ES left coarse.
4. **What the data pinned** (:func:`identifiability`). A Laplace approximation at the optimum (the
   bounds as a uniform prior, each point's residual variance and lag-1 autocorrelation setting its
   effective number of samples), profile likelihoods (each parameter held 5 % and 15 % of its range
   away while the others are refitted) and the other searches' optima give each parameter's
   statistical uncertainty; a parameter whose uncertainty the data did not shrink below
   :data:`IDENTIFIABLE_SHARE` of its prior's, or that another equally good fit puts elsewhere, is
   **not identifiable**, with the reason. The recorded inputs' accuracy (weather, IT power) adds its
   part to the uncertainty. The report names the points that informed each value and the parameters
   it trades off with.
5. **Held-out check.** Calibrated and draft facilities replay the held-out period; per point,
   Guideline 14 statistics and RMSE in kelvin (:mod:`coolpilot.envs.calibration.metrics`).

Why CMA-ES: the misfit of a multi-week free-running replay is non-smooth (chiller staging,
economizer changeover, coil limits) and cheap to evaluate in populations; CMA-ES needs no
gradient, handles bounds, and its population is exactly the batch the vector physics runs at
once (PHYSICS.md section 12 lists it among the tools made for this).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from coolpilot.envs.calibration.history import History, HistoryError
from coolpilot.envs.calibration.metrics import PointFit, point_fit
from coolpilot.envs.calibration.parameters import ParameterSpace
from coolpilot.envs.calibration.targets import NON_IT_POWER, compared_points, fitted, loss_scale
from coolpilot.envs.calibration.twin import ReplayInputs, replay, replay_inputs
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.facility import build_params
from coolpilot.envs.units import SECONDS_PER_DAY

log = logging.getLogger(__name__)

IDENTIFIABLE_SHARE = 0.25
"""A parameter is identifiable when the data shrink its standard uncertainty below this share of its prior's
(the uniform prior over its physical bounds): a quarter of the range's spread or less."""
INPUT_LIMITED_SHARE = 0.5
"""An identified parameter whose total uncertainty (the inputs' accuracy included) exceeds this share of its prior's
spread is reported as limited by the inputs: better sensors, not more excitation, would pin it."""
COLLINEAR_CORRELATION = 0.8
"""Posterior correlation above which two parameters are reported as trading off against each other."""
DRAFT_PULL = 0.01
"""Weight of the draft's values in the misfit, per squared unit-cube distance: a parameter moved across its
whole range costs a hundredth of a misfit unit. Where the data pin a parameter this is nothing; where they
cannot tell values apart (a flat valley, two basins) the draft's value, the engineer's knowledge, decides
instead of the optimizer's wandering (a maximum a posteriori estimate)."""
JACOBIAN_STEP = 0.01
"""Finite-difference step in the unit cube of the bounds."""
PRIOR_PRECISION = 12.0
"""Precision of a uniform prior over the unit interval (1 / variance, variance 1/12)."""
RESIDUAL_VARIANCE_FLOOR = 0.01
"""Smallest residual variance credited to a point (misfit units²): a noise-free series (a simulated one, or a
quantized reading that never moves) would otherwise weigh without limit; 0.01 is a tenth of a misfit unit's σ."""
INPUT_ACCURACY: dict[str, float] = {"outdoor_drybulb_c": 0.3, "outdoor_wetbulb_c": 0.5, "it_power_kw": 0.01}
"""Accuracy of the recorded inputs the replay takes as given: outdoor dry bulb ±0.3 K and wet bulb ±0.5 K (a BMS
outdoor-air sensor and a ±3 % RH sensor), IT power ±1 % (class 1 metering, IEC 62053-21)."""


@dataclass(frozen=True)
class FitSettings:
    """How hard to search, and what to hold out."""

    holdout_days: float = 7.0
    """Days at the end of the history held out of the fit and used to check it (at most half the history)."""
    popsize: int = 16
    """CMA-ES population: candidates replayed together in one batch."""
    max_generations: int = 120
    """Upper bound on CMA-ES generations (of each search)."""
    sigma0: float = 0.2
    """Initial CMA-ES step in the unit cube of the bounds."""
    polish_steps: int = 8
    """Levenberg–Marquardt steps after CMA-ES, at most (they stop when the misfit no longer falls)."""
    restarts: int = 2
    """CMA-ES searches run side by side (one batch): from the draft, then with a wider step, then from random
    points of the cube."""
    seed: int = 1
    """Seed of the CMA-ES sampler (1 or more: the cma package reads 0 as 'from the clock')."""
    parameters: tuple[str, ...] | None = None
    """Names of the fitted parameters (default all, :func:`coolpilot.envs.calibration.parameters.fit_parameters`)."""
    max_seconds: float | None = None
    """Wall-clock budget of the CMA-ES search (s); None: no budget."""

    def __post_init__(self) -> None:
        if self.popsize < 4:
            raise ValueError(f"popsize = {self.popsize} must be at least 4")
        if self.max_generations < 1:
            raise ValueError(f"max_generations = {self.max_generations} must be at least 1")
        if not 0.0 < self.sigma0 <= 0.5:
            raise ValueError(f"sigma0 = {self.sigma0} must be in (0, 0.5] (unit cube of the bounds)")
        if self.restarts < 1:
            raise ValueError(f"restarts = {self.restarts} must be at least 1")
        if self.seed < 1:
            raise ValueError(f"seed = {self.seed} must be 1 or more")
        if self.holdout_days <= 0.0:
            raise ValueError(f"holdout_days = {self.holdout_days} must be > 0")


class Misfit:
    """The training period's misfit of candidate parameter vectors, evaluated as one batch per call."""

    def __init__(self, space: ParameterSpace, inputs: ReplayInputs, history: History, names: Sequence[str]) -> None:
        self.space = space
        self.inputs = inputs
        self.names = tuple(names)
        self.zone_names = tuple(z.name for z in space.draft.zones)
        scored = inputs.scored()
        self.measured = {n: np.where(scored, measured_series(history, n), np.nan) for n in self.names}
        self.scale = {n: loss_scale(n, float(np.sqrt(np.nanmean(v * v))) if np.isfinite(v).any() else 1.0,
                                    space.draft.it_design_kw) for n, v in self.measured.items()}
        empty = [n for n, v in self.measured.items() if not np.isfinite(v).any()]
        if empty:
            raise HistoryError(f"{history.source}: points {empty} have no reading in the fitted period")
        self.anchor = np.clip(space.to_unit(space.draft_values), 0.0, 1.0)
        self.evaluations = 0

    def residuals(self, values: np.ndarray, inputs: ReplayInputs | None = None) -> dict[str, np.ndarray]:
        """Scaled residuals (N, T) per point (NaN where not measured or not scored), on ``inputs`` (default the
        history's own)."""
        values = np.atleast_2d(values)
        params = build_params(self.space.configs(values))
        pred = replay(params, inputs or self.inputs, self.names, self.zone_names).series
        self.evaluations += values.shape[0]
        return {n: (pred[n] - self.measured[n][None, :]) / self.scale[n] for n in self.names}

    def pull(self, values: np.ndarray) -> np.ndarray:
        """(N, P) the draft's pull on each parameter: √:data:`DRAFT_PULL` times its distance from the draft's
        value in the unit cube."""
        return math.sqrt(DRAFT_PULL) * (self.space.to_unit(np.atleast_2d(values)) - self.anchor)

    def loss(self, values: np.ndarray, inputs: ReplayInputs | None = None) -> np.ndarray:
        """(N,) sum over points of the mean squared scaled residual, plus the draft's pull (inf where a replay
        failed)."""
        res = self.residuals(values, inputs)
        total = (self.pull(values) ** 2).sum(axis=1)
        for r in res.values():
            total += _mean_square(r)
        return np.where(np.isfinite(total), total, np.inf)

    def stack(self, res: dict[str, np.ndarray], values: np.ndarray) -> np.ndarray:
        """(N, M + P) the residual vectors of :meth:`residuals` (each point's steps weighted 1/√count) and the
        draft's pull: their squared norm is :meth:`loss`."""
        return np.concatenate([residual_vector(res), self.pull(values)], axis=1)

    def vector(self, values: np.ndarray, inputs: ReplayInputs | None = None) -> np.ndarray:
        """(N, M + P) residual vectors whose squared norm is :meth:`loss`."""
        return self.stack(self.residuals(values, inputs), values)


def residual_vector(res: dict[str, np.ndarray]) -> np.ndarray:
    """(N, M) the residuals of every point concatenated, each point's steps weighted 1/√count."""
    return np.concatenate([_weighted(r) for r in res.values()], axis=1)


def measured_series(history: History, name: str) -> np.ndarray:
    """The measured series of a compared quantity (point, meter, zone inlet, non-IT power), NaN where missing."""
    if name == NON_IT_POWER:
        return history.points["facility_power_kw"] - history.points["it_power_kw"]
    if name.startswith("inlet_temp_c_"):
        return history.zone_inlet_c[name.removeprefix("inlet_temp_c_")]
    return history.points[name]


def fitted_names(history: History, cfg: FacilityConfig) -> list[str]:
    """Quantities the fit compares: recorded points and meters the twin predicts, and each recorded zone inlet."""
    names = compared_points(list(history.points))
    names = [n for n in names if n != "facility_power_kw" or "it_power_kw" not in history.points]
    if "facility_power_kw" in history.points and "it_power_kw" in history.points:
        names.append(NON_IT_POWER)
    names += [f"inlet_temp_c_{z.name}" for z in cfg.zones if z.name in history.zone_inlet_c]
    if not names:
        raise HistoryError(f"{history.source}: nothing to fit: record at least one plant point (temperatures, powers)")
    return names


def _mean_square(r: np.ndarray) -> np.ndarray:
    ok = np.isfinite(r)
    count = ok.sum(axis=1)
    return np.where(count > 0, np.where(ok, r * r, 0.0).sum(axis=1) / np.maximum(count, 1), 0.0)


def _weighted(r: np.ndarray) -> np.ndarray:
    ok = np.isfinite(r[0])
    return r[:, ok] / math.sqrt(max(int(ok.sum()), 1))


# --- the search ----------------------------------------------------------------------------------------------------


@dataclass
class SearchLog:
    """How the search went."""

    generations: int = 0
    evaluations: int = 0
    best_loss_by_generation: list[float] = field(default_factory=list)
    polish_losses: list[float] = field(default_factory=list)
    stop: str = ""
    wall_s: float = 0.0


def _cma() -> Any:
    with warnings.catch_warnings():  # cma warns at import when matplotlib (its optional plotting) is absent
        warnings.simplefilter("ignore", UserWarning)
        import cma
    return cma


def search(misfit: Misfit, settings: FitSettings, progress: Callable[[int, float], None] | None = None
           ) -> tuple[list[tuple[np.ndarray, float]], SearchLog]:
    """Parallel CMA-ES searches, each then polished by Levenberg–Marquardt; their optima (unit cube) best first.

    ``settings.restarts`` searches run side by side, their populations replayed together in one batch
    each generation: the first from the draft, the others from the draft with a wider step and from
    random points of the cube. Several optima that explain the data equally well are what shows a
    parameter the data cannot tell apart (:func:`identifiability`).
    """
    cma = _cma()
    space = misfit.space
    start = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    x_draft = np.clip(space.to_unit(space.draft_values), 0.02, 0.98)
    starts = [(x_draft, settings.sigma0)]
    starts += [(x_draft, min(1.5 * settings.sigma0, 0.5)) if k % 2 else (rng.uniform(0.1, 0.9, x_draft.shape),
                                                                         min(1.5 * settings.sigma0, 0.5))
               for k in range(1, settings.restarts)]
    options = {"bounds": [0.0, 1.0], "popsize": settings.popsize, "verbose": -9, "maxiter": settings.max_generations,
               "tolfun": 1e-4, "tolx": 1e-4}
    searches = [cma.CMAEvolutionStrategy(x.tolist(), sigma, {**options, "seed": settings.seed + k})
                for k, (x, sigma) in enumerate(starts)]
    best = [(x_draft, float(misfit.loss(space.from_unit(x_draft))[0]))] * len(searches)
    record = SearchLog()
    while not all(es.stop() for es in searches):
        active = [k for k, es in enumerate(searches) if not es.stop()]
        asked = {k: np.array(searches[k].ask()) for k in active}
        losses = misfit.loss(space.from_unit(np.concatenate([asked[k] for k in active])))
        for n, k in enumerate(active):
            part = losses[n * settings.popsize:(n + 1) * settings.popsize]
            searches[k].tell(list(asked[k]), part.tolist())
            i = int(np.argmin(part))
            if part[i] < best[k][1]:
                best[k] = (asked[k][i].copy(), float(part[i]))
        record.generations += 1
        record.best_loss_by_generation.append(min(b[1] for b in best))
        if progress is not None:
            progress(record.generations, record.best_loss_by_generation[-1])
        if settings.max_seconds is not None and time.perf_counter() - start > settings.max_seconds:
            record.stop = f"time budget of {settings.max_seconds:g} s"
            break
    record.stop = record.stop or "; ".join(", ".join(es.stop()) or "budget" for es in searches)
    polished = []
    for x, loss in best:
        for _ in range(settings.polish_steps):
            x_new, loss_new = _lm_step(misfit, x, loss)
            if loss_new >= loss * (1.0 - 1e-5):
                break
            x, loss = x_new, loss_new
        polished.append((x, loss))
        record.polish_losses.append(loss)
    record.evaluations = misfit.evaluations
    record.wall_s = time.perf_counter() - start
    return sorted(polished, key=lambda item: item[1]), record


def _stencil(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference points around ``x`` (2P + 1, P: x, then x ± h·e_j), steps shrunk to stay in the cube."""
    p = x.shape[0]
    h = np.minimum(JACOBIAN_STEP, np.maximum(np.minimum(x, 1.0 - x), 1e-4))
    xs = np.repeat(x[None, :], 2 * p + 1, axis=0)
    xs[1:p + 1] += np.diag(h)
    xs[p + 1:] -= np.diag(h)
    return xs, h


def _central(values: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value at the centre (M,) and the central-difference Jacobian (M, P) from a :func:`_stencil` batch."""
    p = h.shape[0]
    return values[0], (values[1:p + 1] - values[p + 1:]).T / (2.0 * h[None, :])


def _lm_step(misfit: Misfit, x: np.ndarray, loss: float, inputs: ReplayInputs | None = None,
             frozen: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """One Levenberg–Marquardt step: four damping levels tried in one batch; the best (or ``x``) returned.

    With ``frozen`` (a Jacobian from :func:`jacobian`) only the residual at ``x`` is replayed.
    """
    if frozen is None:
        xs, h = _stencil(x)
        r, jac = _central(misfit.vector(misfit.space.from_unit(xs), inputs), h)
    else:
        r, jac = misfit.vector(misfit.space.from_unit(x[None, :]), inputs)[0], frozen
    ok = np.isfinite(r) & np.isfinite(jac).all(axis=1)
    r, jac = r[ok], jac[ok]
    jtj = jac.T @ jac
    g = jac.T @ r
    # Marquardt's scaling by the diagonal, floored so that a parameter the data do not see (a zero column) is held
    # still rather than making the system singular.
    diag = np.diag(jtj)
    scale = np.maximum(diag, 1e-6 * max(float(diag.max()), 1e-12))
    xs = np.array([np.clip(x + np.linalg.solve(jtj + damping * np.diag(scale), -g), 0.0, 1.0)
                   for damping in (1e-6, 1e-4, 1e-2, 1.0)])
    losses = misfit.loss(misfit.space.from_unit(xs), inputs)
    i = int(np.argmin(losses))
    return (xs[i], float(losses[i])) if losses[i] < loss else (x, loss)


# --- what the data pinned ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterEstimate:
    """A fitted parameter with its uncertainty and what set it."""

    name: str
    label: str
    unit: str
    draft: float
    value: float
    sd: float
    """Standard uncertainty (1σ) in the parameter's unit: the noise's and the inputs' parts combined."""
    sd_noise: float
    """Its statistical part: what the data's scatter leaves (Laplace approximation)."""
    sd_inputs: float
    """Its inputs' part: the recorded weather and IT power off by their sensor accuracy."""
    low: float
    high: float
    identifiable: bool
    """The data's information cut the statistical uncertainty below :data:`IDENTIFIABLE_SHARE` of the prior's."""
    input_limited: bool
    """Identified, but the inputs' accuracy leaves more than :data:`INPUT_LIMITED_SHARE` of the prior's spread."""
    shrinkage: float
    """Posterior over prior standard deviation in the unit cube (1: the data said nothing)."""
    sensitivity: float
    """Root-mean-square change of the scaled residuals per unit-cube change of the parameter (Brun et al. 2001)."""
    informed_by: tuple[str, ...]
    """Points that carried most of the information on this parameter, most first."""
    collinear_with: tuple[str, ...]
    """Parameters whose posterior correlation with this one exceeds :data:`COLLINEAR_CORRELATION`."""
    alternatives: tuple[float, ...] = ()
    """Values of other optima that explain the data as well (a second basin): the data cannot choose."""
    profile_reach: float = 0.0
    """How far from the value (in its unit) its profile stays within the 95 % threshold, over the steps tried."""
    reason: str = ""
    """Why it is not identifiable, in words (empty when it is)."""

    @property
    def interval95(self) -> tuple[float, float]:
        """value ± 1.96 σ, inside the bounds."""
        return max(self.low, self.value - 1.96 * self.sd), min(self.high, self.value + 1.96 * self.sd)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        lo, hi = self.interval95
        return {"name": self.name, "label": self.label, "unit": self.unit, "draft": self.draft, "value": self.value,
                "sd": self.sd, "sd_noise": self.sd_noise, "sd_inputs": self.sd_inputs, "low95": lo, "high95": hi,
                "low": self.low, "high": self.high,
                "identifiable": self.identifiable, "input_limited": self.input_limited, "shrinkage": self.shrinkage,
                "sensitivity": self.sensitivity,
                "informed_by": list(self.informed_by), "collinear_with": list(self.collinear_with),
                "alternatives": list(self.alternatives), "profile_reach": self.profile_reach, "reason": self.reason}


def _autocorrelation(r: np.ndarray) -> float:
    """Lag-1 autocorrelation of a residual series (finite pairs only), clipped to [0, 0.99]."""
    a, b = r[:-1], r[1:]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return 0.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float(np.clip((a * b).sum() / den, 0.0, 0.99)) if den > 0 else 0.0


def _perturbed(inputs: ReplayInputs, name: str) -> ReplayInputs:
    """``inputs`` with the recorded input ``name`` off by its sensor accuracy (:data:`INPUT_ACCURACY`)."""
    error = INPUT_ACCURACY[name]
    if name == "outdoor_drybulb_c":
        return replace(inputs, drybulb_c=inputs.drybulb_c + error)
    if name == "outdoor_wetbulb_c":
        return replace(inputs, wetbulb_c=np.minimum(inputs.wetbulb_c + error, inputs.drybulb_c))
    return replace(inputs, it_kw=inputs.it_kw * (1.0 + error))


def _refit(misfit: Misfit, x: np.ndarray, inputs: ReplayInputs, jac: np.ndarray, steps: int = 3) -> np.ndarray:
    """Where the optimum moves when the fit runs on ``inputs`` instead: frozen-Jacobian LM steps from ``x``."""
    loss = float(misfit.loss(misfit.space.from_unit(x[None, :]), inputs)[0])
    for _ in range(steps):
        x_new, loss_new = _lm_step(misfit, x, loss, inputs, jac)
        if loss_new >= loss * (1.0 - 1e-6):
            break
        x, loss = x_new, loss_new
    return x


def chi2_quantile_95(dof: int) -> float:
    """The 95 % quantile of a χ² distribution with ``dof`` degrees of freedom (Wilson–Hilferty, within 1 %)."""
    k = 2.0 / (9.0 * dof)
    return dof * (1.0 - k + 1.6448536 * math.sqrt(k)) ** 3


def identifiability(misfit: Misfit, x: np.ndarray, others: Sequence[np.ndarray] = ()) -> list[ParameterEstimate]:
    """Each parameter's uncertainty, sensitivity and identifiability at the unit-cube point ``x``.

    Three looks at the misfit, in the χ² metric (each point's residuals weighted by their variance and by
    their effective share of independent samples ``(1 − ρ)/(1 + ρ)``, ρ their lag-1 autocorrelation):

    - **local** (Laplace): the Fisher information of the central-difference Jacobian plus the uniform
      prior of the bounds gives each parameter's statistical uncertainty and their correlations;
    - **profiles** (Raue et al. 2009, practical identifiability): each parameter is held at ±0.05 and ±0.15 of
      its range from the optimum while the others are refitted (Gauss–Newton on the same
      Jacobian, all profiles in one batch per iteration); where the refitted χ² stays within the 95 %
      quantile of χ²(1) of the optimum, the parameter's interval reaches that far whatever the local
      curvature said (a flat valley, or a regime change such as CRAH airflow falling short of the
      servers', that the derivatives cannot see);
    - **other optima** (``others``, the parallel searches'): one within the 95 % joint region (Δχ² below
      the χ²(P) quantile) explains the data as well; a parameter differing there by more than twice its
      uncertainty is not pinned, and its uncertainty grows to cover the other value.

    A parameter is identifiable when the data cut its statistical uncertainty below
    :data:`IDENTIFIABLE_SHARE` of the prior's. The inputs' part of the uncertainty propagates the accuracy
    of the recorded weather and IT power (:data:`INPUT_ACCURACY`): with each input off by its accuracy
    the fit is rerun from the optimum (Levenberg–Marquardt on the same Jacobian) and the optimum's move
    adds to the covariance (GUM's treatment of an input's systematic error).
    """
    space = misfit.space
    p = x.shape[0]
    xs, h = _stencil(x)
    values = space.from_unit(np.concatenate([xs, np.array(others).reshape(-1, p)]))
    both = misfit.residuals(values)
    res = {name: r[: 2 * p + 1] for name, r in both.items()}
    alt = {name: r[2 * p + 1:] for name, r in both.items()}
    _, jac_loss = _central(misfit.stack(res, values[: 2 * p + 1]), h)
    moves = [_refit(misfit, x, _perturbed(misfit.inputs, name), jac_loss) - x for name in INPUT_ACCURACY]
    masks: dict[str, np.ndarray] = {}
    weights: dict[str, float] = {}
    rows_j = []
    per_point: dict[str, np.ndarray] = {}
    sens = np.zeros(p)
    total = 0
    for name, r in res.items():
        ok = np.isfinite(r).all(axis=0)
        n = int(ok.sum())
        if n < 3:
            continue
        r0, jac = _central(r[:, ok], h)
        var = max(float(np.mean(r0 * r0)), RESIDUAL_VARIANCE_FLOOR)
        rho = _autocorrelation(np.where(ok, r[0], np.nan))
        masks[name], weights[name] = ok, math.sqrt((1.0 - rho) / (1.0 + rho) / var)
        rows_j.append(weights[name] * jac)
        per_point[name] = np.diag(weights[name] ** 2 * (jac.T @ jac))
        sens += (jac * jac).sum(axis=0)
        total += n

    def weighted(found: dict[str, np.ndarray]) -> np.ndarray:
        """(K, M) residuals in the χ² metric (NaN made 0: a replay that fails counts as a miss)."""
        return np.nan_to_num(np.concatenate([weights[k] * found[k][:, masks[k]] for k in masks], axis=1), nan=1e3)

    jw = np.concatenate(rows_j)
    sens = np.sqrt(sens / max(total, 1))
    precision = jw.T @ jw + PRIOR_PRECISION * np.eye(p)
    cov_stat = np.linalg.inv(precision)
    chi2_best = float((weighted({k: v[:1] for k, v in res.items()}) ** 2).sum())
    reach = _profiles(misfit, x, jw, weighted, chi2_best)
    prior_sd = 1.0 / math.sqrt(PRIOR_PRECISION)
    sd_profile = reach / 1.959964
    sd_stat = np.maximum(np.sqrt(np.diag(cov_stat)), sd_profile)
    cov_inputs = sum((np.outer(m, m) for m in moves), np.zeros((p, p)))
    sd_unit = np.sqrt(sd_stat**2 + np.diag(cov_inputs))
    corr = cov_stat / np.outer(np.sqrt(np.diag(cov_stat)), np.sqrt(np.diag(cov_stat)))
    best = space.from_unit(x)
    chi2_alt = (weighted({k: v for k, v in alt.items()}) ** 2).sum(axis=1) if others else np.zeros(0)
    compatible = [space.from_unit(o) for o, c in zip(others, chi2_alt, strict=True)
                  if c - chi2_best <= chi2_quantile_95(p)]
    out = []
    for j, prm in enumerate(space.params):
        shrink = float(sd_stat[j] / prior_sd)
        per_unit = float(best[j] * math.log(prm.high / prm.low)) if prm.log else prm.high - prm.low
        sd = float(sd_unit[j] * per_unit)
        apart = tuple(float(o[j]) for o in compatible if abs(o[j] - best[j]) > 2.0 * sd)
        if apart:
            sd = math.hypot(sd, max(abs(a - best[j]) for a in apart) / 2.0)
        contributions = sorted(((float(v[j]), name) for name, v in per_point.items()), reverse=True)
        total_info = sum(c for c, _ in contributions) or 1.0
        informed = tuple(name for c, name in contributions if c >= 0.1 * total_info)[:4]
        partners = tuple(space.params[k].name for k in np.argsort(-np.abs(corr[j]))
                         if k != j and abs(corr[j, k]) >= COLLINEAR_CORRELATION)
        pinned = shrink <= IDENTIFIABLE_SHARE and not apart
        if apart:
            why = f"another fit with {', '.join(f'{a:.4g}' for a in apart)} {prm.unit} explains the data as well"
        elif shrink > IDENTIFIABLE_SHARE and reach[j] > 0.0:
            why = f"the data fit as well with it {reach[j]:.0%} of its range away (its profile is flat)"
        elif shrink > IDENTIFIABLE_SHARE:
            why = "the data carry too little information on it"
        else:
            why = ""
        out.append(ParameterEstimate(
            name=prm.name, label=prm.label, unit=prm.unit, draft=prm.draft, value=float(best[j]),
            sd=sd, sd_noise=float(sd_stat[j] * per_unit),
            sd_inputs=float(math.sqrt(max(cov_inputs[j, j], 0.0)) * per_unit), low=prm.low, high=prm.high,
            identifiable=pinned, input_limited=pinned and sd_unit[j] / prior_sd > INPUT_LIMITED_SHARE,
            shrinkage=shrink, sensitivity=float(sens[j]), informed_by=informed, collinear_with=partners,
            alternatives=apart, profile_reach=float(reach[j] * per_unit), reason=why,
        ))
    return out


PROFILE_STEPS = (-0.15, -0.05, 0.05, 0.15)
"""Where each parameter is held for its profile, in the unit cube of its bounds, from the optimum."""
PROFILE_ITERATIONS = 3
"""Gauss–Newton refits of the other parameters per profile point."""
CHI2_1_95 = 3.841459
"""95 % quantile of χ²(1): the profile-likelihood threshold of one parameter's 95 % interval."""


def _profiles(misfit: Misfit, x: np.ndarray, jw: np.ndarray, weighted: Callable[[dict[str, np.ndarray]], np.ndarray],
              chi2_best: float) -> np.ndarray:
    """How far (unit cube) each parameter's profile stays within Δχ² ≤ 3.84 of the optimum, over
    :data:`PROFILE_STEPS` (0: it rose above at the first step either way)."""
    p = x.shape[0]
    held = [(j, d) for j in range(p) for d in PROFILE_STEPS if 0.0 <= x[j] + d <= 1.0]
    points = np.repeat(x[None, :], len(held), axis=0)
    for k, (j, d) in enumerate(held):
        points[k, j] += d
    space = misfit.space
    chi2 = (weighted(misfit.residuals(space.from_unit(points))) ** 2).sum(axis=1)
    for _ in range(PROFILE_ITERATIONS):
        rw = weighted(misfit.residuals(space.from_unit(points)))
        candidates = []
        for k, (j, _) in enumerate(held):
            free = np.arange(p) != j
            jf = jw[:, free]
            jtj = jf.T @ jf
            diag = np.diag(jtj)
            scale = np.maximum(diag, 1e-6 * max(float(diag.max()), 1e-12))
            c = points[k].copy()
            c[free] = np.clip(c[free] + np.linalg.solve(jtj + 1e-2 * np.diag(scale), -jf.T @ rw[k]), 0.0, 1.0)
            candidates.append(c)
        trial = (weighted(misfit.residuals(space.from_unit(np.array(candidates)))) ** 2).sum(axis=1)
        better = trial < chi2
        points[better], chi2[better] = np.array(candidates)[better], trial[better]
    reach = np.zeros(p)
    for k, (j, d) in enumerate(held):
        if chi2[k] - chi2_best <= CHI2_1_95:
            reach[j] = max(reach[j], abs(d))
    return reach


# --- the whole calibration ---------------------------------------------------------------------------------------


@dataclass
class Calibration:
    """Everything a calibration found: the facility, its parameters, its fit on held-out data."""

    draft: FacilityConfig
    calibrated: FacilityConfig
    space: ParameterSpace
    estimates: list[ParameterEstimate]
    names: list[str]
    history: History
    inputs: ReplayInputs
    split_step: int
    """First held-out step of the history."""
    heldout_calibrated: dict[str, PointFit]
    heldout_draft: dict[str, PointFit]
    train_calibrated: dict[str, PointFit]
    loss_draft: float
    loss_fit: float
    search_log: SearchLog
    settings: FitSettings
    predictions: dict[str, np.ndarray]
    """Calibrated twin's replay of the whole history (T,) per compared quantity."""
    draft_predictions: dict[str, np.ndarray]


def split_index(history: History, holdout_days: float) -> int:
    """First held-out step: the last ``holdout_days`` (at most half the history, at least one day) are held out."""
    span_days = history.days
    days = min(holdout_days, max(1.0, span_days / 4.0), span_days / 2.0)
    n_hold = round(days * SECONDS_PER_DAY / history.dt_s)
    if span_days - days < 1.0:
        raise HistoryError(f"{history.source}: {span_days:.1f} days of history leave less than one day to fit "
                           f"after holding out {days:.1f}")
    return history.n_steps - n_hold


def assess(cfg: FacilityConfig, history: History, names: Sequence[str], n_params: int,
           inputs: ReplayInputs | None = None, window: tuple[int, int] | None = None
           ) -> tuple[dict[str, PointFit], dict[str, np.ndarray]]:
    """Statistics of facility ``cfg`` replaying ``history`` (steps ``window``), and its predictions (T,)."""
    inp = inputs if inputs is not None else replay_inputs(history, cfg)
    pred = replay(build_params([cfg]), inp, list(names), tuple(z.name for z in cfg.zones))
    a, b = window if window is not None else (0, history.n_steps)
    scored = pred.scored
    fits = {}
    series = {n: v[0] for n, v in pred.series.items()}
    for n in names:
        meas = np.where(scored, measured_series(history, n), np.nan)
        fits[n] = point_fit(n, meas[a:b], series[n][a:b], history.time_s[a:b], history.year, n_params)
    return fits, series


def calibrate(history: History, draft: FacilityConfig, settings: FitSettings | None = None,
              progress: Callable[[int, float], None] | None = None) -> Calibration:
    """Fit ``draft``'s parameters to ``history``; check the fit on the held-out end of the history."""
    settings = settings or FitSettings()
    space = ParameterSpace.of(draft, settings.parameters)
    inputs = replay_inputs(history, draft)
    names = fitted_names(history, draft)
    split = split_index(history, settings.holdout_days)
    train_hist = history.window(0, split)
    train_inputs = inputs.window(0, split)
    if not train_inputs.segments:
        raise HistoryError(f"{history.source}: no complete run of inputs in the fitted period")
    misfit = Misfit(space, train_inputs, train_hist, [n for n in names if fitted(n)])
    loss_draft = float(misfit.loss(space.draft_values)[0])
    log.info("calibrating %d parameters on %d points over %.1f days (held out: %.1f days)", len(space.params),
             len(names), train_hist.days, history.days - train_hist.days)
    optima, record = search(misfit, settings, progress)
    x, loss_fit = optima[0]
    estimates = identifiability(misfit, x, [o for o, _ in optima[1:]])
    values = space.from_unit(x)
    calibrated = space.config(values)
    n_p = len(space.params)
    held_cal, pred_cal = assess(calibrated, history, names, n_p, inputs, (split, history.n_steps))
    held_draft, pred_draft = assess(draft, history, names, n_p, inputs, (split, history.n_steps))
    train_fit = {n: point_fit(n, np.where(inputs.scored(), measured_series(history, n), np.nan)[:split],
                              pred_cal[n][:split], history.time_s[:split], history.year, n_p) for n in names}
    return Calibration(
        draft=draft, calibrated=calibrated, space=space, estimates=estimates, names=names, history=history,
        inputs=inputs, split_step=split, heldout_calibrated=held_cal, heldout_draft=held_draft,
        train_calibrated=train_fit, loss_draft=loss_draft, loss_fit=loss_fit, search_log=record, settings=settings,
        predictions=pred_cal, draft_predictions=pred_draft,
    )
