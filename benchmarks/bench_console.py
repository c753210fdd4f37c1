"""The console's data endpoints over loopback, and the control cycles while they are polled hard.

Usage: ``python benchmarks/bench_console.py [--requests 300] [--seconds 5] [--pollers 4] [--period 0.05]``.

A service (shipped bundle, active, an in-memory plant) gets a week of 5-minute audit history
(2,016 decisions with interventions) and runs its control loop every ``--period`` s on the
same event loop as its API, served by uvicorn on 127.0.0.1 (a free port), as ``coolpilot
serve`` does. Then:

1. one HTTP/1.1 keep-alive client times ``--requests`` requests each of
   ``/api/v1/trends?hours=24``, ``/api/v1/trends?hours=168``, ``/api/v1/status`` and
   ``/api/v1/console`` (target: p99 <= 50 ms on 2 cores);
2. the cycles are timed for ``--seconds`` with no client, then for ``--seconds`` while
   ``--pollers`` clients poll ``/api/v1/trends?hours=168`` back to back: the decision latency
   each cycle records, and the interval between cycle starts (the period when nothing delays
   the loop);
3. in process, the week's aggregation as shipped (one SQL statement, JSON read by SQLite)
   against decoding the JSON columns row by row in Python and aggregating there.

Writes ``benchmarks/results/console_data.json`` with the machine facts; prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_controller import MemoryPlant, percentiles
from machine import machine_info

from coolpilot.controller.api import create_app
from coolpilot.controller.audit import TREND_POINTS, AuditStore, DecisionRecord
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.contract import SETPOINT_NAMES
from coolpilot.envs.env import DataCenterEnv

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "models" / "modern-hall-ppo"
WEEK_RECORDS = 2016
STEP_S = 300.0
START_TIMEOUT_S = 30.0


def _varied(points: Mapping[str, float]) -> list[dict[str, float]]:
    """The simulated hall's points, moved a little from read to read (so no sensor looks stuck)."""
    return [{n: v + 1e-3 * ((j + 1) % 7) for n, v in points.items()} for j in range(7)]


def fill_week(audit: AuditStore, points: Mapping[str, float], end_s: float) -> None:
    """A week of decisions every 5 minutes up to ``end_s``: points varied, every third one with two interventions."""
    rng = random.Random(0)
    for i in range(WEEK_RECORDS):
        pts: dict[str, float | None] = {n: v * rng.uniform(0.95, 1.05) for n, v in points.items()}
        setpoints = {n: points[n] for n in SETPOINT_NAMES}
        audit.record(DecisionRecord(
            cycle=i + 1, run_id="history", time_s=end_s - STEP_S * (WEEK_RECORDS - i), mode="active",
            source="policy", points=pts, raw_output=setpoints, written=setpoints,
            interventions=([{"reason": "rate_limit", "target": "supply_air_temp_c", "detail": "step bounded"},
                            {"reason": "thermal_guard", "target": "chw_supply_temp_c", "detail": "near the limit"}]
                           if i % 3 == 0 else []),
            model_sha256="0" * 64, latency_ms=0.4, wrote=True))


