"""The ``coolpilot`` command line: one front door, subcommands imported lazily.

``coolpilot --help`` imports nothing heavy (no torch, no simulator): each subcommand's
module is imported only when that subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from coolpilot import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("coolpilot.commands.simulate", "Simulate a facility under a policy and print its KPIs."),
    "presets": ("coolpilot.commands.presets", "List the bundled facility presets and climates."),
    "models": ("coolpilot.commands.models", "List the policy bundles installed with the package (usable by name)."),
    "train": ("coolpilot.commands.train", "Train a setpoint policy (PPO or SAC) from a config file."),
    "export": ("coolpilot.commands.export", "Export a training run as an ONNX policy bundle with its card."),
    "serve": ("coolpilot.commands.serve", "Run the online controller (control loop, safety envelope, HTTP API)."),
    "twin": ("coolpilot.commands.twin", "Run a simulated plant on MQTT, Modbus TCP or BACnet/IP (to try serve on)."),
    "sweep": ("coolpilot.commands.sweep", "Run a training sweep (seeds × hyperparameters × sites) locally or on Ray."),
    "whatif": ("coolpilot.commands.whatif", "Run policies × scenarios and write a what-if report (HTML, JSON, CSV)."),
    "calibrate": ("coolpilot.commands.calibrate", "Fit a facility file to a site's trend history (report, excitation "
                                                  "plan)."),
}
"""name -> (module with ``add_arguments(parser)`` and ``run(args) -> int``, one-line help)."""

EXTRAS: dict[str, str] = {
    "paho": "serve", "fastapi": "serve", "uvicorn": "serve", "prometheus_client": "serve", "pymodbus": "serve",
    "bacpypes3": "serve", "stable_baselines3": "train", "tensorboard": "train", "onnx": "train", "ray": "cluster",
    "optuna": "cluster",
}
"""Top-level module -> the pip extra that installs it (for a clear error when it is missing)."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommand arguments are added when that subcommand is chosen."""
    parser = argparse.ArgumentParser(
        prog="coolpilot",
        description="AI cooling optimization for data centers: simulate, train, export, serve, report.",
    )
    parser.add_argument("--version", action="version", version=f"coolpilot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coolpilot`` script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known, rest = parser.parse_known_args(args_list)
    if known.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.DEBUG if known.verbose else logging.INFO, format="%(levelname)s %(message)s")
    module_name, help_text = SUBCOMMANDS[known.command]
    try:
        module = importlib.import_module(module_name)
        sub_parser = argparse.ArgumentParser(prog=f"coolpilot {known.command}", description=help_text)
        module.add_arguments(sub_parser)
        sub_args = sub_parser.parse_args(rest)
        return int(module.run(sub_args))
    except ValueError as err:  # every bad-input error of the project derives from ValueError
        print(f"coolpilot {known.command}: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        top = (err.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"coolpilot {known.command}: error: it needs the {top} package, which is not installed: "
              f"pip install 'coolpilot[{EXTRAS[top]}]' (after torch==2.13.0)", file=sys.stderr)
        return 2
