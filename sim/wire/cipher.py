"""Encryption and integrity of IKE messages: IKEv1's CBC-encrypted bodies and IKEv2's Encrypted payload.

AES-CBC (RFC 3602) and the truncated HMAC integrity checksums (RFC 2403, RFC 2404, RFC 4868) come
from the ``cryptography`` package. IKEv1 (RFC 2409 appendix B) encrypts everything after the ISAKMP
header and chains IVs across the messages of an exchange; IKEv2 (RFC 7296 section 3.14) carries an
explicit IV, its own padding and an integrity checksum over the whole message. Opening a damaged
message raises :class:`IntegrityError` or :class:`PaddingError`. Pure functions, no state.
"""

from __future__ import annotations

import hmac as _constant_time
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sim.errors import IkesimError
from sim.wire.keys import HashName, prf

AES_BLOCK = 16
IKE_HEADER_LENGTH = 28
ENCRYPTED_PAYLOAD = 46  # IKEv2 payload type SK (RFC 7296 section 3.2)
IKEV1_FLAG_ENCRYPTION = 0x01  # RFC 2408 section 3.1
_GENERIC = struct.Struct("!BBH")  # next payload, critical bit and reserved, payload length

Padding = Literal["zero", "charon", "counted"]


class WireCryptoError(IkesimError, ValueError):
    """A message the crypto layer cannot seal or open: wrong lengths, keys or framing."""


class IntegrityError(WireCryptoError):
    """The integrity checksum of an IKEv2 Encrypted payload does not match (RFC 7296 section 3.14)."""


class PaddingError(WireCryptoError):
    """Ciphertext that is not whole blocks, or padding that does not fit the plaintext."""


@dataclass(frozen=True, slots=True)
class Integrity:
    """An integrity algorithm: the HMAC's hash, its key length and the length of the truncated checksum."""

    number: int
    name: str
    hash: HashName
    key_length: int
    icv_length: int


# IKEv2 Transform Type 3 (RFC 7296 section 3.3.2): RFC 2403, RFC 2404 and RFC 4868 section 2.
IKEV2_INTEGRITY: Mapping[int, Integrity] = MappingProxyType(
    {
        1: Integrity(1, "HMAC_MD5_96", "md5", 16, 12),
        2: Integrity(2, "HMAC_SHA1_96", "sha1", 20, 12),
        12: Integrity(12, "HMAC_SHA2_256_128", "sha256", 32, 16),
        13: Integrity(13, "HMAC_SHA2_384_192", "sha384", 48, 24),
        14: Integrity(14, "HMAC_SHA2_512_256", "sha512", 64, 32),
    }
)


def integrity(number: int) -> Integrity:
    """The IKEv2 integrity algorithm with this Transform ID (RFC 7296 section 3.3.2; RFC 4868 section 2)."""
    try:
        return IKEV2_INTEGRITY[number]
    except KeyError:
        raise WireCryptoError(f"IKEv2 integrity algorithm {number} is not implemented") from None


def checksum(number: int, key: bytes, data: bytes) -> bytes:
    """The truncated HMAC of ``data``: the first 96, 128, 192 or 256 bits (RFC 2404 section 2; RFC 4868 section 2.3)."""
    alg = integrity(number)
    if len(key) != alg.key_length:
        raise WireCryptoError(f"{alg.name} takes a {alg.key_length}-byte key, not {len(key)}")
    return prf(alg.hash, key, data)[: alg.icv_length]


