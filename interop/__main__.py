"""``python -m interop [CASE...] [--keep]``: record the cases against real daemons and compare."""

from __future__ import annotations

import argparse
import sys

from interop.cases import CASES
from interop.runner import main

parser = argparse.ArgumentParser(prog="python -m interop", description=__doc__)
parser.add_argument(
    "cases", nargs="*", metavar="CASE", help=f"cases to run (default all): {', '.join(c.name for c in CASES)}"
)
parser.add_argument("--keep", action="store_true", help="keep the captures and daemon logs")
args = parser.parse_args()
unknown = sorted(set(args.cases) - {c.name for c in CASES})
if unknown:
    parser.error(f"unknown case(s): {', '.join(unknown)}")
sys.exit(main(args.cases, keep=args.keep))
