"""IKEv1 (RFC 2409): main mode, quick mode, and the INFORMATIONAL messages they use.

Main mode is six messages: SA proposal and choice (MM1/MM2), key exchange and nonces (MM3/MM4),
identities and authentication, encrypted (MM5/MM6). Quick mode is three (QM1..QM3) under the
main-mode SA. The tables do not know the role: only a responder ever receives MM1 or QM1.

State mapping onto IKEEXT_MM_SA_STATE (progress counted in packets this peer sent):
initiator NONE -MM1-> SA_SENT -MM3-> SSPI_SENT -MM5-> FINAL -(MM6 received)-> COMPLETE;
responder NONE -MM2-> SA_SENT -MM4-> SSPI_SENT -MM6-> COMPLETE. FINAL_SENT is not used: in
IKEv1 main mode the third packet a peer sends is also its last.
Quick mode onto IKEEXT_QM_SA_STATE: initiator NONE -QM1-> INITIAL -(QM2 received, QM3 sent)->
COMPLETE; responder NONE -QM2-> FINAL -(QM3 received)-> COMPLETE.
"""

from __future__ import annotations

from sim.conditions import Condition
from sim.protocol.enums import KeyModule, MmState, QmState
from sim.protocol.table import NOTIFIED, VERDICT, Ends, Row, State, Table, row

C = Condition

MM_NEGOTIATING = ("SA_SENT", "SSPI_SENT", "FINAL")
MM_ESTABLISHED = ("COMPLETE", "PROBING")

# Terminal states shared by the IKEv1 machines: where a negotiation or an SA ends.
_TERMINALS = (
    State("NO_RESPONSE", None, "no answer to the first message"),
    State("TIMED_OUT", None, "the peer went silent during the negotiation"),
    State("REJECTED", None, "this peer rejected the negotiation (policy, validation or local fault)"),
    State("REFUSED", None, "the peer refused the negotiation with a notify"),
    State("DELETED_EARLY", None, "the peer deleted the SA before it was established"),
    State("EXPIRED", None, "the established SA reached the end of its lifetime here"),
    State("DELETED", None, "the peer deleted the established SA"),
    State("DEAD", None, "the peer stopped responding"),
    State("DELETED_HERE", None, "this peer deleted the SA (on request, or because its policy changed)"),
)


def _local_deletes(negotiating: tuple[str, ...], established: tuple[str, ...]) -> tuple[Row, ...]:
    """Rows for an SA deleted here (on request, or because the policy changed), with a delete to the peer."""
    rows = []
    for trigger, condition in (("admin_delete", C.ADMIN_DELETE), ("policy_change", C.POLICY_CHANGE)):
        rows.append(row(trigger, negotiating, "DELETED_HERE", actions=["disarm", "delete", "report"], report=condition))
        rows.append(row(trigger, established, "DELETED_HERE", actions=["disarm", "delete", "report"],
                        report=condition, ends=Ends.SA))  # fmt: skip
    return tuple(rows)


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
        *_TERMINALS,
    ),
    rows=(
        # Initiator starts; a local fault can stop it before MM1 leaves.
        row("start", "NONE", "SA_SENT", guard="ok", actions=["send:MM1"]),
        row("start", "NONE", "REJECTED", actions=["report"], report=VERDICT),
        # MM1/MM2: SA proposal and choice. The responder checks limits, proposals and DH group.
        row("recv_MM1", "NONE", "SA_SENT", guard="ok", actions=["send:MM2"]),
        row("recv_MM1", "NONE", "REJECTED", actions=["notify", "report"], report=VERDICT),
        row("recv_MM1", "SA_SENT", None, actions=["resend"], doc="MM1 again: our MM2 was lost"),
        row("recv_MM2", "SA_SENT", "SSPI_SENT", guard="ok", actions=["send:MM3"]),
        row("recv_MM2", "SA_SENT", "REJECTED", actions=["disarm", "report"], report=VERDICT),
        row("recv_MM2", ("SSPI_SENT", "FINAL", *MM_ESTABLISHED), None, doc="a duplicate: ignored"),
        # MM3/MM4: key exchange and nonces.
        row("recv_MM3", "SA_SENT", "SSPI_SENT", guard="ok", actions=["send:MM4"]),
        row("recv_MM3", "SA_SENT", "REJECTED", actions=["disarm", "report"], report=VERDICT),
        row("recv_MM3", "SSPI_SENT", None, actions=["resend"], doc="MM3 again: our MM4 was lost"),
        row("recv_MM4", "SSPI_SENT", "FINAL", guard="ok", actions=["send:MM5"]),
        row("recv_MM4", "SSPI_SENT", "REJECTED", actions=["disarm", "report"], report=VERDICT),
        row("recv_MM4", ("FINAL", *MM_ESTABLISHED), None, doc="a duplicate: ignored"),
        # MM5/MM6: identities and authentication (pre-shared key or certificate).
        row("recv_MM5", "SSPI_SENT", "COMPLETE", guard="ok", actions=["reply:MM6", "report", "establish"],
            report=C.COMPLETE),
        row("recv_MM5", "SSPI_SENT", "REJECTED", actions=["disarm", "notify", "report"], report=VERDICT),
        row("recv_MM5", MM_ESTABLISHED, None, actions=["resend"], doc="MM5 again: our MM6 was lost"),
        row("recv_MM6", "FINAL", "COMPLETE", guard="ok", actions=["disarm", "report", "establish"],
            report=C.COMPLETE),
        row("recv_MM6", "FINAL", "REJECTED", actions=["disarm", "report"], report=VERDICT),
        row("recv_MM6", MM_ESTABLISHED, None, doc="a duplicate: ignored"),
        # Retransmission timer of the last message sent.
        row("retransmit", (*MM_NEGOTIATING, "PROBING"), None, actions=["retransmit"]),
        row("give_up", MM_NEGOTIATING, "TIMED_OUT", guard="heard", actions=["report"], report=C.PEER_SILENT),
        row("give_up", "SA_SENT", "NO_RESPONSE", actions=["report"], report=C.NO_RESPONSE),
        # INFORMATIONAL: failure notifies and deletes from the peer.
        row("recv_NOTIFY", MM_NEGOTIATING, "REFUSED", actions=["disarm", "report"], report=NOTIFIED),
        row("recv_DELETE", MM_NEGOTIATING, "DELETED_EARLY", actions=["disarm", "report"],
            report=C.DELETED_BEFORE_ESTABLISHED),
        # The established SA: lifetime, deletes, liveness.
        row("expire", MM_ESTABLISHED, "EXPIRED", actions=["disarm", "delete", "report"], report=C.MM_EXPIRED,
            ends=Ends.SA),
        row("recv_DELETE", MM_ESTABLISHED, "DELETED", actions=["disarm", "report"], report=C.MM_EXPIRED,
            ends=Ends.SA),
        row("probe", "COMPLETE", "PROBING", actions=["send:R-U-THERE"]),
        row("recv_R_U_THERE", MM_ESTABLISHED, None, actions=["reply:R-U-THERE-ACK"]),
        row("recv_R_U_THERE_ACK", "PROBING", "COMPLETE", actions=["disarm", "idle"]),
        row("recv_R_U_THERE_ACK", "COMPLETE", None, doc="a late answer: ignored"),
        row("give_up", "PROBING", "DEAD", actions=["report"], report=C.PEER_DEAD, ends=Ends.SA),
        row("peer_dead", MM_ESTABLISHED, "DEAD", actions=["disarm", "report"], report=C.PEER_DEAD, ends=Ends.SA,
            doc="a quick mode under this SA found the peer dead"),
        *_local_deletes(MM_NEGOTIATING, MM_ESTABLISHED),
    ),
)  # fmt: skip

