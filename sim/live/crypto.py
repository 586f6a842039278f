"""The live responder's cryptography: key pairs, CBC with the negotiated cipher, NAT detection hashes.

Everything here is built on :mod:`sim.wire` (DH, the IKEv1 and IKEv2 key derivations and hashes,
the IKEv2 Encrypted payload); what this module adds is what a responder that meets strangers
needs: fresh random keys and nonces per negotiation (the wire layer's captures derive theirs from a
seed), 3DES next to AES for IKEv1, and the NAT-D hashes. Every failure is a :class:`CryptoFailure`
with a reason, which the responder turns into a dropped datagram.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sim.errors import IkesimError
from sim.wire import dh

try:  # cryptography 43 moved TripleDES to its "decrepit" package; pyproject allows 42
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef,unused-ignore]

NON_ESP_MARKER = bytes(4)  # RFC 3948 section 2.2: an IKE message on UDP 4500 starts with four zero bytes


class CryptoFailure(IkesimError, ValueError):
    """A datagram the responder cannot decrypt or verify; the text says why."""


@dataclass(frozen=True, slots=True)
class Cbc:
    """An IKEv1 phase 1 cipher: its name, key length and block size."""

    name: str  # "aes" or "3des"
    key_length: int
    block: int

    def encrypt(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        """CBC of whole blocks."""
        enc = Cipher(self._algorithm(key), modes.CBC(iv)).encryptor()
        return enc.update(data) + enc.finalize()

    def decrypt(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        """The inverse of :meth:`encrypt`; a partial block is a :class:`CryptoFailure`."""
        if not data or len(data) % self.block:
            raise CryptoFailure(f"ciphertext of {len(data)} bytes is not whole {self.block}-byte blocks")
        dec = Cipher(self._algorithm(key), modes.CBC(iv)).decryptor()
        return dec.update(data) + dec.finalize()

    def _algorithm(self, key: bytes) -> algorithms.AES | TripleDES:
        return algorithms.AES(key) if self.name == "aes" else TripleDES(key)


def v1_cipher(encryption: int, key_bits: int | None) -> Cbc | None:
    """The phase 1 cipher of IKEv1 encryption attribute values (RFC 2409 appendix A), or None when not implemented."""
    if encryption == 7 and key_bits in (128, 192, 256):
        return Cbc("aes", key_bits // 8, 16)
    if encryption == 5:
        return Cbc("3des", 24, 8)
    return None


@dataclass
class KeyPair:
    """A fresh Diffie-Hellman key pair of one group."""

    group: int
    private: bytes = b""
    public: bytes = b""

    def __post_init__(self) -> None:
        pair = dh.key_pair(self.group, secrets.token_bytes(32), b"responder")
        self.private, self.public = pair.private, pair.public

    def shared(self, peer: bytes) -> bytes:
        """g^xy with the peer's key exchange data; a value out of range is a :class:`CryptoFailure`."""
        try:
            return dh.shared_secret(self.group, self.private, peer)
        except dh.DHError as error:
            raise CryptoFailure(f"the peer's key exchange data: {error}") from None


def wire_address(address: tuple[str, int]) -> tuple[bytes, int]:
    """An address as NAT detection hashes it: the packed IP and the port (RFC 3947 3.2, RFC 7296 2.23)."""
    return ipaddress.ip_address(address[0]).packed, address[1]


@dataclass
class QuickState:
    """One quick mode under a phase 1 SA: what its messages need from each other."""

    label: str
    iv: bytes  # the IV of the next message of the exchange
    ni: bytes = b""
    nr: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    spi: bytes = field(default_factory=lambda: secrets.token_bytes(4))  # our inbound ESP SPI
    peer_spi: bytes = b""  # the initiator's ESP SPI (what its delete names)
    pending: list[tuple[int, bytes]] = field(default_factory=list)  # QM2's payloads after HASH(2)
    reply: bytes = b""  # QM2 as sent (empty until it is)
