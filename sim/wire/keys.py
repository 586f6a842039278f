"""IKE's pseudo-random functions and key derivations: IKEv1 (RFC 2409) and IKEv2 (RFC 7296).

Every function takes the negotiated hash by name (:data:`HashName`); the tables map the IANA numbers
of each version onto those names. IKEv1 uses the HMAC form of its negotiated hash as its prf (RFC
2409 section 4, "the HMAC version of the negotiated hash algorithm"); IKEv2 negotiates a PRF. The
functions reproduce charon 5.9.8's derived keys byte for byte (``tests/test_wire_crypto.py``).
Pure functions, no state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from cryptography.hazmat.primitives import hashes, hmac

from sim.errors import IkesimError

HashName = Literal["md5", "sha1", "sha256", "sha384", "sha512"]

_ALGORITHMS: Mapping[str, type[hashes.HashAlgorithm]] = MappingProxyType(
    {"md5": hashes.MD5, "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
)
DIGEST_SIZES: Mapping[HashName, int] = MappingProxyType(
    {"md5": 16, "sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
)

# IKEv1 hash algorithm attribute values (RFC 2409 appendix A; 4-6 from the IANA registry, RFC 4868 section 2.1).
IKEV1_HASHES: Mapping[int, HashName] = MappingProxyType({1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"})
# IKEv2 Transform Type 2, PRF (RFC 7296 section 3.3.2; 5-7 from RFC 4868 section 2.1).
IKEV2_PRFS: Mapping[int, HashName] = MappingProxyType({1: "md5", 2: "sha1", 5: "sha256", 6: "sha384", 7: "sha512"})


class KeyDerivationError(IkesimError, ValueError):
    """An unknown algorithm number, or lengths a derivation cannot produce."""


def _algorithm(name: HashName) -> hashes.HashAlgorithm:
    try:
        return _ALGORITHMS[name]()
    except KeyError:
        raise KeyDerivationError(f"unknown hash {name!r}") from None


def ikev1_hash(number: int) -> HashName:
    """The hash named by an IKEv1 Hash Algorithm attribute value (RFC 2409 appendix A; RFC 4868 section 2.1)."""
    try:
        return IKEV1_HASHES[number]
    except KeyError:
        raise KeyDerivationError(f"IKEv1 hash algorithm {number} is not implemented") from None


def ikev2_prf(number: int) -> HashName:
    """The hash of the HMAC an IKEv2 PRF transform ID names (RFC 7296 section 3.3.2; RFC 4868 section 2.1)."""
    try:
        return IKEV2_PRFS[number]
    except KeyError:
        raise KeyDerivationError(f"IKEv2 PRF {number} is not implemented") from None


def digest(name: HashName, data: bytes) -> bytes:
    """The plain hash of ``data`` (IKEv1 uses it for the phase 1 and phase 2 IVs, RFC 2409 appendix B)."""
    h = hashes.Hash(_algorithm(name))
    h.update(data)
    return h.finalize()


def prf(name: HashName, key: bytes, data: bytes) -> bytes:
    """HMAC with the named hash (RFC 2104): IKEv1's prf (RFC 2409 section 4) and IKEv2's PRF_HMAC_* (RFC 7296 2.13).

    Any key length is allowed: a key longer than the hash's block is hashed first, a shorter one
    zero-filled, as RFC 2104 section 2 says (RFC 7296 section 2.13 relies on that for variable keys).
    """
    mac = hmac.HMAC(key, _algorithm(name))
    mac.update(data)
    return mac.finalize()


def prf_plus(name: HashName, key: bytes, seed: bytes, length: int) -> bytes:
    """prf+ (RFC 7296 section 2.13): T1 | T2 | ..., Tn = prf(K, Tn-1 | S | n), n a single octet from 1.

    At most 255 iterations: asking for more than 255 outputs of the PRF raises :class:`KeyDerivationError`.
    """
    size = DIGEST_SIZES[name]
    if length < 0 or length > 255 * size:
        raise KeyDerivationError(f"prf+ with {name} yields 0 to {255 * size} bytes, not {length}")
    out = bytearray()
    block = b""
    counter = 1
    while len(out) < length:
        block = prf(name, key, block + seed + bytes([counter]))
        out += block
        counter += 1
    return bytes(out[:length])


# ---------------------------------------------------------------------------------------------------- IKEv1


def ikev1_skeyid_psk(name: HashName, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    """SKEYID for pre-shared key authentication: prf(pre-shared-key, Ni_b | Nr_b) (RFC 2409 section 5).

    ``ni_b`` and ``nr_b`` are the bodies of the nonce payloads (without their generic headers).
    """
    return prf(name, psk, ni_b + nr_b)


def ikev1_skeyid_signature(name: HashName, ni_b: bytes, nr_b: bytes, g_xy: bytes) -> bytes:
    """SKEYID for signature authentication: prf(Ni_b | Nr_b, g^xy) (RFC 2409 section 5)."""
    return prf(name, ni_b + nr_b, g_xy)


def ikev1_skeyid_public_key(name: HashName, ni_b: bytes, nr_b: bytes, cky_i: bytes, cky_r: bytes) -> bytes:
    """SKEYID for public key encryption: prf(hash(Ni_b | Nr_b), CKY-I | CKY-R) (RFC 2409 section 5)."""
    return prf(name, digest(name, ni_b + nr_b), cky_i + cky_r)


@dataclass(frozen=True, slots=True)
class IKEv1Keys:
    """An ISAKMP SA's keying material (RFC 2409 section 5 and appendix B)."""

    skeyid: bytes
    skeyid_d: bytes  # derives the IPsec SAs' keys (quick mode KEYMAT)
    skeyid_a: bytes  # authenticates the ISAKMP messages (HASH(1)...)
    skeyid_e: bytes  # protects the ISAKMP messages, expanded into Ka
    encryption_key: bytes  # Ka
    iv: bytes  # the IV of the first encrypted message of phase 1 (MM5)


