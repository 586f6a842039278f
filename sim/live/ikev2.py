"""The live IKEv2 responder: real IKE_SA_INIT, IKE_AUTH (PSK, configuration payload, first child SA), INFORMATIONAL.

It is the IKEv1 :class:`~sim.live.responder.LiveResponder` with IKEv2's wire: the same bounds on
state, the same trace lines, the same clock handling; the protocol core's IKEv2 tables
(:mod:`sim.protocol.ikev2`) decide what is answered and which code is reported. This module maps
datagrams onto the core's messages (an :class:`~sim.protocol.ikev2.Ikev2Payload` says what a
request carries beyond its name: the KE payload's group, a CFG_REQUEST) and the core's sends
onto bytes:

- IKE_SA_INIT: the first offered proposal the policy accepts, echoed with its key length, a real
  KE of its group, Nr and the NAT detection notifies; N(INVALID_KE_PAYLOAD) with the wanted
  group when the KE payload is of another offered group (no state kept), N(NO_PROPOSAL_CHOSEN)
  when nothing fits;
- IKE_AUTH: decrypted and checked (integrity, then AUTH with the pre-shared key); answered with
  IDr and AUTH, and for the first child SA either CP(CFG_REPLY) INTERNAL_IP4_ADDRESS from the
  pool, the ESP proposal chosen and the traffic selectors (TSi narrowed to the inner address), or
  N(INTERNAL_ADDRESS_FAILURE) / N(FAILED_CP_REQUIRED); a wrong key gets N(AUTHENTICATION_FAILED);
- INFORMATIONAL: deletes (the IKE SA, a child SA by the initiator's SPI) and liveness checks, each
  answered; our own requests (a delete when an SA expires) go out with our message IDs;
- CREATE_CHILD_SA: answered N(NO_ADDITIONAL_SAS) (serve makes no rekeys), so every request is answered.

A request that comes again with the same bytes gets the same response again. Every decryption,
integrity or authentication-payload failure is a dropped datagram with a reason.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sim.conditions import Condition
from sim.live.crypto import NON_ESP_MARKER, CryptoFailure, KeyPair, wire_address
from sim.live.responder import NAME, Address, Conversation, LiveResponder, _peer, deciding, digest
from sim.protocol import ikev2 as core
from sim.protocol.checks import select_proposal
from sim.protocol.ikev2 import IKEV2, Ikev2Payload
from sim.protocol.policy import Policy, Proposal
from sim.protocol.session import Message, Session
from sim.wire import dh, keys, reader, vendors
from sim.wire import payloads as p
from sim.wire.cipher import IKEV2_INTEGRITY, WireCryptoError, ikev2_open, ikev2_seal
from sim.wire.keys import IKEV2_PRFS, HashName
from sim.wire.reader import Datagram, WireError
from sim.wire.vendors import nat_detection

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37
FLAG_INITIATOR, FLAG_RESPONSE = 0x08, 0x20
SA, KE, IDI, IDR, AUTH, NONCE, NOTIFY, DELETE, TSI, TSR, SK, CP = 33, 34, 35, 36, 39, 40, 41, 42, 44, 45, 46, 47
NAT_SOURCE, NAT_DESTINATION, MOBIKE_SUPPORTED, COOKIE = 16388, 16389, 16396, 16390
INTERNAL_IP4_ADDRESS, INTERNAL_IP4_NETMASK = 1, 2
ENCR_AES_CBC = 12
# Policy names of what serve can seal: AES-CBC with a key length, an HMAC integrity whose hash names the PRF too.
AES_BY_BITS = {128: "aes128", 192: "aes192", 256: "aes256"}
INTEGRITY_NAMES = {1: "md5", 2: "sha1", 12: "sha256", 13: "sha384", 14: "sha512"}
PRF_BY_NAME = {name: number for number, name in IKEV2_PRFS.items()}
INTEGRITY_BY_NAME = {name: number for number, name in INTEGRITY_NAMES.items()}
MAX_CACHED_RESPONSES = 4  # responses kept per IKE SA to answer a request that comes again


@dataclass(frozen=True, slots=True)
class Choice:
    """One acceptable combination of an offered IKE proposal, with the numbers to echo."""

    number: int
    encryption_bits: int
    prf: int
    integrity: int
    group: int


def ike_choices(sa_body: bytes) -> list[tuple[Proposal, Choice]]:
    """Each combination serve can seal of the offered IKE proposals, in the offer's order, as policy proposals.

    Each (encryption, integrity, group) comes once, with the first PRF of its proposal serve can
    use (the one a choice takes): at most 3 x 5 x the groups serve implements, however long the
    offer and however often it repeats its transforms (every combination of 40 of each type was
    2.5 million).
    """
    return list(
        _combinations([(n, items) for n, protocol, _, items in reader.v2_proposals(sa_body, "IKE") if protocol == 1])
    )


def _combinations(offered: list[tuple[int, list[tuple[int, int, int | None]]]]) -> Iterator[tuple[Proposal, Choice]]:
    seen: set[tuple[int, int, int]] = set()
    for number, items in offered:
        by_type: dict[int, dict[tuple[int, int | None], None]] = {}  # type -> its distinct (ID, key length), in order
        for kind, transform_id, key_length in items:
            by_type.setdefault(kind, {})[(transform_id, key_length)] = None
        prf = next((t for t, _ in by_type.get(2, {}) if t in IKEV2_PRFS), None)
        if prf is None:
            continue
        for encr, bits in by_type.get(1, {}):
            if encr != ENCR_AES_CBC or bits not in AES_BY_BITS:
                continue
            for integ, _ in by_type.get(3, {}):
                name = INTEGRITY_NAMES.get(integ)
                if name is None:
                    continue
                for group, _ in by_type.get(4, {}):
                    if group in dh.GROUPS and (bits, integ, group) not in seen:
                        seen.add((bits, integ, group))
                        proposal = Proposal(AES_BY_BITS[bits], name, group)  # type: ignore[arg-type]
                        yield proposal, Choice(number, bits, prf, integ, group)


@dataclass(slots=True)
class Child:
    """A child SA the first IKE_AUTH negotiated: its SPIs and what was answered."""

    label: str
    peer_spi: bytes
    spi: bytes = field(default_factory=lambda: secrets.token_bytes(4))


@dataclass(slots=True)
class IkeConversation(Conversation):
    """What the responder keeps for one IKE SA, besides the machine's sessions."""

    choices: list[tuple[Proposal, Choice]] = field(default_factory=list)
    choice: Choice | None = None
    ke_group: int = 0  # the group of the initiator's KE payload
    pair: KeyPair | None = None  # our key pair in the KE payload's group, and g^ir
    g_ir: bytes = b""
    ni: bytes = b""
    nr: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    offered: tuple[int, ...] = ()  # the notify types the request carried (the response answers some)
    response: bytes = b""  # IKE_SA_INIT response as sent: what our AUTH signs (the request: Conversation.kept)
    keys: keys.IKEv2Keys | None = None
    prf: HashName = "sha1"
    auth_request: dict[int, bytes] = field(default_factory=dict)  # IKE_AUTH's inner payloads by type (first each)
    children: list[Child] = field(default_factory=list)
    responses: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # message ID -> (request digest, response)
    answering: int = 0  # the message ID of the request being answered
    next_id: int = 0  # our own requests' message IDs


