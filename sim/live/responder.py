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
import hashlib
import heapq
import hmac
import math
import secrets
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sim.codes import IkeCode
from sim.conditions import CORRUPTION_CONDITIONS, Condition
from sim.enums import DropCause
from sim.live.crypto import NON_ESP_MARKER, Cbc, CryptoFailure, KeyPair, QuickState, v1_cipher, wire_address
from sim.live.vendors import MS_NT5_V9, vendor_ids
from sim.protocol.checks import select_proposal
from sim.protocol.ikev1 import IKEV1, NOTIFY_TYPES
from sim.protocol.policy import AuthMethod, Policy, Proposal
from sim.protocol.profiles import PROFILES, ResponderRules
from sim.protocol.registry import COMPILED
from sim.protocol.schedule import Schedule
from sim.protocol.session import (
    MS_NOTIFY_STATUS,
    Endpoint,
    EndpointConfiguration,
    Message,
    Outcome,
    Session,
    StandaloneEndpoint,
)
from sim.trace import record
from sim.wire import dh, keys, reader
from sim.wire import payloads as wp
from sim.wire.keys import HashName
from sim.wire.reader import Datagram, Transform, WireError
from sim.wire.vendors import nat_d_hash

Address = tuple[str, int]
Reply = tuple[bytes, Address]

NAME = "responder"  # the peer name of the live responder in trace lines
NOTIFIED_BY_TYPE = {number: condition for _, (_, number, condition) in NOTIFY_TYPES.items()}
NOTIFIED_BY_TYPE[14] = Condition.NO_PROPOSAL_CHOSEN  # several conditions share type 14: the plain one
R_U_THERE, R_U_THERE_ACK = 36136, 36137  # RFC 3706 section 5
ESP_IMPLEMENTED = frozenset({3, 12, 18, 19, 20})  # ESP transform IDs: 3DES, AES-CBC, AES-GCM-8/12/16 (echoed only)
MAX_QUICK_MODES = 16  # quick modes whose state a main-mode SA keeps (the oldest makes room)
# A phase 1 transform longer than each of RFC 2409's 16 attribute classes once at its longest (4 + 8 bytes)
# is not chosen: MM2 echoes the chosen one, and the negotiation keeps it.
MAX_TRANSFORM = 4 + 16 * 12
T = TypeVar("T")


def default_policy(profile: str) -> Policy:
    """The responder policy of a profile when no scenario gives one."""
    return Policy(proposals=PROFILES[profile].served or PROFILES["windows"].served or ())


@dataclass(frozen=True)
class Limits:
    """What bounds the responder's state, whoever sends to it."""

    per_address: int = 64  # negotiations kept per source address (whatever its ports)
    total: int = 10_000  # negotiations kept in all: past it, the oldest ended or half-open one makes room
    # Bytes of first messages kept whole until the SA is authenticated (MM1's SA payload, IKE_SA_INIT
    # requests), compressed, in all: past it, the oldest half-open negotiation keeping some makes room.
    kept_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Kept:
    """Bytes a negotiation needs whole later, compressed when that saves room.

    MM1's SA payload body (HASH_I and HASH_R cover it) and the IKE_SA_INIT request (AUTH signs
    it) must be kept until the SA is authenticated; a long offer repeats itself and compresses
    to a tenth or less.
    """

    packed: bytes
    compressed: bool = False

    @classmethod
    def of(cls, data: bytes) -> Kept:
        """``data``, compressed when it is long enough for that to pay."""
        if len(data) > 256:
            packed = zlib.compress(data, 1)
            if len(packed) < len(data):
                return cls(packed, True)
        return cls(data)

    def unpacked(self) -> bytes:
        """The bytes as they were given."""
        return zlib.decompress(self.packed) if self.compressed else self.packed


def digest(data: bytes) -> bytes:
    """What a negotiation keeps of a datagram it only compares later (a retransmission is the same bytes)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def _proposal(transform: Transform) -> Proposal | None:
    """An offered transform in ikesim's policy terms, or None when it uses an algorithm ikesim does not model."""
    suite = transform.suite()
    return Proposal(*suite) if suite is not None else None  # type: ignore[arg-type]


def deciding(
    offered: list[tuple[Proposal, T]], as_offer: Callable[[tuple[Proposal, ...]], Policy], mine: Policy
) -> list[tuple[Proposal, T]]:
    """The part of an offer the responder's check answers as it answers the whole offer: one proposal at most.

    The check (:func:`~sim.protocol.checks.select_proposal`) takes the first acceptable
    proposal, else refuses with INVALID_GROUP when one was refused for its group alone, else
    with NO_PROPOSAL_CHOSEN: so the accepted proposal, else the first refused for its group,
    else nothing, is all a negotiation keeps of an offer, whatever its size. ``as_offer`` makes
    the offer's policy of some of its proposals; each item goes with its proposal.
    """
    verdict = select_proposal(as_offer(tuple(p for p, _ in offered)), mine)
    if isinstance(verdict, Proposal):
        return [next(pair for pair in offered if pair[0] == verdict)]
    if verdict is not Condition.INVALID_GROUP:
        return []
    # Nothing is acceptable: a prefix is refused for its group once it holds that proposal. Bisect for it.
    low, high = 1, len(offered)
    while low < high:
        middle = (low + high) // 2
        if select_proposal(as_offer(tuple(p for p, _ in offered[:middle])), mine) is Condition.INVALID_GROUP:
            high = middle
        else:
            low = middle + 1
    return [offered[low - 1]]


