"""AuthIP messages as they go on the wire: the Crypto payload, a real key exchange, real keys, real encryption.

Source: [MS-AIPS] "Authenticated Internet Protocol", v31.0 (2024-09-16),
learn.microsoft.com/en-us/openspecs/windows_protocols/ms-aips. Section numbers below are its own.

What the spec fixes and ikesim builds as it says:

- Header (2.2.1): ISAKMP version 1.0, exchange types 243 main mode, 244 quick mode, 245 extended
  mode, 246 notify; only the encryption flag is used; message ID 0 in main mode, 1 in extended mode,
  the quick mode initiator's in quick mode; the first payload is always the Crypto payload (0x85),
  except a NOTIFY_DOS_COOKIE message, which is that notify alone (2.2.3.2).
- Crypto payload in clear (2.2.3.2.2, 2.2.3.2.3): generic header whose Next Payload is the first
  clear payload and whose length is 4 + 4 + the IV's, seqNUM, and an 8-byte IV that Windows adds
  once its GSS-API exchange is done (note <8>: the responder's MM4 here); the payloads follow it.
- Crypto payload encrypted (2.2.3.2.1, 2.2.3.2.3): built like ESP (RFC 4303) without an SPI:
  Next Payload 0 and length 4 + 4 + the IV's in its generic header, seqNUM, an IV of the cipher's
  block (random, RFC 4303 2.3), then the CBC ciphertext of payloads | Padding | Pad_Length |
  Next_Payload (the padding is RFC 4303 2.4's default 1, 2, 3, ...), then the integrity checksum:
  the HMAC of the negotiated hash over the message from the ISAKMP header to the checksum, computed
  with the header's Length set to zero, 12 bytes for MD5 and SHA-1, RFC 4868 2.3's length otherwise.
- seqNUM (3.1.1): one counter per exchange type per main-mode SA, from zero, one step per exchange
  (a request and its answer share it). NOTIFY_ACK's data is the seqNUM it acknowledges (3.1.5.1).
- Payloads (2.2.3): GSS-API 0x81 (status, flags, token), GSS_ID 0x86 (a principal name in
  UTF-16LE), Auth 0x87 (methods: 2 Kerberos, 3 anonymous, 4 TLS, 5 NTLM), and the notify whose
  IKEv1 SPI-size byte is a Flags byte (RELIABLE_NOTIFY_FLAG) with no SPI (2.2.3.5). No Delete,
  Certificate or Signature payload: a deletion is a reliable NOTIFY_STATUS (2.2.3.5, 3.1.7).
- Messages: MM1 = SA, Auth, Ni, VIDs, KE (3.2.4); MM2 = SA, Auth, Nr, Nr(qm), VIDs, GSS_ID, KE
  (3.3.5.1); MM3 / MM4 = the GSS-API exchange, in clear (3.8.7.1, 3.9.5.1); QM1 = HASH(Auth1),
  IDi, IDr, SA, Ni(qm) (3.4.7.3); QM2 = HASH(Auth2), IDi, IDr, SA (3.5.5.1); QM3 = NOTIFY_QM_SYNCHRONIZE
  in exchange 244 (3.4.5.1, 3.5.5.2); EM1 = Auth (3.6.7.1); EM2 = Auth, GSS_ID (3.7.5.1); errors a
  reliable NOTIFY_STATUS carrying the Windows status (3.3.5.3, 3.4.7.1, 3.5.7.1).
- Keys (3.1.7.4): A-KDF is SP 800-56A's concatenation KDF (5.8.1) with the main-mode hash:
  K(i) = hash(counter_i | Z | OtherInfo), counter a 32-bit big-endian count from 1; OtherInfo =
  AlgorithmID | PartyUInfo | PartyVInfo | SuppPubInfo | SuppPrivInfo with AlgorithmID the 16-bit
  Crypto-ID (RFC 2409 appendix A: 1 DES, 5 3DES, 7 AES-CBC), PartyUInfo CKY-I, PartyVInfo CKY-R.
  Z = g^xy. SKEYID = A-KDF(Z, OtherInfo(Ni | Nr, GSS-APIsecret), hashLength); SKEYID_d with
  (Ni | Nr | 0x00, SKEYID); SKEYID_a with (Ni | Nr | 0x01, SKEYID_d | SKEYID); SKEYID_e with
  (Ni | Nr | 0x02, SKEYID_a | SKEYID) and max(hashLength, cryptLength) bytes; SKEYID_em with
  (Ni | Nr, GSS-APIsecret_em). DES and 3DES keys get odd parity. Auth1 = prf(SKEYID, hash(#4 |
  hash(#3 | sha256(#2 | sha256(#1)))) | 0x01), Auth2 the same with 0x02 (prf is the HMAC of the hash).

Assumptions, where the spec is silent, self-contradictory or cannot be real here:

- Stand-in GSS-API tokens (there is no KDC and no TLS stack): a peer authenticating with a
  pre-shared key or EAP offers Kerberos (2); its tokens are RFC 1964 / RFC 2743 3.1 framed
  (0x60, the Kerberos OID, TOK_ID 01 00 or 02 00) around a DER KRB_AP_REQ / KRB_AP_REP of the
  real structure (RFC 4120 5.5.1, 5.5.2: pvno 5, realm ``IKESIM.TEST``, service ``host/<peer>``,
  etype 18) whose ciphertexts are bytes from the seed, of the sizes Windows' tickets have. A
  certificate peer offers TLS (4); its tokens are TLS 1.2 handshake records (RFC 5246 7.4): a
  ClientHello, then ServerHello, the responder's real certificate and ServerHelloDone; the rest of
  the handshake, which ikesim's two messages do not model, is not rendered. GSS-APIsecret and
  GSS-APIsecret_em, the session keys those exchanges would yield, are 32 bytes from the seed.
- Encryption key: the first cryptLength bytes of SKEYID_e; integrity key: SKEYID_a, in both
  directions (the spec names SKEYID_e for protecting and SKEYID_a for authenticating messages,
  not the slicing). Ni and Nr in OtherInfo are the nonce payloads' bodies; #1..#4 in Auth1 are
  the main-mode messages as sent, from the ISAKMP header on. Auth1's printed formula lacks the
  ``hash`` before ``(#3 | ...``; Auth2's form is used for both.
- Diffie-Hellman: 3.2.4 sends KE only for anonymous and NTLM, but Windows' AuthIP policies carry a
  group (IKEEXT_PROPOSAL0.dhGroup; IKEEXT_DH_GROUP_NONE is AuthIP's no-DH choice), and ikesim's
  model exchanges KE in MM1 / MM2: the group is the policy's, Z is real.
- SA payload: RFC 2408's, whose transforms carry encryption (with key length), hash, group, life
  type and duration, the attributes 3.1.1 lists; the authentication method is the Auth payload's.
  The ESP proposal is transport mode (Windows host-to-host); its suite is the main mode's. The
  first quick mode's Nr(qm) travels in MM2 (3.3.5.1); a later quick mode's QM2 carries its own.
- Vendor IDs: from the list note <3> gives for Windows' AuthIP: MS NT5 ISAKMPOAKLEY 9,
  FRAGMENTATION, MS-Negotiation Discovery Capable, GSSAPI when Kerberos is offered, and
  Vid-Initial-Contact in MM1 only (a ``custom`` profile sends none). The RFC 3947 VID and the
  NAT-D payloads that 3.2.4 recommends are not sent: the spec does not say which hash NAT-D uses
  before a hash is negotiated, and ikesim models no NAT.
- ikesim's model orders main mode, extended mode, then quick mode, and its trace names four
  extended-mode messages. The spec runs the first quick mode inside the main-mode exchange (243)
  before extended mode and ends extended mode with HASH(Auth3) / HASH(Auth4). Here every quick
  mode uses 244 (``exchange_of`` maps a message name to one exchange type), EM3 / EM4 carry the
  user's GSS-API exchange in 245 with message ID 1, encrypted under the main-mode SA (3.8 / 3.9
  describe GSS-API messages with the main-mode header only; 3.6.5.1 and 3.7.5.1 disagree on EM2),
  and Auth3 / Auth4, NOTIFY_ACKs of errors, and the reply to QM3 are not rendered (no trace event).
- Notifies: a trace's IKEv1 notify names become one NOTIFY_STATUS whose data is the Windows status
  in network byte order (2.1): MS_NOTIFY_STATUS's value, else 13801 for AUTHENTICATION-FAILED,
  13802 for NO-PROPOSAL-CHOSEN, 13843 for PAYLOAD-MALFORMED, 13804 otherwise; COOKIE becomes
  NOTIFY_DOS_COOKIE. A deletion is NOTIFY_STATUS 13885 (main mode) or 13895 (quick mode). The spec
  has no liveness check: ikesim's KEEPALIVE is a reliable EXCHANGE_INFO (flags 0), its
  KEEPALIVE-ACK the NOTIFY_ACK 3.1.5.1 requires. Notifies are encrypted once the sender has keys.

Everything random (cookies, nonces, IVs, Diffie-Hellman private keys, SPIs, stand-in tokens and
secrets) derives from the seed, the SA and the peer (:func:`stable_bytes`), so the same seed gives
the same bytes; keys are computed once per SA, only when a message needs them.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from sim.wire import certs, dh, keys, vendors
from sim.wire import payloads as p
from sim.wire.keys import DIGEST_SIZES, HashName
from sim.wire.messages import (
    ESP_TRANSFORMS,
    KEY_LENGTHS,
    NOTIFY_NUMBERS,
    V1_ENCRYPTION,
    V1_HASHES,
    Side,
    Suite,
    block_size,
    cbc_encrypt,
    esp_v1_attributes,
    notifies,
    stable_bytes,
)

EXCHANGES: Mapping[str, int] = MappingProxyType({"MM": 243, "QM": 244, "EM": 245, "INFO": 246})  # 2.2.1
FLAG_ENCRYPTION = 0x01  # RFC 2408 3.1, the only flag AuthIP uses (2.2.1)
TRANSPORT = 2  # ESP encapsulation mode (RFC 2407 4.5): AuthIP protects host to host
EM_MESSAGE_ID = 1  # 2.2.1 and 3.1.5
CRYPTO_CLEAR_IV = 8  # note <8>: Windows' IV in a clear Crypto payload

# Auth payload methods (2.2.3.4) and GSS-API payload flags (2.2.3.1).
AUTH_KERBEROS, AUTH_ANONYMOUS, AUTH_TLS, AUTH_NTLM = 2, 3, 4, 5
GSS_NEW_GSS_EXCHANGE, GSS_RESPONDER_AUTH_COMPLETE = 0x01, 0x10

# Notify payload (2.2.3.5): Protocol-ID, flags, message types.
NOTIFY_MM, NOTIFY_QM = 1, 2
RELIABLE_NOTIFY_FLAG = 0x01
EXCHANGE_INFO, NOTIFY_STATUS, NOTIFY_DOS_COOKIE, NOTIFY_ACK, NOTIFY_QM_SYNCHRONIZE = (
    0x9C45,
    0x9C54,
    0x9C55,
    0x9C56,
    0x9C57,
)

GSSAPI_VID = bytes.fromhex("621b04bb09882ac1e15935fefa24aeee")  # MD5("GSSAPI"), note <3>
ICV_LENGTHS: Mapping[str, int] = MappingProxyType({"md5": 12, "sha1": 12, "sha256": 16, "sha384": 24, "sha512": 32})

# Windows statuses (ERROR_IPSEC_IKE_*) for the IKEv1 notify numbers a trace detail may name.
AUTH_FAIL, ATTRIB_FAIL, GENERAL_PROCESSING_ERROR, INVALID_PAYLOAD = 13801, 13802, 13804, 13843
MM_EXPIRED, QM_EXPIRED = 13885, 13895
STATUS_OF_NOTIFY: Mapping[int, int] = MappingProxyType({24: AUTH_FAIL, 14: ATTRIB_FAIL, 16: INVALID_PAYLOAD})

REALM = "IKESIM.TEST"
KRB5_OID = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2 (RFC 1964 1)
AES256_CTS_HMAC_SHA1_96 = 18  # the Kerberos etype of Windows' tickets (RFC 3962)


# --- keys ---------------------------------------------------------------------------------------


def crypto_id(encryption: str) -> int:
    """Crypto-ID: the main-mode cipher's RFC 2409 appendix A number (AES-CBC 7), AlgorithmID of OtherInfo."""
    return V1_ENCRYPTION.get(encryption, 7)


