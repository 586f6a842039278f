"""The live responder, checked by an independent client whose packets scapy builds and reads.

The responder core is tested on a clock the test sets; the server is tested on real UDP sockets
in real time (these are the only tests in ikesim that wait: that is what they test).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from sim.live import isakmp, vendors
from sim.live.responder import Limits, LiveResponder, responder_for
from sim.live.server import ResponderProtocol
from sim.protocol.profiles import PROFILES

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
scapy_isakmp = pytest.importorskip("scapy.layers.isakmp", reason="scapy is needed to build the client's packets")
ISAKMP = scapy_isakmp.ISAKMP
Raw = pytest.importorskip("scapy.packet").Raw

CLIENT = ("192.0.2.10", 500)
AES128_SHA1_G14 = [("Encryption", "AES-CBC"), ("KeyLength", 128), ("Hash", "SHA"), ("GroupDesc", "2048MODPgr"),
                   ("Authentication", "PSK"), ("LifeType", "Seconds"), ("LifeDuration", 28800)]  # fmt: skip
DES_MD5_G1 = [("Encryption", "DES-CBC"), ("Hash", "MD5"), ("GroupDesc", "768MODPgr"), ("Authentication", "PSK")]
TDES_SHA1_G5 = [("Encryption", "3DES-CBC"), ("Hash", "SHA"), ("GroupDesc", "1536MODPgr"), ("Authentication", "PSK")]


def mm1(*offers: list[tuple[str, Any]], icookie: bytes = b"initiatr", vids: tuple[bytes, ...] = ()) -> bytes:
    """An initiator's first main-mode message, built by scapy: one proposal with these transforms."""
    s = scapy_isakmp
    transforms = None
    for number, attributes in reversed(list(enumerate(offers, start=1))):
        t = s.ISAKMP_payload_Transform(transform_count=number, transform_id=1, transforms=attributes)
        transforms = t if transforms is None else t / transforms
    packet = ISAKMP(init_cookie=icookie, next_payload=1, exch_type=2) / s.ISAKMP_payload_SA(
        next_payload=13 if vids else 0, prop=s.ISAKMP_payload_Proposal(trans_nb=len(offers), trans=transforms)
    )
    for i, vid in enumerate(vids):
        packet = packet / s.ISAKMP_payload_VendorID(next_payload=13 if i + 1 < len(vids) else 0, VendorID=vid)
    return bytes(packet)


def mm3(icookie: bytes, rcookie: bytes, ke_size: int = 256, fill: int = 1) -> bytes:
    """An initiator's MM3 (key exchange and nonce), built by scapy; ``fill`` varies its key exchange."""
    s = scapy_isakmp
    ke = s.ISAKMP_payload_KE(next_payload=10, ke=bytes([fill]) * ke_size)
    return bytes(ISAKMP(init_cookie=icookie, resp_cookie=rcookie, next_payload=4, exch_type=2) / ke
                 / s.ISAKMP_payload_Nonce(nonce=b"\x02" * 32))  # fmt: skip


def payloads(packet: Any) -> Iterator[Any]:
    """The payloads of a scapy ISAKMP packet, in order."""
    layer = packet.payload
    while layer is not None and layer.__class__.__name__ != "NoPayload":
        yield layer
        layer = layer.payload