@dataclass(slots=True)
class Conversation:
    """What the responder keeps for one negotiation, besides the machine's session."""

    address: Address
    icookie: bytes
    rcookie: bytes
    offer: list[Transform]  # of its MM1's transforms, the one MM2 will accept (see :func:`deciding`)
    proposed: Policy  # the offer as the policy the machine's checks compare with the responder's
    vids: list[bytes]  # the vendor IDs MM2 carries (some answer the initiator's)
    chosen: Transform | None = None  # the transform MM2 accepted
    sent: dict[str, bytes] = field(default_factory=dict)  # message name -> its bytes, for resends
    received: dict[str, bytes] = field(default_factory=dict)  # message name -> the digest of what came last
    forget_at: float | None = None  # once it has ended: when its resends are no longer recognised
    local: Address = ("0.0.0.0", 500)  # where the responder answers from: its ID and NAT detection
    natt: bool = False  # the initiator moved to UDP 4500 (NAT-T): replies carry the non-ESP marker
    kept: Kept | None = None  # until authenticated: MM1's SA payload body (SAi_b), or the IKE_SA_INIT request
    v1: Phase1 | None = None  # the phase 1 keys, once MM3 has come
    bodies: dict[str, Policy] = field(default_factory=dict)  # message key -> what it proved, for its resends
    quick: dict[int, QuickState] = field(default_factory=dict)  # message ID -> a quick mode under this SA


@dataclass(slots=True)
class Phase1:
    """An IKEv1 phase 1 SA's cryptographic state at the responder (RFC 2409 section 5 and appendix B)."""

    hash: HashName
    cipher: Cbc | None  # None: an encryption serve does not implement (MM5 cannot be read)
    pair: KeyPair
    g_xi: bytes
    ni: bytes
    g_xy: bytes
    nr: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    nat_d: int | None = None  # the NAT-D payload type the initiator sent in MM3, None: none
    keys: keys.IKEv1Keys | None = None
    iv: bytes = b""  # the IV of the next phase 1 message
    last_block: bytes = b""  # the last CBC block of phase 1: phase 2 IVs start from it
    dpd_sequence: int = 0


