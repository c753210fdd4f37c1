"""Weather loading: time to parse and check a full-year EPW file, and to fetch a cached bundled climate.

Usage: ``python benchmarks/bench_weather.py [--repeats N] [--out FILE]``. Writes JSON with the machine
facts. The EPW parsed is a bundled TMY3 year (Chicago) written out uncompressed, so the figure is the
cost a user's own EPW file adds to every run that loads it (``coolpilot simulate --climate my.epw``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.envs.weather import CLIMATES, DATA_DIR, load_climate, load_epw


def _timed(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"repeats": repeats, "median_ms": 1e3 * statistics.median(times), "max_ms": 1e3 * max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "weather.json"))
    args = parser.parse_args()
    packed = DATA_DIR / CLIMATES["chicago"].file
    with tempfile.TemporaryDirectory() as tmp:
        epw = Path(tmp) / "chicago.epw"
        epw.write_bytes(gzip.decompress(packed.read_bytes()))
        parse = _timed(lambda: load_epw(epw), args.repeats)
    load_climate("miami")
    cached = _timed(lambda: load_climate("miami"), args.repeats)
    report = {
        "benchmark": "EPW parse + checks (8,760 rows) and cached bundled-climate lookup",
        "command": f"python benchmarks/bench_weather.py --repeats {args.repeats}",
        "machine": machine_info(),
        "results": {"parse_epw": parse, "cached_bundled": cached},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"parse EPW: median {parse['median_ms']:.1f} ms, max {parse['max_ms']:.1f} ms; "
          f"cached bundled: median {cached['median_ms'] * 1e3:.1f} µs")


if __name__ == "__main__":
    main()