class Recorder:
    """A responder on a clock the test sets, with the trace records it emits."""

    def __init__(self, profile: str | None = "windows", limits: Limits | None = None, scenario: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.responder: LiveResponder = responder_for(profile, scenario, self.events.append, limits)

    def send(self, t: float, data: bytes, source: tuple[str, int] = CLIENT) -> list[bytes]:
        return [out for out, to in self.responder.datagram(t, data, source) if to == source]

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def run_until(self, t_end: float) -> list[float]:
        """Advance the clock deadline by deadline; the times at which datagrams went out."""
        sent = []
        while (deadline := self.responder.next_deadline()) is not None and deadline <= t_end:
            if self.responder.tick(deadline):
                sent.append(deadline)
        return sent


# --- the second message --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "offered_vids", "expected_vids"),
    [
        (
            "windows",
            (),
            [
                vendors.MS_NT5_V9,
                vendors.NATT_RFC3947,
                vendors.NATT_DRAFT_02N,
                vendors.FRAGMENTATION,
                vendors.MS_NEGOTIATION_DISCOVERY,
                vendors.IKE_CGA_V1,
            ],
        ),
        ("strongswan", (), [vendors.XAUTH, vendors.DPD]),
        (
            "strongswan",
            (vendors.NATT_DRAFT_02N, vendors.NATT_RFC3947, vendors.FRAGMENTATION),
            [vendors.XAUTH, vendors.DPD, vendors.FRAGMENTATION_STRONGSWAN, vendors.NATT_RFC3947],
        ),
        ("libreswan", (vendors.NATT_DRAFT_02,), [vendors.FRAGMENTATION, vendors.DPD, vendors.NATT_DRAFT_02]),
    ],
)
def test_mm2_accepts_an_offered_transform_with_the_profiles_vendor_ids(
    profile: str, offered_vids: tuple[bytes, ...], expected_vids: list[bytes]
) -> None:
    r = Recorder(profile)
    offer = mm1(DES_MD5_G1, AES128_SHA1_G14, vids=offered_vids)
    [answer] = r.send(0.0, offer)
    mm2 = ISAKMP(answer)
    assert mm2.exch_type == 2 and mm2.init_cookie == b"initiatr" and mm2.resp_cookie != bytes(8)
    assert mm2.length == len(answer) and mm2.id == 0
    sa, *rest = list(payloads(mm2))
    assert sa.__class__.__name__ == "ISAKMP_payload_SA" and sa.doi == 1 and sa.situation == 1
    assert sa.prop.trans_nb == 1 and sa.prop.proto == 1
    chosen = sa.prop.trans
    assert chosen.transform_count == 2  # the second transform: the first (DES-MD5) is not acceptable
    assert dict(chosen.transforms) == dict(AES128_SHA1_G14)
    assert [p.VendorID for p in rest] == expected_vids


def test_windows_prefers_the_first_acceptable_transform_in_offer_order() -> None:
    tdes_g2 = [("Encryption", "3DES-CBC"), ("Hash", "SHA"), ("GroupDesc", "1024MODPgr"), ("Authentication", "PSK")]
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(tdes_g2, AES128_SHA1_G14))
    assert dict(ISAKMP(answer)[scapy_isakmp.ISAKMP_payload_Transform].transforms) == dict(tdes_g2)


@pytest.mark.parametrize(
    ("offer", "notify", "code"),
    # IKEv1 has no notify for a group: NO-PROPOSAL-CHOSEN, as charon answers it (real-implementations.md 2)
    [(DES_MD5_G1, 14, 13802), (TDES_SHA1_G5, 14, 13865)],
    ids=["no-proposal-chosen", "invalid-group"],
)
def test_an_unacceptable_offer_gets_a_notify_and_the_tables_code(
    offer: list[tuple[str, Any]], notify: int, code: int
) -> None:
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(offer))
    info = ISAKMP(answer)
    assert info.exch_type == 5 and info.init_cookie == b"initiatr"
    assert info[scapy_isakmp.ISAKMP_payload_Notify].notify_msg_type == notify
    [outcome] = r.kinds("outcome")
    assert outcome["code"] == code and outcome["failure_point"] == "IPSEC_FAILURE_PEER"
    assert r.responder.next_deadline() is not None  # only the forgetting is left: no resends
    assert r.run_until(1000.0) == []


def test_mm3_gets_mm4_of_the_groups_size_and_mm5_cannot_be_read() -> None:
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(AES128_SHA1_G14))
    rcookie = ISAKMP(answer).resp_cookie
    [mm4] = r.send(0.4, mm3(b"initiatr", rcookie))
    packet = ISAKMP(mm4)
    assert packet.resp_cookie == rcookie and packet.exch_type == 2
    assert len(packet[scapy_isakmp.ISAKMP_payload_KE].ke) == 256  # group 14: 2048 bits
    assert len(packet[scapy_isakmp.ISAKMP_payload_Nonce].nonce) == 32
    encrypted = bytes(ISAKMP(init_cookie=b"initiatr", resp_cookie=rcookie, next_payload=5, exch_type=2, flags=1)
                      / Raw(b"\x00" * 64))  # fmt: skip
    assert r.send(0.5, encrypted) == []
    drop = r.kinds("drop")[-1]
    assert drop["message"] == "MM5" and "derives no keys" in drop["reason"]
    r.run_until(1000.0)
    [outcome] = r.kinds("outcome")
    assert outcome["code"] == 13805 and outcome["state"] == "IKEEXT_MM_SA_STATE_SSPI_SENT"


