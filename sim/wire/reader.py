"""Reading ISAKMP (IKEv1, RFC 2408/2409) and IKEv2 (RFC 7296) messages, strictly: the other half of the wire layer.

:mod:`sim.wire.payloads` writes messages; this module reads them, for the live responder (which
reads datagrams from strangers) and for the tests that read the captures back. Every length and
reserved field is checked, and a message that does not fit raises :class:`WireError` naming the
damaged part: ``header``, ``payload``, ``version``, ``message_id`` or ``cookie`` (the keys of
:data:`sim.conditions.CORRUPTION_CONDITIONS`, so the error maps onto the code the SPEC gives).
One payload-chain walker serves both versions, the proposals of an SA and its transforms.
Nothing here keeps state or reads a clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sim.errors import IkesimError
from sim.wire import payloads as p

HEADER = struct.Struct("!8s8sBBBBII")  # SPIs (cookies), next payload, version, exchange, flags, message ID, length
GENERIC = struct.Struct("!BBH")  # next payload, reserved (IKEv2: critical bit), payload length
MAX_DATAGRAM = 10_000  # strongSwan's default charon.max_packet: a bigger message is refused

# ISAKMP exchange types (RFC 2408 3.1) and flags.
IDENTITY_PROTECTION, INFORMATIONAL, QUICK_MODE = 2, 5, 32
FLAG_ENCRYPTION, FLAG_COMMIT, FLAG_AUTH_ONLY = 0x01, 0x02, 0x04
NAT_D_DRAFT, NAT_OA, NAT_OA_DRAFT = 130, 21, 131  # RFC 3947 and draft-ietf-ipsec-nat-t-ike-02/03
V1_PAYLOADS = frozenset(range(1, 14)) | {p.V1_NAT_D, NAT_OA, NAT_D_DRAFT, NAT_OA_DRAFT}
# IKEv2 flags (RFC 7296 3.1).
FLAG_INITIATOR, FLAG_VERSION, FLAG_RESPONSE = 0x08, 0x10, 0x20

# Phase 1 transform attributes (RFC 2409 appendix A), as ikesim's policy names them.
ATTR_ENCRYPTION, ATTR_HASH, ATTR_AUTH, ATTR_GROUP, ATTR_KEY_LENGTH = 1, 2, 3, 4, 14
ENCRYPTIONS = {1: "des", 5: "3des"}
AES_CBC = 7
AES_KEY_LENGTHS = {128: "aes128", 192: "aes192", 256: "aes256"}
HASHES = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}
AUTH_METHODS = {1: "psk", 3: "certificate"}  # pre-shared key, RSA signatures


class WireError(IkesimError, ValueError):
    """A datagram that is not a well-formed message; ``part`` says what is damaged."""

    def __init__(self, part: str, detail: str) -> None:
        super().__init__(detail)
        self.part = part
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Datagram:
    """A read message: its header fields and its payloads as (type, body) pairs.

    IKEv1 calls the SPIs cookies. An encrypted IKEv1 message has one pair: the first payload's
    type and the ciphertext; an IKEv2 message's SK payload is its body whole.
    """

    spi_i: bytes
    spi_r: bytes
    exchange: int
    flags: int
    message_id: int
    payloads: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def icookie(self) -> bytes:
        """The initiator cookie (IKEv1's name for the initiator SPI)."""
        return self.spi_i

    @property
    def rcookie(self) -> bytes:
        """The responder cookie (IKEv1's name for the responder SPI)."""
        return self.spi_r

    def first(self, kind: int) -> bytes | None:
        """The body of the first payload of a type, or None."""
        return next((body for t, body in self.payloads if t == kind), None)

    def kinds(self) -> list[int]:
        """The payload types, in order."""
        return [t for t, _ in self.payloads]

    def notifies(self) -> list[tuple[int, bytes]]:
        """(type, data) of each IKEv2 notify payload."""
        out = []
        for kind, body in self.payloads:
            if kind == p.V2_N and len(body) >= 4:
                out.append((int.from_bytes(body[2:4], "big"), body[4 + body[1] :]))
        return out


def chain(
    data: bytes,
    offset: int,
    first: int,
    what: str = "payload",
    *,
    allowed: frozenset[int] | None = None,
    reserved: int = 0xFF,
    until: int | None = None,
    padded: bool = False,
) -> list[tuple[int, bytes]]:
    """The (type, body) pairs of a chain of generic payloads from ``offset`` to the end of ``data``.

    Used for a message's payloads, the proposals of an SA and the transforms of a proposal, in
    both versions. ``allowed``: the types that may stand in the chain (None: any); ``reserved``:
    the bits of the second byte that must be zero (IKEv2 keeps the critical bit, 0x7F);
    ``until``: a type that ends the chain (IKEv2's SK, whose body runs to the end); ``padded``:
    bytes may follow the last payload (the padding of a decrypted body).
    """
    out: list[tuple[int, bytes]] = []
    kind = first
    while kind != 0:
        if allowed is not None and kind not in allowed:
            raise WireError("payload", f"{what} type {kind} at byte {offset} is not allowed here")
        if offset + GENERIC.size > len(data):
            raise WireError("payload", f"{what} {kind} at byte {offset} is truncated")
        following, flags, length = GENERIC.unpack_from(data, offset)
        if flags & reserved:
            raise WireError("payload", f"reserved bits of {what} {kind} at byte {offset} are set")
        if length < GENERIC.size or offset + length > len(data):
            raise WireError("payload", f"{what} {kind} at byte {offset} claims {length} bytes")
        out.append((kind, data[offset + GENERIC.size : offset + length]))
        offset += length
        if kind == until:
            break
        kind = following
    if offset != len(data) and not padded:
        raise WireError("payload", f"{len(data) - offset} bytes after the last {what}")
    return out


def _header(data: bytes, major: int, flags_allowed: int, name: str) -> tuple[bytes, bytes, int, int, int, int]:
    if len(data) < HEADER.size:
        raise WireError("header", f"{len(data)} bytes, shorter than an {name} header ({HEADER.size})")
    if len(data) > MAX_DATAGRAM:
        raise WireError("header", f"{len(data)} bytes, more than {MAX_DATAGRAM}")
    spi_i, spi_r, first, version, exchange, flags, message_id, length = HEADER.unpack_from(data)
    if version >> 4 != major:
        raise WireError("version", f"major version {version >> 4}, not {major} ({'IKEv1' if major == 1 else 'IKEv2'})")
    if length != len(data):
        raise WireError("header", f"length field {length} but the datagram has {len(data)} bytes")
    if flags & ~flags_allowed:
        raise WireError("header", f"reserved flag bits set (flags 0x{flags:02x})")
    if spi_i == bytes(8):
        raise WireError("cookie", f"the initiator {'cookie' if major == 1 else 'SPI'} is zero")
    return spi_i, spi_r, first, exchange, flags, message_id


def read_isakmp(data: bytes) -> Datagram:
    """Read and check one IKEv1 datagram; raises :class:`WireError`."""
    spi_i, spi_r, first, exchange, flags, message_id = _header(
        data, 1, FLAG_ENCRYPTION | FLAG_COMMIT | FLAG_AUTH_ONLY, "ISAKMP"
    )
    if flags & FLAG_ENCRYPTION:  # the payloads are ciphertext: only the header can be checked
        return Datagram(spi_i, spi_r, exchange, flags, message_id, [(first, data[HEADER.size :])])
    payloads = chain(data, HEADER.size, first, allowed=V1_PAYLOADS)
    return Datagram(spi_i, spi_r, exchange, flags, message_id, payloads)


def read_ikev2(data: bytes) -> Datagram:
    """Read and check an IKEv2 message's header and outer payloads; raises :class:`WireError`."""
    spi_i, spi_r, first, exchange, flags, message_id = _header(
        data, 2, FLAG_INITIATOR | FLAG_RESPONSE | FLAG_VERSION, "IKE"
    )
    payloads = chain(data, HEADER.size, first, reserved=0x7F, until=p.V2_SK)
    return Datagram(spi_i, spi_r, exchange, flags, message_id, payloads)


def cookies(data: bytes) -> tuple[bytes, bytes] | None:
    """The two cookies (SPIs) of a datagram long enough to hold a header, else None."""
    if len(data) < HEADER.size:
        return None
    return data[:8], data[8:16]


def decrypted_payloads(first: int, plain: bytes) -> list[tuple[int, bytes]]:
    """The (type, body) pairs of a decrypted IKEv1 body (padding after the last payload ignored).

    Raises :class:`WireError` (``payload``) when a payload header or length does not fit: what a
    wrong key or a damaged ciphertext gives.
    """
    return chain(plain, 0, first, allowed=V1_PAYLOADS, padded=True)


def notify_type(body: bytes) -> int:
    """The type of an IKEv1 notify payload body; raises :class:`WireError`."""
    if len(body) < 8:
        raise WireError("payload", "notify payload shorter than its fixed part")
    return int(struct.unpack_from("!H", body, 6)[0])


# --- IKEv1 SA payloads ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transform:
    """One offered phase 1 transform: its numbers, its attributes, and its bytes as offered."""

    proposal_number: int
    number: int
    attributes: dict[int, int]
    raw: bytes  # the transform payload body, echoed in MM2 when chosen

    def suite(self) -> tuple[str, str, int] | None:
        """(encryption, integrity, group) as ikesim's policy names them, or None for an algorithm it does not model."""
        attrs = self.attributes
        cipher = attrs.get(ATTR_ENCRYPTION)
        if cipher == AES_CBC:
            encryption = AES_KEY_LENGTHS.get(attrs.get(ATTR_KEY_LENGTH, 0))
        else:
            encryption = ENCRYPTIONS.get(cipher or 0)
        integrity = HASHES.get(attrs.get(ATTR_HASH, 0))
        group = attrs.get(ATTR_GROUP)
        if encryption is None or integrity is None or group is None:
            return None
        return encryption, integrity, group

    def auth(self) -> str:
        """The authentication method, as ikesim's policy names it."""
        method = self.attributes.get(ATTR_AUTH, 0)
        return AUTH_METHODS.get(method, f"method {method}")


@dataclass(frozen=True, slots=True)
class EspProposal:
    """One proposal of a quick mode SA payload: its number, SPI and the bytes of its first transform."""

    number: int
    protocol: int
    spi: bytes
    transform: bytes  # the transform payload body, echoed in QM2
    attributes: dict[int, int]


def _sa_proposals(sa_body: bytes) -> list[tuple[int, int, bytes, int, list[tuple[int, bytes]]]]:
    """(number, protocol, SPI, announced transform count, transforms) of each proposal of an IKEv1 SA body."""
    if len(sa_body) < 8:
        raise WireError("payload", "SA payload shorter than its DOI and situation")
    out = []
    for _, proposal in chain(sa_body, 8, p.V1_PROPOSAL, "proposal", allowed=frozenset({p.V1_PROPOSAL})):
        if len(proposal) < 4:
            raise WireError("payload", "proposal payload shorter than its fixed part")
        number, protocol, spi_size, count = proposal[0], proposal[1], proposal[2], proposal[3]
        items = chain(proposal, 4 + spi_size, p.V1_TRANSFORM, "transform", allowed=frozenset({p.V1_TRANSFORM}))
        out.append((number, protocol, proposal[4 : 4 + spi_size], count, items))
    return out


def transforms(sa_body: bytes) -> list[Transform]:
    """The phase 1 transforms of an SA payload body, in the order offered; raises :class:`WireError`."""
    if len(sa_body) < 8:
        raise WireError("payload", "SA payload shorter than its DOI and situation")
    doi, situation = struct.unpack_from("!II", sa_body)
    if doi != 1 or situation != 1:
        raise WireError("payload", f"SA payload with DOI {doi} and situation {situation}, not IPsec/identity-only")
    proposals = _sa_proposals(sa_body)
    offered: list[Transform] = []
    for number, protocol, _, count, items in proposals:
        if protocol != 1:
            raise WireError("payload", f"proposal {number} is for protocol {protocol}, not ISAKMP")
        if len(items) != count:
            raise WireError("payload", f"proposal {number} announces {count} transforms but holds {len(items)}")
        for _, body in items:
            if len(body) < 4 or body[1] != 1:  # transform ID 1 is KEY_IKE
                raise WireError("payload", f"proposal {number} holds a transform that is not KEY_IKE")
            offered.append(Transform(number, body[0], _attributes(body[4:]), body))
    if not offered:
        raise WireError("payload", "SA payload without a proposal")
    return offered


def esp_proposals(sa_body: bytes) -> list[EspProposal]:
    """The proposals of a quick mode SA payload body (RFC 2407 4.4.1), in the order offered."""
    out: list[EspProposal] = []
    for number, protocol, spi, _, items in _sa_proposals(sa_body):
        if not items or len(items[0][1]) < 4:
            raise WireError("payload", f"proposal {number} holds no transform")
        out.append(EspProposal(number, protocol, spi, items[0][1], _attributes(items[0][1][4:])))
    return out


def _attributes(data: bytes) -> dict[int, int]:
    attrs: dict[int, int] = {}
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise WireError("payload", "a transform attribute is truncated")
        kind, value = struct.unpack_from("!HH", data, offset)
        offset += 4
        if kind & 0x8000:  # TV: the value is the two bytes
            attrs[kind & 0x7FFF] = value
            continue
        if offset + value > len(data) or value > 8:
            raise WireError("payload", f"transform attribute {kind} claims {value} bytes")
        attrs[kind] = int.from_bytes(data[offset : offset + value], "big")
        offset += value
    return attrs


# --- IKEv2 SA payloads ------------------------------------------------------------------------

V2Transform = tuple[int, int, int | None]  # (type, ID, key length)


def v2_proposals(sa_body: bytes, what: str) -> list[tuple[int, int, bytes, list[V2Transform]]]:
    """(number, protocol, SPI, transforms) of each proposal of an IKEv2 SA payload body, in the order offered."""
    out = []
    for _, proposal in chain(sa_body, 0, 2, f"{what} proposal", allowed=frozenset({2}), reserved=0xFF):
        if len(proposal) < 4:
            raise WireError("payload", f"{what} proposal shorter than its fixed part")
        number, protocol, spi_size, count = proposal[0], proposal[1], proposal[2], proposal[3]
        items = chain(proposal, 4 + spi_size, 3, f"{what} transform", allowed=frozenset({3}))
        if len(items) != count:
            raise WireError("payload", f"{what} proposal {number} announces {count} transforms but holds {len(items)}")
        found: list[V2Transform] = []
        for _, body in items:
            if len(body) < 4:
                raise WireError("payload", f"{what} proposal {number}: a transform is truncated")
            attrs = body[4:]
            key_length = int.from_bytes(attrs[2:4], "big") if attrs[:2] == b"\x80\x0e" else None
            found.append((body[0], int.from_bytes(body[2:4], "big"), key_length))
        out.append((number, protocol, proposal[4 : 4 + spi_size], found))
    if not out:
        raise WireError("payload", f"{what} SA payload without a proposal")
    return out
