"""The trace: ikesim's product, and the only input of every output (schema ``ikesim.trace/1``).

A run writes its events into the columns of an :class:`EventLog` (cheap: no object per event);
:class:`Trace` turns them into typed records (:class:`Send`, :class:`Recv`, :class:`Outcome`...)
only when asked, and its outcomes without reading the other events. A trace
holds everything its renderers need: the peers and what they are (:class:`PeerFacts`), every
datagram each peer sent (lost ones included, with why they were lost) and received, the parent
SA of every child SA, timers, transitions and outcomes. So a saved JSONL trace, read back with
:func:`load_trace`, renders every fixture byte for byte as the run that made it.

Field order is fixed, so the same scenario and seed give byte-identical JSON Lines.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args, overload

from sim._version import __version__
from sim.codes import all_codes
from sim.enums import STATE_ENUM_PREFIX, FailurePoint, KeyModule, state_wire_name
from sim.errors import IkesimError
from sim.protocol.policy import CERTIFICATE_STATES, AuthMethod, Encryption, Group, Integrity, Proposal
from sim.protocol.profiles import PROFILES, is_windows
from sim.protocol.registry import PROTOCOLS, TABLES
from sim.protocol.session import Outcome as CoreOutcome
from sim.protocol.session import OutcomeKind, outcome_kind
from sim.protocol.words import WORDS
from sim.wire.messages import detail_problem

SCHEMA = "ikesim.trace/1"
T = TypeVar("T")

WIDTH = 8  # fields per event of a raw row (:meth:`EventLog.rows`): t, kind, peer, sa, then four that depend on the kind

# The kinds of event a log holds, and how many references each keeps after its time. The long
# forms keep the peer and the SA, then what the kind says. The short forms (_..._OF) keep the
# session the event is about instead of its peer, SA and remote peer (the session holds them, the
# run keeps it anyway), and the number of the rest (sim.protocol.words) beside the kind, in the
# bits above _NUMBER: one reference instead of four or five.
(_SEND, _SEND_D, _RETRANSMIT, _RECV, _RECV_C, _DROP, _TIMER, _TRANSITION, _OUTCOME, _OUTCOME_T,
 _SEND_OF, _RECV_OF, _TRANSITION_OF, _OUTCOME_OF, _RECV_AT) = range(15)  # fmt: skip
_REFS = (4, 5, 6, 4, 5, 6, 4, 3, 5, 6, 1, 1, 1, 1, 1)
_SHORT = _SEND_OF  # the short forms are the kinds from this one on
_OUTCOME_KINDS = frozenset({_OUTCOME, _OUTCOME_T, _OUTCOME_OF})
# Events of one instant share a time: ``times`` holds a time once per run of events at it, and the
# kind of the event that starts a run has this bit set (a negotiation's 33 events have 11 times).
_NEW_TIME = 0x80
# A short form whose session is the one the event before it (a short form too) named keeps no reference
# of its own, and has this bit set: a message taken, the move it makes and the answer sent are one.
_SAME = 0x40
_KIND = 0x3F
_NUMBER = 8  # a short form's number is its kind's entry shifted right by this

Move = tuple[str, str, str, str]  # a transition: (src, dst, trigger, machine)

# A writer on a hot path (the simulator's) may append the short forms itself: when ``t`` is not
# ``last``, ``times.append(t)``, ``last = t`` and the kind ORed with KIND_NEW_TIME; when the session
# is ``last_ref``, the kind ORed with KIND_SAME, else ``refs.append(session)`` and ``last_ref = session``;
# then ``kinds.append(KIND_... | n << KIND_NUMBER)``, where the session is
# a :class:`~sim.protocol.session.Session` and n the number (sim.protocol.words) of
# - KIND_SEND_OF: the name of a message the session sent, from its endpoint to its peer, under its
#   label, with no detail;
# - KIND_RECV_OF: the name of a message that session sent, received undamaged at its peer;
# - KIND_RECV_AT: the name of a message received undamaged by that session, from its peer, under its label;
# - KIND_TRANSITION_OF: the session's move, (src, dst, trigger, machine).
# - KIND_OUTCOME_OF: the session's report's OutcomeKind, its index and where its references begin
#   and its time appended to ``outcome_at``, ``outcome_ref`` and ``outcome_t`` first (what
#   :meth:`EventLog.outcome_of` does).
KIND_SEND_OF, KIND_RECV_OF, KIND_TRANSITION_OF, KIND_OUTCOME_OF = _SEND_OF, _RECV_OF, _TRANSITION_OF, _OUTCOME_OF
KIND_RECV_AT = _RECV_AT
KIND_NEW_TIME = _NEW_TIME
KIND_SAME = _SAME
KIND_NUMBER = _NUMBER


class EventLog:
    """A run's raw events in columns, written as they happen and read as records only when asked.

    The times are in an array of doubles, the kinds in an array of 4-byte entries (with a short
    form's number), and the rest as references to shared objects in one flat list, as many per
    event as its kind needs.

    An event costs no object of its own: its strings (peer names, SA labels, message names) are
    the ones the run already holds, an event about a session refers to the session (which holds
    its peer, SA and remote peer) and numbers its message, its move or the interned
    :class:`OutcomeKind` of what its report says, and a time is kept once for a run of events at
    it. A 33-event negotiation takes about 0.5 KB here, against 2.1 KB in a flat list of eight
    fields per event with a float per event time. Records are made only when they are read.
    """

    __slots__ = ("_moves", "kinds", "last", "last_ref", "outcome_at", "outcome_ref", "outcome_t", "refs", "times",
                 "unkept")  # fmt: skip

    keeps_events: ClassVar[bool] = True  # False: an :class:`OutcomeLog`, which keeps the outcomes alone

    def __init__(self) -> None:
        self.times = array("d")  # the virtual time of each run of events at one time
        self.last = math.nan  # the last time in ``times`` (NaN: none yet; it equals nothing)
        # The kind of each event (_SEND...), with _NEW_TIME where a run begins, and a short form's number above.
        self.kinds = array("I")
        self.refs: list[Any] = []  # each event's references, _REFS[kind] of them (none with _SAME), event after event
        self.last_ref: Any = None  # the session of the last event, where it is a short form (None: it is not)
        self.outcome_at = array("I")  # the index of each outcome event, in order...
        self.outcome_ref = array("I")  # ...where its references begin (4 bytes: a log of 4G references is 32 GB)...
        self.outcome_t = array("d")  # ...and its time
        self._moves: dict[Move, Move] = {}  # one tuple per distinct transition
        self.unkept = 0  # events counted and not kept (an OutcomeLog's); writers may add to it themselves

    def _at(self, t: float) -> int:
        """Note a long form at ``t``: _NEW_TIME when it begins a run of events at a new time, else 0."""
        self.last_ref = None  # the next short form keeps its session
        if t == self.last:
            return 0
        self.times.append(t)
        self.last = t
        return _NEW_TIME

    # --- writing -------------------------------------------------------------------------------

    def send(self, t: float, peer: str, sa: str, message: str, to: str, detail: str | None) -> None:
        """A peer put a message on the wire."""
        if detail is None:
            self.kinds.append(_SEND | self._at(t))
            self.refs.extend((peer, sa, message, to))
        else:
            self.kinds.append(_SEND_D | self._at(t))
            self.refs.extend((peer, sa, message, to, detail))

    def retransmit(self, t: float, peer: str, sa: str, message: str, to: str, attempt: int, detail: str | None) -> None:
        """A peer sent a message again (``attempt`` 0: to answer a duplicate)."""
        self.kinds.append(_RETRANSMIT | self._at(t))
        self.refs.extend((peer, sa, message, to, attempt, detail))

    def recv(self, t: float, peer: str, sa: str, message: str, sender: str, corrupted: str | None) -> None:
        """A message reached its peer's machine."""
        if corrupted is None:
            self.kinds.append(_RECV | self._at(t))
            self.refs.extend((peer, sa, message, sender))
        else:
            self.kinds.append(_RECV_C | self._at(t))
            self.refs.extend((peer, sa, message, sender, corrupted))

    def drop(self, t: float, peer: str, sa: str | None, message: str, sender: str, reason: str, cause: Any) -> None:
        """A message that never reached ``peer``'s machine, or that it refused, and why."""
        self.kinds.append(_DROP | self._at(t))
        self.refs.extend((peer, sa, message, sender, reason, cause))

    def timer(self, t: float, peer: str, sa: str | None, name: str, detail: str | None) -> None:
        """A timer fired, or a peer-level event happened."""
        self.kinds.append(_TIMER | self._at(t))
        self.refs.extend((peer, sa, name, detail))

    def transition(self, t: float, peer: str, sa: str, move: Move) -> None:
        """A machine changed state: ``move`` is (src, dst, trigger, machine), best one shared tuple per move."""
        self.kinds.append(_TRANSITION | self._at(t))
        self.refs.extend((peer, sa, move))

    def moved(self, t: float, peer: str, sa: str, src: str, dst: str, trigger: str, machine: str) -> None:
        """A machine changed state (the move given as its parts)."""
        key = (src, dst, trigger, machine)
        move = self._moves.setdefault(key, key)
        self.transition(t, peer, sa, move)

    def outcome(self, t: float, peer: str, sa: str, kind: OutcomeKind, remote: str, parent: str | None,
                reported_at: float | None = None) -> None:  # fmt: skip
        """A terminal report; ``reported_at`` is the time the peer reported it, when it is not ``t``."""
        self.outcome_at.append(len(self.kinds))
        self.outcome_ref.append(len(self.refs))
        self.outcome_t.append(t)
        if reported_at is None or reported_at == t:
            self.kinds.append(_OUTCOME | self._at(t))
            self.refs.extend((peer, sa, kind, remote, parent))
        else:
            self.kinds.append(_OUTCOME_T | self._at(t))
            self.refs.extend((peer, sa, kind, remote, parent, reported_at))

    def outcome_of(self, t: float, session: Any, kind: OutcomeKind) -> None:
        """A terminal report of ``session`` (its endpoint's, about its SA, its peer the remote), made at ``t``."""
        if session is self.last_ref:
            entry = _OUTCOME_OF | _SAME | kind.number << _NUMBER
        else:
            entry = _OUTCOME_OF | kind.number << _NUMBER
            self.refs.append(session)
        self.outcome_at.append(len(self.kinds))
        self.outcome_ref.append(len(self.refs) - 1)
        self.outcome_t.append(t)
        self.kinds.append(entry | self._at(t))
        self.last_ref = session

    def extend(self, fields: Iterable[Any]) -> None:
        """Append one event given as its ``WIDTH`` raw fields (the layout :meth:`rows` gives back)."""
        t, kind, peer, sa, a, b, c, d = fields
        if kind == "send":
            self.send(t, peer, sa, a, b, c)
        elif kind == "retransmit":
            self.retransmit(t, peer, sa, a, b, c, d)
        elif kind == "recv":
            self.recv(t, peer, sa, a, b, c)
        elif kind == "drop":
            self.drop(t, peer, sa, a, b, c, d)
        elif kind == "timer":
            self.timer(t, peer, sa, a, b)
        elif kind == "transition":
            self.moved(t, peer, sa, a, b, c, d)
        elif kind == "outcome":
            o: CoreOutcome = a
            info = outcome_kind(o.role, o.exchange, o.condition, o.code, o.failure_point, o.state, o.ends)
            self.outcome(t, peer, sa, info, o.remote, o.parent, o.t)
        else:
            raise ValueError(f"unknown event kind {kind!r}")

    # --- reading -------------------------------------------------------------------------------

    def event_count(self) -> int:
        """How many events the log holds."""
        return len(self.kinds)

    def events_seen(self) -> int:
        """How many events the run has had: those the log holds and those it counted without keeping."""
        return len(self.kinds) + self.unkept

    def __len__(self) -> int:
        """The number of fields of its raw rows, ``WIDTH`` per event (what the flat list it replaces held)."""
        return len(self.kinds) * WIDTH

    def _offset(self, start: int) -> tuple[int, int]:
        """Where the references of the ``start``-th event begin, and how many times the events before it have."""
        if not start:
            return 0, 0
        kinds = self.kinds
        refs = sum(0 if kinds[i] & _SAME else _REFS[kinds[i] & _KIND] for i in range(start))
        return refs, sum(1 for i in range(start) if kinds[i] & _NEW_TIME)

    def rows(self, start: int = 0) -> Iterator[tuple[Any, ...]]:
        """The events from the ``start``-th on, as tuples of ``WIDTH`` fields (an outcome's fifth is a core Outcome)."""
        times, refs, kinds = self.times, self.refs, self.kinds
        at, ti = self._offset(start)
        t = times[ti - 1] if ti else math.nan
        session: Any = refs[at - 1] if at else None  # the session of the last short form (a _SAME event's)
        for i in range(start, len(kinds)):
            k = kinds[i]
            if k & _NEW_TIME:
                t = times[ti]
                ti += 1
            word = WORDS[k >> _NUMBER]  # what a short form names beside its session
            same = k & _SAME
            k &= _KIND
            if same:
                n = 0
            else:
                n = _REFS[k]
                if k >= _SHORT:
                    session = refs[at]
            r = refs[at : at + n]
            at += n
            if k == _SEND_OF:
                yield (t, "send", session.endpoint.name, session.label, word, session.peer, None, None)
            elif k == _RECV_OF:
                yield (t, "recv", session.peer, session.label, word, session.endpoint.name, None, None)
            elif k == _RECV_AT:
                yield (t, "recv", session.endpoint.name, session.label, word, session.peer, None, None)
            elif k == _TRANSITION_OF:
                src, dst, trigger, machine = word
                yield (t, "transition", session.endpoint.name, session.label, src, dst, trigger, machine)
            elif k == _SEND:
                yield (t, "send", r[0], r[1], r[2], r[3], None, None)
            elif k == _SEND_D:
                yield (t, "send", r[0], r[1], r[2], r[3], r[4], None)
            elif k == _RETRANSMIT:
                yield (t, "retransmit", *r)
            elif k == _RECV:
                yield (t, "recv", r[0], r[1], r[2], r[3], None, None)
            elif k == _RECV_C:
                yield (t, "recv", r[0], r[1], r[2], r[3], r[4], None)
            elif k == _DROP:
                yield (t, "drop", *r)
            elif k == _TIMER:
                yield (t, "timer", r[0], r[1], r[2], r[3], None, None)
            elif k == _TRANSITION:
                src, dst, trigger, machine = r[2]
                yield (t, "transition", r[0], r[1], src, dst, trigger, machine)
            else:  # a short form's reference is the last one taken (its own, or the one before's)
                _, _, peer, sa, kind, remote, parent, reported = self._outcome(i, at - 1 if k >= _SHORT else at - n, t)
                yield (t, "outcome", peer, sa, kind.core(reported, peer, sa, remote, parent), None, None, None)

    def last_time(self) -> float:
        """The virtual time of the last event (0 when there is none)."""
        return self.times[-1] if self.times else 0.0

    def _outcome(self, i: int, at: int, t: float) -> tuple[int, float, str, str, OutcomeKind, str, str | None, float]:
        """(index, time, peer, sa, kind, remote, parent, time reported) of outcome event ``i``, at ``t``.

        Its references begin at ``at``.
        """
        entry = self.kinds[i]
        k = entry & _KIND
        refs = self.refs
        if k == _OUTCOME_OF:
            session, kind = refs[at], WORDS[entry >> _NUMBER]
            parent = session.parent.label if session.parent is not None else None
            return i, t, session.endpoint.name, session.label, kind, session.peer, parent, t
        if k == _OUTCOME:
            peer, sa, kind, remote, parent = refs[at : at + 5]
            return i, t, peer, sa, kind, remote, parent, t
        peer, sa, kind, remote, parent, reported = refs[at : at + 6]
        return i, t, peer, sa, kind, remote, parent, reported

    def outcome_refs(self) -> Iterator[tuple[int, float, str, str, OutcomeKind, str, str | None, float]]:
        """(index, time, peer, sa, kind, remote, parent, time reported) of each outcome, in order."""
        for i, at, t in zip(self.outcome_at, self.outcome_ref, self.outcome_t, strict=True):
            yield self._outcome(i, at, t)

    def core_outcomes(self) -> list[CoreOutcome]:
        """The core's outcome objects, in order, made from the log."""
        return [kind.core(reported, peer, sa, remote, parent)
                for _, _, peer, sa, kind, remote, parent, reported in self.outcome_refs()]  # fmt: skip


class OutcomeLog(EventLog):
    """A log that keeps a run's outcomes alone and counts its other events: for runs whose events nobody reads.

    A fleet of a million negotiations needs its 4,000,000 reports, not its 33,000,000 events. The
    outcomes are numbered among the events kept (their ``seq`` runs 1, 2, 3...), and a trace of
    such a run renders what its outcomes say: its text summary and JSON Lines, not its captures.
    """

    __slots__ = ()

    keeps_events: ClassVar[bool] = False

    def send(self, t: float, peer: str, sa: str, message: str, to: str, detail: str | None) -> None:
        """Count it."""
        self.unkept += 1

    def retransmit(self, t: float, peer: str, sa: str, message: str, to: str, attempt: int, detail: str | None) -> None:
        """Count it."""
        self.unkept += 1

    def recv(self, t: float, peer: str, sa: str, message: str, sender: str, corrupted: str | None) -> None:
        """Count it."""
        self.unkept += 1

    def drop(self, t: float, peer: str, sa: str | None, message: str, sender: str, reason: str, cause: Any) -> None:
        """Count it."""
        self.unkept += 1

    def timer(self, t: float, peer: str, sa: str | None, name: str, detail: str | None) -> None:
        """Count it."""
        self.unkept += 1

    def transition(self, t: float, peer: str, sa: str, move: Move) -> None:
        """Count it."""
        self.unkept += 1


@dataclass(frozen=True, slots=True)
class PeerFacts:
    """What the outputs know of a peer of a run: its name, role, protocol, profile and authentication.

    And what the wire needs of its policy, so that a saved trace renders the same captures: its
    proposals in order, the groups it accepts, its pre-shared key (ikesim is a simulator: traces
    and fixtures carry it in clear), whether it asks for an inner address, its main-mode and
    quick-mode lifetimes, and the state of its certificate. A trace written before these fields
    existed reads back with the policy's defaults.
    """

    name: str
    role: str
    protocol: str
    profile: str
    auth: str
    proposals: tuple[Proposal, ...] = (Proposal(),)
    dh_groups: tuple[int, ...] | None = None
    psk: str = "shared-secret"
    request_address: bool = False
    mm_lifetime: float = 28800.0
    qm_lifetime: float = 3600.0
    certificate: str = "valid"

    @property
    def windows(self) -> bool:
        """True when the peer runs Windows, and so writes audit and WFP events."""
        return is_windows(self.profile, self.protocol)


class MadeWhenRead(Sequence[T]):
    """A read-only sequence whose items are made when read, and not kept: a run's outcomes, its peers.

    It indexes, slices (into a list), counts and iterates as a list does, and compares equal to a
    list or tuple of equal items. A subclass says how long it is (``_len``), makes the items from
    ``start`` to before ``stop`` (``_made``), and may iterate faster than item by item.
    """

    __slots__ = ("_len",)

    _len: int

    def _made(self, start: int, stop: int) -> Iterator[T]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step == 1:
                return list(self._made(start, max(start, stop)))
            return [self[i] for i in range(start, stop, step)]
        position = index + self._len if index < 0 else index
        if not 0 <= position < self._len:
            raise IndexError(f"{type(self).__name__} index out of range")
        return next(self._made(position, position + 1))

    def __iter__(self) -> Iterator[T]:
        return self._made(0, self._len)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MadeWhenRead | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list of the same items, so unhashable like one

    def __repr__(self) -> str:
        return repr(list(self))


class RunPeers(MadeWhenRead[PeerFacts]):
    """The peers of a run as its trace lists them: each instance's facts made when read, none kept.

    A fleet of a million instances of a few scenario peers needs its few facts, not a million:
    each group is a scenario peer's facts and the names its instances have in the run.
    """

    __slots__ = ("_groups",)

    def __init__(self, groups: Iterable[tuple[PeerFacts, Sequence[str]]]) -> None:
        self._groups = tuple(groups)
        self._len = sum(len(names) for _, names in self._groups)

    def _made(self, start: int, stop: int) -> Iterator[PeerFacts]:
        first = 0  # the position of the group's first name
        for facts, names in self._groups:
            for name in names[max(start - first, 0) : max(stop - first, 0)]:
                yield _named(facts, name)
            first += len(names)
            if first >= stop:
                return


def _named(facts: PeerFacts, name: str) -> PeerFacts:
    return facts if facts.name == name else dataclasses.replace(facts, name=name)


# --- typed records --------------------------------------------------------------------------


@dataclass(slots=True)
class Event:
    """One trace line: ``t`` (virtual seconds), ``seq`` (from 1), ``peer`` where it happened, ``sa``.

    Records are values: treat them as read-only (they are not frozen only because a frozen
    dataclass costs five times as much to make, and a trace makes millions).
    """

    kind: ClassVar[str]
    JSON_NAMES: ClassVar[dict[str, str]] = {"sender": "from"}  # attributes whose JSON key differs

    t: float
    seq: int
    peer: str
    sa: str | None

    def as_json(self) -> dict[str, Any]:
        """The JSONL object of this record: ``t``, ``seq``, ``kind``, then the kind's fields in order.

        Optional fields (``detail``, ``corrupted``, ``parent``) are left out when empty.
        """
        return _encoder(type(self))(self)  # each record class has its own, made once (see RECORD_KINDS)


def _encoder(cls: type[Event]) -> Callable[[Event], dict[str, Any]]:
    """A function that writes one record class's JSON object, made once per class (as dataclasses does).

    A loop over the fields with ``getattr`` cost three times as much per record.
    """
    lines = ["def encode(self):", f"    out = {{'t': self.t, 'seq': self.seq, 'kind': {cls.kind!r}}}"]
    for f in dataclasses.fields(cls):
        if f.name in ("t", "seq"):
            continue
        key = Event.JSON_NAMES.get(f.name, f.name)
        if f.default is None:
            lines.append(f"    if self.{f.name} is not None: out[{key!r}] = self.{f.name}")
        else:
            lines.append(f"    out[{key!r}] = self.{f.name}")
    lines.append("    return out")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    encode: Callable[[Event], dict[str, Any]] = namespace["encode"]
    return encode


@dataclass(slots=True)
class Send(Event):
    """A peer put a message on the wire (whether or not it arrives)."""

    kind: ClassVar[str] = "send"
    message: str
    to: str
    detail: str | None = None  # what the trace shows of its payloads: a notify, an address
    parent: str | None = None  # the SA this child SA's messages travel under


@dataclass(slots=True)
class Retransmit(Event):
    """A peer sent a message again: its timer fired (``attempt`` n), or it answered a duplicate (0)."""

    kind: ClassVar[str] = "retransmit"
    message: str
    to: str
    attempt: int
    cause: str
    detail: str | None = None
    parent: str | None = None


@dataclass(slots=True)
class Recv(Event):
    """A message reached its peer's machine (``corrupted`` names the damaged part, if any)."""

    kind: ClassVar[str] = "recv"
    message: str
    sender: str
    corrupted: str | None = None
    parent: str | None = None


@dataclass(slots=True)
class Drop(Event):
    """A message that never reached ``peer``'s machine, or that its machine refused, and why."""

    kind: ClassVar[str] = "drop"
    message: str
    sender: str
    reason: str
    cause: str  # a DropCause value
    parent: str | None = None


@dataclass(slots=True)
class Timer(Event):
    """A timer fired or a peer-level event happened (give_up, probe, expire, crash, restart...)."""

    kind: ClassVar[str] = "timer"
    timer: str
    detail: str | None = None


@dataclass(slots=True)
class Transition(Event):
    """A machine changed state."""

    kind: ClassVar[str] = "transition"
    machine: str
    src: str
    dst: str
    trigger: str


@dataclass(slots=True)
class Outcome(Event):
    """A terminal report: the code one peer reports for one SA, with its failure point and state."""

    kind: ClassVar[str] = "outcome"
    sa: str  # an outcome is always about an SA
    role: str
    exchange: str
    ends: str
    code: int
    name: str
    hex: str
    failure_point: str
    state: str
    keying_module: str
    condition: str
    reason: str
    remote: str  # the peer on the other side of the SA
    parent: str | None = None


RECORD_KINDS: dict[str, type[Event]] = {c.kind: c for c in (Send, Retransmit, Recv, Drop, Timer, Transition, Outcome)}
for _cls in RECORD_KINDS.values():
    setattr(_cls, "as_json", _encoder(_cls))  # noqa: B010 (a method made for the class, in place of Event's)


def _time(t: float) -> float:
    return round(t, 6)


# An outcome record's fields from role to reason: role, exchange, ends, code, name, hex, failure_point,
# state, keying_module, condition, reason.
_Fields = tuple[str, str, str, int, str, str, str, str, str, str, str]
_FIELDS: dict[OutcomeKind, _Fields] = {}  # an outcome kind -> its record's fields, made once


def _outcome_fields(kind: OutcomeKind) -> _Fields:
    fields = _FIELDS.get(kind)
    if fields is None:
        code = kind.code
        fields = _FIELDS[kind] = (
            kind.role.name.lower(), kind.exchange, kind.ends.value, int(code), code.info.name, code.info.hex,
            kind.failure_point.wire_name, kind.state, TABLES[kind.exchange].keying_module.name, kind.condition.key,
            kind.condition.value.text,
        )  # fmt: skip
    return fields


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block, then the collector as it was.

    For work that makes objects in bulk and no reference cycles (a run, its set-up, records made
    from its log): each collection rescans every object of the run (its sessions, its log), and
    making the 400,000 outcome records of 100,000 negotiations cost five times as much with it on.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _outcome_records(log: EventLog, start: int = 0, stop: int | None = None) -> Iterator[Outcome]:
    """The outcome records of a log from the ``start``-th to before the ``stop``-th, made one by one, none kept.

    Read from its outcomes alone, never from the other events (a loop written for speed: one per report).
    """
    kinds, refs = log.kinds, log.refs
    known = _FIELDS.get
    last_t, last_rounded = -1.0, -1.0
    positions = range(start, len(log.outcome_at) if stop is None else stop)
    for n in positions:
        i, at, t = log.outcome_at[n], log.outcome_ref[n], log.outcome_t[n]
        entry = kinds[i]
        if entry & _KIND == _OUTCOME_OF:
            session, kind = refs[at], WORDS[entry >> _NUMBER]
            peer, sa, remote = session.endpoint.name, session.label, session.peer
            parent = session.parent.label if session.parent is not None else None
        else:
            _, _, peer, sa, kind, remote, parent, t = log._outcome(i, at, t)
        fields = known(kind) or _outcome_fields(kind)
        if t != last_t:  # reports of one instant share their rounded time
            last_t, last_rounded = t, round(t, 6)
        yield Outcome(last_rounded, i + 1, peer, sa, *fields, remote, parent)


class Outcomes(MadeWhenRead[Outcome]):
    """A run's outcome records, made from its log when read: none is kept.

    A run of a million negotiations has four million reports; a list of their records would take
    0.8 GB that a reader who counts them, or looks for one, never needs.
    """

    __slots__ = ("_log",)

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._len = len(log.outcome_at)  # the reports when the trace was read: a run going on adds none here

    def _made(self, start: int, stop: int) -> Iterator[Outcome]:
        return _outcome_records(self._log, start, stop)

    def find(self, peer: str, sa: str, ends: str) -> Outcome | None:
        """The record one peer made for one SA, found without making the others."""
        log = self._log
        for n, (_, _, p, label, kind, _, _, _) in enumerate(log.outcome_refs()):
            if n == self._len:
                break
            if p == peer and label == sa and kind.ends.value == ends:
                return self[n]
        return None


def _records(log: EventLog, parents: dict[str, str]) -> Iterator[Event]:
    """Every event of a log as its typed record, in order (what :func:`record` makes of each row)."""
    times, kinds, refs = log.times, log.kinds, log.refs
    at = ti = 0
    t = exact = math.nan
    session: Any = None  # the session of the last short form
    get_parent = parents.get
    for i, entry in enumerate(kinds):
        if entry & _NEW_TIME:
            exact = times[ti]
            t = round(exact, 6)
            ti += 1
        k = entry & _KIND
        seq = i + 1
        if k >= _SHORT:
            if not entry & _SAME:
                session = refs[at]
                at += 1
            if k == _SEND_OF:
                sa = session.label
                yield Send(t, seq, session.endpoint.name, sa, WORDS[entry >> _NUMBER], session.peer, None,
                           get_parent(sa))  # fmt: skip
            elif k == _RECV_OF:
                sa = session.label
                yield Recv(t, seq, session.peer, sa, WORDS[entry >> _NUMBER], session.endpoint.name, None,
                           get_parent(sa))  # fmt: skip
            elif k == _RECV_AT:
                sa = session.label
                yield Recv(t, seq, session.endpoint.name, sa, WORDS[entry >> _NUMBER], session.peer, None,
                           get_parent(sa))  # fmt: skip
            elif k == _TRANSITION_OF:
                src, dst, trigger, machine = WORDS[entry >> _NUMBER]
                yield Transition(t, seq, session.endpoint.name, session.label, machine, src, dst, trigger)
            else:  # _OUTCOME_OF
                _, _, peer, sa, kind, remote, parent, reported = log._outcome(i, at - 1, exact)
                yield Outcome(_time(reported), seq, peer, sa, *_outcome_fields(kind), remote, parent)
        elif k in _OUTCOME_KINDS:
            _, _, peer, sa, kind, remote, parent, reported = log._outcome(i, at, exact)
            at += _REFS[k]
            yield Outcome(_time(reported), seq, peer, sa, *_outcome_fields(kind), remote, parent)
        elif k == _SEND:
            peer, sa, message, to = refs[at : at + 4]
            at += 4
            yield Send(t, seq, peer, sa, message, to, None, get_parent(sa))
        elif k == _RECV:
            peer, sa, message, sender = refs[at : at + 4]
            at += 4
            yield Recv(t, seq, peer, sa, message, sender, None, get_parent(sa))
        elif k == _TRANSITION:
            peer, sa, (src, dst, trigger, machine) = refs[at : at + 3]
            at += 3
            yield Transition(t, seq, peer, sa, machine, src, dst, trigger)
        elif k == _SEND_D:
            peer, sa, message, to, detail = refs[at : at + 5]
            at += 5
            yield Send(t, seq, peer, sa, message, to, detail or None, get_parent(sa))
        elif k == _RECV_C:
            peer, sa, message, sender, corrupted = refs[at : at + 5]
            at += 5
            yield Recv(t, seq, peer, sa, message, sender, corrupted or None, get_parent(sa))
        elif k == _RETRANSMIT:
            peer, sa, message, to, attempt, detail = refs[at : at + 6]
            at += 6
            cause = "timer" if attempt else "duplicate received"
            yield Retransmit(t, seq, peer, sa, message, to, attempt, cause, detail or None, get_parent(sa))
        elif k == _DROP:
            peer, sa, message, sender, reason, cause = refs[at : at + 6]
            at += 6
            yield Drop(t, seq, peer, sa, message, sender, reason, str(cause), get_parent(sa))
        else:  # _TIMER
            peer, sa, name, detail = refs[at : at + 4]
            at += 4
            yield Timer(t, seq, peer, sa, name, detail or None)


def outcome_record(seq: int, o: CoreOutcome) -> Outcome:
    """The trace record of a core outcome."""
    code = o.code
    return Outcome(
        _time(o.t), seq, o.peer, o.sa,
        role=o.role.name.lower(),
        exchange=o.exchange,
        ends=o.ends.value,
        code=int(code),
        name=code.info.name,
        hex=code.info.hex,
        failure_point=o.failure_point.wire_name,
        state=o.state,
        keying_module=TABLES[o.exchange].keying_module.name,
        condition=o.condition.key,
        reason=o.condition.value.text,
        remote=o.remote,
        parent=o.parent,
    )  # fmt: skip


def record(seq: int, raw: tuple[Any, ...], parents: dict[str, str] | None = None) -> Event:
    """The typed record of one raw event (its ``seq`` and its ``WIDTH`` fields)."""
    t, kind, peer, sa = _time(raw[0]), raw[1], raw[2], raw[3]
    if kind == "outcome":
        return outcome_record(seq, raw[4])
    parent = parents.get(sa) if parents and sa is not None else None
    if kind == "send":
        return Send(t, seq, peer, sa, raw[4], raw[5], raw[6] or None, parent)
    if kind == "retransmit":
        cause = "timer" if raw[6] else "duplicate received"
        return Retransmit(t, seq, peer, sa, raw[4], raw[5], raw[6], cause, raw[7] or None, parent)
    if kind == "recv":
        return Recv(t, seq, peer, sa, raw[4], raw[5], raw[6] or None, parent)
    if kind == "drop":
        return Drop(t, seq, peer, sa, raw[4], raw[5], raw[6], str(raw[7]), parent)
    if kind == "timer":
        return Timer(t, seq, peer, sa, raw[4], raw[5] or None)
    if kind == "transition":
        return Transition(t, seq, peer, sa, raw[7], raw[4], raw[5], raw[6])
    raise ValueError(f"unknown event kind {kind!r}")


# --- the trace ------------------------------------------------------------------------------


class Trace:
    """A run: every event in order, the outcomes, the peers, and how the run ended.

    Made by a run (from its raw log) or read back from JSON Lines (:func:`load_trace`); both
    give the same records, the same JSON Lines and the same fixtures.
    """

    def __init__(
        self,
        scenario: str,
        seed: int,
        peers: Sequence[PeerFacts],
        *,
        description: str = "",
        end: float = 0.0,
        truncated: str | None = None,
        raw: EventLog | None = None,
        parents: dict[str, str] | Callable[[], dict[str, str]] | None = None,
        raw_outcomes: list[CoreOutcome] | None = None,
        final_states: Callable[[], dict[tuple[str, str], str]] | None = None,
        records: list[Event] | None = None,
        source: Any = None,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.peers = peers
        self.description = description
        self.end = end
        self.truncated = truncated  # why the run stopped at a limit, or None
        self.raw = raw  # the raw log of a run; None for a trace read back
        self._parents = parents  # the dict, or what makes it when first read (a run's sessions know their parents)
        self._raw_outcomes = raw_outcomes
        self._final_states = final_states
        self.source = source  # the Scenario a run was made from, for replaying it; renderers never read it
        if records is not None:
            self.__dict__["events"] = records

    @cached_property
    def parents(self) -> dict[str, str]:
        """Child SA label -> the label of the SA it was negotiated under, for every child SA of the run.

        A run's is made when first read: reading its outcomes needs none (a million negotiations
        would build a dict of a million quick modes for nothing).
        """
        parents = self._parents
        if callable(parents):
            return parents()
        return parents if parents is not None else {}

    @property
    def raw_outcomes(self) -> list[CoreOutcome] | None:
        """The core's outcome objects of a run, in order (made from its log when asked); None for a trace read back."""
        if self._raw_outcomes is None and self.raw is not None:
            self._raw_outcomes = self.raw.core_outcomes()
        return self._raw_outcomes

    @raw_outcomes.setter
    def raw_outcomes(self, value: list[CoreOutcome] | None) -> None:
        self._raw_outcomes = value

    @cached_property
    def events(self) -> list[Event]:
        """Every event, in order, as typed records with the fields of their JSONL lines."""
        assert self.raw is not None
        with collector_paused():  # records are made in bulk
            return list(_records(self.raw, self.parents))

    def _event_stream(self) -> Iterable[Event]:
        """The records in order: the list when it is made already, else made one by one and not kept."""
        made = self.__dict__.get("events")
        if made is not None or self.raw is None:
            return made if made is not None else self.events
        return _records(self.raw, self.parents)

    @cached_property
    def outcomes(self) -> Sequence[Outcome]:
        """The terminal reports, in order.

        Of a run, an :class:`Outcomes` sequence that makes each record from the log's outcomes when it
        is read (never from every event, and none kept); a list where the records are made already.
        """
        made = self.__dict__.get("events")
        if made is not None or self.raw is None:
            return [e for e in self.events if isinstance(e, Outcome)]
        return Outcomes(self.raw)

    @cached_property
    def final_states(self) -> dict[tuple[str, str], str]:
        """(peer, sa) -> the state of its machine when the run ended.

        A run knows it exactly; a trace read back takes the last state each SA's transitions
        reached (and marks the SAs a crash took with them).
        """
        if self._final_states is not None:
            return self._final_states()
        states: dict[tuple[str, str], str] = {}
        for e in self.events:
            if isinstance(e, Transition) and e.sa is not None:
                states[(e.peer, e.sa)] = e.dst
            elif isinstance(e, Timer) and e.timer == "crash":
                for key, state in states.items():
                    if key[0] == e.peer and not state.endswith("(lost in crash)"):
                        states[key] = f"{state} (lost in crash)"
        return states

    @cached_property
    def peer_facts(self) -> dict[str, PeerFacts]:
        """The peers by name."""
        return {p.name: p for p in self.peers}

    def root_of(self, sa: str) -> str:
        """The main-mode or IKE SA at the root of an SA (itself when it has no parent)."""
        seen = sa
        while seen in self.parents:
            seen = self.parents[seen]
        return seen

    def outcome(self, peer: str, sa: str, ends: str = "negotiation") -> Outcome | None:
        """The outcome one peer reported for one SA, or None."""
        outcomes = self.outcomes
        if isinstance(outcomes, Outcomes):
            return outcomes.find(peer, sa, ends)
        for o in outcomes:
            if o.peer == peer and o.sa == sa and o.ends == ends:
                return o
        return None

    def retransmissions(self, peer: str, sa: str) -> int:
        """How many times a peer sent a message of this SA again."""
        return sum(1 for e in self.events if isinstance(e, Retransmit) and e.peer == peer and e.sa == sa)

    def header(self) -> dict[str, Any]:
        """The first JSONL line."""
        return {
            "schema": SCHEMA,
            "ikesim": __version__,
            "scenario": self.scenario,
            "seed": self.seed,
            "events": len(self.events) if self.raw is None else self.raw.event_count(),
            "end": _time(self.end),
            "truncated": self.truncated,
            "description": self.description,
            "peers": [dataclasses.asdict(p) for p in self.peers],
        }

    def jsonl_lines(self) -> Iterator[str]:
        """The trace as JSON Lines, header first."""
        yield json_line(self.header())
        for event in self._event_stream():  # a long run's records are made one by one, not all kept
            yield json_line(event.as_json())

    def to_jsonl(self) -> str:
        """The whole trace as one JSON Lines string."""
        return "".join(line + "\n" for line in self.jsonl_lines())

    def __repr__(self) -> str:
        # What the run is (its scenario, seed and outcomes), as a failing test or a debugger shows it.
        count = self.raw.event_count() if self.raw is not None else len(self.events)
        outcomes = self.outcomes
        shown = [
            f"{o.peer} {o.sa} {o.code} {o.name.removeprefix('ERROR_IPSEC_IKE_').removeprefix('ERROR_IPSEC_')}"
            + (" (SA ended)" if o.ends == "sa" else "")
            for o in outcomes[:8]
        ]
        said = "; ".join(shown) + (f"; and {len(outcomes) - 8} more" if len(outcomes) > 8 else "")
        cut = f", truncated: {self.truncated}" if self.truncated else ""
        return f"<Trace {self.scenario!r} seed {self.seed}, {count} events{cut}: {said or 'no outcome'}>"


# Characters that end a line for str.splitlines() and many JSON Lines readers, which JSON leaves raw.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(data: dict[str, Any]) -> str:
    """One JSON Lines record: compact, UTF-8 text kept, and no character any reader takes for a line break."""
    line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return line if line.isascii() else line.translate(_LINE_BREAKS)


# --- reading a trace back -------------------------------------------------------------------


class TraceError(IkesimError, ValueError):
    """A JSONL trace that cannot be read back; ``problems`` lists each as ``line N: what``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__("\n".join(f"{source}: {p}" for p in problems))
        self.source = source
        self.problems = problems


_HEADER_TYPES: dict[str, tuple[type, ...]] = {
    "schema": (str,),
    "scenario": (str,),
    "seed": (int,),
    "events": (int,),
    "end": (int, float),
    "truncated": (str, type(None)),
    "description": (str,),
    "peers": (list,),
}
_PEER_KEYS = ("name", "role", "protocol", "profile", "auth")  # required: every trace has them
_WIRE_KEYS = tuple(f.name for f in dataclasses.fields(PeerFacts) if f.name not in _PEER_KEYS)  # optional
_PROPOSAL_KEYS = ("encryption", "integrity", "dh_group")
_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "str": (str,), "float": (int, float)}
MAX_PROBLEMS = 20  # a file of garbage gets the first problems, not one per line


_TYPE_CACHE: dict[type[Event], list[tuple[str, str, tuple[type, ...], bool]]] = {}


def _field_types(cls: type[Event]) -> list[tuple[str, str, tuple[type, ...], bool]]:
    """(attribute, JSON key, accepted types, optional) for every field of a record class."""
    if cls in _TYPE_CACHE:
        return _TYPE_CACHE[cls]
    out: list[tuple[str, str, tuple[type, ...], bool]] = []
    for f in dataclasses.fields(cls):
        text = str(f.type)
        optional = "None" in text
        base = text.replace(" | None", "")
        types = (*_TYPES.get(base, (str,)), *((type(None),) if optional else ()))
        out.append((f.name, Event.JSON_NAMES.get(f.name, f.name), types, f.default is None))
    _TYPE_CACHE[cls] = out
    return out


def _parse_record(data: Any) -> Event | str:
    """A typed record from one decoded JSON line, or what is wrong with it."""
    if not isinstance(data, dict):
        return "not a JSON object"
    kind = data.get("kind")
    cls = RECORD_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return f"kind: {kind!r} is not one of {', '.join(RECORD_KINDS)}"
    values: dict[str, Any] = {}
    for name, key, types, has_default in _field_types(cls):
        if key not in data:
            if has_default:
                continue
            return f"{kind}: {key}: required, but missing"
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, types):
            return f"{kind}: {key}: {value!r} is not a {types[0].__name__}"
        values[name] = value
    unknown = set(data) - {"kind"} - {key for _, key, _, _ in _field_types(cls)}
    if unknown:
        return f"{kind}: unknown key {sorted(unknown)[0]!r}"
    return cls(**values)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _parse_header(data: Any) -> tuple[dict[str, Any], tuple[PeerFacts, ...]] | str:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        return f"the first line must be the header of schema {SCHEMA!r} (found {found!r})"
    for key, types in _HEADER_TYPES.items():
        if key not in data:
            return f"header: {key}: required, but missing"
        if isinstance(data[key], bool) or not isinstance(data[key], types):
            return f"header: {key}: {data[key]!r} is not a {types[0].__name__}"
    peers = []
    for i, peer in enumerate(data["peers"]):
        facts = _parse_peer(peer)
        if isinstance(facts, str):
            return f"header: peers.{i}: {facts}"
        peers.append(facts)
    return data, tuple(peers)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_ROLES = ("initiator", "responder")
_ENCRYPTIONS, _INTEGRITIES, _GROUPS = get_args(Encryption), get_args(Integrity), get_args(Group)
_AUTH_METHODS = get_args(AuthMethod)


def _group(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in _GROUPS


def _parse_proposal(value: object) -> Proposal | None:
    """A proposal of the header, with the values a policy may have (the captures build each), or None."""
    if not isinstance(value, dict) or set(value) != set(_PROPOSAL_KEYS):
        return None
    encryption, integrity = value["encryption"], value["integrity"]
    if encryption not in _ENCRYPTIONS or integrity not in _INTEGRITIES or not _group(value["dh_group"]):
        return None
    return Proposal(value["encryption"], value["integrity"], value["dh_group"])


def _parse_peer(peer: object) -> PeerFacts | str:
    """A peer of the header, or what is wrong with it; the wire's fields are optional (older traces lack them)."""
    shape = f"expected an object with the strings {', '.join(_PEER_KEYS)}"
    if not isinstance(peer, dict) or not set(_PEER_KEYS) <= set(peer) or not all(_is_str(peer[k]) for k in _PEER_KEYS):
        return shape
    unknown = set(peer) - set(_PEER_KEYS) - set(_WIRE_KEYS)
    if unknown:
        return f"unknown key {sorted(unknown)[0]!r}"
    values: dict[str, Any] = {k: peer[k] for k in _PEER_KEYS}
    for key, known in (("role", _ROLES), ("protocol", PROTOCOLS), ("profile", PROFILES),
                       ("auth", _AUTH_METHODS)):  # fmt: skip
        if values[key] not in known:  # every renderer looks these up
            return f"{key}: {values[key]!r} is not one of {', '.join(known)}"
    if "proposals" in peer:
        proposals = [_parse_proposal(x) for x in peer["proposals"]] if isinstance(peer["proposals"], list) else [None]
        if not proposals or any(x is None for x in proposals):
            groups = ", ".join(map(str, _GROUPS))
            return (f"proposals: expected a list of objects with encryption (one of {', '.join(_ENCRYPTIONS)}), "
                    f"integrity (one of {', '.join(_INTEGRITIES)}) and dh_group (of {groups})")  # fmt: skip
        values["proposals"] = tuple(proposals)
    if "dh_groups" in peer and peer["dh_groups"] is not None:
        groups = peer["dh_groups"]
        if not isinstance(groups, list) or not all(_group(g) for g in groups):
            return f"dh_groups: expected a list of group numbers (of {', '.join(map(str, _GROUPS))}), or null"
        values["dh_groups"] = tuple(groups)
    if "psk" in peer:
        if not _is_str(peer["psk"]):
            return "psk: expected a string"
        values["psk"] = peer["psk"]
    if "request_address" in peer:
        if not isinstance(peer["request_address"], bool):
            return "request_address: expected true or false"
        values["request_address"] = peer["request_address"]
    if "certificate" in peer:
        if peer["certificate"] not in CERTIFICATE_STATES:
            return f"certificate: expected one of {', '.join(CERTIFICATE_STATES)}"
        values["certificate"] = peer["certificate"]
    for key in ("mm_lifetime", "qm_lifetime"):
        if key in peer:
            if not _number(peer[key]):
                return f"{key}: expected a number of seconds"
            values[key] = float(peer[key])
    return PeerFacts(**values)


_CATALOG = frozenset(entry.code for entry in all_codes())
_OUTCOME_VALUES: dict[str, frozenset[str]] = {
    "failure_point": frozenset(point.wire_name for point in FailurePoint),
    "state": frozenset(state_wire_name(s) for kind in STATE_ENUM_PREFIX for s in kind),
    "role": frozenset(_ROLES),
    "ends": frozenset({"negotiation", "sa"}),
    "exchange": frozenset(TABLES),
    "keying_module": frozenset(module.name for module in KeyModule),
}


# The latest time ikesim's virtual clock runs to (about 63 years): every fixture can stamp it (a
# pcap's 32-bit seconds from the clock's zero, 2026-01-01, end in 2106).
MAX_TIME = 2_000_000_000.0


def _unknown_value(record: Event) -> str | None:
    """What in an outcome is none of the values ikesim writes (every renderer looks them up), or None."""
    if not isinstance(record, Outcome):
        return None
    for key, allowed in _OUTCOME_VALUES.items():
        if getattr(record, key) not in allowed:
            return f"outcome: {key}: {getattr(record, key)!r} is not one of ikesim's values"
    if record.code not in _CATALOG:
        return f"outcome: code: {record.code} is not in the catalog"
    return None


def _stranger(record: Event, protocols: dict[str, str]) -> str | None:
    """What names a peer the header does not list (every renderer looks peers up), or None.

    ``protocols``: each peer of the header by name, and its protocol (made once per trace, not per line).
    """
    named = {"peer": record.peer, "to": getattr(record, "to", None), "from": getattr(record, "sender", None),
             "remote": getattr(record, "remote", None)}  # fmt: skip
    for key, name in named.items():
        if name is not None and name not in protocols:
            return f"{key}: {name!r} is not a peer of the header"
    return None


def _unknown_message(record: Event, protocols: dict[str, str]) -> str | None:
    """What names a message its peer's protocol does not have (the captures build each one), or None."""
    message = getattr(record, "message", None)
    if message is None:
        return None
    protocol = protocols.get(record.peer)
    spec = PROTOCOLS.get(protocol) if protocol is not None else None
    if spec is not None and message not in spec.payloads:
        return f"message: {message!r} is not a message of {protocol}"
    return None


def _bad_detail(record: Event) -> str | None:
    """What in a record's detail the captures cannot build, or None."""
    detail = getattr(record, "detail", None)
    problem = detail_problem(detail) if detail else None
    return f"detail: {problem}" if problem is not None else None


def read_trace(lines: Iterable[str], source: str = "<trace>") -> Trace:
    """A trace from its JSON Lines; :class:`TraceError` names every problem with its line."""
    problems: list[str] = []
    header: tuple[dict[str, Any], tuple[PeerFacts, ...]] | None = None
    protocols: dict[str, str] = {}  # the header's peers by name, and their protocols
    records: list[Event] = []
    read = 0  # event lines read, refused ones included: each takes its place in the sequence
    number = 0
    for number, line in enumerate(lines, start=1):
        if len(problems) >= MAX_PROBLEMS:
            problems.append("... and more problems: stopped reading")
            break
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            problems.append(f"line {number}: not JSON: {getattr(error, 'msg', error)}")
            continue
        if number == 1:
            parsed_header = _parse_header(data)
            if isinstance(parsed_header, str):
                problems.append(f"line 1: {parsed_header}")
                break
            header = parsed_header
            protocols = {p.name: p.protocol for p in header[1]}
            continue
        parsed = _parse_record(data)
        read += 1
        if isinstance(parsed, str):
            problems.append(f"line {number}: {parsed}")
        elif not 0 <= parsed.t <= MAX_TIME:
            problems.append(f"line {number}: t: {parsed.t} is outside ikesim's clock (0 to {MAX_TIME:.0f} s)")
        elif parsed.seq != read:
            problems.append(f"line {number}: seq: {parsed.seq}, expected {read}")
        elif (
            header is not None
            and (
                stranger := _stranger(parsed, protocols)
                or _unknown_value(parsed)
                or _unknown_message(parsed, protocols)
                or _bad_detail(parsed)
            )
            is not None
        ):
            problems.append(f"line {number}: {stranger}")
        else:
            records.append(parsed)
    if number == 0:
        problems.append("empty: a trace starts with its header line")
    if header is not None and not problems and header[0]["events"] != len(records):
        problems.append(f"header: events: says {header[0]['events']}, the file has {len(records)}")
    if problems or header is None:
        raise TraceError(source, problems)
    data, peers = header
    parents: dict[str, str] = {}
    for e in records:
        parent = getattr(e, "parent", None)
        if parent is not None and e.sa is not None:
            parents[e.sa] = parent
    return Trace(
        data["scenario"],
        data["seed"],
        peers,
        description=data["description"],
        end=float(data["end"]),
        truncated=data["truncated"],
        parents=parents,
        records=records,
    )


MAX_LINE = 1 << 20  # no trace line ikesim writes comes near a mebibyte


def load_trace(path: str | Path) -> Trace:
    """Read a JSONL trace saved by ``ikesim run --format jsonl`` (or ``fixtures``)."""
    source = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            lines: list[str] = []
            while True:
                line = f.readline(MAX_LINE + 1)
                if not line:
                    break
                if len(line) > MAX_LINE:
                    raise TraceError(source, [f"line {len(lines) + 1}: longer than {MAX_LINE} characters"])
                lines.append(line)
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(source, [f"cannot read it: {error}"]) from None
    return read_trace(lines, source)