def _aes(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    if len(key) not in (16, 24, 32):
        raise WireCryptoError(f"an AES key is 16, 24 or 32 bytes, not {len(key)}")
    if len(iv) != AES_BLOCK:
        raise WireCryptoError(f"an AES-CBC IV is {AES_BLOCK} bytes, not {len(iv)}")
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-CBC of whole blocks, without padding of its own (RFC 3602 section 2.4: the protocol pads)."""
    if len(plaintext) % AES_BLOCK:
        raise PaddingError(f"AES-CBC encrypts whole {AES_BLOCK}-byte blocks, not {len(plaintext)} bytes")
    enc = _aes(key, iv).encryptor()
    return enc.update(plaintext) + enc.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The inverse of :func:`aes_cbc_encrypt` (RFC 3602); raises :class:`PaddingError` for a partial block."""
    if len(ciphertext) % AES_BLOCK:
        raise PaddingError(f"AES-CBC ciphertext is whole {AES_BLOCK}-byte blocks, not {len(ciphertext)} bytes")
    dec = _aes(key, iv).decryptor()
    return dec.update(ciphertext) + dec.finalize()


# ---------------------------------------------------------------------------------------------------- IKEv1


def ikev1_pad(body: bytes, style: Padding = "zero", block_size: int = AES_BLOCK) -> bytes:
    """``body`` padded for IKEv1 encryption, in one of three styles.

    ``"zero"``: RFC 2409 appendix B, "padded up to the nearest block size using bytes containing
    0x00", nothing when the body fills whole blocks (libreswan does so). ``"charon"``: zeros too, but
    always at least one byte, a whole block of them for an aligned body (charon 5.9.8, measured: a
    144-byte quick mode body went out as 160 bytes). ``"counted"``: RFC 2409 section 5.3, written for
    the revised public key mode: always padding, zeros except the last byte, which counts the others.
    Receivers read the payloads by their lengths and ignore what follows the last one (charon,
    libreswan, Wireshark), so all three styles are accepted.
    """
    if style == "zero":
        return body + bytes(-len(body) % block_size)
    if style == "charon":
        return body + bytes(block_size - len(body) % block_size)
    count = block_size - 1 - len(body) % block_size
    return body + bytes(count) + bytes([count])


def ikev1_encrypt(key: bytes, iv: bytes, body: bytes, padding: Padding = "zero") -> bytes:
    """An IKEv1 message body (everything after the ISAKMP header) encrypted with Ka in CBC mode (RFC 2409 appendix B).

    The next message's IV is the last block of the result (:func:`sim.wire.keys.ikev1_next_iv`).
    """
    return aes_cbc_encrypt(key, iv, ikev1_pad(body, padding))


def ikev1_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The plaintext of an encrypted IKEv1 body, padding included (RFC 2409 appendix B).

    :func:`ikev1_split_padding` separates the payloads from the padding.
    """
    return aes_cbc_decrypt(key, iv, ciphertext)


def ikev1_split_padding(first_payload: int, plaintext: bytes) -> tuple[bytes, bytes]:
    """The payloads of a decrypted IKEv1 body and what follows them, found by walking the payload chain (RFC 2408 3.2).

    ``first_payload`` is the Next Payload field of the ISAKMP header. Raises :class:`PaddingError`
    when a payload header or length runs past the plaintext (what a wrong key or IV produces).
    """
    offset = 0
    current = first_payload
    while current:
        if offset + _GENERIC.size > len(plaintext):
            raise PaddingError(f"payload {current} at offset {offset} runs past the plaintext ({len(plaintext)} bytes)")
        nxt, _, length = _GENERIC.unpack_from(plaintext, offset)
        if length < _GENERIC.size or offset + length > len(plaintext):
            raise PaddingError(f"payload {current} at offset {offset} claims {length} bytes of {len(plaintext)}")
        offset += length
        current = nxt
    return plaintext[:offset], plaintext[offset:]


def _ikev1_header(message: bytes) -> tuple[bytes, bytes]:
    if len(message) < IKE_HEADER_LENGTH:
        raise WireCryptoError(f"an ISAKMP message starts with a {IKE_HEADER_LENGTH}-byte header; got {len(message)}")
    return message[:IKE_HEADER_LENGTH], message[IKE_HEADER_LENGTH:]


def ikev1_seal(message: bytes, key: bytes, iv: bytes, padding: Padding = "zero") -> bytes:
    """An ISAKMP message with its body encrypted (RFC 2408 section 3.1, RFC 2409 appendix B).

    ``message`` is the plaintext message: header and payloads. The result has the encryption flag
    set and the header's length counting the padded ciphertext.
    """
    header, body = _ikev1_header(message)
    ciphertext = ikev1_encrypt(key, iv, body, padding)
    flags = header[19] | IKEV1_FLAG_ENCRYPTION
    length = IKE_HEADER_LENGTH + len(ciphertext)
    return header[:19] + bytes([flags]) + header[20:24] + length.to_bytes(4, "big") + ciphertext


def ikev1_open(message: bytes, key: bytes, iv: bytes) -> bytes:
    """The ISAKMP header followed by the decrypted body, padding included (RFC 2409 appendix B).

    Raises :class:`WireCryptoError` when the encryption flag is clear or the header's length is
    not the message's, :class:`PaddingError` when the body is not whole blocks.
    """
    header, body = _ikev1_header(message)
    if not header[19] & IKEV1_FLAG_ENCRYPTION:
        raise WireCryptoError("the ISAKMP header's encryption flag is clear")
    if int.from_bytes(header[24:28], "big") != len(message):
        raise WireCryptoError(
            f"the ISAKMP header says {int.from_bytes(header[24:28], 'big')} bytes; got {len(message)}"
        )
    return header + ikev1_decrypt(key, iv, body)


# ---------------------------------------------------------------------------------------------------- IKEv2


@dataclass(frozen=True, slots=True)
class Opened:
    """A verified, decrypted IKEv2 message: its header, the inner payloads and the padding that hid their length."""

    header: bytes  # the 28-byte IKE header
    next_payload: int  # the Encrypted payload's Next Payload: the first inner payload's type
    payloads: bytes  # the inner payloads, generic headers included
    padding: bytes  # the pad bytes, without the Pad Length octet
    iv: bytes


def _ikev2_pad(inner: bytes, padding: bytes | None) -> bytes:
    if padding is None:
        padding = bytes(-(len(inner) + 1) % AES_BLOCK)
    if len(padding) > 255 or (len(inner) + len(padding) + 1) % AES_BLOCK:
        raise PaddingError(f"{len(padding)} pad bytes do not fill the last block after {len(inner)} bytes")
    return inner + padding + bytes([len(padding)])


def ikev2_seal(
    header: bytes,
    next_payload: int,
    inner: bytes,
    *,
    encryption_key: bytes,
    integrity_key: bytes,
    integrity_number: int,
    iv: bytes,
    padding: bytes | None = None,
) -> bytes:
    """An IKEv2 message whose only payload is the Encrypted payload SK {inner} (RFC 7296 section 3.14).

    ``header`` is the 28-byte IKE header; its Next Payload becomes SK (46) and its Length the
    message's. ``next_payload`` is the type of the first inner payload, ``inner`` the inner
    payloads. The plaintext is ``inner | padding | pad length``; ``padding`` defaults to the fewest
    zero bytes that fill the block (any content is allowed). The checksum covers the message from
    the IKE header to the end of the ciphertext. Over UDP port 4500 the caller prepends four zero
    bytes (RFC 3948 section 2.2), which the checksum does not cover.
    """
    if len(header) != IKE_HEADER_LENGTH:
        raise WireCryptoError(f"an IKE header is {IKE_HEADER_LENGTH} bytes, not {len(header)}")
    alg = integrity(integrity_number)
    ciphertext = aes_cbc_encrypt(encryption_key, iv, _ikev2_pad(inner, padding))
    payload_length = _GENERIC.size + len(iv) + len(ciphertext) + alg.icv_length
    total = IKE_HEADER_LENGTH + payload_length
    head = header[:16] + bytes([ENCRYPTED_PAYLOAD]) + header[17:24] + total.to_bytes(4, "big")
    signed = head + _GENERIC.pack(next_payload, 0, payload_length) + iv + ciphertext
    return signed + checksum(integrity_number, integrity_key, signed)


def ikev2_open(
    message: bytes,
    *,
    encryption_key: bytes,
    integrity_key: bytes,
    integrity_number: int,
) -> Opened:
    """Verify and decrypt an IKEv2 message's Encrypted payload (RFC 7296 section 3.14).

    ``message`` starts at the IKE header (without the four zero bytes of UDP port 4500). Unencrypted
    payloads before the SK payload are skipped; the SK payload must end the message. Raises
    :class:`IntegrityError` when the checksum does not match (checked before decrypting, in constant
    time), :class:`PaddingError` when the ciphertext is not whole blocks or the Pad Length exceeds
    the plaintext, and :class:`WireCryptoError` when the framing is wrong.
    """
    alg = integrity(integrity_number)
    if len(message) < IKE_HEADER_LENGTH:
        raise WireCryptoError(f"an IKE message starts with a {IKE_HEADER_LENGTH}-byte header; got {len(message)}")
    if int.from_bytes(message[24:28], "big") != len(message):
        raise WireCryptoError(f"the IKE header says {int.from_bytes(message[24:28], 'big')} bytes; got {len(message)}")
    offset, current = IKE_HEADER_LENGTH, message[16]
    while current != ENCRYPTED_PAYLOAD:
        if current == 0 or offset + _GENERIC.size > len(message):
            raise WireCryptoError("the message has no Encrypted payload")
        current, _, length = _GENERIC.unpack_from(message, offset)
        if length < _GENERIC.size:
            raise WireCryptoError(f"a payload at offset {offset} claims {length} bytes")
        offset += length
    if offset + _GENERIC.size > len(message):
        raise WireCryptoError("the Encrypted payload's header runs past the message")
    next_payload, _, length = _GENERIC.unpack_from(message, offset)
    if offset + length != len(message):
        raise WireCryptoError(f"the Encrypted payload ({length} bytes at offset {offset}) does not end the message")
    body = message[offset + _GENERIC.size :]
    if len(body) < 2 * AES_BLOCK + alg.icv_length:
        raise PaddingError(f"an Encrypted payload body of {len(body)} bytes has no room for IV, a block and the ICV")
    expected = checksum(integrity_number, integrity_key, message[: -alg.icv_length])
    if not _constant_time.compare_digest(expected, message[-alg.icv_length :]):
        raise IntegrityError(f"the {alg.name} checksum of the Encrypted payload does not match")
    iv, ciphertext = body[:AES_BLOCK], body[AES_BLOCK : -alg.icv_length]
    plaintext = aes_cbc_decrypt(encryption_key, iv, ciphertext)
    pad_length = plaintext[-1]
    if pad_length + 1 > len(plaintext):
        raise PaddingError(f"Pad Length {pad_length} exceeds the {len(plaintext)}-byte plaintext")
    end = len(plaintext) - 1 - pad_length
    return Opened(message[:IKE_HEADER_LENGTH], next_payload, plaintext[:end], plaintext[end:-1], iv)
