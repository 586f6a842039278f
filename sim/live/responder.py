"""The live responder's core: real ISAKMP datagrams in, real datagrams and trace lines out.

It drives the simulator's own IKEv1 main-mode machine (an :class:`~sim.protocol.session.Endpoint`
with the responder's policy and the profile's schedule) and, like the protocol core, never
reads a clock: it is told the time with every call and says when it next needs to be called
(:meth:`LiveResponder.next_deadline`). :mod:`sim.live.server` puts it on a UDP socket.

What it does with a datagram:

- a well-formed MM1 opens a negotiation (within the limits per source address and overall); the
  machine chooses among the offered transforms with the policy, and the answer is a real MM2
  (the chosen transform echoed, the profile's vendor IDs) or an INFORMATIONAL notify;
- an MM3 gets an MM4 with a key exchange value of the size the group calls for and a nonce:
  ikesim derives no keys, so the value is random, and an encrypted MM5 cannot be read: it is
  dropped, and the negotiation goes on waiting as the profile's implementation would;
- a damaged datagram that names a negotiation is given to it as a damaged message, so the
  negotiation ends with the code of the damaged part (13824, 13843, 13846, 13880, 13888); one
  that names none is dropped, and the trace says why with that code.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sim.codes import IkeCode
from sim.conditions import CORRUPTION_CONDITIONS, Condition
from sim.enums import DropCause
from sim.live import isakmp
from sim.live.isakmp import Datagram, Transform, WireError
from sim.live.vendors import MS_NT5_V9, vendor_ids
from sim.protocol.checks import select_proposal
from sim.protocol.ikev1 import IKEV1, NOTIFY_TYPES
from sim.protocol.policy import AuthMethod, Policy, Proposal
from sim.protocol.profiles import PROFILES
from sim.protocol.registry import COMPILED
from sim.protocol.schedule import Schedule
from sim.protocol.session import MS_NOTIFY_STATUS, Endpoint, Message, Outcome, Session
from sim.trace import record

Address = tuple[str, int]
Reply = tuple[bytes, Address]

NAME = "responder"  # the peer name of the live responder in trace lines
NOTIFIED_BY_TYPE = {number: condition for _, (_, number, condition) in NOTIFY_TYPES.items()}
NOTIFIED_BY_TYPE[14] = Condition.NO_PROPOSAL_CHOSEN  # several conditions share type 14: the plain one


def default_policy(profile: str) -> Policy:
    """The responder policy of a profile when no scenario gives one."""
    return Policy(proposals=PROFILES[profile].served or PROFILES["windows"].served or ())


@dataclass(frozen=True)
class Limits:
    """What bounds the responder's state, whoever sends to it."""

    per_address: int = 64  # negotiations kept per source address (whatever its ports)
    total: int = 10_000  # negotiations kept in all: past it, the oldest ended or half-open one makes room


@dataclass
class Conversation:
    """What the responder keeps for one negotiation, besides the machine's session."""

    address: Address
    icookie: bytes
    rcookie: bytes
    offer: list[Transform]  # the transforms of its MM1, in the order offered
    proposed: Policy  # the offer as the policy the machine's checks compare with the responder's
    vids: list[bytes]
    chosen: Transform | None = None  # the transform MM2 accepted
    sent: dict[str, bytes] = field(default_factory=dict)  # message name -> its bytes, for resends
    received: dict[str, bytes] = field(default_factory=dict)  # message name -> the bytes that came last
    forget_at: float | None = None  # once it has ended: when its resends are no longer recognised


