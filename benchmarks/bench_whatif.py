"""Wall time of the README's main command and of a 10-scenario × 4-policy full-year what-if sweep.

Usage: ``python benchmarks/bench_whatif.py [--workers 2] [--days 365] [--skip-quick] [--skip-sweep]``.
Each is run as the user runs it, ``coolpilot whatif FILE`` in a subprocess (imports, process
start-up, the runs, the report), and timed from outside. The sweep's file is generated: the
eight bundled climates for a year each, plus a +2 K hotter year in Chicago and a Miami year
with a five-day +6 K heat wave; policies legacy, rule-based, the shipped bundle and the oracle.
Writes ``benchmarks/results/whatif.json`` with the machine facts and the commands.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "examples" / "scenarios" / "quick.yaml"
CLIMATES = ("miami", "phoenix", "las-vegas", "sterling", "oklahoma-city", "chicago", "denver", "san-francisco")


def sweep_file(days: float) -> dict[str, Any]:
    """Ten scenarios × four policies, each scenario ``days`` long from 1 January."""
    period = "year" if days == 365 else {"start_day": 0, "days": days}
    scenarios: list[dict[str, Any]] = [{"name": c, "climate": c} for c in CLIMATES]
    scenarios.append({"name": "chicago-plus-2k", "climate": "chicago", "weather": {"offset_k": 2.0}})
    scenarios.append({"name": "miami-heat-wave", "climate": "miami",
                      "weather": {"heat_wave": {"start_day": min(194.0, days / 2), "days": 5, "peak_k": 6}}})
    return {"title": "bench: 10 scenarios x 4 policies", "baseline": "rule-based",
            "policies": ["legacy", "rule-based", str(REPO / "models" / "modern-hall-ppo"), "oracle"],
            "defaults": {"facility": "modern-hall", "period": period}, "scenarios": scenarios}


def timed(cmd: list[str]) -> dict[str, Any]:
    """Run a command from the repository root; its wall time, and the what-if's own timing from results.json."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out = Path(cmd[cmd.index("--out") + 1])
    results = json.loads((out / "results.json").read_text())
    runs = results["timing"]["runs"]
    return {
        "command": " ".join(cmd[cmd.index("whatif") - 1:]).replace(str(REPO) + "/", ""),
        "wall_s": wall,
        "sweep_wall_s": results["timing"]["wall_s"],
        "workers": results["timing"]["workers"],
        "runs": len(runs),
        "run_wall_s_by_policy": {p: sum(r["wall_s"] for r in runs if r["policy"] == p)
                                 for p in dict.fromkeys(r["policy"] for r in runs)},
        "report_bytes": (out / "report.html").stat().st_size,
        "flags": len(results["flags"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--days", type=float, default=365.0, help="length of each sweep scenario (default a year)")
    parser.add_argument("--skip-quick", action="store_true", help="do not time the README's main command")
    parser.add_argument("--skip-sweep", action="store_true", help="do not time the 10 × 4 sweep")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "whatif.json"))
    args = parser.parse_args()
    exe = [sys.executable, "-m", "coolpilot"]
    report: dict[str, Any] = {"benchmark": "what-if: README main command and a 10 x 4 full-year sweep",
                              "machine": machine_info()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quick:
            report["readme_main_command"] = timed([*exe, "whatif", str(QUICK), "--workers", str(args.workers),
                                                   "--no-progress", "--out", f"{tmp}/quick"])
            print(f"README main command: {report['readme_main_command']['wall_s']:.0f} s", flush=True)
        if not args.skip_sweep:
            path = Path(tmp) / "sweep.yaml"
            path.write_text(yaml.safe_dump(sweep_file(args.days), sort_keys=False), encoding="utf-8")
            report["sweep_10x4"] = {"days": args.days, "scenario_file": sweep_file(args.days),
                                    **timed([*exe, "whatif", str(path), "--workers", str(args.workers),
                                             "--no-progress", "--out", f"{tmp}/sweep"])}
            print(f"10 x 4 sweep ({args.days:g} d each): {report['sweep_10x4']['wall_s']:.0f} s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    for key in ("readme_main_command", "sweep_10x4"):
        if key not in report and key in previous:
            report[key] = previous[key]  # keep the part not re-measured
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2, default=str)[:3000])


if __name__ == "__main__":
    main()
