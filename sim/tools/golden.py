"""Regenerate the golden traces: ``python -m sim.tools.golden`` (``make golden``).

Each library scenario's JSONL trace, with its own seed, is kept in ``tests/golden/NAME.jsonl``;
a test compares every run with it byte for byte. Regenerate only when a change of behaviour is
intended, and read the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.library import scenarios
from sim.simulator.engine import Simulation

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden"


def golden_text(name: str) -> str:
    """The golden JSONL of one library scenario, as a fresh run produces it."""
    scenario = next(s for s in scenarios() if s.name == name)
    return Simulation(scenario).run().to_jsonl()


def main() -> int:
    """Write every golden trace and remove those of scenarios that are gone."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in scenarios()]
    for name in names:
        (GOLDEN / f"{name}.jsonl").write_text(golden_text(name), encoding="utf-8")
    for stale in GOLDEN.glob("*.jsonl"):
        if stale.stem not in names:
            stale.unlink()
    print(f"wrote {len(names)} golden traces to {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