def test_a_resent_mm1_gets_the_same_mm2_again() -> None:
    r = Recorder("windows")
    [first] = r.send(0.0, mm1(AES128_SHA1_G14))
    [again] = r.send(0.3, mm1(AES128_SHA1_G14))
    assert again == first
    assert r.kinds("retransmit")[0]["cause"] == "duplicate received"


# --- the schedule ----------------------------------------------------------------------------


def _mm2_resends(profile: str) -> tuple[list[float], float]:
    """When a responder of this profile resends MM2, and when it gives up (docs/retransmission.md)."""
    schedule, rules = PROFILES[profile].schedule(), PROFILES[profile].responder
    resends = list(schedule.resend_at) if rules.resends is None or "MM2" in rules.resends else []
    return resends, min(schedule.give_up_at, rules.half_open_timeout or schedule.give_up_at)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("windows", ([1, 3, 7, 15, 31, 63], 127)),  # resends MM2 (ike-scan's fingerprint)
        ("strongswan", ([], 30)),  # MM2 once, the half-open SA dropped after 30 s
        ("libreswan", ([], 32)),  # MM2 once (EVENT_SA_DISCARD), given up on its schedule
    ],
)
def test_retransmissions_and_giving_up_follow_the_profile(profile: str, expected: tuple[list[float], float]) -> None:
    assert _mm2_resends(profile) == expected
    r = Recorder(profile)
    r.send(0.0, mm1(AES128_SHA1_G14, [("Encryption", "AES-CBC"), ("KeyLength", 256), ("Hash", "SHA2-256"),
                                      ("GroupDesc", "2048MODPgr"), ("Authentication", "PSK")]))  # fmt: skip
    resends, give_up = expected
    assert r.run_until(1000.0) == resends
    [outcome] = r.kinds("outcome")
    assert outcome["t"] == give_up and outcome["code"] == 13805
    assert r.responder.negotiations() == 0  # forgotten once it had ended long enough


# --- damaged and hostile input -----------------------------------------------------------------


def _damage(data: bytes, part: str) -> bytes:
    raw = bytearray(data)
    if part == "header":
        raw[19] |= 0x80  # a reserved flag bit
    elif part == "version":
        raw[17] = 0x20  # major version 2
    elif part == "payload":
        raw[29] = 0xFF  # the reserved byte of the first payload
    elif part == "cookie":
        raw[8:16] = b"wrongone"
    elif part == "message_id":
        raw[20:24] = b"\x00\x00\x00\x07"
    return bytes(raw)


@pytest.mark.parametrize(
    ("part", "code"),
    [("header", 13824), ("version", 13880), ("payload", 13843), ("cookie", 13846), ("message_id", 13888)],
)
def test_a_damaged_message_of_a_negotiation_is_dropped_with_its_code_and_a_clean_copy_still_answered(
    part: str, code: int
) -> None:
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(AES128_SHA1_G14))
    rcookie = ISAKMP(answer).resp_cookie
    assert r.send(0.2, _damage(mm3(b"initiatr", rcookie), part)) == []
    assert r.kinds("recv")[-1]["corrupted"] == part
    drop = r.kinds("drop")[-1]
    assert drop["cause"] == "damaged" and drop["reason"].startswith(f"{code} ")
    assert r.kinds("outcome") == [] and r.responder.negotiations() == 1  # the state is kept
    [mm4] = r.send(0.3, mm3(b"initiatr", rcookie))  # the clean retransmission
    assert ISAKMP(mm4).exch_type == 2


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "13824"),
        (b"\x00" * 27, "13824"),
        (_damage(mm1(AES128_SHA1_G14), "version"), "13880"),
        (_damage(mm1(AES128_SHA1_G14), "payload"), "13843"),
        (_damage(mm1(AES128_SHA1_G14), "message_id"), "13888"),
        (mm3(b"stranger", b"unknown!"), "13846"),
        (mm1(AES128_SHA1_G14)[:-3], "13824"),
        (mm1(AES128_SHA1_G14) + b"\x00" * 10_000, "13824"),
    ],
    ids=["empty", "short", "version", "payload", "message-id", "unknown-cookies", "truncated", "oversized"],
)
def test_a_datagram_for_no_negotiation_is_dropped_with_the_code_it_would_get(data: bytes, said: str) -> None:
    r = Recorder("windows")
    assert r.send(0.0, data) == []
    [drop] = r.kinds("drop")
    assert drop["reason"].startswith(said)
    assert r.responder.negotiations() == 0 and r.kinds("outcome") == []


