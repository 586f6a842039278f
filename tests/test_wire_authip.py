"""AuthIP on the wire ([MS-AIPS]): every message of every AuthIP run parses, and every encrypted one decrypts.

The decryption here is written from the spec alone, with the ``cryptography`` package's primitives
(SP 800-56A's concatenation KDF, HMAC, AES / 3DES in CBC mode): keys from 3.1.7.4, the Crypto
payload from 2.2.3.2, Auth1 / Auth2 from 3.1.7.4. The only values taken from ikesim are g^xy (its
Diffie-Hellman private keys are not on the wire) and the stand-in GSS-API session keys (no KDC).
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from helpers import authip
from test_fixtures import _seen

from sim import run as sim_run
from sim.library import scenarios
from sim.outputs.pcap import _captures, render
from sim.scenario import load_scenario
from sim.simulator.engine import Simulation
from sim.trace import Recv
from sim.wire import authip as wire_authip

LIBRARY_AUTHIP = [
    s.name for s in scenarios() if any(peer.protocol == "authip" for peer in load_scenario(s.name).peers.values())
]
CRYPTO, GSS_API, GSS_ID, AUTH = 0x85, 0x81, 0x86, 0x87
SA, KE, ID, HASH, NONCE, N, VID = 1, 4, 5, 8, 10, 11, 13
HASHES = {1: hashes.MD5, 2: hashes.SHA1, 4: hashes.SHA256, 5: hashes.SHA384, 6: hashes.SHA512}  # RFC 2409 app. A
ICV = {1: 12, 2: 12, 4: 16, 5: 24, 6: 32}  # [MS-AIPS] 2.2.3.2.1: 12 for MD5 / SHA-1, RFC 4868 2.3 otherwise
KEY_BYTES = {1: 8, 5: 24}  # DES, 3DES; AES from the key-length attribute
NOTIFY_STATUS, NOTIFY_ACK, NOTIFY_QM_SYNCHRONIZE, EXCHANGE_INFO = 0x9C54, 0x9C56, 0x9C57, 0x9C45


def chain(first: int, data: bytes) -> list[tuple[int, bytes]]:
    """The payloads of a chain that must fill ``data`` exactly: (type, body) each."""
    out, offset, current = [], 0, first
    while current:
        assert offset + 4 <= len(data), "a payload header runs past the data"
        following, reserved, length = struct.unpack_from("!BBH", data, offset)
        assert reserved == 0 and length >= 4 and offset + length <= len(data)
        out.append((current, data[offset + 4 : offset + length]))
        offset, current = offset + length, following
    assert offset == len(data), f"{len(data) - offset} bytes after the last payload"
    return out


def der_length(data: bytes, offset: int = 0) -> int:
    """The end of the DER element at ``offset``, each constructed element's content walked to its end."""
    tag, size_byte = data[offset], data[offset + 1]
    start = offset + 2
    if size_byte & 0x80:
        count = size_byte & 0x7F
        size, start = int.from_bytes(data[start : start + count], "big"), start + count
    else:
        size = size_byte
    end = start + size
    assert end <= len(data)
    if tag & 0x20 and tag != 0x60:  # constructed: its elements fill it
        inner = start
        while inner < end:
            inner = der_length(data, inner)
        assert inner == end
    return end


@dataclass
class Negotiation:
    """What the test derives for one main-mode SA from its clear messages."""

    icookie: bytes
    rcookie: bytes = b""
    ni: bytes = b""
    nr: bytes = b""
    attributes: dict[int, int] = field(default_factory=dict)
    method: int = 2  # the Auth payload's: 2 Kerberos, 4 TLS (2.2.3.4)
    main: dict[int, bytes] = field(default_factory=dict)  # MM1..MM4 as sent
    keys: dict[str, bytes] = field(default_factory=dict)


def transform_attributes(sa_body: bytes) -> dict[int, int]:
    """The TV attributes of the SA payload's first transform (RFC 2408 3.4 to 3.6)."""
    proposals = chain(2, sa_body[8:])
    transforms = chain(3, proposals[0][1][4:])
    attrs, data = {}, transforms[0][1][4:]
    for i in range(0, len(data), 4):
        kind, value = struct.unpack_from("!HH", data, i)
        assert kind & 0x8000
        attrs[kind & 0x7FFF] = value
    return attrs


