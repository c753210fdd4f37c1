"""BACnet/IP adapter latency against the plant twin's BACnet device on loopback.

Usage: ``python benchmarks/bench_bacnet.py [--n 500] [--n-single 100] [--out FILE]``.

Measures, with :class:`coolpilot.controller.adapters.bacnet.BacnetAdapter` (default settings, local
port ephemeral) against :class:`coolpilot.controller.twin.bacnet_device.BacnetTwinDevice` on 127.0.0.1:

- ``read_all_points``: one ``read_points()`` of the 20 points (present-value and
  status-flags of 20 objects) with ReadPropertyMultiple, and with one ReadProperty per
  property (40 requests), the fallback for devices without ReadPropertyMultiple;
- ``write_all_setpoints``: one ``write_setpoints()`` of the 4 setpoints at priority 8 (4
  WriteProperty requests, then one ReadPropertyMultiple of their priority-arrays and
  present-values to detect overrides); ``relinquish_all`` likewise with nulls.

Two layouts: the device in a separate process (what a real device looks like: its CPU is
not ours) and in the same process and event loop as the adapter (as in the tests). bacpypes3
is pure Python, so encoding and decoding dominate; on loopback the wire adds nothing.
Writes JSON (milliseconds) with the machine facts and the command; prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, serving_process

from coolpilot.controller.adapters.bacnet import BacnetAdapter
from coolpilot.controller.protocols.bacnet import BacnetSettings
from coolpilot.controller.twin import PlantTwin
from coolpilot.controller.twin.bacnet_device import BacnetTwinDevice
from coolpilot.envs.contract import SETPOINT_NAMES

REPO = Path(__file__).resolve().parents[1]
WRITE = {"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.7, "chw_supply_temp_c": 12.0,
         "condenser_water_temp_c": 24.0}
WARMUP = 20


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stats_ms(values_s: list[float]) -> dict[str, float]:
    """p50, p99, max, mean (ms) and n of durations in seconds."""
    a = np.asarray(values_s) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max()),
            "mean": float(a.mean()), "n": len(a)}


async def timed(call: Callable[[], Awaitable[Any]], n: int) -> dict[str, float]:
    for _ in range(WARMUP):
        await call()
    durations = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        durations.append(time.perf_counter() - start)
    return stats_ms(durations)


async def measure(port: int, n: int, n_single: int) -> dict[str, dict[str, float]]:
    """Latencies against the device on ``port``."""
    results: dict[str, dict[str, float]] = {}
    for use_rpm, count in ((True, n), (False, n_single)):
        adapter = BacnetAdapter(BacnetSettings(device_address=f"127.0.0.1:{port}", local_port=0, use_rpm=use_rpm))
        await adapter.connect()
        try:
            key = "read_all_points_rpm" if use_rpm else "read_all_points_single_reads"
            results[key] = await timed(adapter.read_points, count)
            if use_rpm:
                results["write_all_setpoints"] = await timed(functools.partial(_checked_write, adapter), n)
                results["relinquish_all"] = await timed(functools.partial(adapter.relinquish, SETPOINT_NAMES), n)
        finally:
            await adapter.close()
    return results


async def _checked_write(adapter: BacnetAdapter) -> None:
    result = await adapter.write_setpoints(WRITE)
    if not result.ok:
        raise RuntimeError(f"write refused: {result.errors}")


async def serve(port: int, stop: Callable[[], bool], ready: Callable[[], None]) -> None:
    """The twin's device on ``port`` until ``stop()``."""
    device = BacnetTwinDevice(address=f"127.0.0.1:{port}")
    async with PlantTwin(mqtt=None, frontends=[device]):
        ready()
        while not stop():
            await asyncio.sleep(0.05)


def device_process(port: int, conn: Connection) -> None:
    """Child process: serve until the parent sends anything."""
    asyncio.run(serve(port, conn.poll, lambda: conn.send("ready")))


async def same_process(n: int, n_single: int) -> dict[str, dict[str, float]]:
    port = free_udp_port()
    device = BacnetTwinDevice(address=f"127.0.0.1:{port}")
    async with PlantTwin(mqtt=None, frontends=[device]):
        return await measure(port, n, n_single)


def separate_process(n: int, n_single: int) -> dict[str, dict[str, float]]:
    port = free_udp_port()
    with serving_process(device_process, port):
        return asyncio.run(measure(port, n, n_single))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="timed calls per RPM read, write and relinquish")
    parser.add_argument("--n-single", type=int, default=100, help="timed calls of the single-read fallback")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "protocol_bacnet.json"))
    args = parser.parse_args()
    machine = machine_info(("bacpypes3",))
    layouts = {"device_in_separate_process": separate_process(args.n, args.n_single),
               "device_in_same_process": asyncio.run(same_process(args.n, args.n_single))}
    report = {
        "benchmark": "BACnet/IP adapter latency (ms) against the plant twin's BACnet device on 127.0.0.1",
        "command": f"python benchmarks/bench_bacnet.py --n {args.n} --n-single {args.n_single}",
        "machine": machine,
        "what": {
            "read_all_points_rpm": "read_points(): present-value + status-flags of 20 analog inputs, one "
                                   "ReadPropertyMultiple",
            "read_all_points_single_reads": "read_points() with use_rpm=false: 40 ReadProperty requests",
            "write_all_setpoints": "write_setpoints() of 4 setpoints at priority 8: 4 WriteProperty + one "
                                   "ReadPropertyMultiple of priority-array and present-value (override check)",
            "relinquish_all": "relinquish() of 4 setpoints: 4 WriteProperty of null + the same check",
        },
        **layouts,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for layout, results in layouts.items():
        print(layout)
        for key, r in results.items():
            print(f"  {key:<30} p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  mean {r['mean']:7.2f} ms  n {r['n']}")


if __name__ == "__main__":
    main()
