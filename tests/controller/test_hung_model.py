"""A model whose inference never returns does not hang the service.

The hung model is the shipped bundle whose ``act`` blocks on an event nobody sets while its
``hang`` flag is up (the event is set only at teardown, so the test leaves no thread behind).
Proved here:

- a call past ``model_timeout_s`` costs its own cycle only: the next cycle gets a fresh
  worker and the model's answer again, where a single inference thread would stay blocked
  behind the hung call and time out every cycle after it;
- with the loop running at its period, cycles go on at that period while the model hangs,
  the envelope holds and then writes the fallback's setpoints, all inside the site's bounds;
- ``model_unhealthy_after`` timeouts in a row mark the model unhealthy in the status, the
  Prometheus metrics and the audit trail; it is no longer called (no further thread is
  abandoned) until a reload of the real bundle makes it healthy again;
- ``coolpilot serve`` with a model that hangs on every call exits on SIGTERM: the abandoned
  threads do not hold up the process.

Every timing bound is derived from the configured period and time limit.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from coolpilot.controller.api import create_app
from coolpilot.controller.audit import AuditStore, DecisionRecord
from coolpilot.controller.policies.onnx_policy import OnnxPolicy
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.contract import POINT_NAMES
from tests.controller.helpers import BUNDLE, REPO, FakePlant, in_bounds, live_points, make, site_mapping

PERIOD_S = 0.3
"""Control period of the running loop (s)."""
TIMEOUT_S = 0.1
"""The site's model_timeout_s (s)."""
UNHEALTHY_AFTER = 3
"""The site's model_unhealthy_after (timeouts in a row)."""
SITE_BOUNDS = {"supply_air_temp_c": (16.0, 24.0), "crah_fan_speed_frac": (0.35, 1.0),
               "chw_supply_temp_c": (6.0, 16.0), "condenser_water_temp_c": (12.0, 30.0)}
"""The site's hard bounds (narrower than the contract's)."""
TOKEN = "h" * 32
CYCLE_BOUND_S = 4 * PERIOD_S + TIMEOUT_S
"""Longest a cycle may take to follow the previous one: its period, its time limit, and room for a loaded machine."""


class HangingPolicy(OnnxPolicy):
    """The bundle's policy; while :attr:`hang` is set, ``act`` blocks until :attr:`release` (set at teardown only)."""

    def __init__(self, bundle: Path, release: threading.Event) -> None:
        super().__init__(bundle)
        self.hang = threading.Event()
        self.release = release
        self.calls = 0

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        self.calls += 1
        if self.hang.is_set():
            self.release.wait()
            raise RuntimeError("released at teardown")
        return super().act(points)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """The event hung calls wait for: never set during the test, set afterwards so their threads end."""
    event = threading.Event()
    yield event
    event.set()


def timed_out(record: DecisionRecord) -> bool:
    """The recorded cycle's model call passed its time limit."""
    return str(record.raw_output).startswith("inference took longer than")


def test_a_call_past_its_time_limit_costs_one_cycle_not_the_ones_after(
        tmp_path: Path, release: threading.Event) -> None:
    service, _, clock = make(tmp_path, mode="active", model_timeout_s=TIMEOUT_S)
    policy = HangingPolicy(BUNDLE, release)

    async def go() -> None:
        await service.install_model(policy)
        for hang in (False, True, False, False):
            if hang:
                policy.hang.set()
            else:
                policy.hang.clear()
            outcome = await service.run_cycle()
            clock[0] += 300.0
            assert outcome.model_timed_out is hang, outcome
    asyncio.run(go())

    records = list(reversed(service.audit.decisions(limit=4)))
    assert [r.source for r in records] == ["policy", "hold", "policy", "policy"]
    assert timed_out(records[1])
    assert all(isinstance(r.raw_output, dict) for r in (records[0], records[2], records[3])), \
        "the cycles after the hung call got the model's answer from a fresh worker"
    assert service.hung_workers == 1, "the hung call's thread is left behind, not waited for"
    health = service.snapshot.model_health
    assert health.healthy and health.consecutive_timeouts == 0 and health.timeouts_total == 1
    asyncio.run(service.shutdown())


