"""Many API clients against a fast control loop: every change of state lands between two cycles.

The service runs a cycle every :data:`PERIOD_S` on an in-memory plant (points drifting a
little, so nothing looks stuck) in active mode, with the site's bounds narrower than the
contract's. Its API is served on the same event loop (as ``coolpilot serve`` serves it under
uvicorn), here through httpx's ASGI transport. :data:`CLIENTS` concurrent clients hammer it
until the loop has run :data:`HAMMER_CYCLES` cycles: operators setting overrides anywhere in
the contract's range and clearing them, operators reloading the model back and forth between
two bundles that differ in graph (sha256) and output, and readers polling the status. Then:

- the loop ended cleanly: no exception, no error logged;
- the audit trail holds exactly one record per cycle;
- every setpoint written is finite and inside the site's bounds;
- every cycle's raw output is what the model the audit names computes from the points the
  audit recorded (and not what the other bundle computes): the model a cycle used is the one
  it recorded, even with swaps racing the cycles;
- every status read was one consistent snapshot (its cycle is its last decision's cycle).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from coolpilot.controller.api import create_app
from coolpilot.controller.audit import AuditStore
from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.contract import POINT_NAMES, SETPOINT_NAMES, SETPOINTS_BY_NAME
from tests.controller.helpers import BUNDLE, FakePlant, in_bounds, live_points, site_mapping

PERIOD_S = 0.02
"""Control period of the hammered loop (s)."""
MODEL_TIMEOUT_S = 2.0
"""Inference limit (s): generous, this test is about races, not timeouts."""
HAMMER_CYCLES = 150
"""Cycles the loop runs while the clients hammer it."""
CLIENTS = 12
"""Concurrent API clients: 5 setting overrides, 3 clearing them, 2 reloading the model, 2 reading the status."""
TOKEN = "c" * 32
SITE_BOUNDS = {"supply_air_temp_c": (16.0, 24.0), "crah_fan_speed_frac": (0.35, 1.0),
               "chw_supply_temp_c": (6.0, 16.0), "condenser_water_temp_c": (12.0, 30.0)}
"""The site's hard bounds, inside the contract's (what every write must respect)."""
SHIFT = {"supply_air_temp_c": -0.5, "crah_fan_speed_frac": 0.05, "chw_supply_temp_c": -0.5,
         "condenser_water_temp_c": 0.5}
"""How much the second bundle's output differs from the shipped one's (setpoint units)."""
OUTPUT_TOL = 1e-5
"""Tolerance when recomputing a recorded raw output (setpoint units; float32 inference)."""


def shifted_bundle(folder: Path) -> Path:
    """A copy of the shipped bundle whose graph adds :data:`SHIFT` to its output: another sha256, another answer."""
    onnx = pytest.importorskip("onnx", reason="building a second bundle needs onnx (pip install 'coolpilot[train]')")
    from onnx import helper, numpy_helper

    model = onnx.load(str(BUNDLE / "policy.onnx"))
    graph = model.graph
    out = graph.output[0].name
    producer = next(node for node in graph.node if out in node.output)
    producer.output[list(producer.output).index(out)] = f"{out}_unshifted"
    shift = np.array([SHIFT[name] for name in SETPOINT_NAMES], dtype=np.float32)
    graph.initializer.append(numpy_helper.from_array(shift, "test_shift"))
    graph.node.append(helper.make_node("Add", [f"{out}_unshifted", "test_shift"], [out], name="test_shift_add"))
    onnx.checker.check_model(model)
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "policy.onnx"))
    card = json.loads((BUNDLE / "card.json").read_text())
    assert [s["name"] for s in card["setpoints"]] == list(SETPOINT_NAMES), "the shift is in contract order"
    card["name"] = "modern-hall-ppo-shifted"
    card["onnx"]["sha256"] = hashlib.sha256((folder / "policy.onnx").read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    return folder


async def until(done: Callable[[], bool], work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``work`` again and again until ``done()``."""
    while not done():
        await work()


