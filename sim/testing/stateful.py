"""A Hypothesis state machine that feeds a handler ikesim's events one by one, as a live feed does.

    from hypothesis.stateful import invariant
    from sim.testing.stateful import EventFeedMachine

    class MyHandlerMachine(EventFeedMachine):
        def __init__(self):
            super().__init__()
            self.handler = MyHandler()

        def handle(self, event):
            self.handler.feed(event)

        @invariant()
        def no_alert_for_a_success(self):
            ...

    TestMyHandler = MyHandlerMachine.TestCase

Hypothesis chooses the steps: start another run (drawn from :meth:`EventFeedMachine.runs`, its
peers renamed ``r1.client``, ``r2.gateway``... so that runs never share a peer) some time after
the present, or deliver the next events of every run started so far, in time order. The oracle
is the runs themselves: ``delivered``, ``outcomes_delivered`` and ``started`` say what the
handler has been given and what those runs really did.
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from sim.testing import strategies
from sim.trace import Event, Outcome, Trace

__all__ = ["EventFeedMachine"]


class EventFeedMachine(RuleBasedStateMachine):
    """Feeds :meth:`handle` the events of several ikesim runs, interleaved by time; subclass it."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[Trace] = []  # the runs started so far, their peers renamed
        self.delivered: list[Event] = []  # every event handed to handle(), in order
        self.now = 0.0  # the time of the last event delivered
        self._pending: list[tuple[float, int, int, Event]] = []
        self._runs: st.SearchStrategy[Trace] | None = None

    def runs(self) -> st.SearchStrategy[Trace]:
        """The runs to feed (override it to narrow them, for example ``strategies.runs(code=13886)``)."""
        return strategies.runs()

    def handle(self, event: Event) -> None:
        """Give one event to the handler under test (override it)."""
        raise NotImplementedError("define handle(event) in your subclass: it feeds your handler")

    @property
    def outcomes_delivered(self) -> list[Outcome]:
        """The outcomes handed to handle() so far, in order."""
        return [e for e in self.delivered if isinstance(e, Outcome)]

    @property
    def waiting(self) -> int:
        """How many events of the runs started are still to be delivered."""
        return len(self._pending)

    @rule(data=st.data(), later=st.integers(0, 600))
    def start_a_run(self, data: Any, later: int) -> None:
        """Another run starts ``later`` tenths of a second after the last event delivered."""
        if self._runs is None:
            self._runs = self.runs()
        drawn = data.draw(self._runs, label="run")
        number = len(self.started) + 1
        trace = strategies._rerun_renamed(drawn, f"r{number}")
        self.started.append(trace)
        offset = self.now + later / 10
        for e in trace.events:
            t = round(e.t + offset, 6)
            heapq.heappush(self._pending, (t, number, e.seq, dataclasses.replace(e, t=t)))

    @precondition(lambda self: bool(self._pending))
    @rule(count=st.integers(1, 8))
    def deliver(self, count: int) -> None:
        """Hand the next ``count`` events (of all runs, in time order) to handle()."""
        for _ in range(min(count, len(self._pending))):
            t, _, _, event = heapq.heappop(self._pending)
            self.now = t
            self.delivered.append(event)
            self.handle(event)

    @precondition(lambda self: bool(self._pending))
    @rule()
    def deliver_the_rest(self) -> None:
        """Hand every event still waiting to handle()."""
        self.deliver(len(self._pending))
