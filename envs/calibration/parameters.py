"""The facility parameters a calibration fits, with their physical bounds, as fields of the facility file.

Each :class:`FitParameter` names the facility-file field(s) it sets, so a candidate is a
:class:`~coolpilot.envs.config.FacilityConfig` and the physics arrays come from the one
``build_params``: the twin that was fitted is exactly the facility file that is written.

What history can inform, per PHYSICS.md and issue 16 (bounds: physics, widened to cover a
draft that starts elsewhere; a draft value outside them widens them to include it):

============================================  ==========================================  ================
parameter                                     field(s)                                    bounds
============================================  ==========================================  ================
zone thermal mass                             servers.heat_capacity_kj_per_kw_k           5–150 kJ/(K·kW)
chilled-water loop thermal mass               chilled_water.loop_volume_m3                0.3–3 × draft
envelope conductance                          envelope_ua_kw_per_k                        0–max(5, 5 × draft)
recirculation per zone                        zones[i].recirculation_frac                 0–0.3
CRAH airflow margin per zone                  zones[i].crah_airflow_margin                0.8–2.0
coil approach                                 crah.coil_approach_k                        0.5–8 K
CRAH fan power (fan curve scale)              crah.fan_pressure_pa                        0.5–2 × draft
chiller capacity                              chillers.capacity_kw                        design load…1.5 × draft
chiller COP (scale of the DOE-2 EIR curves)   chillers.cop_ref                            0.6–1.4 × draft
tower approach (through the design range)     towers.design_range_k                       0.5–2 × draft
tower fan power                               towers.fan_power_kw_per_kw                  0.003–0.03 kW/kW
pump power scale                              chilled_water.pump_head_pa, towers.…        0.5–2 ×
UPS loss coefficients                         electrical.ups_loss_{no_load,…,square}_frac 0–0.08
server fan slope with inlet temperature       servers.airflow_slope_per_k                 0–0.08 1/K
============================================  ==========================================  ================

The tower's approach has no field of its own: the YorkCalc model's approach grows with the
range, and ``design_range_k`` sets the design flows and so the range the towers run at.
Lighting is not fitted (it is a constant the UPS no-load loss would absorb).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coolpilot.envs.config import FacilityConfig


@dataclass(frozen=True)
class FitParameter:
    """One fitted quantity: facility field(s), unit, physical bounds, the draft's value.

    ``fields`` are dotted paths in the facility file (``zones[2].recirculation_frac``). A
    ``scale`` parameter multiplies the draft's value of each of its fields (value 1 = draft);
    otherwise the value is written to its one field. ``log`` parameters are searched on a log
    scale (a multiplicative unknown: masses, powers).
    """

    name: str
    label: str
    unit: str
    low: float
    high: float
    draft: float
    fields: tuple[str, ...]
    scale: bool = False
    log: bool = False

    def to_unit(self, value: np.ndarray) -> np.ndarray:
        """Values (any shape) mapped to 0..1 over the bounds."""
        if self.log:
            return (np.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_unit`, with ``x`` clipped to 0..1."""
        u = np.clip(x, 0.0, 1.0)
        if self.log:
            return np.asarray(np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return np.asarray(self.low + u * (self.high - self.low))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"name": self.name, "label": self.label, "unit": self.unit, "low": self.low, "high": self.high,
                "draft": self.draft, "fields": list(self.fields), "scale": self.scale, "log": self.log}


def _get(cfg: Any, path: str) -> Any:
    obj = cfg
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        obj = getattr(obj, name)
        if index:
            obj = obj[int(index)]
    return obj


def _set_many(cfg: FacilityConfig, values: dict[str, float]) -> FacilityConfig:
    """A copy of ``cfg`` with each dotted field set (nested models copied, not validated: bounds hold by design)."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        node = tree
        parts = path.replace("]", "").replace("[", ".").split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _apply(cfg, tree)


def _apply(obj: Any, tree: dict[str, Any]) -> Any:
    update: dict[str, Any] = {}
    for key, sub in tree.items():
        current = getattr(obj, key)
        if not isinstance(sub, dict):
            update[key] = sub
        elif isinstance(current, list):
            items = list(current)
            for index, inner in sub.items():
                items[int(index)] = _apply(items[int(index)], inner)
            update[key] = items
        else:
            update[key] = _apply(current, sub)
    return obj.model_copy(update=update)


def _bounds(low: float, high: float, draft: float) -> tuple[float, float]:
    """Bounds widened to hold the draft's value."""
    return min(low, draft), max(high, draft)


