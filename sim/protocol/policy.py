"""A peer's policy: what it is configured with.

Messages carry a reference to their sender's policy: it stands for the payloads a real message
would carry (proposals, key exchange, identity, certificate, authentication data).

This is the one definition of a policy: the scenario's pydantic model validates these
dataclasses as they are, reading their types, the ``annotated_types`` constraints, the defaults,
the attribute docstrings (the field descriptions of the JSON Schema) and ``__pydantic_config__``,
a plain dict, so the core stays free of pydantic.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, get_args

from annotated_types import Ge, Gt, Le, MinLen, Predicate

# Unknown keys are errors; floats are finite (TOML can write inf and nan); descriptions come from docstrings;
# a policy built in Python is checked like one read from a file when a scenario is given it.
_CONFIG: dict[str, object] = {
    "extra": "forbid",
    "allow_inf_nan": False,
    "use_attribute_docstrings": True,
    "revalidate_instances": "always",
}


def _ipv4(value: str) -> bool:
    """True for an IPv4 address; otherwise a ValueError saying so, which pydantic reports at the field."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None
    return True


Encryption = Literal["des", "3des", "aes128", "aes192", "aes256", "aes128-gcm", "aes256-gcm"]
Integrity = Literal["md5", "sha1", "sha256", "sha384", "sha512"]
AuthMethod = Literal["psk", "certificate", "eap"]
CertificateState = Literal["valid", "missing", "untrusted", "revoked"]
CERTIFICATE_STATES: tuple[str, ...] = get_args(CertificateState)
# A Diffie-Hellman group number: those whose key exchange the captures build (sim.wire.dh.GROUPS; a test keeps
# the two lists one). MODP 1, 2, 5, 14-18, ECP 19-21, Curve25519 (31).
Group = Literal[1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31]
Count = Annotated[int, Ge(0)]
Seconds = Annotated[float, Gt(0)]


@dataclass(frozen=True, slots=True)
class Proposal:  # offered or accepted for the main-mode (or IKE) SA
    """One transform set."""

    __pydantic_config__: ClassVar[dict[str, object]] = _CONFIG

    encryption: Encryption = "aes128"
    integrity: Integrity = "sha1"
    dh_group: Group = 14


@dataclass(frozen=True, slots=True)
class Policy:
    """A peer's configuration; every field has a working default."""

    __pydantic_config__: ClassVar[dict[str, object]] = _CONFIG

    auth: AuthMethod = "psk"
    """how the peer authenticates; eap is an opaque method that checks like a pre-shared secret"""
    psk: str = "shared-secret"
    """the pre-shared secret (auth psk or eap)"""
    proposals: Annotated[tuple[Proposal, ...], MinLen(1)] = (Proposal(),)
    dh_groups: tuple[Group, ...] | None = None
    """the Diffie-Hellman groups accepted; none: those of the proposals"""
    certificate: CertificateState = "valid"
    """this peer's own machine certificate"""
    quick_modes: Annotated[int, Ge(0), Le(1000)] = 1
    """quick modes an initiator negotiates after main mode"""
    mm_lifetime: Seconds = 28800.0
    """seconds; 480 min, the Windows default"""
    qm_lifetime: Seconds = 3600.0
    """seconds; 60 min, the Windows default"""
    liveness_interval: Seconds | None = None
    """idle seconds before a liveness check; none: no checks"""
    max_mm_per_peer: Count | None = None
    """responder: established main-mode SAs allowed per peer"""
    max_qm_per_mm: Count | None = None
    """quick modes allowed under one main-mode SA"""
    rate_limit: Count | None = None
    """first messages accepted per peer per second; one more is dropped keeping no state"""
    dos_threshold: Count | None = None
    """IKEv2: half-open negotiations before an IKE_SA_INIT without a cookie is answered N(COOKIE)"""
    shutdown_at: Annotated[float, Ge(0.0)] | None = None
    """virtual time at which the IKE service starts shutting down"""
    # IKEv2
    request_address: bool = False  # a CFG_REQUEST configuration payload in IKE_AUTH
    """IKEv2 initiator: ask for an inner address (CP)"""
    require_cp: bool = False
    """IKEv2 responder: refuse a child SA without a CP"""
    address_pool: Annotated[int, Ge(0), Le(65536)] | None = None
    """IKEv2 responder: how many inner addresses it can lease"""
    pool_base: Annotated[str, Predicate(_ipv4)] = "10.10.0.1"
    """IKEv2 responder: the first address of its pool"""
    mobike: bool = True
    """IKEv2: supports MOBIKE (RFC 4555)"""
    rekey_after: Seconds | None = None
    """IKEv2: rekey each child SA this many seconds after it is up"""
    # NAP
    nap: bool = False
    """IKEv2 responder: enforce NAP health"""
    nap_health: Literal["healthy", "unhealthy", "remediates"] = "healthy"
    """IKEv2 initiator: its NAP health; remediates: unhealthy, then healthy after remediation_time"""
    remediation_time: Seconds = 30.0
    """IKEv2 initiator: seconds from a restricted tunnel to reauthentication"""
    # AuthIP
    extended_mode: bool = False
    """AuthIP initiator: authenticate the user too"""
    user_secret: str = "user-secret"
    """AuthIP initiator: the user credentials extended mode proves"""

    def accepted_groups(self) -> tuple[int, ...]:
        """The Diffie-Hellman groups this peer accepts."""
        if self.dh_groups is not None:
            return self.dh_groups
        return tuple(dict.fromkeys(p.dh_group for p in self.proposals))
