"""The ISAKMP wire format of IKEv1 main mode (RFC 2408, RFC 2409), strict both ways.

The live responder reads datagrams from strangers, so the parser checks every length and
reserved field and raises :class:`WireError` naming the damaged part: ``header``, ``payload``,
``version``, ``message_id`` or ``cookie`` (the keys of
:data:`sim.conditions.CORRUPTION_CONDITIONS`, so the error maps onto the code the SPEC gives).
Nothing here keeps state or reads a clock.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from sim.errors import IkesimError
from sim.protocol.policy import Encryption, Integrity, Proposal

HEADER = struct.Struct("!8s8sBBBBII")  # cookies, next payload, version, exchange, flags, message ID, length
GENERIC = struct.Struct("!BBH")  # next payload, reserved, payload length
MAX_DATAGRAM = 10_000  # strongSwan's default charon.max_packet: a bigger ISAKMP message is refused

# Exchange types and payload types (RFC 2408 section 3.1, 3.4).
IDENTITY_PROTECTION = 2  # main mode
INFORMATIONAL = 5
QUICK_MODE = 32
SA, PROPOSAL, TRANSFORM, KE, ID, HASH, NONCE, NOTIFY, DELETE, VENDOR_ID = 1, 2, 3, 4, 5, 8, 10, 11, 12, 13
NAT_D, NAT_OA, NAT_D_DRAFT, NAT_OA_DRAFT = 20, 21, 130, 131  # RFC 3947 and draft-ietf-ipsec-nat-t-ike-02/03
KNOWN_PAYLOADS = frozenset(range(1, 14)) | {NAT_D, NAT_OA, NAT_D_DRAFT, NAT_OA_DRAFT}  # RFC 2408, NAT-D and NAT-OA
FLAG_ENCRYPTION, FLAG_COMMIT, FLAG_AUTH_ONLY = 0x01, 0x02, 0x04

# Phase 1 transform attributes (RFC 2409 appendix A), as ikesim's policy names them.
ATTR_ENCRYPTION, ATTR_HASH, ATTR_AUTH, ATTR_GROUP, ATTR_KEY_LENGTH = 1, 2, 3, 4, 14
ENCRYPTIONS: dict[int, Encryption] = {1: "des", 5: "3des"}
AES_CBC = 7
AES_KEY_LENGTHS: dict[int, Encryption] = {128: "aes128", 192: "aes192", 256: "aes256"}
HASHES: dict[int, Integrity] = {1: "md5", 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512"}
AUTH_METHODS = {1: "psk", 3: "certificate"}  # pre-shared key, RSA signatures
# MODP groups and the size of their public values in bytes (RFC 2409, RFC 3526).
MODP_SIZES = {1: 96, 2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024}


class WireError(IkesimError, ValueError):
    """A datagram that is not a well-formed ISAKMP message; ``part`` says what is damaged."""

    def __init__(self, part: str, detail: str) -> None:
        super().__init__(detail)
        self.part = part
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Transform:
    """One offered phase 1 transform: its numbers, its attributes, and its bytes as offered."""

    proposal_number: int
    number: int
    attributes: dict[int, int]
    raw: bytes  # the transform payload body, echoed in MM2 when chosen

    def proposal(self) -> Proposal | None:
        """The transform in ikesim's policy terms, or None when it uses an algorithm ikesim does not model."""
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
        return Proposal(encryption, integrity, group)

    def auth(self) -> str:
        """The authentication method, as ikesim's policy names it."""
        method = self.attributes.get(ATTR_AUTH, 0)
        return AUTH_METHODS.get(method, f"method {method}")


@dataclass(frozen=True, slots=True)
class Datagram:
    """A parsed ISAKMP message: its header fields and its payloads as (type, body) pairs."""

    icookie: bytes
    rcookie: bytes
    exchange: int
    flags: int
    message_id: int
    payloads: list[tuple[int, bytes]] = field(default_factory=list)

    def first(self, kind: int) -> bytes | None:
        """The body of the first payload of a type, or None."""
        return next((body for t, body in self.payloads if t == kind), None)

    def kinds(self) -> list[int]:
        """The payload types, in order."""
        return [t for t, _ in self.payloads]


def cookies(data: bytes) -> tuple[bytes, bytes] | None:
    """The two cookies of a datagram long enough to hold a header, else None."""
    if len(data) < HEADER.size:
        return None
    return data[:8], data[8:16]


