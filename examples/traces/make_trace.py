"""Write a synthetic IT-load trace from coolpilot's load shapes, as a zone's ``trace_csv`` reads it.

Run from the repository root (seeded: the same file every time)::

    python examples/traces/make_trace.py

writes ``synthetic-ai-hall.csv`` beside this file: one week (from 1 January, a nominal Monday) at
5-minute steps of a GPU training pod (column ``training_frac``, shape ``training`` with its defaults)
and a GPU inference pod (``inference_frac``, shape ``inference``), seed 17. The file is synthetic, not a
measurement. Options choose other shapes, lengths and steps::

    python examples/traces/make_trace.py --out my.csv --days 28 --dt-s 60 --seed 3 \\
        --shape pretrain=training --shape chat=inference --shape office=enterprise
    python examples/traces/make_trace.py --out site.csv --facility my-hall.yaml   # each zone's own profile

A row holds each column's utilization (0–1) at its hour; for the AI shapes it is the mean over the
step that ends there. The trace repeats with a period of ``--days``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coolpilot.envs.config import FacilityConfigError, load_facility
from coolpilot.envs.load import LoadProfile, write_trace

HERE = Path(__file__).parent
DEFAULT_OUT = HERE / "synthetic-ai-hall.csv"
SHAPES = ("enterprise", "training", "inference")


def _column(text: str) -> tuple[str, str]:
    name, _, shape = text.partition("=")
    if shape not in SHAPES:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected NAME=SHAPE with SHAPE one of {', '.join(SHAPES)}")
    return name, shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"CSV to write (default {DEFAULT_OUT.name})")
    parser.add_argument("--days", type=float, default=7.0, help="length in days (the trace's period)")
    parser.add_argument("--dt-s", type=float, default=300.0, help="step in seconds, 1..3600")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--start-day", type=float, default=0.0, help="first row's day of the year (0 = 1 January)")
    parser.add_argument("--shape", type=_column, action="append", metavar="NAME=SHAPE",
                        help="a column NAME_frac of a shape with its default parameters (repeatable)")
    parser.add_argument("--facility", help="take the columns from a facility file's synthetic zones instead")
    args = parser.parse_args(argv)
    if args.facility and args.shape:
        parser.error("give --shape or --facility, not both")
    try:
        if args.facility:
            cfg = load_facility(args.facility)
            profiles = {z.name: z.load for z in cfg.zones if z.load.trace_csv is None}
        else:
            columns = args.shape or [("training", "training"), ("inference", "inference")]
            profiles = {name: LoadProfile(shape=shape) for name, shape in columns}
        write_trace(args.out, profiles, args.days, args.dt_s, args.seed, args.start_day)
    except (FacilityConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {', '.join(f'{n}_frac' for n in profiles)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