def python_trends(audit: AuditStore, since_s: float, until_s: float, bucket_s: float) -> dict[int, dict[str, Any]]:
    """The way measured against :meth:`AuditStore.trends`: rows fetched, JSON decoded and aggregated in Python."""
    with audit._reader() as conn:  # the benchmark compares two ways of reading the same trail
        rows = conn.execute("SELECT time_s, points, raw_output, written FROM decisions "
                            "WHERE time_s >= ? AND time_s < ? ORDER BY time_s, id", (since_s, until_s)).fetchall()
    groups: dict[int, dict[str, Any]] = {}
    for time_s, points_text, raw_text, written_text in rows:
        g = groups.setdefault(int((time_s - since_s) / bucket_s), {"n": 0, "sums": {}, "max": {}, "written": None})
        g["n"] += 1
        points = json.loads(points_text)
        raw = json.loads(raw_text) if raw_text is not None else None
        for name, how in TREND_POINTS.items():
            v = points.get(name)
            if isinstance(v, int | float):
                if how == "max":
                    g["max"][name] = max(v, g["max"].get(name, -math.inf))
                else:
                    s, n = g["sums"].get(name, (0.0, 0))
                    g["sums"][name] = (s + v, n + 1)
        if isinstance(raw, dict):
            for name in SETPOINT_NAMES:
                v = raw.get(name)
                if isinstance(v, int | float):
                    s, n = g["sums"].get(name, (0.0, 0))
                    g["sums"][name] = (s + v, n + 1)
        if written_text is not None:
            g["written"] = json.loads(written_text)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint, one client")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each cycle-timing phase (s)")
    parser.add_argument("--pollers", type=int, default=4, help="clients polling the week's trends")
    parser.add_argument("--period", type=float, default=0.05, help="control period of the service (s)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "console_data.json"))
    args = parser.parse_args()

    load_before = os.getloadavg()  # other work on the machine stretches every figure below; the report says how much
    env = DataCenterEnv(climate="phoenix", start_day=190)
    env.reset(seed=0)
    tmp = Path(tempfile.mkdtemp())
    site = site_from_mapping({"name": "bench", "model": str(BUNDLE), "mode": "active", "period_s": args.period,
                              "adapter": {"kind": "csv", "csv": {"path": "unused.csv"}},
                              "audit": {"path": str(tmp / "audit.sqlite")}}, "bench")
    service = ControllerService(site, MemoryPlant(_varied(env.points)))
    fill_week(service.audit, env.points, time.time())

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, "x" * 32), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))

    async def serve() -> None:
        loop_task = asyncio.create_task(service.run())
        try:
            await server.serve()
        finally:
            service.stop()
            await loop_task

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the service did not start on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s")
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        latency: dict[str, Any] = {}
        with httpx.Client(timeout=10.0) as client:
            for label, path in (("trends_24h", "/trends?hours=24"), ("trends_168h", "/trends?hours=168"),
                                ("status", "/status"), ("console", "/console")):
                for _ in range(10):  # warm up
                    client.get(base + path).raise_for_status()
                times = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    client.get(base + path).raise_for_status()
                    times.append((time.perf_counter() - start) * 1000.0)
                latency[label] = {"path": "/api/v1" + path, "ms": percentiles(times)}
            body = client.get(base + "/trends?hours=168").json()
            latency["trends_168h"]["buckets"] = len(body["time_s"])
            latency["trends_168h"]["bytes"] = len(client.get(base + "/trends?hours=168").content)

        idle = cycle_stats(service, args.seconds)
        stop = threading.Event()
        polls: list[float] = []

        def poll() -> None:
            with httpx.Client(timeout=10.0) as c:
                while not stop.is_set():
                    start = time.perf_counter()
                    c.get(base + "/trends?hours=168").raise_for_status()
                    polls.append((time.perf_counter() - start) * 1000.0)

        pollers = [threading.Thread(target=poll, daemon=True) for _ in range(args.pollers)]
        for p in pollers:
            p.start()
        time.sleep(0.5)
        polled = cycle_stats(service, args.seconds)
        stop.set()
        for p in pollers:
            p.join(timeout=30.0)
    finally:
        server.should_exit = True
        thread.join(timeout=30.0)

    audit = AuditStore(tmp / "audit.sqlite")
    until = time.time()
    bucket_s = 168 * 3600 / 600
    ways: dict[str, dict[str, float]] = {}
    for label, fn in (("sql_json_extract", lambda: audit.trends(until - 168 * 3600, until, bucket_s)),
                      ("python_json_loads", lambda: python_trends(audit, until - 168 * 3600, until, bucket_s))):
        times = []
        for _ in range(30):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000.0)
        ways[label] = percentiles(times)
    audit.close()

    report = {
        "benchmark": "console data endpoints over loopback, and control cycles while the trends are polled hard",
        "command": (f"python benchmarks/bench_console.py --requests {args.requests} --seconds {args.seconds:g} "
                    f"--pollers {args.pollers} --period {args.period:g}"),
        "machine": machine_info(("fastapi", "uvicorn", "httpx")),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "history": {"decisions": WEEK_RECORDS, "step_s": STEP_S, "sqlite": sqlite3.sqlite_version},
        "target_p99_ms": 50.0,
        "request_latency": latency,
        "period_s": args.period,
        "cycles_idle": idle,
        "cycles_polled": {**polled, "pollers": args.pollers, "poll_ms": percentiles(polls)},
        "week_aggregation_in_process_ms": ways,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for entry in latency.values():
        print(f"{entry['path']}: p50 {entry['ms']['p50']:.2f} ms, p99 {entry['ms']['p99']:.2f} ms")
    for label, stats in (("idle", idle), (f"{args.pollers} pollers", polled)):
        print(f"cycles {label}: {stats['cycles']} in {args.seconds:g} s; interval p50 "
              f"{stats['interval_ms']['p50']:.1f} p99 {stats['interval_ms']['p99']:.1f} ms; "
              f"decision p50 {stats['decision_ms']['p50']:.2f} "
              f"p99 {stats['decision_ms']['p99']:.2f} ms")
    print(f"week aggregation: SQL p50 {ways['sql_json_extract']['p50']:.1f} ms, "
          f"Python p50 {ways['python_json_loads']['p50']:.1f} ms")


def cycle_stats(service: ControllerService, seconds: float) -> dict[str, Any]:
    """The cycles the service records over the next ``seconds``: count, interval between starts, decision latency."""
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    records = service.audit.decisions(since_s=start, until_s=end, run_id=service.run_id, limit=1_000_000,
                                      newest_first=False)
    times = [r.time_s for r in records]
    return {"cycles": len(records), "expected": round(seconds / service.site.period_s),
            "interval_ms": percentiles([float(x) * 1000.0 for x in np.diff(times)]),
            "decision_ms": percentiles([r.latency_ms for r in records])}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
