"""China's regional PUE, modelled, beside the published 2023 regional averages.

Usage: ``python benchmarks/bench_regional_pue.py [--scenarios FILE] [--workers 2] [--days N] [--out FILE]``.

Runs ``examples/scenarios/china-regions.yaml`` through the what-if machinery
(:func:`coolpilot.evaluation.whatif.run_whatif`: the modern and the legacy hall under legacy and
rule-based control, a synthetic typical year of each region's climate), groups the annual PUE by
region (the mean over a region's stations) and prints the regional ordering of each hall and
control beside the published averages. ``--days`` shortens every run (a quick check; the
results file is then not the benchmark). ``--from-results FILE`` rebuilds the table, the
orderings and the scope notes from a results file's runs without simulating again. Writes JSON
with the machine facts and what the model does and does not represent (:data:`MODEL_SCOPE`).

What the published averages are: the 2023 mean PUE of data centres in operation in each region,
every size, age and design, as quoted in issue 19 (national 1.48; Northeast 1.40, North 1.39,
South 1.53, Central 1.54). The original publication and the figures of the East, Southwest and
Northwest regions could not be found in the reference material available, so they are left out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.envs.weathergen import REGIONS, load_stations
from coolpilot.evaluation.scenarios import Period, ScenarioSet, load_scenarios
from coolpilot.evaluation.whatif import run_whatif

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "examples" / "scenarios" / "china-regions.yaml"
PUBLISHED_2023: dict[str, float] = {"Northeast": 1.40, "North": 1.39, "South": 1.53, "Central": 1.54}
"""Published 2023 average PUE by region, as quoted in issue 19 (regions without a figure are absent)."""
PUBLISHED_2023_NATIONAL = 1.48
PUBLISHED_NOTE = ("2023 average PUE of data centres in operation by region, as quoted in the project's issue 19; "
                  "the original publication and the East, Southwest and Northwest figures were not found in the "
                  "reference material available, so they are left out")
MODEL_SCOPE: dict[str, list[str]] = {
    "represents": [
        "the same hall design, IT load and control in every region, so the differences are the climate's alone",
        "chiller lift and waterside-economizer (free-cooling) hours through the outdoor wet bulb, hour by hour",
        "a typical year per station, synthetic, generated from the station's published monthly normals",
    ],
    "does_not_represent": [
        "the fleet: the published averages mix every size, age, design, load and cooling technology in a region",
        "air-side economizers (direct or indirect evaporative), the North's and Northeast's main free cooling",
        "humidity control: dehumidification in humid summers, humidification in dry winters",
        "partial occupancy, liquid cooling and regional practice (set points, containment, maintenance)",
        "a region as a whole: one to two stations stand for it, some of them stand-ins for the named hubs",
    ],
}
"""What the benchmark's model does and does not represent (printed and written with the results)."""


def shortened(scenario_set: ScenarioSet, days: float) -> ScenarioSet:
    """The same scenario set with every period cut to ``days`` from 1 January (a quick check)."""
    from dataclasses import replace

    period = Period(start_day=0.0, days=days)
    return replace(scenario_set, scenarios=tuple(replace(sc, start_day=period.start_day, days=period.days,
                                                         period_label=period.label)
                                                 for sc in scenario_set.scenarios))


