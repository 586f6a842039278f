"""Known-answer tests of sim.wire: published vectors, and the keys of two real charon negotiations.

Published vectors: RFC 2202 (HMAC-MD5, HMAC-SHA1), RFC 4231 (HMAC-SHA2 and its truncation), RFC 3602
and NIST SP 800-38A F.2 (AES-CBC), RFC 5903 section 8 (ECP groups 19-21), RFC 7748 section 6.1
(X25519), the RFC 3526 formula of the MODP primes. charon: ``tests/data/wire/charon-keys.json`` holds
what two charon 5.9.8 daemons logged (DH shared secrets, derived keys, hashes, IVs) and the datagrams
captured between them; each test derives the same values from the same inputs, taken off the wire,
and opens the real encrypted payloads.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from sim.wire import cipher, dh, keys

DATA = Path(__file__).parent / "data" / "wire" / "charon-keys.json"
CHARON: dict[str, Any] = json.loads(DATA.read_text())
PSK = CHARON["about"]["psk"].encode()


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def logged(version: str, name: str) -> bytes:
    return h(CHARON[version][name]["hex"])


def datagram(version: str, name: str) -> bytes:
    frame = CHARON[version]["datagrams"][name]
    entry = CHARON["datagrams"][frame - 1]
    assert entry["frame"] == frame
    data = h(entry["udp_payload"])
    if entry["src"].endswith(":4500"):  # RFC 3948 non-ESP marker
        assert data[:4] == bytes(4)
        data = data[4:]
    return data


def payloads(first: int, data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of each payload of a chain: the generic header is the same in IKEv1 and IKEv2."""
    out = []
    offset, current = 0, first
    while current:
        nxt, _, length = struct.unpack_from("!BBH", data, offset)
        out.append((current, data[offset + 4 : offset + length]))
        offset += length
        current = nxt
    assert offset == len(data), "trailing bytes after the payload chain"
    return out


def body(found: list[tuple[int, bytes]], kind: int) -> bytes:
    matches = [b for t, b in found if t == kind]
    assert len(matches) == 1, f"payload {kind}: {len(matches)} found"
    return matches[0]


def plain_payloads(message: bytes) -> list[tuple[int, bytes]]:
    return payloads(message[16], message[28:])


# ---------------------------------------------------------------------------------------------------- HMAC


