"""``coolpilot serve`` and ``coolpilot twin`` as real processes: SIGKILL, restart, SIGTERM hand-back.

The twin ticks in accelerated time (300 s of plant per 0.1 s) on a mosquitto broker; the
service runs a cycle every 0.1 s. The service is killed with SIGKILL mid-run (no shutdown
code runs), restarted on the same site file, and must come back in the mode it was in with
an audit trail that lost nothing; SIGTERM then hands every setpoint back (MQTT null) and
exits 0. Every wait is bounded, every process is killed in ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml

from coolpilot.controller.audit import AuditStore
from tests.controller.helpers import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s" * 32
PREFIX = "coolpilot/killtest"


def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = 60.0,
             procs: tuple[subprocess.Popen[bytes], ...] = ()) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"process {p.args} exited with {p.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def spawn(procs: list[subprocess.Popen[bytes]], args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COOLPILOT_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        p = subprocess.Popen([sys.executable, "-m", "coolpilot", *args], cwd=REPO, env=env, stdout=out,
                             stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def test_serve_killed_restarts_in_its_mode_and_hands_back_on_sigterm(
        mosquitto: Broker, tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    port = free_port()
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "name": "killtest", "model": str(REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"),
        "mode": "shadow",
        "period_s": 0.1, "rate_period_s": 300,
        "adapter": {"kind": "mqtt", "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "prefix": PREFIX,
                                             "timeout_s": 5, "reconnect_min_s": 1, "reconnect_max_s": 1}},
        "safety": {"stale_after_s": 5.0},
        "api": {"host": "127.0.0.1", "port": port},
        "audit": {"path": "audit.sqlite"},
    }))
    api = f"http://127.0.0.1:{port}/api/v1"
    released: list[str] = []
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kill-spy", protocol=mqtt.MQTTv5)
    spy.on_message = lambda c, u, m: released.append(m.topic) if json.loads(m.payload).get("value") is None else None
    spy.connect(mosquitto.host, mosquitto.port)
    spy.loop_start()
    try:
        spy.subscribe(f"{PREFIX}/setpoints/#", qos=1)
        spawn(procs, ["twin", "--mqtt-port", str(mosquitto.port), "--prefix", PREFIX, "--climate", "phoenix",
                      "--start-day", "190", "--tick-s", "0.1"], tmp_path / "twin.log")

        def status() -> dict[str, object] | None:
            try:
                return httpx.get(f"{api}/status", timeout=1.0).json()  # type: ignore[no-any-return]
            except httpx.HTTPError:
                return None

        def cycle_at_least(n: int) -> Callable[[], bool]:
            return lambda: (s := status()) is not None and int(s["cycle"]) >= n  # type: ignore[call-overload]

        first = spawn(procs, ["serve", str(site)], tmp_path / "serve1.log")
        wait_for(cycle_at_least(3), "the first service's third cycle", procs=(first,))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(f"{api}/mode", json={"mode": "active", "who": "ops", "why": "kill test"}, headers=auth)
        assert r.status_code == 200, r.text
        wait_for(cycle_at_least(15), "fifteen cycles", procs=(first,))
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

        audit = AuditStore(tmp_path / "audit.sqlite")
        try:
            killed = audit.decisions(limit=10_000)
        finally:
            audit.close()
        run1 = killed[0].run_id
        assert sorted(r.cycle for r in killed) == list(range(1, len(killed) + 1))
        assert any(r.wrote for r in killed), "the first run never wrote in active mode"

        second = spawn(procs, ["serve", str(site)], tmp_path / "serve2.log")
        wait_for(lambda: (s := status()) is not None and s["run_id"] != run1 and int(s["cycle"]) >= 5,  # type: ignore[call-overload]
                 "the restarted service's fifth cycle", procs=(second,))
        s = status()
        assert s is not None and s["mode"] == "active", s
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, (tmp_path / "serve2.log").read_text()[-2000:]
        wait_for(lambda: len(set(released)) >= 4, "the four setpoints handed back", timeout_s=10)

        audit = AuditStore(tmp_path / "audit.sqlite")
        try:
            records = audit.decisions(limit=10_000)
            changes = audit.mode_changes()
        finally:
            audit.close()
        before = [r for r in records if r.run_id == run1]
        after = [r for r in records if r.run_id != run1]
        assert len(before) == len(killed), "records of the killed run were lost"
        assert sorted(r.cycle for r in after) == list(range(1, len(after) + 1))
        assert {r.mode for r in after} == {"active"}
        assert any(c.get("who") == "ops" and c.get("why") == "kill test" for c in changes), changes
    finally:
        spy.loop_stop()
        spy.disconnect()