def other_info(algorithm_id: int, cky_i: bytes, cky_r: bytes, pub: bytes, priv: bytes) -> bytes:
    """OtherInfo = AlgorithmID | PartyUInfo | PartyVInfo | pubInfo | privInfo (3.1.7.4), AlgorithmID in 16 bits."""
    return algorithm_id.to_bytes(2, "big") + cky_i + cky_r + pub + priv


def a_kdf(name: HashName, z: bytes, info: bytes, length: int) -> bytes:
    """A-KDF (3.1.7.4): SP 800-56A 5.8.1, hash(counter | Z | OtherInfo) for counter 1, 2, ... in 32 bits."""
    out = b""
    counter = 1
    while len(out) < length:
        out += keys.digest(name, counter.to_bytes(4, "big") + z + info)
        counter += 1
    return out[:length]


def odd_parity(key: bytes) -> bytes:
    """DES / 3DES key bytes with odd parity: an even count of one bits flips the least significant (3.1.7.4)."""
    return bytes(b ^ 1 if bin(b).count("1") % 2 == 0 else b for b in key)


@dataclass(frozen=True, slots=True)
class AuthIPKeys:
    """A main-mode SA's keying material (3.1.7.4) and the two keys that protect its messages."""

    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes
    skeyid_em: bytes
    encryption_key: bytes  # the first cryptLength bytes of SKEYID_e (odd parity for DES and 3DES)
    integrity_key: bytes  # SKEYID_a


