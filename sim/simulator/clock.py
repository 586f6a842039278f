"""The virtual clock: a heap of timed callbacks with deterministic tie-breaks (as in SimPy).

Two events at the same virtual time run in the order they were scheduled. Background events
(SA lifetimes, idle liveness timers) do not keep a run alive on their own.

Wake-ups asked for far ahead (an SA's lifetime: hours), and those asked for the same instant as
the wake-up before them (the peers of a batch arming their retransmission timers at once), wait
in a calendar beside the heap: one bucket per distinct time, its wake-ups in the order they were
asked for, each with its place in the global order (its sequence number) and its argument, no
tuple of its own. A run of a
million negotiations leaves four million lifetimes pending; in the heap they cost 120 bytes
each and made every pop sift through them, in the calendar 16 bytes and nothing. The next
event is the earlier of the heap's and the calendar's by (time, sequence): the order is exactly
the one a single heap gives.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable
from typing import Any

Callback = Callable[[Any], None]

FAR = 600.0  # seconds: a wake-up asked for at least this far ahead goes to the calendar (and one at the last's time)


class _Bucket:
    """The calendar's wake-ups due at one time, in the order they were asked for."""

    __slots__ = ("args", "next", "seqs")

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.seqs = array("Q")
        self.next = 0  # the first not yet taken


class EventQueue:
    """A priority queue of ``(time, sequence, callback, argument, background)``, and a calendar of far wake-ups."""

    __slots__ = ("_far", "_far_callback", "_far_count", "_far_times", "_heap", "_seq", "foreground", "now")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback, Any, bool]] = []
        self._seq = 0
        self.foreground = 0  # events pending that keep the run going
        self.now = 0.0
        self._far: dict[float, _Bucket] = {}  # time -> its bucket of far wake-ups
        self._far_times: list[float] = []  # the buckets' times, a heap
        self._far_count = 0
        self._far_callback: Callback | None = None  # what every far wake-up calls (the one waker's callback)

    def __len__(self) -> int:
        return len(self._heap) + self._far_count

    def at(self, when: float, callback: Callback, arg: Any = None, background: bool = False) -> None:
        """Schedule ``callback(arg)`` at virtual time ``when`` (never earlier than now)."""
        if when < self.now:
            raise ValueError(f"cannot schedule at {when}, before now ({self.now})")
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, callback, arg, background))
        if not background:
            self.foreground += 1

    def reserve(self, count: int) -> int:
        """Take ``count`` sequence numbers for events to be scheduled later (:meth:`at_seq`); the first of them."""
        first = self._seq + 1
        self._seq += count
        return first

    def at_seq(self, when: float, seq: int, callback: Callback, arg: Any = None) -> None:
        """Schedule a foreground ``callback(arg)`` with a sequence number taken by :meth:`reserve`.

        It runs where it would have run had it been scheduled when the number was taken, provided
        it is in the queue before anything that would run after it is taken out.
        """
        heapq.heappush(self._heap, (when, seq, callback, arg, False))
        self.foreground += 1

    def scheduler(self, callback: Callback, background: bool = False) -> Callable[[float, Any], None]:
        """A function ``(when, arg)`` that schedules ``callback(arg)``: :meth:`at` with the callback bound once.

        The hot path schedules every arrival through one of these: one call instead of two, and
        no bound method or keyword argument per event.
        """
        heap = self._heap
        push = heapq.heappush

        def schedule(when: float, arg: Any) -> None:
            if when < self.now:
                raise ValueError(f"cannot schedule at {when}, before now ({self.now})")
            self._seq = seq = self._seq + 1
            push(heap, (when, seq, callback, arg, background))
            if not background:
                self.foreground += 1

        return schedule

    def waker(self, callback: Callback) -> Callable[[float, Any], None]:
        """A function ``(when, arg)`` that schedules the background ``callback(arg)``, far ones in the calendar.

        A queue has one waker (its callback is the calendar's).
        """
        assert self._far_callback is None, "one waker per queue"
        self._far_callback = callback
        heap, far, far_times = self._heap, self._far, self._far_times
        push = heapq.heappush

        last = [math.nan]  # the time of the last wake-up asked for

        def wake(when: float, arg: Any) -> None:
            now = self.now
            if when < now:
                raise ValueError(f"cannot schedule at {when}, before now ({now})")
            self._seq = seq = self._seq + 1
            if when - now < FAR and when != last[0]:
                last[0] = when
                push(heap, (when, seq, callback, arg, True))
                return
            # Far ahead, or at the time of the wake-up asked for just before (the peers of a batch
            # arm their timers for one instant): one bucket holds them, not a heap entry each.
            bucket = far.get(when)
            if bucket is None:
                bucket = far[when] = _Bucket()
                push(far_times, when)
            bucket.args.append(arg)
            bucket.seqs.append(seq)
            self._far_count += 1

        return wake

    def far_first(self) -> bool:
        """True when the next event is a far wake-up (the calendar's), not the heap's."""
        far_times = self._far_times
        if not far_times:
            return False
        heap = self._heap
        if not heap:
            return True
        t, top = far_times[0], heap[0]
        if t != top[0]:
            return t < top[0]
        bucket = self._far[t]
        return bucket.seqs[bucket.next] < top[1]

    def pop_far(self) -> tuple[float, Any]:
        """Take the next far wake-up, advance the clock to it: (its time, its argument)."""
        t = self._far_times[0]
        bucket = self._far[t]
        i = bucket.next
        arg = bucket.args[i]
        bucket.args[i] = None  # what was taken is not kept
        bucket.next = i + 1
        if bucket.next == len(bucket.seqs):
            del self._far[t]
            heapq.heappop(self._far_times)
        self._far_count -= 1
        self.now = t
        return t, arg

    def pop(self) -> tuple[float, Callback, Any, bool]:
        """Take the next event and advance the clock to it."""
        if self.far_first():
            when, arg = self.pop_far()
            assert self._far_callback is not None
            return when, self._far_callback, arg, True
        when, _, callback, arg, background = heapq.heappop(self._heap)
        if not background:
            self.foreground -= 1
        self.now = when
        return when, callback, arg, background

    def peek_time(self) -> float:
        """The time of the next event (the queue must not be empty)."""
        if self.far_first():
            return self._far_times[0]
        return self._heap[0][0]
