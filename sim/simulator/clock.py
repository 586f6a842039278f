"""The virtual clock: a heap of timed callbacks with deterministic tie-breaks (as in SimPy).

Two events at the same virtual time run in the order they were scheduled. Background events
(SA lifetimes, idle liveness timers) do not keep a run alive on their own.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

Callback = Callable[[Any], None]


class EventQueue:
    """A priority queue of ``(time, sequence, callback, argument, background)``."""

    __slots__ = ("_heap", "_seq", "foreground", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback, Any, bool]] = []
        self._seq = 0
        self.foreground = 0  # events pending that keep the run going
        self.now = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, when: float, callback: Callback, arg: Any = None, background: bool = False) -> None:
        """Schedule ``callback(arg)`` at virtual time ``when`` (never earlier than now)."""
        if when < self.now:
            raise ValueError(f"cannot schedule at {when}, before now ({self.now})")
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, callback, arg, background))
        if not background:
            self.foreground += 1

    def pop(self) -> tuple[float, Callback, Any, bool]:
        """Take the next event and advance the clock to it."""
        when, _, callback, arg, background = heapq.heappop(self._heap)
        if not background:
            self.foreground -= 1
        self.now = when
        return when, callback, arg, background

    def peek_time(self) -> float:
        """The time of the next event (the queue must not be empty)."""
        return self._heap[0][0]
