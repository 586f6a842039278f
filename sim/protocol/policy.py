"""A peer's policy, and the checks a peer makes on what the other peer offers or proves.

Messages carry a reference to their sender's policy: it stands for the payloads a real message
would carry (proposals, key exchange, identity, certificate, authentication data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.codes import IkeCode
from sim.conditions import Condition

C = Condition


@dataclass(frozen=True, slots=True)
class Proposal:
    """One transform set offered or accepted for the main-mode (or IKE) SA."""

    encryption: str = "aes128"
    integrity: str = "sha1"
    dh_group: int = 14


@dataclass(frozen=True, slots=True)
class Policy:
    """What one peer is configured with; every field has a working default."""

    auth: str = "psk"  # psk | certificate
    psk: str = "shared-secret"
    proposals: tuple[Proposal, ...] = (Proposal(),)
    dh_groups: tuple[int, ...] | None = None  # groups accepted; None: those of the proposals
    certificate: str = "valid"  # this peer's own machine certificate: valid | missing | untrusted | revoked
    quick_modes: int = 1  # quick modes an initiator negotiates after main mode
    mm_lifetime: float = 28800.0  # 480 min, the Windows default
    qm_lifetime: float = 3600.0  # 60 min, the Windows default
    liveness_interval: float | None = None  # idle seconds before a liveness check; None: no checks
    max_mm_per_peer: int | None = None
    max_qm_per_mm: int | None = None
    rate_limit: int | None = None  # first messages accepted per peer per second
    dos_threshold: int | None = None  # half-open negotiations before DoS cookies are sent
    shutdown_at: float | None = None  # virtual time at which the IKE service starts shutting down
    local_faults: Mapping[str, IkeCode] = field(default_factory=dict)  # message name -> code

    def accepted_groups(self) -> tuple[int, ...]:
        """The Diffie-Hellman groups this peer accepts."""
        if self.dh_groups is not None:
            return self.dh_groups
        return tuple(dict.fromkeys(p.dh_group for p in self.proposals))


def choose_proposal(offer: Policy, mine: Policy) -> Condition | None:
    """A responder's choice among the initiator's proposals: None when one is acceptable."""
    if offer.auth != mine.auth:
        return C.NO_PROPOSAL_CHOSEN  # the authentication method is an SA attribute
    suites = {(p.encryption, p.integrity) for p in mine.proposals}
    matching = [p for p in offer.proposals if (p.encryption, p.integrity) in suites]
    if not matching:
        return C.NO_PROPOSAL_CHOSEN
    groups = mine.accepted_groups()
    if not any(p.dh_group in groups for p in matching):
        return C.INVALID_GROUP
    return None


def verify_peer(sender: Policy, mine: Policy) -> Condition | None:
    """Check the peer's authentication payload: None when it proves who it claims to be."""
    if mine.auth == "psk":
        return None if sender.psk == mine.psk else C.AUTH_FAILED
    if sender.certificate == "untrusted":
        return C.CERT_UNTRUSTED
    if sender.certificate == "revoked":
        return C.CERT_REVOKED
    return None


def own_credentials(mine: Policy) -> Condition | None:
    """Check that this peer can authenticate itself: None when it can."""
    if mine.auth == "certificate" and mine.certificate == "missing":
        return C.NO_MACHINE_CERT
    return None