def ikev1_skeyid_dae(
    name: HashName, skeyid: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes
) -> tuple[bytes, bytes, bytes]:
    """SKEYID_d, SKEYID_a and SKEYID_e (RFC 2409 section 5).

    SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0);
    SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1);
    SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2), each digit a single octet.
    """
    skeyid_d = prf(name, skeyid, g_xy + cky_i + cky_r + b"\x00")
    skeyid_a = prf(name, skeyid, skeyid_d + g_xy + cky_i + cky_r + b"\x01")
    skeyid_e = prf(name, skeyid, skeyid_a + g_xy + cky_i + cky_r + b"\x02")
    return skeyid_d, skeyid_a, skeyid_e


def ikev1_encryption_key(name: HashName, skeyid_e: bytes, key_length: int) -> bytes:
    """The encryption key Ka: the first ``key_length`` bytes of SKEYID_e, expanded when too short (RFC 2409 appendix B).

    Ka = K1 | K2 | K3 ..., K1 = prf(SKEYID_e, 0) with 0 a single zero octet, K2 = prf(SKEYID_e, K1), ...
    The expansion happens only when SKEYID_e is shorter than the key (AES-256 with SHA-1 or MD5).
    """
    if len(skeyid_e) >= key_length:
        return skeyid_e[:key_length]
    out = bytearray()
    block = b"\x00"
    while len(out) < key_length:
        block = prf(name, skeyid_e, block)
        out += block
    return bytes(out[:key_length])


def ikev1_phase1_iv(name: HashName, g_xi: bytes, g_xr: bytes, block_size: int = 16) -> bytes:
    """The IV of phase 1's first encrypted message: hash(g^xi | g^xr) cut to the block size (RFC 2409 appendix B).

    ``g_xi`` and ``g_xr`` are the initiator's and the responder's key exchange data (KE payload bodies).
    Each later message of the exchange uses the last ciphertext block of the one before (:func:`ikev1_next_iv`).
    """
    return digest(name, g_xi + g_xr)[:block_size]


def ikev1_phase2_iv(name: HashName, last_phase1_block: bytes, message_id: int, block_size: int = 16) -> bytes:
    """The first IV of a quick mode or informational exchange: hash(last phase 1 CBC block | M-ID) (RFC 2409 app. B).

    ``last_phase1_block`` is the last ciphertext block of phase 1 (of MM6: charon keeps it for every
    later exchange); ``message_id`` is the exchange's 32-bit message ID.
    """
    return digest(name, last_phase1_block + message_id.to_bytes(4, "big"))[:block_size]