def test_state_is_bounded_per_address_whatever_the_port_and_a_flood_cannot_lock_newcomers_out() -> None:
    r = Recorder("windows", Limits(per_address=3, total=5))
    for i in range(4):  # one address, four source ports: the limit counts the address
        r.send(0.0, mm1(AES128_SHA1_G14, icookie=b"flooder%d" % i), source=("192.0.2.10", 40000 + i))
    assert r.responder.negotiations() == 3 and "of this address kept already" in r.kinds("drop")[-1]["reason"]
    assert len(r.send(0.0, mm1(AES128_SHA1_G14), source=("192.0.2.99", 500))) == 1
    assert len(r.send(0.0, mm1(AES128_SHA1_G14), source=("192.0.2.98", 500))) == 1
    # Full: a newcomer is still answered; the oldest half-open negotiation makes room.
    assert len(r.send(0.0, mm1(AES128_SHA1_G14), source=("192.0.2.97", 500))) == 1
    assert r.responder.negotiations() == 5 and "MM#1" not in r.responder.conversations
    assert "half open negotiation forgotten to make room" in r.kinds("drop")[-1]["reason"]


def test_a_huge_offer_is_not_kept_once_the_transform_is_chosen() -> None:
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(*([DES_MD5_G1] * 60), AES128_SHA1_G14))  # scapy nests deeper than 60 badly
    assert ISAKMP(answer).exch_type == 2
    [conversation] = r.responder.conversations.values()
    assert conversation.offer == [] and len(conversation.proposed.proposals) == 1


def test_junk_is_printed_once_per_reason_per_second_and_then_counted() -> None:
    r = Recorder("windows")
    for i in range(1000):
        r.send(0.5, b"\x00" * 10, source=(f"203.0.113.{i % 200}", 500))
    assert len(r.kinds("drop")) == 1
    r.responder.tick(1.2)  # the second is over: one line says how many more there were
    [first, summary] = r.kinds("drop")
    assert summary["reason"] == first["reason"] + " (999 more datagrams like this in second 0)"


def _hostile(rng: random.Random, valid: list[bytes]) -> bytes:
    """One random or mutated datagram."""
    choice = rng.random()
    if choice < 0.25:
        return rng.randbytes(rng.randrange(0, 120))
    base = bytearray(rng.choice(valid))
    if choice < 0.55:
        for _ in range(rng.randrange(1, 6)):
            base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
    elif choice < 0.7:
        del base[rng.randrange(len(base)) :]
    elif choice < 0.8:
        base += rng.randbytes(rng.randrange(1, 200))
    elif choice < 0.9:
        base[rng.randrange(28, len(base)) : rng.randrange(28, len(base))] = rng.randbytes(rng.randrange(0, 16))
    # else: a replay as it is
    return bytes(base)


