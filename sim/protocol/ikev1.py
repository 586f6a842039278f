"""IKEv1 (RFC 2409): main mode, quick mode, and the INFORMATIONAL messages they use.

Main mode is three rounds: SA proposal and choice (MM1/MM2), key exchange and nonces
(MM3/MM4), identities and authentication, encrypted (MM5/MM6). Quick mode is three messages
(QM1..QM3) under the main-mode SA. The tables do not know the role: only a responder ever
receives MM1 or QM1.

State mapping onto IKEEXT_MM_SA_STATE (progress counted in packets this peer sent):
initiator NONE -MM1-> SA_SENT -MM3-> SSPI_SENT -MM5-> FINAL -(MM6 received)-> COMPLETE;
responder NONE -MM2-> SA_SENT -MM4-> SSPI_SENT -MM6-> COMPLETE. FINAL_SENT is not used: in
IKEv1 main mode the third packet a peer sends is also its last.
Quick mode onto IKEEXT_QM_SA_STATE: initiator NONE -QM1-> INITIAL -(QM2 received, QM3 sent)->
COMPLETE; responder NONE -QM2-> FINAL -(QM3 received)-> COMPLETE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.conditions import Condition
from sim.enums import KeyModule, MmState, QmState
from sim.protocol import checks
from sim.protocol.exchanges import ESTABLISHED, TERMINALS, local_deletes, rounds, sa_life
from sim.protocol.spec import ProtocolSpec
from sim.protocol.table import NOTIFIED, VERDICT, Ends, Row, State, Table, row

if TYPE_CHECKING:
    from sim.protocol.session import Endpoint, Message, Session

C = Condition


def stale_requests(stale: dict[str, tuple[str, ...]]) -> tuple[Row, ...]:
    """Rows for a request that arrives in a state past its step and is not a duplicate of the latest.

    StrongSwan answers it with an error and deletes the SA while it negotiates; libreswan answers
    one with new content with an error and keeps its state; without a row that holds, it is dropped.
    """
    out = []
    for request, states in stale.items():
        negotiating = tuple(s for s in states if s not in ESTABLISHED)
        if negotiating:
            out.append(row(f"recv_{request}", negotiating, "REJECTED", guard="stale_deletes",
                           actions=["disarm", "notify", "report"], report=VERDICT))  # fmt: skip
        out.append(row(f"recv_{request}", states, None, guard="stale_notifies", actions=["notify"]))
    return tuple(out)


MAIN_MODE = Table(
    name="ikev1_main_mode",
    title="IKEv1 main mode",
    keying_module=KeyModule.IKE,
    doc=__doc__ or "",
    states=(
        State("NONE", MmState.NONE, "no packet sent yet"),
        State("SA_SENT", MmState.SA_SENT, "sent MM1 (initiator) or MM2 (responder)"),
        State("SSPI_SENT", MmState.SSPI_SENT, "sent MM3 (initiator) or MM4 (responder)"),
        State("FINAL", MmState.FINAL, "initiator sent MM5 and waits for MM6"),
        State("COMPLETE", MmState.COMPLETE, "main-mode SA established"),
        State("PROBING", MmState.COMPLETE, "established; a liveness check waits for its answer"),
        *TERMINALS,
    ),
    rows=(
        *rounds([("MM1", "MM2"), ("MM3", "MM4"), ("MM5", "MM6")], ["SA_SENT", "SSPI_SENT", "FINAL"]),
        *sa_life("R-U-THERE", "R-U-THERE-ACK", C.MM_EXPIRED, C.MM_EXPIRED),
        # A request of an earlier step that is no duplicate of the one last answered (reference/vpn-al).
        *stale_requests({"MM1": ("SSPI_SENT",), "MM3": ("SSPI_SENT", *ESTABLISHED)}),
    ),
)

QM_NEGOTIATING = ("INITIAL", "FINAL")


def quick_mode(name: str, title: str, keying_module: KeyModule) -> Table:
    """Quick mode: three messages under an established main-mode SA (IKEv1 and AuthIP)."""
    return Table(
        name=name,
        title=title,
        keying_module=keying_module,
        sa_kind="child",
        doc=__doc__ or "",
        states=(
            State("NONE", QmState.NONE, "no packet sent yet"),
            State("INITIAL", QmState.INITIAL, "initiator sent QM1"),
            State("FINAL", QmState.FINAL, "responder sent QM2, its final packet"),
            State("COMPLETE", QmState.COMPLETE, "quick-mode SA established"),
            *TERMINALS[2:],
        ),
        rows=(
            row("start", "NONE", "INITIAL", guard="ok", actions=["send:QM1"]),
            row("start", "NONE", "REJECTED", actions=["report"], report=VERDICT),
            row("recv_QM1", "NONE", "FINAL", guard="ok", actions=["send:QM2"]),
            row("recv_QM1", "NONE", "REJECTED", actions=["notify", "report"], report=VERDICT),
            row("recv_QM1", "FINAL", None, actions=["resend"], doc="QM1 again: our QM2 was lost"),
            row("recv_QM2", "INITIAL", "COMPLETE", guard="ok", actions=["reply:QM3", "report", "establish"],
                report=C.COMPLETE),
            row("recv_QM2", "INITIAL", "REJECTED", actions=["disarm", "notify", "report"], report=VERDICT),
            row("recv_QM2", "COMPLETE", None, actions=["resend"], doc="QM2 again: our QM3 was lost"),
            row("recv_QM3", "FINAL", "COMPLETE", guard="ok", actions=["disarm", "report", "establish"],
                report=C.COMPLETE),
            row("recv_QM3", "FINAL", "REJECTED", actions=["disarm", "report"], report=VERDICT),
            row("recv_QM3", "COMPLETE", None, guard="stale_quick", actions=["notify"],
                doc="a QM3 again: strongSwan answers it with an error"),
            row("recv_QM3", "COMPLETE", None, doc="a duplicate: ignored"),
            row("retransmit", QM_NEGOTIATING, None, actions=["retransmit"]),
            # Main mode is up, so a silent peer here means the main-mode SA is assumed invalid.
            row("give_up", QM_NEGOTIATING, "DEAD", actions=["report", "parent_dead"], report=C.PEER_DEAD),
            row("recv_NOTIFY", QM_NEGOTIATING, "REFUSED", actions=["disarm", "report"], report=NOTIFIED),
            row("recv_DELETE", QM_NEGOTIATING, "DELETED_EARLY", actions=["disarm", "report"],
                report=C.DELETED_BEFORE_ESTABLISHED),
            row("expire", "COMPLETE", "EXPIRED", actions=["delete", "report"], report=C.QM_EXPIRED, ends=Ends.SA),
            row("recv_DELETE", "COMPLETE", "DELETED", actions=["report"], report=C.QM_EXPIRED, ends=Ends.SA),
            *local_deletes(QM_NEGOTIATING, ("COMPLETE",)),
        ),
    )  # fmt: skip


QUICK_MODE = quick_mode("ikev1_quick_mode", "IKEv1 quick mode", KeyModule.IKE)

# Conditions a rejecting peer announces with an INFORMATIONAL notify: the notify type, and what the
# peer that receives it reports. A notify says only its type: a certificate the responder could not
# verify reaches the initiator as AUTHENTICATION-FAILED, which it records as 13801, unless both are
# Windows peers (MS_NOTIFY_STATUS then carries the status itself: Session.act_notify). A proposal
# whose only problem is its Diffie-Hellman group gets NO-PROPOSAL-CHOSEN, as strongSwan answers it
# (reference/real-implementations.md 2); IKEv1 has no group renegotiation.
NOTIFY_TYPES: dict[Condition, tuple[str, int, Condition]] = {
    C.NO_PROPOSAL_CHOSEN: ("NO-PROPOSAL-CHOSEN", 14, C.NO_PROPOSAL_CHOSEN),
    C.INVALID_GROUP: ("NO-PROPOSAL-CHOSEN", 14, C.NO_PROPOSAL_CHOSEN),
    C.AUTH_FAILED: ("AUTHENTICATION-FAILED", 24, C.AUTH_FAILED),
    C.CERT_UNTRUSTED: ("AUTHENTICATION-FAILED", 24, C.AUTH_FAILED),
    C.CERT_REVOKED: ("AUTHENTICATION-FAILED", 24, C.AUTH_FAILED),
    C.MM_LIMIT: ("NO-PROPOSAL-CHOSEN", 14, C.NO_PROPOSAL_CHOSEN),
    C.QM_LIMIT: ("NO-PROPOSAL-CHOSEN", 14, C.NO_PROPOSAL_CHOSEN),
    C.SHUTTING_DOWN: ("NO-PROPOSAL-CHOSEN", 14, C.NO_PROPOSAL_CHOSEN),
    C.DOS_COOKIE_SENT: ("COOKIE", 16390, C.DOS_COOKIE_SENT),
    C.INVALID_PAYLOAD: ("PAYLOAD-MALFORMED", 16, C.INVALID_PAYLOAD),
}

PAYLOADS = {
    "MM1": "HDR, SA",
    "MM2": "HDR, SA",
    "MM3": "HDR, KE, Ni",
    "MM4": "HDR, KE, Nr",
    "MM5": "HDR*, IDii, [CERT,] SIG_I|HASH_I",
    "MM6": "HDR*, IDir, [CERT,] SIG_R|HASH_R",
    "QM1": "HDR*, HASH(1), SA, Ni, [KE,] [IDci, IDcr]",
    "QM2": "HDR*, HASH(2), SA, Nr, [KE,] [IDci, IDcr]",
    "QM3": "HDR*, HASH(3)",
    "INFO NOTIFY": "HDR, N",
    "INFO DELETE": "HDR*, HASH, D",
    "R-U-THERE": "HDR*, HASH, N(R-U-THERE)",
    "R-U-THERE-ACK": "HDR*, HASH, N(R-U-THERE-ACK)",
}


def check(ep: Endpoint, session: Session, msg: Message | None, received: str | None, sending: str | None) -> (
    Condition | None
):  # fmt: skip
    """IKEv1's checks: limits and proposals on MM1, authentication on MM5 and MM6, the QM limit."""
    if msg is not None:
        if received == "MM1":
            return ep.admit(session, msg) or checks.choose_proposal(msg.body, ep.policy)
        if received == "MM4":  # about to prove who we are
            return checks.own_credentials(ep.policy)
        if received == "MM5":
            return checks.verify_peer(msg.body, ep.policy) or checks.own_credentials(ep.policy)
        if received == "MM6":
            return checks.verify_peer(msg.body, ep.policy)
    if sending in ("QM1", "QM2"):
        return checks.quick_mode_limit(ep.policy, session)
    return None


