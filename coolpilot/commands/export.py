"""``coolpilot export RUN --name NAME``: a training run as a policy bundle in models/NAME."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot export``."""
    parser.add_argument("run", help="training run directory (written by coolpilot train)")
    parser.add_argument("--name", required=True, help="bundle name: writes MODELS/NAME/{policy.onnx,card.json}")
    parser.add_argument("--models-dir", default="models", help="folder of bundles (default models)")
    parser.add_argument("--checkpoint", default="best",
                        help="best (default), final, or a checkpoint file such as checkpoints/model_100000_steps.zip")
    parser.add_argument("--parity-samples", type=int, default=10_000,
                        help="observations of the SB3-vs-ONNX parity check (default 10000)")
    parser.add_argument("--force", action="store_true", help="replace an existing bundle of that name")


def run(args: argparse.Namespace) -> int:
    """Export, check parity, print where the bundle is."""
    from coolpilot.training.export import export

    target = export(args.run, args.name, args.models_dir, args.checkpoint, args.parity_samples, args.force)
    card = json.loads((target / "card.json").read_text(encoding="utf-8"))
    print(f"wrote {target}/policy.onnx and card.json (sha256 {card['onnx']['sha256'][:16]}…); parity "
          f"max |SB3 - ONNX| = {card['parity']['max_abs_diff']:.2e} over {card['parity']['samples']} observations")
    return 0