def derive_keys(
    name: HashName,
    encryption: str,
    z: bytes,
    ni: bytes,
    nr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    gss_secret: bytes,
    gss_secret_em: bytes,
) -> AuthIPKeys:
    """SKEYID, SKEYID_d, SKEYID_a, SKEYID_e and SKEYID_em by A-KDF (3.1.7.4), and the message keys.

    ``z`` is g^xy (empty without Diffie-Hellman); ``ni`` / ``nr`` the nonce payloads' bodies.
    """
    hash_length, crypt_length = DIGEST_SIZES[name], KEY_LENGTHS[encryption]

    def kdf(pub: bytes, priv: bytes, length: int) -> bytes:
        return a_kdf(name, z, other_info(crypto_id(encryption), cky_i, cky_r, pub, priv), length)

    skeyid = kdf(ni + nr, gss_secret, hash_length)
    skeyid_d = kdf(ni + nr + b"\x00", skeyid, hash_length)
    skeyid_a = kdf(ni + nr + b"\x01", skeyid_d + skeyid, hash_length)
    skeyid_e = kdf(ni + nr + b"\x02", skeyid_a + skeyid, max(hash_length, crypt_length))
    skeyid_em = kdf(ni + nr, gss_secret_em, hash_length)
    key = skeyid_e[:crypt_length]
    if encryption in ("des", "3des"):
        key = odd_parity(key)
    return AuthIPKeys(skeyid, skeyid_d, skeyid_a, skeyid_e, skeyid_em, key, skeyid_a)


