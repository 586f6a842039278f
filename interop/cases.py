"""The case matrix: what each case runs, and which ikesim scenario it is compared with.

Both charons use the same short timers (``TIMERS``), and every scenario gives ikesim's
``strongswan`` profile the same numbers as ``retransmit`` options, so that a case lasts seconds.
libreswan's pluto (the ``libreswan-`` cases) runs with its own short timers (``PLUTO_TIMERS``),
given to ikesim's ``libreswan`` profile as ``retransmit = { interval = 0.5, timeout = 5 }``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "interop"

# charon.conf timers of every case: resends at 1, 2.4, 4.359 s, gives up at 7.103 s
# (strongSwan truncates 1000 * 1.4**2 = 1959.99... ms to 1959).
TIMERS = {"retransmit_timeout": 1.0, "retransmit_base": 1.4, "retransmit_tries": 3, "half_open_timeout": 5}

OK = "aes128-sha256-modp2048"

# pluto's conn timers (retransmit-interval in ms, retransmit-timeout in s) of the libreswan cases:
# resends at 0.5, 1, 2, 4 s, gives up at 8 s (the first event at or past 5 s).
PLUTO_TIMERS = {"retransmit_interval_ms": 500, "retransmit_timeout": 5}


@dataclass(frozen=True)
class Case:
    """One case: the daemons on each side, their differences, the relay's fault, and how long it runs."""

    name: str
    summary: str
    version: int
    responder: str = "charon"  # "charon", "pluto", "silent" (UDP sockets that never answer) or "ikesim" (serve)
    initiator_proposals: str = OK
    responder_proposals: str = OK
    initiator_psk: str = "interop-secret"
    responder_psk: str = "interop-secret"
    relay: tuple[str, ...] = ()  # arguments of interop.relay: --damage N, --cut-after N...
    duration: float = 2.0  # seconds the case runs after the initiation
    initiator: str = "charon"  # "charon" or "pluto"
    ike_only: bool = False  # charon initiates the IKE SA alone (no quick mode; IKEv2: childless, RFC 6023)
    vips: str | None = None  # the initiator asks for an inner address (charon's ``vips``, IKEv2 CP)
    skip: str | None = None  # why the case cannot run here
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def scenario(self) -> Path:
        """The ikesim scenario of this case."""
        return DATA / f"{self.name}.toml"

    @property
    def recording(self) -> Path:
        """The committed recording of this case."""
        return DATA / f"{self.name}.json"


GIVE_UP = 7.6  # seconds: past the initiator's give-up at 7.103 s
PLUTO_GIVE_UP = 8.4  # seconds: past pluto's give-up 8 s after its first send