def derive(neg: Negotiation, z: bytes, gss_secret: bytes) -> None:
    """SKEYID, SKEYID_d / _a / _e by SP 800-56A's concatenation KDF with OtherInfo ([MS-AIPS] 3.1.7.4)."""
    hash_id, enc = neg.attributes[2], neg.attributes[1]
    algorithm = HASHES[hash_id]
    hash_length = algorithm.digest_size
    crypt_length = neg.attributes[14] // 8 if enc == 7 else KEY_BYTES[enc]

    def kdf(pub: bytes, priv: bytes, length: int) -> bytes:
        info = enc.to_bytes(2, "big") + neg.icookie + neg.rcookie + pub + priv
        return ConcatKDFHash(algorithm(), length, info).derive(z)

    skeyid = kdf(neg.ni + neg.nr, gss_secret, hash_length)
    skeyid_d = kdf(neg.ni + neg.nr + b"\x00", skeyid, hash_length)
    skeyid_a = kdf(neg.ni + neg.nr + b"\x01", skeyid_d + skeyid, hash_length)
    skeyid_e = kdf(neg.ni + neg.nr + b"\x02", skeyid_a + skeyid, max(hash_length, crypt_length))
    key = skeyid_e[:crypt_length]
    if enc in (1, 5):  # odd parity for DES and 3DES
        key = bytes(b if bin(b).count("1") % 2 else b ^ 1 for b in key)
    neg.keys = {"skeyid": skeyid, "a": skeyid_a, "e": key}


def mac(neg: Negotiation, key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, HASHES[neg.attributes[2]]())
    h.update(data)
    return h.finalize()


def digest(algorithm: type[hashes.HashAlgorithm], data: bytes) -> bytes:
    h = hashes.Hash(algorithm())
    h.update(data)
    return h.finalize()


def auth(neg: Negotiation, suffix: int) -> bytes:
    """prf(SKEYID, hash(#4 | hash(#3 | sha256(#2 | sha256(#1)))) | suffix) (3.1.7.4)."""
    link = digest(hashes.SHA256, neg.main[1])
    link = digest(hashes.SHA256, neg.main[2] + link)
    link = digest(HASHES[neg.attributes[2]], neg.main[3] + link)
    link = digest(HASHES[neg.attributes[2]], neg.main[4] + link)
    return mac(neg, neg.keys["skeyid"], link + bytes([suffix]))


class Damaged(Exception):
    """The integrity checksum does not match."""