def auth_proof(name: HashName, skeyid: bytes, messages: Sequence[bytes], suffix: bytes) -> bytes:
    """Auth1 (suffix 0x01) / Auth2 (0x02) = prf(SKEYID, hash(#4 | hash(#3 | sha256(#2 | sha256(#1)))) | suffix).

    The first two links are SHA-256, the hash not being negotiated yet (3.1.7.4).
    """
    chain = b""
    for i, message in enumerate(messages):
        chain = keys.digest("sha256" if i < 2 else name, message + chain)
    return keys.prf(name, skeyid, chain + suffix)


# --- framing ------------------------------------------------------------------------------------


def clear_message(
    icookie: bytes, rcookie: bytes, exchange: int, message_id: int, seq: int, payloads: Sequence[p.Payload],
    iv: bytes = b"",
) -> bytes:  # fmt: skip
    """A message in clear: header, an empty Crypto payload (seqNUM, optional IV), the payloads (2.2.3.2.2)."""
    first, body = p.chain(payloads)
    crypto = struct.pack("!BBHI", first, 0, 8 + len(iv), seq) + iv
    length = 28 + len(crypto) + len(body)
    return p.header(icookie, rcookie, p.AIP_CRYPTO, 0x10, exchange, 0, message_id, length) + crypto + body


def sealed_message(
    icookie: bytes,
    rcookie: bytes,
    exchange: int,
    message_id: int,
    seq: int,
    payloads: Sequence[p.Payload],
    *,
    encryption: str,
    key: bytes,
    integrity: HashName,
    integrity_key: bytes,
    iv: bytes,
) -> bytes:
    """A message whose payloads are encrypted in the Crypto payload, with its integrity checksum (2.2.3.2.1)."""
    first, body = p.chain(payloads)
    pad = -(len(body) + 2) % block_size(encryption)
    ciphertext = cbc_encrypt(encryption, key, iv, body + bytes(range(1, pad + 1)) + bytes([pad, first]))
    crypto = struct.pack("!BBHI", 0, 0, 8 + len(iv), seq) + iv
    icv_length = ICV_LENGTHS[integrity]
    zeroed = p.header(icookie, rcookie, p.AIP_CRYPTO, 0x10, exchange, FLAG_ENCRYPTION, message_id, 0)
    icv = keys.prf(integrity, integrity_key, zeroed + crypto + ciphertext)[:icv_length]
    length = 28 + len(crypto) + len(ciphertext) + icv_length
    return zeroed[:24] + length.to_bytes(4, "big") + crypto + ciphertext + icv