def test_repeated_timeouts_mark_the_model_unhealthy_until_a_reload(tmp_path: Path, release: threading.Event) -> None:
    site = site_from_mapping(site_mapping(
        tmp_path, "active", period_s=PERIOD_S, model_timeout_s=TIMEOUT_S, model_unhealthy_after=UNHEALTHY_AFTER,
        safety={"bounds": SITE_BOUNDS}), "test")
    plant = FakePlant(live_points(), time.time, drift=True)
    service = ControllerService(site, plant)
    policy = HangingPolicy(BUNDLE, release)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    seen: dict[str, Any] = {}

    async def wait_for(what: str, predicate: Callable[[], bool], cycles: int) -> None:
        """Poll until ``predicate()``, for at most ``cycles`` cycles' worth of time."""
        deadline = time.monotonic() + cycles * CYCLE_BOUND_S
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {cycles} cycles ({cycles * CYCLE_BOUND_S:.2f} s)")
            await asyncio.sleep(PERIOD_S / 10)

    async def go() -> None:
        await service.install_model(policy)
        loop_task = asyncio.create_task(service.run())
        transport = httpx.ASGITransport(app=create_app(service, TOKEN))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://coolpilot.test") as client:
                await wait_for("first cycles", lambda: service.snapshot.cycle >= 2, 4)
                policy.hang.set()
                await wait_for("unhealthy mark", lambda: not service.snapshot.model_health.healthy,
                               UNHEALTHY_AFTER + 3)
                calls, marked = policy.calls, service.snapshot.cycle
                await wait_for("cycles on the fallback", lambda: service.snapshot.cycle >= marked + 4, 6)
                assert policy.calls == calls, "an unhealthy model is not called"
                assert service.hung_workers == UNHEALTHY_AFTER, "one abandoned thread per timeout, no more"
                seen["status"] = (await client.get("/api/v1/status")).json()
                seen["metrics"] = (await client.get("/metrics")).text
                seen["ready"] = (await client.get("/api/v1/ready")).status_code
                reload = await client.post("/api/v1/model/reload", json={"path": str(BUNDLE)}, headers=auth)
                assert reload.status_code == 200, reload.text
                reloaded_at = service.snapshot.cycle
                await wait_for("the reloaded model's decisions", lambda: service.snapshot.cycle >= reloaded_at + 3, 5)
                seen["status_after"] = (await client.get("/api/v1/status")).json()
                seen["metrics_after"] = (await client.get("/metrics")).text
        finally:
            service.stop()
            await asyncio.wait_for(loop_task, timeout=CYCLE_BOUND_S + TIMEOUT_S)
    asyncio.run(go())

    health = seen["status"]["model_health"]
    assert not health["healthy"] and health["consecutive_timeouts"] == UNHEALTHY_AFTER
    assert health["hung_workers"] == UNHEALTHY_AFTER and health["unhealthy_after"] == UNHEALTHY_AFTER
    assert "timeouts in a row" in health["detail"] and seen["ready"] == 503
    assert "coolpilot_model_healthy 0.0" in seen["metrics"]
    assert f"coolpilot_model_timeouts_total {float(UNHEALTHY_AFTER)}" in seen["metrics"]
    assert f"coolpilot_inference_workers_hung {float(UNHEALTHY_AFTER)}" in seen["metrics"]
    assert seen["status_after"]["model_health"]["healthy"]
    assert seen["status_after"]["model"]["sha256"] == policy.sha256
    assert "coolpilot_model_healthy 1.0" in seen["metrics_after"]

    with AuditStore(site.audit.path) as audit:
        records = sorted(audit.decisions(limit=10_000), key=lambda r: r.cycle)
    assert [r.cycle for r in records] == list(range(1, len(records) + 1)), "one record per cycle"
    gaps = [b.time_s - a.time_s for a, b in itertools.pairwise(records)]
    assert max(gaps) <= CYCLE_BOUND_S, f"cycles kept their period while the model hung: gaps {gaps}"
    assert all(r.latency_ms <= 1000.0 * (TIMEOUT_S + PERIOD_S) for r in records), "no cycle waited past its limit"
    first = next(i for i, r in enumerate(records) if timed_out(r))
    answered = next(i for i, r in enumerate(records) if i > first and isinstance(r.raw_output, dict))
    hung, after = records[first:answered], records[answered:]
    assert all(isinstance(r.raw_output, dict) and r.source == "policy" for r in records[:first])
    timeouts = [r for r in hung if timed_out(r)]
    unhealthy = [r for r in hung if any(i["reason"] == "model_unhealthy" for i in r.interventions)]
    assert len(timeouts) == UNHEALTHY_AFTER and unhealthy and unhealthy[0].cycle == timeouts[-1].cycle
    assert all(str(r.raw_output).startswith("not inferred: model unhealthy") for r in unhealthy[1:])
    hold = site.safety.hold_cycles
    assert [r.source for r in hung[:hold]] == ["hold"] * hold and {r.source for r in hung[hold:]} == {"fallback"}
    assert all(r.wrote and r.written is not None and in_bounds(r.written, SITE_BOUNDS) for r in hung)
    assert all(in_bounds(w, SITE_BOUNDS) for w in plant.writes)
    assert len(after) >= 3 and all(r.source == "policy" for r in after), "the reloaded model decides again"


