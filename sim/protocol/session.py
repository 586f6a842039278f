"""Sessions and endpoints: the protocol core that drives the tables, with no I/O and no clock.

An :class:`Endpoint` is one peer's IKE service. It is told the time (``now``) with every call
and never reads a clock. What it does that the world must see (send a message, change state,
report an outcome) it tells its :class:`EffectSink`, a typed interface that the simulator and the
live responder each implement. Its timers are pulled, as aioquic does it: a session says when it
next needs to be woken (:meth:`Session.next_deadline`); when that comes earlier than the wake-up
it has asked for, the sink hears it (:meth:`EffectSink.timers_changed`), and the driver calls
:meth:`Endpoint.handle_timer` at that time.
A :class:`Session` is one SA negotiation at one peer: a lean ``__slots__`` object whose state
changes only through its table. What differs between IKEv1, AuthIP and IKEv2 comes from the
endpoint's :class:`~sim.protocol.spec.ProtocolSpec` and from session subclasses with the
protocol's own actions.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sim.codes import IkeCode
from sim.conditions import CORRUPTION_CONDITIONS, Condition, ConditionInfo
from sim.enums import DropCause, FailurePoint, Role, state_wire_name
from sim.protocol.checks import pool_address
from sim.protocol.exchanges import ESTABLISHED
from sim.protocol.policy import Policy
from sim.protocol.profiles import ResponderRules
from sim.protocol.schedule import Schedule
from sim.protocol.spec import ProtocolSpec
from sim.protocol.table import PARENT, VERDICT, CompiledTable, Ends, IllegalInput, Row, Table
from sim.protocol.words import number

if TYPE_CHECKING:
    from sim.protocol.ikev2 import Ikev2Payload

INF = math.inf
MS_NOTIFY_STATUS = 12345  # Windows' private notify whose data is the failure status ([MS-IKEE] 2.2.7)
EVERY_REPLY = ResponderRules()  # a responder that resends every reply (Windows), with no half-open timeout


class EffectSink(Protocol):
    """What an endpoint's driver does with its effects, each the moment it happens, in order."""

    def send(self, session: Session, msg: Message, attempt: int) -> None:
        """Put a message on the wire: ``attempt`` 0 is the first send, n the n-th resend, -1 an answer."""

    def transition(self, session: Session, source: str, dest: str, trigger: str) -> None:
        """A session changed state."""

    def outcome(self, outcome: Outcome) -> None:
        """A session reported how it ended."""

    def timer(self, session: Session, name: str, detail: str | None = None) -> None:
        """A timer of the session fired (give_up, probe, expire, rekey, ...); ``detail`` says why, where it helps."""

    def drop(self, endpoint: Endpoint, msg: Message, reason: str, cause: DropCause) -> None:
        """The endpoint would not accept a message."""

    def timers_changed(self, session: Session, wake: float | None) -> None:
        """Wake the session at ``wake`` (None: the time asked for before stands); it may now keep a run going or not.

        Called when the session needs an earlier wake-up, or a later one once it waits for nothing
        (its SA is up: the wake-up it asked for while negotiating would find nothing to do), or when
        whether it keeps a run going (:meth:`Session.keeps_run_going`, then ``session.told``) has
        changed since the driver last heard of it. A driver calls :meth:`Endpoint.handle_timer` at
        ``wake``; a wake-up that a later call superseded is harmless (the endpoint ignores it, and
        a driver may skip it: it is superseded when ``session.wake_at`` is later than its time).
        """


class Recorder:
    """An :class:`EffectSink` that keeps every effect as a tuple, for tests and benchmarks."""

    __slots__ = ("effects",)

    def __init__(self) -> None:
        self.effects: list[tuple[Any, ...]] = []

    def send(self, session: Session, msg: Message, attempt: int) -> None:
        """Keep it."""
        self.effects.append(("send", session, msg, attempt))

    def transition(self, session: Session, source: str, dest: str, trigger: str) -> None:
        """Keep it."""
        self.effects.append(("transition", session, source, dest, trigger))

    def outcome(self, outcome: Outcome) -> None:
        """Keep it."""
        self.effects.append(("outcome", outcome))

    def timer(self, session: Session, name: str, detail: str | None = None) -> None:
        """Keep it."""
        self.effects.append(("timer", session, name))

    def drop(self, endpoint: Endpoint, msg: Message, reason: str, cause: DropCause) -> None:
        """Keep it."""
        self.effects.append(("drop", endpoint.name, msg, reason, cause))

    def timers_changed(self, session: Session, wake: float | None) -> None:
        """Keep it."""
        self.effects.append(("timers", session, wake))


_TRIGGERS: dict[str, str] = {}


def _trigger_of(name: str) -> str:
    """The input a message is to its receiver: ``MM3`` -> ``recv_MM3``, ``INFO DELETE`` -> ``recv_DELETE``."""
    trigger = "recv_" + name.removeprefix("INFO ").replace("-", "_").replace(" ", "_")
    _TRIGGERS[name] = trigger  # one string per message name, not one per message
    return trigger