# --- stand-in GSS-API tokens ----------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _field(number: int, content: bytes) -> bytes:
    return _der(0xA0 + number, content)


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _string(text: str) -> bytes:
    return _der(0x1B, text.encode())  # KerberosString, a GeneralString (RFC 4120 5.2.1)


def _encrypted_data(cipher: bytes, kvno: int | None = None) -> bytes:
    version = _field(1, _integer(kvno)) if kvno is not None else b""
    return _seq(_field(0, _integer(AES256_CTS_HMAC_SHA1_96)), version, _field(2, _der(0x04, cipher)))


def kerberos_ap_req(service_host: str, ticket_cipher: bytes, authenticator_cipher: bytes) -> bytes:
    """A stand-in Kerberos initiator token: GSS framing (RFC 2743 3.1, RFC 1964 1.1.1) around a KRB_AP_REQ.

    The structure is RFC 4120 5.5.1's (mutual-required, a ticket for ``host/<service_host>``);
    the ciphertexts are the caller's opaque bytes: no KDC issued them.
    """
    sname = _seq(_field(0, _integer(2)), _field(1, _seq(_string("host"), _string(service_host))))
    ticket = _der(0x61, _seq(_field(0, _integer(5)), _field(1, _string(REALM)), _field(2, sname),
                             _field(3, _encrypted_data(ticket_cipher, 2))))  # fmt: skip
    ap_req = _der(0x6E, _seq(_field(0, _integer(5)), _field(1, _integer(14)), _field(2, _der(0x03, b"\x00\x20\0\0\0")),
                             _field(3, ticket), _field(4, _encrypted_data(authenticator_cipher))))  # fmt: skip
    return _der(0x60, KRB5_OID + b"\x01\x00" + ap_req)


def kerberos_ap_rep(cipher: bytes) -> bytes:
    """A stand-in Kerberos responder token: GSS framing around a KRB_AP_REP (RFC 4120 5.5.2), opaque ciphertext."""
    ap_rep = _der(0x6F, _seq(_field(0, _integer(5)), _field(1, _integer(15)), _field(2, _encrypted_data(cipher))))
    return _der(0x60, KRB5_OID + b"\x02\x00" + ap_rep)


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _record(handshakes: bytes) -> bytes:
    return b"\x16\x03\x03" + struct.pack("!H", len(handshakes)) + handshakes  # a TLS 1.2 handshake record


TLS_SUITES = (0xC02F, 0xC030, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035)  # ECDHE-RSA / RSA with AES


def tls_client_hello(random: bytes) -> bytes:
    """A stand-in TLS initiator token: one record with a TLS 1.2 ClientHello (RFC 5246 7.4.1.2)."""
    suites = b"".join(struct.pack("!H", s) for s in TLS_SUITES)
    hello = b"\x03\x03" + random + b"\x00" + struct.pack("!H", len(suites)) + suites + b"\x01\x00"  # no compression
    return _record(_handshake(1, hello))


def tls_server_flight(random: bytes, certificate: bytes) -> bytes:
    """A stand-in TLS responder token: ServerHello, Certificate (the real DER) and ServerHelloDone (RFC 5246 7.4)."""
    hello = _handshake(2, b"\x03\x03" + random + b"\x00" + struct.pack("!H", TLS_SUITES[0]) + b"\x00")
    chain = len(certificate).to_bytes(3, "big") + certificate
    return _record(hello + _handshake(11, len(chain).to_bytes(3, "big") + chain) + _handshake(14, b""))


# --- the SA -------------------------------------------------------------------------------------


def _attributes(suite: Suite, lifetime: int) -> bytes:
    out = p.attribute(1, crypto_id(suite.encryption))
    if suite.encryption.startswith("aes"):
        out += p.attribute(14, KEY_LENGTHS[suite.encryption] * 8)
    out += p.attribute(2, V1_HASHES[suite.integrity]) + p.attribute(4, suite.dh_group)
    return out + p.attribute(11, 1) + p.attribute(12, lifetime)


