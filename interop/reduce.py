"""Reduce a case's captures and daemon logs to the messages and events of its recording.

The captures are taken at both ends (``a.pcap`` at the initiator's interface, ``b.pcap`` at the
responder's); tshark dissects them. A message is listed once, from its sender's capture, with:

- ``t_ms``: milliseconds after the first datagram of the case;
- ``dir``: ``i->r`` or ``r->i``;
- ``protocol`` (``ikev1``/``ikev2``), ``exchange`` and ``message``: MM1..MM6, QM1..QM3, AM1..AM3 and
  INFO for IKEv1 (encrypted messages are named by their exchange type and their position: the n-th
  distinct message of the exchange), ``IKE_SA_INIT request`` and the like for IKEv2;
- ``notifies``: the notify types, from tshark when in clear, else from the sender's log (charon
  logs what each message it generates holds, e.g. ``[ N(AUTH_FAILED) ]``);
- ``retransmit``: true when the same bytes were sent before by the same side;
- ``delivery``: ``delivered`` (seen in the other end's capture), ``damaged`` (the relay flipped a
  byte on the way: its log names the n-th datagram of a direction) or ``lost`` (the relay dropped
  it, or the other end's capture does not have it).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IKEV1_EXCHANGES = {2: "Main Mode", 4: "Aggressive", 5: "Informational", 32: "Quick Mode"}
IKEV1_PREFIX = {2: "MM", 4: "AM", 32: "QM"}
IKEV2_EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}

# Notify message types (RFC 2408 for IKEv1, RFC 7296 and IANA for IKEv2): the errors, and the
# status types charon sends.
IKEV1_NOTIFIES = {
    1: "INVALID-PAYLOAD-TYPE", 4: "INVALID-COOKIE", 5: "INVALID-MAJOR-VERSION", 7: "INVALID-EXCHANGE-TYPE",
    14: "NO-PROPOSAL-CHOSEN", 16: "PAYLOAD-MALFORMED", 17: "INVALID-KEY-INFORMATION", 18: "INVALID-ID-INFORMATION",
    23: "INVALID-HASH-INFORMATION", 24: "AUTHENTICATION-FAILED", 24576: "RESPONDER-LIFETIME",
    24578: "INITIAL-CONTACT", 36136: "R-U-THERE", 36137: "R-U-THERE-ACK",
}  # fmt: skip
IKEV2_NOTIFIES = {
    1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION", 7: "INVALID_SYNTAX",
    9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI", 14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD",
    24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED", 35: "NO_ADDITIONAL_SAS", 36: "INTERNAL_ADDRESS_FAILURE",
    37: "FAILED_CP_REQUIRED", 38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS", 43: "TEMPORARY_FAILURE",
    44: "CHILD_SA_NOT_FOUND", 16384: "INITIAL_CONTACT", 16385: "SET_WINDOW_SIZE", 16388: "NAT_DETECTION_SOURCE_IP",
    16389: "NAT_DETECTION_DESTINATION_IP",
    16390: "COOKIE", 16391: "USE_TRANSPORT_MODE", 16395: "ESP_TFC_PADDING_NOT_SUPPORTED",
    16396: "NON_FIRST_FRAGMENTS_ALSO", 16400: "MOBIKE_SUPPORTED", 16404: "MULTIPLE_AUTH_SUPPORTED",
    16406: "REDIRECT_SUPPORTED", 16418: "CHILDLESS_IKEV2_SUPPORTED", 16430: "IKEV2_FRAGMENTATION_SUPPORTED",
    16431: "SIGNATURE_HASH_ALGORITHMS",
}  # fmt: skip
# charon's short names in its "generating ... [ N(...) ]" log lines.
CHARON_NOTIFIES = {
    "AUTH_FAILED": 24, "NO_PROP": 14, "INVAL_KE": 17, "PLD_MAL": 16, "INVAL_SYN": 7, "TS_UNACCEPT": 38,
    "INIT_CONTACT": 16384, "INVAL_ID": 18, "INVAL_HASH": 23, "INVAL_PAYLOAD": 1, "TEMP_FAIL": 43,
}  # fmt: skip

FIELDS = ("frame.time_epoch", "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "udp.payload", "isakmp.notify.msgtype")


@dataclass
class Datagram:
    """One captured IKE datagram."""

    t: float
    src: str
    dst: str
    payload: bytes  # the IKE message (the non-ESP marker of port 4500 removed)
    notifies: list[int]

    @property
    def digest(self) -> str:
        """SHA-256 of the UDP payload as on the wire (with the marker, as the relay logs it)."""
        return hashlib.sha256(self.wire).hexdigest()

    wire: bytes = b""


def read_pcap(path: Path) -> list[Datagram]:
    """The IKE datagrams of a capture, dissected by tshark."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    argv = ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]
    argv += ["-E", "aggregator=,", "-d", "udp.port==4500,isakmp"]
    for f in FIELDS:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    grams = []
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) < len(FIELDS) or not cols[5]:
            continue
        wire = bytes.fromhex(cols[5].replace(":", ""))
        payload = wire[4:] if wire[:4] == b"\x00" * 4 else wire
        if len(payload) < 28:
            continue  # a NAT keepalive
        notifies = [int(x, 0) for x in cols[6].split(",") if x]
        grams.append(Datagram(float(cols[0]), cols[1], cols[2], payload, notifies, wire))
    return grams