class Message:
    """One IKE message in flight; ``body`` is the sender's policy (it stands for the payloads)."""

    __slots__ = ("body", "child", "condition", "corrupt", "detail", "fresh", "ikev2", "name", "origin", "parent",
                 "receiver", "sa", "sender", "trigger", "unreadable")  # fmt: skip

    def __init__(
        self,
        name: str,
        sa: str,
        sender: str,
        receiver: str,
        body: Policy,
        parent: str | None = None,
        condition: Condition | None = None,
        trigger: str | None = None,
        origin: Session | None = None,
    ) -> None:
        self.name = name
        # The session that sent it, where it was made from one: its endpoint's name, its label and its
        # peer are this message's sender, SA and receiver (a trace may keep the session for all three).
        self.origin = origin
        self.trigger = trigger or (_TRIGGERS[name] if name in _TRIGGERS else _trigger_of(name))
        self.sa = sa
        self.sender = sender
        self.receiver = receiver
        self.body = body
        self.parent = parent
        self.condition = condition  # the reason a notify or a delete carries
        self.corrupt: str | None = None
        # New content under a name already sent (a fresh key exchange or nonce, encrypted anew): not a retransmission.
        self.fresh = False
        self.unreadable: str | None = None  # why its receiver cannot decrypt it, whatever its keys
        self.child: str | None = None  # the child SA this message negotiates (IKEv2 IKE_AUTH)
        self.detail: str | None = None  # what a trace shows of its payloads (a notify, an address)
        self.ikev2: Ikev2Payload | None = None  # what an IKEv2 message carries beyond its name

    def copy(self) -> Message:
        """A separate copy (a corrupted or replayed message must not change the original)."""
        twin = Message(self.name, self.sa, self.sender, self.receiver, self.body, self.parent, self.condition,
                       self.trigger, self.origin)  # fmt: skip
        twin.corrupt, twin.child, twin.detail, twin.ikev2 = self.corrupt, self.child, self.detail, self.ikev2
        twin.fresh, twin.unreadable = self.fresh, self.unreadable
        return twin

    def __repr__(self) -> str:
        return f"<{self.name} {self.sa} {self.sender}->{self.receiver}>"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A terminal report: one per negotiation per peer, and one more when an established SA ends."""

    t: float
    peer: str
    role: Role
    sa: str
    exchange: str
    condition: Condition
    code: IkeCode
    failure_point: FailurePoint
    state: str
    ends: Ends
    remote: str  # the peer on the other side of the SA
    parent: str | None = None  # the SA a child SA was negotiated under


@dataclass(frozen=True, slots=True, eq=False)
class OutcomeKind:
    """What a report says, apart from who made it, when, and about which SA: one object per combination.

    Made only by :func:`outcome_kind`, which keeps one of each, so that a run of a million
    negotiations holds a handful of these, not an :class:`Outcome` per report.
    """

    role: Role
    exchange: str
    condition: Condition
    code: IkeCode
    failure_point: FailurePoint
    state: str
    ends: Ends
    number: int = 0  # its number (sim.protocol.words), what a trace event keeps of it

    def core(self, t: float, peer: str, sa: str, remote: str, parent: str | None) -> Outcome:
        """The full report of one peer about one SA."""
        return Outcome(t, peer, self.role, sa, self.exchange, self.condition, self.code, self.failure_point,
                       self.state, self.ends, remote, parent)  # fmt: skip


# Enum members the hot path reads, as module names: on CPython 3.11 ``Role.RESPONDER`` costs a lookup
# through the enum class each time (70 ns), a module name almost nothing.
INITIATOR, RESPONDER = Role.INITIATOR, Role.RESPONDER
LOCAL_FAULT = Condition.LOCAL_FAULT
NEGOTIATION = Ends.NEGOTIATION

_OUTCOME_KINDS: dict[tuple[Any, ...], OutcomeKind] = {}
_WIRE_NAMES: dict[int, str] = {}
# (id of a row with a fixed report, its table, the source state, the role) -> what the report says
_FIXED_KINDS: dict[tuple[int, str, str, Role], OutcomeKind] = {}
_SHOWN: dict[tuple[str, str, str | None], str] = {}


def _shown_state(table: Table, source: str, dest: str | None) -> str:
    """The IKEEXT state a report shows: where the row leaves the session, or where it was if that is terminal."""
    key = (table.name, source, dest)
    name = _SHOWN.get(key)
    if name is None:
        shown = table.state(source if dest is None else dest)
        state = shown if not shown.terminal else table.state(source)
        assert state.ikeext is not None
        name = _SHOWN[key] = _wire_name(state.ikeext)
    return name


def _wire_name(state: Any) -> str:
    """The C name of an IKEEXT state, made once per state (keyed by the member: states of two enums compare equal)."""
    name = _WIRE_NAMES.get(id(state))
    if name is None:
        name = _WIRE_NAMES[id(state)] = state_wire_name(state)
    return name


def outcome_kind(
    role: Role, exchange: str, condition: Condition, code: int, point: FailurePoint, state: str, ends: Ends
) -> OutcomeKind:
    """The one :class:`OutcomeKind` of this combination."""
    key = (role, exchange, id(condition), code, point, state, ends)  # id: a plain Enum hashes in Python
    kind = _OUTCOME_KINDS.get(key)
    if kind is None:
        kind = _OUTCOME_KINDS[key] = OutcomeKind(role, exchange, condition, IkeCode(code), point, state, ends)
        object.__setattr__(kind, "number", number(kind))  # frozen: numbered once, as it is made
    return kind


class Session:
    """One SA negotiation (and, once established, the SA) at one peer."""

    __slots__ = (
        "_children",
        "alarms",
        "compiled",
        "deadline",
        "ended_with",
        "endpoint",
        "expires_at",
        "heard",
        "label",
        "last_sent",
        "parent",
        "peer",
        "resend_index",
        "role",
        "schedule",
        "sent_at",
        "state",
        "told",
        "twin",
        "verdict",
        "waiting",
        "wake_at",
    )

    def __init__(
        self, endpoint: Endpoint, compiled: CompiledTable, label: str, role: Role, peer: str, parent: Session | None
    ) -> None:
        self.endpoint = endpoint
        self.compiled = compiled
        self.label = label
        self.role = role
        self.peer = peer
        self.parent = parent
        self.state = compiled.table.initial
        self.heard = role is RESPONDER or parent is not None  # under an established SA, the peer was heard
        # What it sent last, to send again: the message, or only its name where the name makes it again
        # (a plain message of a protocol that decorates none: last_message() does), None before it sent any.
        self.last_sent: Message | str | None = None
        self.sent_at = 0.0
        self.resend_index = 0
        self.schedule: Schedule | None = None  # when its last message is sent again, and when it gives up
        self.deadline = INF
        self.waiting = False
        self.expires_at = INF
        self.verdict: Condition | None = None
        self.ended_with: Condition | None = None  # the condition of its last report
        self.alarms: list[tuple[float, str, bool]] | None = None  # (when, trigger, background), in order
        self.wake_at = INF  # the wake-up it has asked its driver for: it asks again only for an earlier one
        self.told = False  # whether its driver last heard that it keeps a run going
        # Its child SAs, in the order they began: the one itself while it has one (most SAs), then a tuple.
        self._children: Session | tuple[Session, ...] | None = None
        # The peer's session of this SA, where the driver has found it (its cache of the SPI lookup: a
        # message then goes to it without a search through a million peers and their SAs); the session
        # itself once it has left its endpoint's table (then nothing links to it again). See link_twins().
        self.twin: Session | None = None

    @property
    def children(self) -> tuple[Session, ...] | None:
        """Its child SAs, in the order they began; None before the first."""
        kept = self._children
        return kept if kept is None or isinstance(kept, tuple) else (kept,)

    @property
    def table(self) -> Table:
        """The machine this session runs."""
        return self.compiled.table

    @property
    def ended(self) -> bool:
        """True once the session is in a terminal state."""
        return self.state in self.compiled.terminal

    @property
    def established(self) -> bool:
        """True while the SA is up."""
        return self.state in ESTABLISHED

    def last_message(self) -> Message | None:
        """The last message it sent, made again from its name where only that was kept; None before it sent any."""
        last = self.last_sent
        if last is None or not isinstance(last, str):
            return last
        return self.endpoint.make_message(self, last)

    @property
    def last_name(self) -> str | None:
        """The name of the last message it sent, or None."""
        last = self.last_sent
        return last if last is None or isinstance(last, str) else last.name

    def next_deadline(self) -> float:
        """When this session next needs to be woken (its retransmission, lifetime or alarm); INF: never."""
        first = self.deadline if self.deadline < self.expires_at else self.expires_at
        if self.alarms and self.alarms[0][0] < first:
            return self.alarms[0][0]
        return first

    def keeps_run_going(self) -> bool:
        """True while it waits for an answer or for a foreground alarm (a NAP remediation)."""
        return self.waiting or (self.alarms is not None and any(not background for _, _, background in self.alarms))

    def fire(self, trigger: str, msg: Message | None = None) -> Row:
        """Apply one input through the compiled table."""
        return self.compiled.fire(self, trigger, msg)

    # --- called by the executors -------------------------------------------------------------

    def on_transition(self, source: str, row: Row, trigger: str) -> None:
        """Record a change of state (internal transitions are not recorded)."""
        if row.dest is not None and row.dest != source:
            self.endpoint.sink.transition(self, source, row.dest, trigger)

    def guard_ok(self, msg: Message | None) -> bool:
        """True when the input passes every check; the failed check is kept as the verdict.

        The checks are :meth:`Endpoint.check`'s, written out here: this guard runs on every input.
        """
        ep = self.endpoint
        protocol = ep.protocol
        received: str | None
        if msg is not None:
            received = msg.name
            sending = protocol.next_message.get(msg.name)
            if msg.corrupt:  # a damaged first message a responder opened an SA for (_opens_damaged)
                self.verdict = CORRUPTION_CONDITIONS[msg.corrupt]
                return False
        else:
            received = None
            sending = protocol.first_sent.get(self.compiled.table.name)
        faults = ep.local_faults
        if faults:
            for name in (received, sending):
                if name is not None and name in faults:
                    ep.local_codes[self] = faults[name]
                    self.verdict = Condition.LOCAL_FAULT
                    return False
        self.verdict = verdict = protocol.check(ep, self, msg, received, sending)
        return verdict is None

    def guard_accepted(self, msg: Message | None) -> bool:
        """True when the peer's answer carries no failure (a notify travels as ``msg.condition``)."""
        return msg is None or msg.condition is None

    def guard_parent_ended(self, msg: Message | None) -> bool:
        """True once the parent SA has ended (and so has a reason its children can report)."""
        return self.parent is not None and self.parent.ended and self.parent.ended_with is not None

    def guard_stateless(self, msg: Message | None) -> bool:
        """True when the check that just failed refuses a first message without keeping state."""
        return self.verdict in self.endpoint.protocol.stateless

    def guard_duplicate(self, msg: Message | None) -> bool:
        """True unless the input has new content: only the same message again is a retransmission."""
        return msg is None or not msg.fresh

    def guard_stale_deletes(self, msg: Message | None) -> bool:
        """A request of an earlier step while negotiating, where the implementation ends the SA for it (strongSwan)."""
        if self.endpoint.responder.stale != "delete" or self.established:
            return False
        self.verdict = Condition.INVALID_PAYLOAD
        return True

    def guard_stale_notifies(self, msg: Message | None) -> bool:
        """A request of an earlier step with new content, which the implementation answers with an error (libreswan)."""
        if self.endpoint.responder.stale != "notify" or msg is None or not msg.fresh:
            return False
        self.verdict = Condition.INVALID_PAYLOAD
        return True

    def guard_stale_quick(self, msg: Message | None) -> bool:
        """A QM3 of a quick mode already complete, where the implementation answers it with an error (strongSwan)."""
        if self.endpoint.responder.stale != "delete":
            return False
        self.verdict = Condition.INVALID_PAYLOAD
        return True

    def guard_heard(self, msg: Message | None) -> bool:
        """True once the peer has answered in this negotiation."""
        return self.heard

    def act_send(self, name: str, msg: Message | None, source: str, row: Row) -> None:
        """Send a message that expects an answer, and arm its retransmission timer."""
        ep = self.endpoint
        parent = self.parent
        out = Message(name, self.label, ep.name, self.peer, ep.policy, parent.label if parent is not None else None,
                      origin=self)  # fmt: skip
        decorate = ep.protocol.decorate  # what Endpoint.make_message does, without the call
        if decorate is not None:
            decorate(ep, self, out, msg)
            self.last_sent = out
        else:  # a plain message: its name makes it again (last_message()), and the message itself is not kept
            self.last_sent = name
        ep.sink.send(self, out, 0)
        schedule = ep.schedule
        if schedule is not None and (
            schedule.variant is not None or (self.role is RESPONDER and self.state not in ESTABLISHED)
        ):
            schedule = ep.schedule_for(self, name)  # else it is the endpoint's own: schedule_for() would say so
        self.schedule = schedule
        if schedule is not None:
            self.sent_at = now = ep.now
            self.resend_index = 0
            self.waiting = True
            self.deadline = now + (schedule.resend_at[0] if schedule.resend_at else schedule.give_up_at)
            ep.timers_changed(self)

    def act_reply(self, name: str, msg: Message | None, source: str, row: Row) -> None:
        """Send the last message of a negotiation; kept, to answer a duplicate of what it answers.

        It stops waiting for an answer, and leaves a timer the established SA has armed (liveness).
        """
        ep = self.endpoint
        if self.waiting:
            self.act_disarm("", msg, source, row)
        parent = self.parent
        out = Message(name, self.label, ep.name, self.peer, ep.policy, parent.label if parent is not None else None,
                      origin=self)  # fmt: skip
        decorate = ep.protocol.decorate
        if decorate is not None:
            decorate(ep, self, out, msg)
            self.last_sent = out
        else:
            self.last_sent = name
        ep.sink.send(self, out, 0)

    def act_answer(self, name: str, msg: Message | None, source: str, row: Row) -> None:
        """Answer a request (a liveness check) without touching this session's own timers."""
        ep = self.endpoint
        ep.sink.send(self, ep.make_message(self, name, msg), 0)

    def act_resend(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Answer a duplicate request with our last message again; timers are unchanged."""
        last = self.last_message()
        if last is not None:
            self.endpoint.sink.send(self, last, -1)

    def act_retransmit(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """The retransmission timer fired: send the last message again and wait for the next offset."""
        schedule = self.schedule
        last = self.last_message()
        assert last is not None and schedule is not None
        self.resend_index += 1
        self.endpoint.sink.send(self, last, self.resend_index)
        i = self.resend_index
        self._arm(self.sent_at + (schedule.resend_at[i] if i < len(schedule.resend_at) else schedule.give_up_at))

    def act_disarm(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Stop waiting for an answer."""
        self.waiting = False
        if self.deadline != INF:
            self.deadline = INF
            self.endpoint.timers_changed(self)

    def act_notify(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Tell the peer why we rejected, where the protocol has a notify for it.

        The notify type says what it says (a peer that receives it reports that); a Windows peer
        adds MS_NOTIFY_STATUS with the status itself, for a peer that announced Windows ([MS-IKEE]
        2.2.7), and only that peer learns the real reason.
        """
        ep = self.endpoint
        verdict = self.verdict
        notify = ep.protocol.notify_types.get(verdict) if verdict is not None else None
        if notify is not None and verdict is not None:
            name, trigger = ep.protocol.notify_message(self, msg)
            status = (
                ep.windows and msg is not None and msg.sender in ep.windows_peers and verdict.value.code is not None
            )
            said = verdict if status else notify[2]
            out = Message(name, self.label, ep.name, self.peer, ep.policy, condition=said, trigger=trigger, origin=self)
            out.detail = f"N({notify[0]})"
            if status and notify[1] != MS_NOTIFY_STATUS:
                out.detail += f" N(MS_NOTIFY_STATUS {int(verdict.value.code or 0)})"
            if ep.protocol.decorate is not None:
                ep.protocol.decorate(ep, self, out, msg)  # a notify's data (the group INVALID_KE_PAYLOAD wants)
            if msg is not None and msg.corrupt and ep.protocol.payloads.get(msg.name, "").startswith("HDR*"):
                # IKEv1 chains CBC IVs: this notify's IV comes from the damaged ciphertext, which the
                # peer never sent, so it decrypts to garbage there (measured: charon ignores it).
                out.unreadable = "its IV follows a damaged message the sender never sent"
            ep.sink.send(self, out, 0)

    def act_refuse_statelessly(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Refuse a first message and forget it: answer it where the protocol says so, or drop it.

        The request may come again and be accepted (a returned cookie, the wanted group, a
        retransmission after the rate-limit window). The refusal's code is in the drop's reason:
        the negotiation has not ended, so it is not an outcome.
        """
        ep = self.endpoint
        verdict = self.verdict
        assert verdict is not None and msg is not None
        answered = ep.protocol.stateless[verdict]
        code = verdict.value.code
        assert code is not None
        why = f"{int(code)} {code.name}: {verdict.value.text}; {'answered, ' if answered else ''}no state kept"
        ep.sink.drop(ep, msg, why, DropCause.REFUSED)
        if answered:
            self.act_notify(arg, msg, source, row)
        ep.forget(self)

    def act_delete(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Tell the peer we deleted this SA (one-way), with the reason it will report."""
        ep = self.endpoint
        name, trigger = ep.protocol.delete_message
        reason = row.report if isinstance(row.report, Condition) else None
        if reason not in (Condition.NAP_REAUTH_SUCCEEDED, Condition.SIMULTANEOUS_REKEY):
            reason = Condition.QM_EXPIRED if self.table.sa_kind == "child" else Condition.MM_EXPIRED
        out = Message(name, self.label, ep.name, self.peer, ep.policy, condition=reason, trigger=trigger, origin=self)
        out.detail = "D"
        ep.sink.send(self, out, 0)

    def act_report(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Report the outcome this row stands for."""
        self.endpoint.report(self, source, row, msg)

    def act_establish(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """The SA is up: start its lifetime, its liveness checks, and what the initiator does next."""
        self.endpoint.on_established(self)

    def act_idle(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """A liveness check was answered: wait for the next one."""
        self.endpoint.arm_liveness(self)

    def act_parent_dead(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """A negotiation under an SA found the peer dead: that SA is assumed invalid."""
        parent = self.parent
        if parent is not None and parent.established:
            parent.fire("peer_dead")

    def act_end_children(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Where child SAs go with their parent (IKEv2), end them for the parent's reason."""
        if not self.endpoint.protocol.children_end_with_parent or not self.children:
            return
        for child in self.children:
            if not child.ended and (child.state, "parent_gone") in child.compiled.index:
                child.fire("parent_gone")

    def _arm(self, when: float) -> None:
        self.deadline = when
        self.endpoint.timers_changed(self)


# The end of the last child SA and of the last main SA that came up: the next that ends then shares it.
_LAST_EXPIRY = [math.nan, math.nan]

_NOT_A_STRING = object()


def hash_keeping_dict() -> dict[Any, Any]:
    """An empty dict that keeps each key's hash beside the key: for tables of millions of string keys.

    CPython keeps a dict whose keys are all strings without their hashes, and reads a key's string
    for its hash at each collision of a search. In a table of millions of SA labels or peer names,
    whose strings lie all over the heap, that is one more cache miss per probe. A dict that has
    held a key of another type keeps the hashes (8 bytes an entry more) and compares them first.
    It is an ordinary dict in every other way (its order, its equality). Fill it by inserting:
    ``update()`` from a dict, while it is still empty, copies that dict's layout, hashes lost.
    """
    table: dict[Any, Any] = {_NOT_A_STRING: None}
    del table[_NOT_A_STRING]
    return table


# Shared empty containers for endpoints that never need their own (see Endpoint.__init__): never written.
_NEVER_WRITTEN: dict[Any, Any] = {}
_NOTHING_HALF_OPEN: set[str] = set()
_NO_ADDRESSES: list[int] = []


class Endpoint:
    """One peer's IKE service: its policy, its sessions by SA label, and the sink of its effects.

    ``local_faults`` are faults of the peer's own machine (message name -> the code it reports):
    they come from the scenario's faults, not from the policy, which is what the peer is configured with.

    An endpoint made alone (``Endpoint(name, configuration)``) keeps its configuration itself. The instances of one
    scenario peer share theirs (:meth:`sharing`): it is then a class attribute of one class made for
    them, and an endpoint keeps only its own state (its name, its clock, its sessions, its limits'
    counts): a fleet's million clients save 104 bytes each.
    """

    __slots__ = ("established_by_peer", "first_seen", "free_addresses", "half_open", "healthy", "leases", "name",
                 "now", "opened_at", "sessions")  # fmt: skip

    # Its configuration, declared here alone: slots of an endpoint made alone (StandaloneEndpoint), class
    # attributes of a shared one (sharing()); EndpointConfiguration.attributes() gives each.
    compiled: dict[str, CompiledTable]
    labels: Callable[[str], str]  # allocates globally unique SA labels such as "QM#3"
    local_faults: Mapping[str, IkeCode]
    # The code of the local fault that stopped each session one stopped (few do: not a slot of every session).
    local_codes: dict[Session, IkeCode]
    # The sink's fast hooks, where it has them (the simulator's): a transition as the number of the
    # compiled row's move, and an outcome as its interned kind, with no object made per report. A sink
    # that has them keeps them as attributes (record_move, record_outcome_kind), so that every endpoint
    # shares one bound method; a sink without them hears transition() and outcome().
    moved: Callable[[Session, int], None] | None
    policy: Policy
    protocol: ProtocolSpec
    reported: Callable[[Session, OutcomeKind, str | None], None] | None
    responder: ResponderRules  # what its implementation's responder resends on its own
    schedule: Schedule | None
    seed: int  # the run's seed: random parts of retransmission schedules are drawn from it
    sink: EffectSink
    windows: bool  # a Windows peer: its vendor IDs say so, and it tells Windows peers the status
    windows_peers: AbstractSet[str]  # the peers whose vendor IDs say Windows

    def __new__(cls, *args: Any, **kwargs: Any) -> Endpoint:
        """An endpoint made alone is one that keeps its configuration itself."""
        return object.__new__(StandaloneEndpoint if cls is Endpoint else cls)

    def __init__(self, name: str, configuration: EndpointConfiguration) -> None:
        self._configure(configuration.attributes())
        self._begin(name)

    def _configure(self, attributes: dict[str, Any]) -> None:
        for field, value in attributes.items():
            setattr(self, field, value)

    @staticmethod
    def sharing(configuration: EndpointConfiguration, instances: int = 2) -> Callable[[str], Endpoint]:
        """A maker of endpoints (given their names) that share ``configuration``, one class's attributes.

        For a peer of one instance, nothing is shared: its endpoint keeps the configuration in its own
        slots, which read faster than class attributes (a gateway reads its policy at every message).
        """
        attributes = configuration.attributes()
        if instances == 1:

            def alone(name: str) -> Endpoint:
                endpoint: Endpoint = object.__new__(StandaloneEndpoint)
                endpoint._configure(attributes)
                endpoint._begin(name)
                return endpoint

            return alone
        shared = type("SharedEndpoint", (Endpoint,), {"__slots__": (), **attributes})

        def make(name: str) -> Endpoint:
            endpoint: Endpoint = object.__new__(shared)
            endpoint._begin(name)
            return endpoint

        return make

    def _begin(self, name: str) -> None:
        """Its own state, empty: what it has once configured (and again after a crash)."""
        self.name = name
        self.sessions: dict[str, Session] = self._new_table()
        self.now = 0.0
        policy = self.policy
        # What only some peers need is made only for them; the others share one empty container that
        # nothing writes (a peer of a million has no rate limit, no address pool, nothing half open).
        # Established main-mode SAs per peer: counted only where max_mm_per_peer reads the count.
        self.established_by_peer: dict[str, int] = {} if policy.max_mm_per_peer is not None else _NEVER_WRITTEN
        # First messages per peer in the last second: kept only where rate_limit reads them.
        self.first_seen: dict[str, deque[float]] = {} if policy.rate_limit is not None else _NEVER_WRITTEN
        # Responder negotiations between a first message accepted and their end: made at the first (admit()).
        self.half_open: set[str] = _NOTHING_HALF_OPEN
        # When each SA it answered opened (not a child SA): kept only where half_open_timeout reads it (strongSwan's).
        self.opened_at: dict[Session, float] = {} if self.responder.half_open_timeout is not None else _NEVER_WRITTEN
        pool = policy.address_pool or 0
        self.leases: dict[str, int] = {} if pool else _NEVER_WRITTEN  # IKE SA label -> index of its inner address
        self.free_addresses = list(range(pool)) if pool else _NO_ADDRESSES  # a heap: the lowest free address first
        self.healthy = policy.nap_health == "healthy"

    def _new_table(self) -> dict[str, Session]:
        """An empty table of SAs: a plain dict, for an instance of a scenario peer holds a few."""
        return {}

    # --- what the driver calls ---------------------------------------------------------------

    def initiate(self, now: float, table: str, peer: str, parent: Session | None = None, **state: object) -> Session:
        """Start a negotiation as initiator; ``state`` sets protocol fields of the session first (``rekeys=...``)."""
        self.now = now
        compiled = self.compiled[table]
        label = self.labels(self.protocol.prefixes[table])
        session: Session = compiled.ops(self, compiled, label, INITIATOR, peer, parent)
        for name, value in state.items():  # a slot of the protocol's Session class: a wrong name fails here
            setattr(session, name, value)
        self.sessions[session.label] = session
        if parent is not None:
            self.adopt(parent, session)
        session.fire("start")
        return session

    def receive(self, now: float, msg: Message, session: Session | None = None) -> Session | None:
        """Handle one message that arrived from the network; the session that took it (None: none did).

        ``session``: the one this endpoint's table holds under ``msg.sa``, where the driver knows it
        (:func:`link_twins`): the table is not searched.

        A damaged datagram is dropped and audited, and the negotiation keeps its state, as real
        stacks do (reference/real-implementations.md 2): a clean retransmission can still
        complete it. The drop names the code of the damaged part. Where the profile says so
        (the learned models, reference/vpn-al), a malformed payload also gets an error notify, and
        a malformed first message opens a negotiation only to reject it.
        """
        self.now = now
        if msg.unreadable:
            self._drop_damaged(msg, f"cannot decrypt it: {msg.unreadable}")
            return None
        if msg.corrupt and not self._rejects_malformed_first(msg):
            self._drop_damaged(msg, f"damaged {msg.corrupt}")
            if self.responder.notifies_damaged and msg.corrupt == "payload":
                self._notify_damaged(msg)
            return None
        if session is None:
            session = self.sessions.get(msg.sa)
        protocol = self.protocol
        if (
            session is not None
            and self.responder.forgets_ended
            and session.state in session.compiled.terminal  # session.ended, without the call
            and msg.name != protocol.delete_answer
        ):
            if not self._forgets(msg):  # the implementation deleted that SA: its label names nothing any more
                self.sink.drop(self, msg, f"no SA {msg.sa} here (deleted when it ended)", DropCause.NO_SA)
                return session
            session.twin = session  # it leaves the table: a new negotiation takes its label
            session = None
        if session is None:
            session = self._open(msg)
            if session is None:
                return None
        if (
            protocol.keys_from_psk
            and session.last_sent is not None
            and msg.body.psk != self.policy.psk  # else _unreadable() is False: the keys agree
            and self._unreadable(session, msg)
        ):
            self._drop_damaged(msg, "cannot decrypt it, the keys differ (a wrong pre-shared key)")
            if msg.trigger != "recv_NOTIFY":
                self._notify_damaged(msg)  # encrypted with its own keys: the peer cannot read it either
            return session
        session.heard = True
        if msg.name == protocol.delete_answer and session.ended:
            return session  # the answer to our delete: the SA is already gone
        try:  # CompiledTable.fire(), without the call
            step = session.compiled.steps[session.state][msg.trigger]
        except KeyError:
            self.sink.drop(self, msg, f"not accepted in state {session.state}", DropCause.REFUSED)
            return session
        try:
            step(session, msg)
        except IllegalInput as refused:  # no guard of its rows holds
            self.sink.drop(self, msg, f"not accepted in state {refused.state}", DropCause.REFUSED)
        return session

    def handle_timer(self, now: float, session: Session) -> None:
        """The wake-up the session asked for has come: handle its alarms, then its lifetime, then its deadline.

        A driver may call it late (a real clock); a superseded wake-up is ignored. What is not due
        yet stays, and the session asks for its next wake-up.
        """
        if session.wake_at > now:
            return  # superseded: it has been woken for that, and asked for a later time since
        session.wake_at = INF
        self.now = now
        while session.alarms and session.alarms[0][0] <= now:
            _, trigger, _ = session.alarms.pop(0)
            if not session.alarms:
                session.alarms = None
            self._on_alarm(session, trigger)
        if session.expires_at <= now:
            session.expires_at = INF
            if not session.ended:
                self.sink.timer(session, "expire")
                session.fire("expire")
        if session.deadline <= now:
            self._on_deadline(session)
        self.timers_changed(session)

    def timers_changed(self, session: Session) -> None:
        """Ask the driver for an earlier wake-up if the session needs one; tell it whether it keeps the run going.

        The driver hears of it only when something it keeps changed: an earlier wake-up, or whether the
        session keeps a run going (:meth:`Session.keeps_run_going`) since it last heard.
        """
        when = session.deadline if session.deadline < session.expires_at else session.expires_at  # next_deadline()
        alarms = session.alarms
        if alarms and alarms[0][0] < when:
            when = alarms[0][0]
        keeps = session.waiting or (alarms is not None and any(not background for _, _, background in alarms))
        asked, changed = session.wake_at, keeps != session.told
        session.told = keeps  # before the sink hears of it: what it reads
        if when < asked or (not keeps and asked < when):
            # An earlier wake-up; or one for a session that waits for nothing now (its SA is up) and would be
            # woken for nothing: it asks for the time it needs instead, and the driver skips the other.
            session.wake_at = when
            self.sink.timers_changed(session, when if when < INF else None)
        elif changed:  # else the driver knows all it would hear
            self.sink.timers_changed(session, None)

    def _on_deadline(self, session: Session) -> None:
        """The session's deadline has come: retransmit, give up, or check liveness."""
        session.deadline = INF
        if session.ended:
            return
        if not session.waiting:
            self.sink.timer(session, "probe")
            session.fire("probe")
            return
        schedule = session.schedule
        assert schedule is not None
        if session.resend_index < len(schedule.resend_at):
            session.fire("retransmit")
        else:
            self.sink.timer(session, "give_up", self._why_give_up(session))
            session.waiting = False
            session.fire("give_up")

    def _why_give_up(self, session: Session) -> str | None:
        """What ends a responder's wait before its schedule does (its implementation's own timeout), if anything."""
        rules = self.responder
        if session.role is not Role.RESPONDER or session.established or session.parent is not None:
            return None
        half_open_ends = self._half_open_ends(session)
        if half_open_ends is not None and self.now >= half_open_ends - 1e-9:
            return f"half-open SA dropped after half_open_timeout ({rules.half_open_timeout:g} s)"
        unresent = (
            session.last_name is not None and rules.resends is not None and session.last_name not in rules.resends
        )
        if unresent and rules.discard_unresent_after is not None:
            return f"state discarded {rules.discard_unresent_after:g} s after its {session.last_name}, never resent"
        return None

    def _on_alarm(self, session: Session, trigger: str) -> None:
        """A time the session asked for has come (a rekey, a NAP remediation)."""
        if not session.ended and (session.state, trigger) in session.compiled.index:
            self.sink.timer(session, trigger.replace("_", " "))
            session.fire(trigger)

    def fire_all(self, now: float, trigger: str) -> None:
        """Apply an input to every SA that accepts it, in the order they began (deletes, address changes)."""
        self.now = now
        for session in list(self.sessions.values()):
            if not session.ended and (session.state, trigger) in session.compiled.index:
                session.fire(trigger)

    # --- what sessions call ------------------------------------------------------------------

    def _unreadable(self, session: Session, msg: Message) -> bool:
        """True for a message under phase-1 keys that are not ours (pre-shared keys that differ), unusable here.

        That is a notify, or any encrypted request at an implementation that cannot tell a wrong
        key from a malformed payload (strongSwan: "decryption failed?"). A notify answering an
        encrypted message is encrypted with the same keys (an informational exchange under the
        phase-1 SA; the payload specs mark encryption with ``HDR*``). Other implementations take
        an MM5 they cannot decrypt for an authentication failure (13801).
        """
        last = session.last_name
        assert last is not None
        sender, mine = msg.body, self.policy
        if not (sender.auth == mine.auth == "psk" and sender.psk != mine.psk):
            return False
        payloads = self.protocol.payloads
        if msg.trigger == "recv_NOTIFY":
            return payloads.get(last, "").startswith("HDR*")
        return self.responder.notifies_damaged and payloads.get(msg.name, "").startswith("HDR*")

    def _forgets(self, msg: Message) -> bool:
        """True for a first message naming an SA this implementation has ended and so deleted (strongSwan)."""
        return self.responder.forgets_ended and msg.parent is None and msg.name in self.protocol.first_messages

    def _rejects_malformed_first(self, msg: Message) -> bool:
        """True for a first message with a malformed payload that this implementation opens an SA for, to reject it."""
        if not self.responder.rejects_damaged_first or msg.corrupt != "payload":
            return False
        if msg.parent is not None or msg.name not in self.protocol.first_messages:
            return False
        session = self.sessions.get(msg.sa)
        return session is None or (session.ended and self._forgets(msg))

    def _notify_damaged(self, msg: Message) -> None:
        """Answer a damaged message that a negotiation would take with an error notify, keeping every state.

        That is a message that opens one (under an established SA, for a quick mode), or one that a
        negotiation still under way has a row for in its state.
        """
        session = self.sessions.get(msg.sa)
        if session is None or session.ended:
            parent = self.sessions.get(msg.parent) if msg.parent is not None else None
            table = self.protocol.first_messages.get(msg.name)
            if table is None or (msg.parent is not None and (parent is None or not parent.established)):
                return
            compiled = self.compiled[table]  # a session that answers and is not kept
            session = compiled.ops(self, compiled, msg.sa, Role.RESPONDER, msg.sender, parent)
        elif msg.parent is None and msg.name in self.protocol.first_messages:
            pass  # an MM1 is answered in every state
        elif (session.established and session.table.sa_kind == "main") or (
            session.state, msg.trigger) not in session.compiled.index:  # fmt: skip
            return
        assert session is not None
        session.verdict = CORRUPTION_CONDITIONS[msg.corrupt or "payload"]
        session.act_notify("", msg, session.state, Row("", (), None))

    def _drop_damaged(self, msg: Message, why: str) -> None:
        info = CORRUPTION_CONDITIONS[msg.corrupt or "payload"].value
        assert info.code is not None
        self.sink.drop(self, msg, f"{int(info.code)} {info.code.name}: {why}; dropped, state kept", DropCause.DAMAGED)

    def schedule_for(self, session: Session, name: str) -> Schedule | None:
        """When this session sends message ``name`` again, and gives up, if no answer comes.

        While it negotiates, a responder resends only the replies its implementation resends (an
        IKEv2 responder none, RFC 7296 2.1); it waits for the rest and gives up, drops an SA
        still half open at its implementation's half-open timeout (strongSwan), and drops one
        whose reply it does not resend at its discard delay (libreswan: ``timeout``). Once the SA is up, its own
        requests are resent like anyone's. Random parts are drawn per message, from the seed.
        """
        schedule = self.schedule
        if schedule is None:
            return None
        if schedule.variant is not None:
            schedule = schedule.drawn(f"{self.seed}|{self.name}|{session.label}|{name}")
        if session.role is not RESPONDER or session.state in ESTABLISHED:
            return schedule  # its own requests (a liveness check on an SA it answered) it resends like anyone
        rules = self.responder
        resends = self.protocol.responder_retransmits and (rules.resends is None or name in rules.resends)
        give_up = schedule.give_up_at
        half_open_ends = self._half_open_ends(session) if session.parent is None else None
        if half_open_ends is not None:
            give_up = min(give_up, max(half_open_ends - self.now, 1e-6))
        if not resends and rules.discard_unresent_after is not None:
            give_up = min(give_up, rules.discard_unresent_after)
        if resends and give_up == schedule.give_up_at:
            return schedule
        return Schedule(tuple(t for t in schedule.resend_at if t < give_up) if resends else (), give_up)

    def make_message(self, session: Session, name: str, received: Message | None = None) -> Message:
        """A message of this session to its peer."""
        parent = session.parent.label if session.parent is not None else None
        out = Message(name, session.label, self.name, session.peer, self.policy, parent, origin=session)
        if self.protocol.decorate is not None:
            self.protocol.decorate(self, session, out, received)
        return out

    def check(self, session: Session, msg: Message | None) -> Condition | None:
        """Every check that applies before this input is accepted: None when it passes."""
        protocol = self.protocol
        received = msg.name if msg is not None else None
        sending = (
            protocol.next_message.get(received) if received else protocol.first_sent.get(session.compiled.table.name)
        )
        if msg is not None and msg.corrupt:  # a damaged first message a responder opened an SA for (_opens_damaged)
            return CORRUPTION_CONDITIONS[msg.corrupt]
        faults = self.local_faults
        if faults:
            for name in (received, sending):
                if name is not None and name in faults:
                    self.local_codes[session] = faults[name]
                    return Condition.LOCAL_FAULT
        return protocol.check(self, session, msg, received, sending)

    def admit(self, session: Session, msg: Message, cookie: bool = False) -> Condition | None:
        """The responder's limits on a new negotiation: shutdown, rate, established SAs, half-open load.

        Every first message counts toward the rate limit, whether it is accepted or not. A
        request that returns a DoS cookie (``cookie``) passes the half-open threshold (RFC 7296 2.6).
        """
        policy = self.policy
        now = self.now
        if policy.shutdown_at is not None and now >= policy.shutdown_at:
            return Condition.SHUTTING_DOWN
        if policy.rate_limit is not None:
            seen = self.first_seen.setdefault(msg.sender, deque())
            while seen and now - seen[0] >= 1.0 - 1e-9:  # one second, whatever the float rounding
                seen.popleft()
            if len(seen) >= policy.rate_limit:
                return Condition.RATE_LIMITED
            seen.append(now)
        if policy.max_mm_per_peer is not None and self.established_by_peer.get(msg.sender, 0) >= policy.max_mm_per_peer:
            return Condition.MM_LIMIT
        if policy.dos_threshold is not None and not cookie and len(self.half_open) >= policy.dos_threshold:
            return Condition.DOS_COOKIE_SENT
        if self.half_open is _NOTHING_HALF_OPEN:
            self.half_open = set()
        self.half_open.add(session.label)
        return None

    def report(self, session: Session, source: str, row: Row, msg: Message | None) -> None:
        """Append the outcome a terminal row stands for."""
        point: FailurePoint | None = None
        condition: Condition | None
        fixed: tuple[int, str, str, Role] | None = None
        if isinstance(row.report, Condition):
            condition = row.report
            # What it says follows from the row (of its table), its source and the role.
            fixed = (id(row), session.compiled.table.name, source, session.role)
        elif row.report == VERDICT:
            condition = session.verdict
        elif row.report == PARENT:
            condition = session.parent.ended_with if session.parent is not None else None
        else:  # NOTIFIED: the peer's reason, and the peer is where it failed
            condition = msg.condition if msg is not None else None
            if condition is not None and condition.value.point is not FailurePoint.NONE:
                point = FailurePoint.PEER
        assert condition is not None, (row, session.label)
        session.ended_with = condition
        info: ConditionInfo = condition._value_  # .value, without the enum's descriptor call
        code = self.local_codes[session] if condition is LOCAL_FAULT else info.code
        assert code is not None
        table = session.compiled.table
        if row.ends is NEGOTIATION:
            self.half_open.discard(session.label)
        if self.leases and session.ended:
            self.release_address(session.label)
        kind = _FIXED_KINDS.get(fixed) if fixed is not None else None
        if kind is None:
            kind = outcome_kind(session.role, table.name, condition, code, info.point if point is None else point,
                                _shown_state(table, source, row.dest), row.ends)  # fmt: skip
            if fixed is not None and condition is not LOCAL_FAULT:
                _FIXED_KINDS[fixed] = kind
        parent = session.parent.label if session.parent is not None else None
        if self.reported is not None:
            self.reported(session, kind, parent)
        else:
            self.sink.outcome(kind.core(self.now, self.name, session.label, session.peer, parent))

    def on_established(self, session: Session) -> None:
        """Start an established SA's lifetime and liveness, then the protocol's next step."""
        kind = session.compiled.table.sa_kind
        policy = self.policy
        if kind != "extended":
            main = kind == "main"
            expires = self.now + (policy.mm_lifetime if main else policy.qm_lifetime)
            # SAs that come up at one instant share the float of their end (a fleet's thousand, 24 bytes each).
            last = _LAST_EXPIRY[main]
            if expires == last:
                expires = last
            else:
                _LAST_EXPIRY[main] = expires
            session.expires_at = expires
            self.timers_changed(session)
        if kind == "main":
            if policy.max_mm_per_peer is not None:  # counted only where a limit reads the count
                self.established_by_peer[session.peer] = self.established_by_peer.get(session.peer, 0) + 1
            if policy.liveness_interval is not None:
                self.arm_liveness(session)
        self.protocol.on_established(self, session)

    def arm_liveness(self, session: Session) -> None:
        """Wait the policy's idle interval, then check that the peer is alive."""
        interval = self.policy.liveness_interval
        if interval is not None:
            session.waiting = False
            session.deadline = self.now + interval
            self.timers_changed(session)

    def alarm(self, session: Session, delay: float, trigger: str, background: bool = False) -> None:
        """Ask to be given ``trigger`` for this session ``delay`` seconds from now.

        A background alarm (a periodic rekey) does not keep a run going on its own.
        """
        alarm = (self.now + delay, trigger, background)
        if session.alarms is None:
            session.alarms = [alarm]
        else:  # in time order; at equal times, in the order they were asked for
            session.alarms.append(alarm)
            session.alarms.sort(key=lambda a: a[0])
        self.timers_changed(session)

    def adopt(self, parent: Session, child: Session) -> None:
        """Record a child SA under its parent (IKEv2 children go with their IKE SA)."""
        # Most SAs have one child, kept as itself (a list of one took 72 bytes); the second makes a tuple.
        kept = parent._children
        if kept is None:
            parent._children = child
        elif isinstance(kept, tuple):
            parent._children = (*kept, child)
        else:
            parent._children = (kept, child)

    def assign_address(self, label: str) -> str | None:
        """Lease the lowest free inner address to an IKE SA; None when the pool is empty or exhausted."""
        if label in self.leases:
            index = self.leases[label]
        elif self.free_addresses:
            index = heapq.heappop(self.free_addresses)
            self.leases[label] = index
        else:
            return None
        return pool_address(self.policy.pool_base, index)

    def forget(self, session: Session) -> None:
        """Keep nothing of a negotiation refused without state (its label may open a new one)."""
        del self.sessions[session.label]
        session.twin = session  # it has left the table: nothing links to it again
        self.half_open.discard(session.label)

    def release_address(self, label: str) -> None:
        """Return an IKE SA's inner address to the pool."""
        index = self.leases.pop(label, None)
        if index is not None:
            heapq.heappush(self.free_addresses, index)

    # --- internals ---------------------------------------------------------------------------

    def _half_open_ends(self, session: Session) -> float | None:
        """When its implementation drops ``session``, an SA it answered, if still half open; None: it never does.

        From when the SA's first message arrived (:meth:`_open`); a session opened otherwise (one that only
        answers a damaged first message) counts from 0.
        """
        timeout = self.responder.half_open_timeout
        return None if timeout is None else self.opened_at.get(session, 0.0) + timeout

    def _parent_of(self, msg: Message, label: str) -> Session | None:
        """Its session of the SA ``label`` that ``msg`` is negotiated under, or None.

        Where the sender's session of that SA is linked to one here (:func:`link_twins`), that one:
        a gateway's two million SAs are not searched for it.
        """
        origin = msg.origin
        if origin is not None:
            theirs = origin.parent
            if theirs is not None and theirs.label is label:
                mine = linked_twin(theirs)
                if mine is not None and mine.endpoint is self:
                    return mine
        return self.sessions.get(label)

    def _open(self, msg: Message) -> Session | None:
        table = self.protocol.first_messages.get(msg.name)
        if table is None:
            self.sink.drop(self, msg, f"no SA {msg.sa} here", DropCause.NO_SA)
            return None
        parent = None
        if msg.parent is not None:
            parent = self._parent_of(msg, msg.parent)
            if parent is None or not parent.established:
                self.sink.drop(self, msg, f"no established SA {msg.parent} here", DropCause.NO_SA)
                return None
        compiled = self.compiled[table]
        session: Session = compiled.ops(self, compiled, msg.sa, RESPONDER, msg.sender, parent)
        if parent is None and self.opened_at is not _NEVER_WRITTEN:  # what half_open_timeout reads
            self.opened_at[session] = self.now
        self.sessions[msg.sa] = session
        if parent is not None:
            self.adopt(parent, session)
        return session


def link_twins(sender: Session, receiver: Session | None) -> None:
    """Link the sessions of one SA at its two peers (:attr:`Session.twin`), unless either has left its table.

    A driver calls it once ``receiver`` has taken a message of ``sender`` (what :meth:`Endpoint.receive`
    answers). While each links to the other (``a.twin is b and b.twin is a``), the driver may give their
    messages to each other's session directly; a session that leaves its endpoint's table (forgotten,
    replaced, lost in a crash) links to itself, which breaks the pair.
    """
    if receiver is not None and receiver.twin is None and sender.twin is not sender:
        sender.twin, receiver.twin = receiver, sender


def linked_twin(session: Session) -> Session | None:
    """The peer's session of ``session``'s SA while the two are linked (:func:`link_twins`); else None."""
    twin = session.twin
    return twin if twin is not None and twin is not session and twin.twin is session else None


class StandaloneEndpoint(Endpoint):
    """An endpoint made alone: its configuration in slots of its own, which may change (``Endpoint()`` makes one)."""

    __slots__ = tuple(Endpoint.__annotations__)  # the configuration Endpoint declares

    def _new_table(self) -> dict[str, Session]:
        """An empty table of SAs that keeps its labels' hashes: a peer alone (a gateway) may hold millions."""
        return hash_keeping_dict()


@dataclass(frozen=True)
class EndpointConfiguration:
    """What an endpoint is configured with: the same for every instance of a scenario peer.

    ``local_faults`` are faults of the peer's own machine (message name -> the code it reports).
    """

    policy: Policy
    schedule: Schedule | None
    labels: Callable[[str], str]  # allocates globally unique SA labels such as "QM#3"
    protocol: ProtocolSpec
    compiled: dict[str, CompiledTable]
    sink: EffectSink | None = None  # None: a Recorder
    local_faults: Mapping[str, IkeCode] | None = None
    _: KW_ONLY
    responder: ResponderRules = EVERY_REPLY
    seed: int = 0
    windows: bool = False
    windows_peers: AbstractSet[str] = frozenset()

    def attributes(self) -> dict[str, Any]:
        """The attributes an endpoint has of it (those Endpoint declares)."""
        sink = self.sink
        return {
            "compiled": self.compiled,
            "labels": self.labels,
            "local_codes": {} if self.local_faults else _NEVER_WRITTEN,  # written only where a local fault is
            "local_faults": self.local_faults or _NEVER_WRITTEN,
            "moved": getattr(sink, "record_move", None),
            "policy": self.policy,
            "protocol": self.protocol,
            "reported": getattr(sink, "record_outcome_kind", None),
            "responder": self.responder,
            "schedule": self.schedule,
            "seed": self.seed,
            "sink": sink if sink is not None else Recorder(),
            "windows": self.windows,
            "windows_peers": self.windows_peers,
        }
