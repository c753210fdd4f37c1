"""Optional numba compilation of the physics kernels.

The physics are plain numpy functions over arrays with a leading facility axis. When
numba is installed (a core dependency) they are compiled with ``numba.njit(cache=True)``,
which removes numpy's per-call overhead (the single env is dominated by it). Set
``COOLPILOT_JIT=0`` to run the same source as plain numpy; a test checks both agree.

numba invalidates a cached kernel only when the file defining it changes, not when a
function it calls (in another file) or a constant it reads does. So the cache lives in a
folder keyed by a hash of every source the kernels depend on: any edit compiles afresh.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

JIT_ENABLED = os.environ.get("COOLPILOT_JIT", "1") != "0"

_ENVS_DIR = Path(__file__).resolve().parents[1]
_KERNEL_SOURCES = (
    *sorted((_ENVS_DIR / "physics").glob("*.py")),
    _ENVS_DIR / "facility.py",
    _ENVS_DIR / "load.py",
    _ENVS_DIR / "units.py",
)


def _cache_dir() -> Path | None:
    """A writable cache folder keyed by the kernels' sources, or None to compile without caching."""
    digest = hashlib.sha256()
    for path in _KERNEL_SOURCES:
        digest.update(path.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "coolpilot" / "numba"
    folder = base / digest.hexdigest()[:16]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


_CACHE_DIR = _cache_dir() if JIT_ENABLED and "NUMBA_CACHE_DIR" not in os.environ else None


def jit(func: F) -> F:
    """Compile ``func`` with numba when enabled, else return it unchanged."""
    if not JIT_ENABLED:
        return func
    import numba

    cache = True
    if _CACHE_DIR is not None:
        numba.config.CACHE_DIR = str(_CACHE_DIR)  # type: ignore[attr-defined]
    elif "NUMBA_CACHE_DIR" not in os.environ:
        cache = False
    return numba.njit(cache=cache, fastmath=False, error_model="numpy", nogil=True)(func)  # type: ignore[return-value]