def fit_parameters(cfg: FacilityConfig) -> tuple[FitParameter, ...]:
    """The parameters fitted for facility ``cfg`` (the draft), with its values as starting point."""
    out: list[FitParameter] = []

    def add(name: str, label: str, unit: str, low: float, high: float, field: str, log: bool = False) -> None:
        draft = float(_get(cfg, field))
        lo, hi = _bounds(low, high, draft)
        out.append(FitParameter(name, label, unit, lo, hi, draft, (field,), log=log))

    add("zone_heat_capacity", "zone thermal mass per kW of design IT", "kJ/(K·kW)", 5.0, 150.0,
        "servers.heat_capacity_kj_per_kw_k", log=True)
    loop = cfg.chw_loop_volume_m3
    out.append(FitParameter("chw_loop_volume", "chilled-water loop volume (its thermal mass)", "m³", 0.3 * loop,
                            3.0 * loop, loop, ("chilled_water.loop_volume_m3",), log=True))
    ua = cfg.envelope_ua_kw_per_k
    add("envelope_ua", "envelope conductance", "kW/K", 0.0, max(5.0, 5.0 * ua), "envelope_ua_kw_per_k")
    for i, zone in enumerate(cfg.zones):
        add(f"recirculation[{zone.name}]", f"recirculation share, zone {zone.name}", "1", 0.0, 0.3,
            f"zones[{i}].recirculation_frac")
        add(f"airflow_margin[{zone.name}]", f"CRAH airflow over server design airflow, zone {zone.name}", "1", 0.8,
            2.0, f"zones[{i}].crah_airflow_margin")
    add("coil_approach", "coil approach (supply air over chilled water, at best)", "K", 0.5, 8.0,
        "crah.coil_approach_k")
    p_fan = cfg.crah.fan_pressure_pa
    out.append(FitParameter("crah_fan_pressure", "CRAH fan pressure rise (scales fan power)", "Pa",
                            *_bounds(max(100.0, 0.5 * p_fan), min(2000.0, 2.0 * p_fan), p_fan), p_fan,
                            ("crah.fan_pressure_pa",), log=True))
    cap = cfg.chillers.capacity_kw
    least = cfg.design_cooling_load_kw / cfg.chillers.count
    out.append(FitParameter("chiller_capacity", "reference capacity of one chiller", "kW",
                            *_bounds(max(least, 0.6 * cap), 1.5 * cap, cap), cap, ("chillers.capacity_kw",),
                            log=True))
    cop = cfg.chiller_cop_ref
    out.append(FitParameter("chiller_cop", "chiller reference COP (scales the DOE-2 EIR curves)", "W/W",
                            *_bounds(max(2.0, 0.6 * cop), min(12.0, 1.4 * cop), cop), cop, ("chillers.cop_ref",)))
    rng = cfg.towers.design_range_k
    out.append(FitParameter("tower_range", "tower design range (sets the approach the towers reach)", "K",
                            *_bounds(max(2.0, 0.5 * rng), min(15.0, 2.0 * rng), rng), rng,
                            ("towers.design_range_k",)))
    add("tower_fan_power", "tower fan power per kW rejected at design", "kW/kW", 0.003, 0.03,
        "towers.fan_power_kw_per_kw", log=True)
    heads = ("chilled_water.pump_head_pa", "towers.pump_head_pa")
    least_head = max(10_000.0 / float(_get(cfg, h)) for h in heads)
    most_head = min(600_000.0 / float(_get(cfg, h)) for h in heads)
    out.append(FitParameter("pump_power_scale", "pump power scale (chilled- and condenser-water pump heads)", "1",
                            max(0.5, least_head), min(2.0, most_head), 1.0, heads, scale=True, log=True))
    for part, words in (("no_load", "at no load"), ("proportional", "proportional to load"),
                        ("square", "with load squared")):
        add(f"ups_loss_{part}", f"UPS and distribution loss {words}, of rated power", "1", 0.0, 0.08,
            f"electrical.ups_loss_{part}_frac")
    add("server_fan_slope", "server airflow rise per K of inlet above the knee", "1/K", 0.0, 0.08,
        "servers.airflow_slope_per_k")
    return tuple(out)


@dataclass(frozen=True)
class ParameterSpace:
    """The fitted parameters of one draft facility and the maps between values, unit cube and facility files."""

    draft: FacilityConfig
    params: tuple[FitParameter, ...]

    @classmethod
    def of(cls, draft: FacilityConfig, names: Sequence[str] | None = None) -> ParameterSpace:
        """All of :func:`fit_parameters` for ``draft``, or those ``names`` (refused if unknown)."""
        every = fit_parameters(draft)
        if names is None:
            return cls(draft, every)
        known = {p.name: p for p in every}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown fitted parameters {unknown}; known: {list(known)}")
        return cls(draft, tuple(known[n] for n in names))

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return tuple(p.name for p in self.params)

    @property
    def draft_values(self) -> np.ndarray:
        """The draft's values (P,)."""
        return np.array([p.draft for p in self.params])

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """Values (..., P) to the unit cube."""
        v = np.asarray(values, dtype=np.float64)
        return np.stack([p.to_unit(v[..., j]) for j, p in enumerate(self.params)], axis=-1)

    def from_unit(self, x: np.ndarray) -> np.ndarray:
        """Unit-cube points (..., P) to values."""
        u = np.asarray(x, dtype=np.float64)
        return np.stack([p.from_unit(u[..., j]) for j, p in enumerate(self.params)], axis=-1)

    def field_values(self, values: np.ndarray) -> dict[str, float]:
        """The facility-file fields a parameter vector (P,) sets, with their values."""
        out: dict[str, float] = {}
        for p, v in zip(self.params, np.asarray(values, dtype=np.float64), strict=True):
            for f in p.fields:
                out[f] = float(_get(self.draft, f)) * float(v) if p.scale else float(v)
        return out

    def config(self, values: np.ndarray) -> FacilityConfig:
        """The draft with a parameter vector (P,) applied."""
        return _set_many(self.draft, self.field_values(values))

    def configs(self, values: np.ndarray) -> list[FacilityConfig]:
        """The draft with each row of ``values`` (N, P) applied."""
        return [self.config(row) for row in np.atleast_2d(values)]
