"""``coolpilot models``: the policy bundles installed with the package (or any bundle folder), from their cards."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``coolpilot models``."""
    parser.add_argument("bundles", nargs="*", metavar="BUNDLE",
                        help="shipped bundle names or bundle folders to describe (default: every shipped bundle)")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")


def run(args: argparse.Namespace) -> int:
    """List each bundle: name, facility, training climates, the card's KPIs at export, sha256 and folder."""
    from coolpilot.controller.policies.bundles import bundle_info, bundle_path, shipped_bundles

    infos = [bundle_info(bundle_path(b)) for b in args.bundles] if args.bundles else shipped_bundles()
    if args.json:
        json.dump([{**asdict(i), "path": str(i.path)} for i in infos], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not infos:
        sys.stdout.write("no policy bundles are installed\n")
        return 0
    for i in infos:
        k = i.kpis
        saving = (f"facility {_pct(k['facility_saving_pct'])}, cooling {_pct(k['cooling_saving_pct'])} vs "
                  f"{k['baseline']}, PUE {_fixed(k['baseline_pue'])} -> {_fixed(k['pue'])}, "
                  f"{_fixed(k['degree_hours_above_27c'], 1)} K·h above 27 °C")
        sys.stdout.write(
            f"{i.name}\n"
            f"  facility           {i.facility} ({i.env_id}, {i.algo or 'algorithm not recorded'})\n"
            f"  training climates  {', '.join(i.training_climates) or 'not recorded'}\n"
            f"  held-out KPIs      {', '.join(k['climates'] or [])}: {saving}\n"
            f"  sha256             {i.sha256}\n"
            f"  created            {i.created_at}\n"
            f"  folder             {i.path}\n")
    return 0


def _pct(value: object) -> str:
    return f"{value:+.2f} %" if isinstance(value, int | float) else "—"


def _fixed(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "—"