def run_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per simulated run (scenario, climate, facility, policy) with its annual KPIs."""
    return [{"scenario": sc["name"], "climate": sc["settings"]["climate"], "facility": sc["settings"]["facility"],
             "policy": policy, "pue": run["kpis"]["pue"], "free_cooling_hours": run["kpis"]["free_cooling_hours"],
             "cooling_energy_mwh": run["kpis"]["cooling_energy_mwh"]}
            for sc in results["scenarios"] for policy, run in sc["runs"].items()]


def regional_table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (region, facility, policy): the mean annual PUE over the region's stations and the stations."""
    stations = load_stations()
    cells: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for run in runs:
        station = stations[run["climate"]]
        facility = Path(run["facility"]).stem
        cells.setdefault((station.region, facility, run["policy"]), []).append((station.name, run["pue"]))
    rows: list[dict[str, Any]] = []
    for (region, facility, policy), values in cells.items():
        rows.append({"region": region, "hub": sorted({stations[n].hub or "" for n, _ in values} - {""}),
                     "facility": facility, "policy": policy, "stations": [n for n, _ in values],
                     "pue": sum(p for _, p in values) / len(values),
                     "published_2023_pue": PUBLISHED_2023.get(region)})
    order = {r: i for i, r in enumerate(REGIONS)}
    rows.sort(key=lambda r: (r["facility"], r["policy"], order[r["region"]]))
    return rows


def orderings(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per facility and policy: the regions from lowest to highest modelled PUE, and the published ordering of them."""
    out: dict[str, dict[str, list[str]]] = {}
    for facility in sorted({r["facility"] for r in rows}):
        for policy in sorted({r["policy"] for r in rows}):
            subset = [r for r in rows if r["facility"] == facility and r["policy"] == policy]
            modelled = [r["region"] for r in sorted(subset, key=lambda r: r["pue"])]
            published = [r["region"] for r in sorted((r for r in subset if r["published_2023_pue"] is not None),
                                                     key=lambda r: r["published_2023_pue"])]
            out[f"{facility} / {policy}"] = {"modelled": modelled, "published_2023": published}
    return out


def _shown(path: Path) -> str:
    """The scenario file relative to the repository when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", default=str(SCENARIOS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--days", type=float, default=None, help="shorten every run (a quick check, not the benchmark)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "regional_pue.json"))
    parser.add_argument("--from-results", default=None,
                        help="rebuild the table, orderings and notes from this results file's runs (no simulation)")
    args = parser.parse_args()
    if args.from_results is not None:
        report = json.loads(Path(args.from_results).read_text(encoding="utf-8"))
        runs = report["runs"]
    else:
        scenario_set = load_scenarios(args.scenarios)
        if args.days is not None:
            scenario_set = shortened(scenario_set, args.days)
        started = time.perf_counter()
        runs = run_rows(run_whatif(scenario_set, workers=args.workers, progress=False))
        command = f"python benchmarks/bench_regional_pue.py --workers {args.workers}"
        report = {"command": command + (f" --days {args.days:g}" if args.days is not None else ""),
                  "scenarios": _shown(Path(args.scenarios)), "machine": machine_info(),
                  "wall_s": time.perf_counter() - started}
    rows = regional_table(runs)
    report.update({
        "benchmark": "regional PUE: modern and legacy hall, legacy and rule-based control, synthetic typical years "
                     "of China's regional climates (CMA and HKO normals), beside the published 2023 regional averages",
        "published_2023": {"national": PUBLISHED_2023_NATIONAL, "by_region": PUBLISHED_2023, "note": PUBLISHED_NOTE},
        "model_scope": MODEL_SCOPE,
        "rows": rows,
        "orderings": orderings(rows),
        "runs": runs,
    })
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{'region':<10} {'facility':<12} {'policy':<11} {'modelled PUE':>12} {'published 2023':>15}  stations")
    for r in rows:
        published = "" if r["published_2023_pue"] is None else f"{r['published_2023_pue']:.2f}"
        print(f"{r['region']:<10} {r['facility']:<12} {r['policy']:<11} {r['pue']:>12.3f} {published:>15}  "
              f"{', '.join(r['stations'])}")
    for label, order in report["orderings"].items():
        print(f"{label}: modelled {' < '.join(order['modelled'])}; published {' < '.join(order['published_2023'])}")
    print(f"published national average 2023: {PUBLISHED_2023_NATIONAL:.2f}")
    for what, items in MODEL_SCOPE.items():
        print(f"{what.replace('_', ' ')}: " + "; ".join(items))


if __name__ == "__main__":
    main()
