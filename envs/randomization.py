"""Domain randomization, configured in data: what varies from one training episode to the next.

A randomization file (YAML) names the climates to draw from, a range for the IT load level
and ranges for facility parameters. Each episode draws its factors uniformly, from the
episode's own generator, after its climate, start day and load noise (a fixed order, so
single and vector envs seeded alike still draw the same episodes). Facility factors act on
the physics arrays directly, so a reset costs microseconds, not a config rebuild.

Example (``training/configs/randomization.yaml`` style)::

    climates: [chicago, miami, phoenix, sterling]
    load_scale: [0.7, 1.15]
    facility:
      recirculation_scale: [0.7, 1.5]
      crah_airflow_scale: [0.9, 1.1]
      coil_approach_offset_k: [-0.5, 1.0]
      chiller_cop_scale: [0.9, 1.05]
      thermal_mass_scale: [0.7, 1.4]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coolpilot.envs.physics.plant import PlantParams
from coolpilot.envs.validation import format_validation_error, read_yaml

Range = tuple[float, float]


class RandomizationError(ValueError):
    """A randomization file is invalid; the message lists every problem."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _ordered(self) -> _Frozen:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) == 2 and value[0] > value[1]:
                raise ValueError(f"{name}: low {value[0]} is above high {value[1]}")
        return self


def _range(default: Range, low: float, high: float, unit: str, doc: str) -> Any:
    return Field(default, description=f"{doc} Allowed {low:g}..{high:g} {unit}.",
                 json_schema_extra={"unit": unit, "low": low, "high": high})


class FacilityRandomization(_Frozen):
    """Ranges of facility-parameter factors (1 or 0 = unchanged)."""

    recirculation_scale: Range = _range((1.0, 1.0), 0.0, 5.0, "1", "Multiplies each zone's base recirculation.")
    crah_airflow_scale: Range = _range((1.0, 1.0), 0.5, 2.0, "1",
                                       "Multiplies CRAH design airflow (and fan design power with it).")
    coil_approach_offset_k: Range = _range((0.0, 0.0), -2.0, 5.0, "K", "Added to the coil approach.")
    chiller_cop_scale: Range = _range((1.0, 1.0), 0.5, 1.5, "1", "Multiplies the chillers' reference COP.")
    thermal_mass_scale: Range = _range((1.0, 1.0), 0.2, 5.0, "1", "Multiplies the zones' heat capacity.")

    @model_validator(mode="after")
    def _within_limits(self) -> FacilityRandomization:
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            low, high = float(extra["low"]), float(extra["high"])  # type: ignore[arg-type]
            value = getattr(self, name)
            if value[0] < low or value[1] > high:
                raise ValueError(f"{name} = {list(value)} must lie within {low:g}..{high:g} {extra['unit']}")
        return self


class Randomization(_Frozen):
    """What varies per episode."""

    climates: list[str] | None = Field(None, description="Climates to draw from (names or EPW paths); "
                                                          "default: the env's own climate argument.")
    load_scale: Range = _range((1.0, 1.0), 0.0, 2.0, "1", "Multiplies IT utilization.")
    facility: FacilityRandomization = Field(default_factory=FacilityRandomization)

    @model_validator(mode="after")
    def _load_within_limits(self) -> Randomization:
        if self.load_scale[0] < 0.0 or self.load_scale[1] > 2.0:
            raise ValueError(f"load_scale = {list(self.load_scale)} must lie within 0..2")
        if self.climates is not None and not self.climates:
            raise ValueError("climates: give at least one climate, or leave the field out")
        return self

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One episode's factors, in a fixed order: load scale, then the facility factors."""
        f = self.facility
        ranges = (self.load_scale, f.recirculation_scale, f.crah_airflow_scale, f.coil_approach_offset_k,
                  f.chiller_cop_scale, f.thermal_mass_scale)
        return np.array([rng.uniform(lo, hi) for lo, hi in ranges])


def apply_factors(base: PlantParams, current: PlantParams, rows: np.ndarray, factors: np.ndarray) -> None:
    """Write the randomized parameters of facilities ``rows`` into ``current`` from ``base``.

    ``factors`` is (len(rows), 6) as :meth:`Randomization.draw` returns; column 0 (load)
    is applied to the exogenous series, not here.
    """
    recirc, airflow, approach, cop, mass = (factors[:, c] for c in range(1, 6))
    current.recirc_frac[rows] = np.minimum(base.recirc_frac[rows] * recirc[:, None], 0.5)
    current.crah_airflow_design_m3s[rows] = base.crah_airflow_design_m3s[rows] * airflow[:, None]
    current.crah_fan_design_kw[rows] = base.crah_fan_design_kw[rows] * airflow[:, None]
    current.coil_approach_k[rows] = np.maximum(base.coil_approach_k[rows] + approach, 0.1)
    current.chiller_cop_ref[rows] = base.chiller_cop_ref[rows] * cop
    mass_rows = base.zone_heat_capacity_kj_k[rows] * mass[:, None]
    current.zone_heat_capacity_kj_k[rows] = np.where(base.zone_mask[rows] > 0.5, mass_rows,
                                                     base.zone_heat_capacity_kj_k[rows])


def load_randomization(path: str | Path) -> Randomization:
    """Read and validate a randomization YAML file."""
    data = read_yaml(path, "randomization file", RandomizationError)
    return randomization_from_mapping(data or {}, str(path))


def randomization_from_mapping(data: Any, source: str = "<mapping>") -> Randomization:
    """Validate a mapping into a :class:`Randomization`."""
    if not isinstance(data, dict):
        raise RandomizationError(f"{source}: a randomization file must be a YAML mapping")
    try:
        return Randomization.model_validate(data)
    except ValidationError as err:
        raise RandomizationError(format_validation_error(err, Randomization, source, "randomization file")) from None