def ikev1_next_iv(ciphertext: bytes, block_size: int = 16) -> bytes:
    """The IV of the next message of an exchange: the last ciphertext block of this one (RFC 2409 appendix B)."""
    if len(ciphertext) < block_size:
        raise KeyDerivationError(f"a CBC ciphertext of {len(ciphertext)} bytes has no last block of {block_size}")
    return ciphertext[-block_size:]


def ikev1_keys(
    name: HashName,
    skeyid: bytes,
    g_xy: bytes,
    cky_i: bytes,
    cky_r: bytes,
    g_xi: bytes,
    g_xr: bytes,
    key_length: int,
    block_size: int = 16,
) -> IKEv1Keys:
    """All phase 1 keying material from SKEYID (RFC 2409 section 5 and appendix B); see the functions it composes."""
    skeyid_d, skeyid_a, skeyid_e = ikev1_skeyid_dae(name, skeyid, g_xy, cky_i, cky_r)
    return IKEv1Keys(
        skeyid=skeyid,
        skeyid_d=skeyid_d,
        skeyid_a=skeyid_a,
        skeyid_e=skeyid_e,
        encryption_key=ikev1_encryption_key(name, skeyid_e, key_length),
        iv=ikev1_phase1_iv(name, g_xi, g_xr, block_size),
    )


def ikev1_hash_i(
    name: HashName,
    skeyid: bytes,
    g_xi: bytes,
    g_xr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sai_b: bytes,
    idii_b: bytes,
) -> bytes:
    """HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (RFC 2409 section 5).

    ``sai_b`` is the body of the initiator's SA payload (from the DOI field on, as offered in MM1);
    ``idii_b`` the body of the initiator's ID payload (from the ID type on).
    """
    return prf(name, skeyid, g_xi + g_xr + cky_i + cky_r + sai_b + idii_b)


def ikev1_hash_r(
    name: HashName,
    skeyid: bytes,
    g_xi: bytes,
    g_xr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sai_b: bytes,
    idir_b: bytes,
) -> bytes:
    """HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b) (RFC 2409 section 5).

    The same arguments as :func:`ikev1_hash_i` in the same order; the function swaps what RFC 2409 swaps.
    SAi_b is still the initiator's offer.
    """
    return prf(name, skeyid, g_xr + g_xi + cky_r + cky_i + sai_b + idir_b)


def ikev1_quick_mode_hash1(name: HashName, skeyid_a: bytes, message_id: int, after_hash: bytes) -> bytes:
    """Quick mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ]) (RFC 2409 section 5.5).

    ``after_hash`` is the message's plaintext from the payload after the HASH payload to the end of
    the last payload, generic headers included, padding excluded.
    """
    return prf(name, skeyid_a, message_id.to_bytes(4, "big") + after_hash)


def ikev1_quick_mode_hash2(name: HashName, skeyid_a: bytes, message_id: int, ni_b: bytes, after_hash: bytes) -> bytes:
    """Quick mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ]) (RFC 2409 section 5.5).

    ``ni_b`` is the body of the initiator's nonce payload (from QM1); ``after_hash`` as for HASH(1).
    """
    return prf(name, skeyid_a, message_id.to_bytes(4, "big") + ni_b + after_hash)


def ikev1_quick_mode_hash3(name: HashName, skeyid_a: bytes, message_id: int, ni_b: bytes, nr_b: bytes) -> bytes:
    """Quick mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b), 0 a single octet (RFC 2409 section 5.5)."""
    return prf(name, skeyid_a, b"\x00" + message_id.to_bytes(4, "big") + ni_b + nr_b)


def ikev1_informational_hash(name: HashName, skeyid_a: bytes, message_id: int, after_hash: bytes) -> bytes:
    """An informational exchange's HASH(1) = prf(SKEYID_a, M-ID | N/D) (RFC 2409 section 5.7).

    ``after_hash`` is the Notification or Delete payload that follows the HASH payload, generic header included.
    """
    return prf(name, skeyid_a, message_id.to_bytes(4, "big") + after_hash)


