"""The ONNX bundle policy: verified loading, refusal of corrupted or mismatched bundles, no torch."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coolpilot.controller.policies.onnx_policy import BundleError, OnnxPolicy, read_card
from coolpilot.envs.contract import POINT_NAMES, SETPOINTS


def _copy(bundle: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "bundle"
    shutil.copytree(bundle, dest)
    return dest


def _edit_card(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    card = json.loads((bundle / "card.json").read_text())
    change(card)
    (bundle / "card.json").write_text(json.dumps(card))


def test_bundle_acts_in_bounds(tiny_bundle: Path) -> None:
    policy = OnnxPolicy(tiny_bundle)
    points = {p["name"]: sum(p["training_range"]) / 2 for p in policy.card["points"]}
    out = policy.act(points)
    assert list(out) == [s.name for s in SETPOINTS]
    for spec in SETPOINTS:
        assert spec.low <= out[spec.name] <= spec.high


def test_changed_bytes_are_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    data = bytearray((bundle / "policy.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / "policy.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"sha256 .* does not match the card's"):
        OnnxPolicy(bundle)


def test_wrong_sha256_in_card_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    _edit_card(bundle, lambda c: c["onnx"].update(sha256=hashlib.sha256(b"other").hexdigest()))
    with pytest.raises(BundleError, match="refusing to load it"):
        OnnxPolicy(bundle)


def test_points_missing_from_card_are_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    _edit_card(bundle, lambda c: c.update(points=c["points"][:-2]))
    with pytest.raises(BundleError, match="graph maps 20 inputs to 4 outputs, the card lists 18 points"):
        OnnxPolicy(bundle)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["points"][0].update(name="outdoor_temp_f"), r"points \['outdoor_temp_f'\] are not in the contract"),
    (lambda c: c["points"][5].update(unit="W"), "point it_power_kw is in 'W'"),
    (lambda c: c["setpoints"][0].update(high=40.0), "setpoint supply_air_temp_c .* must lie within"),
    (lambda c: c.update(setpoints=c["setpoints"][:3]), "differ from the contract's"),
    (lambda c: c.pop("onnx"), "fields missing: onnx"),
    (lambda c: c.update(schema_version=99), "schema_version 99 is not supported"),
    (lambda c: c["points"][1].update(training_range=[3.0]), "training_range must be"),
])
def test_mismatched_cards_are_refused(tiny_bundle: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None],
                                      message: str) -> None:
    bundle = _copy(tiny_bundle, tmp_path)
    _edit_card(bundle, change)
    with pytest.raises(BundleError, match=message):
        OnnxPolicy(bundle)


def test_missing_files_and_bad_json_are_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no policy bundle here"):
        read_card(tmp_path / "nowhere")
    bundle = _copy(tiny_bundle, tmp_path)
    (bundle / "card.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"card.json: not valid JSON"):
        OnnxPolicy(bundle)
    (bundle / "policy.onnx").unlink()
    with pytest.raises(BundleError, match=r"policy.onnx is missing"):
        OnnxPolicy(bundle)


def test_act_names_missing_points(tiny_bundle: Path) -> None:
    policy = OnnxPolicy(tiny_bundle)
    points = dict.fromkeys(POINT_NAMES, 1.0)
    del points["inlet_temp_max_c"]
    with pytest.raises(KeyError, match="points missing: inlet_temp_max_c"):
        policy.act(points)


def test_loading_and_acting_never_imports_torch(tiny_bundle: Path) -> None:
    """The serve path (bundle, service, API, site file) runs without torch, SB3, training or evaluation."""
    code = (
        "import sys\n"
        "from coolpilot.controller.policies.onnx_policy import OnnxPolicy\n"
        "import coolpilot.controller.api, coolpilot.controller.service, coolpilot.controller.site\n"
        f"p = OnnxPolicy({str(tiny_bundle)!r})\n"
        "print(p.act({q['name']: q['training_range'][0] for q in p.card['points']}))\n"
        "print(sorted(m for m in ('torch', 'stable_baselines3', 'coolpilot.training', 'coolpilot.evaluation')\n"
        "             if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
