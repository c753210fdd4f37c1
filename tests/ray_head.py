"""A real Ray head on 127.0.0.1 for tests: ``ray start --head --block`` as a child process, stopped by its id.

Ray's CLI replaces a loopback ``--node-ip-address`` with the machine's routable address
(``resolve_ip_for_localhost``) unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes
Ray single-node and loopback-only: set here for the head and, by the caller, for the driver
(see :func:`loopback_env`). Every port is a fresh free one, so tests can run beside other
Ray users of the machine; the object store is capped small. Stopping sends SIGTERM to the
``ray start`` process (it drains and stops its children), then SIGKILL to its whole process
group (the head was started in a new session) if anything is left: nothing but this head's
own processes is touched. Every process of the head (Ray workers too, which start their own
sessions and rename themselves ``ray::IDLE``) inherits a unique environment marker; after the
stop none may remain, or the context kills them by pid and raises.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
PORT_FLAGS = ("port", "ray-client-server-port", "dashboard-port", "dashboard-agent-listen-port",
              "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port", "node-manager-port",
              "object-manager-port")


def loopback_env() -> dict[str, str]:
    """Environment variables that keep a Ray head and its drivers on 127.0.0.1, without usage stats."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_DISABLE_USAGE_STATS": "1"}


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _marked_processes(marker: str) -> list[int]:
    """Pids of this user's processes whose environment holds ``COOLPILOT_TEST_RAY_HEAD=marker``."""
    needle = f"COOLPILOT_TEST_RAY_HEAD={marker}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def local_ray_head(temp_dir: Path, num_cpus: int = 2, object_store_bytes: int = 200_000_000) -> Iterator[str]:
    """Start a Ray head bound to 127.0.0.1; yield its address ``127.0.0.1:PORT``; always stop it.

    Workers get ``PYTHONPATH`` = the repository, so tasks defined in ``tests`` import there.
    Raises ``RuntimeError`` (with the head's log) if it is not up within ``START_TIMEOUT_S``,
    or if its processes outlive the stop.
    """
    ray_bin = Path(sys.executable).parent / "ray"
    ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
    marker = uuid.uuid4().hex
    env = {**os.environ, **loopback_env(), "COOLPILOT_TEST_RAY_HEAD": marker,
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    temp_dir.mkdir(parents=True, exist_ok=True)
    log_path = temp_dir / "ray-start.log"
    cmd = [str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--include-dashboard=false",
           "--disable-usage-stats", f"--num-cpus={num_cpus}", "--num-gpus=0",
           f"--object-store-memory={object_store_bytes}", f"--temp-dir={temp_dir}",
           *(f"--{flag}={port}" for flag, port in ports.items())]
    address = f"127.0.0.1:{ports['port']}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            status = subprocess.run([str(ray_bin), "status", f"--address={address}"], env=env, capture_output=True,
                                    text=True, timeout=60)
            if status.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray head not up after {START_TIMEOUT_S:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield address
    finally:
        _stop(proc, marker)


def _stop(proc: subprocess.Popen[bytes], marker: str) -> None:
    """SIGTERM the ``ray start --block`` process, then SIGKILL its process group and marked processes left."""
    pgid = proc.pid  # the head runs in its own session: its process group id is its pid
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)
    for sig in (None, signal.SIGKILL):  # give the children a moment to exit, then kill what is left
        if sig is not None and _group_alive(pgid):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + 10.0
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
    deadline = time.monotonic() + 10.0
    while _marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    leaked = _marked_processes(marker)
    for pid in leaked:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if _group_alive(pgid) or leaked:
        raise RuntimeError(f"Ray head processes outlived the stop (group {pgid}; killed leftovers {leaked})")
