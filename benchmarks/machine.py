"""Machine facts recorded beside every benchmark number."""

from __future__ import annotations

import multiprocessing
import os
import platform
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info(extra_packages: tuple[str, ...] = ()) -> dict[str, object]:
    """CPU, cores, Python and key package versions (plus ``extra_packages``), commit and time."""
    versions: dict[str, str | None] = {}
    for pkg in ("numpy", "numba", "gymnasium", "stable-baselines3", "torch", *extra_packages):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "commit": _git_commit(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@contextmanager
def serving_process(target: Callable[..., None], *args: Any, start_timeout_s: float = 60.0) -> Iterator[Any]:
    """Run ``target(*args, conn)`` in a spawned process; yield the first message it sends when ready.

    ``target`` serves until it receives ``"stop"`` on ``conn``; the process is stopped (and
    terminated if it does not exit within 10 s) when the block ends.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    try:
        if not parent.poll(start_timeout_s):
            raise RuntimeError(f"the serving process did not start within {start_timeout_s:g} s")
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join(timeout=10.0)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=10.0)

