"""What the pytest plugin tells the strategies, and what they tell it back; imports nothing.

The plugin loads in every pytest session and must not import the engine, and the strategies must
work without pytest: this small module is where the two meet.
"""

from __future__ import annotations

from typing import Any

# The value of --ikesim-seed: the seed of every run the strategies draw (None: each one's own).
seed: int | None = None

# The runs made in the final replay of a failing Hypothesis example (the plugin keeps them).
final_runs: list[Any] = []


def keep_final(trace: Any) -> None:
    """Remember a run of the example Hypothesis reports, so that ``--ikesim-keep-traces`` can write it."""
    if not any(kept is trace for kept in final_runs):
        final_runs.append(trace)


def forget_final(trace: Any) -> None:
    """Forget a run of the reported example that the test does not see as it is (a stream renames it)."""
    final_runs[:] = [kept for kept in final_runs if kept is not trace]


def in_final_replay() -> bool:
    """True while Hypothesis replays the example it will report (False outside a Hypothesis test)."""
    import sys

    control = sys.modules.get("hypothesis.control")
    if control is None or not control.currently_in_test_context():
        return False
    return bool(control.current_build_context().is_final)
