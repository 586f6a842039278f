"""IKEv2 (RFC 7296): IKE_SA_INIT and IKE_AUTH, child SAs, CREATE_CHILD_SA, INFORMATIONAL, NAP.

The IKE SA is two rounds: IKE_SA_INIT (SA, KE, nonces) and IKE_AUTH (identities,
authentication, and the first child SA with its traffic selectors and, in tunnel mode, the
configuration payload). States map onto IKEEXT_MM_SA_STATE, which Windows also uses for IKEv2:
initiator NONE -IKE_SA_INIT request-> SA_SENT -IKE_AUTH request-> SSPI_SENT -(response)->
COMPLETE; responder NONE -IKE_SA_INIT response-> SA_SENT -IKE_AUTH response-> COMPLETE. Child SAs
map onto IKEEXT_QM_SA_STATE.

A responder answers some IKE_SA_INIT requests keeping no state (RFC 7296 1.2, 2.6): under load
(``dos_threshold`` half-open SAs) with N(COOKIE), unless the request returns a cookie; when it
accepts a proposal whose group differs from the KE payload's, with N(INVALID_KE_PAYLOAD) naming
the group it wants. The initiator sends IKE_SA_INIT again with the cookie or a KE of that group,
at most five times (strongSwan's ``MAX_RETRIES``, ``ike_init.c``); a group it did not offer ends
the negotiation with 13865. When no offered proposal has an acceptable group, the answer is
NO_PROPOSAL_CHOSEN (measured with charon 5.9.8: reference/real-implementations.md 2).

An IKEv2 responder never retransmits on its own (RFC 7296 2.1): it sends its last response
again only when the request comes again, and gives up waiting when the peer's profile would.

Configuration payload (RFC 7296 3.15): an initiator that asks for an inner address sends
CP(CFG_REQUEST); the responder leases one from its pool (CFG_REPLY, INTERNAL_IP4_ADDRESS) or
answers notify INTERNAL_ADDRESS_FAILURE (36); a responder that requires a CP and gets none
answers FAILED_CP_REQUIRED (37). In both failures the IKE SA is up and the first child SA is not
made (3.15.4): ikesim reports 13897 for the IKE SA and 13899 or 13900 for the child.

NAP (no public source describes the dummy tunnel beyond the message of 13898; this model is
ikesim's): a responder that enforces NAP gives a client without a health certificate a
restricted "dummy" tunnel. After ``remediation_time`` the client reauthenticates with a new IKE
SA: if it is now healthy, the full tunnel comes up and the responder deletes the dummy tunnel,
both peers reporting 13898 KILL_DUMMY_NAP_TUNNEL for it; if not, the reauthentication fails with
13905 AUTHORIZATION_FAILURE and the dummy tunnel stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.conditions import Condition
from sim.enums import KeyModule, MmState, QmState, Role
from sim.protocol import checks
from sim.protocol.exchanges import ESTABLISHED, TERMINALS, local_deletes, rounds, sa_life
from sim.protocol.session import Endpoint, Message, Session
from sim.protocol.spec import ProtocolSpec
from sim.protocol.table import NOTIFIED, PARENT, VERDICT, CompiledTable, Ends, Row, State, Table, row

C = Condition
INIT_REQUEST, INIT_RESPONSE = "IKE_SA_INIT request", "IKE_SA_INIT response"
AUTH_REQUEST, AUTH_RESPONSE = "IKE_AUTH request", "IKE_AUTH response"
CHILD_REQUEST, CHILD_RESPONSE = "CREATE_CHILD_SA request", "CREATE_CHILD_SA response"
INFO_REQUEST, INFO_RESPONSE = "INFORMATIONAL request", "INFORMATIONAL response"

IKE_SA = Table(
    name="ikev2_ike_sa",
    title="IKEv2 IKE SA (IKE_SA_INIT, IKE_AUTH)",
    keying_module=KeyModule.IKEV2,
    doc=__doc__ or "",
    states=(
        State("NONE", MmState.NONE, "no packet sent yet"),
        State("SA_SENT", MmState.SA_SENT, "sent IKE_SA_INIT request (initiator) or response (responder)"),
        State("SSPI_SENT", MmState.SSPI_SENT, "initiator sent IKE_AUTH request"),
        State("COMPLETE", MmState.COMPLETE, "IKE SA established"),
        State("PROBING", MmState.COMPLETE, "established; an INFORMATIONAL request waits for its response"),
        *TERMINALS,
    ),
    rows=(
        row("recv_NOTIFY", "SA_SENT", None, guard="told_to_retry", actions=["retry_init"],
            doc="N(COOKIE) or N(INVALID_KE_PAYLOAD): IKE_SA_INIT again, with the cookie or the wanted group"),
        *rounds(
            [(INIT_REQUEST, INIT_RESPONSE), (AUTH_REQUEST, AUTH_RESPONSE)],
            ["SA_SENT", "SSPI_SENT"],
            last_request=("disarm", "report", "establish", "open_child", f"reply:{AUTH_RESPONSE}"),
            last_response=("disarm", "report", "establish", "child_reply"),
            delete_answer=INFO_RESPONSE,
        ),
        *sa_life(INFO_REQUEST, INFO_RESPONSE, C.MM_EXPIRED, NOTIFIED, answers_deletes=True),
        row("address_change", "COMPLETE", "PROBING", guard="peer_mobike", actions=[f"send:{INFO_REQUEST}"],
            doc="MOBIKE: UPDATE_SA_ADDRESSES moves the SA to the new address"),
        row("address_change", "COMPLETE", "DELETED_HERE", actions=["disarm", "delete", "report", "end_children"],
            report=C.NO_MOBIKE, ends=Ends.SA),
        row("remediate", "COMPLETE", None, actions=["reauthenticate"], doc="NAP: reauthenticate after remediation"),
        row("kill_dummy", ESTABLISHED, "DELETED_HERE", actions=["disarm", "delete", "report", "end_children"],
            report=C.NAP_REAUTH_SUCCEEDED, ends=Ends.SA, doc="NAP: the full tunnel is up; delete the dummy"),
    ),
)  # fmt: skip

CHILD_NEGOTIATING = ("INITIAL",)

CHILD_SA = Table(
    name="ikev2_child_sa",
    title="IKEv2 child SA",
    keying_module=KeyModule.IKEV2,
    sa_kind="child",
    doc=__doc__ or "",
    states=(
        State("NONE", QmState.NONE, "not negotiated yet"),
        State("INITIAL", QmState.INITIAL, "CREATE_CHILD_SA request sent"),
        State("COMPLETE", QmState.COMPLETE, "child SA established"),
        *TERMINALS[2:],
        State("REPLACED", None, "rekeyed: a new child SA took over"),
        State("GONE", None, "its IKE SA ended"),
    ),
    rows=(
        # The first child SA rides in IKE_AUTH: the responder decides, the initiator learns.
        row("auth_child", "NONE", "COMPLETE", guard="ok", actions=["report", "establish"], report=C.COMPLETE),
        row("auth_child", "NONE", "REJECTED", actions=["report"], report=VERDICT),
        row("auth_reply", "NONE", "COMPLETE", guard="accepted", actions=["report", "establish"], report=C.COMPLETE),
        row("auth_reply", "NONE", "REFUSED", actions=["report"], report=NOTIFIED),
        # Later child SAs, and rekeys, are a CREATE_CHILD_SA exchange.
        row("start", "NONE", "INITIAL", guard="ok", actions=[f"send:{CHILD_REQUEST}"]),
        row("start", "NONE", "REJECTED", actions=["report"], report=VERDICT),
        row("recv_" + CHILD_REQUEST.replace(" ", "_"), "NONE", "COMPLETE", guard="ok",
            actions=[f"reply:{CHILD_RESPONSE}", "report", "establish"], report=C.COMPLETE),
        row("recv_" + CHILD_REQUEST.replace(" ", "_"), "NONE", "REJECTED", actions=["notify", "report"],
            report=VERDICT),
        row("recv_" + CHILD_REQUEST.replace(" ", "_"), "COMPLETE", None, actions=["resend"]),
        row("recv_" + CHILD_RESPONSE.replace(" ", "_"), "INITIAL", "COMPLETE", guard="ok",
            actions=["disarm", "report", "establish"], report=C.COMPLETE),
        row("recv_" + CHILD_RESPONSE.replace(" ", "_"), "INITIAL", "REJECTED", actions=["disarm", "report"],
            report=VERDICT),
        row("recv_" + CHILD_RESPONSE.replace(" ", "_"), "COMPLETE", None, doc="a duplicate: ignored"),
        row("retransmit", CHILD_NEGOTIATING, None, actions=["retransmit"]),
        row("give_up", CHILD_NEGOTIATING, "DEAD", actions=["report", "parent_dead"], report=C.PEER_DEAD),
        row("recv_NOTIFY", CHILD_NEGOTIATING, "REFUSED", actions=["disarm", "report"], report=NOTIFIED),
        row("recv_DELETE", CHILD_NEGOTIATING, "DELETED_EARLY", actions=[f"answer:{INFO_RESPONSE}", "disarm", "report"],
            report=C.DELETED_BEFORE_ESTABLISHED),
        # The established child SA.
        row("expire", "COMPLETE", "EXPIRED", actions=["delete", "report"], report=C.QM_EXPIRED, ends=Ends.SA),
        row("recv_DELETE", "COMPLETE", "DELETED", actions=[f"answer:{INFO_RESPONSE}", "report"], report=NOTIFIED,
            ends=Ends.SA),
        row("rekey", "COMPLETE", None, actions=["rekey"]),
        row("replaced", "COMPLETE", "REPLACED", actions=["delete", "report"], report=C.QM_EXPIRED, ends=Ends.SA,
            doc="its rekey is up: the old SA is deleted"),
        row("lost_rekey", "COMPLETE", "DELETED_HERE", actions=["delete", "report"], report=C.SIMULTANEOUS_REKEY,
            ends=Ends.SA, doc="both peers rekeyed at once; the rekey with the lower nonce is deleted"),
        row("parent_gone", CHILD_NEGOTIATING, "GONE", guard="parent_ended", actions=["disarm", "report"],
            report=PARENT),
        row("parent_gone", "COMPLETE", "GONE", guard="parent_ended", actions=["report"], report=PARENT,
            ends=Ends.SA),
        *local_deletes(CHILD_NEGOTIATING, ("COMPLETE",)),
    ),
)  # fmt: skip

# Error notifies (RFC 7296 3.10.1), and what the peer that receives one reports. Windows adds its
# private MS_NOTIFY_STATUS (12345), whose data is the failure status itself ([MS-IKEE] 2.2.7).
NOTIFY_TYPES: dict[Condition, tuple[str, int, Condition]] = {
    C.NO_PROPOSAL_CHOSEN: ("NO_PROPOSAL_CHOSEN", 14, C.NO_PROPOSAL_CHOSEN),
    C.INVALID_GROUP: ("INVALID_KE_PAYLOAD", 17, C.INVALID_GROUP),
    C.AUTH_FAILED: ("AUTHENTICATION_FAILED", 24, C.AUTH_FAILED),
    C.CERT_UNTRUSTED: ("AUTHENTICATION_FAILED", 24, C.AUTH_FAILED),
    C.CERT_REVOKED: ("AUTHENTICATION_FAILED", 24, C.AUTH_FAILED),
    C.INNER_IP_UNAVAILABLE: ("INTERNAL_ADDRESS_FAILURE", 36, C.INNER_IP_UNAVAILABLE),
    C.CP_REQUIRED: ("FAILED_CP_REQUIRED", 37, C.CP_REQUIRED),
    C.NAP_REAUTH_FAILED: ("MS_NOTIFY_STATUS", 12345, C.NAP_REAUTH_FAILED),
    C.MM_LIMIT: ("NO_ADDITIONAL_SAS", 35, C.MM_LIMIT),
    C.SHUTTING_DOWN: ("TEMPORARY_FAILURE", 43, C.SHUTTING_DOWN),
    C.DOS_COOKIE_SENT: ("COOKIE", 16390, C.DOS_COOKIE_SENT),
}

PAYLOADS = {
    INIT_REQUEST: "HDR, SAi1, KEi, Ni",
    INIT_RESPONSE: "HDR, SAr1, KEr, Nr, [CERTREQ]",
    AUTH_REQUEST: "HDR, SK {IDi, [CERT,] AUTH, [CP(CFG_REQUEST),] SAi2, TSi, TSr}",
    AUTH_RESPONSE: "HDR, SK {IDr, [CERT,] AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr}",
    CHILD_REQUEST: "HDR, SK {[N(REKEY_SA),] SA, Ni, [KEi,] TSi, TSr}",
    CHILD_RESPONSE: "HDR, SK {SA, Nr, [KEr,] TSi, TSr}",
    INFO_REQUEST: "HDR, SK {[N,] [D,] [CP]}",
    INFO_RESPONSE: "HDR, SK {[N,] [D,] [CP]}",
}


def _number(label: str) -> int:
    return int(label.rsplit("#", 1)[1])


@dataclass(frozen=True, slots=True)
class Ikev2Payload:
    """What an IKEv2 message carries that its name does not say."""

    cp: bool = False  # IKE_AUTH request: a CFG_REQUEST for an inner address
    healthy: bool = True  # IKE_AUTH request: the NAP health the client claims
    reauth_of: str | None = None  # IKE_AUTH request: the restricted IKE SA this one reauthenticates
    child_condition: Condition | None = None  # IKE_AUTH response: why the first child SA was not made
    restricted: bool = False  # IKE_AUTH response: a NAP dummy tunnel
    rekeys: str | None = None  # CREATE_CHILD_SA request: the child SA it replaces (N(REKEY_SA))
    ke_group: int | None = None  # IKE_SA_INIT request: the KE payload's group (None: the first proposal's)
    cookie: bool = False  # IKE_SA_INIT request: returns the responder's cookie; response: N(COOKIE)
    wanted_group: int | None = None  # IKE_SA_INIT response: N(INVALID_KE_PAYLOAD) data


class Ikev2Session(Session):
    """A session with IKEv2's own actions: the child SA in IKE_AUTH, rekeys, NAP reauthentication."""

    __slots__ = ("cookie", "ke_group", "peer_mobike", "reauth_of", "rekeyed_by", "rekeys", "restricted", "retries")

    def __init__(
        self, endpoint: Endpoint, compiled: CompiledTable, label: str, role: Role, peer: str, parent: Session | None
    ) -> None:
        super().__init__(endpoint, compiled, label, role, peer, parent)
        self.peer_mobike = False  # both peers support MOBIKE (learnt from IKE_AUTH)
        self.restricted = False  # a NAP dummy tunnel (the client was not healthy)
        self.reauth_of: str | None = None  # the restricted IKE SA this one reauthenticates
        self.rekeys: str | None = None  # the child SA this one replaces
        self.ke_group: int | None = None  # initiator: the group of its KE payload (None: its first proposal's);
        # responder: the group it asks for with INVALID_KE_PAYLOAD
        self.cookie = False  # initiator: it returns the responder's cookie
        self.retries = 0  # initiator: IKE_SA_INIT sent again for a cookie or another group
        self.rekeyed_by: dict[str, list[Session]] | None = None  # IKE SA: child label -> the rekeys of it that came up

    def guard_told_to_retry(self, msg: Message | None) -> bool:
        """True when a notify asks for IKE_SA_INIT again and this peer can: a cookie, or a group it offered."""
        carried = msg.ikev2 if msg is not None else None
        if carried is None or self.retries >= MAX_RETRIES:
            return False
        offered = {p.dh_group for p in self.endpoint.policy.proposals}
        return carried.cookie or carried.wanted_group in offered

    def act_retry_init(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Send IKE_SA_INIT again, returning the cookie or with a KE payload of the wanted group."""
        assert msg is not None and msg.ikev2 is not None
        carried = msg.ikev2
        self.cookie = self.cookie or carried.cookie
        if carried.wanted_group is not None:
            self.ke_group = carried.wanted_group
        self.retries += 1
        self.act_disarm(arg, msg, source, row)
        self.act_send(INIT_REQUEST, msg, source, row)

    def guard_peer_mobike(self, msg: Message | None) -> bool:
        """True when both peers support MOBIKE (learnt from IKE_AUTH)."""
        return self.peer_mobike

    def act_open_child(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Responder: decide the first child SA that rides in the IKE_AUTH request."""
        assert msg is not None and msg.child is not None
        ep = self.endpoint
        compiled = ep.compiled[CHILD_SA.name]
        child = compiled.ops(ep, compiled, msg.child, Role.RESPONDER, self.peer, self)
        ep.sessions[child.label] = child
        ep.adopt(self, child)
        child.fire("auth_child", msg)

    def act_child_reply(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Initiator: learn from the IKE_AUTH response whether the first child SA was made."""
        assert msg is not None and msg.child is not None
        ep = self.endpoint
        compiled = ep.compiled[CHILD_SA.name]
        child = compiled.ops(ep, compiled, msg.child, Role.INITIATOR, self.peer, self)
        ep.sessions[child.label] = child
        ep.adopt(self, child)
        result = msg.ikev2.child_condition if msg.ikev2 is not None else None
        verdict = Message(msg.name, child.label, msg.sender, msg.receiver, msg.body, condition=result)
        child.fire("auth_reply", verdict)

    def act_rekey(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """Start a CREATE_CHILD_SA that replaces this child SA."""
        parent = self.parent
        if parent is not None and parent.established:
            self.endpoint.initiate(self.endpoint.now, CHILD_SA.name, self.peer, parent, rekeys=self.label)

    def act_reauthenticate(self, arg: str, msg: Message | None, source: str, row: Row) -> None:
        """NAP: after remediation, authenticate again with a new IKE SA."""
        ep = self.endpoint
        if ep.policy.nap_health == "remediates":
            ep.healthy = True
        ep.initiate(ep.now, IKE_SA.name, self.peer, None, reauth_of=self.label)


NOTHING = Ikev2Payload()  # what a message that carries nothing beyond its name says
MAX_RETRIES = 5  # IKE_SA_INIT sent again at most this often for cookies and groups (strongSwan ike_init.c)


def check(ep: Endpoint, session: Session, msg: Message | None, received: str | None, sending: str | None) -> (
    Condition | None
):  # fmt: skip
    """IKEv2's checks: limits and proposals, authentication, NAP health, the configuration payload."""
    if msg is None:
        return None
    mine = ep.policy
    carried = msg.ikev2 or NOTHING
    assert isinstance(session, Ikev2Session)
    if received == INIT_REQUEST:
        refused = ep.admit(session, msg, cookie=carried.cookie)
        if refused is not None:
            return refused
        chosen = checks.select_proposal(msg.body, mine)
        if chosen is C.INVALID_GROUP:
            return C.NO_PROPOSAL_CHOSEN  # no offered proposal has a group it accepts
        if isinstance(chosen, Condition):
            return chosen
        if chosen.dh_group != (carried.ke_group or msg.body.proposals[0].dh_group):
            session.ke_group = chosen.dh_group
            return C.INVALID_GROUP  # answered keeping no state: N(INVALID_KE_PAYLOAD) with this group
        return None
    if received == INIT_RESPONSE:
        return checks.own_credentials(mine)  # about to prove who we are in IKE_AUTH
    if received == AUTH_REQUEST and session.table is IKE_SA:
        verdict = checks.verify_peer(msg.body, mine) or checks.own_credentials(mine)
        if verdict is not None:
            return verdict
        session.peer_mobike = mine.mobike and msg.body.mobike
        session.reauth_of = carried.reauth_of
        if mine.nap and not carried.healthy:
            if carried.reauth_of:
                return C.NAP_REAUTH_FAILED
            session.restricted = True
        return None
    if received == AUTH_REQUEST:  # the first child SA, inside IKE_AUTH
        if not carried.cp:
            return C.CP_REQUIRED if mine.require_cp else None
        parent = session.parent
        assert parent is not None
        return None if ep.assign_address(parent.label) is not None else C.INNER_IP_UNAVAILABLE
    if received == AUTH_RESPONSE and session.table is IKE_SA:
        verdict = checks.verify_peer(msg.body, mine)
        if verdict is None:
            session.peer_mobike = mine.mobike and msg.body.mobike
            session.restricted = carried.restricted
        return verdict
    if received == CHILD_REQUEST and carried.rekeys:
        session.rekeys = carried.rekeys
    return None


def decorate(ep: Endpoint, session: Session, out: Message, received: Message | None) -> None:
    """Fill in what IKEv2 messages carry beyond their names: the child SA, CP, NAP health, rekeys."""
    name = out.name
    assert isinstance(session, Ikev2Session)
    if out.trigger == "recv_NOTIFY":  # an error notify: only a stateless answer carries data
        if name == INIT_RESPONSE and session.verdict is C.DOS_COOKIE_SENT:
            out.ikev2 = Ikev2Payload(cookie=True)
        elif name == INIT_RESPONSE and session.verdict is C.INVALID_GROUP and session.ke_group is not None:
            out.ikev2 = Ikev2Payload(wanted_group=session.ke_group)
            wanted = f"N(INVALID_KE_PAYLOAD {session.ke_group})"
            out.detail = (out.detail or "").replace("N(INVALID_KE_PAYLOAD)", wanted)
    elif name == INIT_REQUEST:
        if session.retries:  # a new IKE_SA_INIT (message ID 0) after a COOKIE or INVALID_KE_PAYLOAD
            out.ikev2 = Ikev2Payload(ke_group=session.ke_group, cookie=session.cookie)
            group = session.ke_group or ep.policy.proposals[0].dh_group
            out.detail = ("N(COOKIE), " if session.cookie else "") + f"KEi group {group}"
    elif name == AUTH_REQUEST:
        out.child = ep.labels("CHILD")
        out.ikev2 = Ikev2Payload(cp=ep.policy.request_address, healthy=ep.healthy, reauth_of=session.reauth_of)
        out.detail = "CP(CFG_REQUEST)" if ep.policy.request_address else None
    elif name == AUTH_RESPONSE:
        child = session.children[-1] if session.children else None
        result = child.verdict if child is not None and child.state != "COMPLETE" else None
        restricted = session.restricted
        out.child = child.label if child is not None else None
        out.ikev2 = Ikev2Payload(child_condition=result, restricted=restricted)
        notes = []
        if result is not None and result in NOTIFY_TYPES:
            notes.append(f"N({NOTIFY_TYPES[result][0]})")
        elif session.label in ep.leases:
            notes.append(f"CP(CFG_REPLY) INTERNAL_IP4_ADDRESS={ep.assign_address(session.label)}")
        if restricted:
            notes.append("NAP restricted (dummy tunnel)")
        out.detail = ", ".join(notes) or None
    elif name == CHILD_REQUEST and session.rekeys:
        out.ikev2 = Ikev2Payload(rekeys=session.rekeys)
        out.detail = f"N(REKEY_SA) {session.rekeys}"


def on_established(ep: Endpoint, session: Session) -> None:
    """NAP remediation and reauthentication, rekeys, and the end of a rekeyed child SA."""
    policy = ep.policy
    assert isinstance(session, Ikev2Session)
    if session.table is IKE_SA:
        if session.role is Role.INITIATOR and session.restricted:
            ep.alarm(session, policy.remediation_time, "remediate")
        if session.role is Role.RESPONDER and session.reauth_of:
            dummy = ep.sessions.get(session.reauth_of)
            if dummy is not None and dummy.established:
                dummy.fire("kill_dummy")
        return
    if policy.rekey_after is not None:
        ep.alarm(session, policy.rekey_after, "rekey", background=True)
    old_label = session.rekeys
    if not old_label or session.parent is None:
        return
    # RFC 7296 2.8.1: when both peers rekey the same SA, the new SA with the lowest nonce is
    # deleted by the peer that created it. ikesim's stand-in for the nonce is the SA number.
    parent = session.parent
    assert isinstance(parent, Ikev2Session)
    if parent.rekeyed_by is None:
        parent.rekeyed_by = {}
    rekeys = parent.rekeyed_by.setdefault(old_label, [])
    rekeys.append(session)  # an index, not a scan of every child the SA ever had (quadratic over a day)
    group = [c for c in rekeys if c.established]
    loser = min(group, key=lambda c: _number(c.label)) if len(group) > 1 else None
    if loser is not None and loser.role is Role.INITIATOR:
        loser.fire("lost_rekey")
    if session.role is Role.INITIATOR and session is not loser:
        old = ep.sessions.get(old_label)
        if old is not None and old.established:
            old.fire("replaced")


def _notify_message(session: Session, msg: Message | None) -> tuple[str, str]:
    """IKEv2 carries an error notify in the response of the exchange that failed."""
    name = msg.name.replace("request", "response") if msg is not None else INFO_REQUEST
    return name, "recv_NOTIFY"


IKEV2 = ProtocolSpec(
    name="ikev2",
    tables=(IKE_SA, CHILD_SA),
    first_table=IKE_SA.name,
    first_messages={INIT_REQUEST: IKE_SA.name, CHILD_REQUEST: CHILD_SA.name},
    first_sent={IKE_SA.name: INIT_REQUEST, CHILD_SA.name: CHILD_REQUEST},
    next_message={
        INIT_REQUEST: INIT_RESPONSE,
        INIT_RESPONSE: AUTH_REQUEST,
        AUTH_REQUEST: AUTH_RESPONSE,
        CHILD_REQUEST: CHILD_RESPONSE,
    },
    prefixes={IKE_SA.name: "IKE", CHILD_SA.name: "CHILD"},
    notify_types=NOTIFY_TYPES,
    notify_message=_notify_message,
    delete_message=(INFO_REQUEST, "recv_DELETE"),
    delete_answer=INFO_RESPONSE,
    stateless={C.RATE_LIMITED: False, C.DOS_COOKIE_SENT: True, C.INVALID_GROUP: True},
    check=check,
    on_established=on_established,
    responder_retransmits=False,
    children_end_with_parent=True,
    payloads=PAYLOADS,
    decorate=decorate,
    session_class=Ikev2Session,
)
