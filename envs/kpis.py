"""Key performance indicators of a simulation, one fixed set with units.

Definitions: PUE = facility energy / IT energy (The Green Grid); WUE = site water (L) /
IT energy (kWh) (The Green Grid); degree-hours above the inlet limit sum, over steps and
zones, the excess of each zone's server inlet over 27 °C times the step length in hours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from envs.contract import INLET_LIMIT_C
from envs.simulation import SimResult
from envs.units import SECONDS_PER_HOUR

ENERGY_COMPONENTS = (
    "it_power_kw", "crah_fan_kw", "chiller_kw", "tower_fan_kw", "chw_pump_kw", "cw_pump_kw",
    "distribution_loss_kw", "lighting_kw",
)
"""Power series whose energies add up to the facility energy."""


@dataclass(frozen=True)
class Kpis:
    """The KPI set of one simulation; units in the names."""

    facility: str
    climate: str
    policy: str
    days: float
    pue: float
    facility_energy_mwh: float
    it_energy_mwh: float
    cooling_energy_mwh: float
    energy_by_component_mwh: dict[str, float]
    water_m3: float
    wue_l_per_kwh: float
    inlet_temp_max_c: float
    degree_hours_above_27c: float
    hours_above_27c: float
    economizer_hours: float
    mean_facility_power_kw: float

    def as_dict(self) -> dict[str, object]:
        """Plain mapping for JSON."""
        return asdict(self)


def compute_kpis(result: SimResult) -> Kpis:
    """KPIs of a simulation result."""
    s = result.series
    h = result.dt_s / SECONDS_PER_HOUR
    energy = {name.removesuffix("_kw"): float(s[name].sum() * h / 1000.0) for name in ENERGY_COMPONENTS}
    facility = float(s["facility_kw"].sum() * h / 1000.0)
    it = energy["it_power"]
    cooling = float(s["cooling_kw"].sum() * h / 1000.0)
    water_m3 = float((s["water_evaporation_m3"] + s["water_drift_m3"] + s["water_blowdown_m3"]).sum())
    excess = np.maximum(result.zone_inlet_c - INLET_LIMIT_C, 0.0)
    return Kpis(
        facility=result.facility,
        climate=result.climate,
        policy=result.policy,
        days=result.n_steps * result.dt_s / 86_400.0,
        pue=facility / it,
        facility_energy_mwh=facility,
        it_energy_mwh=it,
        cooling_energy_mwh=cooling,
        energy_by_component_mwh=energy,
        water_m3=water_m3,
        wue_l_per_kwh=water_m3 * 1000.0 / (it * 1000.0),
        inlet_temp_max_c=float(result.zone_inlet_c.max()),
        degree_hours_above_27c=float(excess.sum() * h),
        hours_above_27c=float((excess.max(axis=1) > 0.0).sum() * h),
        economizer_hours=float((s["economizer_kw"] > 0.0).sum() * h),
        mean_facility_power_kw=float(s["facility_kw"].mean()),
    )