def open_sealed(neg: Negotiation, message: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """Check the checksum, decrypt, check the trailer: (seqNUM, inner payloads) (2.2.3.2.1, RFC 4303 2.4)."""
    assert message[16] == CRYPTO and message[19] == 0x01
    following, _, crypto_length = struct.unpack_from("!BBH", message, 28)
    enc = neg.attributes[1]
    block = 16 if enc == 7 else 8
    assert following == 0 and crypto_length == 8 + block  # 2.2.3.2.3: header, seqNUM and IV only
    seq = int.from_bytes(message[32:36], "big")
    iv = message[36 : 28 + crypto_length]
    icv_length = ICV[neg.attributes[2]]
    body, icv = message[28 + crypto_length : -icv_length], message[-icv_length:]
    zeroed = message[:24] + bytes(4) + message[28:-icv_length]  # the Length field zero (2.2.3.2.1)
    if mac(neg, neg.keys["a"], zeroed)[:icv_length] != icv:
        raise Damaged
    algorithm = algorithms.AES(neg.keys["e"]) if enc == 7 else TripleDES(neg.keys["e"])
    decryptor = Cipher(algorithm, modes.CBC(iv)).decryptor()
    plain = decryptor.update(body) + decryptor.finalize()
    first, pad_length = plain[-1], plain[-2]
    assert plain[-2 - pad_length : -2] == bytes(range(1, pad_length + 1))  # RFC 4303's default padding
    assert pad_length < block
    return seq, chain(first, plain[: -2 - pad_length])


def read_clear(message: bytes) -> tuple[int, bytes, list[tuple[int, bytes]]]:
    """A clear message: (seqNUM, the Crypto payload's IV, the payloads after it) (2.2.3.2.2)."""
    assert message[19] == 0 and message[16] == CRYPTO
    payloads = chain(CRYPTO, message[28:])
    crypto = payloads[0][1]
    assert len(crypto) in (4, 12)
    return int.from_bytes(crypto[:4], "big"), crypto[4:], payloads[1:]


EXPECTED = {  # the payload types each encrypted message carries inside its Crypto payload
    "EM1": [AUTH],
    "EM2": [AUTH, GSS_ID],
    "EM3": [GSS_API],
    "EM4": [GSS_API],
    "QM1": [HASH, ID, ID, SA, NONCE],
    "QM2": [HASH, ID, ID, SA],
    "QM3": [N],
}


def check_run(trace) -> dict[str, list[tuple[str, list[tuple[int, bytes]]]]]:
    """Every AuthIP message of every capture: framing, payloads, keys, checksums, plaintext.

    Returns, per peer, (message, inner payloads) for each message it sent that was encrypted.
    """
    from scapy.layers.inet import UDP

    frames_of, builder = _captures(trace)
    sas = {sa.icookie: sa for sa in builder.sas.values() if isinstance(sa, wire_authip.AuthIPSA)}
    damaged = {(e.peer, e.message, e.t) for e in trace.events if isinstance(e, Recv) and e.corrupted}
    negotiations: dict[bytes, Negotiation] = {}
    sent: dict[str, list[tuple[str, list[tuple[int, bytes]]]]] = defaultdict(list)
    for peer, frames in frames_of.items():
        if trace.peer_facts[peer].protocol != "authip":
            continue
        seen = _seen(trace, peer)
        assert len(frames) == len(seen)
        for frame, (way, t, name) in zip(frames, seen, strict=True):
            message = bytes(frame[UDP].payload)
            assert int.from_bytes(message[24:28], "big") == len(message) and message[17] == 0x10
            bare = name.removeprefix("AuthIP ")
            if way == "received" and (peer, name, t) in damaged:
                neg = negotiations.get(message[:8])
                if neg is not None and neg.keys and message[19] & 1:
                    with pytest.raises((Damaged, AssertionError)):
                        open_sealed(neg, message)
                continue
            exchange = message[18]
            if bare.startswith("MM"):
                assert exchange == 243 and message[20:24] == bytes(4)
                seq, iv, payloads = read_clear(message)
                step = int(bare[2])
                assert seq == (step - 1) // 2 and len(iv) == (8 if step == 4 else 0)  # note <8>
                neg = negotiations.setdefault(message[:8], Negotiation(message[:8]))
                neg.main[step] = message
                kinds = [kind for kind, _ in payloads]
                if step == 1:
                    assert kinds[:3] == [SA, AUTH, NONCE] and kinds[-1] == KE and message[8:16] == bytes(8)
                    neg.ni, neg.method = payloads[2][1], int.from_bytes(payloads[1][1][:2], "big")
                elif step == 2:
                    assert kinds[:5] == [SA, AUTH, NONCE, NONCE, VID] and kinds[-2:] == [GSS_ID, KE]
                    neg.rcookie, neg.nr = message[8:16], payloads[2][1]
                    neg.attributes = transform_attributes(payloads[0][1])
                    assert payloads[-2][1].decode("utf-16-le").endswith("$@ikesim.test")
                    sa = sas[neg.icookie]
                    derive(neg, sa.g_xy(), sa.gss_secret)
                else:
                    ((kind, gss),) = payloads
                    status, flags = struct.unpack_from("!IB", gss)
                    assert kind == GSS_API and status == 0 and flags == (0x01 if step == 3 else 0x10)
                    token = gss[5:]
                    if neg.method == 4:  # TLS: handshake records (RFC 5246 6.2.1)
                        assert token[:3] == b"\x16\x03\x03" and int.from_bytes(token[3:5], "big") == len(token) - 5
                        continue
                    assert token[0] == 0x60 and der_length(token) == len(token)  # GSS framing (RFC 2743 3.1)
                    start = 2 + (token[1] & 0x7F if token[1] & 0x80 else 0)
                    assert token[start : start + 11] == bytes.fromhex("06092a864886f712010202")  # the Kerberos OID
                    assert token[start + 11 : start + 14] == (b"\x01\x00\x6e" if step == 3 else b"\x02\x00\x6f")
                continue
            neg = negotiations[message[:8]]
            if not message[19] & 1:  # a notify before the sender has keys
                assert exchange == 246 and bare == "NOTIFY"
                _, _, payloads = read_clear(message)
                sent[peer].append((bare, payloads))
                continue
            seq, payloads = open_sealed(neg, message)
            kinds = [kind for kind, _ in payloads]
            if bare in EXPECTED:
                assert kinds[: len(EXPECTED[bare])] == EXPECTED[bare], (bare, kinds)
            if bare.startswith("EM"):
                assert exchange == 245 and int.from_bytes(message[20:24], "big") == 1  # 2.2.1
                assert seq == (int(bare[2]) > 2)
            elif bare.startswith("QM"):
                assert exchange == 244 and message[20:24] != bytes(4)
                if bare in ("QM1", "QM2"):
                    assert payloads[0][1] == auth(neg, int(bare[2]))  # HASH(Auth1) / HASH(Auth2)
                else:
                    assert payloads[0][1][:8] == struct.pack("!IBBH", 1, 2, 0, NOTIFY_QM_SYNCHRONIZE)
            else:
                assert exchange == 246 and kinds == [N]
            if way == "sent":
                sent[peer].append((bare, payloads))
    return sent


@pytest.mark.parametrize("name", LIBRARY_AUTHIP)
def test_every_authip_message_of_the_library_parses_and_decrypts_with_keys_derived_from_the_spec(name):
    trace = Simulation(load_scenario(name)).run()
    sent = check_run(trace)
    messages = [bare for peer in sent.values() for bare, _ in peer]
    assert "EM1" in messages  # each of them runs extended mode, encrypted


def test_the_wrong_user_credentials_are_a_reliable_notify_status_13801_encrypted():
    sent = check_run(sim_run("authip-extended-mode-wrong-user-credentials"))
    ((_, payloads),) = [m for m in sent["server"] if m[0] == "NOTIFY"]
    ((kind, body),) = payloads
    assert kind == N  # MM/EM, reliable, NOTIFY_STATUS, ERROR_IPSEC_IKE_AUTH_FAIL:
    assert body == struct.pack("!IBBHI", 1, 1, 1, NOTIFY_STATUS, 13801)


def test_a_machine_authentication_failure_is_a_clear_notify_status_behind_an_empty_crypto_payload():
    sent = check_run(sim_run(authip({"policy": {"psk": "a"}}, {"policy": {"psk": "b"}})))
    ((bare, payloads),) = sent["gateway"]
    assert bare == "NOTIFY" and payloads == [(N, struct.pack("!IBBHI", 1, 1, 1, NOTIFY_STATUS, 13801))]


@pytest.mark.parametrize(
    "proposal",
    [
        {"encryption": "3des", "integrity": "sha1", "dh_group": 2},
        {"encryption": "aes256", "integrity": "sha256", "dh_group": 19},
        {"encryption": "aes128", "integrity": "md5", "dh_group": 14},
    ],
)
def test_other_suites_decrypt_too(proposal):
    policy = {"policy": {"proposals": [proposal], "extended_mode": True}}
    sent = check_run(sim_run(authip(policy, {"policy": {"proposals": [proposal]}})))
    assert [bare for bare, _ in sent["client"]] == ["EM1", "EM3", "QM1", "QM3"]


def test_liveness_checks_and_deletes_are_encrypted_notifies_and_the_ack_names_the_checks_seqnum():
    client = {"policy": {"mm_lifetime": 60, "qm_lifetime": 30, "liveness_interval": 10}}
    trace = sim_run(authip(client, {"policy": {"mm_lifetime": 60, "qm_lifetime": 30}}, limits={"until": 200}))
    sent = check_run(trace)
    keepalive = next(payloads for bare, payloads in sent["client"] if bare == "KEEPALIVE")
    ack = next(payloads for bare, payloads in sent["gateway"] if bare == "KEEPALIVE-ACK")
    assert keepalive[0][1][:8] == struct.pack("!IBBH", 1, 1, 1, EXCHANGE_INFO)  # reliable: it must be acknowledged
    assert ack[0][1][:8] == struct.pack("!IBBH", 1, 1, 0, NOTIFY_ACK)
    deletes = [payloads[0][1] for peer in sent.values() for bare, payloads in peer if bare == "DELETE"]
    assert struct.pack("!IBBHI", 1, 2, 1, NOTIFY_STATUS, 13895) in deletes  # a quick mode: QM_EXPIRED
    assert struct.pack("!IBBHI", 1, 1, 1, NOTIFY_STATUS, 13885) in deletes  # the main mode: MM_EXPIRED


def test_the_keepalive_ack_carries_the_seqnum_of_the_keepalives_crypto_payload():
    from scapy.layers.inet import UDP

    client = {"policy": {"liveness_interval": 10}}
    trace = sim_run(authip(client, None, limits={"until": 40}))
    frames = _captures(trace)[0]["client"]
    named = dict(zip([m for _, _, m in _seen(trace, "client")], frames, strict=True))
    keepalive, ack = (bytes(named[m][UDP].payload) for m in ("AuthIP KEEPALIVE", "AuthIP KEEPALIVE-ACK"))
    (sa,) = _captures(trace)[1].sas.values()
    neg = Negotiation(keepalive[:8], keepalive[8:16], sa.ni, sa.nr, {1: 7, 14: 128, 2: 2})
    derive(neg, sa.g_xy(), sa.gss_secret)
    seq, _ = open_sealed(neg, keepalive)
    _, payloads = open_sealed(neg, ack)
    assert payloads[0][1][8:] == seq.to_bytes(4, "big")


def test_a_certificate_peer_offers_tls_and_its_server_flight_carries_its_real_certificate():
    from scapy.layers.inet import UDP

    both = {"policy": {"auth": "certificate"}}
    trace = sim_run(authip(both, both))
    check_run(trace)
    frames = _captures(trace)[0]["client"]
    mm1, _, mm3, mm4 = (bytes(f[UDP].payload) for f in frames[:4])
    assert read_clear(mm1)[2][1] == (AUTH, struct.pack("!HH", 4, 0))  # TLS
    assert read_clear(mm3)[2][0][1][5:8] == b"\x16\x03\x03"  # a TLS handshake record: ClientHello
    record = read_clear(mm4)[2][0][1][5:]
    assert record[:3] == b"\x16\x03\x03" and int.from_bytes(record[3:5], "big") == len(record) - 5
    hello_length = int.from_bytes(record[6:9], "big")
    certificate = record[5 + 4 + hello_length :]
    assert certificate[0] == 11
    der = certificate[10 : 10 + int.from_bytes(certificate[7:10], "big")]
    assert x509.load_der_x509_certificate(der).subject.rfc4514_string() == "CN=gateway"


def test_the_key_derivation_is_sp800_56a_and_the_auth_proof_the_specs_chain():
    z, info = bytes(range(32)), b"other info"
    assert wire_authip.a_kdf("sha256", z, info, 80) == ConcatKDFHash(hashes.SHA256(), 80, info).derive(z)
    messages = [b"one", b"two", b"three", b"four"]
    expected = digest(hashes.SHA1, b"four" + digest(hashes.SHA1, b"three" + digest(
        hashes.SHA256, b"two" + digest(hashes.SHA256, b"one"))))  # fmt: skip
    h = hmac.HMAC(b"skeyid", hashes.SHA1())
    h.update(expected + b"\x02")
    assert wire_authip.auth_proof("sha1", b"skeyid", messages, b"\x02") == h.finalize()
    assert wire_authip.odd_parity(bytes([0x00, 0x01, 0x03, 0xFE])) == bytes([0x01, 0x01, 0x02, 0xFE])


def test_the_same_seed_gives_the_same_bytes_retransmissions_are_identical_and_another_seed_differs():
    from scapy.layers.inet import UDP

    scenario = load_scenario("authip-damaged-em1")
    first = render(Simulation(scenario).run())
    assert first == render(Simulation(scenario).run())
    other = render(Simulation(scenario.model_copy(update={"seed": 5})).run())
    assert all(first[name] != other[name] for name in first)
    trace = Simulation(scenario).run()
    frames = _captures(trace)[0]["client"]
    em1 = [bytes(f[UDP].payload) for f, (way, _, m) in zip(frames, _seen(trace, "client"), strict=True)
           if way == "sent" and m == "EM1"]  # fmt: skip
    assert len(em1) == 2 and em1[0] == em1[1]
