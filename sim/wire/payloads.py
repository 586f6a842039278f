"""ISAKMP (RFC 2408, RFC 2409) and IKEv2 (RFC 7296) payloads as bytes: headers, SA, KE, ID, notify, ...

Each payload function returns ``(type, body)``: the payload's type number and its body, without
the generic payload header; :func:`chain` links a list of them, writing each generic header with
the type of the payload that follows. Pure functions, no state.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence

Payload = tuple[int, bytes]  # (payload type, body without the generic header)

# ISAKMP payload types (RFC 2408 section 3.1).
V1_SA, V1_PROPOSAL, V1_TRANSFORM, V1_KE, V1_ID, V1_CERT, V1_CR, V1_HASH, V1_SIG, V1_NONCE, V1_N, V1_D, V1_VID = range(
    1, 14
)
V1_NAT_D = 20  # RFC 3947 section 3.2
ID_DER_ASN1_DN = 9  # identification type, the same number in IKEv1 (RFC 2407 4.6.2.1) and IKEv2 (RFC 7296 3.5)
CERT_X509_SIGNATURE = 4  # certificate encoding "X.509 Certificate - Signature" (RFC 2408 3.9, RFC 7296 3.6)
# IKEv2 payload types (RFC 7296 section 3.2).
V2_SA, V2_KE, V2_IDI, V2_IDR, V2_CERT, V2_CERTREQ, V2_AUTH, V2_NONCE, V2_N, V2_D = range(33, 43)
V2_V, V2_TSI, V2_TSR, V2_SK, V2_CP = 43, 44, 45, 46, 47

_GENERIC = struct.Struct("!BBH")


def chain(payloads: Sequence[Payload]) -> tuple[int, bytes]:
    """The payloads one after the other with their generic headers: (type of the first, bytes)."""
    out = bytearray()
    for i, (_, body) in enumerate(payloads):
        following = payloads[i + 1][0] if i + 1 < len(payloads) else 0
        out += _GENERIC.pack(following, 0, _GENERIC.size + len(body)) + body
    return (payloads[0][0] if payloads else 0), bytes(out)


def header(
    spi_i: bytes, spi_r: bytes, next_payload: int, version: int, exchange: int, flags: int, message_id: int, length: int
) -> bytes:
    """The 28-byte ISAKMP / IKEv2 header (RFC 2408 section 3.1, RFC 7296 section 3.1)."""
    return spi_i + spi_r + struct.pack("!BBBBII", next_payload, version, exchange, flags, message_id, length)


def message(
    spi_i: bytes, spi_r: bytes, version: int, exchange: int, flags: int, message_id: int, payloads: Sequence[Payload]
) -> bytes:
    """A whole unencrypted message: header and payloads."""
    first, body = chain(payloads)
    return header(spi_i, spi_r, first, version, exchange, flags, message_id, 28 + len(body)) + body


def v1_message(
    icookie: bytes, rcookie: bytes, exchange: int, payloads: Sequence[Payload], message_id: int = 0, flags: int = 0
) -> bytes:
    """A whole unencrypted ISAKMP (IKEv1) message: version 1.0, header and payloads."""
    return message(icookie, rcookie, 0x10, exchange, flags, message_id, payloads)


# --- attributes -------------------------------------------------------------------------------


def attribute(kind: int, value: int | bytes) -> bytes:
    """A data attribute: TV (basic, AF set) for a number below 2^16, TLV otherwise (RFC 2408 section 3.3)."""
    if isinstance(value, int) and value < 0x10000:
        return struct.pack("!HH", 0x8000 | kind, value)
    data = value if isinstance(value, bytes) else value.to_bytes(4, "big")
    return struct.pack("!HH", kind, len(data)) + data


# --- ISAKMP (IKEv1) ---------------------------------------------------------------------------

DOI_IPSEC = 1
SIT_IDENTITY_ONLY = 1


def v1_transform(number: int, transform_id: int, attributes: bytes) -> bytes:
    """A transform body: number, ID, two reserved bytes, attributes (RFC 2408 section 3.6)."""
    return struct.pack("!BBH", number, transform_id, 0) + attributes


def v1_proposal(number: int, protocol: int, spi: bytes, transforms: Sequence[bytes]) -> bytes:
    """A proposal body with its transforms as payloads (RFC 2408 section 3.5)."""
    _, body = chain([(V1_TRANSFORM, t) for t in transforms])
    return struct.pack("!BBBB", number, protocol, len(spi), len(transforms)) + spi + body


def v1_sa(proposals: Sequence[bytes]) -> Payload:
    """An SA payload: DOI IPsec, situation identity only, the proposals (RFC 2408 3.4, RFC 2407 4.2)."""
    _, body = chain([(V1_PROPOSAL, p) for p in proposals])
    return V1_SA, struct.pack("!II", DOI_IPSEC, SIT_IDENTITY_ONLY) + body


def v1_id_ipv4(address: str, protocol: int = 0, port: int = 0) -> Payload:
    """An identification payload of type ID_IPV4_ADDR (RFC 2407 section 4.6.2)."""
    return V1_ID, struct.pack("!BBH", 1, protocol, port) + ipaddress.IPv4Address(address).packed


def v1_notify(number: int, protocol: int = 1, spi: bytes = b"", data: bytes = b"") -> Payload:
    """A notification payload (RFC 2408 section 3.14)."""
    return V1_N, struct.pack("!IBBH", DOI_IPSEC, protocol, len(spi), number) + spi + data


def v1_vendor_id(data: bytes) -> Payload:
    """A vendor ID payload (RFC 2408 section 3.16)."""
    return V1_VID, data


def v1_nat_d(digest: bytes) -> Payload:
    """A NAT-D payload: the hash of cookies, address and port (RFC 3947 section 3.2)."""
    return V1_NAT_D, digest


def v1_delete(protocol: int, spis: Sequence[bytes]) -> Payload:
    """A delete payload (RFC 2408 section 3.15)."""
    size = len(spis[0]) if spis else 0
    return V1_D, struct.pack("!IBBH", DOI_IPSEC, protocol, size, len(spis)) + b"".join(spis)


# --- IKEv2 ------------------------------------------------------------------------------------


def v2_transform(kind: int, transform_id: int, key_length: int | None = None) -> bytes:
    """A transform body: type, reserved, ID, and the key-length attribute when given (RFC 7296 3.3.2, 3.3.5)."""
    attributes = attribute(14, key_length) if key_length is not None else b""
    return struct.pack("!BBH", kind, 0, transform_id) + attributes


def v2_proposal(number: int, protocol: int, spi: bytes, transforms: Sequence[bytes]) -> bytes:
    """A proposal substructure's body; its transforms carry Last Substruc 3 or 0 (RFC 7296 section 3.3.1)."""
    _, body = chain([(3, t) for t in transforms])
    return struct.pack("!BBBB", number, protocol, len(spi), len(transforms)) + spi + body


