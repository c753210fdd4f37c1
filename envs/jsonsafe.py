"""Strict JSON from numbers that may be NaN or infinite: the one NaN-to-null cleanup.

JSON has no NaN or infinity, and ``json.dumps`` writes them as the invalid tokens ``NaN``
and ``Infinity`` unless told not to. A plant's data has them for real reasons (a failed
sensor reads NaN, a PUE over zero IT energy is undefined), so every JSON this project
writes (the HTTP API's responses, the audit trail's columns, the what-if ``results.json``)
goes through :func:`json_safe` first: a non-finite float becomes ``null``, what was finite
is kept exactly. Where a reader must tell a NaN from a missing value, the writer records
which values were non-finite beside the data (as the audit trail does).

Standard library and numpy only, so every layer can use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["json_safe"]


def json_safe(value: object, unknown: Callable[[object], object] | None = None) -> Any:
    """``value`` as data ``json.dumps(..., allow_nan=False)`` accepts: non-finite floats become ``None``.

    Recurses through mappings (keys become strings, as JSON object keys are), lists and
    tuples (both become lists). numpy scalars become the Python number or boolean they
    hold and numpy arrays nested lists, cleaned the same way. ``None``, strings, booleans
    and integers are kept. Any other object is passed to ``unknown`` (e.g. ``repr``, so
    that an audit never refuses a record) or, without it, kept as it is for the caller's
    own encoder (FastAPI's, for example). The result is JSON data, typed ``Any`` as
    ``json.loads``'s is.
    """
    if isinstance(value, np.ndarray | np.generic):  # before float: np.float64 is a float subclass
        return json_safe(value.tolist(), unknown)
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, unknown) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, unknown) for v in value]
    return value if unknown is None else unknown(value)
