"""Diffie-Hellman for IKE by IANA group number: key exchange data and shared secrets, as on the wire.

Groups: MODP 1, 2 (RFC 2409 section 6), 5, 14-18 (RFC 3526); ECP 19, 20, 21 (RFC 5903); Curve25519,
group 31 (RFC 8031). Private keys are bytes the caller gives or derives from a seed with
:func:`private_key`, so the same seed gives the same key exchange data on every machine. MODP uses
Python's ``pow`` with the RFC primes (the generator is 2 for all of them); the curves use the
``cryptography`` package. Pure functions, no state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sim.errors import IkesimError

GroupKind = Literal["modp", "ecp", "curve25519"]


class DHError(IkesimError, ValueError):
    """A group ikesim does not know, a private key out of range, or a peer's key exchange data that is invalid."""


def _prime(*hex_rows: str) -> int:
    return int("".join(hex_rows), 16)


# The MODP primes, each 2^n - 2^(n-64) - 1 + 2^64 * (floor(2^(n-130) * pi) + k) (RFC 3526 section 1).
MODP_PRIMES: Mapping[int, int] = MappingProxyType(
    {
        1: _prime(  # 768-bit MODP group, RFC 2409 section 6.1
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF"
        ),
        2: _prime(  # 1024-bit MODP group, RFC 2409 section 6.2
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
        ),
        5: _prime(  # 1536-bit MODP group, RFC 3526 section 2
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF"
        ),
        14: _prime(  # 2048-bit MODP group, RFC 3526 section 3
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
            "15728E5A8AACAA68FFFFFFFFFFFFFFFF"
        ),
        15: _prime(  # 3072-bit MODP group, RFC 3526 section 4
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
            "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
            "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
            "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
        ),
        16: _prime(  # 4096-bit MODP group, RFC 3526 section 5
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
            "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
            "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
            "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
            "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
            "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
            "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
        ),
        17: _prime(  # 6144-bit MODP group, RFC 3526 section 6
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
            "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
            "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
            "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
            "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
            "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
            "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BD"
            "F8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
            "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03F482D7CE6E74FEF6"
            "D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
            "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76F550AA3D8A1FBFF0EB19CCB1A313D55C"
            "DA56C9EC2EF29632387FE8D76E3C0468043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF"
        ),
        18: _prime(  # 8192-bit MODP group, RFC 3526 section 7
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
            "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
            "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
            "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
            "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
            "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
            "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
            "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
            "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8DBBBC2DB04DE8EF92E8EFC141FBECAA6"
            "287C59474E6BC05D99B2964FA090C3A2233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
            "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026C1D4DCB2602646DEC9751E763DBA37BD"
            "F8FF9406AD9E530EE5DB382F413001AEB06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
            "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92ECF032EA15D1721D03F482D7CE6E74FEF6"
            "D55E702F46980C82B5A84031900B1C9E59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
            "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76F550AA3D8A1FBFF0EB19CCB1A313D55C"
            "DA56C9EC2EF29632387FE8D76E3C0468043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4"
            "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED2576F6936BA424663AAB639C5AE4F568"
            "3423B4742BF1C978238F16CBE39D652DE3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B"
            "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A66D2A13F83F44F82DDF310EE074AB6A36"
            "4597E899A0255DC164F31CC50846851DF9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92"
            "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA9E3050E2765694DFC81F56E880B96E71"
            "60C980DD98EDD3DFFFFFFFFFFFFFFFFF"
        ),
    }
)
MODP_GENERATOR = 2

# Private exponent sizes in bits for the MODP groups: the upper end of RFC 3526 section 8's "exponent
# size" column (twice the strength estimate); 160 bits for the RFC 2409 groups. A full-length exponent,
# as charon uses by default, costs six times more in pure Python (75 ms against 12 ms for both sides of a
# MODP-2048 exchange) and buys a simulator nothing.
MODP_EXPONENT_BITS: Mapping[int, int] = MappingProxyType(
    {1: 160, 2: 160, 5: 240, 14: 320, 15: 424, 16: 480, 17: 544, 18: 624}
)

_CURVES: Mapping[int, ec.EllipticCurve] = MappingProxyType({19: ec.SECP256R1(), 20: ec.SECP384R1(), 21: ec.SECP521R1()})
_ECP_BITS: Mapping[int, int] = MappingProxyType({19: 256, 20: 384, 21: 521})


