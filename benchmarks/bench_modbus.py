"""Modbus TCP adapter latency against the plant twin's Modbus server on loopback.

Usage: ``python benchmarks/bench_modbus.py [--n 2000] [--out FILE]``.

Measures, with :class:`coolpilot.controller.adapters.modbus.ModbusAdapter` (the core block's default
register map: 20 float32 points in input registers 0..39, 4 float32 setpoints in holding
registers 0..7 with enable coils 0..3) against
:class:`coolpilot.controller.twin.modbus_server.ModbusTwinServer` on 127.0.0.1 (the twin simulates
modern-hall and serves its whole contract: 30 points, 9 setpoints):

- ``read_all_points``: one ``read_points()`` of the 20 points, batched into one request
  (function 4, 40 registers), decoded;
- ``read_all_points_unbatched``: the same with ``max_registers_per_read=2``: 20 requests,
  one per point, to show what batching saves;
- ``write_all_setpoints``: one ``write_setpoints()`` of the 4 setpoints: 4 write-registers
  (function 16) and 4 write-coil (function 5, the remote-setpoint enables) requests;
- ``relinquish_all``: one ``relinquish()`` of the 4 setpoints: 4 write-coil requests;
- ``raw_read_request``: one bare pymodbus ``read_input_registers`` of 40 registers, the
  floor the adapter builds on.

Two layouts: the server in a separate process (what a real device looks like: its CPU is
not ours) and in the same process and event loop as the adapter (as in the tests). Then,
same process, the adapter with modern-hall's contract map (``modern_hall_contract``: 30
points in one read of 60 registers, 9 setpoints written and relinquished). Writes JSON
(milliseconds) with the machine facts and the command; prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, serving_process
from pymodbus.client import AsyncModbusTcpClient

from coolpilot.controller.adapters.modbus import ModbusAdapter
from coolpilot.controller.protocols.contract_maps import for_contract
from coolpilot.controller.protocols.modbus import ModbusSettings
from coolpilot.controller.twin import PlantTwin
from coolpilot.controller.twin.modbus_server import ModbusTwinServer
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT, Contract

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
WRITES = ({"supply_air_temp_c": 20.0, "crah_fan_speed_frac": 0.7, "chw_supply_temp_c": 12.0,
           "condenser_water_temp_c": 24.0},
          {"supply_air_temp_c": 21.0, "crah_fan_speed_frac": 0.6, "chw_supply_temp_c": 13.0,
           "condenser_water_temp_c": 25.0})
WARMUP = 50
MODERN = load_facility("modern-hall").contract


def writes(contract: Contract) -> tuple[dict[str, float], dict[str, float]]:
    """Two alternating writes of every setpoint of ``contract``: the core's :data:`WRITES`, levers at 40 / 60 %."""
    out = []
    for k, core in enumerate(WRITES):
        levers = {s.name: (float(k) if s.discrete else s.low + (0.4 + 0.2 * k) * (s.high - s.low))
                  for s in contract.setpoints if s.name not in core}
        out.append({**core, **levers})
    return out[0], out[1]


def stats_ms(values_s: list[float]) -> dict[str, float]:
    """p50, p99, max, mean (ms) and n of durations in seconds."""
    a = np.asarray(values_s) * 1000.0
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max()),
            "mean": float(a.mean()), "n": len(a)}


async def timed(call: Callable[[int], Awaitable[Any]], n: int) -> dict[str, float]:
    """Latency of ``call(i)`` over ``n`` calls after a warm-up."""
    for i in range(WARMUP):
        await call(i)
    durations = []
    for i in range(n):
        start = time.perf_counter()
        await call(i)
        durations.append(time.perf_counter() - start)
    return stats_ms(durations)


