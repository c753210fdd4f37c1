"""``coolpilot whatif SCENARIOS.yaml``: policies × scenarios in parallel, then report.html, results.json and CSV."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot whatif``."""
    parser.add_argument("scenarios", help="scenario file (YAML; see examples/scenarios/ and evaluation/scenarios.py)")
    parser.add_argument("--out", help="output folder (default runs/whatif-<scenario file name>)")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU core)")
    parser.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster: auto, HOST:PORT or "
                                                         "ray://HOST:10001 (--workers then caps runs in flight)")
    parser.add_argument("--series", action="store_true", help="also write every run's per-step series as CSV")
    parser.add_argument("--check", action="store_true", help="validate the scenario file, list the runs, run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--from-results", action="store_true",
                        help="SCENARIOS is a results.json of an earlier run: render its report again")
    parser.add_argument("--lang", default="en", choices=("en", "zh-CN"),
                        help="language of the report and the summary: en (default) or zh-CN (Simplified Chinese)")


def run(args: argparse.Namespace) -> int:
    """Validate, run, write the report; print where it is and the headline numbers."""
    if args.from_results:
        return _rerender(Path(args.scenarios), args.out, args.lang)
    from coolpilot.evaluation.scenarios import load_scenarios

    scenario_set = load_scenarios(args.scenarios)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers = {args.workers} must be at least 1")
    n_runs = len(scenario_set.scenarios) * len(scenario_set.policies)
    sys.stdout.write(f"{args.scenarios}: {len(scenario_set.scenarios)} scenario(s) × {len(scenario_set.policies)} "
                     f"policies = {n_runs} runs; baseline {scenario_set.baseline}, proposed {scenario_set.proposed}\n")
    if args.check:
        for sc in scenario_set.scenarios:
            sys.stdout.write(f"  {sc.name}: {Path(sc.facility).name} in {Path(sc.climate).name}, {sc.period_label} "
                             f"({sc.days:g} d from day {sc.start_day:g})\n")
        return 0
    from coolpilot.evaluation.report import write_outputs
    from coolpilot.evaluation.whatif import run_whatif

    out = Path(args.out) if args.out else Path("runs") / f"whatif-{Path(args.scenarios).stem}"
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the worker processes too, as Ctrl-C does
    results = run_whatif(scenario_set, workers=args.workers, progress=not args.no_progress, ray_address=args.ray,
                         series_dir=out / "series" if args.series else None)
    paths = write_outputs(results, out, args.lang)
    sys.stdout.write(summary_text(results, args.lang))
    sys.stdout.write("".join(f"  {name:<13} {path}\n" for name, path in paths.items()))
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _rerender(path: Path, out: str | None, lang: str) -> int:
    import json

    from coolpilot.evaluation.report import write_outputs

    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read results: {err}") from None
    paths = write_outputs(results, Path(out) if out else path.parent, lang)
    sys.stdout.write(f"report: {paths['report.html']}\n")
    return 0


def summary_text(results: dict[str, object], lang: str = "en") -> str:
    """A few lines for the terminal, in ``lang``: savings of the proposed policy per scenario, and thermal flags."""
    from coolpilot.evaluation.i18n import translator

    t = translator(lang)
    base, prop = results["baseline"], results["proposed"]
    lines = [t.text("cli.finished", title=results["title"])]
    scenarios = results["scenarios"]
    assert isinstance(scenarios, list)
    for sc in scenarios:
        if prop is None:
            break
        s = sc["savings_vs_baseline"][prop]
        k = sc["runs"][prop]["kpis"]
        lines.append(t.text("cli.scenario", name=sc["name"], proposed=prop, baseline=base,
                            mwh=t.num(s["facility_energy_mwh"], 1, sign=True),
                            pct=t.pct(s["facility_energy_pct"], 2, sign=True),
                            co2=t.num(s["carbon_location_t_co2e"], 1, sign=True),
                            cost=t.money(s["cost"], k["currency"], sign=True), before=f"{s['pue_before']:.3f}",
                            after=f"{s['pue_after']:.3f}", inlet=f"{k['inlet_temp_max_c']:.1f}"))
    flags = results["flags"]
    assert isinstance(flags, list)
    for f in flags:
        lines.append(t.text("cli.thermal", policy=f["policy"], scenario=f["scenario"],
                            dh=f"{f['degree_hours_above_limit']:.1f}", limit=f"{f['inlet_limit_c']:g}",
                            inlet=f"{f['inlet_temp_max_c']:.1f}"))
    return "\n".join(lines) + "\n"