class LiveResponder:
    """One IKEv1 responder for many initiators, on a clock it is told."""

    def __init__(
        self,
        profile: str,
        schedule: Schedule,
        policy: Policy,
        emit: Callable[[dict[str, Any]], None],
        limits: Limits | None = None,
    ) -> None:
        self.profile = profile
        self.limits = limits or Limits()
        self.emit = emit  # receives each trace record (a dict in ikesim.trace/1 form)
        known = PROFILES.get(profile, PROFILES["windows"])
        self.endpoint = Endpoint(NAME, policy, schedule, self._label, IKEV1, COMPILED, self, responder=known.responder,
                                 windows=known.windows)  # fmt: skip
        self.linger = schedule.give_up_at  # how long an ended negotiation is kept to recognise its resends
        self.by_cookie: dict[tuple[Address, bytes], str] = {}
        self.conversations: dict[str, Conversation] = {}
        self.per_address: dict[str, int] = {}  # source IP address -> negotiations kept for it
        self._ended: dict[str, None] = {}  # ended negotiations kept to recognise resends, oldest first
        self._half_open: dict[str, None] = {}  # negotiations not yet up, oldest first
        self._junk_second = -1  # the second whose junk datagrams are being counted
        self._junk: dict[str, int] = {}  # reason -> junk datagrams this second
        self._deadlines: list[tuple[float, int, str]] = []
        self._count = 0  # negotiations opened
        self._events = 0  # trace lines emitted
        self._pushes = 0  # the heap's tie-break: first pushed, first served
        self._replies: list[Reply] = []

    # --- what the server calls ---------------------------------------------------------------

    def datagram(self, now: float, data: bytes, address: Address) -> list[Reply]:
        """Handle one datagram; returns the datagrams to send (with those of deadlines that have passed)."""
        self._replies = []
        self._advance(now)
        try:
            self._datagram(now, data, address)
        except WireError as error:  # damaged beyond what can be given to a negotiation
            self._drop(now, None, "?", address, error.part, error.detail)
        return self._replies

    def flush(self, now: float) -> None:
        """Print the count of junk datagrams not printed yet (call it before stopping)."""
        for why, count in self._junk.items():
            if count > 1:
                more = f"{count - 1} more datagram{'s' if count > 2 else ''} like this in second {self._junk_second}"
                self._emit(now, "drop", None, "?", "*", f"{why} ({more})", DropCause.REFUSED)
        self._junk = {}

    def tick(self, now: float) -> list[Reply]:
        """Let the time that has passed take effect; returns the datagrams to send."""
        self._replies = []
        self._advance(now)
        if self._junk and int(now) != self._junk_second:
            self.flush(now)
        return self._replies

    def _advance(self, now: float) -> None:
        """Resends, giving up, forgetting ended negotiations: each deadline that has passed."""
        ep = self.endpoint
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, label = heapq.heappop(self._deadlines)
            session = ep.sessions.get(label)
            conversation = self.conversations.get(label)
            if conversation is None or session is None:
                continue
            if conversation.forget_at is not None:
                if conversation.forget_at <= now:  # else a deadline from before it ended: nothing to do
                    self._forget(label)
            else:
                ep.handle_timer(now, session)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` should next be called, or None when nothing waits."""
        return self._deadlines[0][0] if self._deadlines else None

    def negotiations(self) -> int:
        """How many negotiations the responder keeps (open or recently ended)."""
        return len(self.conversations)

    # --- datagrams ---------------------------------------------------------------------------

    def _datagram(self, now: float, data: bytes, address: Address) -> None:
        found = isakmp.cookies(data)
        label = self.by_cookie.get((address, found[0])) if found else None
        if label is None:
            self._first(now, isakmp.parse(data), address)
            return
        try:
            self._next(now, label, isakmp.parse(data), address, data)
        except WireError as error:
            self._damaged(now, label, error)

    def _next(self, now: float, label: str, datagram: Datagram, address: Address, data: bytes) -> None:
        """A datagram of a negotiation under way; raises :class:`WireError` when it is damaged.

        Content decides what a message is: the same bytes again are a retransmission, other bytes
        under a name already received are new content (``Message.fresh``: a new key exchange).
        """
        conversation = self.conversations[label]
        name = self._name(datagram, conversation)
        if datagram.rcookie != conversation.rcookie and not (name == "MM1" and datagram.rcookie == bytes(8)):
            raise WireError("cookie", "the responder cookie is not this negotiation's")
        if datagram.exchange == isakmp.IDENTITY_PROTECTION and datagram.message_id != 0:
            raise WireError("message_id", f"message ID {datagram.message_id} in main mode")
        if name is None:
            self._drop(now, label, "?", address, None, "not a message an initiator sends in main mode")
            return
        if name == "MM5":
            self._drop(now, label, name, address, None, "encrypted: ikesim serve derives no keys, so cannot read it")
            return
        msg = Message(name, label, _peer(address), NAME, conversation.proposed)
        before = conversation.received.get(name)
        msg.fresh = before is not None and before != data
        conversation.received[name] = data
        if name == "INFO NOTIFY":
            number = isakmp.notify_type(datagram.first(isakmp.NOTIFY) or b"")
            condition = NOTIFIED_BY_TYPE.get(number)
            if condition is None:
                self._drop(now, label, name, address, None, f"notify type {number} is not modelled")
                return
            msg.condition = condition
        self._receive(now, msg)

    def _first(self, now: float, datagram: Datagram, address: Address) -> None:
        """A datagram that names no negotiation: a new MM1, or nothing that can be answered."""
        if datagram.rcookie != bytes(8):
            raise WireError("cookie", "no negotiation here has these cookies")
        if datagram.exchange != isakmp.IDENTITY_PROTECTION or datagram.kinds()[:1] != [isakmp.SA]:
            raise WireError("payload", "a first message must be a main-mode SA proposal")
        if datagram.message_id != 0:
            raise WireError("message_id", f"message ID {datagram.message_id} in main mode")
        offer = isakmp.transforms(datagram.first(isakmp.SA) or b"")
        if self.per_address.get(address[0], 0) >= self.limits.per_address:
            self._drop(now, None, "MM1", address, None, f"{self.limits.per_address} negotiations of this address "
                       "kept already: the negotiation is not opened")  # fmt: skip
            return
        if len(self.conversations) >= self.limits.total and not self._make_room(now):
            self._drop(now, None, "MM1", address, None, "limit reached: the negotiation is not opened")
            return
        self._count += 1
        label = f"MM#{self._count}"
        vids = [body for kind, body in datagram.payloads if kind == isakmp.VENDOR_ID]
        conversation = Conversation(
            address, datagram.icookie, secrets.token_bytes(8), offer, self._proposed(offer), vids
        )
        self.conversations[label] = conversation
        self.by_cookie[(address, datagram.icookie)] = label
        self.per_address[address[0]] = self.per_address.get(address[0], 0) + 1
        self._half_open[label] = None
        if any(vid[:16] == MS_NT5_V9[:16] for vid in vids):  # a Windows initiator: it reads MS_NOTIFY_STATUS
            self.endpoint.windows_peers = self.endpoint.windows_peers | {_peer(address)}
        self._receive(now, Message("MM1", label, _peer(address), NAME, conversation.proposed))

    def _damaged(self, now: float, label: str, error: WireError) -> None:
        """A damaged message for a negotiation: the machine sees the message it expected, damaged."""
        session = self.endpoint.sessions[label]
        last = session.last_sent.name if session.last_sent is not None else "MM2"
        expected = IKEV1.next_message.get(last, "MM3")
        conversation = self.conversations[label]
        msg = Message(expected, label, _peer(conversation.address), NAME, conversation.proposed)
        msg.corrupt = error.part
        msg.detail = error.detail
        self._receive(now, msg)

    def _name(self, datagram: Datagram, conversation: Conversation) -> str | None:
        """Which initiator message a datagram is (the responder accepts only those)."""
        if datagram.exchange == isakmp.INFORMATIONAL and not datagram.flags & isakmp.FLAG_ENCRYPTION:
            kinds = datagram.kinds()
            return "INFO NOTIFY" if isakmp.NOTIFY in kinds else None
        if datagram.exchange != isakmp.IDENTITY_PROTECTION:
            return None
        if datagram.flags & isakmp.FLAG_ENCRYPTION:
            return "MM5"
        kinds = datagram.kinds()
        if kinds[:1] == [isakmp.SA] and datagram.rcookie == bytes(8):
            return "MM1"  # a resend of the first message
        if isakmp.KE in kinds and isakmp.NONCE in kinds:
            return "MM3"
        return None

    def _proposed(self, offer: list[Transform]) -> Policy:
        """The initiator's offer as the policy the machine's checks compare with the responder's."""
        mine = self.endpoint.policy.auth
        methods = [t.auth() for t in offer]
        auth = mine if mine in methods else (methods[0] if methods else "none")
        proposals = tuple(p for t in offer if t.auth() == auth and (p := t.proposal()) is not None)
        # An offer may name a method no policy has ("method 9", "none"): it only has to differ from mine.
        return Policy(auth=cast(AuthMethod, auth), proposals=proposals)

    def _receive(self, now: float, msg: Message) -> None:
        address = self.conversations[msg.sa].address
        self._emit(now, "recv", msg.sa, msg.name, f"{address[0]}:{address[1]}", msg.corrupt, None)
        self.endpoint.receive(now, msg)

    # --- effects -----------------------------------------------------------------------------

    # (the endpoint's EffectSink: each effect as it happens, at the endpoint's time)

    def send(self, session: Session, msg: Message, attempt: int) -> None:
        """Encode the message (or take its bytes again) and queue it for the server to send."""
        self._send(self.endpoint.now, session, msg, attempt)

    def transition(self, session: Session, source: str, dest: str, trigger: str) -> None:
        """Print the change of state."""
        self._emit(self.endpoint.now, "transition", session.label, source, dest, trigger, session.table.name)

    def outcome(self, outcome: Outcome) -> None:
        """Print the outcome; an ended negotiation is kept a give-up period to recognise its resends."""
        now = self.endpoint.now
        self._emit(now, "outcome", outcome.sa, outcome, None, None, None)
        conversation = self.conversations.get(outcome.sa)
        if conversation is None:
            return
        self._half_open.pop(outcome.sa, None)
        conversation.offer = []  # the offer is decided: keep nothing of its size
        if self.endpoint.sessions[outcome.sa].ended:
            self._ended[outcome.sa] = None
            conversation.forget_at = now + self.linger
            self._push(conversation.forget_at, outcome.sa)

    def timer(self, session: Session, name: str) -> None:
        """Print the timer that fired."""
        self._emit(self.endpoint.now, "timer", session.label, name, None, None, None)

    def drop(self, endpoint: Endpoint, msg: Message, reason: str, cause: DropCause) -> None:
        """Print the message the machine would not accept."""
        self._emit(endpoint.now, "drop", msg.sa, msg.name, msg.sender, reason, cause)

    def timers_changed(self, session: Session, wake: float | None) -> None:
        """Look at the session again when it asks to be woken."""
        if wake is not None and wake != math.inf:
            self._push(wake, session.label)

    def _send(self, now: float, session: Session, msg: Message, attempt: int) -> None:
        conversation = self.conversations[session.label]
        to = f"{conversation.address[0]}:{conversation.address[1]}"
        data = conversation.sent.get(msg.name) if attempt != 0 else None
        if data is None:
            data = self._encode(conversation, msg)
            conversation.sent[msg.name] = data
            self._emit(now, "send", session.label, msg.name, to, msg.detail, None)
        else:
            self._emit(now, "retransmit", session.label, msg.name, to, max(attempt, 0), msg.detail)
        self._replies.append((data, conversation.address))

    def _encode(self, conversation: Conversation, msg: Message) -> bytes:
        ic, rc = conversation.icookie, conversation.rcookie
        if msg.name == "MM2":
            chosen = conversation.chosen = self._chosen(conversation)
            chosen_proposal = chosen.proposal()
            conversation.offer = []  # a 255-transform offer is not kept for the life of the negotiation
            if chosen_proposal is not None:
                conversation.proposed = dataclasses.replace(conversation.proposed, proposals=(chosen_proposal,))
            vids = [(isakmp.VENDOR_ID, vid) for vid in vendor_ids(self.profile, conversation.vids)]
            payloads = [(isakmp.SA, isakmp.sa_payload(chosen)), *vids]
            return isakmp.encode(ic, rc, isakmp.IDENTITY_PROTECTION, payloads)
        if msg.name == "MM4":
            assert conversation.chosen is not None  # MM4 follows MM2
            group = conversation.chosen.attributes.get(isakmp.ATTR_GROUP, 2)
            public = bytearray(secrets.token_bytes(isakmp.MODP_SIZES.get(group, 256)))
            public[0] &= 0x7F  # below the group's prime, whose top bits are all ones
            payloads = [(isakmp.KE, bytes(public)), (isakmp.NONCE, secrets.token_bytes(32))]
            return isakmp.encode(ic, rc, isakmp.IDENTITY_PROTECTION, payloads)
        if msg.name == "INFO NOTIFY":
            assert msg.condition is not None
            number = NOTIFY_TYPES[msg.condition][1]
            notifies = [(isakmp.NOTIFY, isakmp.notify_payload(number))]
            code = msg.condition.value.code
            if "MS_NOTIFY_STATUS" in (msg.detail or "") and code is not None:  # to a Windows initiator only
                notifies.append((isakmp.NOTIFY, isakmp.notify_payload(MS_NOTIFY_STATUS, int(code).to_bytes(4, "big"))))
            return isakmp.encode(ic, rc, isakmp.INFORMATIONAL, notifies, secrets.randbits(32))
        raise AssertionError(f"the live responder does not send {msg.name}")

    def _chosen(self, conversation: Conversation) -> Transform:
        """The offered transform the machine's check accepted (the first acceptable, in offer order)."""
        proposed = conversation.proposed
        chosen = select_proposal(proposed, self.endpoint.policy)
        assert isinstance(chosen, Proposal)
        return next(t for t in conversation.offer if t.auth() == proposed.auth and t.proposal() == chosen)

    # --- bookkeeping -------------------------------------------------------------------------

    def _label(self, prefix: str) -> str:
        raise AssertionError("the live responder never initiates")

    def _push(self, when: float, label: str) -> None:
        self._pushes += 1
        heapq.heappush(self._deadlines, (when, self._pushes, label))

    def _forget(self, label: str) -> None:
        conversation = self.conversations.pop(label)
        self.endpoint.sessions.pop(label, None)
        del self.by_cookie[(conversation.address, conversation.icookie)]
        self._ended.pop(label, None)
        self._half_open.pop(label, None)
        ip = conversation.address[0]
        left = self.per_address[ip] - 1
        if left:
            self.per_address[ip] = left
        else:  # nothing of this address is kept any more, not even the policy's rate-limit window
            del self.per_address[ip]
            self.endpoint.first_seen.pop(_peer(conversation.address), None)

    def _make_room(self, now: float) -> bool:
        """Forget the oldest ended negotiation, else the oldest half-open one; False when all are up.

        Real responders drop half-open SAs under load, so a flood cannot lock new initiators out.
        """
        for kept, why in ((self._ended, "ended"), (self._half_open, "half open")):
            if kept:
                label = next(iter(kept))
                self._emit(now, "drop", label, "*", "*", f"{why} negotiation forgotten to make room "
                           f"(limit {self.limits.total} negotiations)", DropCause.REFUSED)  # fmt: skip
                self._forget(label)
                return True
        return False

    def _drop(self, now: float, label: str | None, name: str, address: Address, part: str | None, why: str) -> None:
        """Print a dropped datagram; junk that names no negotiation is printed once per reason per second.

        The others of that second are counted and printed as one line when the second is over.
        """
        if part is not None:
            code = CORRUPTION_CONDITIONS[part].value.code
            assert code is not None
            why = f"{int(code)} {IkeCode(code).name}: {why}"
        if label is None:
            second = int(now)
            if second != self._junk_second:
                self.flush(now)
                self._junk_second = second
            seen = self._junk.get(why, 0)
            self._junk[why] = seen + 1
            if seen:
                return
        self._emit(now, "drop", label, name, f"{address[0]}:{address[1]}", why, DropCause.REFUSED)

    def _emit(self, now: float, kind: str, sa: str | None, a: Any, b: Any, c: Any, d: Any) -> None:
        self._events += 1
        self.emit(record(self._events, (float(now), kind, NAME, sa, a, b, c, d)).as_json())


def _peer(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


SERVED_PROFILES = tuple(name for name, profile in PROFILES.items() if profile.served is not None)


def responder_for(
    profile: str | None,
    scenario: Any,
    emit: Callable[[dict[str, Any]], None],
    limits: Limits | None = None,
) -> LiveResponder:
    """A responder from a profile name and/or a scenario's responder peer; ValueError says what does not fit.

    The scenario gives the policy (and, without ``profile``, the profile and its options); the
    profile alone gives its implementation's defaults.
    """
    options: dict[str, Any] = {}
    policy = None
    if scenario is not None:
        responders = [(name, peer) for name, peer in scenario.peers.items() if peer.role == "responder"]
        if not responders:
            raise ValueError(f"scenario {scenario.name!r} has no responder peer")
        name, peer = responders[0]
        if peer.protocol != "ikev1":
            raise ValueError(f"scenario {scenario.name!r}: peer {name} speaks {peer.protocol}; serve speaks IKEv1")
        policy = peer.policy
        if profile is None or profile == peer.profile:
            profile, options = peer.profile, dict(peer.retransmit)
    profile = profile or "windows"
    if profile not in SERVED_PROFILES:
        known = ", ".join(SERVED_PROFILES)
        why = "is IKEv2's; serve speaks IKEv1 main mode" if profile in PROFILES else "is not a profile"
        raise ValueError(f"profile {profile!r} {why} (profiles: {known})")
    if profile == "custom" and not options:
        raise ValueError("profile 'custom' needs a schedule: give a scenario whose responder has one")
    schedule = PROFILES[profile].schedule(options)
    policy = policy or default_policy(profile)
    # MM4's key exchange value is random, which is a valid MODP public value but never an EC point.
    groups = tuple(g for g in policy.accepted_groups() if g in isakmp.MODP_SIZES)
    if not groups:
        raise ValueError(f"serve accepts only MODP groups ({', '.join(map(str, isakmp.MODP_SIZES))}); "
                         f"the policy accepts {', '.join(map(str, policy.accepted_groups()))}")  # fmt: skip
    policy = dataclasses.replace(policy, dh_groups=groups)
    return LiveResponder(profile, schedule, policy, emit, limits)
