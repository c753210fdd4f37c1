"""Make the example site history: a month of 5-minute BMS trends from a hidden perturbation of modern-hall.

Run from the repository root (seeded: the same files every time)::

    python examples/site-history/make_history.py

The hidden hall is modern-hall with the changes in :data:`HIDDEN` (the "truth" a calibration should
find); it runs under rule-based control in Chicago from 10 June for 30 days. The trend export then
gets what a real BMS export has:

- BMS-style column names and units: temperatures in °F (rack inlets in °C), fan speeds in %, per-pod
  IT power in W, the rest in kW (``column-map.yaml`` maps each column to its point, unit and meaning);
- ISO timestamps at local daylight time (UTC−05:00), each off its 5-minute slot by up to ±40 s;
- sensor noise (0.15 °F, 0.05 °C on rack sensors, 0.5 % on plant meters, 0.1 % on the IT power meters);
- a biased sensor: chilled-water return reads 1.1 °F (0.6 K) high throughout;
- a stuck point: return air repeats one reading for 10 hours from day 12;
- gaps: the logger is down for 2.5 hours on day 8 (rows missing), and the condenser water
  temperature is missing for 50 minutes on day 20;
- 24 rows exported twice.

Writes ``site-history.csv.gz`` beside this file.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from coolpilot.envs.calibration.synthetic import perturbed
from coolpilot.envs.config import FacilityConfig, load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate
from coolpilot.evaluation.policies import make_policy

HERE = Path(__file__).parent
SEED = 20250610
START_DAY = 160.0
DAYS = 30.0
YEAR = 2025
UTC_OFFSET_H = -5.0
"""The export's clock: US Central daylight time (the site's standard time is UTC−6)."""

HIDDEN = {
    "zone_heat_capacity": 38.0, "envelope_ua": 0.9, "recirculation[pod-1]": 0.055, "recirculation[pod-2]": 0.035,
    "recirculation[pod-3]": 0.085, "airflow_margin[pod-1]": 1.15, "airflow_margin[pod-3]": 1.28,
    "coil_approach": 3.5, "crah_fan_pressure": 520.0, "chiller_cop": 5.3, "tower_fan_power": 0.0125,
    "pump_power_scale": 1.15, "ups_loss_no_load": 0.014, "ups_loss_proportional": 0.025,
}
"""The hidden hall: modern-hall's fitted parameters changed to these values (the rest as the preset)."""

F = "°F"
COLUMNS: list[tuple[str, str, str, float]] = [
    # (BMS column, simulate series or kind:name, unit written, noise σ in that unit (meters: relative))
    ("OA-T (°F)", "outdoor_drybulb_c", F, 0.15),
    ("OA-WB (°F)", "outdoor_wetbulb_c", F, 0.15),
    ("UPS-OUT-TOT (kW)", "it_power_kw", "kW", 0.001),
    ("PDU-POD1 (W)", "zone_it:pod-1", "W", 0.001),
    ("PDU-POD2 (W)", "zone_it:pod-2", "W", 0.001),
    ("PDU-POD3 (W)", "zone_it:pod-3", "W", 0.001),
    ("MAIN-MTR (kW)", "facility_kw", "kW", 0.005),
    ("MECH-TOT (kW)", "cooling_kw", "kW", 0.005),
    ("CHLR-TOT (kW)", "chiller_kw", "kW", 0.005),
    ("CRAH-FANS (kW)", "crah_fan_kw", "kW", 0.005),
    ("CT-FANS (kW)", "tower_fan_kw", "kW", 0.005),
    ("RACK-INLET-MAX (°C)", "inlet_temp_max_c", "°C", 0.05),
    ("RACK-INLET-AVG (°C)", "inlet_temp_mean_c", "°C", 0.05),
    ("POD1-INLET-MAX (°C)", "zone_inlet:pod-1", "°C", 0.05),
    ("POD2-INLET-MAX (°C)", "zone_inlet:pod-2", "°C", 0.05),
    ("POD3-INLET-MAX (°C)", "zone_inlet:pod-3", "°C", 0.05),
    ("CRAH-SAT-AVG (°F)", "supply_air_temp_c", F, 0.15),
    ("CRAH-RAT-AVG (°F)", "return_air_temp_c", F, 0.15),
    ("CRAH-SPD-AVG (%)", "crah_fan_speed_frac", "%", 0.0),
    ("CHW-SWT (°F)", "chw_supply_c", F, 0.15),
    ("CHW-RWT (°F)", "chw_return_c", F, 0.15),
    ("CW-SWT (°F)", "condenser_water_c", F, 0.15),
    ("CHLR-RUN-CNT", "chillers_running", "count", 0.0),
    ("CRAH-SAT-SP (°F)", "setpoint_supply_air_temp_c", F, 0.0),
    ("CRAH-SPD-SP (%)", "setpoint_crah_fan_speed_frac", "%", 0.0),
    ("CHW-SWT-SP (°F)", "setpoint_chw_supply_temp_c", F, 0.0),
    ("CW-SWT-SP (°F)", "setpoint_condenser_water_temp_c", F, 0.0),
    ("CHLR-STG-PLR-SP (%)", "setpoint_chiller_stage_up_plr", "%", 0.0),
    ("CT-CELL-MINFLOW-SP (%)", "setpoint_tower_cell_flow_min_frac", "%", 0.0),
    ("CHW-DP-SP (%)", "setpoint_chw_dp_setpoint_frac", "%", 0.0),
    ("CW-FLOW-SP (%)", "setpoint_cw_flow_frac", "%", 0.0),
    ("WSE-ENABLE", "setpoint_economizer_enable", "count", 0.0),
]
BIAS = {"CHW-RWT (°F)": 1.1}
"""Sensor biases in the column's unit."""


