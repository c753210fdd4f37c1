"""Helpers shared by the controller tests: loopback ports, bounded waits, a mosquitto process, test certificates,
and an in-memory plant with a service built on it.

Plain functions and classes, imported by the tests (``from tests.controller.helpers import
...``); the fixtures built on them (a broker per test) are in ``conftest.py`` beside this file.
Everything binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coolpilot.controller.adapters.base import Adapter, AdapterError, Reading, WriteResult
from coolpilot.controller.service import ControllerService
from coolpilot.controller.site import site_from_mapping
from coolpilot.envs.contract import SETPOINTS_BY_NAME

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
OPENSSL = shutil.which("openssl")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or next(
    (p for p in ("/usr/bin/mosquitto_passwd", "/usr/sbin/mosquitto_passwd") if Path(p).exists()), None)
HOST = "127.0.0.1"
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0

USERS = {"plant": "plant-secret", "controller": "controller-secret"}
"""User name -> password of the authenticated broker."""
WRITABLE_SETPOINTS = ("supply_air_temp_c", "crah_fan_speed_frac")
"""Setpoints the ACL lets the controller write; writes to the others are refused (135)."""
PREFIX = "coolpilot/site"


async def eventually(predicate: Callable[[], object], what: str, timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms until true; fail naming ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


async def read_until(adapter: Adapter, condition: Callable[[Reading], bool], what: str,
                     timeout_s: float = 5.0) -> Reading:
    """Read the adapter every 10 ms until ``condition(reading)``; fail naming ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        reading = await adapter.read_points()
        if condition(reading):
            return reading
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}; last reading {reading}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:``port`` (a server ``process`` started), failing
    after ``timeout_s`` or as soon as the process exits (a cold start compiles the physics first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server process exited with {process.returncode} before listening on port {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for a server on {HOST}:{port}")


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def udp_port_is_free(port: int) -> bool:
    """Nothing is bound to UDP ``port`` (a plain bind, without SO_REUSEPORT, succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass
class Broker:
    """A mosquitto process with its config; ``restart()`` brings it back on the same port."""

    port: int
    conf: Path
    log: Path
    host: str = HOST
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start and wait (bounded) until it accepts TCP connections."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        pytest.fail(f"mosquitto did not start on {self.host}:{self.port}:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        """Terminate by PID, wait (bounded), kill if needed."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop and start again on the same port (retained messages are lost: persistence is off)."""
        self.stop()
        self.start()


def broker_config(port: int, extra: list[str]) -> str:
    """A mosquitto configuration: one listener on 127.0.0.1:``port``, no persistence, then ``extra`` lines."""
    lines = [f"listener {port} {HOST}", "persistence false", "log_dest stdout", *extra]
    if os.geteuid() == 0:
        lines.append("user root")  # else mosquitto drops to user mosquitto and cannot read our 0600 files
    return "\n".join(lines) + "\n"


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (EC P-256, valid one day), made with openssl."""
    assert OPENSSL is not None
    folder.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    files = {name: folder / name for name in ("ca.crt", "ca.key", "server.crt", "server.key", "server.csr")}
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    commands = [
        ["req", "-x509", *key, "-keyout", files["ca.key"], "-out", files["ca.crt"], "-days", "1", "-subj",
         "/CN=coolpilot-test-ca"],
        ["req", *key, "-keyout", files["server.key"], "-out", files["server.csr"], "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", files["server.csr"], "-CA", files["ca.crt"], "-CAkey", files["ca.key"],
         "-CAcreateserial", "-out", files["server.crt"], "-days", "1", "-extfile", folder / "san.ext"],
    ]
    for args in commands:
        subprocess.run([OPENSSL, *map(str, args)], check=True, capture_output=True, timeout=30)
    return files


# --- an in-memory plant and a service on it ------------------------------------------

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"
"""The shipped policy bundle."""
CLOCK_START_S = 1_800_000_000.0
"""Where the tests' manual clock starts (unix time, s)."""


def live_points() -> dict[str, float]:
    """Every contract point of the simulated modern hall at its first step (Phoenix, early July)."""
    from coolpilot.envs.env import DataCenterEnv

    env = DataCenterEnv(climate="phoenix", start_day=190)
    env.reset(seed=0)
    return env.points


class FakePlant:
    """An adapter over a dict: what the service reads, and every write it makes.

    Readings are stamped with ``clock()``; with ``drift`` each read moves every point by a
    tiny, cycling amount, so long runs do not look like stuck sensors.
    """

    name = "fake"

    def __init__(self, points: Mapping[str, float], clock: Callable[[], float], drift: bool = False) -> None:
        self.points: dict[str, object] = dict(points)
        self.clock = clock
        self.drift = drift
        self.reads = 0
        self.writes: list[dict[str, float]] = []
        self.relinquished: list[list[str]] = []
        self.fail_reads = False
        self.refuse: set[str] = set()

    async def connect(self) -> None:
        pass

    async def read_points(self) -> Reading:
        if self.fail_reads:
            raise AdapterError("broker down")
        self.reads += 1
        values = dict(self.points)
        if self.drift:
            step = 1e-3 * (self.reads % 7)
            values = {n: (v + step if isinstance(v, float) else v) for n, v in values.items()}
        return Reading(values, dict.fromkeys(values, self.clock()))

    async def write_setpoints(self, setpoints: Mapping[str, float]) -> WriteResult:
        self.writes.append(dict(setpoints))
        return WriteResult({n: n not in self.refuse for n in setpoints},
                           {n: "135 Not authorized" for n in setpoints if n in self.refuse})

    async def relinquish(self, names: Sequence[str]) -> WriteResult:
        self.relinquished.append(list(names))
        return WriteResult(dict.fromkeys(names, True), {})

    async def close(self) -> None:
        pass


def site_mapping(tmp_path: Path, mode: str = "shadow", **extra: Any) -> dict[str, Any]:
    """A site file's content: the shipped bundle, CSV adapter settings (unused by the fake plant), audit in tmp."""
    return {"name": "t", "model": str(BUNDLE), "mode": mode, "period_s": 300,
            "adapter": {"kind": "csv", "csv": {"path": "unused.csv"}},
            "audit": {"path": str(tmp_path / "audit.sqlite")}, **extra}


def make(tmp_path: Path, mode: str = "shadow", **extra: Any) -> tuple[ControllerService, FakePlant, list[float]]:
    """A service on a :class:`FakePlant` with a manual clock (``clock[0]``, unix s); ``extra`` goes to the site."""
    clock = [CLOCK_START_S]
    site = site_from_mapping(site_mapping(tmp_path, mode, **extra), "test")
    plant = FakePlant(live_points(), lambda: clock[0])
    return ControllerService(site, plant, clock=lambda: clock[0]), plant, clock


def cycles(service: ControllerService, clock: list[float], n: int) -> None:
    """Run ``n`` cycles, advancing the manual clock by 300 s after each."""
    async def go() -> None:
        for _ in range(n):
            await service.run_cycle()
            clock[0] += 300.0
    asyncio.run(go())


def in_bounds(sp: Mapping[str, float], bounds: Mapping[str, tuple[float, float]] | None = None) -> bool:
    """Every value finite and within ``bounds`` (default: the contract's hard bounds)."""
    limits = bounds or {name: (spec.low, spec.high) for name, spec in SETPOINTS_BY_NAME.items()}
    return all(math.isfinite(v) and limits[k][0] <= v <= limits[k][1] for k, v in sp.items())


def check_shipped_card(card: Mapping[str, Any], config: Path, facility: str, contract: Any, repo: Path
                       ) -> dict[str, Any]:
    """A shipped bundle's card against its committed training config: the facility it names, contract version 2
    and ``contract``, SB3-vs-ONNX parity, held-out evaluation climates without a degree-hour above 27 °C, and the
    config's sections as the card recorded them (read through today's schema: fields added since, with their
    defaults, compare equal). Returns the committed config (JSON-ready) for the caller's own checks."""
    from coolpilot.envs.contract import contract_from_card
    from coolpilot.training.config import config_from_mapping, load_train_config

    assert card["facility"] == facility and card["training"]["algo"] == "ppo"
    assert card["contract_version"] == 2 and contract_from_card(card) == contract
    assert card["parity"]["samples"] >= 10_000 and card["parity"]["max_abs_diff"] <= 1e-4
    rand = card["training"]["config"]["env"]["randomization"]
    assert card["evaluation"]["climates"] and not set(card["evaluation"]["climates"]) & set(rand["climates"])
    assert card["evaluation"]["degree_hours_above_27c"] == 0.0
    committed: dict[str, Any] = load_train_config(config).model_dump(mode="json")
    trained = config_from_mapping(card["training"]["config"], "card", repo).model_dump(mode="json")
    for section in ("env", "policy", "ppo", "normalize", "pretrain", "eval"):
        assert trained[section] == committed[section], f"{section} differs from the committed config"
    assert committed["seed"] == trained["seed"]
    return committed
