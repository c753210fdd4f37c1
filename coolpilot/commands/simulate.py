"""``coolpilot simulate``: a facility, a climate, a policy, a period; KPIs out."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_FACILITY = "modern-hall"
DEFAULT_CLIMATE = "chicago"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot simulate``."""
    parser.add_argument("--facility", default=DEFAULT_FACILITY,
                        help=f"preset name or facility YAML file (default {DEFAULT_FACILITY})")
    parser.add_argument("--climate", default=DEFAULT_CLIMATE,
                        help=f"bundled climate name or path to an EPW file (default {DEFAULT_CLIMATE})")
    parser.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    parser.add_argument("--start-day", type=float, default=0.0, help="day of year to start, 0 = 1 January")
    parser.add_argument("--policy", default="rule-based",
                        help="legacy | rule-based | oracle | a shipped bundle by name (coolpilot models), e.g. "
                             "modern-hall-ppo | a policy bundle folder (default rule-based)")
    parser.add_argument("--step-s", type=float, default=300.0, help="control step in seconds (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the load noise (default 0)")
    parser.add_argument("--json", action="store_true", help="print KPIs as JSON")
    parser.add_argument("--csv", metavar="FILE", help="write the per-step time series to FILE")


def run(args: argparse.Namespace) -> int:
    """Simulate and print the KPIs."""
    from coolpilot.envs.config import load_facility
    from coolpilot.envs.kpis import compute_kpis
    from coolpilot.envs.simulation import simulate, write_csv
    from coolpilot.envs.weather import load_climate
    from coolpilot.evaluation.policies import make_policy

    cfg = load_facility(args.facility)
    weather = load_climate(args.climate)
    policy = make_policy(args.policy, cfg)
    result = simulate(cfg, weather, policy, days=args.days, start_day=args.start_day, dt_s=args.step_s,
                      seed=args.seed)
    kpis = compute_kpis(result)
    if args.csv:
        write_csv(result, args.csv)
    if args.json:
        json.dump(kpis.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_kpis(kpis.as_dict()))
    return 0


def format_kpis(k: dict[str, object]) -> str:
    """A readable KPI table."""
    from coolpilot.envs.kpis import COMPONENT_LABELS, LIQUID_COMPONENTS

    comp = k["energy_by_component_mwh"]
    assert isinstance(comp, dict)
    lines = [
        f"coolpilot simulate: {k['facility']} in {k['climate']}, policy {k['policy']}, {k['days']:.1f} days",
        f"  PUE                          {k['pue']:.3f}",
        f"  facility energy              {k['facility_energy_mwh']:.2f} MWh",
        f"  IT energy                    {k['it_energy_mwh']:.2f} MWh",
        f"  cooling energy               {k['cooling_energy_mwh']:.2f} MWh",
    ]
    lines += [f"    {COMPONENT_LABELS[name]:<26} {value:.2f} MWh" for name, value in comp.items()
              if name != "it" and (value > 0.0 or name not in LIQUID_COMPONENTS)]
    lines += [
        f"  water                        {k['water_m3']:.1f} m³ (WUE {k['wue_l_per_kwh']:.3f} L/kWh)",
        f"  max inlet temperature        {k['inlet_temp_max_c']:.2f} °C",
        f"  degree-hours above 27 °C     {k['degree_hours_above_27c']:.2f} K·h",
        f"  free-cooling hours           {k['free_cooling_hours']:.1f} h",
    ]
    return "\n".join(lines) + "\n"
