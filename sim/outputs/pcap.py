"""A pcap of a run, with real ISAKMP (IKEv1, AuthIP) and IKEv2 packets built with scapy.

One capture per peer, as tcpdump on that peer's interface would write it: every datagram it
sent, at the time it sent it (lost ones included), and every datagram that reached it, at the
time it arrived. Cookies, SPIs, nonces, key
exchange data and the placeholder ciphertext of encrypted payloads are derived from the seed and
the SA, so a retransmission is the same bytes as the message it repeats and a run's pcap is the
same bytes every time. Addresses are documentation ranges (see ``windows.peer_infos``); all
traffic is UDP 500 (ikesim does not model NAT, so there is no port 4500).

Corrupted messages stay parseable: a damaged cookie or message ID is a different value, a
damaged header sets a reserved flag bit, a damaged payload a reserved byte, a damaged version
the minor version.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from sim.enums import DropCause
from sim.outputs.renderer import Renderer
from sim.outputs.windows import EPOCH, PeerInfo, peer_infos, stable_bytes
from sim.trace import Drop, Recv, Retransmit, Send, Trace

DLT_EN10MB = 1  # Ethernet

# ISAKMP exchange types: RFC 2408/2409, and AuthIP's from [MS-AIPS] (private-use range).
IKEV1_EXCHANGES = {"MM": 2, "QM": 32, "INFO": 5}
AUTHIP_EXCHANGES = {"MM": 243, "QM": 244, "EM": 245, "INFO": 246}
IKEV2_EXCHANGES = {"IKE_SA_INIT": 34, "IKE_AUTH": 35, "CREATE_CHILD_SA": 36, "INFORMATIONAL": 37}
NOTIFY_NUMBERS = {
    "NO-PROPOSAL-CHOSEN": 14,
    "INVALID-KEY-INFORMATION": 17,
    "AUTHENTICATION-FAILED": 24,
    "COOKIE": 16390,
    "NO_PROPOSAL_CHOSEN": 14,
    "INVALID_KE_PAYLOAD": 17,
    "AUTHENTICATION_FAILED": 24,
    "NO_ADDITIONAL_SAS": 35,
    "INTERNAL_ADDRESS_FAILURE": 36,
    "FAILED_CP_REQUIRED": 37,
    "TEMPORARY_FAILURE": 43,
    "MS_NOTIFY_STATUS": 12345,
}


def exchange_of(message: str, protocol: str) -> int:
    """The ISAKMP/IKEv2 exchange type a message travels in."""
    if protocol == "ikev2":
        return IKEV2_EXCHANGES[message.split()[0]]
    table = AUTHIP_EXCHANGES if protocol == "authip" else IKEV1_EXCHANGES
    bare = message.removeprefix("AuthIP ")
    for prefix in ("MM", "QM", "EM"):
        if bare.startswith(prefix) and prefix in table:
            return table[prefix]
    return table["INFO"]


_NOTIFY = re.compile(r"N\(([^)]*)\)")


def _notifies(detail: str, cookie: bytes = b"") -> list[tuple[int, bytes]]:
    """The notify payloads a trace detail names, with their data: ``N(NO-PROPOSAL-CHOSEN) N(MS_NOTIFY_STATUS 13865)``.

    MS_NOTIFY_STATUS carries the status as a 32-bit number ([MS-IKEE] 2.2.7; network byte order is
    ikesim's assumption); INVALID_KE_PAYLOAD the group wanted, in two bytes (RFC 7296 3.10.1);
    COOKIE the responder's ``cookie``.
    """
    out = []
    for token in _NOTIFY.findall(detail) or ["NO-PROPOSAL-CHOSEN"]:
        name, _, value = token.partition(" ")
        data = b""
        if name == "MS_NOTIFY_STATUS" and value.isdigit():
            data = int(value).to_bytes(4, "big")
        elif name == "INVALID_KE_PAYLOAD" and value.isdigit():
            data = int(value).to_bytes(2, "big")
        elif name == "COOKIE":
            data = cookie
        out.append((NOTIFY_NUMBERS.get(name, 14), data))
    return out


logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # scapy's start-up chatter is not ours to print


class _Builder:
    """Builds each message's bytes once, so that repeated sends are identical."""

    def __init__(self, trace: Trace) -> None:
        from scapy.layers.isakmp import ISAKMP  # noqa: F401  (registers the ISAKMP layers)

        self.trace = trace
        self.seed = trace.seed
        self.infos = peer_infos(trace)
        self.cache: dict[tuple[str, str, str, str | None, int], bytes] = {}
        self.details: dict[tuple[str, str, str, int], str | None] = {}  # each send's detail, by exchange
        self.message_ids: dict[tuple[str, str, str, int], int] = {}
        self.counters: dict[tuple[str, str], int] = {}
        self.initiator_of: dict[str, str] = {}

    def key_sa(self, sa: str) -> str:
        """The main-mode or IKE SA whose cookies or SPIs a message carries."""
        return self.trace.root_of(sa)

    def payload(self, sender: str, receiver: str, sa: str, message: str, corrupt: str | None, n: int) -> bytes:
        """The bytes of the ``n``-th exchange of this message name on this SA by this sender (from 0).

        A retransmission is the same bytes as the send it repeats; a new request under the same
        name (a second liveness check, a second informational exchange) is a new exchange, with
        its own message ID.
        """
        key = (sender, sa, message, corrupt, n)
        if key not in self.cache:
            protocol = self.infos[sender].protocol
            build = self._ikev2 if protocol == "ikev2" else self._isakmp
            self.cache[key] = bytes(build(sender, sa, message, protocol, corrupt, n))
        return self.cache[key]

    def _cookies(self, sa: str, message: str, corrupt: str | None) -> tuple[bytes, bytes]:
        owner = self.key_sa(sa)
        icookie = stable_bytes(self.seed, owner, "icookie", size=8)
        rcookie = stable_bytes(self.seed, owner, "rcookie", size=8)
        if message in ("MM1", "AuthIP MM1", "IKE_SA_INIT request"):
            rcookie = bytes(8)
        if corrupt == "cookie":
            icookie = stable_bytes(self.seed, owner, "corrupt", size=8)
        return icookie, rcookie

    def _isakmp(self, sender: str, sa: str, message: str, protocol: str, corrupt: str | None, n: int) -> Any:
        from scapy.layers.isakmp import (
            ISAKMP,
            ISAKMP_payload_KE,
            ISAKMP_payload_Nonce,
            ISAKMP_payload_Notify,
            ISAKMP_payload_Proposal,
            ISAKMP_payload_SA,
            ISAKMP_payload_Transform,
        )
        from scapy.packet import Raw

        icookie, rcookie = self._cookies(sa, message, corrupt)
        exchange = exchange_of(message, protocol)
        bare = message.removeprefix("AuthIP ")
        if bare.startswith("MM"):
            msg_id = 0
        elif bare.startswith(("QM", "EM")):  # one exchange: its messages share the ID
            msg_id = int.from_bytes(stable_bytes(self.seed, sa, bare[:2], size=4), "big")
        else:  # each informational exchange has its own (RFC 2408 3.1: a random message ID)
            msg_id = int.from_bytes(stable_bytes(self.seed, sa, sender, bare, n, size=4), "big")
        if corrupt == "message_id":
            msg_id ^= 0x5A5A5A5A
        header: dict[str, Any] = {"init_cookie": icookie, "resp_cookie": rcookie, "exch_type": exchange, "id": msg_id}
        header["version"] = 0x11 if corrupt == "version" else 0x10
        flags = 0x08 if corrupt == "header" else 0  # a reserved flag bit
        detail = self.details.get((sender, sa, message, n)) or ""
        if bare in ("MM1", "MM2"):
            transform = ISAKMP_payload_Transform(
                transform_count=1,
                transform_id=1,
                transforms=[
                    ("Encryption", "AES-CBC"),
                    ("KeyLength", 128),
                    ("Hash", "SHA"),
                    ("GroupDesc", "2048MODPgr"),
                    ("Authentication", "PSK"),
                    ("LifeType", "Seconds"),
                    ("LifeDuration", 28800),
                ],
            )
            body = ISAKMP_payload_SA(prop=ISAKMP_payload_Proposal(proto=1, trans_nb=1, trans=transform))
            return ISAKMP(next_payload=1, flags=flags, **header) / body
        if bare in ("MM3", "MM4"):
            ke = ISAKMP_payload_KE(next_payload=10, ke=stable_bytes(self.seed, sa, sender, "ke", size=256))
            nonce = ISAKMP_payload_Nonce(nonce=stable_bytes(self.seed, sa, sender, "nonce", size=32))
            if corrupt == "payload":
                nonce.res = 0xFF
            return ISAKMP(next_payload=4, flags=flags, **header) / ke / nonce
        if message in ("INFO NOTIFY", "AuthIP NOTIFY"):
            notifies = _notifies(detail)
            packet = ISAKMP(next_payload=11, flags=flags, **header)
            for i, (number, data) in enumerate(notifies):
                more = 11 if i + 1 < len(notifies) else 0
                packet = packet / ISAKMP_payload_Notify(next_payload=more, notify_msg_type=number, proto=1,
                                                        notify_data=data)  # fmt: skip
            return packet
        # Everything else is encrypted: a placeholder ciphertext of a realistic length (AES blocks).
        size = {"MM5": 64, "MM6": 64, "QM1": 112, "QM2": 112, "QM3": 48}.get(bare, 64)
        first = 5 if bare in ("MM5", "MM6") else 8  # ID, or HASH
        cipher = stable_bytes(self.seed, sa, sender, message, "cipher", size=size)
        return ISAKMP(next_payload=first, flags=flags | 0x01, **header) / Raw(cipher)

    def _ikev2(self, sender: str, sa: str, message: str, protocol: str, corrupt: str | None, n: int) -> Any:
        from scapy.contrib.ikev2 import (
            IKEv2,
            IKEv2_Encrypted,
            IKEv2_KE,
            IKEv2_Nonce,
            IKEv2_Notify,
            IKEv2_Proposal,
            IKEv2_SA,
            IKEv2_Transform,
        )

        owner = self.key_sa(sa)
        exchange_name, kind = message.split()
        icookie, rcookie = self._cookies(sa, message, corrupt)
        self.initiator_of.setdefault(owner, sender if message == "IKE_SA_INIT request" else "")
        is_original_initiator = self.initiator_of.get(owner) == sender
        flags = (0x08 if is_original_initiator else 0) | (0x20 if kind == "response" else 0)
        if corrupt == "header":
            flags |= 0x01  # a reserved flag bit
        msg_id = self._message_id(owner, sender, exchange_name, kind, n)
        if corrupt == "message_id":
            msg_id ^= 0x5A5A
        header: dict[str, Any] = {
            "init_SPI": icookie,
            "resp_SPI": rcookie,
            "exch_type": IKEV2_EXCHANGES[exchange_name],
            "flags": flags,
            "id": msg_id,
            "version": 0x21 if corrupt == "version" else 0x20,
        }
        detail = self.details.get((sender, sa, message, n)) or ""
        cookie = stable_bytes(self.seed, owner, "cookie", size=16)
        if exchange_name == "IKE_SA_INIT" and kind == "response" and detail.startswith("N("):
            notifies = _notifies(detail, cookie)
            header["resp_SPI"] = bytes(8)  # an IKE_SA_INIT refused with a notify made no SA (RFC 7296 1.2)
            packet = IKEv2(next_payload=41, **header)
            for i, (number, data) in enumerate(notifies):
                more = 41 if i + 1 < len(notifies) else 0
                packet = packet / IKEv2_Notify(next_payload=more, type=number, notify=data)
            return packet
        if exchange_name == "IKE_SA_INIT":
            transforms = (
                IKEv2_Transform(transform_type="Encryption", transform_id=12, key_length=128)
                / IKEv2_Transform(transform_type="PRF", transform_id=2)
                / IKEv2_Transform(transform_type="Integrity", transform_id=2)
                / IKEv2_Transform(transform_type="GroupDesc", transform_id=14)
            )
            sa_payload = IKEv2_SA(next_payload=34, prop=IKEv2_Proposal(trans_nb=4, trans=transforms))
            ke = IKEv2_KE(next_payload=40, group=14, ke=stable_bytes(self.seed, owner, sender, "ke", size=256))
            nonce = IKEv2_Nonce(nonce=stable_bytes(self.seed, owner, sender, "nonce", size=32))
            if corrupt == "payload":
                nonce.flags = 0x7F
            if "N(COOKIE)" in detail:  # the cookie returned comes first (RFC 7296 2.6)
                returned = IKEv2_Notify(next_payload=33, type=NOTIFY_NUMBERS["COOKIE"], notify=cookie)
                return IKEv2(next_payload=41, **header) / returned / sa_payload / ke / nonce
            return IKEv2(next_payload=33, **header) / sa_payload / ke / nonce
        inner = {
            "IKE_AUTH request": 35,
            "IKE_AUTH response": 36,
            "CREATE_CHILD_SA request": 33,
            "CREATE_CHILD_SA response": 33,
        }.get(message, 42 if detail == "D" else 0)
        size = {"IKE_AUTH": 160, "CREATE_CHILD_SA": 128}.get(exchange_name, 48)
        body = stable_bytes(self.seed, sa, sender, message, "cipher", size=16 + size + 12)  # IV, data, ICV
        return IKEv2(next_payload=46, **header) / IKEv2_Encrypted(next_payload=inner, load=body)

    def _message_id(self, owner: str, sender: str, exchange: str, kind: str, n: int) -> int:
        """IKEv2 message IDs: each side counts the requests it sends; a response repeats its request's."""
        if kind == "request":
            key = (owner, sender, exchange, n)
            if key not in self.message_ids:
                count = self.counters.get((owner, sender), 0)
                self.counters[(owner, sender)] = count + 1
                self.message_ids[key] = count
            return self.message_ids[key]
        others = [mid for (o, s, x, _), mid in self.message_ids.items() if o == owner and s != sender and x == exchange]
        return others[-1] if others else 0


def captures(trace: Trace) -> dict[str, list[Any]]:
    """Each peer's capture, in the order of the trace's peers: what its interface saw.

    Every datagram the peer sent (lost ones included: they left its interface), stamped at its
    own time of sending, and every datagram that reached it (damaged or refused ones included,
    and those its silenced IKE service ignored), stamped at its time of arrival. A message a
    silent or crashed peer would have sent never left it. The same datagram has the same IP ID
    in both peers' captures.
    """
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import EDecimal

    builder = _Builder(trace)
    infos: dict[str, PeerInfo] = builder.infos
    out: dict[str, list[Any]] = {name: [] for name in infos}
    exchanges: dict[tuple[str, str, str], int] = {}  # (sender, SA, message) -> sends so far
    ip_ids: dict[tuple[str, str, str], int] = {}  # (sender, SA, message) -> the IP ID of its latest datagram
    sent: dict[tuple[str, str, str, float], Any] = {}  # a send's frame, until we know it left the machine
    never_left: set[int] = set()

    def frame(sender: PeerInfo, receiver: PeerInfo, sa: str, message: str, corrupt: str | None, t: float) -> Any:
        n = max(exchanges.get((sender.name, sa, message), 1) - 1, 0)  # the latest send of it
        data = builder.payload(sender.name, receiver.name, sa, message, corrupt, n)
        packet = (
            Ether(src=sender.mac, dst=receiver.mac)
            / IP(src=sender.address, dst=receiver.address, id=ip_ids.get((sender.name, sa, message), 0), flags="DF")
            / UDP(sport=500, dport=500)
            / data
        )
        packet.time = EDecimal(int(EPOCH.timestamp())) + EDecimal(repr(t))  # exact: a float would drift by 0.1 us
        return packet

    for e in trace.events:
        if isinstance(e, Send | Retransmit) and e.sa is not None:
            key = (e.peer, e.sa, e.message)
            if isinstance(e, Send):
                exchanges[key] = exchanges.get(key, 0) + 1
                builder.details[(e.peer, e.sa, e.message, exchanges[key] - 1)] = e.detail  # before any copy arrives
            ip_ids[key] = e.seq & 0xFFFF
            packet = frame(infos[e.peer], infos[e.to], e.sa, e.message, None, e.t)
            out[e.peer].append(packet)
            sent[(e.peer, e.sa, e.message, e.t)] = packet
        elif isinstance(e, Recv) and e.sa is not None:
            out[e.peer].append(frame(infos[e.sender], infos[e.peer], e.sa, e.message, e.corrupted, e.t))
        elif isinstance(e, Drop) and e.sa is not None and e.cause in (DropCause.SILENT, DropCause.DOWN):
            if e.reason.startswith(f"{e.sender} is "):  # the sender itself: the datagram never left it
                packet = sent.pop((e.sender, e.sa, e.message, e.t), None)
                if packet is not None:
                    never_left.add(id(packet))  # by identity: a retransmission is an equal packet
            elif e.cause == DropCause.SILENT:  # it reached the silenced receiver, whose IKE service ignored it
                out[e.peer].append(frame(infos[e.sender], infos[e.peer], e.sa, e.message, None, e.t))
    return {peer: [p for p in frames if id(p) not in never_left] for peer, frames in out.items()}


def render(trace: Trace) -> dict[str, bytes]:
    """``capture-<peer>.pcap`` for each peer."""
    from scapy.utils import PcapWriter

    files = {}
    for peer, frames in captures(trace).items():
        buffer = io.BytesIO()
        writer = PcapWriter(buffer, linktype=DLT_EN10MB, sync=True)  # an empty capture needs the link type too
        writer.write_header(None)
        for packet in frames:
            writer.write(packet)
        files[f"capture-{peer}.pcap"] = buffer.getvalue()
        writer.close()
    return files


RENDERER = Renderer(
    "pcap",
    "capture-<peer>.pcap",
    "what each peer's interface saw: every ISAKMP / IKEv2 datagram it sent (lost ones too) and received, at its own "
    "time, for Wireshark",
    render,
)
