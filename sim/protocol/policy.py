"""A peer's policy: what it is configured with.

Messages carry a reference to their sender's policy: it stands for the payloads a real message
would carry (proposals, key exchange, identity, certificate, authentication data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.codes import IkeCode


@dataclass(frozen=True, slots=True)
class Proposal:
    """One transform set offered or accepted for the main-mode (or IKE) SA."""

    encryption: str = "aes128"
    integrity: str = "sha1"
    dh_group: int = 14


@dataclass(frozen=True, slots=True)
class Policy:
    """What one peer is configured with; every field has a working default."""

    auth: str = "psk"  # psk | certificate | eap (an opaque method: it checks like a pre-shared secret)
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
    # IKEv2
    request_address: bool = False  # initiator: ask for an inner address (CFG_REQUEST) in IKE_AUTH
    require_cp: bool = False  # responder: refuse a child SA without a configuration payload
    address_pool: int | None = None  # responder: how many inner addresses it can assign
    pool_base: str = "10.10.0.1"  # responder: the first address of its pool
    mobike: bool = True  # supports MOBIKE (RFC 4555)
    rekey_after: float | None = None  # rekey each child SA this long after it is up
    # NAP
    nap: bool = False  # responder: enforce NAP health (a dummy tunnel for unhealthy clients)
    nap_health: str = "healthy"  # initiator: healthy | unhealthy | remediates
    remediation_time: float = 30.0  # initiator: seconds from a restricted tunnel to reauthentication
    # AuthIP
    extended_mode: bool = False  # initiator: authenticate the user in extended mode after main mode
    user_secret: str = "user-secret"  # the user credentials extended mode proves

    def accepted_groups(self) -> tuple[int, ...]:
        """The Diffie-Hellman groups this peer accepts."""
        if self.dh_groups is not None:
            return self.dh_groups
        return tuple(dict.fromkeys(p.dh_group for p in self.proposals))