class _Transport:
    """Stands in for the socket: counts what the server sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))


def test_hostile_datagrams_leave_it_answering_with_bounded_memory() -> None:
    """100,000 random and mutated datagrams, through the server's own receive path."""

    async def scenario() -> tuple[int, int, int, list[bytes]]:
        responder = responder_for("windows", None, lambda event: None, Limits(per_address=64, total=2_000))
        protocol = ResponderProtocol(responder)
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        [mm2] = responder.datagram(0.0, mm1(AES128_SHA1_G14, icookie=b"seedcook"), CLIENT)
        valid = [mm1(AES128_SHA1_G14), mm1(DES_MD5_G1, AES128_SHA1_G14), mm3(b"seedcook", ISAKMP(mm2[0]).resp_cookie),
                 mm3(b"initiatr", b"whatever")]  # fmt: skip
        rng = random.Random(20261124)
        sources = [(f"198.51.100.{i}", 500 + i) for i in range(40)]
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100_000):
            protocol.datagram_received(_hostile(rng, valid), rng.choice(sources))
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        kept = responder.negotiations()
        transport.sent.clear()
        protocol.datagram_received(mm1(AES128_SHA1_G14, icookie=b"newcomer"), ("203.0.113.5", 500))
        answers = [data for data, to in transport.sent if to == ("203.0.113.5", 500)]
        return kept, grown, len(responder.per_address), answers

    kept, grown, addresses, answers = asyncio.run(scenario())
    assert kept <= 2_000 and addresses <= 40 + 2  # the fuzzing sources, the seed client, the newcomer
    assert grown < 16 * 1024 * 1024, f"memory grew by {grown} bytes"
    [answer] = answers
    assert ISAKMP(answer).init_cookie == b"newcomer" and ISAKMP(answer).exch_type == 2


# --- on real sockets, in real time ---------------------------------------------------------------


