"""``coolpilot presets``: what is bundled."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments."""


def run(args: argparse.Namespace) -> int:
    """Print presets and climates."""
    from coolpilot.envs.config import list_presets, load_facility
    from coolpilot.envs.weather import CLIMATES

    print("facility presets:")
    for name in list_presets():
        cfg = load_facility(name)
        print(f"  {name:<14} {cfg.it_design_kw:7.0f} kW IT, {len(cfg.zones)} zones  {cfg.description}")
    print("climates:")
    for info in CLIMATES.values():
        print(f"  {info.name:<14} {info.climate_class:<10} {info.city}")
    return 0