def _notify_name(protocol: str, value: int) -> str:
    table = IKEV1_NOTIFIES if protocol == "ikev1" else IKEV2_NOTIFIES
    return table.get(value, f"NOTIFY_{value}")


def generated_payloads(log: Path | None) -> list[str]:
    """The payload lists of the messages a charon generated, in order (``SA KE No N(NATD_S_IP)``...)."""
    if log is None or not log.exists():
        return []
    found = []
    for line in log.read_text(errors="replace").splitlines():
        m = re.search(r"\[ENC\] generating \S+ (?:request|response) \d+ \[ (.*) \]$", line)
        if m:
            found.append(m.group(1))
    return found


def reduce_messages(
    a_pcap: Path,
    b_pcap: Path,
    initiator: str,
    responder: str,
    relay_log: Path | None = None,
    logs: dict[str, Path | None] | None = None,
) -> tuple[float | None, list[dict[str, Any]]]:
    """(Unix time of the first datagram, the messages in order) of one case."""
    at_a, at_b = read_pcap(a_pcap), read_pcap(b_pcap)
    sent = [(g, "i->r") for g in at_a if g.src == initiator] + [(g, "r->i") for g in at_b if g.src == responder]
    sent.sort(key=lambda x: x[0].t)
    if not sent:
        return None, []
    t0 = sent[0][0].t
    relay: dict[tuple[str, int], str] = {}  # (direction, n-th datagram of that direction) -> what the relay did
    if relay_log is not None and relay_log.exists():
        for line in relay_log.read_text().splitlines():
            entry = json.loads(line)
            if entry["event"] in ("damage", "drop"):
                relay[(entry["dir"], entry["n"])] = "damaged" if entry["event"] == "damage" else "lost"
    counts = {"i->r": 0, "r->i": 0}
    received = {
        "i->r": [g.wire for g in at_b if g.src == initiator],
        "r->i": [g.wire for g in at_a if g.src == responder],
    }
    generated = {d: generated_payloads((logs or {}).get(d)) for d in ("i->r", "r->i")}
    first_sends = {"i->r": 0, "r->i": 0}
    seen: dict[str, list[bytes]] = {"i->r": [], "r->i": []}
    positions: dict[tuple[bytes, int, int], int] = {}  # (ispi, exchange, message id) -> messages so far
    names: dict[bytes, str] = {}
    messages = []
    for g, direction in sent:
        p = g.payload
        ispi, version, exchange, flags, msgid = p[0:8], p[17] >> 4, p[18], p[19], int.from_bytes(p[20:24], "big")
        protocol = "ikev2" if version == 2 else "ikev1"
        retransmit = p in seen[direction]
        seen[direction].append(p)
        if retransmit:
            name = names[p]
        elif protocol == "ikev2":
            name = f"{IKEV2_EXCHANGES.get(exchange, str(exchange))} {'response' if flags & 0x20 else 'request'}"
        elif exchange in IKEV1_PREFIX:
            key = (ispi, exchange, 0 if exchange != 32 else msgid)
            positions[key] = positions.get(key, 0) + 1
            name = f"{IKEV1_PREFIX[exchange]}{positions[key]}"
        else:
            name = "INFO" if exchange == 5 else f"exchange {exchange}"
        names[p] = name
        notifies = [_notify_name(protocol, v) for v in g.notifies]
        log_payloads = None
        if not retransmit:
            listed = generated[direction]
            if first_sends[direction] < len(listed):
                log_payloads = listed[first_sends[direction]]
            first_sends[direction] += 1
        if log_payloads is not None and not notifies:
            for short in re.findall(r"N\((\w+)\)", log_payloads):
                value = CHARON_NOTIFIES.get(short)
                if value is not None:
                    notifies.append(_notify_name(protocol, value))
        counts[direction] += 1
        delivery = relay.get((direction, counts[direction]), "delivered")
        if delivery == "delivered" and g.wire not in received[direction]:
            delivery = "lost"
        if delivery == "delivered":
            received[direction].remove(g.wire)
        if protocol == "ikev2":
            exchange_name = IKEV2_EXCHANGES.get(exchange, str(exchange))
        else:
            exchange_name = IKEV1_EXCHANGES.get(exchange, str(exchange))
        message: dict[str, Any] = {
            "t_ms": round((g.t - t0) * 1000, 1),
            "dir": direction,
            "protocol": protocol,
            "exchange": exchange_name,
            "message": name,
            "message_id": msgid,
            "encrypted": bool(flags & 0x01) if protocol == "ikev1" else exchange != 34,
            "notifies": notifies,
            "retransmit": retransmit,
            "delivery": delivery,
            "bytes": len(g.wire),
        }
        if log_payloads is not None:
            message["payloads"] = log_payloads
        messages.append(message)
    return t0, messages


