"""ISAKMP (IKEv1) and IKEv2 messages as they go on the wire: real key exchange, real keys, real encryption.

One object per main-mode or IKE SA (:class:`IKEv1SA`, :class:`IKEv2SA`) holds what both peers know
of it: the cookies or SPIs, the initiator's offers and the responder's choice (as indexes into the
offers), each peer's address, authentication method and pre-shared key, and the nonces and
Diffie-Hellman private keys, all derived from the seed, the SA label and the peer's name, so the
same seed gives the same bytes. Each key exchange and key derivation is computed once per SA, and
only when a message needs it.

IKEv1 (RFC 2409): MM1 offers every proposal as a transform (encryption with its key length, hash,
authentication method, group, life type and duration); MM2 carries the chosen one; both carry the
vendor IDs of the sender's profile (:mod:`sim.wire.vendors`); MM3 / MM4 the real public values, the
nonces and, when both sides announced RFC 3947, the NAT-D payloads; MM5 / MM6 IDii / IDir and HASH_I
/ HASH_R encrypted with Ka under the phase 1 IV chain (MM5 of a strongSwan initiator's first contact
also N(INITIAL-CONTACT)); quick mode (QM1..QM3) HASH(1..3), the ESP SA and the nonces (and IDci /
IDcr when the quick mode's initiator is strongSwan or libreswan), with the phase 2 IV chain;
informational exchanges (notify, delete, R-U-THERE)
HASH(1) then the payload, encrypted once the sender has the phase 1 keys. Each peer encrypts with
its own keys: under pre-shared keys that differ, its bytes do not decrypt with the other peer's
keys, as on the wire.

IKEv2 (RFC 7296): IKE_SA_INIT with the SA from the offers (the key-length attribute included), KE of
the group asked for, Ni / Nr, the profile's notifies (NAT detection included) and VIDs, a refusal as
notifies with responder SPI 0; IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL with an Encrypted payload
(SK) sealed with SK_e / SK_a: IDi / IDr, AUTH (prf(prf(PSK, "Key Pad for IKEv2"), signed octets) for
a pre-shared key, each peer with its own key), SA / TSi / TSr, CP, notifies and deletes; IKE_AUTH
with the IDr, INITIAL_CONTACT and status notifies of the sender's profile (:mod:`sim.wire.vendors`).
A strongSwan initiator's IKE SA moves to UDP 4500 after IKE_SA_INIT (:attr:`IKEv2SA.floats`).

Certificate authentication is real (:mod:`sim.wire.certs`): the identity is the certificate's
subject (ID_DER_ASN1_DN), MM3 / MM4 and IKE_AUTH request (and IKE_SA_INIT response) carry a
certificate request naming the trusted root, MM5 / MM6 and IKE_AUTH the peer's certificate and
its RSA signature (IKEv1 SIG, IKEv2 AUTH method 1). ``eap`` is ikesim's opaque method that checks like a pre-shared
secret: it is rendered as a pre-shared key (IKEv1 authentication method 1, IKEv2 AUTH method 2).
The ESP transform of quick mode and child SAs is the phase 1 suite's encryption and integrity (a
policy has no separate ESP proposals). IKEv1 has no AES-GCM in phase 1: an AES-GCM suite is
offered as AES-CBC of the same key length there.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sim.wire import certs, dh, keys, vendors
from sim.wire import payloads as p
from sim.wire.cipher import IKEV2_INTEGRITY, Padding, ikev1_pad
from sim.wire.keys import HashName

try:  # cryptography 43 moved TripleDES to its "decrepit" package; pyproject allows 42
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef,unused-ignore]


def stable_bytes(*parts: object, size: int) -> bytes:
    """Bytes that depend only on ``parts`` (the seed, an SA, a purpose): the same on every run."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256("|".join(map(str, (*parts, counter))).encode()).digest()
        counter += 1
    return out[:size]


@dataclass(frozen=True, slots=True)
class Suite:
    """One proposal: encryption, integrity (and PRF) and Diffie-Hellman group, by ikesim's policy names."""

    encryption: str
    integrity: str
    dh_group: int


@dataclass(frozen=True, slots=True)
class Side:
    """One peer of an SA: its name, address, authentication method, pre-shared key, profile (its VIDs), certificate."""

    name: str
    address: str
    auth: str
    psk: str
    profile: str = ""
    certificate: str = "valid"  # the policy's: valid, untrusted, revoked or missing (no certificate to send)

    def uses_certificate(self) -> bool:
        """True when the side authenticates with a certificate."""
        return self.auth == "certificate"


IKE_PORT = 500  # ikesim models no NAT: IKE starts on port 500, and IKEv1 stays there
NAT_T_PORT = 4500  # RFC 3948: where a strongSwan IKEv2 initiator moves after IKE_SA_INIT (see IKEv2SA.floats)
NON_ESP_MARKER = bytes(4)  # RFC 3948 2.2: an IKE message on port 4500 starts with four zero bytes


KEY_LENGTHS: Mapping[str, int] = MappingProxyType(
    {"des": 8, "3des": 24, "aes128": 16, "aes192": 24, "aes256": 32, "aes128-gcm": 16, "aes256-gcm": 32}
)
GCM = frozenset({"aes128-gcm", "aes256-gcm"})


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def block_size(encryption: str) -> int:
    """The cipher's block: 8 bytes for DES and 3DES, 16 for AES."""
    return 8 if encryption in ("des", "3des") else 16


