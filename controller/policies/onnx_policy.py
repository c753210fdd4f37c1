"""A policy bundle (``models/<name>/policy.onnx`` + ``card.json``) as a policy, without torch.

Loading checks, in order, and refuses with an error naming the file and the problem:
the folder and both files exist; the card is JSON with the fields of schema version 1;
the sha256 of ``policy.onnx`` equals the card's; the card's points and setpoints are those
of the equipment blocks (``coolpilot.envs.contract``: names, units, setpoint bounds within the
blocks'; a card without ``contract_version`` 2 describes the core block, contract version 1); the
graph's input and output have the card's widths. Given the facility's contract, the bundle's
must fit it (:func:`coolpilot.envs.contract.bundle_fits`), or it is refused naming every
difference. ``act(points)`` takes the contract's points by name, feeds the card's in the card's
order and returns the card's setpoints by name in physical units.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coolpilot.controller.policies.deadband import card_deadband, hold_small_moves
from coolpilot.envs.contract import Contract, ContractError, bundle_fits, contract_from_card

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
    card_contract(card, card_path)
    return card


def card_contract(card: dict[str, Any], card_path: str | Path = "card.json") -> Contract:
    """The card's contract (:func:`coolpilot.envs.contract.contract_from_card`), with a training range per point.

    Its points and setpoints must be the equipment blocks' (names and units), setpoint bounds
    within the blocks'; a card written before contract version 2 describes the core block.
    """
    try:
        contract = contract_from_card(card, str(card_path))
    except ContractError as err:
        raise BundleError(str(err)) from None
    for p in card["points"]:
        rng = p.get("training_range") if isinstance(p, dict) else None
        if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, int | float) for v in rng)
                and rng[0] <= rng[1]):
            raise BundleError(f"{card_path}: point {p.get('name') if isinstance(p, dict) else p}: training_range "
                              f"must be [low, high], got {rng!r}")
    return contract


class OnnxPolicy:
    """``act(points) -> setpoints`` of a verified policy bundle (onnxruntime, CPU)."""

    def __init__(self, bundle: str | Path, facility: Contract | None = None, facility_name: str = "") -> None:
        """Load and verify ``bundle``; with ``facility`` (a facility's contract), refuse it unless it fits."""
        import onnxruntime as ort

        self.path = Path(bundle)
        self.card = read_card(self.path)
        self.name = str(self.card["name"])
        self.sha256 = str(self.card["onnx"]["sha256"])
        self.contract = card_contract(self.card, self.path / "card.json")
        """The contract the bundle was trained on (version 1: the core block)."""
        if facility is not None:
            self.check_fits(facility, facility_name)
        self.point_names: list[str] = list(self.contract.point_names)
        self.setpoint_names: list[str] = list(self.contract.setpoint_names)
        try:
            self.deadband = card_deadband(self.card, self.contract.setpoint_names, str(self.path / "card.json"))
        except ValueError as err:
            raise BundleError(str(err)) from None
        """Output deadband the policy was trained with (setpoint units by name; empty: none)."""
        self._last: dict[str, float] = {}
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

    def check_fits(self, facility: Contract, facility_name: str = "") -> None:
        """Raise :class:`BundleError` naming every difference unless this bundle can run on ``facility``."""
        where = facility_name or f"with contract {facility.fingerprint}"
        problems = bundle_fits(self.contract, facility, self.name, where)
        if problems:
            raise BundleError(f"{self.path}: bundle {self.name} does not fit facility {where}: " + "; ".join(problems))

    def reset(self) -> None:
        """Forget the last output (the card's output deadband holds moves against it)."""
        self._last = {}

    def act_batch(self, points: np.ndarray) -> np.ndarray:
        """Setpoints (batch, n_setpoints) for points (batch, n_points) in the card's order."""
        x = np.ascontiguousarray(points, dtype=np.float32)
        return np.asarray(self._session.run([self._output], {self._input: x})[0], dtype=np.float64)

    def act(self, points: Mapping[str, float]) -> dict[str, float]:
        """Setpoints by name (physical units) for points by name (the contract's; the card's are read, each needed)."""
        missing = [n for n in self.point_names if n not in points]
        if missing:
            raise KeyError(f"policy {self.name}: points missing: {', '.join(missing)}")
        row = np.array([[points[n] for n in self.point_names]], dtype=np.float32)
        out = dict(zip(self.setpoint_names, self.act_batch(row)[0].tolist(), strict=True))
        if self.deadband:  # the write deadband it was trained with: moves smaller than it are held
            out = hold_small_moves(out, self._last, self.deadband)
            self._last = out
        return out