def parse(data: bytes) -> Datagram:
    """Parse and check one datagram; raises :class:`WireError`."""
    if len(data) < HEADER.size:
        raise WireError("header", f"{len(data)} bytes, shorter than an ISAKMP header ({HEADER.size})")
    if len(data) > MAX_DATAGRAM:
        raise WireError("header", f"{len(data)} bytes, more than {MAX_DATAGRAM}")
    icookie, rcookie, next_payload, version, exchange, flags, message_id, length = HEADER.unpack_from(data)
    if version >> 4 != 1:
        raise WireError("version", f"major version {version >> 4}, not 1 (IKEv1)")
    if length != len(data):
        raise WireError("header", f"length field {length} but the datagram has {len(data)} bytes")
    if flags & ~(FLAG_ENCRYPTION | FLAG_COMMIT | FLAG_AUTH_ONLY):
        raise WireError("header", f"reserved flag bits set (flags 0x{flags:02x})")
    if icookie == bytes(8):
        raise WireError("cookie", "the initiator cookie is zero")
    if flags & FLAG_ENCRYPTION:  # the payloads are ciphertext: only the header can be checked
        return Datagram(icookie, rcookie, exchange, flags, message_id, [(next_payload, data[HEADER.size :])])
    return Datagram(
        icookie,
        rcookie,
        exchange,
        flags,
        message_id,
        _chain(data, HEADER.size, next_payload, KNOWN_PAYLOADS, "payload"),
    )


def transforms(sa_body: bytes) -> list[Transform]:
    """The phase 1 transforms of an SA payload body, in the order offered; raises :class:`WireError`."""
    if len(sa_body) < 8:
        raise WireError("payload", "SA payload shorter than its DOI and situation")
    doi, situation = struct.unpack_from("!II", sa_body)
    if doi != 1 or situation != 1:
        raise WireError("payload", f"SA payload with DOI {doi} and situation {situation}, not IPsec/identity-only")
    offered: list[Transform] = []
    for _, proposal in _chain(sa_body, 8, PROPOSAL, frozenset({PROPOSAL}), "proposal"):
        if len(proposal) < 4:
            raise WireError("payload", "proposal payload shorter than its fixed part")
        number, protocol, spi_size, count = proposal[0], proposal[1], proposal[2], proposal[3]
        if protocol != 1:
            raise WireError("payload", f"proposal {number} is for protocol {protocol}, not ISAKMP")
        items = _chain(proposal, 4 + spi_size, TRANSFORM, frozenset({TRANSFORM}), "transform")
        if len(items) != count:
            raise WireError("payload", f"proposal {number} announces {count} transforms but holds {len(items)}")
        for _, body in items:
            if len(body) < 4 or body[1] != 1:  # transform ID 1 is KEY_IKE
                raise WireError("payload", f"proposal {number} holds a transform that is not KEY_IKE")
            offered.append(Transform(number, body[0], _attributes(body[4:]), body))
    if not offered:
        raise WireError("payload", "SA payload without a proposal")
    return offered


def _chain(
    data: bytes, offset: int, first: int, allowed: frozenset[int], what: str, padded: bool = False
) -> list[tuple[int, bytes]]:
    """The (type, body) pairs of a chain of generic payloads that runs from ``offset`` to the end of ``data``.

    Used for a message's payloads, the proposals of an SA and the transforms of a proposal;
    ``allowed`` are the payload types that may stand in the chain. ``padded``: bytes may follow
    the last payload (the padding of a decrypted body).
    """
    out: list[tuple[int, bytes]] = []
    kind = first
    while kind != 0:
        if kind not in allowed:
            raise WireError("payload", f"{what} type {kind} at byte {offset} is not allowed here")
        if offset + GENERIC.size > len(data):
            raise WireError("payload", f"{what} {kind} at byte {offset} is truncated")
        following, reserved, length = GENERIC.unpack_from(data, offset)
        if reserved:
            raise WireError("payload", f"reserved byte of {what} {kind} at byte {offset} is not zero")
        if length < GENERIC.size or offset + length > len(data):
            raise WireError("payload", f"{what} {kind} at byte {offset} claims {length} bytes")
        out.append((kind, data[offset + GENERIC.size : offset + length]))
        offset += length
        kind = following
    if offset != len(data) and not padded:
        raise WireError("payload", f"{len(data) - offset} bytes after the last {what}")
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


