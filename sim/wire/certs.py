"""Certificates and RSA keys for certificate authentication, generated deterministically from the seed.

A run's public key infrastructure: one root CA every peer trusts ("ikesim Root CA"), a second root
no peer trusts ("ikesim Other Root CA"), and per peer an RSA-2048 key and an X.509 v3 certificate
(``CN=<peer>``, the peer's address as subjectAltName, key usage digitalSignature, extended key
usage serverAuth, clientAuth and ipsecIKE) issued by the first root, or by the second when the
peer's policy says ``certificate = "untrusted"``. A revoked certificate looks like any other:
revocation is a fact of the issuer's CRL, which never travels in IKE.

No library generates an RSA key from a seed: the primes here come from a SHA-256-seeded stream
and Miller-Rabin, then ``cryptography`` builds the key, the certificates (signed with
RSASSA-PKCS1-v1_5 and SHA-256, which is deterministic) and every signature. The same seed, peer
and address give the same bytes on every machine. Keys cost about 0.3 s each, so each is made
once per process (cached), and only when a message needs it: never on the simulation's path.

Signatures as the wire carries them:

* IKEv1 (RFC 2409 5.1, as strongSwan and Windows sign): SIG_I / SIG_R is HASH_I / HASH_R
  padded as PKCS#1 v1.5 type 1 *without* a DigestInfo, then raised to the private exponent.
* IKEv2 (RFC 7296 2.15, authentication method 1): RSASSA-PKCS1-v1_5 with SHA-1 over the signed
  octets.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
ROOT = "ikesim Root CA"  # the root every peer's policy trusts
OTHER_ROOT = "ikesim Other Root CA"  # a root no peer trusts: the issuer of an "untrusted" certificate
# Valid before the virtual clock's zero (2026-01-01, every fixture) and long after: `ikesim serve` runs today.
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2036, 1, 1, tzinfo=UTC)
IPSEC_IKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.17")  # id-kp-ipsecIKE (RFC 4945 5.1.3.12)
CN_MAX = 64  # RFC 5280's upper bound for a common name
_SMALL_PRIMES = math.prod(n for n in range(3, 20000, 2) if all(n % d for d in range(3, math.isqrt(n) + 1, 2)))


def _stream(*parts: object) -> random.Random:
    """A deterministic bit stream: Mersenne Twister seeded with SHA-256 of the parts (getrandbits only)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _probably_prime(n: int, stream: random.Random, rounds: int = 8) -> bool:
    """Miller-Rabin; 8 rounds put the error for 1024-bit candidates far below 2^-100 (FIPS 186-5 B.3.1)."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for i in range(rounds):
        a = 2 if i == 0 else 2 + stream.getrandbits(n.bit_length() - 2) % (n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(stream: random.Random, bits: int) -> int:
    """A prime of exactly ``bits`` bits with its two top bits set (so p*q has 2*bits bits), coprime to e-1."""
    while True:
        n = stream.getrandbits(bits) | (3 << (bits - 2)) | 1
        if math.gcd(n, _SMALL_PRIMES) == 1 and (n - 1) % PUBLIC_EXPONENT and _probably_prime(n, stream):
            return n


@lru_cache(maxsize=64)
def private_key(seed: int, owner: str) -> rsa.RSAPrivateKey:
    """The RSA-2048 key of ``owner`` (a peer's name or a CA's), the same for the same seed."""
    stream = _stream("ikesim rsa", seed, owner)
    p = _prime(stream, KEY_BITS // 2)
    q = _prime(stream, KEY_BITS // 2)
    while q == p:  # pragma: no cover - a 1024-bit collision
        q = _prime(stream, KEY_BITS // 2)
    p, q = max(p, q), min(p, q)
    d = pow(PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:CN_MAX] or "-")])


def _serial(seed: int, owner: str) -> int:
    return int.from_bytes(hashlib.sha256(f"ikesim serial\x1f{seed}\x1f{owner}".encode()).digest()[:16], "big") >> 1


@lru_cache(maxsize=8)
def root_certificate(seed: int, name: str = ROOT) -> x509.Certificate:
    """A self-signed root CA certificate."""
    key = private_key(seed, name)
    subject = _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial(seed, name))
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # keyCertSign, cRLSign


def _peer_usage() -> x509.KeyUsage:
    return x509.KeyUsage(True, False, False, False, False, False, False, False, False)  # digitalSignature


@dataclass(frozen=True)
class Credentials:
    """A peer's certificate, its key, and the root its certificate chains to."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    root: x509.Certificate

    @property
    def der(self) -> bytes:
        """The certificate as a CERT payload carries it (encoding 4, X.509 Certificate - Signature)."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def subject_der(self) -> bytes:
        """The subject's distinguished name in DER: the data of an ID_DER_ASN1_DN identification."""
        return self.certificate.subject.public_bytes()

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the certificate, in hex: what Windows calls the certificate hash."""
        return self.certificate.fingerprint(hashes.SHA1()).hex()

    @property
    def subject(self) -> str:
        """The subject as Windows writes a principal name (``CN=client``)."""
        return self.certificate.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        """The issuing CA's name as Windows writes it."""
        return self.certificate.issuer.rfc4514_string()


@lru_cache(maxsize=256)
def credentials(seed: int, peer: str, address: str, state: str = "valid") -> Credentials:
    """The peer's certificate and key; ``state`` is the policy's ``certificate`` (``untrusted``: the other root)."""
    root_name = OTHER_ROOT if state == "untrusted" else ROOT
    root = root_certificate(seed, root_name)
    key = private_key(seed, peer)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(peer))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(_serial(seed, peer))
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_peer_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, IPSEC_IKE]),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    return Credentials(builder.sign(private_key(seed, root_name), hashes.SHA256()), key, root)


def trusted_root(seed: int) -> x509.Certificate:
    """The root every peer's policy trusts: the CA its certificate requests name."""
    return root_certificate(seed, ROOT)


def ikev1_certificate_request(seed: int) -> bytes:
    """A CR payload's body: encoding 4 and the trusted root's distinguished name (RFC 2408 3.10)."""
    return bytes([4]) + trusted_root(seed).subject.public_bytes()


def ikev2_certificate_request(seed: int) -> bytes:
    """A CERTREQ payload's body: encoding 4 and SHA-1 of the trusted root's public key info (RFC 7296 3.7)."""
    spki = (
        trusted_root(seed)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return bytes([4]) + hashlib.sha1(spki).digest()


def ikev1_signature(key: rsa.RSAPrivateKey, digest: bytes) -> bytes:
    """PKCS#1 v1.5 type 1 padding of the bare hash, no DigestInfo, signed with the private key (RFC 2409 5.1)."""
    numbers = key.private_numbers()
    size = (numbers.public_numbers.n.bit_length() + 7) // 8
    block = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    return pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n).to_bytes(size, "big")


def ikev1_signed_hash(certificate: x509.Certificate, signature: bytes) -> bytes:
    """The hash an IKEv1 signature carries, recovered with the certificate's public key (raises if forged)."""
    public = certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    return public.recover_data_from_signature(signature, padding.PKCS1v15(), None)


def ikev2_signature(key: rsa.RSAPrivateKey, octets: bytes) -> bytes:
    """AUTH method 1's data: RSASSA-PKCS1-v1_5 with SHA-1 over the signed octets (RFC 7296 2.15)."""
    return key.sign(octets, padding.PKCS1v15(), hashes.SHA1())
