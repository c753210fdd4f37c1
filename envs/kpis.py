"""Key performance indicators of a simulation: the KPI vocabulary and its core set, with units.

**The vocabulary.** :data:`ENERGY_COMPONENTS` names once, for every report of this project,
the parts the facility energy is made of: ``it``, ``crah_fans``, ``chillers``,
``tower_fans``, ``chw_pumps``, ``cw_pumps``, a liquid-cooled hall's ``cdu_pumps``, ``fws_pumps`` and
``dry_cooler_fans``, ``distribution_losses`` and ``lighting`` (a heat pump's electricity is outside the facility
energy: :mod:`coolpilot.evaluation.kpis` reports it with the heat it delivers). Each
name is a key of ``energy_by_component_mwh`` (MWh: the unit is in the mapping's name; the
what-if CSV spells them ``energy_<name>_mwh``) and is measured from the recorded power
series (kW) it names. The cooling plant is the components marked ``cooling``; free cooling
is time with the waterside economizer carrying load. ``coolpilot simulate`` prints
:class:`Kpis`; the what-if KPIs (:mod:`coolpilot.evaluation.kpis`) extend that class, so a name means
the same number everywhere.

Definitions: PUE = facility energy / IT energy (The Green Grid); WUE = site water (L) /
IT energy (kWh) (The Green Grid); degree-hours above the inlet limit sum, over steps and
zones, the excess of each zone's server inlet over 27 °C times the step length in hours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from coolpilot.envs.contract import INLET_LIMIT_C
from coolpilot.envs.simulation import SimResult
from coolpilot.envs.units import SECONDS_PER_DAY, SECONDS_PER_HOUR


@dataclass(frozen=True)
class EnergyComponent:
    """A part of the facility energy: its KPI name, the power series it is measured from, how reports call it."""

    name: str
    """Key in ``energy_by_component_mwh`` (MWh)."""
    power_series: str
    """Recorded power series (kW) in :attr:`coolpilot.envs.simulation.SimResult.series`."""
    label: str
    """Words for a report."""
    cooling: bool
    """Part of the cooling plant (cooling energy = the sum of these)."""


ENERGY_COMPONENTS: tuple[EnergyComponent, ...] = (
    EnergyComponent("it", "it_power_kw", "IT", cooling=False),
    EnergyComponent("crah_fans", "crah_fan_kw", "CRAH fans", cooling=True),
    EnergyComponent("chillers", "chiller_kw", "chillers", cooling=True),
    EnergyComponent("tower_fans", "tower_fan_kw", "tower fans", cooling=True),
    EnergyComponent("chw_pumps", "chw_pump_kw", "chilled-water pumps", cooling=True),
    EnergyComponent("cw_pumps", "cw_pump_kw", "condenser pumps", cooling=True),
    EnergyComponent("cdu_pumps", "cdu_pump_kw", "CDU pumps", cooling=True),
    EnergyComponent("fws_pumps", "fws_pump_kw", "facility-water pumps", cooling=True),
    EnergyComponent("dry_cooler_fans", "dry_cooler_fan_kw", "dry-cooler fans", cooling=True),
    EnergyComponent("distribution_losses", "distribution_loss_kw", "UPS/distribution losses", cooling=False),
    EnergyComponent("lighting", "lighting_kw", "lighting", cooling=False),
)
"""Every component of the facility energy, in report order; their energies add up to the facility energy."""
COMPONENT_NAMES: tuple[str, ...] = tuple(c.name for c in ENERGY_COMPONENTS)
COOLING_COMPONENTS: tuple[str, ...] = tuple(c.name for c in ENERGY_COMPONENTS if c.cooling)
"""The cooling plant: CRAH fans, chillers, tower fans and both pump sets, and a liquid-cooled hall's CDU and
facility-water pumps and dry-cooler fans."""
LIQUID_COMPONENTS: tuple[str, ...] = ("cdu_pumps", "fws_pumps", "dry_cooler_fans")
"""Components only a liquid-cooled facility has (zero elsewhere; reports show them only where they are not)."""
COMPONENT_LABELS: dict[str, str] = {c.name: c.label for c in ENERGY_COMPONENTS}


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
    """The cooling plant's energy: the sum of :data:`COOLING_COMPONENTS`."""
    energy_by_component_mwh: dict[str, float]
    """Energy of each of :data:`ENERGY_COMPONENTS`, by name."""
    water_m3: float
    wue_l_per_kwh: float
    inlet_temp_max_c: float
    degree_hours_above_27c: float
    hours_above_27c: float
    free_cooling_hours: float
    """Hours with the waterside economizer carrying load."""
    mean_facility_power_kw: float

    def as_dict(self) -> dict[str, object]:
        """Plain mapping for JSON."""
        return asdict(self)


def energy_by_component_mwh(result: SimResult) -> dict[str, float]:
    """Energy (MWh) of each of :data:`ENERGY_COMPONENTS` over the run."""
    h = result.dt_s / SECONDS_PER_HOUR
    return {c.name: float(result.series[c.power_series].sum() * h / 1000.0) for c in ENERGY_COMPONENTS}


def water_m3_per_step(result: SimResult) -> np.ndarray:
    """Site water (m³) of each step: tower evaporation + drift + blowdown."""
    s = result.series
    return np.asarray(s["water_evaporation_m3"] + s["water_drift_m3"] + s["water_blowdown_m3"], dtype=np.float64)


def compute_kpis(result: SimResult) -> Kpis:
    """KPIs of a simulation result."""
    s = result.series
    h = result.dt_s / SECONDS_PER_HOUR
    energy = energy_by_component_mwh(result)
    facility = float(s["facility_kw"].sum() * h / 1000.0)
    it = energy["it"]
    water_m3 = float(water_m3_per_step(result).sum())
    excess = np.maximum(result.zone_inlet_c - INLET_LIMIT_C, 0.0)
    return Kpis(
        facility=result.facility,
        climate=result.climate,
        policy=result.policy,
        days=result.n_steps * result.dt_s / SECONDS_PER_DAY,
        pue=facility / it,
        facility_energy_mwh=facility,
        it_energy_mwh=it,
        cooling_energy_mwh=sum(energy[c] for c in COOLING_COMPONENTS),
        energy_by_component_mwh=energy,
        water_m3=water_m3,
        wue_l_per_kwh=water_m3 * 1000.0 / (it * 1000.0),
        inlet_temp_max_c=float(result.zone_inlet_c.max()),
        degree_hours_above_27c=float(excess.sum() * h),
        hours_above_27c=float((excess.max(axis=1) > 0.0).sum() * h),
        free_cooling_hours=float((s["economizer_kw"] > 0.0).sum() * h),
        mean_facility_power_kw=float(s["facility_kw"].mean()),
    )