class LiveResponder:
    """One IKEv1 responder for many initiators, on a clock it is told."""

    version = "IKEv1"
    spec = IKEV1

    def __init__(
        self,
        profile: str,
        schedule: Schedule,
        policy: Policy,
        emit: Callable[[dict[str, Any]], None],
        limits: Limits | None = None,
        rules: ResponderRules | None = None,
    ) -> None:
        self.profile = profile
        self.limits = limits or Limits()
        self.emit = emit  # receives each trace record (a dict in ikesim.trace/1 form)
        known = PROFILES.get(profile, PROFILES["windows"])
        configuration = EndpointConfiguration(policy, schedule, self._label, self.spec, COMPILED, self,
                                              responder=rules or known.responder, windows=known.windows)  # fmt: skip
        self.endpoint = StandaloneEndpoint(NAME, configuration)
        self.linger = schedule.give_up_at  # how long an ended negotiation is kept to recognise its resends
        self.by_cookie: dict[tuple[str, bytes], str] = {}  # (initiator IP, its cookie) -> label
        self.conversations: dict[str, Conversation] = {}
        self.per_address: dict[str, int] = {}  # source IP address -> negotiations kept for it
        self._ended: dict[str, None] = {}  # ended negotiations kept to recognise resends, oldest first
        self._half_open: dict[str, None] = {}  # negotiations not yet up, oldest first
        self._holding: dict[str, int] = {}  # negotiations keeping bytes (Conversation.kept) -> how many, oldest first
        self._kept = 0  # their sum
        self._junk_second = -1  # the second whose junk datagrams are being counted
        self._junk: dict[str, int] = {}  # reason -> junk datagrams this second
        self._deadlines: list[tuple[float, int, str]] = []
        self._count = 0  # negotiations opened
        self._events = 0  # trace lines emitted
        self._pushes = 0  # the heap's tie-break: first pushed, first served
        self._replies: list[Reply] = []
        self.local: Address = ("0.0.0.0", 500)  # the server's address when a datagram does not say where it came
        self.quick_of: dict[str, str] = {}  # quick mode label -> the main-mode label it runs under
        self._natt_from: Address | None = None  # the datagram being handled came to the NAT-T port from here

    # --- what the server calls ---------------------------------------------------------------

    def datagram(
        self, now: float, data: bytes, address: Address, local: Address | None = None, natt: bool = False
    ) -> list[Reply]:
        """Handle one datagram; returns the datagrams to send (with those of deadlines that have passed).

        ``local`` is where it arrived (the responder's own address: its ID and NAT detection);
        ``natt``: it came on the NAT-T port (UDP 4500), where IKE messages start with the non-ESP
        marker, which is taken off here and put on every reply to that initiator.
        """
        self._replies = []
        self._advance(now)
        try:
            if natt:
                if data == b"\xff":  # a NAT-keepalive (RFC 3948 section 2.3): nothing to answer
                    return self._replies
                if data[:4] != NON_ESP_MARKER:
                    raise WireError("header", "an ESP packet on the NAT-T port: serve keeps no IPsec SAs")
                data = data[4:]
                self._natt_from = address
            self._datagram(now, data, address, local or self.local, natt)
        except WireError as error:  # damaged beyond what can be given to a negotiation
            self._drop(now, None, "?", address, error.part, error.detail)
        finally:
            self._natt_from = None
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
            conversation = self.conversations.get(self.quick_of.get(label, label))
            if conversation is None or session is None:
                continue
            if conversation.forget_at is not None and label not in self.quick_of:
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

    def _datagram(self, now: float, data: bytes, address: Address, local: Address, natt: bool) -> None:
        found = reader.cookies(data)
        label = self.by_cookie.get((address[0], found[0])) if found else None
        if label is None:
            self._first(now, reader.read_isakmp(data), address, local)
            return
        try:
            self._next(now, label, reader.read_isakmp(data), address, data)
        except WireError as error:
            self._damaged(now, label, error)

    def _next(self, now: float, label: str, datagram: Datagram, address: Address, data: bytes) -> None:
        """A datagram of a negotiation under way; raises :class:`WireError` when it is damaged.

        Content decides what a message is: the same bytes again are a retransmission, other bytes
        under a name already received are new content (``Message.fresh``: a new key exchange).
        An encrypted message is decrypted and its hash checked here; one that fails is dropped
        with the reason, except MM5, which the machine is given as from a peer whose keys differ
        (a wrong pre-shared key: what the profile's implementation does then is the machine's).
        """
        conversation = self.conversations[label]
        name = self._name(datagram, conversation)
        if datagram.rcookie != conversation.rcookie and not (name == "MM1" and datagram.rcookie == bytes(8)):
            raise WireError("cookie", "the responder cookie is not this negotiation's")
        if datagram.exchange == reader.IDENTITY_PROTECTION and datagram.message_id != 0:
            raise WireError("message_id", f"message ID {datagram.message_id} in main mode")
        if name is None:
            self._drop(now, label, "?", address, None, "not a message an initiator sends in main mode")
            return
        mid = datagram.message_id
        main = datagram.exchange == reader.IDENTITY_PROTECTION
        for key in [name] if main else [f"QM1#{mid}", f"QM3#{mid}"] if name == "QM" else []:
            if conversation.received.get(key) == digest(data) and key in conversation.bodies:
                again = self._again(label, key, conversation)  # a retransmission of what was read before
                if again is not None:
                    self._receive(now, again)
                return
        try:
            msg = self._read(now, label, name, datagram, conversation, data)
        except CryptoFailure as failure:
            self._drop(now, label, name, address, None, f"{failure}: dropped, state kept")
            return
        if msg is None:
            return
        key = msg.name if main else f"{msg.name}#{mid}"
        before, now_seen = conversation.received.get(key), digest(data)
        msg.fresh = before is not None and before != now_seen
        conversation.received[key] = now_seen
        if name in ("MM5", "QM"):
            conversation.bodies[key] = msg.body
        self._receive(now, msg)
        if name == "MM1" and conversation.kept is None:  # an MM1 that began the negotiation again (strongSwan)
            self._keep(now, label, datagram.first(wp.V1_SA) or b"")

    def _again(self, label: str, key: str, conversation: Conversation) -> Message | None:
        """The message a retransmission is, without decrypting it again (the IV chain has moved on)."""
        peer = _peer(conversation.address)
        name, _, mid = key.partition("#")
        if not mid:
            return Message(name, label, peer, NAME, conversation.bodies[key])
        quick = conversation.quick.get(int(mid))
        if quick is None:
            return None
        return Message(name, quick.label, peer, NAME, conversation.bodies[key], parent=label)

    def _read(
        self, now: float, label: str, name: str, datagram: Datagram, conversation: Conversation, data: bytes
    ) -> Message | None:
        """The message a new datagram is (decrypted and checked), or None when it is dropped here."""
        peer = _peer(conversation.address)
        if name == "MM5":
            return self._mm5(label, conversation, data)
        if name == "QM":
            return self._quick(now, label, conversation, datagram, data)
        if name == "INFO*":
            return self._informational(now, label, conversation, datagram, data)
        msg = Message(name, label, peer, NAME, conversation.proposed)
        if name == "MM3":
            self._mm3(conversation, datagram)
        if name == "INFO NOTIFY":
            number = reader.notify_type(datagram.first(wp.V1_N) or b"")
            condition = NOTIFIED_BY_TYPE.get(number)
            if condition is None:
                self._drop(now, label, name, conversation.address, None, f"notify type {number} is not modelled")
                return None
            msg.condition = condition
        return msg

    def _first(self, now: float, datagram: Datagram, address: Address, local: Address) -> None:
        """A datagram that names no negotiation: a new MM1, or nothing that can be answered."""
        if datagram.rcookie != bytes(8):
            raise WireError("cookie", "no negotiation here has these cookies")
        if datagram.exchange != reader.IDENTITY_PROTECTION or datagram.kinds()[:1] != [wp.V1_SA]:
            raise WireError("payload", "a first message must be a main-mode SA proposal")
        if datagram.message_id != 0:
            raise WireError("message_id", f"message ID {datagram.message_id} in main mode")
        sa_body = datagram.first(wp.V1_SA) or b""
        offer = reader.transforms(sa_body)
        if not self._fits(now, "MM1", address):
            return
        self._make_room(now)
        self._count += 1
        label = f"MM#{self._count}"
        vids = [body for kind, body in datagram.payloads if kind == wp.V1_VID]
        proposed, offer = self._proposed(offer)
        conversation = Conversation(address, datagram.icookie, secrets.token_bytes(8), offer, proposed,
                                    vendor_ids(self.profile, vids), local=local)  # fmt: skip
        self.conversations[label] = conversation
        self.by_cookie[(address[0], datagram.icookie)] = label
        self.per_address[address[0]] = self.per_address.get(address[0], 0) + 1
        self._half_open[label] = None
        if any(vid[:16] == MS_NT5_V9[:16] for vid in vids):  # a Windows initiator: it reads MS_NOTIFY_STATUS
            self.endpoint.windows_peers = self.endpoint.windows_peers | {_peer(address)}
        self._receive(now, Message("MM1", label, _peer(address), NAME, conversation.proposed))
        self._keep(now, label, sa_body)

    def _damaged(self, now: float, label: str, error: WireError) -> None:
        """A damaged message for a negotiation: the machine sees the message it expected, damaged."""
        session = self.endpoint.sessions[label]
        last = session.last_name or "MM2"
        expected = IKEV1.next_message.get(last, "MM3")
        conversation = self.conversations[label]
        msg = Message(expected, label, _peer(conversation.address), NAME, conversation.proposed)
        msg.corrupt = error.part
        msg.detail = error.detail
        self._receive(now, msg)

    def _name(self, datagram: Datagram, conversation: Conversation) -> str | None:
        """Which initiator message a datagram is (the responder accepts only those).

        ``QM`` (QM1 or QM3) and ``INFO*`` (an encrypted informational exchange) are told apart
        once decrypted.
        """
        encrypted = datagram.flags & reader.FLAG_ENCRYPTION
        if datagram.exchange == reader.INFORMATIONAL:
            if encrypted:
                return "INFO*"
            return "INFO NOTIFY" if wp.V1_N in datagram.kinds() else None
        if datagram.exchange == reader.QUICK_MODE:
            return "QM" if encrypted and datagram.message_id != 0 else None
        if datagram.exchange != reader.IDENTITY_PROTECTION:
            return None
        if encrypted:
            return "MM5"
        kinds = datagram.kinds()
        if kinds[:1] == [wp.V1_SA] and datagram.rcookie == bytes(8):
            return "MM1"  # a resend of the first message
        if wp.V1_KE in kinds and wp.V1_NONCE in kinds:
            return "MM3"
        return None

    # --- IKEv1 cryptography --------------------------------------------------------------------

    def _mm3(self, conversation: Conversation, datagram: Datagram) -> None:
        """Keep MM3's key exchange and nonce for MM4 (the first MM3 only: its answer is kept and resent)."""
        if conversation.v1 is not None or conversation.chosen is None:
            return
        chosen = conversation.chosen.attributes
        group = chosen.get(reader.ATTR_GROUP, 2)
        cipher = v1_cipher(chosen.get(reader.ATTR_ENCRYPTION, 0), chosen.get(reader.ATTR_KEY_LENGTH))
        hash_name = cast(HashName, reader.HASHES.get(chosen.get(reader.ATTR_HASH, 0), "sha1"))
        g_xi, ni = datagram.first(wp.V1_KE) or b"", datagram.first(wp.V1_NONCE) or b""
        if len(g_xi) != dh.group(group).public_length:
            raise WireError("payload", f"a key exchange value of {len(g_xi)} bytes in group {group}")
        if not 8 <= len(ni) <= 256:
            raise WireError("payload", f"a nonce of {len(ni)} bytes (RFC 2409: 8 to 256)")
        nat_d = next((kind for kind in datagram.kinds() if kind in (wp.V1_NAT_D, reader.NAT_D_DRAFT)), None)
        pair = KeyPair(group)
        try:
            g_xy = pair.shared(g_xi)
        except CryptoFailure as failure:
            raise WireError("payload", str(failure)) from None
        conversation.v1 = Phase1(hash_name, cipher, pair, g_xi, ni, g_xy, nat_d=nat_d)

    def _phase1_keys(self, conversation: Conversation) -> keys.IKEv1Keys | None:
        """Derive SKEYID and the rest when MM4 goes out (pre-shared keys; RFC 2409 section 5)."""
        v1 = conversation.v1
        if v1 is None or v1.cipher is None or self.endpoint.policy.auth not in ("psk", "eap"):
            return None
        if v1.keys is None:
            g_xy = v1.g_xy
            skeyid = keys.ikev1_skeyid_psk(v1.hash, self.endpoint.policy.psk.encode(), v1.ni, v1.nr)
            ic, rc = conversation.icookie, conversation.rcookie
            v1.keys = keys.ikev1_keys(v1.hash, skeyid, g_xy, ic, rc, v1.g_xi, v1.pair.public, v1.cipher.key_length,
                                      v1.cipher.block)  # fmt: skip
            v1.iv = v1.last_block = v1.keys.iv
        return v1.keys

    def _open(self, conversation: Conversation, data: bytes, iv: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
        """The payloads of an encrypted message and its last ciphertext block; raises :class:`CryptoFailure`."""
        v1 = conversation.v1
        if v1 is None or v1.keys is None or v1.cipher is None:
            why = "no phase 1 keys" if v1 is None or v1.cipher is not None else "its cipher is not implemented"
            raise CryptoFailure(f"cannot decrypt it: {why}")
        body = data[reader.HEADER.size :]
        plain = v1.cipher.decrypt(v1.keys.encryption_key, iv, body)
        try:
            return reader.decrypted_payloads(data[16], plain), body[-v1.cipher.block :]
        except WireError as error:
            raise CryptoFailure(f"decrypted to no valid payloads ({error.detail})") from None

    def _seal(self, conversation: Conversation, exchange: int, mid: int, payloads: list[tuple[int, bytes]],
              iv: bytes) -> tuple[bytes, bytes]:  # fmt: skip
        """An encrypted message (RFC 2409 appendix B, zero padding) and its last ciphertext block."""
        v1 = conversation.v1
        assert v1 is not None and v1.keys is not None and v1.cipher is not None
        plain = wp.chain(payloads)[1]
        plain += bytes(-len(plain) % v1.cipher.block)
        ciphertext = v1.cipher.encrypt(v1.keys.encryption_key, iv, plain)
        header = reader.HEADER.pack(conversation.icookie, conversation.rcookie, payloads[0][0], 0x10, exchange,
                                    reader.FLAG_ENCRYPTION, mid, reader.HEADER.size + len(ciphertext))  # fmt: skip
        return header + ciphertext, ciphertext[-v1.cipher.block :]

    def _mm5(self, label: str, conversation: Conversation, data: bytes) -> Message:
        """MM5 decrypted and HASH_I checked: the machine gets it with the initiator's key right or wrong."""
        v1 = conversation.v1
        mine = self.endpoint.policy
        msg = Message("MM5", label, _peer(conversation.address), NAME, conversation.proposed)
        try:
            if v1 is None or v1.keys is None:
                raise CryptoFailure("no phase 1 keys (MM4 not sent, or an authentication serve does not implement)")
            if conversation.kept is None:
                raise CryptoFailure("MM1's SA payload is no longer kept (the negotiation ended or is authenticated)")
            payloads, last = self._open(conversation, data, v1.iv)
            found = dict(reversed(payloads))
            idii, hash_i = found.get(wp.V1_ID), found.get(wp.V1_HASH)
            if idii is None or hash_i is None:
                raise CryptoFailure("decrypted, but without an ID and a HASH payload")
            expected = keys.ikev1_hash_i(v1.hash, v1.keys.skeyid, v1.g_xi, v1.pair.public, conversation.icookie,
                                         conversation.rcookie, conversation.kept.unpacked(), idii)  # fmt: skip
            if not hmac.compare_digest(expected, hash_i):
                raise CryptoFailure("HASH_I does not match")
        except CryptoFailure as failure:
            # Keys that differ: a wrong pre-shared key, as far as the wire can tell (a damaged
            # ciphertext looks the same). The machine decides what the implementation does then.
            msg.body = dataclasses.replace(conversation.proposed, psk=mine.psk + " (not the initiator's)")
            msg.detail = str(failure)
            return msg
        v1.iv = v1.last_block = last
        return msg

    def _quick(
        self, now: float, label: str, conversation: Conversation, datagram: Datagram, data: bytes
    ) -> Message | None:
        """QM1 (HASH(1) checked, the ESP proposal chosen) or QM3 (HASH(3) checked)."""
        v1 = conversation.v1
        session = self.endpoint.sessions.get(label)
        if v1 is None or v1.keys is None or session is None or not session.established:
            raise CryptoFailure("quick mode before main mode is up")
        mid = datagram.message_id
        quick = conversation.quick.get(mid)
        peer = _peer(conversation.address)
        if quick is not None and quick.reply:  # QM2 went out: this is QM3
            payloads, _ = self._open(conversation, data, quick.iv)
            if payloads[:1] and payloads[0][0] == wp.V1_HASH:
                expected = keys.ikev1_quick_mode_hash3(v1.hash, v1.keys.skeyid_a, mid, quick.ni, quick.nr)
                if hmac.compare_digest(expected, payloads[0][1]):
                    return Message("QM3", quick.label, peer, NAME, conversation.proposed, parent=label)
            raise CryptoFailure("QM3 without a matching HASH(3)")
        found, last = self._open_phase2(conversation, data, mid, keys.ikev1_quick_mode_hash1, "QM1")
        sa = next((body for kind, body in found if kind == wp.V1_SA), None)
        ni = next((body for kind, body in found if kind == wp.V1_NONCE), None)
        if sa is None or ni is None:
            raise CryptoFailure("QM1 without an SA or a nonce payload")
        try:
            offered = reader.esp_proposals(sa)
        except WireError as error:
            raise CryptoFailure(f"QM1's SA payload: {error.detail}") from None
        chosen = next((p for p in offered if p.protocol == 3 and p.transform[1] in ESP_IMPLEMENTED), None)
        if chosen is None:
            raise CryptoFailure("QM1 offers no ESP transform serve knows")
        if len(conversation.quick) >= MAX_QUICK_MODES:  # the oldest quick mode's state makes room
            old = next(iter(conversation.quick))
            self.quick_of.pop(conversation.quick.pop(old).label, None)
            for key in (f"QM1#{old}", f"QM3#{old}"):
                conversation.received.pop(key, None)
                conversation.bodies.pop(key, None)
        self._count += 1
        quick = QuickState(f"QM#{self._count}", last, ni=ni, peer_spi=chosen.spi)
        reply = [
            (wp.V1_SA, wp.v1_sa([wp.v1_proposal(chosen.number, chosen.protocol, quick.spi, [chosen.transform])])[1]),
            (wp.V1_NONCE, quick.nr),
        ]
        ke = next((body for kind, body in found if kind == wp.V1_KE), None)
        if ke is not None:  # PFS: a key exchange of the group the proposal names
            pair = KeyPair(chosen.attributes.get(3, v1.pair.group))
            pair.shared(ke)  # checks the initiator's value
            reply.append((wp.V1_KE, pair.public))
        reply += [(kind, body) for kind, body in found if kind == wp.V1_ID][:2]  # IDci, IDcr echoed
        quick.pending = reply
        conversation.quick[mid] = quick
        self.quick_of[quick.label] = label
        return Message("QM1", quick.label, peer, NAME, conversation.proposed, parent=label)

    def _open_phase2(
        self,
        conversation: Conversation,
        data: bytes,
        mid: int,
        hash1: Callable[[HashName, bytes, int, bytes], bytes],
        what: str,
    ) -> tuple[list[tuple[int, bytes]], bytes]:
        """Decrypt a phase 2 message (quick mode, informational) and check its HASH(1) (RFC 2409 5.5, 5.7).

        Returns the payloads after the HASH and the last ciphertext block; a :class:`CryptoFailure`
        says what does not fit.
        """
        v1 = conversation.v1
        assert v1 is not None and v1.keys is not None  # the callers checked phase 1 is keyed
        iv = keys.ikev1_phase2_iv(v1.hash, v1.last_block, mid, len(v1.iv))
        payloads, last = self._open(conversation, data, iv)
        if not payloads or payloads[0][0] != wp.V1_HASH:
            raise CryptoFailure(f"{what} does not start with HASH(1)")
        expected = hash1(v1.hash, v1.keys.skeyid_a, mid, wp.chain(payloads[1:])[1])
        if not hmac.compare_digest(expected, payloads[0][1]):
            raise CryptoFailure(f"{what}: HASH(1) does not match")
        return payloads[1:], last

    def _informational(
        self, now: float, label: str, conversation: Conversation, datagram: Datagram, data: bytes
    ) -> Message | None:
        """An encrypted informational exchange: HASH(1) checked, then a delete, an R-U-THERE or a notify."""
        v1 = conversation.v1
        if v1 is None or v1.keys is None:
            raise CryptoFailure("an encrypted informational message before any phase 1 keys")
        mid = datagram.message_id
        payloads, _ = self._open_phase2(
            conversation, data, mid, keys.ikev1_informational_hash, "an informational message"
        )
        peer = _peer(conversation.address)
        for kind, body in payloads:
            if kind == wp.V1_D and len(body) >= 8:
                protocol, spi_size, count = body[4], body[5], int.from_bytes(body[6:8], "big")
                if protocol == 1:
                    return Message("INFO DELETE", label, peer, NAME, conversation.proposed,
                                   condition=Condition.MM_EXPIRED)  # fmt: skip
                spis = {body[8 + i * spi_size : 8 + (i + 1) * spi_size] for i in range(count)}
                for quick in conversation.quick.values():
                    if quick.peer_spi in spis and quick.label in self.endpoint.sessions:
                        return Message("INFO DELETE", quick.label, peer, NAME, conversation.proposed, parent=label,
                                       condition=Condition.QM_EXPIRED)  # fmt: skip
                self._drop(now, label, "INFO DELETE", conversation.address, None, "deletes no SA kept here")
                return None
            if kind == wp.V1_N:
                number = reader.notify_type(body)
                if number in (R_U_THERE, R_U_THERE_ACK):
                    spi_size = body[5]
                    v1.dpd_sequence = int.from_bytes(body[8 + spi_size : 12 + spi_size], "big")
                    return Message("R-U-THERE" if number == R_U_THERE else "R-U-THERE-ACK", label, peer, NAME,
                                   conversation.proposed)  # fmt: skip
                condition = NOTIFIED_BY_TYPE.get(number)
                if condition is not None:
                    return Message("INFO NOTIFY", label, peer, NAME, conversation.proposed, condition=condition)
                self._drop(now, label, "INFO", conversation.address, None, f"notify type {number} is not modelled")
                return None
        self._drop(now, label, "INFO", conversation.address, None, "an informational message without N or D")
        return None

    def _proposed(self, offer: list[Transform]) -> tuple[Policy, list[Transform]]:
        """The initiator's offer as the policy the machine's checks compare with the responder's.

        Only what decides the check is kept (:func:`deciding`), with the transform MM2 would
        echo: a negotiation keeps nothing of the offer's size.
        """
        mine = self.endpoint.policy
        methods = [t.auth() for t in offer]
        auth = mine.auth if mine.auth in methods else (methods[0] if methods else "none")

        # An offer may name a method no policy has ("method 9", "none"): it only has to differ from mine.
        # The pre-shared key is ours until MM5 shows otherwise (only MM5's message carries another).
        def as_offer(proposals: tuple[Proposal, ...]) -> Policy:
            return Policy(auth=cast(AuthMethod, auth), psk=mine.psk, proposals=proposals)

        pairs = [(p, t) for t in offer
                 if t.auth() == auth and len(t.raw) <= MAX_TRANSFORM and (p := _proposal(t)) is not None]  # fmt: skip
        decided = deciding(pairs, as_offer, mine)
        return as_offer(tuple(p for p, _ in decided)), [t for _, t in decided]

    def _accepted(self, conversation: Conversation) -> None:
        """The datagram being handled is a message of this negotiation: it may move the negotiation to NAT-T.

        If it came to the NAT-T port, the initiator has moved there (RFC 3947 section 4, RFC 7296
        section 2.23). Only an accepted message moves it: a damaged or undecryptable one (anyone can send those
        with the initiator's cookie) leaves the replies going where they went.
        """
        if self._natt_from is not None:
            conversation.address, conversation.natt = self._natt_from, True

    def _receive(self, now: float, msg: Message) -> None:
        conversation = self.conversations[self.quick_of.get(msg.sa, msg.sa)]
        if msg.corrupt is None:
            self._accepted(conversation)
        address = conversation.address
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
        conversation = self.conversations.get(outcome.sa) if outcome.sa not in self.quick_of else None
        if conversation is None:
            return
        self._half_open.pop(outcome.sa, None)
        conversation.offer = []  # the offer is decided: keep nothing of its size
        if self.endpoint.sessions[outcome.sa].ended:
            self._release(outcome.sa)  # nothing more is authenticated
            self._ended[outcome.sa] = None
            conversation.forget_at = now + self.linger
            self._push(conversation.forget_at, outcome.sa)

    def timer(self, session: Session, name: str, detail: str | None = None) -> None:
        """Print the timer that fired."""
        self._emit(self.endpoint.now, "timer", session.label, name, detail, None, None)

    def drop(self, endpoint: Endpoint, msg: Message, reason: str, cause: DropCause) -> None:
        """Print the message the machine would not accept."""
        self._emit(endpoint.now, "drop", msg.sa, msg.name, msg.sender, reason, cause)

    def timers_changed(self, session: Session, wake: float | None) -> None:
        """Look at the session again when it asks to be woken."""
        if wake is not None and wake != math.inf:
            self._push(wake, session.label)

    def _send(self, now: float, session: Session, msg: Message, attempt: int) -> None:
        label = self.quick_of.get(session.label, session.label)
        conversation = self.conversations[label]
        to = f"{conversation.address[0]}:{conversation.address[1]}"
        key = msg.name if label == session.label else f"{msg.name}#{session.label}"
        data = conversation.sent.get(key) if attempt != 0 else None
        if data is None:
            data = self._encode(conversation, session, msg)
            if msg.name not in ("INFO NOTIFY", "INFO DELETE", "R-U-THERE", "R-U-THERE-ACK"):
                conversation.sent[key] = data
            self._emit(now, "send", session.label, msg.name, to, msg.detail, None)
        else:
            self._emit(now, "retransmit", session.label, msg.name, to, max(attempt, 0), msg.detail)
        self._replies.append((NON_ESP_MARKER + data if conversation.natt else data, conversation.address))

    def _encode(self, conversation: Conversation, session: Session, msg: Message) -> bytes:
        ic, rc = conversation.icookie, conversation.rcookie
        if msg.name == "MM2":
            chosen = conversation.chosen = self._chosen(conversation)
            conversation.offer = []  # chosen: the transform is kept, not the offer (already only it: _proposed)
            vids = [(wp.V1_VID, vid) for vid in conversation.vids]
            payloads = [(wp.V1_SA, wp.v1_sa([wp.v1_proposal(chosen.proposal_number, 1, b"", [chosen.raw])])[1]), *vids]
            return wp.v1_message(ic, rc, reader.IDENTITY_PROTECTION, payloads)
        v1 = conversation.v1
        if msg.name == "MM4":
            assert v1 is not None  # MM4 answers an MM3 that was read
            self._phase1_keys(conversation)
            payloads = [(wp.V1_KE, v1.pair.public), (wp.V1_NONCE, v1.nr)]
            if v1.nat_d is not None:  # NAT-D: the initiator's address as we see it, then ours (RFC 3947 3.2)
                for address in (conversation.address, conversation.local):
                    payloads.append((v1.nat_d, nat_d_hash(v1.hash, ic, rc, *wire_address(address))))
            return wp.v1_message(ic, rc, reader.IDENTITY_PROTECTION, payloads)
        if msg.name == "MM6":
            assert v1 is not None and v1.keys is not None and conversation.kept is not None  # answers a read MM5
            idir = wp.v1_id_ipv4(conversation.local[0])[1]
            hash_r = keys.ikev1_hash_r(v1.hash, v1.keys.skeyid, v1.g_xi, v1.pair.public, ic, rc,
                                       conversation.kept.unpacked(), idir)  # fmt: skip
            data, v1.last_block = self._seal(conversation, reader.IDENTITY_PROTECTION, 0,
                                             [(wp.V1_ID, idir), (wp.V1_HASH, hash_r)], v1.iv)  # fmt: skip
            self._release(session.label)  # authenticated: MM6 is resent as it is, SAi_b is not needed again
            return data
        if msg.name == "QM2":
            assert v1 is not None and v1.keys is not None
            mid, quick = next((m, q) for m, q in conversation.quick.items() if q.label == session.label)
            hash2 = keys.ikev1_quick_mode_hash2(v1.hash, v1.keys.skeyid_a, mid, quick.ni, wp.chain(quick.pending)[1])
            data, quick.iv = self._seal(conversation, reader.QUICK_MODE, mid, [(wp.V1_HASH, hash2), *quick.pending],
                                        quick.iv)  # fmt: skip
            quick.reply, quick.pending = data, []
            return data
        payloads = self._informational_payloads(conversation, session, msg)
        if v1 is None or v1.keys is None:  # no phase 1 keys yet: in clear
            return wp.v1_message(ic, rc, reader.INFORMATIONAL, payloads, secrets.randbits(32))
        mid = secrets.randbits(32) or 1
        digest = keys.ikev1_informational_hash(v1.hash, v1.keys.skeyid_a, mid, wp.chain(payloads)[1])
        iv = keys.ikev1_phase2_iv(v1.hash, v1.last_block, mid, len(v1.iv))
        return self._seal(conversation, reader.INFORMATIONAL, mid, [(wp.V1_HASH, digest), *payloads], iv)[0]

    def _informational_payloads(
        self, conversation: Conversation, session: Session, msg: Message
    ) -> list[tuple[int, bytes]]:
        """The payloads of an informational message: a notify, a delete, or a liveness check or its answer."""
        ic, rc = conversation.icookie, conversation.rcookie
        if msg.name == "INFO NOTIFY":
            assert msg.condition is not None
            number = NOTIFY_TYPES[msg.condition][1]
            notifies = [(wp.V1_N, wp.v1_notify(number)[1])]
            code = msg.condition.value.code
            if "MS_NOTIFY_STATUS" in (msg.detail or "") and code is not None:  # to a Windows initiator only
                notifies.append((wp.V1_N, wp.v1_notify(MS_NOTIFY_STATUS, 1, b"", int(code).to_bytes(4, "big"))[1]))
            return notifies
        if msg.name == "INFO DELETE":
            quick = next((q for q in conversation.quick.values() if q.label == session.label), None)
            if quick is not None:  # our inbound ESP SA (RFC 2408 3.15)
                return [(wp.V1_D, struct.pack("!IBBH", 1, 3, 4, 1) + quick.spi)]
            return [(wp.V1_D, struct.pack("!IBBH", 1, 1, 16, 1) + ic + rc)]
        if msg.name in ("R-U-THERE", "R-U-THERE-ACK"):
            v1 = conversation.v1
            assert v1 is not None
            if msg.name == "R-U-THERE":
                v1.dpd_sequence = (v1.dpd_sequence + 1) & 0xFFFFFFFF
            number = R_U_THERE if msg.name == "R-U-THERE" else R_U_THERE_ACK
            body = struct.pack("!IBBH", 1, 1, 16, number) + ic + rc + v1.dpd_sequence.to_bytes(4, "big")
            return [(wp.V1_N, body)]
        raise AssertionError(f"the live responder does not send {msg.name}")

    def _chosen(self, conversation: Conversation) -> Transform:
        """The offered transform the machine's check accepted (the first acceptable, in offer order).

        Once chosen it is kept (the offer is not): an MM1 again after the negotiation ended gets it too.
        """
        if conversation.chosen is not None:
            return conversation.chosen
        proposed = conversation.proposed
        chosen = select_proposal(proposed, self.endpoint.policy)
        assert isinstance(chosen, Proposal)
        return next(t for t in conversation.offer if t.auth() == proposed.auth and _proposal(t) == chosen)

    # --- bookkeeping -------------------------------------------------------------------------

    def _label(self, prefix: str) -> str:
        raise AssertionError("the live responder never initiates")

    def _push(self, when: float, label: str) -> None:
        self._pushes += 1
        heapq.heappush(self._deadlines, (when, self._pushes, label))

    def _forget(self, label: str) -> None:
        self._release(label)
        conversation = self.conversations.pop(label)
        self.endpoint.sessions.pop(label, None)
        del self.by_cookie[(conversation.address[0], conversation.icookie)]
        for quick in conversation.quick.values():
            self.quick_of.pop(quick.label, None)
            self.endpoint.sessions.pop(quick.label, None)
        self._ended.pop(label, None)
        self._half_open.pop(label, None)
        ip = conversation.address[0]
        left = self.per_address[ip] - 1
        if left:
            self.per_address[ip] = left
        else:  # nothing of this address is kept any more, not even the policy's rate-limit window
            del self.per_address[ip]
            self.endpoint.first_seen.pop(_peer(conversation.address), None)

    def _fits(self, now: float, name: str, address: Address) -> bool:
        """Whether a new negotiation from ``address`` may be opened; prints why not. Changes nothing.

        Past the total limit it fits when an ended or half-open negotiation can make room
        (:meth:`_make_room`, called once the datagram has been found acceptable: a refused
        datagram must not cost a kept negotiation).
        """
        if self.per_address.get(address[0], 0) >= self.limits.per_address:
            self._drop(now, None, name, address, None, f"{self.limits.per_address} negotiations of this address "
                       "kept already: the negotiation is not opened")  # fmt: skip
            return False
        if len(self.conversations) >= self.limits.total and not (self._ended or self._half_open):
            self._drop(now, None, name, address, None, "limit reached: the negotiation is not opened")
            return False
        return True

    def _make_room(self, now: float) -> None:
        """At the total limit, forget the oldest ended negotiation, else the oldest half-open one.

        Real responders drop half-open SAs under load, so a flood cannot lock new initiators out.
        :meth:`_fits` said beforehand that there is one to forget.
        """
        if len(self.conversations) < self.limits.total:
            return
        kept, why = (self._ended, "ended") if self._ended else (self._half_open, "half open")
        label = next(iter(kept))
        self._emit(now, "drop", label, "*", "*", f"{why} negotiation forgotten to make room "
                   f"(limit {self.limits.total} negotiations)", DropCause.REFUSED)  # fmt: skip
        self._forget(label)

    def _keep(self, now: float, label: str, data: bytes) -> None:
        """Keep a first message's bytes for a negotiation still under way, within :attr:`Limits.kept_bytes`.

        Past that, the oldest negotiations keeping some are forgotten (all half open: the bytes
        go once the SA is authenticated or ends), so that offers of any size bound memory.
        """
        conversation = self.conversations.get(label)
        session = self.endpoint.sessions.get(label)
        if conversation is None or session is None or session.ended or session.established:
            return
        conversation.kept = Kept.of(data)
        self._holding[label] = len(conversation.kept.packed)
        self._kept += self._holding[label]
        while self._kept > self.limits.kept_bytes and len(self._holding) > 1:
            oldest = next(iter(self._holding))
            self._emit(now, "drop", oldest, "*", "*", "half open negotiation forgotten to make room (limit "
                       f"{self.limits.kept_bytes} bytes of first messages kept)", DropCause.REFUSED)  # fmt: skip
            self._forget(oldest)

    def _release(self, label: str) -> None:
        """The negotiation needs its kept bytes no more."""
        self._kept -= self._holding.pop(label, 0)
        conversation = self.conversations.get(label)
        if conversation is not None:
            conversation.kept = None

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
        self.emit(record(self._events, (float(now), kind, NAME, sa, a, b, c, d), self.quick_of).as_json())


def _peer(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


SERVED_PROFILES = tuple(name for name, profile in PROFILES.items() if profile.served is not None)
IKEV2_PROFILES = ("strongswan", "windows-ikev2", "custom")  # implementations whose IKEv2 responder serve plays
IKEV2_ENCRYPTIONS = ("aes128", "aes192", "aes256")  # what serve seals IKEv2 messages with (AES-CBC)


def default_ikev2_policy() -> Policy:
    """The IKEv2 responder policy when no scenario gives one: strongSwan's proposals and a pool of 254 addresses."""
    return Policy(proposals=PROFILES["strongswan"].served or (), address_pool=254)


def responder_for(
    profile: str | None,
    scenario: Any,
    emit: Callable[[dict[str, Any]], None],
    limits: Limits | None = None,
    protocol: str | None = None,
) -> LiveResponder:
    """A responder from a profile name and/or a scenario's responder peer; ValueError says what does not fit.

    The scenario gives the policy (and, without ``profile``, the profile and its options) and the
    protocol (unless ``protocol`` names one); the profile alone gives its implementation's defaults.
    """
    options: dict[str, Any] = {}
    policy = None
    if scenario is not None:
        responders = [(name, peer) for name, peer in scenario.peers.items() if peer.role == "responder"]
        if not responders:
            raise ValueError(f"scenario {scenario.name!r} has no responder peer")
        name, peer = responders[0]
        if peer.protocol not in ("ikev1", "ikev2"):
            raise ValueError(f"scenario {scenario.name!r}: peer {name} speaks {peer.protocol}; serve speaks IKEv1 "
                             "and IKEv2")  # fmt: skip
        if protocol is not None and protocol != peer.protocol:
            raise ValueError(f"scenario {scenario.name!r}: peer {name} speaks {peer.protocol}, not {protocol}")
        protocol = peer.protocol
        policy = peer.policy
        if profile is None or profile == peer.profile:
            profile, options = peer.profile, dict(peer.retransmit)
    protocol = protocol or "ikev1"
    if protocol == "ikev2":
        profile = profile or "strongswan"
        if profile not in IKEV2_PROFILES:
            known = ", ".join(IKEV2_PROFILES)
            why = "has no IKEv2 responder in serve" if profile in PROFILES else "is not a profile"
            raise ValueError(f"profile {profile!r} {why} (IKEv2 profiles: {known})")
    else:
        profile = profile or "windows"
        if profile not in SERVED_PROFILES:
            known = ", ".join(SERVED_PROFILES)
            why = "is IKEv2's; serve speaks IKEv1 main mode" if profile in PROFILES else "is not a profile"
            raise ValueError(f"profile {profile!r} {why} (profiles: {known})")
    if profile == "custom" and not options:
        raise ValueError("profile 'custom' needs a schedule: give a scenario whose responder has one")
    schedule = PROFILES[profile].schedule(options)
    policy = policy or (default_ikev2_policy() if protocol == "ikev2" else default_policy(profile))
    # A real key exchange value: a policy names only groups the wire layer implements (sim.protocol.policy.Group).
    policy = dataclasses.replace(policy, dh_groups=tuple(policy.accepted_groups()))
    rules = PROFILES[profile].responder_rules(options) if options else None  # a scenario's half_open_timeout...
    if protocol == "ikev2":
        from sim.live.ikev2 import Ikev2Responder

        sealed = tuple(p for p in policy.proposals if p.encryption in IKEV2_ENCRYPTIONS)
        if not sealed:
            raise ValueError("serve's IKEv2 responder encrypts with AES-CBC only (aes128, aes192, aes256); "
                             "the policy has none of them")  # fmt: skip
        return Ikev2Responder(profile, schedule, dataclasses.replace(policy, proposals=sealed), emit, limits, rules)
    return LiveResponder(profile, schedule, policy, emit, limits, rules)