def v2_sa(proposals: Sequence[bytes]) -> Payload:
    """An SA payload: the proposals, each with Last Substruc 2 or 0 (RFC 7296 section 3.3)."""
    _, body = chain([(2, p) for p in proposals])
    return V2_SA, body


def v2_ke(group: int, data: bytes) -> Payload:
    """A key exchange payload (RFC 7296 section 3.4)."""
    return V2_KE, struct.pack("!HH", group, 0) + data


def v2_id_ipv4(kind: int, address: str) -> Payload:
    """IDi or IDr of type ID_IPV4_ADDR (RFC 7296 section 3.5)."""
    return kind, v2_id_body(address)


def v2_id_body(address: str) -> bytes:
    """The body of an ID_IPV4_ADDR identification payload: IDi' / IDr' of the AUTH computation."""
    return struct.pack("!BBH", 1, 0, 0) + ipaddress.IPv4Address(address).packed


def v2_auth(method: int, data: bytes) -> Payload:
    """An authentication payload (RFC 7296 section 3.8)."""
    return V2_AUTH, struct.pack("!BBH", method, 0, 0) + data


def v2_notify(number: int, protocol: int = 0, spi: bytes = b"", data: bytes = b"") -> Payload:
    """A notify payload (RFC 7296 section 3.10)."""
    return V2_N, struct.pack("!BBH", protocol, len(spi), number) + spi + data


def v2_vendor_id(data: bytes) -> Payload:
    """A vendor ID payload (RFC 7296 section 3.12)."""
    return V2_V, data


def v2_delete(protocol: int, spis: Sequence[bytes]) -> Payload:
    """A delete payload (RFC 7296 section 3.11): the IKE SA (protocol 1, no SPI) or child SAs."""
    size = len(spis[0]) if spis else 0
    return V2_D, struct.pack("!BBH", protocol, size, len(spis)) + b"".join(spis)


def v2_ts(kind: int, start: str = "0.0.0.0", end: str = "255.255.255.255") -> Payload:
    """TSi or TSr with one TS_IPV4_ADDR_RANGE selector, any protocol and port (RFC 7296 section 3.13)."""
    selector = struct.pack("!BBHHH", 7, 0, 16, 0, 0xFFFF)
    selector += ipaddress.IPv4Address(start).packed + ipaddress.IPv4Address(end).packed
    return kind, struct.pack("!BBH", 1, 0, 0) + selector


def v2_cp(cfg_type: int, attributes: Sequence[tuple[int, bytes]]) -> Payload:
    """A configuration payload: CFG_REQUEST (1) or CFG_REPLY (2) with its attributes (RFC 7296 section 3.15)."""
    body = b"".join(struct.pack("!HH", kind & 0x7FFF, len(value)) + value for kind, value in attributes)
    return V2_CP, struct.pack("!BBH", cfg_type, 0, 0) + body


# --- AuthIP ([MS-AIPS]) -------------------------------------------------------------------------

# AuthIP's private payload types ([MS-AIPS] 2.2.3); it reuses SA, KE, ID, HASH, NONCE, N and VID.
AIP_GSS_API, AIP_CRYPTO, AIP_GSS_ID, AIP_AUTH = 0x81, 0x85, 0x86, 0x87


def aip_notify(protocol: int, flags: int, number: int, data: bytes = b"") -> Payload:
    """An AuthIP notify: DOI, Protocol-ID (1 MM/EM, 2 QM), Flags for the SPI size, no SPI ([MS-AIPS] 2.2.3.5)."""
    return V1_N, struct.pack("!IBBH", DOI_IPSEC, protocol, flags, number) + data


def aip_auth(methods: Sequence[int]) -> Payload:
    """An Auth payload: each authentication method with its (unused, zero) flags ([MS-AIPS] 2.2.3.4)."""
    return AIP_AUTH, b"".join(struct.pack("!HH", method, 0) for method in methods)


def aip_gss_api(status: int, flags: int, token: bytes) -> Payload:
    """A GSS-API payload: the GSS status, the flags, then the token ([MS-AIPS] 2.2.3.1)."""
    return AIP_GSS_API, struct.pack("!IB", status, flags) + token


def aip_gss_id(principal: str) -> Payload:
    """A GSS_ID payload: a security principal name in UTF-16LE, no terminator ([MS-AIPS] 2.2.3.3)."""
    return AIP_GSS_ID, principal.encode("utf-16-le")