@dataclass(frozen=True, slots=True)
class Group:
    """One Diffie-Hellman group: its IANA number, its name, and the sizes of its values in bytes."""

    number: int
    name: str
    kind: GroupKind
    public_length: int  # the Key Exchange Data's length: the prime's length, x || y, or 32
    secret_length: int  # the shared secret's length: the prime's length, x, or 32
    private_length: int  # the length of the private key bytes :func:`private_key` derives


def _modp(number: int) -> Group:
    size = (MODP_PRIMES[number].bit_length() + 7) // 8
    return Group(number, f"modp{size * 8}", "modp", size, size, (MODP_EXPONENT_BITS[number] + 7) // 8)


def _ecp(number: int) -> Group:
    bits = _ECP_BITS[number]
    size = (bits + 7) // 8
    return Group(number, f"ecp{bits}", "ecp", 2 * size, size, size)


GROUPS: Mapping[int, Group] = MappingProxyType(
    {
        **{n: _modp(n) for n in MODP_PRIMES},
        **{n: _ecp(n) for n in _CURVES},
        31: Group(31, "curve25519", "curve25519", 32, 32, 32),
    }
)


def group(number: int) -> Group:
    """The Diffie-Hellman group with this IANA number (RFC 7296 section 3.3.2, Transform Type 4).

    Raises :class:`DHError` for a group ikesim does not implement.
    """
    try:
        return GROUPS[number]
    except KeyError:
        raise DHError(f"Diffie-Hellman group {number} is not implemented (known: {sorted(GROUPS)})") from None


def private_key(number: int, seed: bytes, label: bytes = b"") -> bytes:
    """Private key bytes for group ``number``, derived from ``seed`` alone (HKDF-SHA-256, RFC 5869).

    The same seed and label give the same bytes on every machine; ``label`` separates the keys of
    several parties that share one seed (for example ``b"initiator"`` and ``b"responder"``). The HKDF
    info names the group, so one seed gives unrelated keys in different groups. MODP: a big-endian
    exponent of :data:`MODP_EXPONENT_BITS` bits (RFC 3526 section 8), never below 2. ECP: a big-endian
    scalar below 2^(bits-1), hence below the group order, never 0 (RFC 5903 section 7). Curve25519: 32
    random bytes, which X25519 clamps (RFC 7748 section 5).
    """
    grp = group(number)
    info = b"ikesim dh group %d|" % number + label
    raw = HKDF(algorithm=hashes.SHA256(), length=grp.private_length, salt=None, info=info).derive(seed)
    if grp.kind == "curve25519":
        return raw
    if grp.kind == "modp":
        value = int.from_bytes(raw, "big") % (1 << MODP_EXPONENT_BITS[number])
        return max(value, 2).to_bytes(grp.private_length, "big")
    value = int.from_bytes(raw, "big") % (1 << (_ECP_BITS[number] - 1))
    return max(value, 1).to_bytes(grp.private_length, "big")


def _modp_exponent(number: int, private: bytes) -> int:
    exponent = int.from_bytes(private, "big")
    if not 1 < exponent < MODP_PRIMES[number] - 1:
        raise DHError(f"a private exponent for group {number} must lie between 1 and p - 1 (exclusive)")
    return exponent


def _ecp_key(number: int, private: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        return ec.derive_private_key(int.from_bytes(private, "big"), _CURVES[number])
    except ValueError as exc:
        raise DHError(f"not a private scalar for group {number}: {exc}") from None


def _x25519_key(private: bytes) -> x25519.X25519PrivateKey:
    if len(private) != 32:
        raise DHError(f"a Curve25519 private key is 32 bytes, not {len(private)}")
    return x25519.X25519PrivateKey.from_private_bytes(private)


def public_key(number: int, private: bytes) -> bytes:
    """The Key Exchange Data for ``private`` in group ``number``: the bytes a KE payload carries.

    MODP: g^x mod p, left-padded with zeros to the prime's length (RFC 7296 section 3.4, RFC 2409
    section 5). ECP: x || y, each coordinate left-padded to the field's length, without the 0x04 prefix
    of SEC1 (RFC 5903 section 7). Curve25519: the 32-byte public value (RFC 8031 section 2).
    """
    grp = group(number)
    if grp.kind == "modp":
        value = pow(MODP_GENERATOR, _modp_exponent(number, private), MODP_PRIMES[number])
        return value.to_bytes(grp.public_length, "big")
    if grp.kind == "ecp":
        numbers = _ecp_key(number, private).public_key().public_numbers()
        size = grp.secret_length
        return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")
    return _x25519_key(private).public_key().public_bytes_raw()


def shared_secret(number: int, private: bytes, peer_public: bytes) -> bytes:
    """The shared secret g^ir (IKEv2) or g^xy (IKEv1) from our private key and the peer's KE data.

    MODP: g^xy mod p left-padded to the prime's length (RFC 7296 section 2.14: "the shared secret
    from the ephemeral Diffie-Hellman exchange"; RFC 2409 section 5); the peer's value must have
    the prime's length and lie in 1 < y < p - 1 (RFC 6989 section 2.1). ECP: the x coordinate of
    the shared point (RFC 5903 section 7); the peer's point must be on the curve. Curve25519: the
    X25519 output, refused when all zero (RFC 8031 sections 2 and 2.3). Raises :class:`DHError`.
    """
    grp = group(number)
    if len(peer_public) != grp.public_length:
        raise DHError(f"group {number} key exchange data is {grp.public_length} bytes, not {len(peer_public)}")
    if grp.kind == "modp":
        prime = MODP_PRIMES[number]
        peer = int.from_bytes(peer_public, "big")
        if not 1 < peer < prime - 1:
            raise DHError(f"group {number} public value out of range (RFC 6989 section 2.1)")
        return pow(peer, _modp_exponent(number, private), prime).to_bytes(grp.secret_length, "big")
    if grp.kind == "ecp":
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[number], b"\x04" + peer_public)
        except ValueError as exc:
            raise DHError(f"group {number} public value is not a point on the curve: {exc}") from None
        return _ecp_key(number, private).exchange(ec.ECDH(), point)
    try:
        peer_key = x25519.X25519PublicKey.from_public_bytes(peer_public)
        return _x25519_key(private).exchange(peer_key)
    except ValueError as exc:  # cryptography refuses an all-zero result (a small-order point)
        raise DHError(f"Curve25519 exchange failed (RFC 8031 section 2.3): {exc}") from None


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key and its Key Exchange Data in one group."""

    group: int
    private: bytes
    public: bytes

    def shared_secret(self, peer_public: bytes) -> bytes:
        """The shared secret with the peer's Key Exchange Data (see :func:`shared_secret`)."""
        return shared_secret(self.group, self.private, peer_public)


def key_pair(number: int, seed: bytes, label: bytes = b"") -> KeyPair:
    """The deterministic key pair of :func:`private_key` and :func:`public_key` (RFC 7296 section 1.2, KE)."""
    private = private_key(number, seed, label)
    return KeyPair(number, private, public_key(number, private))


class KeyExchange:
    """The Diffie-Hellman of one SA between two sides, from one seed: each value computed once.

    Each side's private key comes from the seed and its name (:func:`private_key`), so both sides'
    key exchange data, and the secret they share, follow from the seed alone: what a capture of
    IKEv1, AuthIP and IKEv2 alike needs.
    """

    __slots__ = ("_pairs", "_shared", "seed")

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self._pairs: dict[tuple[str, int], KeyPair] = {}
        self._shared: dict[tuple[int, str, str], bytes] = {}

    def pair(self, group: int, side: str) -> KeyPair:
        """``side``'s key pair in ``group`` (:func:`key_pair`, labelled with its name)."""
        key = (side, group)
        if key not in self._pairs:
            self._pairs[key] = key_pair(group, self.seed, side.encode())
        return self._pairs[key]

    def public(self, group: int, side: str) -> bytes:
        """The key exchange data ``side`` sends in ``group``."""
        return self.pair(group, side).public

    def shared(self, group: int, initiator: str, responder: str) -> bytes:
        """The secret both sides derive in ``group`` (g^xy, g^ir): the initiator's key with the responder's data."""
        key = (group, initiator, responder)
        if key not in self._shared:
            self._shared[key] = self.pair(group, initiator).shared_secret(self.public(group, responder))
        return self._shared[key]