class Served:
    """``ikesim serve`` in a child process, and a UDP socket to talk to it."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "serve", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stderr is not None
        banner = self.process.stderr.readline()
        assert "listening on" in banner, banner
        self.port = int(banner.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))

    def send(self, data: bytes) -> float:
        self.socket.sendto(data, ("127.0.0.1", self.port))
        return time.monotonic()

    def receive(self, count: int, timeout: float) -> list[tuple[float, bytes]]:
        """Up to ``count`` datagrams with the time each arrived."""
        got = []
        self.socket.settimeout(timeout)
        try:
            while len(got) < count:
                data, _ = self.socket.recvfrom(65535)
                got.append((time.monotonic(), data))
        except TimeoutError:
            pass
        return got

    def lines_until_outcome(self) -> list[dict[str, Any]]:
        assert self.process.stdout is not None
        lines = []
        for text in self.process.stdout:
            lines.append(json.loads(text))
            if lines[-1]["kind"] == "outcome":
                break
        return lines

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.socket.close()


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_windows_at_full_speed_resends_1_2_4_8_16_32_seconds_apart_then_reports_13805() -> None:
    served = Served("--profile", "windows")
    try:
        sent = served.send(mm1(AES128_SHA1_G14))
        received = served.receive(7, timeout=40.0)
        assert len(received) == 7 and len({data for _, data in received}) == 1  # MM2, then the same bytes
        assert ISAKMP(received[0][1]).exch_type == 2
        times = [sent] + [t for t, _ in received]
        assert received[0][0] - sent < 0.1
        for gap, expected in zip(_gaps(times[1:]), [1, 2, 4, 8, 16, 32], strict=True):
            assert abs(gap - expected) < 0.1, _gaps(times[1:])
        lines = served.lines_until_outcome()
        outcome = lines[-1]
        assert outcome["code"] == 13805 and outcome["role"] == "responder"
        assert abs(outcome["t"] - 127.0) < 0.1
        assert time.monotonic() - sent > 126.9
    finally:
        served.close()


@pytest.mark.parametrize("profile", ["windows", "strongswan"])
def test_time_scaled_profiles_keep_their_gaps(profile: str) -> None:
    scale = 0.05
    resends, give_up = _mm2_resends(profile)
    offsets = [0.0, *resends]
    served = Served("--profile", profile, "--time-scale", str(scale))
    try:
        sent = served.send(mm1(AES128_SHA1_G14, [("Encryption", "AES-CBC"), ("KeyLength", 256),
                                                  ("Hash", "SHA2-256"), ("GroupDesc", "2048MODPgr"),
                                                  ("Authentication", "PSK")]))  # fmt: skip
        received = served.receive(len(offsets) + 1, timeout=give_up * scale + 2)
        assert len(received) == len(offsets)  # and nothing more
        for (t, _), offset in zip(received, offsets, strict=True):
            assert abs((t - sent) - offset * scale) < 0.1
        outcome = served.lines_until_outcome()[-1]
        assert outcome["code"] == 13805 and abs(outcome["t"] - give_up) < 0.1 / scale
    finally:
        served.close()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--profile", "windows-ikev2"], "is IKEv2's"),
        (["--profile", "nope"], "is not a profile"),
        (["--listen", "localhost"], "expected HOST:PORT"),
        (["--scenario", "ikev2-liveness-dead-peer"], "serve speaks IKEv1"),
        (["--scenario", "no-such-scenario"], "no-such-scenario"),
        (["--time-scale", "0"], "--time-scale"),
    ],
)
def test_bad_serve_arguments_exit_2_with_one_clear_line(args: list[str], said: str) -> None:
    result = subprocess.run([sys.executable, "-m", "sim.cli", "serve", *args], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "sim.cli", "serve", "--listen", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_wire_round_trip_of_the_encoder() -> None:
    data = isakmp.encode(b"a" * 8, b"b" * 8, isakmp.INFORMATIONAL, [(isakmp.NOTIFY, isakmp.notify_payload(14))], 7)
    parsed = isakmp.parse(data)
    assert parsed.exchange == 5 and parsed.message_id == 7
    assert isakmp.notify_type(parsed.first(isakmp.NOTIFY) or b"") == 14
    assert ISAKMP(data)[scapy_isakmp.ISAKMP_payload_Notify].notify_msg_type == 14


def test_ike_scan_a_real_initiator_sees_a_windows_responder() -> None:
    """ike-scan, a real IKEv1 initiator: the handshake, the vendor IDs and the backoff pattern (time-scaled)."""
    if shutil.which("ike-scan") is None:
        pytest.skip("ike-scan is not installed (Debian package ike-scan; .ci/run installs it)")
    scale = 0.1
    served = Served("--profile", "windows", "--time-scale", str(scale))
    try:
        scan = subprocess.run(
            ["ike-scan", "-M", "--showbackoff=9", "--sport=0", f"--dport={served.port}", "127.0.0.1"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        served.close()
    out = scan.stdout
    assert "Main Mode Handshake returned" in out, out
    assert "SA=(Enc=3DES Hash=SHA1 Auth=PSK Group=2:modp1024" in out  # ike-scan's default offer, as Windows answers
    assert "VID=1e2b516905991c7d7c96fcbfb587e46100000009 (Windows-8)" in out
    assert "(MS-Negotiation Discovery Capable)" in out and "(IKE CGA version 1)" in out
    deltas = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("127.0.0.1\t") and
              line.split("\t")[1].isdigit()]  # fmt: skip
    assert len(deltas) == 7, out
    for delta, expected in zip(deltas[1:], [1, 2, 4, 8, 16, 32], strict=True):
        assert abs(delta - expected * scale) < 0.05, deltas


def test_an_mm3_without_the_responder_cookie_is_dropped_as_13846_and_the_negotiation_kept() -> None:
    r = Recorder("windows")
    r.send(0.0, mm1(AES128_SHA1_G14))
    assert r.send(0.2, mm3(b"initiatr", bytes(8))) == []
    assert r.kinds("outcome") == [] and r.responder.negotiations() == 1
    assert r.kinds("drop")[-1]["reason"].startswith("13846 ")


def test_a_scenario_gives_the_responders_policy_and_profile() -> None:
    from sim.scenario import load_scenario

    r = Recorder(None, scenario=load_scenario("mm-no-proposal-chosen"))
    assert r.responder.profile == "windows"
    [refused] = r.send(0.0, mm1(AES128_SHA1_G14))
    assert ISAKMP(refused)[scapy_isakmp.ISAKMP_payload_Notify].notify_msg_type == 14
    aes256 = [("Encryption", "AES-CBC"), ("KeyLength", 256), ("Hash", "SHA2-256"), ("GroupDesc", "2048MODPgr"),
              ("Authentication", "PSK")]  # fmt: skip
    [accepted] = r.send(0.0, mm1(aes256, icookie=b"second!!"))
    assert ISAKMP(accepted).exch_type == 2


def test_an_initiator_that_refuses_mm2_with_a_notify_ends_the_negotiation_with_what_it_says() -> None:
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(AES128_SHA1_G14))
    notify = ISAKMP(init_cookie=b"initiatr", resp_cookie=ISAKMP(answer).resp_cookie, next_payload=11, exch_type=5,
                    id=12345) / scapy_isakmp.ISAKMP_payload_Notify(notify_msg_type=14, proto=1)  # fmt: skip
    assert r.send(0.1, bytes(notify)) == []
    [outcome] = r.kinds("outcome")
    assert outcome["code"] == 13802 and outcome["failure_point"] == "IPSEC_FAILURE_PEER"
    assert r.run_until(1000.0) == []  # no more resends of MM2


def test_only_modp_groups_are_accepted_because_mm4_carries_a_random_value() -> None:
    import tomllib

    from sim.scenario import parse_scenario

    text = """
