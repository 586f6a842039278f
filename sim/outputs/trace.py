"""The trace of a run, and its JSON Lines form (schema ``ikesim.trace/1``).

During a run the simulator appends plain tuples (cheap); :class:`Trace` turns them into
:class:`Record` objects (dicts with attribute access) only when asked. Field order is fixed, so
the same scenario and seed give byte-identical JSON Lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

from sim import __version__
from sim.protocol.registry import TABLES
from sim.protocol.session import Outcome

SCHEMA = "ikesim.trace/1"


WIDTH = 8  # fields per event in the raw log: t, kind, peer, sa, then up to four that depend on the kind


class EventLog(list[Any]):
    """A run's raw events, ``WIDTH`` fields each, in one flat list.

    A flat list allocates no object per event: with a tuple per event, the cost per event
    doubled between 330,000 and 3,300,000 events, and the memory per event was twice as high.
    """

    __slots__ = ()

    def event_count(self) -> int:
        """How many events the log holds."""
        return len(self) // WIDTH

    def rows(self, start: int = 0) -> Iterator[tuple[Any, ...]]:
        """The events from the ``start``-th on, as tuples of ``WIDTH`` fields."""
        for i in range(start * WIDTH, len(self), WIDTH):
            yield tuple(self[i : i + WIDTH])

    def last_time(self) -> float:
        """The virtual time of the last event (0 when there is none)."""
        return float(self[-WIDTH]) if self else 0.0


class Record(dict[str, Any]):
    """A trace line: a dict whose keys are also attributes (``event.kind``, ``outcome.code``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _time(t: float) -> float:
    return round(t, 6)


def outcome_fields(o: Outcome) -> dict[str, Any]:
    """The fields of an outcome line after ``t``, ``seq`` and ``kind``."""
    code = o.code
    return {
        "peer": o.peer,
        "sa": o.sa,
        "role": o.role.name.lower(),
        "exchange": o.exchange,
        "ends": o.ends.value,
        "code": int(code),
        "name": code.info.name,
        "hex": code.info.hex,
        "failure_point": o.failure_point.wire_name,
        "state": o.state,
        "keying_module": TABLES[o.exchange].keying_module.name,
        "condition": o.condition.key,
        "reason": o.condition.value.text,
    }


def record(seq: int, raw: tuple[Any, ...]) -> Record:
    """The trace line of one raw event (its ``seq`` and its ``WIDTH`` fields)."""
    t, kind, peer, sa = raw[0], raw[1], raw[2], raw[3]
    head: dict[str, Any] = {"t": _time(t), "seq": seq, "kind": kind}
    if kind == "outcome":
        head.update(outcome_fields(raw[4]))
        return Record(head)
    head["peer"] = peer
    head["sa"] = sa
    if kind == "send":
        head.update(message=raw[4], to=raw[5])
        if raw[6]:
            head["detail"] = raw[6]
    elif kind == "retransmit":
        head.update(message=raw[4], to=raw[5], attempt=raw[6], cause="timer" if raw[6] else "duplicate received")
        if raw[7]:
            head["detail"] = raw[7]
    elif kind == "recv":
        head.update({"message": raw[4], "from": raw[5]})
        if raw[6]:
            head["corrupted"] = raw[6]
    elif kind == "drop":
        head.update({"message": raw[4], "from": raw[5], "reason": raw[6]})
    elif kind == "timer":
        head["timer"] = raw[4]
        if raw[5]:
            head["detail"] = raw[5]
    elif kind == "transition":
        head.update(machine=raw[7], src=raw[4], dst=raw[5], trigger=raw[6])
    return Record(head)


class Trace:
    """The result of a run: every event in order, the outcomes, and how the run ended."""

    def __init__(
        self,
        scenario: str,
        seed: int,
        raw: EventLog,
        outcomes: list[Outcome],
        end: float,
        truncated: str | None,
        final_states: Callable[[], dict[tuple[str, str], str]],
        source: Any = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.raw = raw
        self.raw_outcomes = outcomes
        self.end = end
        self.truncated = truncated  # why the run stopped at a limit, or None
        self._final_states = final_states
        self.source = source  # the Scenario that was run

    @cached_property
    def final_states(self) -> dict[tuple[str, str], str]:
        """(peer, sa) -> the state of its machine when the run ended."""
        return self._final_states()

    @cached_property
    def events(self) -> list[Record]:
        """Every event, in order, as records with the fields of their JSONL lines."""
        return [record(i, r) for i, r in enumerate(self.raw.rows(), start=1)]

    @cached_property
    def outcomes(self) -> list[Record]:
        """The terminal reports, in order."""
        return [e for e in self.events if e.kind == "outcome"]

    def outcome(self, peer: str, sa: str, ends: str = "negotiation") -> Record | None:
        """The outcome one peer reported for one SA, or None."""
        for o in self.outcomes:
            if o.peer == peer and o.sa == sa and o.ends == ends:
                return o
        return None

    def retransmissions(self, peer: str, sa: str) -> int:
        """How many times a peer sent a message of this SA again."""
        return sum(1 for e in self.events if e.kind == "retransmit" and e.peer == peer and e.sa == sa)

    def header(self) -> dict[str, Any]:
        """The first JSONL line."""
        return {
            "schema": SCHEMA,
            "ikesim": __version__,
            "scenario": self.scenario,
            "seed": self.seed,
            "events": self.raw.event_count(),
            "end": _time(self.end),
            "truncated": self.truncated,
        }

    def jsonl_lines(self) -> Iterator[str]:
        """The trace as JSON Lines, header first."""
        yield json.dumps(self.header(), ensure_ascii=False, separators=(",", ":"))
        for event in self.events:
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":"))

    def to_jsonl(self) -> str:
        """The whole trace as one JSON Lines string."""
        return "".join(line + "\n" for line in self.jsonl_lines())
