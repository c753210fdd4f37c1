"""What a policy is paid for: energy, cost or carbon, each with actuator wear and the thermal penalty.

A site pays for energy by time of use, for its peak demand, for carbon where it is priced, and
for every actuator move and equipment start in maintenance. The objective (chosen in the
training config, or by a planner) prices one control step from what the plant did:

- ``energy``: facility energy (kWh);
- ``cost``: facility energy × the hour's price, plus the demand charge on every rise of the
  billing period's peak 15-minute average power (the charge a month's peak costs is paid as the
  peak is set, so the sum over a month is the demand charge of the bill);
- ``carbon``: facility energy × the hour's grid factor;

each plus ``wear_kwh_per_move`` kWh-equivalent per full-span move of a setpoint (travel summed
over setpoints, each over its span) and ``wear_kwh_per_start`` per chiller start, converted at
the year's mean price (cost) or grid factor (carbon). The reward's energy term is minus that
cost over the cost of one step at the facility's design IT power (so the three objectives share
a scale: about −1.3 per step for a PUE-1.3 site), the wear term likewise, and the thermal term is
unchanged (``coolpilot.envs.env.reward_terms``).

Grid signals (:class:`GridSignals`) are an hourly year of price and grid factor (8760 values,
hour 0 = 1 January 00:00 local standard time, the weather file's clock), built from a what-if
scenario's tariff and carbon fields by ``coolpilot.evaluation.scenarios`` or given flat. The
``grid_signals`` block turns them into points a policy reads: the price and factor now and
their means over the next :data:`AHEAD_H` hours of the day-ahead forecast, and the billing
period's peak so far. A demand charge may count only the hours of a peak window
(``demand_hours``).

**Day-ahead forecasts** (:meth:`GridSignals.forecast`, up to :data:`FORECAST_HORIZON_H` hours)
are issued at the start of each hour, as BOPTEST's forecaster issues its uncertain forecasts,
at one of BOPTEST's uncertainty levels ``none``, ``low``, ``medium``, ``high`` (``none``: the
signal itself). BOPTEST (``forecast/error_emulator.py`` and ``forecast_uncertainty_params.json``
of ibpsa/project1-boptest at 0f8a467; Zheng et al. 2025, J. Build. Perform. Simul.,
doi:10.1080/19401493.2025.2453537) draws a forecast's error over the horizon as an AR(1),
``e_1 ~ N(F0, K0)``, ``e_τ+1 = F·e_τ + N(mu, K)``, and forecasts ``X − e``; it parameterizes the
dry-bulb temperature (K) and the irradiance, not prices or emissions. Here each signal's error is
that process with BOPTEST's temperature parameters of the level (:data:`FORECAST_LEVELS`, verbatim),
read as a relative error, :data:`RELATIVE_ERROR_PER_K` per kelvin: ``X̂ = max(X·(1 − r·e), 0)``.
The error's standard deviation at lead τ is then ``r·sqrt(F^(2(τ−1))·K0² + K²·(1 − F^(2(τ−1)))/(1 − F²))``
(:func:`forecast_error_std`): at 24 h about 5 % (low), 8 % (medium) and 11 % (high, with BOPTEST's
negative drift, a forecast biased about 2 % high). The choice of ``r`` is coolpilot's: BOPTEST
gives no price or carbon figure; at 5 %/K the high level is of the order of day-ahead spot-price
forecast errors and low of a well-forecast grid-carbon signal. Errors are drawn once per signal
from the seed (a ``numpy`` generator on ``[seed, signal]``), for every issue hour of the year,
so runs are reproducible and the single and vector envs read the same forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coolpilot.envs.units import SECONDS_PER_HOUR

HOURS_PER_YEAR = 8760
AHEAD_H = 6
"""Hours the ``*_ahead`` signal points average over (of the forecast issued at the current hour)."""
FORECAST_HORIZON_H = 48
"""Longest forecast (h): BOPTEST's limit for uncertain forecasts, the horizon its error models were fitted on."""
ForecastLevel = Literal["none", "low", "medium", "high"]
FORECAST_LEVEL_NAMES: tuple[str, ...] = ("none", "low", "medium", "high")
FORECAST_LEVELS: dict[str, dict[str, float]] = {
    "low": {"F0": 0.0, "K0": 0.6, "F": 0.92, "K": 0.4, "mu": 0.0},
    "medium": {"F0": 0.15, "K0": 1.2, "F": 0.93, "K": 0.6, "mu": 0.0},
    "high": {"F0": -0.58, "K0": 1.5, "F": 0.95, "K": 0.7, "mu": -0.015},
}
"""BOPTEST's AR(1) parameters of its dry-bulb forecast error per level (K; forecast_uncertainty_params.json)."""
RELATIVE_ERROR_PER_K = 0.05
"""Relative forecast error of price or carbon per kelvin of BOPTEST's temperature error process (1/K)."""
DEMAND_WINDOW_S = 900.0
"""Peak demand is the maximum 15-minute average power (BOPTEST's and most tariffs' definition)."""
BILLING_PERIOD_S = 30.0 * 24.0 * SECONDS_PER_HOUR
"""The demand charge's billing period (a 30-day month)."""
DEFAULT_PRICE_PER_MWH = 80.0
"""Flat price when none is given: ≈ the 2023 US industrial average, 8.0 ¢/kWh (EIA table 5.6.A)."""
DEFAULT_GRID_T_PER_MWH = 0.5703
"""Grid factor when none is given: China's national 2022 average, 0.5703 t CO2/MWh (MEE, 2023)."""

