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
their means over the next :data:`AHEAD_H` hours (the tariff's schedule and a day-ahead
forecast), and the billing period's peak so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coolpilot.envs.units import SECONDS_PER_HOUR

HOURS_PER_YEAR = 8760
AHEAD_H = 6
"""Hours the ``*_ahead`` signal points average over."""
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
    _ahead_price: np.ndarray = field(init=False, repr=False, compare=False)
    _ahead_carbon: np.ndarray = field(init=False, repr=False, compare=False)

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
        object.__setattr__(self, "_ahead_price", _ahead_mean(self.price_per_mwh))
        object.__setattr__(self, "_ahead_carbon", _ahead_mean(self.carbon_t_per_mwh))

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
        """(…, 4) at times ``time_s`` (s since 1 January 00:00): price now, price ahead, factor now, factor ahead."""
        hour = (np.floor(np.asarray(time_s) / SECONDS_PER_HOUR).astype(np.int64)) % HOURS_PER_YEAR
        return np.stack([self.price_per_mwh[hour], self._ahead_price[hour], self.carbon_t_per_mwh[hour],
                         self._ahead_carbon[hour]], axis=-1)


def _ahead_mean(hourly: np.ndarray) -> np.ndarray:
    """Mean over hours h+1 … h+AHEAD_H of each hour h (the year wraps)."""
    rolled = np.stack([np.roll(hourly, -k) for k in range(1, AHEAD_H + 1)])
    return rolled.mean(axis=0)


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
              keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reward terms (energy, wear) and the step's cost for N facilities.

        ``facility_kw`` step-mean power, ``time_s`` the step's time, ``travel`` setpoint travel
        over span summed per facility (1), ``starts`` chiller starts in the step. Facilities not
        in ``keep`` (a vector env's sub-envs that reset instead) leave their billing state as it was.
        """
        o, s = self.objective, self.signals
        kwh = facility_kw * self.dt_s / SECONDS_PER_HOUR
        sig = s.sample(time_s)
        keep = np.ones(facility_kw.shape[0], dtype=bool) if keep is None else keep
        new_period = keep & (time_s - self.period_start_s >= BILLING_PERIOD_S)
        peak = np.where(new_period, 0.0, self.peak_kw)
        self.period_start_s = np.where(new_period, time_s, self.period_start_s)
        width = self.window.shape[1]
        rows = self._rows[keep]
        self.window[rows, self.slot[rows]] = facility_kw[keep]
        self.filled = np.where(keep, np.minimum(self.filled + 1, width), self.filled)
        self.slot = np.where(keep, (self.slot + 1) % width, self.slot)
        demand = self.window.sum(axis=1) / np.maximum(self.filled, 1)
        rise = np.where(peak <= 0.0, 0.0, np.maximum(demand - peak, 0.0))
        self.peak_kw = np.where(keep, np.maximum(peak, demand), self.peak_kw)
        if o.kind == "energy":
            cost = kwh.copy()
        elif o.kind == "cost":
            cost = kwh * sig[..., 0] / 1000.0
            if o.demand_charge:
                cost = cost + rise * s.demand_charge_per_kw_month
        else:
            cost = kwh * sig[..., 2] / 1000.0
        wear_kwh = o.wear_kwh_per_move * travel + o.wear_kwh_per_start * starts
        wear_cost = wear_kwh * self.unit_per_kwh
        return -cost * self.scale, -wear_cost * self.scale, cost + wear_cost

    def signal_points(self, time_s: np.ndarray) -> np.ndarray:
        """The grid_signals block's points (N, 5) at ``time_s``, the peak after the last priced step."""
        return np.concatenate([self.signals.sample(time_s), self.peak_kw[:, None]], axis=1)