CASES: tuple[Case, ...] = (
    Case("v1-success", "IKEv1 main mode and quick mode complete", 1),
    Case("v2-success", "IKEv2 IKE_SA_INIT and IKE_AUTH complete", 2),
    Case("v1-wrong-psk", "IKEv1, the pre-shared keys differ", 1, initiator_psk="interop-wrong", duration=GIVE_UP + 0.4),
    Case("v2-wrong-psk", "IKEv2, the pre-shared keys differ", 2, initiator_psk="interop-wrong"),
    Case("v1-cipher-mismatch", "IKEv1, AES-128 offered, AES-256 required", 1,
         responder_proposals="aes256-sha256-modp2048"),
    Case("v2-cipher-mismatch", "IKEv2, AES-128 offered, AES-256 required", 2,
         responder_proposals="aes256-sha256-modp2048"),
    Case("v1-dh-mismatch", "IKEv1, MODP-1024 offered, MODP-2048 required", 1,
         initiator_proposals="aes128-sha256-modp1024"),
    Case("v2-dh-no-acceptable-group", "IKEv2, only MODP-1024 offered, MODP-2048 required", 2,
         initiator_proposals="aes128-sha256-modp1024"),
    Case("v2-invalid-ke-retry", "IKEv2, MODP-1024 (with its KE) and MODP-2048 offered, MODP-2048 required", 2,
         initiator_proposals="aes128-sha256-modp1024-modp2048"),
    Case("v1-silent-responder", "IKEv1 initiator, the responder never answers", 1, responder="silent",
         duration=GIVE_UP),
    Case("v2-silent-responder", "IKEv2 initiator, the responder never answers", 2, responder="silent",
         duration=GIVE_UP),
    Case("v1-responder-gets-mm1-only", "IKEv1, the link dies after MM1: the responder's half-open SA", 1,
         relay=("--cut-after", "1"), duration=GIVE_UP),
    Case("v1-damaged-mm3", "IKEv1, the first MM3 arrives with a broken payload length", 1,
         relay=("--damage", "2", "--damage-offset", "30"), duration=GIVE_UP),
    Case("v1-damaged-mm5", "IKEv1, the first MM5 arrives with a flipped byte in its ciphertext", 1,
         relay=("--damage", "3", "--damage-offset", "30"), duration=GIVE_UP),
    Case("v2-damaged-ike-auth", "IKEv2, the first IKE_AUTH request arrives with a broken checksum", 2,
         relay=("--damage", "2"), duration=3.0),
    Case("v1-libreswan-silent-responder", "IKEv1, pluto initiates, the responder never answers", 1,
         initiator="pluto", responder="silent", duration=PLUTO_GIVE_UP),
    Case("v2-libreswan-silent-responder", "IKEv2, pluto initiates, the responder never answers", 2,
         initiator="pluto", responder="silent", duration=PLUTO_GIVE_UP),
    Case("v1-libreswan-responder-gets-mm1-only", "IKEv1, charon to pluto, the link dies after MM1", 1,
         responder="pluto", relay=("--cut-after", "1"), duration=PLUTO_GIVE_UP),
    Case("v1-libreswan-responder-mm3-only", "IKEv1, charon to pluto, the link dies after MM3: pluto resends MM4", 1,
         responder="pluto", relay=("--cut-after", "2"), duration=PLUTO_GIVE_UP),
    Case("v1-libreswan-success", "IKEv1, charon to pluto: main mode completes (no quick mode)", 1,
         responder="pluto", ike_only=True),
    Case("v2-libreswan-success", "IKEv2, charon to pluto: IKE_SA_INIT and a childless IKE_AUTH complete", 2,
         responder="pluto", ike_only=True),
    # ikesim serve as the responder (its policy from the case's scenario): interop.serve.
    Case("v1-serve-success", "IKEv1, charon to ikesim serve: main mode and quick mode complete", 1,
         responder="ikesim"),
    Case("v1-serve-wrong-psk", "IKEv1, charon to ikesim serve (strongswan), the pre-shared keys differ", 1,
         responder="ikesim", initiator_psk="interop-wrong", duration=GIVE_UP + 0.4),
    Case("v1-serve-proposal-mismatch", "IKEv1, charon to ikesim serve, AES-128 offered, AES-256 required", 1,
         responder="ikesim"),
    Case("v2-serve-inner-address", "IKEv2, charon asks ikesim serve for an inner address and gets one", 2,
         responder="ikesim", vips="0.0.0.0"),
    Case("v2-serve-pool-exhausted", "IKEv2, charon asks for an inner address, ikesim serve's pool is empty (13899)",
         2, responder="ikesim", vips="0.0.0.0"),
    Case("v2-serve-cp-missing", "IKEv2, charon sends no CP, ikesim serve requires one (13900)", 2,
         responder="ikesim"),
    Case("v2-serve-wrong-psk", "IKEv2, charon to ikesim serve, the pre-shared keys differ", 2, responder="ikesim",
         initiator_psk="interop-wrong"),
    Case("v2-serve-proposal-mismatch", "IKEv2, charon to ikesim serve, AES-128 offered, AES-256 required", 2,
         responder="ikesim"),
)  # fmt: skip

BY_NAME = {c.name: c for c in CASES}