QUICK_MODE = Table(
    name="ikev1_quick_mode",
    title="IKEv1 quick mode",
    keying_module=KeyModule.IKE,
    doc=__doc__ or "",
    states=(
        State("NONE", QmState.NONE, "no packet sent yet"),
        State("INITIAL", QmState.INITIAL, "initiator sent QM1"),
        State("FINAL", QmState.FINAL, "responder sent QM2, its final packet"),
        State("COMPLETE", QmState.COMPLETE, "quick-mode SA established"),
        *_TERMINALS[2:],
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
        row("recv_QM3", "COMPLETE", None, doc="a duplicate: ignored"),
        row("retransmit", ("INITIAL", "FINAL"), None, actions=["retransmit"]),
        # Main mode is up, so a silent peer here means the main-mode SA is assumed invalid.
        row("give_up", ("INITIAL", "FINAL"), "DEAD", actions=["report", "parent_dead"], report=C.PEER_DEAD),
        row("recv_NOTIFY", ("INITIAL", "FINAL"), "REFUSED", actions=["disarm", "report"], report=NOTIFIED),
        row("recv_DELETE", ("INITIAL", "FINAL"), "DELETED_EARLY", actions=["disarm", "report"],
            report=C.DELETED_BEFORE_ESTABLISHED),
        row("expire", "COMPLETE", "EXPIRED", actions=["delete", "report"], report=C.QM_EXPIRED, ends=Ends.SA),
        row("recv_DELETE", "COMPLETE", "DELETED", actions=["report"], report=C.QM_EXPIRED, ends=Ends.SA),
        *_local_deletes(("INITIAL", "FINAL"), ("COMPLETE",)),
    ),
)  # fmt: skip

TABLES = (MAIN_MODE, QUICK_MODE)

# Which table a first message opens at the responder, and under which parent exchange.
FIRST_MESSAGES = {"MM1": MAIN_MODE, "QM1": QUICK_MODE}

# The reply a message asks for: a local fault "at" a message fires when this peer handles it.
NEXT_MESSAGE = {"MM1": "MM2", "MM2": "MM3", "MM3": "MM4", "MM4": "MM5", "MM5": "MM6", "QM1": "QM2", "QM2": "QM3"}

# Conditions a rejecting peer announces with an INFORMATIONAL notify (and the IKEv1 notify type).
NOTIFY_TYPES = {
    C.NO_PROPOSAL_CHOSEN: ("NO-PROPOSAL-CHOSEN", 14),
    C.INVALID_GROUP: ("INVALID-KEY-INFORMATION", 17),
    C.AUTH_FAILED: ("AUTHENTICATION-FAILED", 24),
    C.CERT_UNTRUSTED: ("INVALID-CERTIFICATE", 18),
    C.CERT_REVOKED: ("CERTIFICATE-UNAVAILABLE", 28),
    C.MM_LIMIT: ("NO-PROPOSAL-CHOSEN", 14),
    C.QM_LIMIT: ("NO-PROPOSAL-CHOSEN", 14),
    C.SHUTTING_DOWN: ("NO-PROPOSAL-CHOSEN", 14),
    C.DOS_COOKIE_SENT: ("COOKIE", 16390),
}