async def measure(port: int, n: int, contract: Contract = CORE_CONTRACT) -> dict[str, dict[str, float]]:
    """Latencies against the server on ``port``, with ``contract``'s default map."""
    settings = for_contract(ModbusSettings(host=HOST, port=port), contract)
    both = writes(contract)
    registers = 2 * len(contract.point_names)
    adapter = ModbusAdapter(settings)
    unbatched = ModbusAdapter(settings.model_copy(update={"max_registers_per_read": 2}))
    client = AsyncModbusTcpClient(HOST, port=port, timeout=2.0, retries=0, reconnect_delay=0.0)
    results: dict[str, dict[str, float]] = {}
    try:
        await adapter.connect()
        await unbatched.connect()
        if not await client.connect():
            raise RuntimeError(f"cannot connect to the twin server on port {port}")

        async def read(_: int) -> None:
            reading = await adapter.read_points()
            if len(reading.values) != len(contract.point_names):
                raise RuntimeError(f"incomplete reading: {sorted(reading.values)}")

        async def write(i: int) -> None:
            result = await adapter.write_setpoints(both[i % 2])
            if not result.ok:
                raise RuntimeError(f"write refused: {result.errors}")

        async def relinquish(_: int) -> None:
            result = await adapter.relinquish(contract.setpoint_names)
            if not result.ok:
                raise RuntimeError(f"relinquish refused: {result.errors}")

        async def raw(_: int) -> None:
            response = await client.read_input_registers(0, count=registers, device_id=1)
            if response.isError():
                raise RuntimeError(f"raw read refused: {response}")

        results["read_all_points"] = await timed(read, n)
        results["read_all_points_unbatched"] = await timed(lambda _: unbatched.read_points(), max(n // 4, 100))
        results["write_all_setpoints"] = await timed(write, n)
        results["relinquish_all"] = await timed(relinquish, n)
        results["raw_read_request"] = await timed(raw, n)
    finally:
        await adapter.close()
        await unbatched.close()
        client.close()
    return results


def server_process(conn: Connection) -> None:
    """Child process: serve on a port picked by the OS, report it, serve until the parent sends anything."""

    async def go() -> None:
        server = ModbusTwinServer(ModbusSettings(), host=HOST, port=0)
        async with PlantTwin(mqtt=None, frontends=[server]):
            conn.send(server.port)
            while not conn.poll():
                await asyncio.sleep(0.05)

    asyncio.run(go())


async def same_process(n: int) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, float]]:
    """Latencies with the server in this event loop (core map, then modern-hall's contract map), and the server's
    cost of publishing one tick."""
    server = ModbusTwinServer(ModbusSettings(), host=HOST, port=0)
    async with PlantTwin(mqtt=None, frontends=[server]) as twin:
        results = await measure(server.port, n)
        modern = await measure(server.port, n, MODERN)
        publish = await timed(lambda _: server.publish(twin), n)
    return results, modern, publish


def separate_process(n: int) -> dict[str, dict[str, float]]:
    with serving_process(server_process) as port:
        return asyncio.run(measure(int(port), n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="timed calls per operation")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "protocol_modbus.json"))
    args = parser.parse_args()
    machine = machine_info(("pymodbus",))
    separate = separate_process(args.n)
    same, modern, publish = asyncio.run(same_process(args.n))
    layouts = {"server_in_separate_process": separate, "server_in_same_process": same,
               "modern_hall_contract": modern}
    report = {
        "benchmark": "Modbus TCP adapter latency (ms) against the plant twin's Modbus server on 127.0.0.1",
        "command": f"python benchmarks/bench_modbus.py --n {args.n}",
        "machine": machine,
        "what": {
            "read_all_points": "read_points(): 20 float32 points in one read of 40 input registers (function 4)",
            "read_all_points_unbatched": "read_points() with max_registers_per_read=2: 20 requests, one per point",
            "write_all_setpoints": "write_setpoints() of 4 setpoints: 4 write-registers (function 16) + 4 "
                                   "write-coil of the remote-setpoint enables (function 5)",
            "relinquish_all": "relinquish() of 4 setpoints: 4 write-coil (enable = 0)",
            "raw_read_request": "one bare pymodbus read_input_registers of 40 registers (no adapter)",
            "modern_hall_contract": "the same operations, same process, with modern-hall's contract map: 30 "
                                    "points (60 registers, one request), 9 setpoints (9 + 9 requests to write, 9 "
                                    "to relinquish)",
            "twin_publish_per_tick": "ModbusTwinServer.publish(): modern-hall's 30 points encoded into the "
                                     "server's registers",
        },
        **layouts,
        "twin_publish_per_tick": publish,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for layout, results in layouts.items():
        print(layout)
        for key, r in results.items():
            print(f"  {key:<28} p50 {r['p50']:7.3f} ms  p99 {r['p99']:7.3f} ms  mean {r['mean']:7.3f} ms  n {r['n']}")
    print(f"twin publish per tick: p50 {publish['p50']:.3f} ms, p99 {publish['p99']:.3f} ms")


if __name__ == "__main__":
    main()
