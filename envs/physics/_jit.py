"""Optional numba compilation of the physics kernels.

The physics are plain numpy functions over arrays with a leading facility axis. When
numba is installed (a core dependency) they are compiled with ``numba.njit(cache=True)``,
which removes numpy's per-call overhead (the single env is dominated by it). Set
``COOLPILOT_JIT=0`` to run the same source as plain numpy; a test checks both agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

JIT_ENABLED = os.environ.get("COOLPILOT_JIT", "1") != "0"


def jit(func: F) -> F:
    """Compile ``func`` with numba when enabled, else return it unchanged."""
    if not JIT_ENABLED:
        return func
    import numba

    return numba.njit(cache=True, fastmath=False, error_model="numpy")(func)  # type: ignore[return-value]
