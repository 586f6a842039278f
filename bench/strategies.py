"""``python -m bench.strategies``: examples per second of the testing kit's strategies (``make bench``).

Each strategy is drawn inside a real ``@given`` test (generation phase only, no database, no
deadline), in this one process, beside ``st.integers()``: the floor, which says what Hypothesis
itself costs per example on this machine (``of floor``: the strategy's rate over the floor's).
Each figure is the best of three rounds after a warm-up. Figures go to stdout, and with ``--json
FILE`` to a file.
The issue-19 target: ``runs()`` at least 1,500 examples per second.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

TARGET = 1500  # examples per second of runs()


def rate(strategy: Any, examples: int = 1000, rounds: int = 3) -> dict[str, float | int]:
    """Examples per second of ``strategy`` in a ``@given`` test that does nothing with them.

    After a warm-up (first use: argument checks, caches, the cause index), the best of ``rounds``
    rounds: other work on the machine only ever makes a round slower.
    """
    once(strategy, max(1, examples // 10))
    best = min((once(strategy, examples) for _ in range(rounds)), key=lambda r: r[1] / max(r[0], 1))
    seen, elapsed = best
    return {"examples": seen, "seconds": round(elapsed, 3), "examples_per_s": round(seen / elapsed)}


def once(strategy: Any, examples: int) -> tuple[int, float]:
    """(examples seen, seconds) of one ``@given`` run of ``examples`` examples."""
    seen = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def property_test(value: Any) -> None:
        nonlocal seen
        seen += 1

    start = time.perf_counter()
    property_test()
    return seen, time.perf_counter() - start


def candidates() -> dict[str, Callable[[], Any]]:
    """The strategies to measure, by how a user writes them; those this version lacks are skipped."""
    from sim.testing import strategies as ikest

    def has(name: str) -> bool:
        return hasattr(ikest, name)

    out: dict[str, Callable[[], Any]] = {"st.integers()": st.integers}
    out["codes()"] = ikest.codes
    out["faults()"] = ikest.faults
    out["scenario_data()"] = ikest.scenario_data
    out["scenarios()"] = ikest.scenarios
    out["runs()"] = ikest.runs
    out["runs(protocol='ikev2')"] = lambda: ikest.runs(protocol="ikev2")
    out["runs(code=13886)"] = lambda: ikest.runs(code=13886)
    out["runs(code=13805)"] = lambda: ikest.runs(code=13805)
    try:
        ikest.runs(peer_role="responder")
        extended = True
    except TypeError:
        extended = False
    if extended:
        out["runs(code=13801, peer_role='responder')"] = lambda: ikest.runs(code=13801, peer_role="responder")
        out["runs(category='timeout and dead peer')"] = lambda: ikest.runs(category="timeout and dead peer")
    if has("outcomes"):
        out["outcomes(exchange='quick_mode')"] = lambda: ikest.outcomes(exchange="quick_mode")
    if has("fleets"):
        out["fleets()"] = ikest.fleets
    if has("event_streams"):
        out["event_streams()"] = ikest.event_streams
    if has("audit_events"):
        out["audit_events()"] = ikest.audit_events
        out["audit_events(form='evtx')"] = lambda: ikest.audit_events(form="evtx")
    if has("net_events"):
        out["net_events()"] = ikest.net_events
    if has("jsonl_lines"):
        out["jsonl_lines()"] = ikest.jsonl_lines
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure every strategy; print one line each; with ``--check``, exit 1 when runs() is below the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--examples", type=int, default=1000, help="examples per strategy (default 1000)")
    parser.add_argument("--only", action="append", default=[], help="measure only these (by name); repeatable")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when runs() is below the target")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "strategies": {}}
    print(f"testing-kit strategies: examples per second, {args.examples} examples each, best of 3, one process")
    floor = 0
    for name, make in candidates().items():
        if args.only and name not in args.only and name != "st.integers()":
            continue
        figures = rate(make(), args.examples)
        floor = floor or int(figures["examples_per_s"])
        figures["of_floor"] = round(figures["examples_per_s"] / floor, 2)
        results["strategies"][name] = figures
        print(
            f"  {name:45} {figures['examples_per_s']:>8,}/s  {figures['of_floor']:>5.2f} of floor"
            f"  ({figures['examples']} in {figures['seconds']} s)"
        )
    runs = results["strategies"].get("runs()")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if runs is not None:
        met = "meets" if runs["examples_per_s"] >= TARGET else "is below"
        print(f"runs() {met} the target of {TARGET:,} examples per second")
        if args.check and runs["examples_per_s"] < TARGET:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
