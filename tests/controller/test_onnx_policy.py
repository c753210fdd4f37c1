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
from coolpilot.envs.config import load_facility
from coolpilot.envs.contract import CORE_CONTRACT, POINT_NAMES, SETPOINT_NAMES

SHIPPED = Path(__file__).resolve().parents[2] / "tests" / "data" / "bundles" / "contract1-modern-hall-ppo"
"""A contract-1 bundle (the core block), as shipped before contracts followed the equipment."""
"""The shipped default: a contract-1 bundle (the core block's 20 points and 4 setpoints)."""


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
    assert list(out) == list(policy.contract.setpoint_names)
    for spec in policy.contract.setpoints:
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
    card = read_card(bundle)
    n, k = len(card["points"]), len(card["setpoints"])
    _edit_card(bundle, lambda c: c.update(points=c["points"][:-2]))
    with pytest.raises(BundleError, match=f"graph maps {n} inputs to {k} outputs, the card lists {n - 2} points"):
        OnnxPolicy(bundle)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["points"][0].update(name="outdoor_temp_f"), "point outdoor_temp_f is not defined by any equipment "
                                                              "block"),
    (lambda c: c["points"][5].update(unit="W"), "point it_power_kw is in 'W'"),
    (lambda c: c["setpoints"][0].update(high=40.0), r"setpoint supply_air_temp_c \[14, 40\] °C must lie within"),
    (lambda c: c.update(setpoints=c["setpoints"][:3]), "graph maps .* outputs, the card lists .* and 3 setpoints"),
    (lambda c: c.update(contract_version=3), "contract_version 3 is not one this coolpilot reads"),
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


@pytest.mark.parametrize("facility", ["legacy-hall", "modern-hall", "campus"])
def test_a_contract_1_bundle_loads_for_every_facility_that_holds_its_points_and_setpoints(facility: str) -> None:
    contract = load_facility(facility).contract
    policy = OnnxPolicy(SHIPPED, contract, facility)
    assert policy.contract.version == 1 and policy.contract.point_names == POINT_NAMES
    assert tuple(policy.setpoint_names) == SETPOINT_NAMES, "it proposes the core four only"
    every_point = {p.name: (p.low + p.high) / 2.0 for p in contract.points}
    every_point.update({p["name"]: sum(p["training_range"]) / 2.0 for p in policy.card["points"]})
    assert list(policy.act(every_point)) == list(SETPOINT_NAMES), "it reads its own 20 points among the contract's"


def test_a_contract_2_bundle_of_another_facility_is_refused_naming_the_difference(tmp_path: Path) -> None:
    bundle = _copy(SHIPPED, tmp_path)
    _edit_card(bundle, lambda c: c.update(contract_version=2, name="core-only"))
    assert OnnxPolicy(bundle, CORE_CONTRACT, "core").contract.version == 2
    with pytest.raises(BundleError) as err:
        OnnxPolicy(bundle, load_facility("legacy-hall").contract, "legacy-hall")
    message = str(err.value)
    assert "bundle core-only does not fit facility legacy-hall" in message
    assert "setpoints ['chiller_stage_up_plr'] are in facility legacy-hall but not in bundle core-only" in message
    assert "points ['chiller_plr', 'chiller_stage_up_plr', 'chiller_stage_timer_min'] are in facility " \
           "legacy-hall" in message


def test_a_cards_narrower_setpoint_bounds_are_kept(tmp_path: Path) -> None:
    bundle = _copy(SHIPPED, tmp_path)
    _edit_card(bundle, lambda c: c["setpoints"][0].update(low=15.0))
    narrowed = OnnxPolicy(bundle, CORE_CONTRACT, "core")
    assert narrowed.contract.setpoints_by_name["supply_air_temp_c"].low == 15.0, "a card's narrower bounds stay"


def test_a_bundle_trained_on_a_facility_fits_it_and_is_refused_elsewhere_naming_the_difference(
        tiny_bundle: Path) -> None:
    card = read_card(tiny_bundle)
    facility = load_facility(card["facility"])
    policy = OnnxPolicy(tiny_bundle, facility.contract, card["facility"])
    assert policy.contract.setpoint_names == facility.contract.setpoint_names
    others = [name for name in ("legacy-hall", "modern-hall", "campus") if name != card["facility"]]
    for other in others:
        contract = load_facility(other).contract
        if policy.contract.differences(contract):
            with pytest.raises(BundleError, match=f"does not fit facility {other}: .* are in "):
                OnnxPolicy(tiny_bundle, contract, other)
