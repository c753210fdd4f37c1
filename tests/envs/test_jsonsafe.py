"""The one NaN-to-null JSON cleanup: strict JSON out, finite values kept exactly."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from coolpilot.envs.jsonsafe import json_safe


def test_non_finite_floats_become_null_at_any_depth() -> None:
    value = {"pue": math.nan, "runs": [{"kw": math.inf}, (1.5, -math.inf)], "ok": True, "n": 3, "name": "x",
             "missing": None}
    assert json_safe(value) == {"pue": None, "runs": [{"kw": None}, [1.5, None]], "ok": True, "n": 3, "name": "x",
                                "missing": None}


def test_numpy_scalars_and_arrays_become_plain_python() -> None:
    value = {"a": np.float32(2.5), "b": np.float64("nan"), "c": np.int64(7), "d": np.bool_(True),
             "e": np.array([[1.0, np.inf], [np.nan, -2.0]]), "f": np.float64(0.1)}
    out = json_safe(value)
    assert out == {"a": 2.5, "b": None, "c": 7, "d": True, "e": [[1.0, None], [None, -2.0]], "f": 0.1}
    assert isinstance(out, dict)
    assert [type(out[k]) for k in "acdf"] == [float, int, bool, float]  # not numpy subclasses
    json.dumps(out, allow_nan=False)


def test_keys_become_strings_and_unknown_objects_go_to_the_callback_or_stay() -> None:
    marker = object()
    assert json_safe({1: marker}) == {"1": marker}
    assert json_safe({1: marker}, unknown=lambda v: "seen") == {"1": "seen"}
    assert json_safe(b"raw", unknown=repr) == "b'raw'"  # bytes are not a sequence of numbers here


_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                    st.floats(allow_nan=True, allow_infinity=True))
_trees = st.recursive(_leaves, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                       st.dictionaries(st.text(max_size=4), kids, max_size=4)),
                      max_leaves=20)


def _finite_leaves_equal(before: object, after: object) -> bool:
    if isinstance(before, float):
        return after is None if not math.isfinite(before) else after == before
    if isinstance(before, dict):
        return isinstance(after, dict) and all(_finite_leaves_equal(v, after[k]) for k, v in before.items())
    if isinstance(before, list):
        return isinstance(after, list) and all(_finite_leaves_equal(b, a) for b, a in zip(before, after, strict=True))
    return before == after


@given(_trees)
def test_any_tree_becomes_strict_json_and_keeps_every_finite_value(tree: object) -> None:
    clean = json_safe(tree)
    text = json.dumps(clean, allow_nan=False)
    assert _finite_leaves_equal(tree, json.loads(text))
