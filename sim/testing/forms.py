"""The fixture forms users parse, each with the run that made it: the oracle comes free.

A parser under test reads :attr:`AuditLog.data` (Event XML or ``.evtx`` bytes), :attr:`NetEventLog.data`
(WFP net events as JSON or XML), :attr:`JsonlTrace.lines` or the events of an :class:`EventStream`;
the test compares what it read with ``records`` (or ``outcomes``), which say what each entry stands
for, taken from the same run. The files are those of ``ikesim fixtures`` (``sim.outputs.windows``
renders them); nothing here writes an event of its own.

Each object prints as a Python expression that makes it again (``sim.testing.forms.AuditLog.of(
sim.run({...}), peer='gateway', form='xml')``), so a falsifying example can be pasted.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sim.testing._causes import logged  # imports no engine: the engine loads when a run is drawn
from sim.trace import Event, Outcome, Recv, Trace, json_line

__all__ = [
    "AuditLog",
    "AuditRecord",
    "EventStream",
    "JsonlTrace",
    "NetEventLog",
    "NetEventRecord",
    "address_of",
    "run_expression",
]

AUDIT_FORMS = ("xml", "rendered", "evtx")
WFP_FORMS = ("json", "xml")


def run_expression(trace: Trace) -> str:
    """A Python expression that makes this run again: ``sim.run({...scenario data...})``."""
    return "sim.run(" + repr(scenario_data_of(trace)) + ")"


def scenario_data_of(trace: Trace) -> dict[str, Any]:
    """The data (as a TOML file holds it) of the scenario a run was made from, with the run's seed."""
    source = trace.source
    if source is None:
        raise ValueError(f"{trace!r} was read back from a file: it has no scenario to print")
    data: dict[str, Any] = source.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    data.pop("seed", None)
    out = {"name": data.pop("name")}
    if trace.seed:
        out["seed"] = trace.seed
    out.update(data)
    return out


def pretty_run(trace: Trace, p: Any) -> None:
    """Write ``sim.run({...})`` with Hypothesis' pretty printer ``p``, the scenario data laid out."""
    if trace.source is None:
        p.text(repr(trace))
        return
    with p.group(len("sim.run("), "sim.run(", ")"):
        p.pretty(scenario_data_of(trace))


def _pretty_call(p: Any, name: str, first: Trace | Sequence[Trace], **keywords: Any) -> None:
    with p.group(len(name) + 1, name + "(", ")"):
        if isinstance(first, Trace):
            pretty_run(first, p)
        else:
            with p.group(1, "[", "]"):
                for i, trace in enumerate(first):
                    if i:
                        p.text(",")
                        p.breakable()
                    pretty_run(trace, p)
        for key, value in keywords.items():
            p.text(",")
            p.breakable()
            p.text(f"{key}=")
            p.pretty(value)


def address_of(trace: Trace, name: str) -> str:
    """The IPv4 address the fixtures of a run give a peer (``sim.outputs.windows.peer_infos``)."""
    from sim.outputs import windows

    return windows.peer_infos(trace)[name].address


def _audit_sources(trace: Trace, peer: str) -> list[Event]:
    """What each audit event of a Windows peer stands for, in order: a damaged datagram or an outcome."""
    from sim.outputs import windows

    facts = trace.peer_facts[peer]
    out: list[Event] = []
    for e in windows.events_of(trace, peer):
        if (isinstance(e, Recv) and e.corrupted) or (
            isinstance(e, Outcome) and logged("audit", e.code, e.exchange, e.ends, facts.profile, facts.protocol)
        ):
            out.append(e)
    return out


@dataclass(frozen=True)
class AuditRecord:
    """One audit event: its ID, and what it stands for (the outcome, or the damaged datagram's receipt)."""

    event_id: int
    source: Event

    @property
    def outcome(self) -> Outcome | None:
        """The outcome the event reports (None for 4976..4978, an invalid packet)."""
        return self.source if isinstance(self.source, Outcome) else None


