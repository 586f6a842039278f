"""A userspace Ethernet relay between two interfaces, able to damage or drop chosen IKE datagrams.

Run inside the middle namespace: ``python -m interop.relay A B [--damage N] [--cut-after N] --log FILE``.
Every frame read on one interface is written to the other, so both ends share one link. IKE
datagrams (UDP port 500 or 4500) going from A (initiator side) to B are counted from 1:

- ``--damage N``: the N-th has one byte of its IKE message flipped, so that the receiver cannot use
  it; later copies pass. ``--damage-offset`` says which byte: negative counts from the end (-1, the
  default: the last byte, inside the integrity checksum of an encrypted IKEv2 message), positive
  from the start of the IKE header (30: the high byte of the first payload's length, a parse error).
- ``--cut-after N``: after the N-th, every IKE datagram is dropped, both ways (the responder sees
  only the first N of the initiator's, the initiator none of the responder's).

The UDP checksum of each IPv4 datagram passed on is set to 0 (no checksum, valid for IPv4),
since frames read from a veth may carry a checksum left for the hardware to fill in. Each
damaged or dropped datagram is logged as one JSON line with its direction (``i->r``, ``r->i``),
its number among the IKE datagrams of that direction (from 1), its time and the SHA-256 of its UDP
payload as sent, so the reduction can mark it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import select
import signal
import socket
import sys
import time
from typing import Any

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
IKE_PORTS = (500, 4500)


def udp_offsets(frame: bytes) -> tuple[int, int] | None:
    """(offset of the UDP header, offset of its payload) for an IPv4 UDP frame, else None."""
    if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != 17:
        return None
    udp = 14 + (frame[14] & 0x0F) * 4
    if len(frame) < udp + 8:
        return None
    return udp, udp + 8


def is_ike(frame: bytes, udp: int) -> bool:
    """True for a datagram to or from UDP port 500 or 4500."""
    sport = int.from_bytes(frame[udp : udp + 2], "big")
    dport = int.from_bytes(frame[udp + 2 : udp + 4], "big")
    return sport in IKE_PORTS or dport in IKE_PORTS


def main(argv: list[str] | None = None) -> int:
    """Relay until SIGTERM."""
    parser = argparse.ArgumentParser(prog="interop.relay")
    parser.add_argument("side_a")
    parser.add_argument("side_b")
    parser.add_argument("--damage", type=int, default=0)
    parser.add_argument("--damage-offset", type=int, default=-1)
    parser.add_argument("--cut-after", type=int, default=0)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)

    socks: dict[str, socket.socket] = {}
    for name in (args.side_a, args.side_b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        socks[name] = s
    other = {args.side_a: socks[args.side_b], args.side_b: socks[args.side_a]}
    by_fd = {s.fileno(): name for name, s in socks.items()}
    counted = 0  # IKE datagrams from A to B so far
    per_dir = {"i->r": 0, "r->i": 0}  # IKE datagrams so far in each direction
    running = True

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    with open(args.log, "a", encoding="utf-8") as log:
        print(json.dumps({"event": "ready", "t": time.time()}), file=log, flush=True)
        while running:
            try:
                ready, _, _ = select.select(list(by_fd), [], [], 0.2)
            except InterruptedError:
                continue
            for fd in ready:
                name = by_fd[fd]
                frame, addr = socks[name].recvfrom(65535)
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own copy of a frame we wrote
                data = bytearray(frame)
                offsets = udp_offsets(frame)
                if offsets is not None:
                    udp, payload = offsets
                    data[udp + 6 : udp + 8] = b"\x00\x00"
                    ike = is_ike(frame, udp)
                    digest = hashlib.sha256(frame[payload:]).hexdigest()
                    direction = "i->r" if name == args.side_a else "r->i"
                    if ike:
                        per_dir[direction] += 1
                    if ike and name == args.side_a:
                        counted += 1
                    cut = counted > args.cut_after or (name == args.side_b and counted >= args.cut_after)
                    if ike and args.cut_after and cut:
                        note = {"dir": direction, "n": per_dir[direction], "t": time.time(), "sha256": digest}
                        print(json.dumps({"event": "drop", **note}), file=log, flush=True)
                        continue
                    if ike and name == args.side_a and counted == args.damage:
                        start = payload + (4 if data[payload : payload + 4] == b"\x00" * 4 else 0)
                        data[args.damage_offset if args.damage_offset < 0 else start + args.damage_offset] ^= 0xFF
                        note = {"dir": direction, "n": per_dir[direction], "t": time.time(), "sha256": digest}
                        print(json.dumps({"event": "damage", **note}), file=log, flush=True)
                other[name].send(bytes(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
