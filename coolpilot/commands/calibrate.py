"""``coolpilot calibrate HISTORY --facility DRAFT --out SITE.yaml``: fit a facility file to a site's history."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

FORMATS = ("auto", "simulate", "decisions", "bms")
"""History formats (:data:`coolpilot.envs.calibration.history.HISTORY_FORMATS`, not imported: the CLI stays light)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot calibrate``."""
    parser.add_argument("history", nargs="+", help="history file(s): coolpilot simulate --csv output, the audit's "
                                                  "decisions.csv, or BMS trend exports (CSV or .csv.gz, with "
                                                  "--column-map)")
    parser.add_argument("--facility", required=True, help="draft facility: a preset name or a facility YAML file")
    parser.add_argument("--out", required=True, help="calibrated facility YAML to write (a sidecar "
                                                     "<name>.calibration.json goes beside it)")
    parser.add_argument("--climate", help="bundled climate or EPW file for weather the history lacks (and the "
                                          "site's time zone)")
    parser.add_argument("--column-map", help="column map YAML of a BMS export (see examples/site-history/)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="history format (default: bms with --column-map, else read from the header)")
    parser.add_argument("--report", metavar="DIR", help="write report.html and calibration.json to DIR")
    parser.add_argument("--plan", metavar="PLAN.yaml", help="write an excitation plan for the parameters the history "
                                                            "could not identify")
    parser.add_argument("--site", help="site file of coolpilot serve: its safety limits bound the plan's steps")
    parser.add_argument("--utc-offset", type=float, help="the site's standard-time offset from UTC (h), for "
                                                         "decisions.csv and epoch timestamps")
    parser.add_argument("--holdout-days", type=float, default=7.0, help="days held out at the end (default 7)")
    parser.add_argument("--generations", type=int, default=120, help="CMA-ES generations at most (default 120)")
    parser.add_argument("--popsize", type=int, default=16, help="CMA-ES population per search (default 16)")
    parser.add_argument("--restarts", type=int, default=2, help="CMA-ES searches side by side, one batch (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="CMA-ES seed, 1 or more (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def read_history(args: argparse.Namespace, facility: Any, utc_offset: float | None) -> Any:
    """The history the arguments name (format detected unless given)."""
    from coolpilot.envs.calibration.history import read_history as read

    return read(args.history, facility, args.column_map, args.format, utc_offset)


def _site_limits(path: str | None) -> tuple[dict[str, tuple[float, float]], dict[str, float], float]:
    if path is None:
        return {}, {}, 26.0
    from coolpilot.controller.site import load_site

    site = load_site(path)
    return dict(site.safety.bounds), dict(site.safety.rate_per_min), float(site.safety.guard_c)


def run(args: argparse.Namespace) -> int:
    """Read the history, calibrate, write the facility (and the report and plan when asked), print a summary."""
    from coolpilot.envs.calibration.plan import make_plan, write_plan
    from coolpilot.envs.config import load_facility
    from coolpilot.evaluation.calibration import FitSettings, calibrate
    from coolpilot.evaluation.calibration_report import calibration_results, write_facility, write_report

    start = time.perf_counter()
    draft = load_facility(args.facility)
    weather = None
    if args.climate:
        from coolpilot.envs.weather import load_climate

        weather = load_climate(args.climate)
    offset = args.utc_offset if args.utc_offset is not None else (weather.timezone_h if weather else None)
    history = read_history(args, draft, offset)
    if weather is not None:
        sample = weather.sample(history.time_s)
        history = history.with_weather(sample.dry_bulb_c, sample.wet_bulb_c, f"climate {weather.name}")
    settings = FitSettings(holdout_days=args.holdout_days, max_generations=args.generations, popsize=args.popsize,
                           restarts=args.restarts, seed=args.seed)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=settings.max_generations, desc="CMA-ES", unit="gen", file=sys.stderr)

    def progress(generation: int, loss: float) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix(misfit=f"{loss:.4g}")

    result = calibrate(history, draft, settings, progress)
    if bar is not None:
        bar.close()
    facility_path, sidecar = write_facility(result, args.facility, args.out)
    wall = time.perf_counter() - start
    lines = [f"coolpilot calibrate: {draft.name} to {history.source} ({history.days:.1f} days), {wall:.0f} s",
             f"  calibrated facility  {facility_path} (uncertainties: {sidecar.name})"]
    if args.report:
        paths = write_report(calibration_results(result, wall, str(facility_path)), args.report)
        lines.append(f"  report               {paths['report.html']}")
    unidentified = [e.name for e in result.estimates if not e.identifiable]
    if args.plan:
        bounds, rates, guard = _site_limits(args.site)
        plan = make_plan(load_facility(facility_path), history, unidentified, bounds, rates, guard)
        header = (f"Excitation plan of coolpilot calibrate for {facility_path.name}: step tests for the parameters "
                  f"{', '.join(unidentified) or '(none)'}\nthat {Path(history.source).name} could not identify. "
                  "Run it with the safety envelope on; every level is inside the site's limits.")
        write_plan(plan, args.plan, header)
        lines.append(f"  excitation plan      {args.plan} ({len(plan.schedule)} tests, {plan.nights} night(s), "
                     f"{plan.duration_min / 60.0:.1f} h)")
    lines.append("  held out             calibrated | draft")
    for name in ("non_it_power_kw", "inlet_temp_max_c", "chw_supply_temp_c", "chw_return_temp_c"):
        if name not in result.heldout_calibrated:
            continue
        c, d = result.heldout_calibrated[name], result.heldout_draft[name]
        if c.unit == "kW":
            lines.append(f"    {name:<20} CV(RMSE) {_pct(c.cv_rmse_hourly_pct)} NMBE {_pct(c.nmbe_hourly_pct)} | "
                         f"CV(RMSE) {_pct(d.cv_rmse_hourly_pct)} NMBE {_pct(d.nmbe_hourly_pct)} (hourly)")
        else:
            lines.append(f"    {name:<20} RMSE {_num(c.rmse)} K | {_num(d.rmse)} K (hourly)")
    lines.append(f"  not identifiable     {', '.join(unidentified) or 'none'}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _pct(v: float | None) -> str:
    return "  n/a " if v is None else f"{v:5.2f} %"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
