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

Messages sent at one instant with one latency arrive at one instant: those a
:meth:`EventQueue.batcher` schedules for the time of the batch still open share one heap entry
(a :class:`Batch`), taken one by one in the order they were scheduled. A batch is closed by
anything else scheduled for its time, so the order stays the single heap's. A fleet's thousand
MM1s of one instant are one entry, not a thousand to sift through.
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


class Batch:
    """Foreground events for one time, scheduled one after the other, taken in that order."""

    __slots__ = ("args", "callback", "next")

    def __init__(self, callback: Callback, arg: Any) -> None:
        self.callback = callback
        self.args = [arg]
        self.next = 0  # the first not yet taken


def BATCH(batch: Batch) -> None:
    """What a batch's heap entry names as its callback: the run takes its events one by one, never this."""
    raise AssertionError("a batch's events are taken one by one (EventQueue.pop, Simulation._run)")


class EventQueue:
    """A priority queue of ``(time, sequence, callback, argument, background)``, and a calendar of far wake-ups."""

    __slots__ = ("_batched", "_far", "_far_callback", "_far_count", "_far_times", "_heap", "_open", "_open_time",
                 "_seq", "foreground", "now")  # fmt: skip

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callback, Any, bool]] = []
        self._seq = 0
        self.foreground = 0  # events pending that keep the run going
        self.now = 0.0
        self._far: dict[float, _Bucket] = {}  # time -> its bucket of far wake-ups
        self._far_times: list[float] = []  # the buckets' times, a heap
        self._far_count = 0
        self._far_callback: Callback | None = None  # what every far wake-up calls (the one waker's callback)
        self._open: Batch | None = None  # the batch that events for its time may still join
        self._open_time = math.nan  # ...and its time
        self._batched = 0  # events in batches beyond each batch's first

    def __len__(self) -> int:
        return len(self._heap) + self._far_count + self._batched

    def at(self, when: float, callback: Callback, arg: Any = None, background: bool = False) -> None:
        """Schedule ``callback(arg)`` at virtual time ``when`` (never earlier than now)."""
        if when < self.now:
            raise ValueError(f"cannot schedule at {when}, before now ({self.now})")
        if when == self._open_time:
            self._open = None  # it runs after the batch of its time: later ones start a new batch
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
        if when == self._open_time:
            self._open = None
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
            if when == self._open_time:
                self._open = None
            self._seq = seq = self._seq + 1
            push(heap, (when, seq, callback, arg, background))
            if not background:
                self.foreground += 1

        return schedule

    def batcher(self, callback: Callback) -> Callable[[float, Any], None]:
        """A function ``(when, arg)`` that schedules the foreground ``callback(arg)``, batched by time.

        One scheduled for the time of the open batch joins it; else it opens a new batch, one heap
        entry. Events of a batch are taken one by one, in the order they joined.
        """
        heap = self._heap
        push = heapq.heappush

        def batch(when: float, arg: Any) -> None:
            self.foreground += 1
            if when == self._open_time:
                open_batch = self._open
                if open_batch is not None:
                    open_batch.args.append(arg)
                    self._batched += 1
                    return
            elif when < self.now:
                self.foreground -= 1
                raise ValueError(f"cannot schedule at {when}, before now ({self.now})")
            self._seq = seq = self._seq + 1
            self._open = opened = Batch(callback, arg)
            self._open_time = when
            push(heap, (when, seq, BATCH, opened, False))

        return batch

    def take(self, when: float, seq: int, batch: Batch) -> Any:
        """Take the next event of a batch just popped from the heap (its time and sequence given): its argument.

        The rest of the batch goes back into the heap, in the place it had.
        """
        i = batch.next
        arg = batch.args[i]
        batch.args[i] = None  # what was taken is not kept
        batch.next = i + 1
        if i + 1 < len(batch.args):
            heapq.heappush(self._heap, (when, seq, BATCH, batch, False))
            self._batched -= 1
        elif batch is self._open:
            self._open = None  # emptied: nothing joins it any more
        return arg

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
            if when == self._open_time:
                self._open = None
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

    def skip_superseded(self) -> int:
        """Drop the far wake-ups at the front of the calendar whose argument has since asked for a later time.

        Such a wake-up (its argument's ``wake_at`` is later than its time) would do nothing when
        taken: a session that asked for its retransmission and was answered first. Dropped in one go,
        they cost no turn of the run each. How many were dropped (0: the next is due).
        """
        t = self._far_times[0]
        bucket = self._far[t]
        args, i = bucket.args, bucket.next
        n = len(bucket.seqs)
        start = i
        while i < n and args[i].wake_at > t:
            args[i] = None
            i += 1
        if i == start:
            return 0
        bucket.next = i
        if i == n:
            del self._far[t]
            heapq.heappop(self._far_times)
        self._far_count -= i - start
        return i - start

    def pop(self) -> tuple[float, Callback, Any, bool]:
        """Take the next event and advance the clock to it."""
        if self.far_first():
            when, arg = self.pop_far()
            assert self._far_callback is not None
            return when, self._far_callback, arg, True
        when, seq, callback, arg, background = heapq.heappop(self._heap)
        if not background:
            self.foreground -= 1
        self.now = when
        if callback is BATCH:
            return when, arg.callback, self.take(when, seq, arg), False
        return when, callback, arg, background

    def peek_time(self) -> float:
        """The time of the next event (the queue must not be empty)."""
        if self.far_first():
            return self._far_times[0]
        return self._heap[0][0]