@pytest.mark.parametrize(
    ("name", "key", "data", "expected"),
    [
        # RFC 2202 section 2 (HMAC-MD5) test cases 1, 2, 6
        ("md5", bytes([0x0B]) * 16, b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
        ("md5", b"Jefe", b"what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738"),
        (
            "md5",
            bytes([0xAA]) * 80,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
        ),
        # RFC 2202 section 3 (HMAC-SHA-1) test cases 1, 2, 6
        ("sha1", bytes([0x0B]) * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
        ("sha1", b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (
            "sha1",
            bytes([0xAA]) * 80,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        ),
        # RFC 4231 section 4.2 (test case 1)
        ("sha256", bytes([0x0B]) * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (
            "sha384",
            bytes([0x0B]) * 20,
            b"Hi There",
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
        ),
        (
            "sha512",
            bytes([0x0B]) * 20,
            b"Hi There",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        # RFC 4231 section 4.3 (test case 2: a key shorter than the output)
        (
            "sha256",
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        # RFC 4231 section 4.7 (test case 6: a key longer than the block)
        (
            "sha256",
            bytes([0xAA]) * 131,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ],
)
def test_prf_matches_the_published_hmac_vectors(name: keys.HashName, key: bytes, data: bytes, expected: str) -> None:
    assert keys.prf(name, key, data).hex() == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [  # RFC 4231 section 4.6 (test case 5): HMAC truncated to 128 bits; the IKE ICVs truncate the same way
        (12, "a3b6167473100ee06e0c796c2955552b"),
        (13, "3abf34c3503b2a23a46efc619baef897"),
        (14, "415fad6271580a531d4179bc891d87a6"),
    ],
)
def test_truncated_checksums_start_like_rfc_4231_case_5(number: int, expected: str) -> None:
    alg = cipher.integrity(number)
    key = bytes([0x0C]) * 20
    full = keys.prf(alg.hash, key, b"Test With Truncation")
    assert full[:16].hex() == expected
    assert len(full[: alg.icv_length]) == {12: 16, 13: 24, 14: 32}[number]


def test_checksum_lengths_follow_rfc_2404_and_4868() -> None:
    for number, (key_length, icv) in {1: (16, 12), 2: (20, 12), 12: (32, 16), 13: (48, 24), 14: (64, 32)}.items():
        out = cipher.checksum(number, bytes(key_length), b"x")
        alg = cipher.integrity(number)
        assert len(out) == icv
        assert out == keys.prf(alg.hash, bytes(key_length), b"x")[:icv]
    with pytest.raises(cipher.WireCryptoError):
        cipher.checksum(12, bytes(16), b"x")  # HMAC_SHA2_256_128 takes a 32-byte key (RFC 4868 2.1.1)
    with pytest.raises(cipher.WireCryptoError):
        cipher.integrity(5)


def test_algorithm_tables_follow_the_iana_numbers() -> None:
    assert [keys.ikev1_hash(n) for n in (1, 2, 4, 5, 6)] == ["md5", "sha1", "sha256", "sha384", "sha512"]
    assert [keys.ikev2_prf(n) for n in (1, 2, 5, 6, 7)] == ["md5", "sha1", "sha256", "sha384", "sha512"]
    with pytest.raises(keys.KeyDerivationError):
        keys.ikev2_prf(4)  # PRF_AES128_XCBC: not implemented


def test_prf_plus_chains_and_counts_from_one() -> None:
    # RFC 7296 section 2.13, spelled out: T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02)
    t1 = keys.prf("sha1", b"K", b"S\x01")
    t2 = keys.prf("sha1", b"K", t1 + b"S\x02")
    assert keys.prf_plus("sha1", b"K", b"S", 30) == (t1 + t2)[:30]
    assert len(keys.prf_plus("sha1", b"K", b"S", 255 * 20)) == 255 * 20
    with pytest.raises(keys.KeyDerivationError):
        keys.prf_plus("sha1", b"K", b"S", 255 * 20 + 1)


# ---------------------------------------------------------------------------------------------------- AES-CBC


@pytest.mark.parametrize(
    ("key", "iv", "plaintext", "ciphertext"),
    [
        # RFC 3602 section 4, case 1 and case 2
        (
            "06a9214036b8a15b512e03d534120006",
            "3dafba429d9eb430b422da802c9fac41",
            b"Single block msg".hex(),
            "e353779c1079aeb82708942dbe77181a",
        ),
        (
            "c286696d887c9aa0611bbb3e2025a45a",
            "562e17996d093d28ddb3ba695a2e6f58",
            bytes(range(32)).hex(),
            "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
        ),
        # NIST SP 800-38A F.2.1 (CBC-AES128) and F.2.5 (CBC-AES256), first block
        (
            "2b7e151628aed2a6abf7158809cf4f3c",
            "000102030405060708090a0b0c0d0e0f",
            "6bc1bee22e409f96e93d7e117393172a",
            "7649abac8119b246cee98e9b12e9197d",
        ),
        (
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
            "000102030405060708090a0b0c0d0e0f",
            "6bc1bee22e409f96e93d7e117393172a",
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6",
        ),
    ],
)
def test_aes_cbc_matches_the_published_vectors(key: str, iv: str, plaintext: str, ciphertext: str) -> None:
    assert cipher.aes_cbc_encrypt(h(key), h(iv), h(plaintext)).hex() == ciphertext
    assert cipher.aes_cbc_decrypt(h(key), h(iv), h(ciphertext)).hex() == plaintext


def test_aes_cbc_refuses_partial_blocks_and_bad_keys() -> None:
    with pytest.raises(cipher.PaddingError):
        cipher.aes_cbc_encrypt(bytes(16), bytes(16), bytes(15))
    with pytest.raises(cipher.PaddingError):
        cipher.aes_cbc_decrypt(bytes(16), bytes(16), bytes(17))
    with pytest.raises(cipher.WireCryptoError):
        cipher.aes_cbc_encrypt(bytes(20), bytes(16), bytes(16))


# ---------------------------------------------------------------------------------------------------- DH


def _pi_fixed(bits: int) -> int:
    """floor(pi * 2^bits) by Machin's formula in integers."""
    guard = bits + 64
    one = 1 << guard

    def arctan_inv(x: int) -> int:
        total = term = one // x
        n, sign = 1, -1
        while term:
            term //= x * x
            n += 2
            total += sign * (term // n)
            sign = -sign
        return total

    return (16 * arctan_inv(5) - 4 * arctan_inv(239)) >> 64


@pytest.mark.parametrize(
    ("number", "bits", "k"),
    [
        (1, 768, 149686),
        (2, 1024, 129093),
        (5, 1536, 741804),
        (14, 2048, 124476),
        (15, 3072, 1690314),
        (16, 4096, 240904),
        (17, 6144, 929484),
        (18, 8192, 4743158),
    ],
)
def test_modp_primes_follow_the_rfc_formula(number: int, bits: int, k: int) -> None:
    # RFC 2409 section 6 and RFC 3526: p = 2^n - 2^(n-64) - 1 + 2^64 * ([2^(n-130) pi] + k), generator 2
    expected = 2**bits - 2 ** (bits - 64) - 1 + 2**64 * (_pi_fixed(bits - 130) + k)
    assert dh.MODP_PRIMES[number] == expected
    assert dh.group(number).public_length == bits // 8


RFC5903 = {  # section 8: i, g^i = (gix, giy), r, g^r = (grx, gry), g^ir = (girx, giry)
    19: (
        "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
        "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
        "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
        "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
        "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
        "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
        "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de",
    ),
    20: (
        "099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194",
        "667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa"
        "9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c",
        "41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc",
        "e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d0d1ac43a0336def96fda41d0774a3571"
        "dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c",
        "11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746",
    ),
    21: (
        "0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b2639bab072"
        "462f68c27a57382d4a52",
        "0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942af5a7f4"
        "601723c4195d176ced3e"
        "017cae20b6641d2eeb695786d8c946146239d099e18e1d5a514c739d7cb4a10ad8a788015ac405d7799dc75e7b7d5b6cf2261a6a7f150743"
        "8bf01beb6ca3926f9582",
        "0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7458aa4a4"
        "effc311f5cb151685eb9",
        "00d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356436adc6e95bb0352f6be64a6c2912d4ef2d0433c"
        "ed2b6171640012d9460f"
        "015c68226383956e3bd066e797b623c27ce0eac2f551a10c2c724d9852077b87220b6536c5c408a1d2aebb8e86d678ae49cb57091f473229"
        "6579ab44fcd17f0fc56a",
        "01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3a8cc3151"
        "f2bee417996d19f3ddea",
    ),
}


@pytest.mark.parametrize("number", sorted(RFC5903))
def test_ecp_groups_match_rfc_5903_section_8(number: int) -> None:
    i, gi, r, gr, gir = (h(v) for v in RFC5903[number])
    assert dh.public_key(number, i) == gi  # x || y, no 0x04 prefix (RFC 5903 section 7)
    assert dh.public_key(number, r) == gr
    assert dh.shared_secret(number, i, gr) == gir  # the x coordinate alone
    assert dh.shared_secret(number, r, gi) == gir


def test_curve25519_matches_rfc_7748_section_6_1() -> None:
    alice = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_public = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    bob_public = h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert dh.public_key(31, alice) == alice_public
    assert dh.public_key(31, bob) == bob_public
    assert dh.shared_secret(31, alice, bob_public) == shared
    assert dh.shared_secret(31, bob, alice_public) == shared


@pytest.mark.parametrize("number", [1, 2, 5, 14, 15, 19, 20, 21, 31])
def test_both_sides_agree_on_the_secret_and_lengths_are_the_wires(number: int) -> None:
    grp = dh.group(number)
    a, b = dh.key_pair(number, b"ikesim test", b"initiator"), dh.key_pair(number, b"ikesim test", b"responder")
    assert len(a.public) == len(b.public) == grp.public_length
    assert a.private != b.private
    secret = a.shared_secret(b.public)
    assert secret == b.shared_secret(a.public)
    assert len(secret) == grp.secret_length


def test_private_keys_are_the_same_on_every_machine() -> None:
    # Pinned: HKDF-SHA-256 (RFC 5869) of the seed with info b"ikesim dh group N|" + label. A change here
    # changes every capture ikesim writes.
    assert (
        dh.private_key(14, b"ikesim").hex()
        == "601a7177c8a292386e98505358dcd3a32b25e0d049eca2ea39bf48fc2ebd902c053b037fbbe763fa"
    )
    assert dh.private_key(19, b"ikesim") == dh.private_key(19, b"ikesim")
    assert dh.private_key(19, b"ikesim") != dh.private_key(20, b"ikesim")[:32]
    assert dh.private_key(31, b"ikesim", b"a") != dh.private_key(31, b"ikesim", b"b")
    assert len(dh.private_key(18, b"ikesim")) == 78  # 624-bit exponent (RFC 3526 section 8)


def test_modp_public_values_are_left_padded_to_the_prime() -> None:
    # A public value with leading zero bytes keeps the prime's length (RFC 7296 section 3.4).
    assert dh.public_key(2, (2).to_bytes(1, "big")) == (4).to_bytes(128, "big")
    assert dh.shared_secret(2, b"\x02", (4).to_bytes(128, "big")) == (16).to_bytes(128, "big")


def test_bad_key_exchange_data_is_refused() -> None:
    p = dh.MODP_PRIMES[14]
    mine = dh.private_key(14, b"x")
    for bad in ((1).to_bytes(256, "big"), (p - 1).to_bytes(256, "big"), p.to_bytes(256, "big"), bytes(255)):
        with pytest.raises(dh.DHError):
            dh.shared_secret(14, mine, bad)  # RFC 6989 section 2.1, RFC 7296 section 3.4
    off_curve = bytearray(dh.public_key(19, dh.private_key(19, b"x")))
    off_curve[-1] ^= 1
    with pytest.raises(dh.DHError):
        dh.shared_secret(19, dh.private_key(19, b"y"), bytes(off_curve))
    with pytest.raises(dh.DHError):  # a small-order point gives an all-zero secret (RFC 8031 section 2.3)
        dh.shared_secret(31, dh.private_key(31, b"x"), bytes(32))
    with pytest.raises(dh.DHError):
        dh.group(22)
    with pytest.raises(dh.DHError):
        dh.public_key(14, b"\x01")


# ---------------------------------------------------------------------------------------------------- IKEv2, charon


@pytest.fixture(scope="module")
def v2() -> dict[str, Any]:
    request, response = datagram("ikev2", "ike_sa_init_request"), datagram("ikev2", "ike_sa_init_response")
    req, resp = plain_payloads(request), plain_payloads(response)
    return {
        "request": request,
        "response": response,
        "spi_i": response[0:8],
        "spi_r": response[8:16],
        "ni": body(req, 40),
        "nr": body(resp, 40),
        "ke_i": body(req, 34),
        "ke_r": body(resp, 34),
    }


def test_ikev2_wire_inputs_are_what_the_proposal_says(v2: dict[str, Any]) -> None:
    assert v2["request"][8:16] == bytes(8)  # the responder's SPI is zero in the first request
    assert v2["ke_i"][:2] == v2["ke_r"][:2] == (14).to_bytes(2, "big")  # KE: DH group 14
    assert len(v2["ke_i"]) - 4 == len(v2["ke_r"]) - 4 == dh.group(14).public_length
    assert len(logged("ikev2", "g_ir")) == dh.group(14).secret_length


def test_ikev2_skeyseed_and_sk_keys_match_charon(v2: dict[str, Any]) -> None:
    skeyseed = keys.ikev2_skeyseed("sha256", v2["ni"], v2["nr"], logged("ikev2", "g_ir"))
    assert skeyseed == logged("ikev2", "skeyseed")
    derived = keys.ikev2_keys("sha256", skeyseed, v2["ni"], v2["nr"], v2["spi_i"], v2["spi_r"], 16, 32)
    for name in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"):
        assert getattr(derived, name) == logged("ikev2", name), name


def test_ikev2_psk_auth_matches_charon(v2: dict[str, Any]) -> None:
    assert keys.prf("sha256", PSK, keys.AUTH_KEY_PAD) == logged("ikev2", "prf_secret_keypad")
    for side, message, nonce, sk_p in (
        ("initiator", v2["request"], v2["nr"], "sk_pi"),
        ("responder", v2["response"], v2["ni"], "sk_pr"),
    ):
        octets = keys.ikev2_signed_octets(
            "sha256", message, nonce, logged("ikev2", sk_p), logged("ikev2", f"{side}_id_body")
        )
        assert octets == logged("ikev2", f"{side}_signed_octets"), side
        assert keys.ikev2_psk_auth("sha256", PSK, octets) == logged("ikev2", f"{side}_auth"), side


@pytest.mark.parametrize(("name", "direction"), [("ike_auth_request", "i"), ("ike_auth_response", "r")])
def test_ikev2_opens_charons_encrypted_payloads(name: str, direction: str) -> None:
    message = datagram("ikev2", name)
    ek, ak = logged("ikev2", f"sk_e{direction}"), logged("ikev2", f"sk_a{direction}")
    opened = cipher.ikev2_open(message, encryption_key=ek, integrity_key=ak, integrity_number=12)
    inner = payloads(opened.next_payload, opened.payloads)
    side = "initiator" if direction == "i" else "responder"
    assert body(inner, 35 if direction == "i" else 36) == logged("ikev2", f"{side}_id_body")  # IDi / IDr
    auth = body(inner, 39)
    assert auth[0] == 2  # Shared Key Message Integrity Code
    assert auth[4:] == logged("ikev2", f"{side}_auth")
    if direction == "i":  # charon logs the padding it chose: random bytes, then the Pad Length octet
        assert opened.padding + bytes([len(opened.padding)]) == logged("ikev2", "ike_auth_request_padding")
    # Sealing the same payloads with the same IV and padding gives back charon's datagram, byte for byte.
    resealed = cipher.ikev2_seal(
        message[:28],
        opened.next_payload,
        opened.payloads,
        encryption_key=ek,
        integrity_key=ak,
        integrity_number=12,
        iv=opened.iv,
        padding=opened.padding,
    )
    assert resealed == message


def test_ikev2_open_refuses_a_damaged_message() -> None:
    message = bytearray(datagram("ikev2", "ike_auth_request"))
    ek, ak = logged("ikev2", "sk_ei"), logged("ikev2", "sk_ai")
    open_: dict[str, Any] = {"encryption_key": ek, "integrity_key": ak, "integrity_number": 12}
    for offset in (20, 60, len(message) - 1):  # header, ciphertext, checksum
        damaged = bytearray(message)
        damaged[offset] ^= 0x80
        with pytest.raises(cipher.IntegrityError):
            cipher.ikev2_open(bytes(damaged), **open_)
    with pytest.raises(cipher.IntegrityError):
        cipher.ikev2_open(
            bytes(message), encryption_key=ek, integrity_key=logged("ikev2", "sk_ar"), integrity_number=12
        )
    with pytest.raises(cipher.WireCryptoError):
        cipher.ikev2_open(bytes(message[:-1]), **open_)  # the header's length no longer matches


def _forged(plaintext_blocks: bytes, ciphertext_extra: bytes = b"") -> bytes:
    """An IKEv2 message with a correct checksum around the given plaintext (whole blocks, unpadded)."""
    ek, ak, iv = bytes(16), bytes(32), bytes(16)
    ciphertext = cipher.aes_cbc_encrypt(ek, iv, plaintext_blocks) + ciphertext_extra
    length = 4 + 16 + len(ciphertext) + 16
    header = bytes(16) + bytes([46, 0x20, 35, 0x08]) + bytes(4) + (28 + length).to_bytes(4, "big")
    signed = header + struct.pack("!BBH", 41, 0, length) + iv + ciphertext
    return signed + cipher.checksum(12, ak, signed)


def test_ikev2_open_refuses_bad_padding_behind_a_good_checksum() -> None:
    open_: dict[str, Any] = {"encryption_key": bytes(16), "integrity_key": bytes(32), "integrity_number": 12}
    assert cipher.ikev2_open(_forged(bytes(15) + b"\x0f"), **open_).payloads == b""  # all padding: fine
    with pytest.raises(cipher.PaddingError):
        cipher.ikev2_open(_forged(bytes(15) + b"\x10"), **open_)  # Pad Length 16 in a 16-byte plaintext
    with pytest.raises(cipher.PaddingError):
        cipher.ikev2_open(_forged(bytes(16), b"\x00" * 5), **open_)  # not whole blocks


def test_ikev2_seal_pads_to_the_block_and_opens_again() -> None:
    header = bytes(range(16)) + bytes([0, 0x20, 35, 0x08, 0, 0, 0, 1]) + bytes(4)
    for size in (0, 1, 15, 16, 31):
        inner = bytes([0x55]) * size
        sealed = cipher.ikev2_seal(
            header, 41, inner, encryption_key=bytes(16), integrity_key=bytes(20), integrity_number=2, iv=bytes(16)
        )
        assert sealed[16] == 46
        assert int.from_bytes(sealed[24:28], "big") == len(sealed)
        assert (len(sealed) - 28 - 4 - 16 - 12) % 16 == 0
        opened = cipher.ikev2_open(sealed, encryption_key=bytes(16), integrity_key=bytes(20), integrity_number=2)
        assert (opened.next_payload, opened.payloads, opened.padding) == (41, inner, bytes(-(size + 1) % 16))
    with pytest.raises(cipher.PaddingError):
        cipher.ikev2_seal(
            header,
            41,
            b"",
            encryption_key=bytes(16),
            integrity_key=bytes(20),
            integrity_number=2,
            iv=bytes(16),
            padding=b"\x00",  # one pad byte and the Pad Length octet: 2 bytes, not a block
        )


# ---------------------------------------------------------------------------------------------------- IKEv1, charon


@pytest.fixture(scope="module")
def v1() -> dict[str, Any]:
    mm1, mm3, mm4 = datagram("ikev1", "mm1"), datagram("ikev1", "mm3"), datagram("ikev1", "mm4")
    first, third, fourth = plain_payloads(mm1), plain_payloads(mm3), plain_payloads(mm4)
    return {
        "cky_i": mm3[0:8],
        "cky_r": mm3[8:16],
        "sai_b": body(first, 1),
        "g_xi": body(third, 4),
        "g_xr": body(fourth, 4),
        "ni_b": body(third, 10),
        "nr_b": body(fourth, 10),
    }


def _open_v1(name: str, iv: bytes) -> tuple[bytes, list[tuple[int, bytes]], bytes]:
    """The datagram, its decrypted payloads and their padding."""
    message = datagram("ikev1", name)
    plain = cipher.ikev1_open(message, logged("ikev1", "encryption_key"), iv)
    chain, padding = cipher.ikev1_split_padding(plain[16], plain[28:])
    return message, payloads(plain[16], chain), padding


def test_ikev1_skeyids_and_ka_match_charon(v1: dict[str, Any]) -> None:
    skeyid = keys.ikev1_skeyid_psk("sha1", PSK, v1["ni_b"], v1["nr_b"])
    assert skeyid == logged("ikev1", "skeyid")
    derived = keys.ikev1_keys(
        "sha1", skeyid, logged("ikev1", "g_xy"), v1["cky_i"], v1["cky_r"], v1["g_xi"], v1["g_xr"], key_length=16
    )
    assert derived.skeyid_d == logged("ikev1", "skeyid_d")
    assert derived.skeyid_a == logged("ikev1", "skeyid_a")
    assert derived.skeyid_e == logged("ikev1", "skeyid_e")
    assert derived.encryption_key == logged("ikev1", "encryption_key")  # SKEYID_e is long enough: truncated
    assert derived.iv == logged("ikev1", "phase1_iv")  # hash(g^xi | g^xr), 16 of SHA-1's 20 bytes


def test_ikev1_main_mode_5_and_6_decrypt_to_id_and_hash(v1: dict[str, Any]) -> None:
    mm5, found, padding = _open_v1("mm5", logged("ikev1", "phase1_iv"))
    assert [t for t, _ in found] == [5, 8]  # ID, HASH
    idii_b = body(found, 5)
    assert idii_b[0] == 3 and idii_b[4:] == b"a@test"  # ID_USER_FQDN, protocol 0, port 0
    assert padding == bytes(len(padding)) and 0 < len(padding) <= 16  # zeros (RFC 2409 appendix B)
    hash_i = keys.ikev1_hash_i(
        "sha1", logged("ikev1", "skeyid"), v1["g_xi"], v1["g_xr"], v1["cky_i"], v1["cky_r"], v1["sai_b"], idii_b
    )
    assert hash_i == logged("ikev1", "hash_i") == body(found, 8)
    assert keys.ikev1_next_iv(mm5) == logged("ikev1", "iv_after_mm5")

    mm6, found, _ = _open_v1("mm6", keys.ikev1_next_iv(mm5))
    idir_b = body(found, 5)
    assert idir_b[4:] == b"b@test"
    hash_r = keys.ikev1_hash_r(
        "sha1", logged("ikev1", "skeyid"), v1["g_xi"], v1["g_xr"], v1["cky_i"], v1["cky_r"], v1["sai_b"], idir_b
    )
    assert hash_r == logged("ikev1", "hash_r") == body(found, 8)
    assert keys.ikev1_next_iv(mm6) == logged("ikev1", "iv_after_mm6")


def test_ikev1_seal_reproduces_charons_main_mode_5() -> None:
    message, iv = datagram("ikev1", "mm5"), logged("ikev1", "phase1_iv")
    plain = cipher.ikev1_open(message, logged("ikev1", "encryption_key"), iv)
    chain, _ = cipher.ikev1_split_padding(plain[16], plain[28:])
    for style in ("zero", "charon"):  # 38 bytes: both pad to 48 with zeros
        assert cipher.ikev1_seal(plain[:28] + chain, logged("ikev1", "encryption_key"), iv, style) == message


def test_ikev1_quick_mode_ivs_and_hashes_match_charon(v1: dict[str, Any]) -> None:
    mid = CHARON["ikev1"]["qm_message_id"]
    last_phase1_block = keys.ikev1_next_iv(datagram("ikev1", "mm6"))
    qm1_iv = keys.ikev1_phase2_iv("sha1", last_phase1_block, mid)
    assert qm1_iv == logged("ikev1", "qm1_iv")

    qm1, found, padding = _open_v1("qm1", qm1_iv)
    assert int.from_bytes(qm1[20:24], "big") == mid
    assert [t for t, _ in found] == [8, 1, 10, 5, 5]  # HASH, SA, Nonce, IDci, IDcr
    assert padding == bytes(16)  # charon pads an aligned body with a whole block of zeros
    plain = cipher.ikev1_open(qm1, logged("ikev1", "encryption_key"), qm1_iv)
    chain, _ = cipher.ikev1_split_padding(plain[16], plain[28:])
    after_hash = chain[4 + len(found[0][1]) :]
    skeyid_a = logged("ikev1", "skeyid_a")
    assert keys.ikev1_quick_mode_hash1("sha1", skeyid_a, mid, after_hash) == logged("ikev1", "qm_hash1") == found[0][1]
    assert cipher.ikev1_seal(plain[:28] + chain, logged("ikev1", "encryption_key"), qm1_iv, "charon") == qm1
    assert (
        len(cipher.ikev1_seal(plain[:28] + chain, logged("ikev1", "encryption_key"), qm1_iv, "zero")) == len(qm1) - 16
    )
    assert keys.ikev1_next_iv(qm1) == logged("ikev1", "iv_after_qm1")

    ni_b = body(found, 10)
    qm2 = datagram("ikev1", "qm2")
    plain = cipher.ikev1_open(qm2, logged("ikev1", "encryption_key"), keys.ikev1_next_iv(qm1))
    chain, _ = cipher.ikev1_split_padding(plain[16], plain[28:])
    found = payloads(plain[16], chain)
    after_hash = chain[4 + len(found[0][1]) :]
    hash2 = keys.ikev1_quick_mode_hash2("sha1", skeyid_a, mid, ni_b, after_hash)
    assert hash2 == logged("ikev1", "qm_hash2") == found[0][1]
    assert keys.ikev1_next_iv(qm2) == logged("ikev1", "iv_after_qm2")
    # HASH(3) was never sent (the SAs could not be installed); its formula is RFC 2409 5.5's:
    nr_b = body(found, 10)
    expected = keys.prf("sha1", skeyid_a, b"\x00" + mid.to_bytes(4, "big") + ni_b + nr_b)
    assert keys.ikev1_quick_mode_hash3("sha1", skeyid_a, mid, ni_b, nr_b) == expected


def test_ikev1_informational_iv_and_hash_match_charon() -> None:
    mid = CHARON["ikev1"]["informational_message_id"]
    # The IV derives from the last block of phase 1 (MM6), not from the quick mode that came after.
    iv = keys.ikev1_phase2_iv("sha1", keys.ikev1_next_iv(datagram("ikev1", "mm6")), mid)
    assert iv == logged("ikev1", "informational_iv")
    _, found, _ = _open_v1("informational", iv)
    assert [t for t, _ in found] == [8, 11]  # HASH, N
    assert int.from_bytes(body(found, 11)[6:8], "big") == 14  # NO-PROPOSAL-CHOSEN
    notify = struct.pack("!BBH", 0, 0, 4 + len(found[1][1])) + found[1][1]
    computed = keys.ikev1_informational_hash("sha1", logged("ikev1", "skeyid_a"), mid, notify)
    assert computed == logged("ikev1", "informational_hash") == found[0][1]


def test_ikev1_open_refuses_bad_framing() -> None:
    message, iv, ka = datagram("ikev1", "mm5"), logged("ikev1", "phase1_iv"), logged("ikev1", "encryption_key")
    with pytest.raises(cipher.PaddingError):
        cipher.ikev1_decrypt(ka, iv, message[28:-1])
    with pytest.raises(cipher.WireCryptoError):
        cipher.ikev1_open(message[:-16], ka, iv)  # the header's length no longer matches
    wrong = cipher.ikev1_open(message, ka, bytes(16))  # a wrong IV garbles the first block
    with pytest.raises(cipher.PaddingError):
        cipher.ikev1_split_padding(wrong[16], wrong[28:])


# ---------------------------------------------------------------------------------------------------- IKEv1, RFC text


def test_ikev1_padding_styles() -> None:
    assert cipher.ikev1_pad(bytes(16), "zero") == bytes(16)
    assert cipher.ikev1_pad(bytes(16), "charon") == bytes(32)
    assert cipher.ikev1_pad(b"\x01" * 14, "zero") == b"\x01" * 14 + bytes(2)
    assert cipher.ikev1_pad(b"\x01" * 14, "counted") == b"\x01" * 14 + b"\x00\x01"  # RFC 2409 section 5.3
    assert cipher.ikev1_pad(bytes(16), "counted") == bytes(31) + b"\x0f"


def test_ikev1_encryption_key_expands_skeyid_e_per_appendix_b() -> None:
    skeyid_e = bytes(range(20))
    k1 = keys.prf("sha1", skeyid_e, b"\x00")
    k2 = keys.prf("sha1", skeyid_e, k1)
    assert keys.ikev1_encryption_key("sha1", skeyid_e, 32) == (k1 + k2)[:32]  # AES-256 with SHA-1
    assert keys.ikev1_encryption_key("sha1", skeyid_e, 16) == skeyid_e[:16]


def test_ikev1_keymat_chains_per_section_5_5() -> None:
    d, spi, ni, nr = bytes(20), b"\xc2\xc0\x64\x3c", b"n" * 16, b"m" * 16
    k1 = keys.prf("sha1", d, b"\x03" + spi + ni + nr)
    k2 = keys.prf("sha1", d, k1 + b"\x03" + spi + ni + nr)
    assert keys.ikev1_keymat("sha1", d, 3, spi, ni, nr, 36) == (k1 + k2)[:36]  # AES-128 + HMAC-SHA1-96 keys


def test_ikev2_child_and_rekey_formulas() -> None:
    sk_d, ni, nr = bytes(32), b"i" * 32, b"r" * 32
    assert keys.ikev2_child_keymat("sha256", sk_d, ni, nr, 40) == keys.prf_plus("sha256", sk_d, ni + nr, 40)
    assert keys.ikev2_skeyseed_rekey("sha256", sk_d, b"g", ni, nr) == keys.prf("sha256", sk_d, b"g" + ni + nr)


@pytest.mark.parametrize("group", [2, 14, 19, 31])
def test_one_key_exchange_gives_both_sides_the_same_secret_and_computes_each_value_once(group):
    kex = dh.KeyExchange(b"seed" * 8)
    secret = kex.shared(group, "client", "gateway")
    theirs = dh.shared_secret(group, dh.private_key(group, kex.seed, b"gateway"), kex.public(group, "client"))
    assert secret == theirs and kex.shared(group, "client", "gateway") is secret
    assert kex.public(group, "client") is kex.public(group, "client")
    assert dh.KeyExchange(b"other" * 8).shared(group, "client", "gateway") != secret
