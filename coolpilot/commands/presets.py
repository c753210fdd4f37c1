"""``coolpilot presets``: what is bundled."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No arguments."""


def run(args: argparse.Namespace) -> int:
    """Print presets and climates (synthetic climates marked with the normals they were generated from)."""
    from coolpilot.envs.config import list_presets, load_facility
    from coolpilot.envs.weather import BUNDLED_CLIMATES

    print("facility presets:")
    for name in list_presets():
        cfg = load_facility(name)
        print(f"  {name:<14} {cfg.it_design_kw:7.0f} kW IT, {len(cfg.zones)} zones  {cfg.description}")
    print("climates:")
    for info in BUNDLED_CLIMATES.values():
        origin = f"synthetic (generated from {info.source})" if info.synthetic else info.source
        print(f"  {info.name:<14} {info.climate_class:<10} {info.city}  [{origin}]")
    return 0
