"""A real mosquitto broker per test, on a fresh 127.0.0.1 port, stopped by its own PID.

``mosquitto`` is an anonymous broker; ``mosquitto_auth`` requires a password and applies
an ACL (users in :data:`USERS`): the plant may publish points and read setpoints, the
controller may read points but write only two of the four setpoints. Both are skipped
only when the mosquitto binary is absent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.adapters.base import Adapter, Reading

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


def _config(port: int, extra: list[str]) -> str:
    lines = [f"listener {port} {HOST}", "persistence false", "log_dest stdout", *extra]
    if os.geteuid() == 0:
        lines.append("user root")  # else mosquitto drops to user mosquitto and cannot read our 0600 files
    return "\n".join(lines) + "\n"


def _broker(tmp_path: Path, extra: list[str]) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto broker not installed ({MOSQUITTO} missing): apt-get install mosquitto")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(_config(port, extra))
    broker = Broker(port, conf, tmp_path / "mosquitto.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """An anonymous broker on a fresh port."""
    yield from _broker(tmp_path, ["allow_anonymous true"])


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[Broker]:
    """A broker with passwords (:data:`USERS`) and an ACL (:data:`WRITABLE_SETPOINTS`)."""
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto broker not installed ({MOSQUITTO} missing): apt-get install mosquitto")
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd not installed (comes with the mosquitto package)")
    passwd = tmp_path / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        args = [MOSQUITTO_PASSWD, *(["-c"] if i == 0 else []), "-b", str(passwd), user, password]
        subprocess.run(args, check=True, capture_output=True, timeout=10)
    acl = tmp_path / "acl"
    acl.write_text("\n".join([
        "user plant",
        f"topic write {PREFIX}/points/#",
        f"topic read {PREFIX}/setpoints/#",
        "",
        "user controller",
        f"topic read {PREFIX}/points/#",
        *(f"topic write {PREFIX}/setpoints/{name}" for name in WRITABLE_SETPOINTS),
        "",
    ]))
    yield from _broker(tmp_path, ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"])


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


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[tuple[Broker, dict[str, Path]]]:
    """An anonymous broker speaking TLS only, and its certificate files (``ca.crt`` to trust)."""
    if OPENSSL is None:
        pytest.skip("openssl not installed: cannot make test certificates")
    certs = make_certificates(tmp_path / "certs")
    extra = ["allow_anonymous true", f"cafile {certs['ca.crt']}", f"certfile {certs['server.crt']}",
             f"keyfile {certs['server.key']}"]
    for broker in _broker(tmp_path, extra):
        yield broker, certs