name = "ecp-only"
description = "a responder that accepts only an elliptic-curve group"
[peers.client]
role = "initiator"
[peers.gateway]
role = "responder"
[peers.gateway.policy]
proposals = [{ encryption = "aes128", integrity = "sha256", dh_group = 19 }]
"""
    with pytest.raises(ValueError, match="only MODP groups"):
        responder_for(None, parse_scenario(tomllib.loads(text)), lambda event: None)
    ecp = [("Encryption", "AES-CBC"), ("KeyLength", 128), ("Hash", "SHA"), ("GroupDesc", 19), ("Authentication", "PSK")]
    r = Recorder("windows")
    [refused] = r.send(0.0, mm1(ecp))
    assert ISAKMP(refused)[scapy_isakmp.ISAKMP_payload_Notify].notify_msg_type == 14  # NO-PROPOSAL-CHOSEN


def test_an_ended_negotiation_is_kept_one_give_up_period_despite_its_earlier_deadlines() -> None:
    r = Recorder("windows")
    [answer] = r.send(0.0, mm1(AES128_SHA1_G14))
    rcookie = ISAKMP(answer).resp_cookie
    refusal = isakmp.encode(b"initiatr", rcookie, isakmp.INFORMATIONAL, [(isakmp.NOTIFY, isakmp.notify_payload(14))], 7)
    r.send(0.2, refusal)  # the initiator's notify ends it, while MM2's first resend was due at 1 s
    assert r.kinds("outcome")[-1]["code"] == 13802
    assert r.responder.tick(1.5) == [] and r.responder.negotiations() == 1
    r.send(2.0, mm3(b"initiatr", rcookie))
    assert r.kinds("drop")[-1]["reason"] == "not accepted in state REFUSED"  # recognised, not a stranger
    assert r.responder.next_deadline() == 0.2 + 127.0
    r.responder.tick(0.2 + 127.0)
    assert r.responder.negotiations() == 0 and r.responder.next_deadline() is None


# --- content, not the name, decides; Windows status only to Windows --------------------------


@pytest.mark.parametrize(("profile", "ends"), [("strongswan", True), ("libreswan", False)])
def test_a_new_mm3_is_not_a_retransmission_but_the_same_bytes_are(profile: str, ends: bool) -> None:
    r = Recorder(profile)
    [answer] = r.send(0.0, mm1(AES128_SHA1_G14))
    rcookie = ISAKMP(answer).resp_cookie
    [mm4] = r.send(0.1, mm3(b"initiatr", rcookie))
    assert r.send(0.2, mm3(b"initiatr", rcookie)) == [mm4]  # the same MM3 again: MM4 again
    [notify] = r.send(0.3, mm3(b"initiatr", rcookie, fill=3))  # a fresh key exchange under the same name
    assert ISAKMP(notify).exch_type == 5  # an INFORMATIONAL error notify (the learned models, reference/vpn-al)
    assert bool(r.kinds("outcome")) == ends  # strongSwan deletes the half-open SA, libreswan keeps it


@pytest.mark.parametrize(("vids", "statuses"), [((), []), ((vendors.MS_NT5_V9,), [13802])])
def test_only_an_initiator_whose_vendor_ids_say_windows_hears_ms_notify_status(
    vids: tuple[bytes, ...], statuses: list[int]
) -> None:
    r = Recorder("windows")
    [notify] = r.send(0.0, mm1(DES_MD5_G1, vids=vids))  # nothing acceptable: NO-PROPOSAL-CHOSEN
    found = [p for p in payloads(ISAKMP(notify)) if p.__class__.__name__ == "ISAKMP_payload_Notify"]
    assert found[0].notify_msg_type == 14
    assert [int.from_bytes(p.notify_data, "big") for p in found[1:] if p.notify_msg_type == 12345] == statuses
