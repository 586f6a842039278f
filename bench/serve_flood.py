"""``make serve-flood``: a real ``ikesim serve`` process under floods, on 127.0.0.0/8 (issue 18).

Three measurements, each against its own serve process (``--listen 127.0.0.1:0``, no NAT-T
port), with datagrams built by ikesim's own encoders and sent from real UDP sockets:

- **amplification**: one acceptable MM1 (IKEv1) or IKE_SA_INIT (IKEv2) from a socket that never
  answers, per profile, the schedule time-scaled; every datagram serve sends back is received
  and counted, and compared with the profile's own resend schedule;
- **flood**: 20,000 valid MM1s from 4,000 source ports (5 cookies each), from one address or
  spread over 400 (127.1.x.y), then a new initiator (127.0.0.2) and how soon its MM2 comes; the
  trace says how many datagrams serve sent, and at what peak rate;
- **memory**: 10,000 held negotiations (the global cap) whose first messages carry 1 or 255
  transforms (acceptable last, random attributes, none acceptable; IKEv2 too); serve's VmRSS and
  VmHWM from ``/proc/PID/status``, and how many it held (the trace says how many it forgot).

The flood is paced by serve's receive queue (``/proc/net/udp``), so that every datagram reaches
it: the kernel's drop count for serve's socket is printed and should be 0. Loopback only.

``python -m bench.serve_flood [--only amplification|flood|memory] [--json FILE]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from sim.protocol.profiles import PROFILES
from sim.wire import dh, reader
from sim.wire import payloads as wp

HOST = "127.0.0.1"
NEWCOMER = "127.0.0.2"  # a new initiator's address: the flood's own is at its per-address limit
PAIR14 = dh.key_pair(14, b"serve-flood" * 3, b"initiator")


# --- datagrams, built with ikesim's encoders -------------------------------------------------------


def _attributes(encryption: int, bits: int | None, hash_: int, group: int) -> bytes:
    """Phase 1 attributes (RFC 2409 appendix A): cipher, key length, hash, PSK, group, life in seconds."""
    head = wp.attribute(1, encryption) + (wp.attribute(14, bits) if bits else b"")
    return head + b"".join(wp.attribute(k, v) for k, v in ((2, hash_), (3, 1), (4, group), (11, 1), (12, 28800)))


ACCEPTED = _attributes(7, 128, 2, 14)  # AES-128, SHA-1, group 14: every served IKEv1 profile takes it
REFUSED = _attributes(1, None, 1, 1)  # DES, MD5, group 1


def mm1(cookie: bytes, transforms: int = 1, noise: random.Random | None = None, refused: bool = False) -> bytes:
    """An initiator's MM1; with ``transforms`` > 1, that many, the acceptable one last.

    ``noise``: the refused transforms carry random attribute values instead (an offer that does
    not compress), as long as the real ones. ``refused``: AES-128 and SHA-1, each with a group no
    profile accepts (all different): nothing is acceptable.
    """
    offers = [_attributes(7, 128, 2, 100 + i) for i in range(transforms)] if refused else []
    for _ in range(0 if refused else transforms - 1):
        if noise is None:
            offers.append(REFUSED)
        else:  # seven TV attributes of random types and values (the high bit marks TV)
            offers.append(b"".join(struct.pack("!HH", 0x8000 | noise.randrange(17, 0x8000), noise.randrange(65536))
                                   for _ in range(7)))  # fmt: skip
    if not refused:
        offers.append(ACCEPTED)
    items = [wp.v1_transform(i % 256, 1, a) for i, a in enumerate(offers, start=1)]
    sa = wp.v1_sa([wp.v1_proposal(1, 1, b"", items)])
    return wp.v1_message(cookie, bytes(8), reader.IDENTITY_PROTECTION, [sa])


# IKEv2 transforms an initiator may offer (type, ID, key length): AES-CBC, AES-GCM, ChaCha20; PRFs;
# integrity; groups. 255 of them, cycled, make a long offer whose combinations number in the millions.
V2_OFFERS = [(1, 12, 128), (1, 12, 256), (1, 20, 256), (1, 28, None), (2, 2, None), (2, 5, None), (2, 7, None),
             (3, 2, None), (3, 12, None), (3, 14, None), (4, 14, None), (4, 19, None), (4, 31, None),
             (4, 15, None)]  # fmt: skip


def ike_sa_init(spi: bytes, transforms: int = 4) -> bytes:
    """An IKE_SA_INIT request: AES-128, SHA-256 PRF and integrity, group 14, with NAT detection.

    With ``transforms`` > 4, one proposal of that many, :data:`V2_OFFERS` cycled.
    """
    offer = [(1, 12, 128), (2, 5, None), (3, 12, None), (4, 14, None)]
    if transforms > 4:
        offer = sorted((V2_OFFERS * (transforms // len(V2_OFFERS) + 1))[:transforms], key=lambda t: t[0])
    items = [wp.v2_transform(*t) for t in offer]
    body = [wp.v2_sa([wp.v2_proposal(1, 1, b"", items)]), wp.v2_ke(14, PAIR14.public), (wp.V2_NONCE, b"n" * 32),
            wp.v2_notify(16388, data=bytes(20)), wp.v2_notify(16389, data=bytes(20))]  # fmt: skip
    return wp.message(spi, bytes(8), 0x20, 34, 0x08, 0, body)


# --- the serve process ---------------------------------------------------------------------------


class Serve:
    """``ikesim serve`` as a child process: its port, its trace (a file), its memory; stopped by PID."""

    def __init__(self, *args: str) -> None:
        self.trace = tempfile.NamedTemporaryFile(prefix="serve-flood-", suffix=".jsonl", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sim.cli", "serve", "--listen", f"{HOST}:0", "--natt-port", "-1", *args],
            stdout=self.trace, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stderr is not None
        banner = self.process.stderr.readline()
        if "listening on" not in banner:
            self.stop()
            raise RuntimeError(f"ikesim serve did not start: {banner!r}")
        self.port = int(banner.split("listening on ")[1].split()[0].rsplit(":", 1)[1])
        self.pid = self.process.pid

    def memory(self) -> dict[str, float]:
        """VmRSS and VmHWM (the peak) of the serve process, in MiB."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = round(int(value.split()[0]) / 1024, 1)
        return found

    def queue(self) -> tuple[int, int]:
        """(bytes waiting in serve's receive queue, datagrams the kernel dropped for it) from /proc/net/udp."""
        local = f"{socket.htonl(0x7F000001):08X}:{self.port:04X}"
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local:
                return int(fields[4].split(":")[1], 16), int(fields[-1])
        return 0, 0

    def drain(self, below: int = 0, timeout: float = 60.0) -> None:
        """Wait until serve has read its receive queue down to ``below`` bytes."""
        end = time.monotonic() + timeout
        while self.queue()[0] > below and time.monotonic() < end:
            time.sleep(0.002)

    def events(self) -> list[dict[str, Any]]:
        """The trace lines serve has written so far."""
        with open(self.trace.name, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def stop(self) -> int:
        """Ctrl-C (a clean shutdown), then wait for it; returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.trace.close()
        with contextlib.suppress(OSError):
            os.unlink(self.trace.name)
        return self.process.returncode


@contextlib.contextmanager
def serving(*args: str) -> Iterator[Serve]:
    """A serve process for the ``with`` block, always stopped after it."""
    served = Serve(*args)
    try:
        yield served
    finally:
        served.stop()


def _socket(address: str = HOST) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((address, 0))
    return s


def time_to_answer(served: Serve, address: str, cookie: bytes) -> float | None:
    """Seconds from a new initiator's MM1 to its MM2 (None: nothing within 5 s)."""
    with _socket(address) as s:
        s.settimeout(5.0)
        start = time.perf_counter()
        s.sendto(mm1(cookie), (HOST, served.port))
        try:
            while True:
                answer, _ = s.recvfrom(65535)
                if answer[:8] == cookie:
                    return time.perf_counter() - start
        except TimeoutError:
            return None


def flood(served: Serve, datagrams: list[tuple[socket.socket, bytes]]) -> float:
    """Send every datagram, paced by serve's receive queue so that none is lost; returns the seconds it took.

    Batches fill at most half of a default receive buffer (212,992 bytes, counted with the kernel's
    overhead of about a kilobyte a datagram).
    """
    batch = max(1, 100_000 // (len(datagrams[0][1]) + 1024))
    start = time.perf_counter()
    for i in range(0, len(datagrams), batch):
        served.drain(below=16 * 1024)
        for s, data in datagrams[i : i + batch]:
            s.sendto(data, (HOST, served.port))
    served.drain()
    return time.perf_counter() - start


# --- 1. amplification ----------------------------------------------------------------------------

AMPLIFICATION = [("ikev1", "windows"), ("ikev1", "strongswan"), ("ikev1", "libreswan"), ("ikev2", "strongswan"),
                 ("ikev2", "windows-ikev2")]  # fmt: skip
SCALE = 0.02  # real seconds per profile second: the windows schedule (254 s with its linger) in 5 s


def expected_replies(protocol: str, profile: str) -> int:
    """What the profile itself sends for one first message from a silent peer: the reply and its resends.

    An IKEv2 responder never resends (RFC 7296 section 2.1); an IKEv1 one resends the reply its
    implementation resends, on its schedule, until it gives up or drops the half-open SA.
    """
    if protocol == "ikev2":
        return 1
    known = PROFILES[profile]
    rules = known.responder
    if rules.resends is not None and "MM2" not in rules.resends:
        return 1
    schedule = known.schedule()
    end = min(schedule.give_up_at, rules.half_open_timeout or schedule.give_up_at)
    return 1 + sum(1 for t in schedule.resend_at if t < end)


def amplification() -> list[dict[str, Any]]:
    """One first message per profile from a peer that never answers: what comes back, in all."""
    rows = []
    for protocol, profile in AMPLIFICATION:
        first = ike_sa_init(b"amplify!") if protocol == "ikev2" else mm1(b"amplify!")
        with serving("--protocol", protocol, "--profile", profile, "--time-scale", str(SCALE)) as served:
            got = []
            with _socket() as s:
                s.sendto(first, (HOST, served.port))
                # past its give-up and the period an ended negotiation is kept: nothing more can come
                s.settimeout(0.2)
                end = time.monotonic() + 2 * PROFILES[profile].schedule().give_up_at * SCALE + 1.0
                while time.monotonic() < end:
                    with contextlib.suppress(TimeoutError):
                        got.append(s.recvfrom(65535)[0])
            kinds = Counter(e["kind"] for e in served.events())
        out = sum(len(d) for d in got)
        rows.append({
            "protocol": protocol, "profile": profile, "bytes_in": len(first), "datagrams_out": len(got),
            "bytes_out": out, "ratio": round(out / len(first), 2), "expected_datagrams": expected_replies(protocol,
            profile), "trace_sends": kinds["send"] + kinds["retransmit"],
        })  # fmt: skip
    return rows


# --- 2. the flood --------------------------------------------------------------------------------


def _outbound(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Datagrams serve sent (send and retransmit lines) in all, and the most in one profile second."""
    per_second = Counter(int(e["t"]) for e in events if e["kind"] in ("send", "retransmit"))
    kinds = Counter(e["kind"] for e in events)
    return {"datagrams_out": sum(per_second.values()), "peak_out_per_second": max(per_second.values(), default=0),
            "resends": kinds["retransmit"], "opened": kinds["recv"]}  # fmt: skip


def flood_run(spread: bool, mm1s: int = 20_000, ports: int = 4_000) -> dict[str, Any]:
    """``mm1s`` valid MM1s from ``ports`` source ports (one address, or 400), then a newcomer's time to answer."""
    addresses = [f"127.1.{i // 200}.{i % 200 + 1}" for i in range(400)] if spread else [HOST]
    with serving("--profile", "windows") as served:
        idle = time_to_answer(served, NEWCOMER, b"idle-one")
        sockets = [_socket(addresses[i % len(addresses)]) for i in range(ports)]
        try:
            datagrams = [(sockets[i % ports], mm1(b"F" + i.to_bytes(7, "big"))) for i in range(mm1s)]
            seconds = flood(served, datagrams)
            after = time_to_answer(served, NEWCOMER, b"newcomer")
            same = time_to_answer(served, addresses[0], b"sameaddr")  # the flood's address: at its limit
            _, dropped = served.queue()
            memory = served.memory()
        finally:
            for s in sockets:
                s.close()
        outbound = _outbound(served.events())
    return {
        "sources": f"{len(addresses)} address{'es' if spread else ''}, {ports} ports", "mm1s": mm1s,
        "flood_seconds": round(seconds, 2), "mm1s_per_second": round(mm1s / seconds),
        "kernel_drops": dropped, "idle_answer_ms": _ms(idle), "newcomer_answer_ms": _ms(after),
        "flood_address_new_port_answer_ms": _ms(same), **outbound, **memory,
    }  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# --- 3. memory -----------------------------------------------------------------------------------


MEMORY: dict[str, tuple[str, str, Callable[[bytes], bytes]]] = {  # name -> protocol, profile, first message
    "MM1, 1 transform": ("ikev1", "windows", lambda c: mm1(c)),
    "MM1, 255 transforms": ("ikev1", "windows", lambda c: mm1(c, 255)),
    "MM1, 255, random attributes": ("ikev1", "windows", lambda c: mm1(c, 255, random.Random(c))),
    "MM1, 255, none acceptable": ("ikev1", "windows", lambda c: mm1(c, 255, refused=True)),
    "IKE_SA_INIT, 255 transforms": ("ikev2", "windows-ikev2", lambda c: ike_sa_init(c, 255)),
}


def memory_run(name: str, held: int = 10_000) -> dict[str, Any]:
    """``held`` first messages of one kind from 200 addresses (50 each, under the per-address limit)."""
    protocol, profile, make = MEMORY[name]
    addresses = [f"127.2.{i // 200}.{i % 200 + 1}" for i in range(200)]
    with serving("--protocol", protocol, "--profile", profile) as served:
        baseline = served.memory()
        sockets = [_socket(a) for a in addresses]
        try:
            datagrams = [(sockets[i % len(sockets)], make(b"M" + i.to_bytes(7, "big"))) for i in range(held)]
            seconds = flood(served, datagrams)
            memory = served.memory()
            _, dropped = served.queue()
        finally:
            for s in sockets:
                s.close()
        events = served.events()
    opened = sum(1 for e in events if e["kind"] == "recv" and e["message"] in ("MM1", "IKE_SA_INIT request"))
    evicted = sum(1 for e in events if e["kind"] == "drop" and "to make room" in (e.get("reason") or ""))
    answered = sum(1 for e in events if e["kind"] == "send")
    return {"offer": name, "bytes": len(datagrams[0][1]), "sent": held, "seconds": round(seconds, 2),
            "kernel_drops": dropped, "answered": answered, "held": opened - evicted,
            "baseline_rss_mib": baseline["VmRSS"], **memory}  # fmt: skip


# --- the report ----------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r.get(k))) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r.get(k)).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print them as tables, and optionally write them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve_flood", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["amplification", "flood", "memory"], action="append")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    wanted = args.only or ["amplification", "flood", "memory"]
    results: dict[str, Any] = {
        "date": date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}", "python": platform.python_version(),
    }  # fmt: skip
    print(f"# {results['date']}, {results['machine']}, Python {results['python']}")
    if "amplification" in wanted:
        results["amplification"] = rows = amplification()
        print("\n## one first message from a source that never answers\n" + _table(rows))
    if "flood" in wanted:
        results["flood"] = rows = [flood_run(spread=False), flood_run(spread=True)]
        print("\n## 20,000 valid MM1s from 4,000 ports, then a new initiator\n" + _table(rows))
    if "memory" in wanted:
        results["memory"] = rows = [memory_run(name) for name in MEMORY]
        print("\n## 10,000 held negotiations (MiB)\n" + _table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