def test_concurrent_overrides_clears_and_reloads_never_race_the_loop(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bundles = [tmp_path / "a", shifted_bundle(tmp_path / "b")]
    shutil.copytree(BUNDLE, bundles[0])
    policies = [OnnxPolicy(bundle) for bundle in bundles]
    models = {p.sha256: p for p in policies}
    assert len(models) == 2, "the two bundles must differ in sha256"
    points = live_points()
    a, b = (p.act(points) for p in policies)
    assert all(abs(a[n] - b[n]) > 10 * OUTPUT_TOL for n in SETPOINT_NAMES), "the two bundles must answer differently"

    site = site_from_mapping(site_mapping(
        tmp_path, "active", model=str(bundles[0]), period_s=PERIOD_S, rate_period_s=300.0,
        model_timeout_s=MODEL_TIMEOUT_S, safety={"bounds": SITE_BOUNDS}), "test")
    plant = FakePlant(points, lambda: service.clock(), drift=True)
    service = ControllerService(site, plant)
    app = create_app(service, TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    statuses: dict[str, set[int]] = {"override": set(), "clear": set(), "reload": set(), "status": set()}
    torn: list[dict[str, Any]] = []
    reloads: list[str] = []

    async def hammer(loop_task: asyncio.Task[None]) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coolpilot.test", timeout=30.0) as client:
            def done() -> bool:
                return service.snapshot.cycle >= HAMMER_CYCLES or loop_task.done()

            def overrider(seed: int) -> Callable[[], Coroutine[Any, Any, None]]:
                rng = random.Random(seed)

                async def work() -> None:
                    name = rng.choice(SETPOINT_NAMES)
                    spec = SETPOINTS_BY_NAME[name]
                    body = {"setpoint": name, "value": rng.uniform(spec.low, spec.high),
                            "duration_s": rng.uniform(0.01, 5.0), "who": f"op{seed}", "why": "hammer"}
                    statuses["override"].add((await client.post("/api/v1/override", json=body,
                                                                headers=auth)).status_code)
                    await asyncio.sleep(rng.uniform(0.0, PERIOD_S))
                return work

            def clearer(seed: int) -> Callable[[], Coroutine[Any, Any, None]]:
                rng = random.Random(seed)

                async def work() -> None:
                    name = rng.choice(SETPOINT_NAMES)
                    statuses["clear"].add((await client.delete(f"/api/v1/override/{name}", headers=auth)).status_code)
                    await asyncio.sleep(rng.uniform(0.0, PERIOD_S))
                return work

            def reloader(first: int) -> Callable[[], Coroutine[Any, Any, None]]:
                turn = [first]

                async def work() -> None:
                    turn[0] += 1
                    response = await client.post("/api/v1/model/reload", json={"path": str(bundles[turn[0] % 2])},
                                                 headers=auth)
                    statuses["reload"].add(response.status_code)
                    if response.status_code == 200:
                        reloads.append(response.json()["sha256"])
                return work

            async def reader() -> None:
                response = await client.get("/api/v1/status")
                statuses["status"].add(response.status_code)
                status = response.json()
                last = status["last_decision"]
                if last is not None and last["cycle"] != status["cycle"]:
                    torn.append(status)
                await asyncio.sleep(PERIOD_S / 4)

            clients = [overrider(i) for i in range(5)] + [clearer(10 + i) for i in range(3)] + \
                      [reloader(i) for i in range(2)] + [reader, reader]
            assert len(clients) == CLIENTS
            await asyncio.gather(*(until(done, work) for work in clients))

    async def go() -> None:
        loop_task = asyncio.create_task(service.run())
        bound_s = 60.0 + HAMMER_CYCLES * (PERIOD_S + MODEL_TIMEOUT_S)
        try:
            await asyncio.wait_for(hammer(loop_task), timeout=bound_s)
        finally:
            service.stop()
            await asyncio.wait_for(loop_task, timeout=60.0 + MODEL_TIMEOUT_S)  # raises if the loop raised

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

    assert statuses == {"override": {200}, "clear": {200, 404}, "reload": {200}, "status": {200}}, statuses
    assert not torn, f"{len(torn)} status reads showed a cycle half done, e.g. {torn[0]}"
    assert set(reloads) == set(models), "both bundles were swapped in"

    with AuditStore(site.audit.path) as audit:
        records = audit.decisions(limit=100 * HAMMER_CYCLES)
    cycles = sorted(r.cycle for r in records)
    assert cycles == list(range(1, service.cycle + 1)) and service.cycle >= HAMMER_CYCLES
    assert {r.run_id for r in records} == {service.run_id}

    assert plant.writes, "active mode writes"
    assert all(in_bounds(w, SITE_BOUNDS) and set(w) == set(SETPOINT_NAMES) for w in plant.writes)
    assert all(r.written is None or in_bounds(r.written, SITE_BOUNDS) for r in records)
    assert any(any(i["reason"] == "operator_override" for i in r.interventions) for r in records), \
        "overrides reached the cycles"

    used = {sha: 0 for sha in models}
    for r in records:
        assert r.model_sha256 in models, r
        assert isinstance(r.raw_output, dict), f"cycle {r.cycle}: the model did not answer: {r.raw_output}"
        inputs = {n: v for n in POINT_NAMES if isinstance(v := r.points[n], float)}
        assert len(inputs) == len(POINT_NAMES), f"cycle {r.cycle}: points not all recorded as numbers: {r.points}"
        other = next(p for sha, p in models.items() if sha != r.model_sha256)
        mine, theirs = models[r.model_sha256].act(inputs), other.act(inputs)
        for n in SETPOINT_NAMES:
            assert math.isclose(r.raw_output[n], mine[n], abs_tol=OUTPUT_TOL), (r.cycle, n, r.raw_output, mine)
            assert not math.isclose(r.raw_output[n], theirs[n], abs_tol=OUTPUT_TOL), (r.cycle, n)
        used[r.model_sha256] += 1
    assert all(used.values()), f"cycles per model: {used}"