class AuthIPSA:
    """One AuthIP main-mode SA and the exchanges under it, built as both peers would send them."""

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
    ) -> None:
        self.seed, self.label = seed, label
        self.icookie, self.rcookie = icookie, rcookie
        self.initiator, self.responder = initiator, responder
        self.offers, self.chosen = tuple(offers), chosen
        self.suite = self.offers[chosen if chosen is not None else 0]
        self.lifetime, self.qm_lifetime = lifetime, qm_lifetime
        self.hash: HashName = self.suite.integrity  # type: ignore[assignment]
        self.block = block_size(self.suite.encryption)
        self.ni = stable_bytes(seed, label, initiator.name, "nonce", size=32)
        self.nr = stable_bytes(seed, label, responder.name, "nonce", size=32)
        self.nr_qm = stable_bytes(seed, label, responder.name, "qm-nonce", size=32)  # MM2's Nr(qm) (3.3.5.1)
        self.kex = dh.KeyExchange(stable_bytes(seed, label, "dh", size=32))  # both sides' DH, from the seed
        self.gss_secret = stable_bytes(seed, label, "GSS-APIsecret", size=32)  # stand-in session keys
        self.gss_secret_em = stable_bytes(seed, label, "GSS-APIsecret_em", size=32)
        self.method = AUTH_TLS if initiator.uses_certificate() else AUTH_KERBEROS
        self._keys: AuthIPKeys | None = None
        self._built: dict[tuple[str, str, int], bytes] = {}
        self._ordinals: dict[str, dict[str, int]] = {"QM": {}, "EM": {}}
        self._info_seq: dict[tuple[str, str, str, int], int] = {}
        self._keepalive_seq: dict[int, int] = {}
        self._first_quick_mode: str | None = None

    # keys
    def public(self, side: Side) -> bytes:
        """The side's key exchange data in the chosen group."""
        return self.kex.public(self.suite.dh_group, side.name)

    def g_xy(self) -> bytes:
        """The Diffie-Hellman shared secret, Z of the key derivation, computed once."""
        return self.kex.shared(self.suite.dh_group, self.initiator.name, self.responder.name)

    def keys(self) -> AuthIPKeys:
        """The SA's keying material (3.1.7.4), computed once; both peers derive the same."""
        if self._keys is None:
            self._keys = derive_keys(self.hash, self.suite.encryption, self.g_xy(), self.ni, self.nr, self.icookie,
                                     self.rcookie, self.gss_secret, self.gss_secret_em)  # fmt: skip
        return self._keys

    @property
    def keyed(self) -> bool:
        """True once a message needed the keys."""
        return self._keys is not None

    def _sealed(self, exchange: str, message_id: int, seq: int, payloads: Sequence[p.Payload], iv_label: str) -> bytes:
        k = self.keys()
        iv = stable_bytes(self.seed, self.label, iv_label, "iv", size=self.block)
        return sealed_message(self.icookie, self.rcookie, EXCHANGES[exchange], message_id, seq, payloads,
                              encryption=self.suite.encryption, key=k.encryption_key, integrity=self.hash,
                              integrity_key=k.integrity_key, iv=iv)  # fmt: skip

    def _ordinal(self, kind: str, label: str) -> int:
        """The exchange's place among its SA's quick or extended modes, in the order they were built."""
        found = self._ordinals[kind]
        return found.setdefault(label, len(found))

    # main mode
    def vendor_ids(self, side: Side, first: bool) -> list[p.Payload]:
        """The VIDs of note <3> that a Windows AuthIP peer announces; none for a ``custom`` profile."""
        if side.profile == "custom":
            return []
        vids = [vendors.MS_NT5_V9, vendors.FRAGMENTATION, vendors.MS_NEGOTIATION_DISCOVERY]
        vids += [GSSAPI_VID] if self.method == AUTH_KERBEROS else []
        vids += [vendors.VID_INITIAL_CONTACT] if first else []
        return [p.v1_vendor_id(vid) for vid in vids]

    def main_mode(self, step: int) -> bytes:
        """MM1..MM4: the first exchange (SA, Auth, nonces, VIDs, GSS_ID, KE), then the GSS-API exchange, in clear."""
        key = ("MM", "", step)
        if key not in self._built:
            self._built[key] = self._main_mode(step)
        return self._built[key]

    def _main_mode(self, step: int) -> bytes:
        mm = EXCHANGES["MM"]
        if step == 1:
            transforms = [p.v1_transform(i + 1, 1, _attributes(s, self.lifetime)) for i, s in enumerate(self.offers)]
            body = [p.v1_sa([p.v1_proposal(1, 1, b"", transforms)]), p.aip_auth([self.method]), (p.V1_NONCE, self.ni),
                    *self.vendor_ids(self.initiator, True), (p.V1_KE, self.public(self.initiator))]  # fmt: skip
            return clear_message(self.icookie, bytes(8), mm, 0, 0, body)
        if step == 2:
            index = self.chosen if self.chosen is not None else 0
            transform = p.v1_transform(index + 1, 1, _attributes(self.suite, self.lifetime))
            sa = p.v1_sa([p.v1_proposal(1, 1, b"", [transform])])
            body = [sa, p.aip_auth([self.method]), (p.V1_NONCE, self.nr), (p.V1_NONCE, self.nr_qm),
                    *self.vendor_ids(self.responder, False), p.aip_gss_id(self.principal(self.responder)),
                    (p.V1_KE, self.public(self.responder))]  # fmt: skip
            return clear_message(self.icookie, self.rcookie, mm, 0, 0, body)
        if step == 3:
            token = self.initiator_token("MM")
            return clear_message(self.icookie, self.rcookie, mm, 0, 1, [p.aip_gss_api(0, GSS_NEW_GSS_EXCHANGE, token)])
        token = self.responder_token("MM")
        iv = stable_bytes(self.seed, self.label, "MM4", "iv", size=CRYPTO_CLEAR_IV)  # note <8>: GSS-API done
        gss = p.aip_gss_api(0, GSS_RESPONDER_AUTH_COMPLETE, token)
        return clear_message(self.icookie, self.rcookie, mm, 0, 1, [gss], iv)

    def principal(self, side: Side) -> str:
        """A machine's security principal name, ``machinename$@domainname`` (1.1)."""
        return f"{side.name}$@{REALM.lower()}"

    def initiator_token(self, mode: str) -> bytes:
        """The stand-in first GSS-API token of main mode (the machine's) or extended mode (the user's)."""
        stream = stable_bytes(self.seed, self.label, mode, "gss-initiator", size=1296)
        if self.method == AUTH_TLS:
            return tls_client_hello(stream[:32])
        return kerberos_ap_req(f"{self.responder.name}.{REALM.lower()}", stream[:1136], stream[1136:])

    def responder_token(self, mode: str) -> bytes:
        """The stand-in GSS-API token that completes the responder's side (AP-REP, or the TLS server flight)."""
        stream = stable_bytes(self.seed, self.label, mode, "gss-responder", size=112)
        if self.method == AUTH_TLS:
            own = certs.credentials(self.seed, self.responder.name, self.responder.address, self.responder.certificate)
            return tls_server_flight(stream[:32], own.der)
        return kerberos_ap_rep(stream)

    def auth(self, suffix: int) -> bytes:
        """Auth1 (1) or Auth2 (2) over MM1..MM4 as sent (3.1.7.4)."""
        messages = [self.main_mode(step) for step in (1, 2, 3, 4)]
        return auth_proof(self.hash, self.keys().skeyid, messages, bytes([suffix]))

    # extended mode
    def extended(self, label: str, step: int) -> bytes:
        """EM1 (Auth), EM2 (Auth, GSS_ID), EM3 / EM4 (the user's GSS-API exchange), encrypted, message ID 1."""
        key = ("EM", label, step)
        if key not in self._built:
            seq = 2 * self._ordinal("EM", label) + int(step > 2)
            body: list[p.Payload]
            if step == 1:
                body = [p.aip_auth([AUTH_KERBEROS])]
            elif step == 2:
                body = [p.aip_auth([AUTH_KERBEROS]), p.aip_gss_id(self.principal(self.responder))]
            elif step == 3:
                body = [p.aip_gss_api(0, GSS_NEW_GSS_EXCHANGE, self._user_token(label))]
            else:
                stream = stable_bytes(self.seed, label, "gss-responder", size=112)
                body = [p.aip_gss_api(0, GSS_RESPONDER_AUTH_COMPLETE, kerberos_ap_rep(stream))]
            self._built[key] = self._sealed("EM", EM_MESSAGE_ID, seq, body, f"{label}|EM{step}")
        return self._built[key]

    def _user_token(self, label: str) -> bytes:
        stream = stable_bytes(self.seed, label, "gss-initiator", size=1296)
        return kerberos_ap_req(f"{self.responder.name}.{REALM.lower()}", stream[:1136], stream[1136:])

    # quick mode
    def quick(self, label: str, step: int, qm_initiator: Side, qm_responder: Side, message_id: int) -> bytes:
        """QM1 (HASH(Auth1), IDi, IDr, SA, Ni(qm)), QM2 (HASH(Auth2), IDi, IDr, SA), QM3 (NOTIFY_QM_SYNCHRONIZE)."""
        key = ("QM", label, step)
        if key not in self._built:
            if self._first_quick_mode is None:
                self._first_quick_mode = label
            seq = 2 * self._ordinal("QM", label) + int(step == 3)
            ids = [p.v1_id_ipv4(qm_initiator.address), p.v1_id_ipv4(qm_responder.address)]
            body: list[p.Payload]
            if step == 3:
                body = [p.aip_notify(NOTIFY_QM, 0, NOTIFY_QM_SYNCHRONIZE)]
            else:
                sender = qm_initiator if step == 1 else qm_responder
                body = [(p.V1_HASH, self.auth(step)), *ids, self.esp_sa(label, sender)]
                if step == 1:
                    body.append((p.V1_NONCE, stable_bytes(self.seed, label, qm_initiator.name, "nonce", size=32)))
                elif label != self._first_quick_mode:  # the first quick mode's Nr(qm) went in MM2
                    body.append((p.V1_NONCE, stable_bytes(self.seed, label, qm_responder.name, "nonce", size=32)))
            self._built[key] = self._sealed("QM", message_id, seq, body, f"{label}|QM{step}")
        return self._built[key]

    def esp_sa(self, label: str, side: Side) -> p.Payload:
        """The ESP proposal (transport mode, the main mode's suite) with ``side``'s SPI."""
        transform = p.v1_transform(1, ESP_TRANSFORMS.get(self.suite.encryption, 12),
                                   esp_v1_attributes(self.suite, self.qm_lifetime, TRANSPORT))  # fmt: skip
        return p.v1_sa([p.v1_proposal(1, 3, self.esp_spi(label, side), [transform])])

    def esp_spi(self, label: str, side: Side) -> bytes:
        """The ESP SPI ``side`` chose in quick mode ``label``."""
        return stable_bytes(self.seed, label, side.name, "spi", size=4)

    # notify exchange
    def informational(self, sender: Side, sa: str, name: str, n: int, detail: str, encrypted: bool) -> bytes:
        """The ``n``-th notify message ``name`` (NOTIFY, DELETE, KEEPALIVE, KEEPALIVE-ACK) of ``sender`` on ``sa``.

        Encrypted once the sender has keys, else in clear behind an empty Crypto payload; a
        NOTIFY_DOS_COOKIE alone, without a Crypto payload (2.2.3.2).
        """
        message_id = int.from_bytes(stable_bytes(self.seed, sa, sender.name, name, n, size=4), "big") or 1
        protocol = NOTIFY_QM if sa.startswith("QM") else NOTIFY_MM
        said = notifies(detail)
        if name == "NOTIFY" and any(number == NOTIFY_NUMBERS["COOKIE"] for number, _ in said):
            cookie = p.aip_notify(protocol, 0, NOTIFY_DOS_COOKIE, self.rcookie)
            return p.message(self.icookie, self.rcookie, 0x10, EXCHANGES["INFO"], 0, message_id, [cookie])
        key = (sender.name, sa, name, n)
        if name == "KEEPALIVE-ACK" and n in self._keepalive_seq:  # the exchange it answers (3.1.5.1)
            seq = self._keepalive_seq[n]
        else:
            seq = self._info_seq.setdefault(key, len(self._info_seq))
        if name == "KEEPALIVE-ACK":  # its data: the seqNUM it acknowledges
            body = [p.aip_notify(NOTIFY_MM, 0, NOTIFY_ACK, seq.to_bytes(4, "big"))]
        else:
            if name == "KEEPALIVE":
                self._keepalive_seq.setdefault(n, seq)
                body = [p.aip_notify(NOTIFY_MM, RELIABLE_NOTIFY_FLAG, EXCHANGE_INFO, bytes(4))]
            else:
                body = [p.aip_notify(protocol, RELIABLE_NOTIFY_FLAG, NOTIFY_STATUS, self.status(name, sa, said))]
        if not encrypted:
            return clear_message(self.icookie, self.rcookie, EXCHANGES["INFO"], message_id, seq, body)
        return self._sealed("INFO", message_id, seq, body, f"{sender.name}|{sa}|{name}|{n}")

    @staticmethod
    def status(name: str, sa: str, said: Sequence[tuple[int, bytes]]) -> bytes:
        """NOTIFY_STATUS's data: the Windows status in network byte order (2.2.3.5, 2.1)."""
        if name == "DELETE":
            return (QM_EXPIRED if sa.startswith("QM") else MM_EXPIRED).to_bytes(4, "big")
        for number, data in said:  # Windows' own status, when the detail carries it
            if number == NOTIFY_NUMBERS["MS_NOTIFY_STATUS"] and len(data) == 4:
                return data
        first = said[0][0] if said else 0
        return STATUS_OF_NOTIFY.get(first, GENERAL_PROCESSING_ERROR).to_bytes(4, "big")