def test_serve_exits_on_sigterm_with_hung_inference_threads(tmp_path: Path) -> None:
    """``coolpilot serve`` whose model hangs on every call: marked unhealthy, then SIGTERM ends it with status 0."""
    period_s, timeout_s, unhealthy_after = 0.05, 0.05, 2
    points = live_points()
    rows = [",".join(POINT_NAMES)] + [",".join(f"{points[n] + 1e-3 * (k % 7)!r}" for n in POINT_NAMES)
                                      for k in range(5000)]
    (tmp_path / "points.csv").write_text("\n".join(rows) + "\n")
    audit = tmp_path / "audit.sqlite"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "name": "hung", "model": str(BUNDLE), "mode": "active", "period_s": period_s, "model_timeout_s": timeout_s,
        "model_unhealthy_after": unhealthy_after, "adapter": {"kind": "csv", "csv": {"path": "points.csv"}},
        "audit": {"path": str(audit)}}))
    driver = (
        "import sys, threading\n"
        "from coolpilot.controller.policies.onnx_policy import OnnxPolicy\n"
        "never = threading.Event()\n"
        "OnnxPolicy.act = lambda self, points: never.wait()  # every inference hangs\n"
        "from coolpilot.cli import main\n"
        "sys.exit(main(['serve', sys.argv[1], '--no-api']))\n"
    )
    log = tmp_path / "serve.log"
    startup_s = 60.0  # interpreter, numpy, onnxruntime and the bundle, on a loaded machine
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", driver, str(site)], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s + (unhealthy_after + 2) * (period_s + timeout_s)
        while not _audited(audit, "model_unhealthy"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve never marked its hung model unhealthy (exit {proc.poll()}):\n{log.read_text()}")
            time.sleep(period_s)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=startup_s + period_s + timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not exit on SIGTERM: hung inference threads held it\n{log.read_text()}")
        assert code == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert "marked unhealthy" in log.read_text()


def _audited(path: Path, reason: str) -> bool:
    """Whether the audit trail at ``path`` (written by another process) holds an intervention for ``reason``."""
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0) as conn:
            row = conn.execute("SELECT 1 FROM interventions WHERE reason = ? LIMIT 1", (reason,)).fetchone()
            return row is not None
    except sqlite3.OperationalError:  # not laid out yet
        return False