def encode(
    icookie: bytes,
    rcookie: bytes,
    exchange: int,
    payloads: list[tuple[int, bytes]],
    message_id: int = 0,
    flags: int = 0,
) -> bytes:
    """One ISAKMP message from its header fields and its payloads as (type, body) pairs."""
    chained = b"".join(
        GENERIC.pack(payloads[i + 1][0] if i + 1 < len(payloads) else 0, 0, GENERIC.size + len(body)) + body
        for i, (_, body) in enumerate(payloads)
    )
    first = payloads[0][0] if payloads else 0
    length = HEADER.size + len(chained)
    return HEADER.pack(icookie, rcookie, first, 0x10, exchange, flags, message_id, length) + chained


def sa_payload(chosen: Transform) -> bytes:
    """The body of the SA payload that accepts one offered transform, echoed as offered (RFC 2409 5)."""
    transform = GENERIC.pack(0, 0, GENERIC.size + len(chosen.raw)) + chosen.raw
    proposal = bytes((chosen.proposal_number, 1, 0, 1)) + transform
    return struct.pack("!II", 1, 1) + GENERIC.pack(0, 0, GENERIC.size + len(proposal)) + proposal


def notify_payload(notify_type: int, data: bytes = b"") -> bytes:
    """The body of a phase 1 notify payload (DOI IPsec, protocol ISAKMP, no SPI) with its data."""
    return struct.pack("!IBBH", 1, 1, 0, notify_type) + data


def notify_type(body: bytes) -> int:
    """The type of a notify payload body; raises :class:`WireError`."""
    if len(body) < 8:
        raise WireError("payload", "notify payload shorter than its fixed part")
    return int(struct.unpack_from("!H", body, 6)[0])


def payload_chain(first: int, data: bytes) -> list[tuple[int, bytes]]:
    """The (type, body) pairs of a decrypted message body (padding after the last payload ignored).

    Raises :class:`WireError` (``payload``) when a payload header or length does not fit: what a
    wrong key or a damaged ciphertext gives.
    """
    return _chain(data, 0, first, KNOWN_PAYLOADS, "payload", padded=True)


def chained(payloads: list[tuple[int, bytes]]) -> bytes:
    """The payloads with their generic headers, one after the other (without the ISAKMP header)."""
    return b"".join(
        GENERIC.pack(payloads[i + 1][0] if i + 1 < len(payloads) else 0, 0, GENERIC.size + len(body)) + body
        for i, (_, body) in enumerate(payloads)
    )


@dataclass(frozen=True, slots=True)
class EspProposal:
    """One proposal of a quick mode SA payload: its number, SPI and the bytes of its first transform."""

    number: int
    protocol: int
    spi: bytes
    transform: bytes  # the transform payload body, echoed in QM2
    attributes: dict[int, int]


def esp_proposals(sa_body: bytes) -> list[EspProposal]:
    """The proposals of a quick mode SA payload body (RFC 2407 4.4.1), in the order offered."""
    if len(sa_body) < 8:
        raise WireError("payload", "SA payload shorter than its DOI and situation")
    out: list[EspProposal] = []
    for _, proposal in _chain(sa_body, 8, PROPOSAL, frozenset({PROPOSAL}), "proposal"):
        if len(proposal) < 4:
            raise WireError("payload", "proposal payload shorter than its fixed part")
        number, protocol, spi_size = proposal[0], proposal[1], proposal[2]
        spi = proposal[4 : 4 + spi_size]
        items = _chain(proposal, 4 + spi_size, TRANSFORM, frozenset({TRANSFORM}), "transform")
        if not items or len(items[0][1]) < 4:
            raise WireError("payload", f"proposal {number} holds no transform")
        out.append(EspProposal(number, protocol, spi, items[0][1], _attributes(items[0][1][4:])))
    return out


def esp_sa_payload(chosen: EspProposal, spi: bytes) -> bytes:
    """The body of a quick mode SA payload that accepts one offered proposal with our SPI (RFC 2409 5.5)."""
    transform = GENERIC.pack(0, 0, GENERIC.size + len(chosen.transform)) + chosen.transform
    proposal = bytes((chosen.number, chosen.protocol, len(spi), 1)) + spi + transform
    return struct.pack("!II", 1, 1) + GENERIC.pack(0, 0, GENERIC.size + len(proposal)) + proposal


def id_ipv4(address: str) -> bytes:
    """The body of an ID payload of type ID_IPV4_ADDR, protocol and port 0 (RFC 2407 4.6.2)."""
    return struct.pack("!BBH", 1, 0, 0) + ipaddress.IPv4Address(address).packed