# What a charon log says about how a negotiation went: (kind, pattern).
LOG_EVENTS = (
    ("established", r"IKE_SA \S+ established between"),
    ("child_established", r"CHILD_SA \S+ established"),
    ("give_up", r"giving up after (\d+) retransmits"),
    ("half_open_deleted", r"deleting half open IKE_SA"),
    ("notify_error", r"received (\S+) (?:notify error|error notify)"),
    ("no_proposal", r"no proposal found|no acceptable proposal found|received proposals unacceptable"),
    ("auth_failed", r"authentication of .* failed|MAC mismatched|verification of .* failed"),
    ("parse_error", r"message parsing failed|parsing .* failed|invalid ID_V1 payload length|integrity check failed"),
    ("invalid_ke", r"peer didn't accept DH group|DH group \S+ unacceptable, requesting"),
    ("virtual_ip", r"installing new virtual IP"),
    ("no_child", r"no CHILD_SA built"),
    ("failed", r"establishing IKE_SA failed|IKE_SA .*failed"),
)


def log_events(log: Path, side: str, t0: float) -> list[dict[str, Any]]:
    """The events of one charon log, times in ms after ``t0``."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"(\d+\.\d+) \d+\[(\w+)\] (.*)$", line)
        if not m:
            continue
        text = m.group(3).strip()
        for kind, pattern in LOG_EVENTS:
            if re.search(pattern, text):
                events.append({"t_ms": round((float(m.group(1)) - t0) * 1000, 1), "side": side, "event": kind,
                               "log": text})  # fmt: skip
                break
    return events


# What a pluto log says about how a negotiation went: (kind, pattern). A responder's state that
# pluto drops on its own before it is established (``deleting state (STATE_MAIN_R1)``, not after
# a timeout of its own resends, not at shutdown) is its ``half_open_deleted``.
PLUTO_LOG_EVENTS = (
    ("established", r"IKE SA established|established IKE SA"),
    ("child_established", r"IPsec SA established|established Child SA"),
    ("give_up", r"second timeout exceeded after \d+ retransmits"),
    ("notify_error", r"received (?:and ignored )?(?:notification|notify) \S+"),
    ("no_proposal", r"no acceptable|NO_PROPOSAL_CHOSEN"),
    ("auth_failed", r"authentication failed|AUTHENTICATION_FAILED|PSK authentication failure"),
    ("parse_error", r"malformed|[Mm]essage ignored because|INVALID_PAYLOAD|PAYLOAD_MALFORMED"),
    ("failed", r"internal error|hit fail"),
)
PLUTO_HALF_OPEN = re.compile(r"deleting state \((STATE_MAIN_R[012]|STATE_AGGR_R[01]|STATE_V2_PARENT_R[01]"
                             r"|STATE_V2_PARENT_R_IKE_SA_INIT)\)")  # fmt: skip
PLUTO_LINE = re.compile(r"(\w{3} [ \d]\d \d\d:\d\d:\d\d\.\d+): (.*)$")


def pluto_time(stamp: str, near: float) -> float:
    """Unix time of a pluto log stamp (``Nov 25 14:40:26.640447``, local time, no year) near ``near``."""
    import datetime

    whole, _, fraction = stamp.partition(".")
    year = datetime.datetime.fromtimestamp(near).year
    candidates = []
    for y in (year - 1, year, year + 1):
        parsed = datetime.datetime.strptime(f"{y} {whole}", "%Y %b %d %H:%M:%S")
        candidates.append(parsed.timestamp() + float(f"0.{fraction}"))
    return min(candidates, key=lambda t: abs(t - near))


def pluto_log_events(log: Path, side: str, t0: float) -> list[dict[str, Any]]:
    """The events of one pluto log, times in ms after ``t0`` (lines after "shutting down" are not read)."""
    events: list[dict[str, Any]] = []
    if not log.exists():
        return events
    gave_up: set[str] = set()
    for line in log.read_text(errors="replace").splitlines():
        m = PLUTO_LINE.match(line)
        if not m:
            continue
        text = m.group(2).strip()
        if text.startswith("shutting down"):
            break
        serial = re.search(r" (#\d+): ", text)
        kind = next((k for k, pattern in PLUTO_LOG_EVENTS if re.search(pattern, text)), None)
        if kind is None and PLUTO_HALF_OPEN.search(text) and (serial is None or serial.group(1) not in gave_up):
            kind = "half_open_deleted"
        if kind is None:
            continue
        if kind == "give_up" and serial is not None:
            gave_up.add(serial.group(1))
        t = pluto_time(m.group(1), t0)
        events.append({"t_ms": round((t - t0) * 1000, 1), "side": side, "event": kind, "log": text})
    return events