@dataclass(frozen=True, eq=False)
class AuditLog:
    """A Windows peer's Security audit events for one run: as Event XML, rendered XML, or ``.evtx``."""

    trace: Trace
    peer: str
    form: str  # "xml" (wevtutil qe /f:xml), "rendered" (/f:RenderedXml) or "evtx" (the binary log)
    data: str | bytes
    records: tuple[AuditRecord, ...]  # one per event, in order

    @classmethod
    def of(cls, trace: Trace, peer: str, form: str = "xml") -> AuditLog:
        """The log of ``peer`` (a Windows peer of the run) in ``form``, rendered by ``sim.outputs.windows``."""
        if form not in AUDIT_FORMS:
            raise ValueError(f"form={form!r}: expected one of {', '.join(AUDIT_FORMS)}")
        from sim.outputs import windows  # the renderers load when the first log is drawn

        elements = windows.audit_events(trace, peer)
        ids = [int(e.findtext("System/EventID") or 0) for e in elements]
        sources = _audit_sources(trace, peer) if trace.peer_facts[peer].windows else []
        if len(ids) != len(sources):  # the renderer and this module disagree on which outcomes are logged
            raise AssertionError(f"{peer}: {len(ids)} audit events, {len(sources)} outcomes to pair them with")
        data: str | bytes
        if form == "evtx":
            data = windows.events_evtx(trace, peer)
        else:
            data = windows.events_xml(trace, peer, rendered=form == "rendered")
        return cls(trace, peer, form, data, tuple(AuditRecord(i, s) for i, s in zip(ids, sources, strict=True)))

    @property
    def outcomes(self) -> list[Outcome]:
        """The outcomes the events report, in order (invalid-packet events left out)."""
        return [r.outcome for r in self.records if r.outcome is not None]

    def address_of(self, name: str) -> str:
        """The address the fixtures give a peer of the run (``remote`` of an outcome, for example)."""
        return address_of(self.trace, name)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        _pretty_call(p, "sim.testing.forms.AuditLog.of", self.trace, peer=self.peer, form=self.form)

    def __repr__(self) -> str:
        return f"<AuditLog {self.form} of {self.peer}: {len(self.records)} events of {self.trace!r}>"


@dataclass(frozen=True)
class NetEventRecord:
    """One WFP IKEEXT failure net event (``FWPM_NET_EVENT5``'s form, as a dict) and the outcome it reports."""

    event: dict[str, Any]
    outcome: Outcome


@dataclass(frozen=True, eq=False)
class NetEventLog:
    """A Windows peer's WFP net events for one run, as JSON or as ``netsh wfp show netevents`` XML."""

    trace: Trace
    peer: str
    form: str  # "json" or "xml"
    data: str
    records: tuple[NetEventRecord, ...]

    @classmethod
    def of(cls, trace: Trace, peer: str, form: str = "json") -> NetEventLog:
        """The net events of ``peer`` in ``form``, rendered by ``sim.outputs.windows``."""
        if form not in WFP_FORMS:
            raise ValueError(f"form={form!r}: expected one of {', '.join(WFP_FORMS)}")
        from sim.outputs import windows

        events = windows.net_events(trace, peer)
        facts = trace.peer_facts[peer]
        outcomes = [
            e
            for e in windows.events_of(trace, peer)
            if isinstance(e, Outcome) and logged("wfp", e.code, e.exchange, e.ends, facts.profile, facts.protocol)
        ]
        if len(events) != len(outcomes):
            raise AssertionError(f"{peer}: {len(events)} net events, {len(outcomes)} outcomes to pair them with")
        data = windows.net_events_json(trace, peer) if form == "json" else windows.net_events_xml(trace, peer)
        return cls(trace, peer, form, data, tuple(NetEventRecord(e, o) for e, o in zip(events, outcomes, strict=True)))

    @property
    def outcomes(self) -> list[Outcome]:
        """The outcomes the net events report, in order."""
        return [r.outcome for r in self.records]

    def address_of(self, name: str) -> str:
        """The address the fixtures give a peer of the run (``remote`` of an outcome, for example)."""
        return address_of(self.trace, name)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        _pretty_call(p, "sim.testing.forms.NetEventLog.of", self.trace, peer=self.peer, form=self.form)

    def __repr__(self) -> str:
        return f"<NetEventLog {self.form} of {self.peer}: {len(self.records)} events of {self.trace!r}>"