def _to_unit(values: np.ndarray, unit: str) -> np.ndarray:
    if unit == F:
        return values * 9.0 / 5.0 + 32.0
    if unit == "W":
        return values * 1000.0
    if unit == "%":
        return values * 100.0
    return values


def hidden_facility() -> FacilityConfig:
    """The hidden hall (modern-hall perturbed by :data:`HIDDEN`)."""
    return perturbed(load_facility("modern-hall"), HIDDEN)


def main() -> Path:
    """Simulate the hidden hall and write the corrupted BMS export."""
    truth = hidden_facility()
    result = simulate(truth, load_climate("chicago"), make_policy("rule-based", truth), days=DAYS,
                      start_day=START_DAY, seed=SEED % 1000)
    rng = np.random.default_rng(SEED)
    n = result.n_steps
    zones = list(result.zone_names)
    cols: dict[str, np.ndarray] = {}
    for header, source, unit, sigma in COLUMNS:
        kind, _, name = source.partition(":")
        if kind == "zone_it":
            values = result.zone_it_kw[:, zones.index(name)]
        elif kind == "zone_inlet":
            values = result.zone_inlet_c[:, zones.index(name)]
        else:
            values = result.series[source]
        values = np.asarray(values, dtype=np.float64).copy()
        if unit in ("kW", "W"):
            values = values * (1.0 + rng.normal(0.0, sigma, n))
        values = _to_unit(values, unit)
        if unit not in ("kW", "W"):
            values = values + rng.normal(0.0, sigma, n)
        values = values + BIAS.get(header, 0.0)
        cols[header] = values
    step = round(300.0)
    day = 86400 // step
    stuck = slice(12 * day + 40, 12 * day + 40 + 10 * 12)
    cols["CRAH-RAT-AVG (°F)"][stuck] = cols["CRAH-RAT-AVG (°F)"][stuck.start]
    missing_cw = slice(20 * day + 100, 20 * day + 110)
    rows_down = set(range(8 * day + 150, 8 * day + 180))
    tz = timezone(timedelta(hours=UTC_OFFSET_H))
    standard = timezone(timedelta(hours=UTC_OFFSET_H - 1.0))
    origin = datetime(YEAR, 1, 1, tzinfo=standard)
    jitter = rng.uniform(-40.0, 40.0, n)
    duplicates = set(rng.choice(n, size=24, replace=False).tolist())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["Timestamp", *cols])
    for k in range(n):
        if k in rows_down:
            continue
        stamp = (origin + timedelta(seconds=float(result.series["time_s"][k] + jitter[k]))).astimezone(tz)
        row = [stamp.isoformat(timespec="seconds")]
        for header, values in cols.items():
            if header == "CW-SWT (°F)" and missing_cw.start <= k < missing_cw.stop:
                row.append("")
            elif header in ("CHLR-RUN-CNT", "WSE-ENABLE"):
                row.append(f"{values[k]:.0f}")
            else:
                row.append(f"{values[k]:.2f}")
        writer.writerow(row)
        if k in duplicates:
            writer.writerow(row)
    out = HERE / "site-history.csv.gz"
    out.write_bytes(gzip.compress(buf.getvalue().encode("utf-8"), compresslevel=9, mtime=0))
    return out


if __name__ == "__main__":
    path = main()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