class Ikev2Responder(LiveResponder):
    """One IKEv2 responder for many initiators, on a clock it is told."""

    version = "IKEv2"
    spec = IKEV2
    _data = b""  # the datagram being handled, as received

    # --- datagrams ---------------------------------------------------------------------------

    def _datagram(self, now: float, data: bytes, address: Address, local: Address, natt: bool) -> None:
        found = data[:8] if len(data) >= reader.HEADER.size else None
        label = self.by_cookie.get((address[0], found)) if found else None
        self._data = data
        if label is None:
            self._first(now, reader.read_ikev2(data), address, local)
            return
        conversation = self.conversations[label]
        assert isinstance(conversation, IkeConversation)
        try:
            datagram = reader.read_ikev2(data)
        except WireError as error:
            self._damaged(now, label, error)
            return
        self._next2(now, label, conversation, datagram, data)

    def _first(self, now: float, datagram: Any, address: Address, local: Address) -> None:
        """A datagram that names no IKE SA: a new IKE_SA_INIT request, or nothing that can be answered."""
        assert isinstance(datagram, Datagram)
        if datagram.spi_r != bytes(8):
            raise WireError("cookie", "no IKE SA here has these SPIs")
        if datagram.exchange != IKE_SA_INIT or datagram.flags & FLAG_RESPONSE or not datagram.flags & FLAG_INITIATOR:
            raise WireError("payload", "a first message must be an IKE_SA_INIT request")
        if datagram.message_id != 0:
            raise WireError("message_id", f"message ID {datagram.message_id} in IKE_SA_INIT")
        sa, ke, ni = datagram.first(SA), datagram.first(KE), datagram.first(NONCE)
        if sa is None or ke is None or ni is None or len(ke) < 4:
            raise WireError("payload", "an IKE_SA_INIT request without SA, KE and Ni")
        if not 16 <= len(ni) <= 256:
            raise WireError("payload", f"a nonce of {len(ni)} bytes (RFC 7296: 16 to 256)")
        choices = ike_choices(sa)
        if not self._fits(now, core.INIT_REQUEST, address):
            return
        mine = self.endpoint.policy

        def as_offer(proposals: tuple[Proposal, ...]) -> Policy:
            return Policy(auth=mine.auth, psk=mine.psk, proposals=proposals, mobike=True)

        decided = deciding(choices, as_offer, mine)  # of the offer, only what the machine's check needs
        # An offer nothing of which serve can seal still goes to the machine, as an offer of nothing it accepts.
        offered = tuple(proposal for proposal, _ in decided) or (Proposal("des", "md5", 1),)
        proposed = Policy(auth=mine.auth, psk=mine.psk, proposals=offered, mobike=True)
        conversation = IkeConversation(address, datagram.spi_i, secrets.token_bytes(8), [], proposed, [], local=local)
        conversation.choices = decided
        conversation.ke_group, conversation.ni = int.from_bytes(ke[:2], "big"), ni
        conversation.offered = tuple(dict.fromkeys(n for n, _ in datagram.notifies()))
        conversation.received[core.INIT_REQUEST] = digest(self._data)
        if conversation.ke_group in mine.accepted_groups() and conversation.ke_group in dh.GROUPS:
            conversation.pair = KeyPair(conversation.ke_group)  # checked now: a bad value is a damaged payload
            try:
                conversation.g_ir = conversation.pair.shared(ke[4:])  # (the initiator's value is not kept)
            except CryptoFailure as failure:
                raise WireError("payload", str(failure)) from None
        # Accepted: only now may it cost a kept negotiation (an eviction for a refused datagram changed state).
        self._make_room(now)
        self._count += 1
        label = f"IKE#{self._count}"
        self.conversations[label] = conversation
        self.by_cookie[(address[0], datagram.spi_i)] = label
        self.per_address[address[0]] = self.per_address.get(address[0], 0) + 1
        self._half_open[label] = None
        msg = Message(core.INIT_REQUEST, label, _peer(address), NAME, proposed)
        returned = any(n == COOKIE for n, _ in datagram.notifies())  # the machine models a cookie as returned or not
        # Group 0 names no group, but the core reads a KE group of 0 as none given (the first proposal's):
        # -1 is "another group", which gets N(INVALID_KE_PAYLOAD) like any group the choice does not name.
        msg.ikev2 = Ikev2Payload(ke_group=conversation.ke_group or -1, cookie=returned)
        self._receive(now, msg)
        if label not in self.endpoint.sessions:  # refused keeping no state (INVALID_KE_PAYLOAD): forget it too
            self._forget(label)
            return
        self._keep(now, label, self._data)  # as received: AUTH signs it

    def _next2(self, now: float, label: str, conversation: IkeConversation, datagram: Datagram, data: bytes) -> None:
        peer = _peer(conversation.address)
        if datagram.exchange == IKE_SA_INIT and datagram.spi_r == bytes(8):
            again = digest(data) == conversation.received.get(core.INIT_REQUEST)
            if again and conversation.sent.get(core.INIT_RESPONSE):
                msg = Message(core.INIT_REQUEST, label, peer, NAME, conversation.proposed)
                msg.ikev2 = Ikev2Payload(ke_group=conversation.ke_group)
                self._receive(now, msg)  # the same request again: the machine resends its response
                if conversation.kept is None:  # or, when it ended (strongSwan), begins the IKE SA again
                    self._keep(now, label, data)
                return
            self._drop(now, label, core.INIT_REQUEST, conversation.address, None,
                       "a new IKE_SA_INIT for an IKE SA under way: dropped")  # fmt: skip
            return
        if datagram.spi_r != conversation.rcookie:
            raise_damaged = WireError("cookie", "the responder SPI is not this IKE SA's")
            self._damaged(now, label, raise_damaged)
            return
        mid = datagram.message_id
        if datagram.flags & FLAG_RESPONSE:  # the answer to one of our requests
            try:
                self._open2(conversation, data)
            except CryptoFailure as failure:
                self._drop(now, label, core.INFO_RESPONSE, conversation.address, None, f"{failure}: dropped")
                return
            self._receive(now, Message(core.INFO_RESPONSE, label, peer, NAME, conversation.proposed))
            return
        cached = conversation.responses.get(mid)
        if cached is not None and cached[0] == digest(data):  # the same request again: the same response again
            self._accepted(conversation)
            to = _peer(conversation.address)
            self._emit(now, "retransmit", label, _exchange_name(datagram.exchange, True), to, 0, None)
            self._replies.append((NON_ESP_MARKER + cached[1] if conversation.natt else cached[1], conversation.address))
            return
        try:
            inner = self._open2(conversation, data)
        except CryptoFailure as failure:
            self._drop(now, label, _exchange_name(datagram.exchange, False), conversation.address, None,
                       f"{failure}: dropped, state kept")  # fmt: skip
            return
        conversation.answering = mid
        before = len(self._replies)
        if datagram.exchange == IKE_AUTH:
            self._auth(now, label, conversation, inner, data)
        elif datagram.exchange == INFORMATIONAL:
            self._info2(now, label, conversation, inner)
        elif datagram.exchange == CREATE_CHILD_SA:
            self._accepted(conversation)
            self._drop(now, label, core.CHILD_REQUEST, conversation.address, None,
                       "serve makes no CREATE_CHILD_SA: answered N(NO_ADDITIONAL_SAS)")  # fmt: skip
            reply = self._seal2(conversation, CREATE_CHILD_SA, mid, True, [p.v2_notify(35)])
            self._replies.append((NON_ESP_MARKER + reply if conversation.natt else reply, conversation.address))
        else:
            self._drop(now, label, "?", conversation.address, None, f"exchange type {datagram.exchange} is not IKEv2's")
            return
        if len(self._replies) > before:  # answered: keep the response for a request that comes again
            response = self._replies[-1][0]
            conversation.responses[mid] = (digest(data), response[4:] if conversation.natt else response)
            while len(conversation.responses) > MAX_CACHED_RESPONSES:
                conversation.responses.pop(next(iter(conversation.responses)))

    def _open2(self, conversation: IkeConversation, data: bytes) -> list[tuple[int, bytes]]:
        """The inner payloads of an encrypted request or response; raises :class:`CryptoFailure`."""
        k, choice = conversation.keys, conversation.choice
        if k is None or choice is None:
            raise CryptoFailure("no keys for this IKE SA (IKE_SA_INIT not answered)")
        try:
            opened = ikev2_open(data, encryption_key=k.sk_ei, integrity_key=k.sk_ai, integrity_number=choice.integrity)
            return reader.chain(opened.payloads, 0, opened.next_payload, reserved=0x7F)
        except WireCryptoError as error:
            raise CryptoFailure(f"cannot open its Encrypted payload: {error}") from None
        except WireError as error:
            raise CryptoFailure(f"its decrypted payloads do not parse: {error.detail}") from None

    def _seal2(self, conversation: IkeConversation, exchange: int, mid: int, response: bool,
              body: list[p.Payload]) -> bytes:  # fmt: skip
        """A message whose only payload is SK {body}, sealed with SK_er and SK_ar (RFC 7296 3.14)."""
        k, choice = conversation.keys, conversation.choice
        assert k is not None and choice is not None
        first, inner = p.chain(body)
        header = reader.HEADER.pack(conversation.icookie, conversation.rcookie, SK, 0x20, exchange,
                             FLAG_RESPONSE if response else 0, mid, 0)  # fmt: skip
        return ikev2_seal(header, first, inner, encryption_key=k.sk_er, integrity_key=k.sk_ar,
                          integrity_number=choice.integrity, iv=secrets.token_bytes(16))  # fmt: skip

    def _auth(self, now: float, label: str, conversation: IkeConversation, inner: list[tuple[int, bytes]],
              data: bytes) -> None:  # fmt: skip
        """IKE_AUTH: AUTH checked with our pre-shared key; the machine decides the IKE SA and the child SA."""
        found: dict[int, bytes] = {}
        for kind, payload in inner:
            found.setdefault(kind, payload)
        conversation.auth_request = found
        mine = self.endpoint.policy
        k = conversation.keys
        assert k is not None
        body = conversation.proposed
        idi, auth = found.get(IDI), found.get(AUTH)
        why = None
        if idi is None or auth is None or len(auth) < 4:
            why = "no IDi or AUTH payload"
        elif auth[0] != 2:
            why = f"AUTH method {auth[0]}, not a shared key MIC (2)"
        elif conversation.kept is None:
            why = "the IKE_SA_INIT request is no longer kept (the IKE SA ended or is authenticated)"
        else:
            request = conversation.kept.unpacked()
            octets = keys.ikev2_signed_octets(conversation.prf, request, conversation.nr, k.sk_pi, idi)
            if not hmac.compare_digest(keys.ikev2_psk_auth(conversation.prf, mine.psk.encode(), octets), auth[4:]):
                why = "AUTH does not match our pre-shared key"
        if why is not None:
            body = Policy(auth=body.auth, psk=mine.psk + " (not the initiator's)", proposals=body.proposals)
        notifies = {int.from_bytes(b[2:4], "big") for kind, b in inner if kind == NOTIFY and len(b) >= 4}
        cp = found.get(CP)
        asks = cp is not None and len(cp) >= 4 and cp[0] == 1 and any(
            kind & 0x7FFF == INTERNAL_IP4_ADDRESS for kind, _ in _cp_attributes(cp)
        )  # fmt: skip
        body = Policy(auth=body.auth, psk=body.psk, proposals=body.proposals, mobike=MOBIKE_SUPPORTED in notifies)
        self._count += 1
        msg = Message(core.AUTH_REQUEST, label, _peer(conversation.address), NAME, body)
        msg.child = f"CHILD#{self._count}"
        msg.ikev2 = Ikev2Payload(cp=asks)
        msg.detail = why
        conversation.received[core.AUTH_REQUEST] = digest(data)
        self.quick_of[msg.child] = label
        self._receive(now, msg)
        if msg.child not in self.endpoint.sessions:
            self.quick_of.pop(msg.child, None)
        session = self.endpoint.sessions.get(label)
        if session is None or session.established or session.ended:  # authenticated, or never will be
            self._release(label)

    def _info2(self, now: float, label: str, conversation: IkeConversation,
                       inner: list[tuple[int, bytes]]) -> None:  # fmt: skip
        """A delete (of the IKE SA or of a child SA) or a liveness check; the machine answers it."""
        peer = _peer(conversation.address)
        for kind, body in inner:
            if kind != DELETE or len(body) < 4:
                continue
            protocol, spi_size, count = body[0], body[1], int.from_bytes(body[2:4], "big")
            if protocol == 1:
                msg = Message(core.INFO_REQUEST, label, peer, NAME, conversation.proposed, trigger="recv_DELETE",
                              condition=Condition.MM_EXPIRED)  # fmt: skip
                msg.detail = "D"
                self._receive(now, msg)
                return
            spis = {body[4 + i * spi_size : 4 + (i + 1) * spi_size] for i in range(count)}
            child = next((c for c in conversation.children if c.peer_spi in spis), None)
            if child is not None and child.label in self.endpoint.sessions:
                msg = Message(core.INFO_REQUEST, child.label, peer, NAME, conversation.proposed, parent=label,
                              trigger="recv_DELETE", condition=Condition.QM_EXPIRED)  # fmt: skip
                msg.detail = "D"
                self._receive(now, msg)
                return
        self._receive(now, Message(core.INFO_REQUEST, label, peer, NAME, conversation.proposed))
        session = self.endpoint.sessions.get(label)
        if session is None or not session.established:  # nothing to answer it with in the machine: an empty answer
            reply = self._seal2(conversation, INFORMATIONAL, conversation.answering, True, [])
            to = _peer(conversation.address)  # where it goes now (the request may have moved it to NAT-T)
            self._emit(now, "send", label, core.INFO_RESPONSE, to, "an empty answer (the IKE SA is not up)", None)
            self._replies.append((NON_ESP_MARKER + reply if conversation.natt else reply, conversation.address))

    # --- effects -----------------------------------------------------------------------------

    def _send(self, now: float, session: Session, msg: Message, attempt: int) -> None:
        label = self.quick_of.get(session.label, session.label)
        conversation = self.conversations[label]
        assert isinstance(conversation, IkeConversation)
        to = _peer(conversation.address)
        data = conversation.sent.get(msg.name) if attempt != 0 else None
        if data is None:
            data = self._encode2(conversation, session, msg)
            if msg.name in (core.INIT_RESPONSE, core.AUTH_RESPONSE):
                conversation.sent[msg.name] = data
            self._emit(now, "send", session.label, msg.name, to, msg.detail, None)
        else:
            self._emit(now, "retransmit", session.label, msg.name, to, max(attempt, 0), msg.detail)
        self._replies.append((NON_ESP_MARKER + data if conversation.natt else data, conversation.address))

    def _encode2(self, conversation: IkeConversation, session: Session, msg: Message) -> bytes:
        if msg.name == core.INIT_RESPONSE:
            return self._init_response(conversation, msg)
        if msg.name == core.AUTH_RESPONSE:
            return self._auth_response(conversation, session, msg)
        if msg.name == core.INFO_RESPONSE:
            return self._seal2(conversation, INFORMATIONAL, conversation.answering, True, [])
        if msg.name == core.INFO_REQUEST:  # our own request: a delete, or a liveness check
            body: list[p.Payload] = []
            if msg.trigger == "recv_DELETE":
                child = next((c for c in conversation.children if c.label == session.label), None)
                body = [p.v2_delete(3, [child.spi])] if child is not None else [p.v2_delete(1, [])]
            mid, conversation.next_id = conversation.next_id, conversation.next_id + 1
            return self._seal2(conversation, INFORMATIONAL, mid, False, body)
        if msg.name == core.CHILD_RESPONSE:
            return self._seal2(conversation, CREATE_CHILD_SA, conversation.answering, True, [p.v2_notify(35)])
        raise AssertionError(f"the live IKEv2 responder does not send {msg.name}")

    def _init_response(self, conversation: IkeConversation, msg: Message) -> bytes:
        ic = conversation.icookie
        if msg.trigger == "recv_NOTIFY":  # a refusal: notifies only, responder SPI 0 (RFC 7296 1.2)
            carried = msg.ikev2
            if carried is not None and carried.wanted_group is not None:
                notify = p.v2_notify(17, data=carried.wanted_group.to_bytes(2, "big"))
            elif carried is not None and carried.cookie:  # N(COOKIE) under load (RFC 7296 2.6)
                # a cookie the responder can recompute from the request: SHA-1(SPIi | IPi | port)
                notify = p.v2_notify(COOKIE, data=nat_detection(ic, b"", *wire_address(conversation.address)))
            else:
                notify = p.v2_notify(_notify_number(msg.condition))
            return p.message(ic, bytes(8), 0x20, IKE_SA_INIT, FLAG_RESPONSE, 0, [notify])
        if conversation.choice is None:  # chosen once; a request again after the end gets the same choice
            accepted = select_proposal(conversation.proposed, self.endpoint.policy)
            conversation.choice = next(c for proposal, c in conversation.choices if proposal == accepted)
            conversation.choices = []
        chosen = conversation.choice
        pair, g_ir = conversation.pair, conversation.g_ir
        assert pair is not None and chosen.group == pair.group  # the machine refused a KE of another group
        conversation.prf = IKEV2_PRFS[chosen.prf]
        integrity = IKEV2_INTEGRITY[chosen.integrity]
        sa = p.v2_sa([p.v2_proposal(chosen.number, 1, b"", [
            p.v2_transform(1, ENCR_AES_CBC, chosen.encryption_bits), p.v2_transform(2, chosen.prf),
            p.v2_transform(3, chosen.integrity), p.v2_transform(4, chosen.group)])])  # fmt: skip
        body = [sa, p.v2_ke(chosen.group, pair.public), (NONCE, conversation.nr)]
        # the profile's notifies and VIDs for what the request offered, as the captures write them
        extras = vendors.ikev2_response_extras(self.profile, [vendors.Extra(n) for n in conversation.offered])
        body += vendors.extra_payloads(extras, ic, conversation.rcookie, wire_address(conversation.local),
                                       wire_address(conversation.address))  # fmt: skip
        conversation.response = p.message(ic, conversation.rcookie, 0x20, IKE_SA_INIT, FLAG_RESPONSE, 0, body)
        skeyseed = keys.ikev2_skeyseed(conversation.prf, conversation.ni, conversation.nr, g_ir)
        conversation.keys = keys.ikev2_keys(conversation.prf, skeyseed, conversation.ni, conversation.nr, ic,
                                            conversation.rcookie, chosen.encryption_bits // 8,
                                            integrity.key_length)  # fmt: skip
        return conversation.response

    def _auth_response(self, conversation: IkeConversation, session: Session, msg: Message) -> bytes:
        mid = conversation.answering
        if msg.trigger == "recv_NOTIFY":  # the IKE SA refused: the notify alone, encrypted
            return self._seal2(conversation, IKE_AUTH, mid, True, [p.v2_notify(_notify_number(msg.condition))])
        k = conversation.keys
        assert k is not None
        idr = (IDR, p.v2_id_body(conversation.local[0]))
        octets = keys.ikev2_signed_octets(conversation.prf, conversation.response, conversation.ni, k.sk_pr, idr[1])
        auth = p.v2_auth(2, keys.ikev2_psk_auth(conversation.prf, self.endpoint.policy.psk.encode(), octets))
        body: list[p.Payload] = [idr, auth]
        carried = msg.ikev2
        if carried is not None and carried.child_condition is not None:
            body.append(p.v2_notify(_notify_number(carried.child_condition)))
        elif msg.child is not None:
            body += self._child(conversation, session, msg.child)
        return self._seal2(conversation, IKE_AUTH, mid, True, body)

    def _child(self, conversation: IkeConversation, session: Session, label: str) -> list[p.Payload]:
        """CP(CFG_REPLY) with the inner address, the chosen ESP proposal with our SPI, TSi and TSr."""
        found = conversation.auth_request
        out: list[p.Payload] = []
        address = self.endpoint.assign_address(session.label) if session.label in self.endpoint.leases else None
        if address is not None:
            out.append(p.v2_cp(2, [(INTERNAL_IP4_ADDRESS, ipaddress.IPv4Address(address).packed)]))
        offered = [x for x in reader.v2_proposals(found.get(SA, b""), "ESP") if x[1] == 3] if SA in found else []
        if offered:
            number, _, spi, items = offered[0]
            child = Child(label, spi)
            conversation.children.append(child)
            picked: dict[int, tuple[int, int | None]] = {}
            for kind, transform_id, key_length in items:
                picked.setdefault(kind, (transform_id, key_length))
            chosen = [p.v2_transform(kind, tid, bits) for kind, (tid, bits) in sorted(picked.items())]
            out.append(p.v2_sa([p.v2_proposal(number, 3, child.spi, chosen)]))
        tsi = (TSI, _narrowed(address)) if address is not None else (TSI, found.get(TSI, p.v2_ts(TSI)[1]))
        out += [tsi, (TSR, found.get(TSR, p.v2_ts(TSR)[1]))]
        return out

    # --- bookkeeping -------------------------------------------------------------------------

    def _damaged(self, now: float, label: str, error: WireError) -> None:
        """A damaged datagram for an IKE SA: dropped with the code of the damaged part, the state kept."""
        conversation = self.conversations[label]
        self._drop(now, label, "?", conversation.address, error.part, f"{error.detail}; dropped, state kept")

    def _forget(self, label: str) -> None:
        conversation = self.conversations.get(label)
        if isinstance(conversation, IkeConversation):
            for child in conversation.children:
                self.quick_of.pop(child.label, None)
                self.endpoint.sessions.pop(child.label, None)
        for child_label in [c for c, parent in self.quick_of.items() if parent == label]:
            self.quick_of.pop(child_label, None)
            self.endpoint.sessions.pop(child_label, None)
        super()._forget(label)


def _narrowed(address: str) -> bytes:
    """A TS payload body of the one inner address (RFC 7296 3.13.1: TSi narrowed to the CFG_REPLY address)."""
    packed = ipaddress.IPv4Address(address).packed
    return struct.pack("!BBH", 1, 0, 0) + struct.pack("!BBHHH", 7, 0, 16, 0, 0xFFFF) + packed + packed


def _cp_attributes(cp: bytes) -> list[tuple[int, bytes]]:
    out, offset = [], 4
    while offset + 4 <= len(cp):
        kind, length = struct.unpack_from("!HH", cp, offset)
        out.append((kind, cp[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    return out


def _notify_number(condition: Condition | None) -> int:
    entry = core.NOTIFY_TYPES.get(condition) if condition is not None else None
    return entry[1] if entry is not None else 14


def _exchange_name(exchange: int, response: bool) -> str:
    names = {IKE_SA_INIT: "IKE_SA_INIT", IKE_AUTH: "IKE_AUTH", CREATE_CHILD_SA: "CREATE_CHILD_SA",
             INFORMATIONAL: "INFORMATIONAL"}  # fmt: skip
    return f"{names.get(exchange, str(exchange))} {'response' if response else 'request'}"