@dataclass(frozen=True, eq=False)
class JsonlTrace:
    """A run as the JSON Lines ``ikesim run --format jsonl`` writes (header first), with the run."""

    trace: Trace
    lines: tuple[str, ...]

    @classmethod
    def of(cls, trace: Trace) -> JsonlTrace:
        """The trace's JSON Lines."""
        return cls(trace, tuple(trace.jsonl_lines()))

    @property
    def text(self) -> str:
        """The lines as one string, each ended by a newline (what the file holds)."""
        return "".join(line + "\n" for line in self.lines)

    @property
    def outcomes(self) -> list[Outcome]:
        """The run's outcomes, in order."""
        return list(self.trace.outcomes)

    def address_of(self, name: str) -> str:
        """The address the fixtures give a peer of the run (``remote`` of an outcome, for example)."""
        return address_of(self.trace, name)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        _pretty_call(p, "sim.testing.forms.JsonlTrace.of", self.trace)

    def __repr__(self) -> str:
        return f"<JsonlTrace: {len(self.lines)} lines of {self.trace!r}>"


@dataclass(frozen=True, eq=False)
class EventStream:
    """Several runs interleaved by time, as a handler of a live feed would see them.

    Run ``i`` starts ``offsets[i]`` seconds into the stream; its events keep their fields, their
    ``t`` moved by the offset (``seq`` stays the run's own). Peer names are unique across runs
    (each run's peers are renamed ``r1.client``, ``r2.gateway``... before it is run), so an SA is
    named by its peer and label. ``origin[k]`` is the run the ``k``-th event comes from.
    """

    runs: tuple[Trace, ...]
    offsets: tuple[float, ...]

    @classmethod
    def of(cls, runs: Sequence[Trace], offsets: Sequence[float]) -> EventStream:
        """The stream of these runs (their peers already unique), started at these offsets."""
        if len(runs) != len(offsets):
            raise ValueError(f"{len(runs)} runs and {len(offsets)} offsets")
        names = [p.name for run in runs for p in run.peers]
        if len(names) != len(set(names)):
            raise ValueError("two runs have a peer of the same name: rename them (see strategies.renamed)")
        return cls(tuple(runs), tuple(float(o) for o in offsets))

    @cached_property
    def _merged(self) -> tuple[tuple[Event, ...], tuple[int, ...]]:
        def moved(i: int) -> Iterator[tuple[float, int, int, Event]]:
            offset = self.offsets[i]
            for e in self.runs[i].events:
                yield (round(e.t + offset, 6), i, e.seq, dataclasses.replace(e, t=round(e.t + offset, 6)))

        merged = list(heapq.merge(*(moved(i) for i in range(len(self.runs))), key=lambda x: (x[0], x[1], x[2])))
        return tuple(m[3] for m in merged), tuple(m[1] for m in merged)

    @property
    def events(self) -> tuple[Event, ...]:
        """Every run's events, in time order (ties: the earlier run first, then the run's own order)."""
        return self._merged[0]

    @property
    def origin(self) -> tuple[int, ...]:
        """The index of the run each event comes from."""
        return self._merged[1]

    @property
    def outcomes(self) -> list[Outcome]:
        """Every outcome of the stream, in stream order."""
        return [e for e in self.events if isinstance(e, Outcome)]

    def jsonl_lines(self) -> Iterator[str]:
        """The events as JSON Lines, one object each (no header: a live feed has none)."""
        for e in self.events:
            yield json_line(e.as_json())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        _pretty_call(p, "sim.testing.forms.EventStream.of", self.runs, offsets=self.offsets)

    def __repr__(self) -> str:
        return f"<EventStream of {len(self.runs)} runs at {', '.join(f'{o:g}' for o in self.offsets)} s>"