def _cbc(encryption: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    algorithm = TripleDES(key * 3 if len(key) == 8 else key) if encryption in ("des", "3des") else algorithms.AES(key)
    enc = Cipher(algorithm, modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def cbc_encrypt(encryption: str, key: bytes, iv: bytes, data: bytes) -> bytes:
    """Whole blocks encrypted in CBC mode with the policy's cipher: AES, 3DES, or DES as 3DES with one key thrice."""
    return _cbc(encryption, key, iv, data)


# --- notifies named in trace details ----------------------------------------------------------

NOTIFY_NUMBERS: Mapping[str, int] = MappingProxyType(
    {
        "INVALID-PAYLOAD-TYPE": 1,
        "PAYLOAD-MALFORMED": 16,
        "NO-PROPOSAL-CHOSEN": 14,
        "INVALID-KEY-INFORMATION": 17,
        "AUTHENTICATION-FAILED": 24,
        "COOKIE": 16390,
        "NO_PROPOSAL_CHOSEN": 14,
        "INVALID_KE_PAYLOAD": 17,
        "AUTHENTICATION_FAILED": 24,
        "TS_UNACCEPTABLE": 38,
        "NO_ADDITIONAL_SAS": 35,
        "INTERNAL_ADDRESS_FAILURE": 36,
        "FAILED_CP_REQUIRED": 37,
        "TEMPORARY_FAILURE": 43,
        "REKEY_SA": 16393,
        "MS_NOTIFY_STATUS": 12345,
    }
)
R_U_THERE, R_U_THERE_ACK = 36136, 36137  # RFC 3706 section 5
_NOTIFY = re.compile(r"N\(([^)]*)\)")
DETAIL_KEI_GROUP = re.compile(r"KEi group (\d+)")  # the group of an IKE_SA_INIT request's KE
DETAIL_ADDRESS = re.compile(r"INTERNAL_IP4_ADDRESS=([0-9.]+)")  # the inner address a CFG_REPLY assigns
# Notifies whose data is a number: its width in bytes ([MS-IKEE] 2.2.7: the status; RFC 7296 3.10.1: the group).
_NOTIFY_NUMBER_BYTES = {"MS_NOTIFY_STATUS": 4, "INVALID_KE_PAYLOAD": 2}


def detail_problem(detail: str) -> str | None:
    """What in a trace detail the wire cannot build (a number too big for its field, an unknown group...), or None."""
    for token in _NOTIFY.findall(detail):
        name, _, value = token.partition(" ")
        width = _NOTIFY_NUMBER_BYTES.get(name)
        if width is not None and value and (not value.isdecimal() or int(value) >= 1 << 8 * width):
            return f"N({token}): expected a number below 2**{8 * width}"
        if name == "INVALID_KE_PAYLOAD" and value and int(value) not in dh.GROUPS:
            return f"N({token}): group {value} is not a Diffie-Hellman group ikesim implements"
    for group in DETAIL_KEI_GROUP.findall(detail):
        if int(group) not in dh.GROUPS:
            return f"KEi group {group}: not a Diffie-Hellman group ikesim implements"
    for address in DETAIL_ADDRESS.findall(detail):
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            return f"INTERNAL_IP4_ADDRESS={address}: not an IPv4 address"
    return None


def notifies(detail: str, cookie: bytes = b"", default: str | None = "NO-PROPOSAL-CHOSEN") -> list[tuple[int, bytes]]:
    """The notify payloads a trace detail names, with their data: ``N(NO-PROPOSAL-CHOSEN) N(MS_NOTIFY_STATUS 13865)``.

    MS_NOTIFY_STATUS carries the status as a 32-bit number ([MS-IKEE] 2.2.7; network byte order is
    ikesim's assumption); INVALID_KE_PAYLOAD the group wanted, in two bytes (RFC 7296 3.10.1);
    COOKIE the responder's ``cookie``. A detail without a notify gives ``default`` (or none).
    """
    out = []
    tokens = _NOTIFY.findall(detail) or ([default] if default else [])
    for token in tokens:
        name, _, value = token.partition(" ")
        data = b""
        width = _NOTIFY_NUMBER_BYTES.get(name)
        if width is not None and value.isdecimal():
            data = int(value).to_bytes(width, "big")
        elif name == "COOKIE":
            data = cookie
        out.append((NOTIFY_NUMBERS.get(name, 14), data))
    return out


def corrupt(data: bytes, part: str, replacement_cookie: bytes) -> bytes:
    """A message with one part damaged, still parseable: what a fault's ``corrupted`` names.

    ``cookie``: another initiator cookie / SPI; ``message_id``: another message ID; ``header``: a
    reserved flag bit; ``version``: another minor version; ``payload``: the reserved bits of the
    nonce payload's header (or of the last payload), or, in an encrypted message, its last byte.
    """
    out = bytearray(data)
    v2 = data[17] >> 4 == 2
    if part == "cookie":
        out[0:8] = replacement_cookie
    elif part == "message_id":
        mid = int.from_bytes(data[20:24], "big") ^ (0x5A5A if v2 else 0x5A5A5A5A)
        out[20:24] = mid.to_bytes(4, "big")
    elif part == "header":
        out[19] |= 0x01 if v2 else 0x08
    elif part == "version":
        out[17] = 0x21 if v2 else 0x11
    elif part == "payload":
        if (v2 and data[16] == p.V2_SK) or (not v2 and data[19] & 0x01):
            out[-1] ^= 0xFF
        else:
            offset, current, target = 28, data[16], 28
            while current and offset + 4 <= len(data):
                target = offset
                if current in (p.V1_NONCE, p.V2_NONCE):
                    break
                current, length = data[offset], int.from_bytes(data[offset + 2 : offset + 4], "big")
                offset += max(length, 4)
            out[target + 1] = 0x7F if v2 else 0xFF
    return bytes(out)


# --- IKEv1 ------------------------------------------------------------------------------------

V1_ENCRYPTION: Mapping[str, int] = MappingProxyType({"des": 1, "3des": 5})  # AES-CBC is 7 (RFC 3602)
V1_HASHES: Mapping[str, int] = MappingProxyType({"md5": 1, "sha1": 2, "sha256": 4, "sha384": 5, "sha512": 6})
V1_AUTH: Mapping[str, int] = MappingProxyType({"psk": 1, "eap": 1, "certificate": 3})  # 3: RSA signature
ESP_TRANSFORMS: Mapping[str, int] = MappingProxyType({"des": 2, "3des": 3})  # ESP_AES is 12
ESP_AUTH: Mapping[str, int] = MappingProxyType({"md5": 1, "sha1": 2, "sha256": 5, "sha384": 6, "sha512": 7})
V1_EXCHANGES: Mapping[str, int] = MappingProxyType({"MM": 2, "QM": 32, "INFO": 5})
PAYLOAD_MALFORMED = 16  # RFC 2408 3.14.1
# How each implementation pads an IKEv1 body before encrypting it (sim.wire.cipher.ikev1_pad): charon
# always adds padding (measured); libreswan pads to the block and no further; Windows assumed the same.
V1_PADDING: Mapping[str, Padding] = MappingProxyType({"strongswan": "charon"})


def _v1_phase1_attributes(suite: Suite, auth: str, lifetime: int) -> bytes:
    out = p.attribute(1, V1_ENCRYPTION.get(suite.encryption, 7))
    if suite.encryption.startswith("aes"):
        out += p.attribute(14, KEY_LENGTHS[suite.encryption] * 8)
    out += p.attribute(2, V1_HASHES[suite.integrity]) + p.attribute(3, V1_AUTH.get(auth, 1))
    out += p.attribute(4, suite.dh_group) + p.attribute(11, 1) + p.attribute(12, lifetime)
    return out


def esp_v1_attributes(suite: Suite, lifetime: int, mode: int = 1) -> bytes:
    """ESP transform attributes (RFC 2407 4.5): life in seconds, ``mode`` (1 tunnel, 2 transport), integrity, key."""
    out = p.attribute(1, 1) + p.attribute(2, lifetime) + p.attribute(4, mode)
    out += p.attribute(5, ESP_AUTH[suite.integrity])
    if suite.encryption.startswith("aes"):
        out += p.attribute(6, KEY_LENGTHS[suite.encryption] * 8)
    return out


# IDci / IDcr: ID_IPV4_ADDR_SUBNET (RFC 2407 4.6.2.1), any protocol and port, 0.0.0.0 / 0.0.0.0.
ANY_SUBNET_V1: p.Payload = (p.V1_ID, struct.pack("!BBH", 4, 0, 0) + bytes(8))


@dataclass
class _QuickMode:
    ciphertexts: dict[int, bytes] = field(default_factory=dict)  # step -> the message's last ciphertext block
    messages: dict[int, bytes] = field(default_factory=dict)


class IKEv1SA:
    """One ISAKMP SA (main mode) and the exchanges under it, built as both peers would send them."""

    def __init__(
        self,
        *,
        seed: int,
        label: str,
        icookie: bytes,
        rcookie: bytes,
        initiator: Side,
        responder: Side,
        offers: Sequence[Suite],
        chosen: int | None,
        lifetime: int = 28800,
        qm_lifetime: int = 3600,
        exchanges: Mapping[str, int] = V1_EXCHANGES,
    ) -> None:
        self.seed, self.label = seed, label
        self.icookie, self.rcookie = icookie, rcookie
        self.initiator, self.responder = initiator, responder
        self.offers, self.chosen = tuple(offers), chosen
        self.suite = self.offers[chosen if chosen is not None else 0]
        self.lifetime, self.qm_lifetime = lifetime, qm_lifetime
        self.exchanges = exchanges
        self.hash: HashName = self.suite.integrity  # type: ignore[assignment]
        self.block = block_size(self.suite.encryption)
        self.ni = stable_bytes(seed, label, initiator.name, "nonce", size=32)
        self.nr = stable_bytes(seed, label, responder.name, "nonce", size=32)
        self.kex = dh.KeyExchange(stable_bytes(seed, label, "dh", size=32))  # both sides' DH, from the seed
        self.mm5_sent = False  # set by the caller: phase 2 IVs chain from the last phase 1 message sent
        self.mm6_sent = False
        self.first_contact = False  # set by the caller: the initiator has no other IKE SA with the responder
        self._keys: dict[str, keys.IKEv1Keys] = {}
        self._phase1: dict[str, bytes] = {}
        self._quick: dict[str, _QuickMode] = {}
        transforms = [
            p.v1_transform(i + 1, 1, _v1_phase1_attributes(s, initiator.auth, lifetime))
            for i, s in enumerate(self.offers)
        ]
        isakmp = exchanges.get("MM") == V1_EXCHANGES["MM"]  # AuthIP's main mode carries none of these
        self.mm1_vids = vendors.initiator_vendor_ids(initiator.profile) if isakmp else []
        self.mm2_vids = vendors.vendor_ids(responder.profile, self.mm1_vids) if isakmp else []
        self.nat_d = vendors.nat_d(self.mm1_vids, self.mm2_vids)
        self.sai_b = p.v1_sa([p.v1_proposal(1, 1, b"", transforms)])[1]  # SAi_b of HASH_I and HASH_R

    # keys
    def public(self, side: Side) -> bytes:
        """The side's key exchange data in the chosen group (the first offered group without a choice)."""
        return self.kex.public(self.suite.dh_group, side.name)

    def g_xy(self) -> bytes:
        """The Diffie-Hellman shared secret g^xy, computed once."""
        return self.kex.shared(self.suite.dh_group, self.initiator.name, self.responder.name)

    def keys(self, side: Side) -> keys.IKEv1Keys:
        """The keying material ``side`` derives: with its own pre-shared key (RFC 2409 section 5)."""
        if side.name not in self._keys:
            if side.auth == "certificate":
                skeyid = keys.ikev1_skeyid_signature(self.hash, self.ni, self.nr, self.g_xy())
            else:
                skeyid = keys.ikev1_skeyid_psk(self.hash, side.psk.encode(), self.ni, self.nr)
            self._keys[side.name] = keys.ikev1_keys(
                self.hash,
                skeyid,
                self.g_xy(),
                self.icookie,
                self.rcookie,
                self.public(self.initiator),
                self.public(self.responder),
                KEY_LENGTHS[self.suite.encryption],
                self.block,
            )
        return self._keys[side.name]

    @property
    def keyed(self) -> bool:
        """True once a message needed the keys."""
        return bool(self._keys)

    def table_row(self) -> str | None:
        """Wireshark's ikev1_decryption_table row: the initiator cookie and the initiator's Ka, or None."""
        if not self.keyed:
            return None
        return f"{self.icookie.hex()},{self.keys(self.initiator).encryption_key.hex()}"

    # framing
    def _plain(self, exchange: str, message_id: int, payloads: Sequence[p.Payload], first: bool = False) -> bytes:
        rcookie = bytes(8) if first else self.rcookie
        return p.message(self.icookie, rcookie, 0x10, self.exchanges[exchange], 0, message_id, payloads)

    def _sealed(
        self, sender: Side, exchange: str, message_id: int, payloads: Sequence[p.Payload], key: bytes, iv: bytes
    ) -> bytes:
        first, body = p.chain(payloads)
        padded = ikev1_pad(body, V1_PADDING.get(sender.profile, "zero"), self.block)
        ciphertext = _cbc(self.suite.encryption, key, iv, padded)
        flags = 0x01  # encryption (RFC 2408 section 3.1)
        length = 28 + len(ciphertext)
        hdr = p.header(self.icookie, self.rcookie, first, 0x10, self.exchanges[exchange], flags, message_id, length)
        return hdr + ciphertext

    # main mode
    def notify(self, sender: Side, number: int, data: bytes = b"") -> p.Payload:
        """A phase 1 notify as the sender's implementation writes it.

        strongSwan's main-mode task puts the cookie pair in the SPI field of the notifies it
        sends (NO-PROPOSAL-CHOSEN measured at 56 bytes, v1-cipher-mismatch and v1-dh-mismatch);
        its task manager's PAYLOAD-MALFORMED for a message it cannot parse has none (40 bytes,
        v1-damaged-mm3). Others: no SPI, as measured for libreswan and assumed for Windows.
        """
        spi = self.icookie + self.rcookie if sender.profile == "strongswan" and number != PAYLOAD_MALFORMED else b""
        return p.v1_notify(number, 1, spi, data)

    def mm1(self) -> bytes:
        """The initiator's offer: every proposal as a transform; its profile's vendor IDs."""
        vids = [p.v1_vendor_id(vid) for vid in self.mm1_vids]
        return self._plain("MM", 0, [(p.V1_SA, self.sai_b), *vids], first=True)

    def mm2(self) -> bytes:
        """The responder's choice: the chosen transform with its number in the offer."""
        index = self.chosen if self.chosen is not None else 0
        transform = p.v1_transform(index + 1, 1, _v1_phase1_attributes(self.suite, self.responder.auth, self.lifetime))
        vids = [p.v1_vendor_id(vid) for vid in self.mm2_vids]
        return self._plain("MM", 0, [p.v1_sa([p.v1_proposal(1, 1, b"", [transform])]), *vids])

    def nat_d_payloads(self, sender: Side, receiver: Side) -> list[p.Payload]:
        """NAT-D of the receiver's address and port first, then the sender's (RFC 3947 3.2), or none.

        Sent when both sides announced RFC 3947; the hash is the negotiated one. No NAT: each hash
        is of the address and port the message really travels between.
        """
        if not self.nat_d:
            return []
        return [
            p.v1_nat_d(vendors.nat_d_hash(self.hash, self.icookie, self.rcookie, _packed(side.address), IKE_PORT))
            for side in (receiver, sender)
        ]

    def mm3(self) -> bytes:
        """KE, Ni, the certificate request (certificate authentication) and the NAT-D payloads."""
        nat_d = self.nat_d_payloads(self.initiator, self.responder)
        request = self._certificate_request(self.initiator)
        return self._plain("MM", 0, [(p.V1_KE, self.public(self.initiator)), (p.V1_NONCE, self.ni), *request, *nat_d])

    def mm4(self) -> bytes:
        """KE, Nr, the certificate request (certificate authentication) and the NAT-D payloads."""
        nat_d = self.nat_d_payloads(self.responder, self.initiator)
        request = self._certificate_request(self.responder)
        return self._plain("MM", 0, [(p.V1_KE, self.public(self.responder)), (p.V1_NONCE, self.nr), *request, *nat_d])

    def credentials(self, side: Side) -> certs.Credentials:
        """The side's certificate and key (certificate authentication)."""
        return certs.credentials(self.seed, side.name, side.address, side.certificate)

    def identity(self, side: Side) -> p.Payload:
        """IDii / IDir: the certificate's subject (ID_DER_ASN1_DN, RFC 2407 4.6.2.1) or the address."""
        if side.uses_certificate():
            return p.V1_ID, struct.pack("!BBH", p.ID_DER_ASN1_DN, 0, 0) + self.credentials(side).subject_der
        return p.v1_id_ipv4(side.address)

    def _authentication(self, side: Side, hash_value: bytes) -> list[p.Payload]:
        """HASH_I / HASH_R, or the certificate (none when the side has none) and SIG of the hash (RFC 2409 5.1)."""
        if not side.uses_certificate():
            return [(p.V1_HASH, hash_value)]
        own = self.credentials(side)
        cert = [] if side.certificate == "missing" else [(p.V1_CERT, bytes([p.CERT_X509_SIGNATURE]) + own.der)]
        return [*cert, (p.V1_SIG, certs.ikev1_signature(own.key, hash_value))]

    def _certificate_request(self, side: Side) -> list[p.Payload]:
        """MM3 / MM4's CR naming the root the side trusts, when it authenticates with certificates."""
        return [(p.V1_CR, certs.ikev1_certificate_request(self.seed))] if side.uses_certificate() else []

    def initial_contact(self) -> list[p.Payload]:
        """MM5's N(INITIAL-CONTACT) with the cookie pair as its SPI, or none (:func:`vendors.sends_initial_contact`).

        strongSwan sends it on a first contact (``first_contact``, set by the caller), after
        HASH_I or SIG (its ID_PROT payload order: ID, CERT, SIG, HASH, CERTREQ, N).
        """
        if not (self.first_contact and vendors.sends_initial_contact(self.initiator.profile)):
            return []
        return [p.v1_notify(vendors.INITIAL_CONTACT_V1, 1, self.icookie + self.rcookie)]

    def mm5(self) -> bytes:
        """IDii and HASH_I (or CERT and SIG_I), encrypted with the initiator's Ka under the phase 1 IV."""
        if "MM5" not in self._phase1:
            k = self.keys(self.initiator)
            ident = self.identity(self.initiator)
            args = (self.public(self.initiator), self.public(self.responder), self.icookie, self.rcookie, self.sai_b)
            hash_i = keys.ikev1_hash_i(self.hash, k.skeyid, *args, ident[1])
            body = [ident, *self._authentication(self.initiator, hash_i), *self.initial_contact()]
            self._phase1["MM5"] = self._sealed(self.initiator, "MM", 0, body, k.encryption_key, k.iv)
        return self._phase1["MM5"]

    def mm6(self) -> bytes:
        """IDir and HASH_R (or CERT and SIG_R), encrypted with the responder's Ka, chained on MM5."""
        if "MM6" not in self._phase1:
            k = self.keys(self.responder)
            ident = self.identity(self.responder)
            args = (self.public(self.initiator), self.public(self.responder), self.icookie, self.rcookie, self.sai_b)
            hash_r = keys.ikev1_hash_r(self.hash, k.skeyid, *args, ident[1])
            iv = self.mm5()[-self.block :]
            self._phase1["MM6"] = self._sealed(
                self.responder, "MM", 0, [ident, *self._authentication(self.responder, hash_r)], k.encryption_key, iv
            )
        return self._phase1["MM6"]

    def _last_phase1_block(self, last: str | None = None) -> bytes:
        """The block phase 2 IVs derive from: the end of ``last`` ("MM5", "MM6"), or the phase 1 IV ("initial").

        ``last`` is the sender's last phase 1 message, sent or processed, when its message left
        (charon confirms an IV only for a message it could read: its informational answering an
        MM5 it could not decrypt derives from the phase 1 IV, measured in v1-damaged-mm5). None:
        the last one sent in the whole run, as quick mode takes it.
        """
        if last is None:
            last = "MM6" if self.mm6_sent else "MM5" if self.mm5_sent else "initial"
        if last == "MM6":
            return self.mm6()[-self.block :]
        if last == "MM5":
            return self.mm5()[-self.block :]
        return self.keys(self.initiator).iv  # no encrypted phase 1 message yet: the phase 1 IV (as charon)

    def _phase2_iv(self, message_id: int, last: str | None = None) -> bytes:
        return keys.ikev1_phase2_iv(self.hash, self._last_phase1_block(last), message_id, self.block)

    # quick mode
    def quick(self, label: str, step: int, qm_initiator: Side, qm_responder: Side, message_id: int) -> bytes:
        """QM1 (HASH(1), SA, Ni), QM2 (HASH(2), SA, Nr) or QM3 (HASH(3)) of quick mode ``label``.

        QM1 and QM2 end with IDci / IDcr when the quick mode's initiator is a strongSwan or libreswan
        peer (:func:`vendors.quick_mode_identities`): ID_IPV4_ADDR_SUBNET 0.0.0.0/0 each, ikesim's
        any-to-any selectors (the TSi / TSr of its IKEv2 captures); the responder returns them.
        """
        qm = self._quick.setdefault(label, _QuickMode())
        if step in qm.messages:
            return qm.messages[step]
        sender = qm_initiator if step != 2 else qm_responder
        k = self.keys(sender)
        ni = stable_bytes(self.seed, label, qm_initiator.name, "nonce", size=32)
        nr = stable_bytes(self.seed, label, qm_responder.name, "nonce", size=32)
        if step == 1:
            iv = self._phase2_iv(message_id)
        else:
            iv = self.quick(label, step - 1, qm_initiator, qm_responder, message_id)[-self.block :]
        if step == 3:
            digest = keys.ikev1_quick_mode_hash3(self.hash, k.skeyid_a, message_id, ni, nr)
            body: list[p.Payload] = []
        else:
            spi = stable_bytes(self.seed, label, sender.name, "spi", size=4)
            transform = p.v1_transform(1, ESP_TRANSFORMS.get(self.suite.encryption, 12),
                                       esp_v1_attributes(self.suite, self.qm_lifetime))  # fmt: skip
            body = [p.v1_sa([p.v1_proposal(1, 3, spi, [transform])]), (p.V1_NONCE, ni if step == 1 else nr)]
            if vendors.quick_mode_identities(qm_initiator.profile):
                body += [ANY_SUBNET_V1, ANY_SUBNET_V1]
            after = p.chain(body)[1]
            if step == 1:
                digest = keys.ikev1_quick_mode_hash1(self.hash, k.skeyid_a, message_id, after)
            else:
                digest = keys.ikev1_quick_mode_hash2(self.hash, k.skeyid_a, message_id, ni, after)
        qm.messages[step] = self._sealed(sender, "QM", message_id, [(p.V1_HASH, digest), *body], k.encryption_key, iv)
        return qm.messages[step]

    def esp_spi(self, label: str, side: Side) -> bytes:
        """The ESP SPI ``side`` chose in quick mode ``label``."""
        return stable_bytes(self.seed, label, side.name, "spi", size=4)

    # informational
    def informational(
        self, sender: Side, message_id: int, body: Sequence[p.Payload], encrypted: bool, last: str | None = None
    ) -> bytes:
        """An informational exchange: the payloads in clear, or HASH(1) and the payloads encrypted (RFC 2409 5.7).

        ``last``: the sender's last phase 1 message when it sends this one (see :meth:`_last_phase1_block`).
        """
        if not encrypted:
            return self._plain("INFO", message_id, body)
        k = self.keys(sender)
        digest = keys.ikev1_informational_hash(self.hash, k.skeyid_a, message_id, p.chain(body)[1])
        return self._sealed(sender, "INFO", message_id, [(p.V1_HASH, digest), *body], k.encryption_key,
                            self._phase2_iv(message_id, last))  # fmt: skip

    def dpd(self, number: int, sequence: int) -> p.Payload:
        """An R-U-THERE (36136) or R-U-THERE-ACK (36137) notify with its sequence number (RFC 3706 section 5)."""
        return p.v1_notify(number, 1, self.icookie + self.rcookie, sequence.to_bytes(4, "big"))


# --- IKEv2 ------------------------------------------------------------------------------------

V2_ENCRYPTION: Mapping[str, int] = MappingProxyType(
    {"des": 2, "3des": 3, "aes128": 12, "aes192": 12, "aes256": 12, "aes128-gcm": 20, "aes256-gcm": 20}
)
V2_PRF: Mapping[str, int] = MappingProxyType({"md5": 1, "sha1": 2, "sha256": 5, "sha384": 6, "sha512": 7})
V2_INTEGRITY: Mapping[str, int] = MappingProxyType({"md5": 1, "sha1": 2, "sha256": 12, "sha384": 13, "sha512": 14})
# The names Wireshark's ikev2_decryption_table takes (checked against tshark 4.0).
WIRESHARK_ENCRYPTION: Mapping[str, str] = MappingProxyType(
    {
        "3des": "3DES [RFC2451]",
        "aes128": "AES-CBC-128 [RFC3602]",
        "aes192": "AES-CBC-192 [RFC3602]",
        "aes256": "AES-CBC-256 [RFC3602]",
        "aes128-gcm": "AES-GCM-128 with 16 octet ICV [RFC5282]",
        "aes256-gcm": "AES-GCM-256 with 16 octet ICV [RFC5282]",
    }
)
WIRESHARK_INTEGRITY: Mapping[int, str] = MappingProxyType(
    {
        0: "NONE [RFC4306]",
        1: "HMAC_MD5_96 [RFC2403]",
        2: "HMAC_SHA1_96 [RFC2404]",
        12: "HMAC_SHA2_256_128 [RFC4868]",
        13: "HMAC_SHA2_384_192 [RFC4868]",
        14: "HMAC_SHA2_512_256 [RFC4868]",
    }
)
V2_EXCHANGES: Mapping[str, int] = MappingProxyType(
    {"IKE_SA_INIT": 34, "IKE_AUTH": 35, "CREATE_CHILD_SA": 36, "INFORMATIONAL": 37}
)
GCM_SALT, GCM_IV, GCM_ICV = 4, 8, 16  # RFC 5282 sections 7.1 and 3


def _v2_transforms(suite: Suite, with_group: bool, esp: bool) -> list[bytes]:
    key_length = KEY_LENGTHS[suite.encryption] * 8 if suite.encryption.startswith("aes") else None
    out = [p.v2_transform(1, V2_ENCRYPTION[suite.encryption], key_length)]
    if not esp:
        out.append(p.v2_transform(2, V2_PRF[suite.integrity]))
    if suite.encryption not in GCM:
        out.append(p.v2_transform(3, V2_INTEGRITY[suite.integrity]))
    if with_group:
        out.append(p.v2_transform(4, suite.dh_group))
    if esp:
        out.append(p.v2_transform(5, 0))  # no extended sequence numbers
    return out


# Profiles whose IKE_SA_INIT offers every group of a cipher suite as one proposal with several DH
# transforms (a strongSwan proposal string "aes128-sha256-modp1024-modp2048", libreswan's
# "aes128-sha2;modp1024+modp2048"); Windows sends one proposal per suite of its crypto set.
GROUPS_IN_ONE_PROPOSAL = frozenset({"strongswan", "libreswan"})


def v2_proposals(offers: Sequence[Suite], profile: str) -> list[list[Suite]]:
    """The offers as IKEv2 proposals: one per offer, or, for the profiles that do, one per cipher suite."""
    if profile not in GROUPS_IN_ONE_PROPOSAL:
        return [[offer] for offer in offers]
    grouped: dict[tuple[str, str], list[Suite]] = {}
    for offer in offers:
        grouped.setdefault((offer.encryption, offer.integrity), []).append(offer)
    return list(grouped.values())


def _v2_proposal_transforms(suites: Sequence[Suite]) -> list[bytes]:
    """A proposal's transforms: the suite's encryption, PRF and integrity, then each of its groups."""
    groups = [p.v2_transform(4, group) for group in dict.fromkeys(s.dh_group for s in suites)]
    return _v2_transforms(suites[0], False, False) + groups


class IKEv2SA:
    """One IKE SA and the exchanges under it, built as both peers would send them."""

    def __init__(
        self,
        *,
        seed: int,
        label: str,
        spi_i: bytes,
        spi_r: bytes,
        initiator: Side,
        responder: Side,
        offers: Sequence[Suite],
        chosen: int | None,
    ) -> None:
        self.seed, self.label = seed, label
        self.spi_i, self.spi_r = spi_i, spi_r
        self.initiator, self.responder = initiator, responder
        self.offers, self.chosen = tuple(offers), chosen
        self.suite = self.offers[chosen if chosen is not None else 0]
        self.proposals = v2_proposals(self.offers, initiator.profile)
        self.prf: HashName = self.suite.integrity  # type: ignore[assignment]
        self.gcm = self.suite.encryption in GCM
        self.integrity = 0 if self.gcm else V2_INTEGRITY[self.suite.integrity]
        self.ni = stable_bytes(seed, label, initiator.name, "nonce", size=32)
        self.nr = stable_bytes(seed, label, responder.name, "nonce", size=32)
        self.kex = dh.KeyExchange(stable_bytes(seed, label, "dh", size=32))  # both sides' DH, from the seed
        self.group = self.offers[0].dh_group  # the group of the latest IKE_SA_INIT request
        self.request = b""  # the latest IKE_SA_INIT request and accepted response, as signed by AUTH
        self.response = b""
        self.request_extras = vendors.ikev2_request_extras(initiator.profile)
        self.response_extras = vendors.ikev2_response_extras(responder.profile, self.request_extras)
        self.first_contact = False  # set by the caller: the initiator has no other IKE SA with the responder
        self._keys: keys.IKEv2Keys | None = None

    def public(self, side: Side, group: int) -> bytes:
        """The side's key exchange data in ``group``."""
        return self.kex.public(group, side.name)

    def keys(self) -> keys.IKEv2Keys:
        """SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr: computed once (RFC 7296 section 2.14)."""
        if self._keys is None:
            g_ir = self.kex.shared(self.group, self.initiator.name, self.responder.name)
            skeyseed = keys.ikev2_skeyseed(self.prf, self.ni, self.nr, g_ir)
            key_length = KEY_LENGTHS[self.suite.encryption] + (GCM_SALT if self.gcm else 0)
            integrity_length = IKEV2_INTEGRITY[self.integrity].key_length if self.integrity else 0
            self._keys = keys.ikev2_keys(self.prf, skeyseed, self.ni, self.nr, self.spi_i, self.spi_r, key_length,
                                         integrity_length)  # fmt: skip
        return self._keys

    @property
    def keyed(self) -> bool:
        """True once a message needed the keys."""
        return self._keys is not None

    @property
    def floats(self) -> bool:
        """True when the IKE SA leaves port 500 for 4500 after IKE_SA_INIT, as a strongSwan initiator does.

        Its messages from IKE_AUTH on, both ways, then travel between ports 4500 with the non-ESP
        marker before the IKE header (RFC 3948 2.2); IKE_SA_INIT, retries included, stays on 500.
        """
        return vendors.ikev2_floats(self.initiator.profile, self.response_extras)

    def table_row(self) -> str | None:
        """Wireshark's ikev2_decryption_table row, or None (no keys, or a cipher Wireshark cannot take)."""
        if self._keys is None or self.suite.encryption not in WIRESHARK_ENCRYPTION:
            return None
        k = self._keys
        encryption, integrity = WIRESHARK_ENCRYPTION[self.suite.encryption], WIRESHARK_INTEGRITY[self.integrity]
        # Byte fields are bare hex, text fields quoted: as Wireshark writes its UAT files.
        return (f'{self.spi_i.hex()},{self.spi_r.hex()},{k.sk_ei.hex()},{k.sk_er.hex()},"{encryption}",'
                f'{k.sk_ai.hex()},{k.sk_ar.hex()},"{integrity}"')  # fmt: skip

    # IKE_SA_INIT
    def extras(self, extras: Sequence[vendors.Extra], spi_r: bytes, sender: Side, receiver: Side) -> list[p.Payload]:
        """The profile's notifies and VIDs; NAT detection hashes the SPIs of the message (RFC 7296 2.23).

        No NAT: the source hash is of the sender's address and port 500, the destination hash of the receiver's.
        """
        source, destination = (_packed(sender.address), IKE_PORT), (_packed(receiver.address), IKE_PORT)
        return vendors.extra_payloads(extras, self.spi_i, spi_r, source, destination)

    def init_request(self, group: int, cookie: bytes | None, flags: int) -> bytes:
        """SA (every offer), KE of ``group``, Ni, the profile's notifies and VIDs; the returned cookie first (2.6)."""
        first = [p.v2_notify(NOTIFY_NUMBERS["COOKIE"], data=cookie)] if cookie is not None else []
        proposals = [p.v2_proposal(i + 1, 1, b"", _v2_proposal_transforms(suites))
                     for i, suites in enumerate(self.proposals)]  # fmt: skip
        body = [*first, p.v2_sa(proposals), p.v2_ke(group, self.public(self.initiator, group)), (p.V2_NONCE, self.ni),
                *self.extras(self.request_extras, bytes(8), self.initiator, self.responder)]  # fmt: skip
        self.group = group
        self.request = p.message(self.spi_i, bytes(8), 0x20, 34, flags, 0, body)
        return self.request

    def init_response(self, flags: int) -> bytes:
        """SA (the chosen suite, under its proposal's number), KE, Nr, the profile's notifies and VIDs, CERTREQ."""
        number = next(i for i, suites in enumerate(self.proposals) if self.suite in suites) + 1
        sa = p.v2_sa([p.v2_proposal(number, 1, b"", _v2_transforms(self.suite, True, False))])
        request = (
            [(p.V2_CERTREQ, certs.ikev2_certificate_request(self.seed))] if self.responder.uses_certificate() else []
        )
        body = [sa, p.v2_ke(self.group, self.public(self.responder, self.group)), (p.V2_NONCE, self.nr),
                *self.extras(self.response_extras, self.spi_r, self.responder, self.initiator), *request]  # fmt: skip
        self.response = p.message(self.spi_i, self.spi_r, 0x20, 34, flags, 0, body)
        return self.response

    def init_refusal(self, refusal: Sequence[tuple[int, bytes]], flags: int) -> bytes:
        """Notifies only, responder SPI 0: a refused IKE_SA_INIT makes no SA (RFC 7296 section 1.2)."""
        return p.message(self.spi_i, bytes(8), 0x20, 34, flags, 0, [p.v2_notify(n, data=d) for n, d in refusal])

    # the encrypted exchanges
    def credentials(self, side: Side) -> certs.Credentials:
        """The side's certificate and key (certificate authentication)."""
        return certs.credentials(self.seed, side.name, side.address, side.certificate)

    def identity_body(self, side: Side) -> bytes:
        """IDi' / IDr': the certificate's subject (ID_DER_ASN1_DN) or the address (ID_IPV4_ADDR), RFC 7296 3.5."""
        if side.uses_certificate():
            return struct.pack("!BBH", p.ID_DER_ASN1_DN, 0, 0) + self.credentials(side).subject_der
        return p.v2_id_body(side.address)

    def authentication(self, side: Side) -> list[p.Payload]:
        """IDi / IDr, then CERT and CERTREQ (certificates: CERT only from a side that has one), then AUTH.

        AUTH is the shared key MIC with the side's own key, or an RSA signature (method 1) of the
        signed octets with its certificate's key (RFC 7296 2.15). The initiator's request also
        carries, in strongSwan's order (``message.c`` ``ike_auth_i_order``): N(INITIAL_CONTACT)
        after IDi and CERT on a first contact (strongSwan), and IDr before AUTH (strongSwan,
        libreswan: the responder's identity, as configured).
        """
        initiator = side is self.initiator or side.name == self.initiator.name
        ident = (p.V2_IDI if initiator else p.V2_IDR, self.identity_body(side))
        k = self.keys()
        if initiator:
            octets = keys.ikev2_signed_octets(self.prf, self.request, self.nr, k.sk_pi, ident[1])
        else:
            octets = keys.ikev2_signed_octets(self.prf, self.response, self.ni, k.sk_pr, ident[1])
        contact, idr = self._request_extras() if initiator else ([], [])
        if not side.uses_certificate():
            return [ident, *contact, *idr, p.v2_auth(2, keys.ikev2_psk_auth(self.prf, side.psk.encode(), octets))]
        own = self.credentials(side)
        cert = [] if side.certificate == "missing" else [(p.V2_CERT, bytes([p.CERT_X509_SIGNATURE]) + own.der)]
        request = [(p.V2_CERTREQ, certs.ikev2_certificate_request(self.seed))] if initiator else []
        return [ident, *cert, *contact, *request, *idr, p.v2_auth(1, certs.ikev2_signature(own.key, octets))]

    def _request_extras(self) -> tuple[list[p.Payload], list[p.Payload]]:
        """The initiator's N(INITIAL_CONTACT) and IDr, each as a list of none or one payload."""
        profile = self.initiator.profile
        contact = self.first_contact and vendors.sends_initial_contact(profile)
        idr = vendors.sends_responder_identity(profile)
        return ([p.v2_notify(vendors.INITIAL_CONTACT)] if contact else [],
                [(p.V2_IDR, self.identity_body(self.responder))] if idr else [])  # fmt: skip

    def status_notifies(self, side: Side) -> list[p.Payload]:
        """The status notifies ``side`` puts after TSr in its IKE_AUTH message (:mod:`sim.wire.vendors`).

        strongSwan: MOBIKE_SUPPORTED, NO_ADDITIONAL_ADDRESSES and the others of its request;
        its response announces MOBIKE back when the request did.
        """
        request = vendors.ikev2_auth_request_notifies(self.initiator.profile, self.response_extras)
        if side.name == self.initiator.name:
            numbers = request
        else:
            numbers = vendors.ikev2_auth_response_notifies(self.responder.profile, request)
        return [p.v2_notify(number) for number in numbers]

    def child_sa(self, label: str, side: Side) -> p.Payload:
        """An ESP proposal with ``side``'s SPI for child SA ``label``."""
        return p.v2_sa([p.v2_proposal(1, 3, self.child_spi(label, side), _v2_transforms(self.suite, False, True))])

    def child_spi(self, label: str, side: Side) -> bytes:
        """The ESP SPI ``side`` chose for child SA ``label``."""
        return stable_bytes(self.seed, label, side.name, "spi", size=4)

    def sealed(
        self, exchange: str, flags: int, message_id: int, from_initiator: bool, body: Sequence[p.Payload], iv_label: str
    ) -> bytes:
        """A message whose only payload is SK {body}, sealed with the sender's SK_e and SK_a (RFC 7296 3.14)."""
        k = self.keys()
        first, inner = p.chain(body)
        key = k.sk_ei if from_initiator else k.sk_er
        iv_size = GCM_IV if self.gcm else block_size(self.suite.encryption)
        iv = stable_bytes(self.seed, self.label, iv_label, "iv", size=iv_size)
        block = 4 if self.gcm else iv_size
        plain = inner + bytes(-(len(inner) + 1) % block) + bytes([-(len(inner) + 1) % block])
        icv_length = GCM_ICV if self.gcm else IKEV2_INTEGRITY[self.integrity].icv_length
        payload_length = 4 + len(iv) + len(plain) + icv_length
        head = p.header(self.spi_i, self.spi_r, p.V2_SK, 0x20, V2_EXCHANGES[exchange], flags, message_id,
                        28 + payload_length)  # fmt: skip
        generic = struct.pack("!BBH", first, 0, payload_length)
        if self.gcm:
            sealed = AESGCM(key[:-GCM_SALT]).encrypt(key[-GCM_SALT:] + iv, plain, head + generic)
            return head + generic + iv + sealed
        signed = head + generic + iv + _cbc(self.suite.encryption, key, iv, plain)
        alg = IKEV2_INTEGRITY[self.integrity]
        mac = keys.prf(alg.hash, k.sk_ai if from_initiator else k.sk_ar, signed)[: alg.icv_length]
        return signed + mac