def on_established(ep: Endpoint, session: Session) -> None:
    """After main mode the initiator runs its quick modes, one after the other."""
    main = session if session.compiled.table is MAIN_MODE else session.parent
    if main is not None:
        checks.next_quick_mode(ep, main, QUICK_MODE.name)


IKEV1 = ProtocolSpec(
    stateless={C.RATE_LIMITED: False},  # dropped, and a retransmission after the window is accepted
    name="ikev1",
    tables=(MAIN_MODE, QUICK_MODE),
    first_table=MAIN_MODE.name,
    first_messages={"MM1": MAIN_MODE.name, "QM1": QUICK_MODE.name},
    first_sent={MAIN_MODE.name: "MM1", QUICK_MODE.name: "QM1"},
    next_message={"MM1": "MM2", "MM2": "MM3", "MM3": "MM4", "MM4": "MM5", "MM5": "MM6", "QM1": "QM2", "QM2": "QM3"},
    prefixes={MAIN_MODE.name: "MM", QUICK_MODE.name: "QM"},
    notify_types=NOTIFY_TYPES,
    notify_message=lambda session, msg: ("INFO NOTIFY", "recv_NOTIFY"),
    delete_message=("INFO DELETE", "recv_DELETE"),
    check=check,
    on_established=on_established,
    keys_from_psk=True,
    payloads=PAYLOADS,
)
