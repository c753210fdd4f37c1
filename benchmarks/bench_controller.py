"""Controller decision latency in process, and API decision throughput on loopback.

Usage: ``python benchmarks/bench_controller.py [--cycles 2000] [--api-seconds 5]``.

1. In process: a :class:`coolpilot.controller.service.ControllerService` for a ``modern-hall`` site
   (its contract: 30 points, 9 setpoints) with the shipped bundle (contract 1: it commands the
   core four) and the rule-based fallback (every lever) runs ``--cycles`` cycles against an
   in-memory plant fed with every contract point of a simulated day; the decision latency is what
   the service records per cycle
   (read + validate + infer + safety envelope; the audit write is after it and timed
   separately). Also the ONNX inference and the envelope alone, on what the service commands and
   on all nine setpoints of the contract.
2. On loopback: the service's FastAPI app under uvicorn on 127.0.0.1 (a free port), one
   HTTP/1.1 keep-alive client reading ``GET /api/v1/decision`` for ``--api-seconds``.

Writes JSON with the machine facts; prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info

from coolpilot.controller.adapters.base import Reading, WriteResult
from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.controller.safety import decide, initial_state
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.config import load_facility
from coolpilot.envs.simulation import simulate
from coolpilot.envs.weather import load_climate

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "models" / "modern-hall-ppo"
FACILITY = "modern-hall"


class Recorder:
    """Records the points a simulated day presents to the rule-based controller (every contract point)."""

    name = "recorder"

    def __init__(self) -> None:
        from coolpilot.controller.policies import RuleBasedPolicy
        from coolpilot.controller.policies.rule_based import rule_based_settings

        self.inner = RuleBasedPolicy(rule_based_settings(load_facility(FACILITY)))
        self.rows: list[dict[str, float]] = []

    def reset(self) -> None:
        self.inner.reset()

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        self.rows.append(dict(points))
        return self.inner.act(points)


class MemoryPlant:
    """An in-memory adapter replaying recorded points."""

    name = "memory"

    def __init__(self, rows: list[dict[str, float]]) -> None:
        self.rows = rows
        self.k = 0

    async def connect(self) -> None:
        pass

    async def read_points(self) -> Reading:
        row = self.rows[self.k % len(self.rows)]
        self.k += 1
        now = time.time()
        return Reading(dict(row), dict.fromkeys(row, now))

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        return WriteResult(dict.fromkeys(setpoints, True), {})

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        return WriteResult(dict.fromkeys(names, True), {})

    async def close(self) -> None:
        pass


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99, max and mean (same unit as the values)."""
    a = np.asarray(values)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean()), "n": len(a)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--api-seconds", type=float, default=5.0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "controller_latency.json"))
    args = parser.parse_args()

    rec = Recorder()
    simulate(load_facility(FACILITY), load_climate("phoenix"), rec, days=1, start_day=190)
    tmp = Path(tempfile.mkdtemp())
    site = site_from_mapping({"name": "bench", "facility": FACILITY, "model": str(BUNDLE), "mode": "active",
                              "period_s": 300,
                              "adapter": {"kind": "csv", "csv": {"path": "unused.csv"}},
                              "audit": {"path": str(tmp / "audit.sqlite")}}, "bench")
    service = ControllerService(site, MemoryPlant(rec.rows))

    async def run_cycles() -> tuple[list[float], list[float]]:
        latencies, totals = [], []
        for _ in range(args.cycles):
            start = time.perf_counter()
            outcome = await service.run_cycle()
            totals.append((time.perf_counter() - start) * 1000.0)
            latencies.append(outcome.latency_ms)
        return latencies, totals

    latencies, totals = asyncio.run(run_cycles())
    policy = OnnxPolicy(BUNDLE, site.contract, FACILITY)
    infer = []
    for row in rec.rows * 4:
        start = time.perf_counter()
        policy.act(row)
        infer.append((time.perf_counter() - start) * 1000.0)
    commanded, fallback = service.commanded, service.fallback
    assert fallback is not None
    envelope: dict[str, list[float]] = {"commanded": [], "all_setpoints": []}
    for label, proposer, contract in (("commanded", policy.act, commanded),
                                      ("all_setpoints", fallback.act, site.contract)):
        state = initial_state()
        for row in rec.rows * 4:
            proposal = proposer(row)
            start = time.perf_counter()
            d = decide(row, dict.fromkeys(row, 0.0), 0.0, proposal, state, site.safety, 300.0,
                       policy.training_ranges, contract=contract)
            envelope[label].append((time.perf_counter() - start) * 1000.0)
            state = d.state

    api: dict[str, Any] = {}
    if args.api_seconds > 0:
        import httpx
        import uvicorn

        from coolpilot.controller.api import create_app

        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(service, "x" * 32), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10.0
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port}/api/v1/decision"
        times = []
        with httpx.Client(timeout=5.0) as client:
            client.get(url).raise_for_status()
            end = time.monotonic() + args.api_seconds
            while time.monotonic() < end:
                start = time.perf_counter()
                client.get(url).raise_for_status()
                times.append((time.perf_counter() - start) * 1000.0)
        server.should_exit = True
        thread.join(timeout=10)
        api = {"requests": len(times), "seconds": args.api_seconds, "requests_per_s": len(times) / args.api_seconds,
               "request_ms": percentiles(times)}
    service.audit.close()
    stats = {"decision_ms": percentiles(latencies), "cycle_with_audit_write_ms": percentiles(totals),
             "onnx_inference_ms": percentiles(infer), "envelope_ms": percentiles(envelope["commanded"]),
             "envelope_all_setpoints_ms": percentiles(envelope["all_setpoints"])}
    report = {
        "benchmark": "controller decision latency (in process) and API decision throughput (loopback)",
        "command": f"python benchmarks/bench_controller.py --cycles {args.cycles} --api-seconds {args.api_seconds:g}",
        "machine": machine_info(),
        "bundle": str(BUNDLE.relative_to(REPO)),
        "facility": FACILITY,
        "contract": {"blocks": list(site.contract.blocks), "fingerprint": site.contract.fingerprint,
                     "commanded_setpoints": list(commanded.setpoint_names)},
        **stats,
        "api": api,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"decision (read + validate + infer + envelope): p50 {stats['decision_ms']['p50']:.3f} ms, "
          f"p99 {stats['decision_ms']['p99']:.3f} ms")
    print(f"ONNX inference p50 {stats['onnx_inference_ms']['p50']:.3f} ms; envelope p50 "
          f"{stats['envelope_ms']['p50']:.3f} ms ({len(commanded.setpoint_names)} setpoints), "
          f"{stats['envelope_all_setpoints_ms']['p50']:.3f} ms (all {len(site.contract.setpoint_names)}); "
          f"cycle incl. audit commit p50 "
          f"{stats['cycle_with_audit_write_ms']['p50']:.3f} ms")
    if api:
        print(f"API GET /api/v1/decision: {api['requests_per_s']:.0f} requests/s, "
              f"p99 {api['request_ms']['p99']:.2f} ms")


if __name__ == "__main__":
    main()