def ikev1_keymat(
    name: HashName,
    skeyid_d: bytes,
    protocol: int,
    spi: bytes,
    ni_b: bytes,
    nr_b: bytes,
    length: int,
    g_qm_xy: bytes = b"",
) -> bytes:
    """Quick mode KEYMAT for one direction of one IPsec SA (RFC 2409 section 5.5).

    KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) and
    Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b); ``g_qm_xy`` is the quick
    mode's own shared secret when it has PFS, empty otherwise. ``protocol`` is the SA's protocol ID
    (3 for ESP), ``spi`` the SPI the receiving side chose (4 bytes for ESP).
    """
    tail = g_qm_xy + bytes([protocol]) + spi + ni_b + nr_b
    out = bytearray()
    block = b""
    while len(out) < length:
        block = prf(name, skeyid_d, block + tail)
        out += block
    return bytes(out[:length])


# ---------------------------------------------------------------------------------------------------- IKEv2

AUTH_KEY_PAD = b"Key Pad for IKEv2"  # RFC 7296 section 2.15, 17 ASCII characters without a terminator


@dataclass(frozen=True, slots=True)
class IKEv2Keys:
    """An IKE SA's keys: {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} (RFC 7296 section 2.14)."""

    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes


def ikev2_skeyseed(name: HashName, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    """SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 section 2.14).

    ``ni`` and ``nr`` are the nonce payload bodies. (For PRFs with fixed key sizes, such as AES-XCBC,
    RFC 7296 takes the first and last halves of the nonces instead; ikesim has no such PRF.)
    """
    return prf(name, ni + nr, g_ir)


def ikev2_skeyseed_rekey(name: HashName, old_sk_d: bytes, g_ir: bytes, ni: bytes, nr: bytes) -> bytes:
    """A rekeyed IKE SA's SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) (RFC 7296 section 2.18)."""
    return prf(name, old_sk_d, g_ir + ni + nr)


def ikev2_keys(
    name: HashName,
    skeyseed: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
    encryption_key_length: int,
    integrity_key_length: int,
) -> IKEv2Keys:
    """{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (RFC 7296 2.14).

    SK_d, SK_pi and SK_pr are as long as the PRF's output; SK_a* as the integrity algorithm's key
    (0 for an AEAD cipher); SK_e* as the encryption key (16 for AES-CBC-128). ``spi_i`` and
    ``spi_r`` are the 8-byte IKE SPIs of the header.
    """
    size = DIGEST_SIZES[name]
    lengths = (
        size,
        integrity_key_length,
        integrity_key_length,
        encryption_key_length,
        encryption_key_length,
        size,
        size,
    )
    stream = prf_plus(name, skeyseed, ni + nr + spi_i + spi_r, sum(lengths))
    parts: list[bytes] = []
    offset = 0
    for n in lengths:
        parts.append(stream[offset : offset + n])
        offset += n
    return IKEv2Keys(*parts)


def ikev2_child_keymat(name: HashName, sk_d: bytes, ni: bytes, nr: bytes, length: int, g_ir: bytes = b"") -> bytes:
    """A Child SA's KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) (RFC 7296 section 2.17).

    The keys are taken in order: initiator-to-responder encryption, integrity, then responder-to-initiator.
    """
    return prf_plus(name, sk_d, g_ir + ni + nr, length)


def ikev2_signed_octets(name: HashName, message: bytes, nonce: bytes, sk_p: bytes, id_body: bytes) -> bytes:
    """The octets an AUTH payload signs or MACs: message | peer's nonce | prf(SK_px, IDx') (RFC 7296 section 2.15).

    For the initiator: its IKE_SA_INIT request as sent, from the IKE header on, the responder's
    nonce body Nr, SK_pi and IDi' (the ID payload body: ID type, three reserved octets, data). For
    the responder: its IKE_SA_INIT response, Ni, SK_pr and IDr'.
    """
    return message + nonce + prf(name, sk_p, id_body)


def ikev2_psk_auth(name: HashName, shared_secret: bytes, signed_octets: bytes) -> bytes:
    """AUTH for a shared key: prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) (RFC 7296 section 2.15).

    The result is the AUTH payload's Authentication Data (method 2, Shared Key Message Integrity Code).
    """
    return prf(name, prf(name, shared_secret, AUTH_KEY_PAD), signed_octets)
