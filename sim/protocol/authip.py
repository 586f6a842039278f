"""AuthIP ([MS-AIPS]): main mode, extended mode (a second, user authentication) and quick mode.

Main mode is two rounds: SA, KE and nonces (MM1/MM2), then authentication (MM3/MM4), with states
onto IKEEXT_MM_SA_STATE as for IKEv1. Extended mode, under an established main-mode SA, is two
rounds too: attributes (EM1/EM2), then the user's authentication (EM3/EM4), with states onto
IKEEXT_EM_SA_STATE: initiator NONE -EM1-> SENT_ATTS -EM3-> SSPI_SENT -(EM4 received)->
COMPLETE; responder NONE -EM2-> SENT_ATTS -EM4-> COMPLETE. An extended-mode negotiation that
ends with no more specific status reports 13909 NEG_STATUS_EXTENDED_END (a convention). Quick
mode follows, as in IKEv1. [MS-AIPS] 3.1.6.1: after seven retransmissions the initiator deletes
the main-mode state; give AuthIP peers a profile with seven resends to follow it to the letter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.conditions import Condition
from sim.enums import EmState, KeyModule, MmState, Role
from sim.protocol import checks, ikev1
from sim.protocol.exchanges import TERMINALS, rounds, sa_life
from sim.protocol.spec import ProtocolSpec
from sim.protocol.table import State, Table

if TYPE_CHECKING:
    from sim.protocol.session import Endpoint, Message, Session

C = Condition

MAIN_MODE = Table(
    name="authip_main_mode",
    title="AuthIP main mode",
    keying_module=KeyModule.AUTHIP,
    doc=__doc__ or "",
    states=(
        State("NONE", MmState.NONE, "no packet sent yet"),
        State("SA_SENT", MmState.SA_SENT, "sent AuthIP MM1 (initiator) or MM2 (responder)"),
        State("SSPI_SENT", MmState.SSPI_SENT, "initiator sent AuthIP MM3"),
        State("COMPLETE", MmState.COMPLETE, "main-mode SA established"),
        State("PROBING", MmState.COMPLETE, "established; a liveness check waits for its answer"),
        *TERMINALS,
    ),
    rows=(
        *rounds([("AuthIP MM1", "AuthIP MM2"), ("AuthIP MM3", "AuthIP MM4")], ["SA_SENT", "SSPI_SENT"]),
        *sa_life("AuthIP KEEPALIVE", "AuthIP KEEPALIVE-ACK", C.MM_EXPIRED, C.MM_EXPIRED),
    ),
)

EXTENDED_MODE = Table(
    name="authip_extended_mode",
    title="AuthIP extended mode",
    keying_module=KeyModule.AUTHIP,
    sa_kind="extended",
    doc=__doc__ or "",
    states=(
        State("NONE", EmState.NONE, "no packet sent yet"),
        State("SENT_ATTS", EmState.SENT_ATTS, "sent EM1 (initiator) or EM2 (responder)"),
        State("SSPI_SENT", EmState.SSPI_SENT, "initiator sent EM3, the user's authentication"),
        State("COMPLETE", EmState.COMPLETE, "extended mode complete"),
        *(s for s in TERMINALS if s.name not in ("EXPIRED", "DELETED", "DEAD")),
    ),
    rows=rounds(
        [("EM1", "EM2"), ("EM3", "EM4")],
        ["SENT_ATTS", "SSPI_SENT"],
        success=C.EXTENDED_COMPLETE,
        established=("COMPLETE",),
    ),
)

QUICK_MODE = ikev1.quick_mode("authip_quick_mode", "AuthIP quick mode", KeyModule.AUTHIP)


def check(ep: Endpoint, session: Session, msg: Message | None, received: str | None, sending: str | None) -> (
    Condition | None
):  # fmt: skip
    """AuthIP's checks: limits and proposals, machine authentication, then the user's in extended mode."""
    mine = ep.policy
    if msg is not None:
        if received == "AuthIP MM1":
            return ep.admit(session, msg) or checks.choose_proposal(msg.body, mine)
        if received == "AuthIP MM2":
            return checks.own_credentials(mine)
        if received == "AuthIP MM3":
            return checks.verify_peer(msg.body, mine) or checks.own_credentials(mine)
        if received == "AuthIP MM4":
            return checks.verify_peer(msg.body, mine)
        if received == "EM3":
            return None if msg.body.user_secret == mine.user_secret else C.AUTH_FAILED
    if sending in ("QM1", "QM2"):
        return checks.quick_mode_limit(mine, session)
    return None


def on_established(ep: Endpoint, session: Session) -> None:
    """The initiator runs extended mode (if its policy asks) after main mode, then its quick modes."""
    if session.role is not Role.INITIATOR:
        return
    if session.table is MAIN_MODE and ep.policy.extended_mode:
        ep.initiate(ep.now, EXTENDED_MODE.name, session.peer, session)
        return
    main = session if session.table is MAIN_MODE else session.parent
    if main is not None:
        checks.next_quick_mode(ep, main, QUICK_MODE.name)


AUTHIP = ProtocolSpec(
    stateless={C.RATE_LIMITED: False},  # dropped, and a retransmission after the window is accepted
    name="authip",
    tables=(MAIN_MODE, EXTENDED_MODE, QUICK_MODE),
    first_table=MAIN_MODE.name,
    first_messages={"AuthIP MM1": MAIN_MODE.name, "EM1": EXTENDED_MODE.name, "QM1": QUICK_MODE.name},
    first_sent={MAIN_MODE.name: "AuthIP MM1", EXTENDED_MODE.name: "EM1", QUICK_MODE.name: "QM1"},
    next_message={
        "AuthIP MM1": "AuthIP MM2",
        "AuthIP MM2": "AuthIP MM3",
        "AuthIP MM3": "AuthIP MM4",
        "EM1": "EM2",
        "EM2": "EM3",
        "EM3": "EM4",
        "QM1": "QM2",
        "QM2": "QM3",
    },
    prefixes={MAIN_MODE.name: "MM", EXTENDED_MODE.name: "EM", QUICK_MODE.name: "QM"},
    notify_types=ikev1.NOTIFY_TYPES,
    notify_message=lambda session, msg: ("AuthIP NOTIFY", "recv_NOTIFY"),
    delete_message=("AuthIP DELETE", "recv_DELETE"),
    check=check,
    on_established=on_established,
    payloads={
        "AuthIP MM1": "HDR, SA, KE, Ni",
        "AuthIP MM2": "HDR, SA, KE, Nr",
        "AuthIP MM3": "HDR*, GSS-API token",
        "AuthIP MM4": "HDR*, GSS-API token",
        "EM1": "HDR*, auth offers",
        "EM2": "HDR*, auth choice",
        "EM3": "HDR*, GSS-API token (user)",
        "EM4": "HDR*, GSS-API token (user)",
        "AuthIP KEEPALIVE": "HDR*, N(KEEPALIVE)",
        "AuthIP KEEPALIVE-ACK": "HDR*, N(KEEPALIVE-ACK)",
        "AuthIP NOTIFY": "HDR, N",
        "AuthIP DELETE": "HDR*, D",
        "QM1": ikev1.PAYLOADS["QM1"],
        "QM2": ikev1.PAYLOADS["QM2"],
        "QM3": ikev1.PAYLOADS["QM3"],
    },
)
