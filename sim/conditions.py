"""What ends a negotiation, and which code it reports: the SPEC table as data.

The engine reports conditions, never raw codes, so that the catalog (`ikesim explain`) and the
simulator cannot disagree about which condition produces which code. A condition marked
``convention`` follows the message text and third-party descriptions of the code, not a
Microsoft statement of when Windows emits it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sim.codes import IkeCode
from sim.enums import FailurePoint

_ME, _PEER, _NONE = FailurePoint.ME, FailurePoint.PEER, FailurePoint.NONE


@dataclass(frozen=True, slots=True)
class ConditionInfo:
    """One row of the model: the condition, its code, and who failed from the detecting side."""

    code: IkeCode | None  # None: the code is given by the scenario (injected local fault)
    point: FailurePoint  # the failure point at the peer that detects the condition
    text: str  # the reason in plain words, for timelines and docs
    convention: bool = False


class Condition(enum.Enum):
    """A simulated condition that ends a negotiation or an established SA."""

    value: ConditionInfo

    COMPLETE = ConditionInfo(IkeCode.NEG_STATUS_END, _NONE, "the negotiation reached its end with no failure", True)
    EXTENDED_COMPLETE = ConditionInfo(
        IkeCode.NEG_STATUS_EXTENDED_END,
        _NONE,
        "the AuthIP extended-mode negotiation reached its end with no more specific status",
        True,
    )
    NO_RESPONSE = ConditionInfo(
        IkeCode.DROP_NO_RESPONSE, _PEER, "no answer at all to the first message once retransmissions were exhausted"
    )
    PEER_SILENT = ConditionInfo(IkeCode.TIMED_OUT, _PEER, "the peer answered, then went silent during the negotiation")
    PEER_DEAD = ConditionInfo(
        IkeCode.PEER_MM_ASSUMED_INVALID,
        _PEER,
        "the main-mode SA was up and the peer stopped responding (retransmissions exhausted)",
    )
    INNER_IP_UNAVAILABLE = ConditionInfo(
        IkeCode.INNER_IP_ASSIGNMENT_FAILURE,
        _ME,
        "the responder could not assign an inner address from its pool (notify INTERNAL_ADDRESS_FAILURE)",
        True,
    )
    CP_REQUIRED = ConditionInfo(
        IkeCode.REQUIRE_CP_PAYLOAD_MISSING,
        _PEER,
        "the responder requires a configuration payload and the initiator sent none (notify FAILED_CP_REQUIRED)",
        True,
    )
    NAP_REAUTH_SUCCEEDED = ConditionInfo(
        IkeCode.KILL_DUMMY_NAP_TUNNEL,
        _NONE,
        "NAP reauthentication succeeded: the full tunnel is up and the dummy tunnel is deleted",
    )
    NAP_REAUTH_FAILED = ConditionInfo(
        IkeCode.AUTHORIZATION_FAILURE, _PEER, "NAP reauthentication failed: the client is still not healthy"
    )
    NO_PROPOSAL_CHOSEN = ConditionInfo(IkeCode.ATTRIB_FAIL, _PEER, "no proposal was acceptable to the responder")
    AUTH_FAILED = ConditionInfo(IkeCode.AUTH_FAIL, _PEER, "wrong pre-shared key or bad signature")
    CERT_UNTRUSTED = ConditionInfo(
        IkeCode.CERT_CHAIN_POLICY_MISMATCH, _PEER, "the peer's certificate does not chain to a trusted root"
    )
    CERT_REVOKED = ConditionInfo(
        IkeCode.PEER_CRL_FAILED, _PEER, "the revocation check of the peer's certificate failed"
    )
    NO_MACHINE_CERT = ConditionInfo(IkeCode.NO_CERT, _ME, "this machine has no valid machine certificate")
    INVALID_GROUP = ConditionInfo(IkeCode.INVALID_GROUP, _PEER, "invalid or unsupported Diffie-Hellman group")
    DELETED_BEFORE_ESTABLISHED = ConditionInfo(
        IkeCode.SA_DELETED, _PEER, "the peer deleted the SA before establishment completed"
    )
    MM_EXPIRED = ConditionInfo(
        IkeCode.MM_EXPIRED, _NONE, "the main-mode SA lifetime expired or the peer sent a main-mode delete"
    )
    QM_EXPIRED = ConditionInfo(IkeCode.QM_EXPIRED, _NONE, "the quick-mode SA lifetime expired")
    MM_LIMIT = ConditionInfo(IkeCode.MM_LIMIT, _ME, "too many established main-mode SAs to this peer")
    QM_LIMIT = ConditionInfo(IkeCode.QM_LIMIT, _ME, "the quick-mode limit of this main-mode SA was reached")
    RATE_LIMITED = ConditionInfo(
        IkeCode.RATELIMIT_DROP, _PEER, "the request was dropped by the responder's per-address rate limit"
    )
    DOS_COOKIE_SENT = ConditionInfo(
        IkeCode.DOS_COOKIE_SENT, _ME, "the responder is under load and answered with a DoS cookie notify"
    )
    SHUTTING_DOWN = ConditionInfo(IkeCode.SHUTTING_DOWN, _ME, "the IKE service is shutting down")
    INVALID_COOKIE = ConditionInfo(
        IkeCode.INVALID_COOKIE,
        _PEER,
        "a message arrived with an invalid cookie: dropped, the negotiation keeps its state",
    )
    UNEXPECTED_MESSAGE_ID = ConditionInfo(
        IkeCode.UNEXPECTED_MESSAGE_ID,
        _PEER,
        "a message arrived with an unexpected message ID: dropped, the negotiation keeps its state",
    )
    INVALID_PAYLOAD = ConditionInfo(
        IkeCode.INVALID_PAYLOAD,
        _PEER,
        "a message arrived with an invalid payload: dropped, the negotiation keeps its state (an implementation "
        "that answers it with PAYLOAD-MALFORMED ends the negotiation at the peer that receives the notify)",
    )
    INVALID_HEADER = ConditionInfo(
        IkeCode.INVALID_HEADER,
        _PEER,
        "a message arrived with an invalid header: dropped, the negotiation keeps its state",
    )
    INVALID_MAJOR_VERSION = ConditionInfo(
        IkeCode.INVALID_MAJOR_VERSION,
        _PEER,
        "a message arrived with an unsupported IKE major version: dropped, the negotiation keeps its state",
    )
    SIMULTANEOUS_REKEY = ConditionInfo(
        IkeCode.SIMULTANEOUS_REKEY, _NONE, "both peers rekeyed the same SA at once; this rekey lost"
    )
    POLICY_CHANGE = ConditionInfo(IkeCode.POLICY_CHANGE, _ME, "a new policy invalidated the SA formed with the old one")
    ADMIN_DELETE = ConditionInfo(IkeCode.RPC_DELETE, _ME, "the SA was deleted here on request (an RPC call)")
    NO_MOBIKE = ConditionInfo(IkeCode.PEER_DOESNT_SUPPORT_MOBIKE, _PEER, "the peer does not support MOBIKE")
    LOCAL_FAULT = ConditionInfo(None, _ME, "an injected fault of the local machine")

    @property
    def key(self) -> str:
        """The condition's name as it appears in traces, for example ``no_response``."""
        return self.name.lower()

    @property
    def convention(self) -> bool:
        """True where the code follows convention rather than a Microsoft statement."""
        return self.value.convention


# Which condition a corrupted field of a received message produces at the receiver.
CORRUPTION_CONDITIONS = {
    "cookie": Condition.INVALID_COOKIE,
    "message_id": Condition.UNEXPECTED_MESSAGE_ID,
    "payload": Condition.INVALID_PAYLOAD,
    "header": Condition.INVALID_HEADER,
    "version": Condition.INVALID_MAJOR_VERSION,
}


def conditions_for(code: int) -> list[Condition]:
    """The conditions that report a code (empty when only a local-fault injection produces it)."""
    return [c for c in Condition if c.value.code is not None and c.value.code == code]
