"""Synthetic site histories: a hidden facility (a draft with some parameters changed) and what its sensors record.

For tests, benchmarks and the example site history: calibration is checked by recovering a facility
whose parameters are known, from a history the simulator wrote for it with sensor noise.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from coolpilot.envs.calibration.history import SIMULATE_COLUMNS, History
from coolpilot.envs.calibration.parameters import ParameterSpace
from coolpilot.envs.config import FacilityConfig
from coolpilot.envs.simulation import SimResult


def perturbed(draft: FacilityConfig, values: Mapping[str, float]) -> FacilityConfig:
    """``draft`` with fitted parameters (names of :func:`~coolpilot.envs.calibration.parameters.fit_parameters`)
    set to ``values``; the others as the draft has them."""
    space = ParameterSpace.of(draft)
    vector = space.draft_values.copy()
    for name, value in values.items():
        if name not in space.names:
            raise ValueError(f"unknown fitted parameter {name!r}; known: {list(space.names)}")
        vector[space.names.index(name)] = value
    return space.config(vector)


def history_from_result(result: SimResult, noise_c: float = 0.0, noise_kw: float = 0.0, seed: int = 0,
                        setpoints: bool = True) -> History:
    """The history a BMS would record of a simulation: every point, sub-meter, zone inlet and zone IT power.

    Temperatures get Gaussian noise of ``noise_c`` (K), powers of ``noise_kw`` (a share of the value), the
    weather included (sensors measure it too); setpoints are exact (what was written). ``setpoints=False``
    leaves them unrecorded (a site that trends only its sensors).
    """
    rng = np.random.default_rng(seed)
    n = result.n_steps

    def noisy(values: np.ndarray, unit: str) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64).copy()
        if unit == "°C" and noise_c > 0.0:
            v += rng.normal(0.0, noise_c, n)
        elif unit == "kW" and noise_kw > 0.0:
            v *= 1.0 + rng.normal(0.0, noise_kw, n)
        return v

    points: dict[str, np.ndarray] = {}
    for column, name in SIMULATE_COLUMNS.items():
        if name is None or column not in result.series:
            continue
        unit = "°C" if name.endswith("_c") else "kW" if name.endswith("_kw") else "1"
        points[name] = noisy(result.series[column], unit)
    zones = result.zone_names
    sp = {k.removeprefix("setpoint_"): np.asarray(v, dtype=np.float64).copy()
          for k, v in result.series.items() if k.startswith("setpoint_")} if setpoints else {}
    return History(
        source=f"simulation of {result.facility} in {result.climate} under {result.policy}", dt_s=result.dt_s,
        time_s=np.asarray(result.series["time_s"], dtype=np.float64).copy(), year=1970, utc_offset_h=None,
        points=points, setpoints=sp,
        zone_inlet_c={z: noisy(result.zone_inlet_c[:, j], "°C") for j, z in enumerate(zones)},
        zone_it_kw={z: noisy(result.zone_it_kw[:, j], "kW") for j, z in enumerate(zones)},
    )


ACCEPTANCE_HALL: dict[str, float] = {
    "zone_heat_capacity": 24.0, "chw_loop_volume": 45.0, "chiller_capacity": 480.0, "envelope_ua": 1.5,
    "recirculation[pod-1]": 0.06, "recirculation[pod-3]": 0.1, "airflow_margin[pod-2]": 1.1, "coil_approach": 4.0,
    "crah_fan_pressure": 560.0, "chiller_cop": 4.9, "tower_range": 6.2, "tower_fan_power": 0.014,
    "pump_power_scale": 1.3, "ups_loss_no_load": 0.018, "ups_loss_proportional": 0.015, "server_fan_slope": 0.03,
}
"""The hidden hall of the acceptance tests and the calibration benchmark: modern-hall with these parameters
(the example site history hides a different one)."""
