"""A policy bundle (``models/<name>/policy.onnx`` + ``card.json``) as a policy, without torch.

Loading checks, in order, and refuses with an error naming the file and the problem:
the folder and both files exist; the card is JSON with the fields of schema version 1;
the sha256 of ``policy.onnx`` equals the card's; the card's points and setpoints are the
contract's (``coolpilot.envs.contract``: names, units, setpoint bounds within the contract's); the
graph's input and output have the card's widths. ``act(points)`` feeds the points in the
card's order and returns setpoints by name in physical units.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coolpilot.envs.contract import POINTS, SETPOINTS

SUPPORTED_SCHEMA_VERSIONS = (1,)
REQUIRED_CARD_FIELDS = ("schema_version", "name", "onnx", "points", "setpoints", "env_id", "facility", "training",
                        "evaluation", "created_at", "coolpilot_version")


class BundleError(ValueError):
    """A policy bundle is missing, corrupted or does not match the contract."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_card(bundle: str | Path) -> dict[str, Any]:
    """The validated card of a bundle folder (sha256 of the graph checked)."""
    folder = Path(bundle)
    card_path, onnx_path = folder / "card.json", folder / "policy.onnx"
    if not folder.is_dir():
        raise BundleError(f"{folder}: no policy bundle here (expected a folder with policy.onnx and card.json)")
    for path in (card_path, onnx_path):
        if not path.is_file():
            raise BundleError(f"{folder}: {path.name} is missing")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{card_path}: not valid JSON: {err}") from None
    if not isinstance(card, dict):
        raise BundleError(f"{card_path}: the card must be a JSON object")
    missing = [f for f in REQUIRED_CARD_FIELDS if f not in card]
    if missing:
        raise BundleError(f"{card_path}: fields missing: {', '.join(missing)}")
    if card["schema_version"] not in SUPPORTED_SCHEMA_VERSIONS:
        raise BundleError(f"{card_path}: schema_version {card['schema_version']!r} is not supported "
                          f"(this coolpilot reads {list(SUPPORTED_SCHEMA_VERSIONS)})")
    want = str(card["onnx"].get("sha256", "")) if isinstance(card["onnx"], dict) else ""
    got = _sha256(onnx_path)
    if want != got:
        raise BundleError(f"{onnx_path}: sha256 {got} does not match the card's {want or '(none)'}: the graph was "
                          "changed or belongs to another card; refusing to load it")
    _check_contract(card, card_path)
    return card


def _check_contract(card: dict[str, Any], card_path: Path) -> None:
    """The card's points and setpoints must be the contract's, with the same units and bounds within."""
    points = {p.name: p for p in POINTS}
    try:
        card_points = [(str(p["name"]), str(p["unit"]), p["training_range"]) for p in card["points"]]
        card_sps = [(str(s["name"]), str(s["unit"]), float(s["low"]), float(s["high"])) for s in card["setpoints"]]
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{card_path}: points/setpoints entries need name, unit and ranges ({err!r})") from None
    unknown = [n for n, _, _ in card_points if n not in points]
    if unknown:
        raise BundleError(f"{card_path}: points {unknown} are not in the contract (coolpilot.envs.contract.POINTS)")
    for name, unit, rng in card_points:
        if unit != points[name].unit:
            raise BundleError(f"{card_path}: point {name} is in {unit!r}, the contract says {points[name].unit!r}")
        if not (isinstance(rng, list) and len(rng) == 2 and float(rng[0]) <= float(rng[1])):
            raise BundleError(f"{card_path}: point {name}: training_range must be [low, high], got {rng!r}")
    if len({n for n, _, _ in card_points}) != len(card_points):
        raise BundleError(f"{card_path}: a point is listed twice")
    setpoints = {s.name: s for s in SETPOINTS}
    names = [n for n, _, _, _ in card_sps]
    if sorted(names) != sorted(setpoints):
        raise BundleError(f"{card_path}: setpoints {names} differ from the contract's {sorted(setpoints)}")
    for name, unit, low, high in card_sps:
        spec = setpoints[name]
        if unit != spec.unit or low < spec.low or high > spec.high or low >= high:
            raise BundleError(f"{card_path}: setpoint {name} [{low}, {high}] {unit} must lie within the contract's "
                              f"[{spec.low}, {spec.high}] {spec.unit}")


class OnnxPolicy:
    """``act(points) -> setpoints`` of a verified policy bundle (onnxruntime, CPU)."""

    def __init__(self, bundle: str | Path) -> None:
        import onnxruntime as ort

        self.path = Path(bundle)
        self.card = read_card(self.path)
        self.name = str(self.card["name"])
        self.sha256 = str(self.card["onnx"]["sha256"])
        self.point_names: list[str] = [p["name"] for p in self.card["points"]]
        self.setpoint_names: list[str] = [s["name"] for s in self.card["setpoints"]]
        self.training_ranges: dict[str, tuple[float, float]] = {
            p["name"]: (float(p["training_range"][0]), float(p["training_range"][1])) for p in self.card["points"]}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path / "policy.onnx"), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise BundleError(f"{self.path / 'policy.onnx'}: onnxruntime cannot load it: {err}") from None
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise BundleError(f"{self.path / 'policy.onnx'}: expected one input and one output")
        self._input, self._output = inputs[0].name, outputs[0].name
        width_in, width_out = inputs[0].shape[-1], outputs[0].shape[-1]
        if width_in != len(self.point_names) or width_out != len(self.setpoint_names):
            raise BundleError(f"{self.path / 'policy.onnx'}: graph maps {width_in} inputs to {width_out} outputs, the "
                              f"card lists {len(self.point_names)} points and {len(self.setpoint_names)} setpoints")

    def reset(self) -> None:
        """Stateless."""

    def act_batch(self, points: np.ndarray) -> np.ndarray:
        """Setpoints (batch, n_setpoints) for points (batch, n_points) in the card's order."""
        x = np.ascontiguousarray(points, dtype=np.float32)
        return np.asarray(self._session.run([self._output], {self._input: x})[0], dtype=np.float64)

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """Setpoints by name (physical units) for points by name; every point of the card is needed."""
        missing = [n for n in self.point_names if n not in points]
        if missing:
            raise KeyError(f"policy {self.name}: points missing: {', '.join(missing)}")
        row = np.array([[points[n] for n in self.point_names]], dtype=np.float32)
        return dict(zip(self.setpoint_names, self.act_batch(row)[0].tolist(), strict=True))