ObjectiveKind = Literal["energy", "cost", "carbon"]


class Objective(BaseModel):
    """The objective of a training run or a planner (every field documented; units in names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ObjectiveKind = Field("energy", description="energy (kWh), cost (energy by the hour's price plus the "
                                                      "demand charge) or carbon (energy by the hour's grid factor).")
    wear_kwh_per_move: float = Field(0.0, ge=0.0, le=10_000.0, json_schema_extra={"unit": "kWh"},
                                     description="Wear priced as kWh of facility energy per full-span setpoint "
                                                 "move (travel over the span, summed over setpoints).")
    wear_kwh_per_start: float = Field(0.0, ge=0.0, le=100_000.0, json_schema_extra={"unit": "kWh"},
                                      description="Wear priced as kWh of facility energy per chiller start.")
    demand_charge: bool = Field(True, description="With kind=cost: charge the grid signals' demand rate on every "
                                                  "rise of the billing period's peak 15-minute power.")

    @property
    def plain_energy(self) -> bool:
        """Energy with no wear: a step's cost is its facility energy, nothing to track between steps."""
        return self.kind == "energy" and self.wear_kwh_per_move == 0.0 and self.wear_kwh_per_start == 0.0


@dataclass(frozen=True)
class GridSignals:
    """Price (currency/MWh) and grid factor (t CO2e/MWh) for every hour of a year, and the demand rate."""

    price_per_mwh: np.ndarray
    carbon_t_per_mwh: np.ndarray
    demand_charge_per_kw_month: float = 0.0
    currency: str = "USD"
    source: str = "flat"
    demand_hours: np.ndarray | None = None
    """Hours of the year (8760 booleans) whose 15-minute demand the demand charge counts; None: every hour."""
    price_forecast: ForecastLevel = "none"
    """Uncertainty of the price forecast (BOPTEST's level)."""
    carbon_forecast: ForecastLevel = "none"
    """Uncertainty of the grid-factor forecast (BOPTEST's level)."""
    forecast_seed: int = 0
    """Seed of the forecast errors."""
    _ahead_price: np.ndarray = field(init=False, repr=False, compare=False)
    _ahead_carbon: np.ndarray = field(init=False, repr=False, compare=False)
    _error_price: np.ndarray | None = field(init=False, repr=False, compare=False)
    _error_carbon: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("price_per_mwh", "carbon_t_per_mwh"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.shape != (HOURS_PER_YEAR,):
                raise ValueError(f"GridSignals.{name}: {values.shape} values; give one per hour of a year "
                                 f"({HOURS_PER_YEAR})")
            if not np.all(np.isfinite(values)) or values.min() < 0.0:
                raise ValueError(f"GridSignals.{name}: every hour must be finite and ≥ 0")
            object.__setattr__(self, name, values)
        if not np.isfinite(self.demand_charge_per_kw_month) or self.demand_charge_per_kw_month < 0.0:
            raise ValueError(f"GridSignals.demand_charge_per_kw_month = {self.demand_charge_per_kw_month}: must be ≥ 0")
        if self.demand_hours is not None:
            hours = np.asarray(self.demand_hours)
            if hours.shape != (HOURS_PER_YEAR,) or hours.dtype != np.bool_:
                raise ValueError(f"GridSignals.demand_hours: {hours.shape} {hours.dtype} values; give one boolean per "
                                 f"hour of a year ({HOURS_PER_YEAR})")
        for name in ("price_forecast", "carbon_forecast"):
            level = getattr(self, name)
            if level not in FORECAST_LEVEL_NAMES:
                raise ValueError(f"GridSignals.{name} = {level!r}: use one of {', '.join(FORECAST_LEVEL_NAMES)} "
                                 "(BOPTEST's forecast uncertainty levels)")
        if isinstance(self.forecast_seed, bool) or not isinstance(self.forecast_seed, int | np.integer) \
                or not 0 <= self.forecast_seed < 2**63:
            raise ValueError(f"GridSignals.forecast_seed = {self.forecast_seed!r}: an integer in 0..2^63 − 1")
        for stream, (values, level, name) in enumerate(((self.price_per_mwh, self.price_forecast, "price"),
                                                        (self.carbon_t_per_mwh, self.carbon_forecast, "carbon"))):
            errors = None if level == "none" else forecast_errors(level, int(self.forecast_seed), stream)
            object.__setattr__(self, f"_error_{name}", errors)
            object.__setattr__(self, f"_ahead_{name}", _ahead_mean(values, errors))

    @classmethod
    def flat(cls, price_per_mwh: float = DEFAULT_PRICE_PER_MWH, carbon_t_per_mwh: float = DEFAULT_GRID_T_PER_MWH,
             demand_charge_per_kw_month: float = 0.0, currency: str = "USD") -> GridSignals:
        """The same price and factor every hour."""
        return cls(np.full(HOURS_PER_YEAR, float(price_per_mwh)), np.full(HOURS_PER_YEAR, float(carbon_t_per_mwh)),
                   demand_charge_per_kw_month, currency)

    @property
    def mean_price_per_mwh(self) -> float:
        """The year's mean price (currency/MWh): converts wear kWh to currency."""
        return float(self.price_per_mwh.mean())

    @property
    def mean_carbon_t_per_mwh(self) -> float:
        """The year's mean grid factor (t CO2e/MWh)."""
        return float(self.carbon_t_per_mwh.mean())

    def sample(self, time_s: np.ndarray) -> np.ndarray:
        """(…, 4) at times ``time_s`` (s since 1 January 00:00): price now, price ahead, factor now, factor ahead.

        "Ahead" is the mean of the next :data:`AHEAD_H` hours of the forecast issued at the current hour.
        """
        hour = (np.floor(np.asarray(time_s) / SECONDS_PER_HOUR).astype(np.int64)) % HOURS_PER_YEAR
        return np.stack([self.price_per_mwh[hour], self._ahead_price[hour], self.carbon_t_per_mwh[hour],
                         self._ahead_carbon[hour]], axis=-1)

    def forecast(self, time_s: float, horizon_h: int = 24) -> tuple[np.ndarray, np.ndarray]:
        """Price (currency/MWh) and grid factor (t CO2e/MWh) forecast for the next ``horizon_h`` hours.

        Issued at the start of the hour holding ``time_s``: element ``τ − 1`` is hour ``h + τ``
        (τ = 1 … horizon_h, the year wraps), at the signals' forecast levels (the signal itself at
        ``none``). The same forecast the ``*_ahead`` points average.
        """
        if isinstance(horizon_h, bool) or not isinstance(horizon_h, int | np.integer) \
                or not 1 <= horizon_h <= FORECAST_HORIZON_H:
            raise ValueError(f"horizon_h = {horizon_h!r} h: an integer in 1..{FORECAST_HORIZON_H} h (BOPTEST's "
                             "limit for uncertain forecasts)")
        if not np.isfinite(time_s):
            raise ValueError(f"time_s = {time_s} s: must be finite")
        hour = int(np.floor(time_s / SECONDS_PER_HOUR)) % HOURS_PER_YEAR
        ahead = (hour + np.arange(1, horizon_h + 1)) % HOURS_PER_YEAR
        return (_forecast_values(self.price_per_mwh[ahead], self._error_price, hour, horizon_h),
                _forecast_values(self.carbon_t_per_mwh[ahead], self._error_carbon, hour, horizon_h))


def forecast_errors(level: str, seed: int, stream: int) -> np.ndarray:
    """BOPTEST's AR(1) error (K) of level ``level`` for every issue hour: (8760, FORECAST_HORIZON_H), lead 1 first.

    Row ``k`` is the error path of the forecast issued at hour ``k``: ``e_1 ~ N(F0, K0)``,
    ``e_τ+1 = F·e_τ + N(mu, K)``; ``stream`` separates the signals drawn from one seed.
    """
    p = FORECAST_LEVELS[level]
    rng = np.random.default_rng([seed, stream])
    errors = np.empty((HOURS_PER_YEAR, FORECAST_HORIZON_H))
    errors[:, 0] = rng.normal(p["F0"], p["K0"], HOURS_PER_YEAR)
    for lead in range(1, FORECAST_HORIZON_H):
        errors[:, lead] = p["F"] * errors[:, lead - 1] + rng.normal(p["mu"], p["K"], HOURS_PER_YEAR)
    errors.setflags(write=False)
    return errors


def forecast_error_std(level: str, lead_h: int) -> float:
    """Standard deviation of the relative forecast error at lead ``lead_h`` (1 = the next hour) of ``level``."""
    if level == "none":
        return 0.0
    p = FORECAST_LEVELS[level]
    n = lead_h - 1
    var = p["F"] ** (2 * n) * p["K0"] ** 2 + p["K"] ** 2 * (1.0 - p["F"] ** (2 * n)) / (1.0 - p["F"] ** 2)
    return RELATIVE_ERROR_PER_K * float(np.sqrt(var))


def forecast_error_mean(level: str, lead_h: int) -> float:
    """Mean of the relative forecast error ``(X − X̂)/X`` at lead ``lead_h`` of ``level`` (the drift of BOPTEST's high
    level: a forecast biased high when negative)."""
    if level == "none":
        return 0.0
    p = FORECAST_LEVELS[level]
    n = lead_h - 1
    mean = p["F"] ** n * p["F0"] + p["mu"] * (1.0 - p["F"] ** n) / (1.0 - p["F"])
    return RELATIVE_ERROR_PER_K * float(mean)


def _forecast_values(truth: np.ndarray, errors: np.ndarray | None, hour: int | np.ndarray, horizon_h: int
                     ) -> np.ndarray:
    """``truth`` (the next hours) as forecast at ``hour`` with the error table (None: perfect)."""
    if errors is None:
        return truth
    return np.maximum(truth * (1.0 - RELATIVE_ERROR_PER_K * errors[hour, :horizon_h]), 0.0)


def _ahead_mean(hourly: np.ndarray, errors: np.ndarray | None = None) -> np.ndarray:
    """Mean over hours h+1 … h+AHEAD_H of each hour h (the year wraps), of the forecast issued at h."""
    rolled = np.stack([np.roll(hourly, -k) for k in range(1, AHEAD_H + 1)])
    if errors is None:
        return rolled.mean(axis=0)
    return _forecast_values(rolled.T, errors, np.arange(HOURS_PER_YEAR), AHEAD_H).mean(axis=1)


SIGNAL_POINTS = ("grid_price_per_mwh", "grid_price_ahead_per_mwh", "grid_carbon_t_per_mwh",
                 "grid_carbon_ahead_t_per_mwh", "facility_peak_kw")
"""The grid_signals block's points, in its order (coolpilot.envs.contract.GRID_SIGNALS)."""


class StepCost:
    """Prices control steps of N facilities under an objective; holds each facility's billing peak.

    ``reset(idx, first_kw)`` starts facilities' billing periods with the peak at their first
    step's power (an episode does not pay for the peak it inherits); ``price`` returns the
    energy-objective and wear terms of the reward (both ≤ 0) and the step's cost in the
    objective's unit (currency, t CO2e or kWh), with the demand charge where it applies.
    """

    def __init__(self, objective: Objective, signals: GridSignals, it_design_kw: np.ndarray, dt_s: float) -> None:
        self.objective = objective
        self.signals = signals
        self.it_design_kw = np.asarray(it_design_kw, dtype=np.float64)
        self.dt_s = dt_s
        n = self.it_design_kw.shape[0]
        self.peak_kw = np.zeros(n)
        self.window = np.zeros((n, max(round(DEMAND_WINDOW_S / dt_s), 1)))
        """The last 15 minutes of facility power per facility, a ring (zeros where not yet filled)."""
        self.slot = np.zeros(n, dtype=np.int64)
        self.filled = np.zeros(n, dtype=np.int64)
        self._rows = np.arange(n)
        self.period_start_s = np.zeros(n)
        self._demand_hours = signals.demand_hours
        kind = objective.kind
        self.unit_per_kwh = {"energy": 1.0, "cost": signals.mean_price_per_mwh / 1000.0,
                             "carbon": signals.mean_carbon_t_per_mwh / 1000.0}[kind]
        self.scale = 1.0 / (self.it_design_kw * dt_s / SECONDS_PER_HOUR * max(self.unit_per_kwh, 1e-12))

    def reset(self, idx: np.ndarray, time_s: np.ndarray) -> None:
        """Start the billing periods of facilities ``idx`` at ``time_s``."""
        self.peak_kw[idx] = 0.0
        self.window[idx] = 0.0
        self.slot[idx] = 0
        self.filled[idx] = 0
        self.period_start_s[idx] = time_s

    def price(self, facility_kw: np.ndarray, time_s: np.ndarray, travel: np.ndarray, starts: np.ndarray,
              keep: np.ndarray | None = None, grid_kw: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reward terms (energy, wear) and the step's cost for N facilities.

        ``facility_kw`` step-mean power, ``time_s`` the step's time, ``travel`` setpoint travel
        over span summed per facility (1), ``starts`` chiller starts in the step. Facilities not
        in ``keep`` (a vector env's sub-envs that reset instead) leave their billing state as it was.
        ``grid_kw`` is the power through the grid meter where on-site PV offsets some (default the
        facility's): price, grid factor and the demand register apply to it, the energy objective to the facility.
        """
        o, s = self.objective, self.signals
        kwh = facility_kw * self.dt_s / SECONDS_PER_HOUR
        metered = facility_kw if grid_kw is None else grid_kw
        grid_kwh = kwh if grid_kw is None else grid_kw * self.dt_s / SECONDS_PER_HOUR
        sig = s.sample(time_s)
        keep = np.ones(facility_kw.shape[0], dtype=bool) if keep is None else keep
        new_period = keep & (time_s - self.period_start_s >= BILLING_PERIOD_S)
        peak = np.where(new_period, 0.0, self.peak_kw)
        self.period_start_s = np.where(new_period, time_s, self.period_start_s)
        width = self.window.shape[1]
        rows = self._rows[keep]
        self.window[rows, self.slot[rows]] = metered[keep]
        self.filled = np.where(keep, np.minimum(self.filled + 1, width), self.filled)
        self.slot = np.where(keep, (self.slot + 1) % width, self.slot)
        demand = self.window.sum(axis=1) / np.maximum(self.filled, 1)
        if self._demand_hours is not None:  # a peak window: only its hours' demand counts
            counted = self._demand_hours[(np.floor(time_s / SECONDS_PER_HOUR).astype(np.int64)) % HOURS_PER_YEAR]
            demand = np.where(counted, demand, 0.0)
        rise = np.where(peak <= 0.0, 0.0, np.maximum(demand - peak, 0.0))
        self.peak_kw = np.where(keep, np.maximum(peak, demand), self.peak_kw)
        if o.kind == "energy":
            cost = kwh.copy()
        elif o.kind == "cost":
            cost = grid_kwh * sig[..., 0] / 1000.0
            if o.demand_charge:
                cost = cost + rise * s.demand_charge_per_kw_month
        else:
            cost = grid_kwh * sig[..., 2] / 1000.0
        wear_kwh = o.wear_kwh_per_move * travel + o.wear_kwh_per_start * starts
        wear_cost = wear_kwh * self.unit_per_kwh
        return -cost * self.scale, -wear_cost * self.scale, cost + wear_cost

    def signal_points(self, time_s: np.ndarray) -> np.ndarray:
        """The grid_signals block's points (N, 5) at ``time_s``, the peak after the last priced step."""
        return np.concatenate([self.signals.sample(time_s), self.peak_kw[:, None]], axis=1)
