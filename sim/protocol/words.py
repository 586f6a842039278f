"""Numbers for what a trace's short events name: message names, moves, and what reports say.

A trace event about a session keeps the session and, beside its kind, a number for the rest (the
message it sent or received, its change of state, what its report says), not a second reference
of eight bytes. The core numbers these as it makes them: a compiled table its moves, :func:`outcome_kind`
each kind of report, the simulator a message name when it first sends one. The numbers are the
process's, shared by every run: there are a few hundred of these values, whatever the run's size.
"""

from __future__ import annotations

from typing import Any

WORDS: list[Any] = [None]  # number -> value; 0 numbers nothing
NUMBERS: dict[Any, int] = {}  # value -> number
MAX_NUMBER = 0xFFFFFF  # what the three bytes above an event's kind hold


def number(value: Any) -> int:
    """The number of ``value`` (hashable), given it the first time it is asked for."""
    known = NUMBERS.get(value)
    if known is not None:
        return known
    given = len(WORDS)
    if given > MAX_NUMBER:
        raise OverflowError(f"more than {MAX_NUMBER} distinct message names, moves and report kinds")
    WORDS.append(value)
    NUMBERS[value] = given
    return given
