"""What a Windows peer would log: Security audit events (Event XML and .evtx) and WFP net events.

Only Windows peers log: a peer whose profile is ``windows`` or ``windows-ikev2``, or that speaks
AuthIP. docs/windows-events.md explains each file and lists, value by value, what is confirmed by
which public source and what is ikesim's choice. In short:

* Each event has the Data names, order and Version of its template in the Windows manifest
  (``Microsoft-Windows-Security-Auditing``: the templates that GitHub ``airbus-cert/etl-parser``
  generated from it, and the manifest dump in ``repnz/etw-providers-docs``, which also gives each
  value's type); 4654 is version 1 (with ``TunnelId`` and ``TrafficSelectorId``).
* Task is the audit subcategory (12547 IPsec Main Mode, 12549 Quick Mode, 12550 Extended Mode:
  ``nasbench/Eventlog_Compendium``); Level and Opcode 0, as in a real 4653 (GitHub
  ``DigitalRuby/IPBan``); Keywords Audit Failure for the failed negotiations 4653, 4654 and 4984,
  Audit Success for 4655 and 4976..4978 (Microsoft's "Audit IPsec Main/Quick/Extended Mode" pages
  mark 4655 and 4976..4978 ``(S)``; they mark 4984 ``(S)`` too, which ikesim does not follow:
  unconfirmed, see the docs).
* Enumerated values are parameter-message references ``%%NNNN`` as a raw event holds them. The
  message texts are those of msobjs.dll (message table dumps in GitHub ``libyal/winevt-kb``,
  ``docs/sources/message-files/MessageFile-msobjs.dll.md``, Windows 6.0 to 10.0.22000); the real
  4653 confirms 8222 (IKEv1), 8199 (Local computer), 8194 (Unknown authentication), 8202 (main
  mode "Sent first (SA) payload"), 8205 (Initiator) and 8217 (impersonation "Not enabled"). The
  other values are read off the message table by their text, which follows each enum's order.
  Unconfirmed: which message Windows writes for the main-mode states FINAL_SENT and COMPLETE and
  the extended-mode states FINAL and COMPLETE, which have no message of their own (ikesim writes
  %%8211, "Unknown"), and for IPSEC_FAILURE_NONE (ikesim writes %%8229, "None").
* MMAuthMethod is %%8194 (Unknown authentication) until the peer knows the chosen method: an
  initiator once the responder answered, a responder once it chose (left state NONE), as the
  real 4653 of an unanswered initiator shows; then the configured method.
* Cookies (IKEv2: SPIs) are those of the captures (``stable_bytes(seed, <root SA>, "icookie" |
  "rcookie")``); the ResponderCookie is zeros while the initiator has received nothing from the
  responder on that SA. 4654's MessageID is the quick-mode message ID of the capture (IKEv1 and
  AuthIP), or the ID of the IKEv2 request that carried the child SA. Keying module ports are 500,
  and 4500 from IKE_AUTH on when a strongSwan initiator moved the IKE SA there (as the captures
  show; ikesim models no NAT, so nothing else moves).
* FailureReason is the code's Microsoft message, as Windows writes it (the real 4653).
* The rendered flavour (``rendered=True``) adds ``RenderingInfo`` as ``wevtutil qe
  /f:RenderedXml`` does: the message of adtschema.dll with the values in (and ``%%NNNN`` as text),
  the Level, Task, Opcode, Channel, Provider and Keywords names. EventData stays raw.
* A main-mode failure at a peer that authenticates with a certificate is 4652, the variant with
  certificate sections (template: airbus-cert/etl-parser; message: adtschema.dll): its own
  certificate's SHA-1 thumbprint (upper-case hex, ikesim's choice: no public raw 4652 shows
  the form), issuing CA and root CA, and the other peer's once a message carrying it arrived
  (MM5 / MM6, IKE_AUTH), with root CA ``-`` when that certificate does not chain to the root
  the peer trusts. They are the certificates of the captures (:mod:`sim.wire.certs`). 4983, the
  extended-mode variant with certificates, is never written: ikesim's extended mode
  authenticates the user with Kerberos.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sim import codes
from sim.enums import AuthMethod, EmState, FailurePoint, KeyModule, MmState, QmState, Role
from sim.outputs.evtx_file import ValueType, evtx_bytes, filetime, records_from_xml
from sim.outputs.renderer import Renderer
from sim.trace import Event, Outcome, Recv, Send, Trace
from sim.wire import certs, vendors
from sim.wire.messages import stable_bytes

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the virtual clock's zero, in every fixture
PROVIDER = "Microsoft-Windows-Security-Auditing"
PROVIDER_GUID = "{54849625-5478-4994-A5BA-3E3B0328C30D}"  # upper case, as the real 4653 has it
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
AUDIT_FAILURE, AUDIT_SUCCESS = "0x8010000000000000", "0x8020000000000000"
TASK_MAIN_MODE, TASK_QUICK_MODE, TASK_EXTENDED_MODE = 12547, 12549, 12550
TASK_NAMES = {TASK_MAIN_MODE: "IPsec Main Mode", TASK_QUICK_MODE: "IPsec Quick Mode",
              TASK_EXTENDED_MODE: "IPsec Extended Mode"}  # fmt: skip
ZERO_COOKIE = "0000000000000000"
IKE_PORT = 500
NATT_PORT = 4500  # a strongSwan IKEv2 initiator moves there after IKE_SA_INIT, NAT or not (sim.wire.vendors)

AUTH_METHODS = {"psk": AuthMethod.PRESHARED_KEY, "certificate": AuthMethod.CERTIFICATE, "eap": AuthMethod.EAP}
STATE_ENUMS: dict[str, type[MmState | QmState | EmState]] = {
    "IKEEXT_MM_SA_STATE_": MmState,
    "IKEEXT_QM_SA_STATE_": QmState,
    "IKEEXT_EM_SA_STATE_": EmState,
}

# --- msobjs.dll parameter messages (libyal/winevt-kb, MessageFile-msobjs.dll.md) ---------------
# Message identifier (decimal) -> its text. The raw event holds "%%<id>".
MSOBJS = {
    8192: "Kerberos",
    8193: "Preshared key",
    8194: "Unknown authentication",
    8199: "Local computer",
    8200: "Remote computer",
    8201: "No state",
    8202: "Sent first (SA) payload",
    8203: "Sent second (KE) payload",
    8204: "Sent third (ID) payload",
    8205: "Initiator",
    8206: "Responder",
    8207: "No state",
    8208: "Sent first (SA) payload",
    8209: "Sent final payload",
    8210: "Complete",
    8211: "Unknown",
    8212: "Transport",
    8213: "Tunnel",
    8216: "Enabled",
    8217: "Not enabled",
    8218: "No state",
    8219: "Sent first (EM attributes) payload",
    8220: "Sent second (SSPI) payload",
    8221: "Sent third (hash) payload",
    8222: "IKEv1",
    8223: "AuthIP",
    8227: "Certificate",
    8229: "None",
    8244: "IKEv2",
    8247: "EAP",
}
KEY_MODULE_PARAMS = {"ikev1": 8222, "authip": 8223, "ikev2": 8244}
FAILURE_POINT_PARAMS = {FailurePoint.ME: 8199, FailurePoint.PEER: 8200, FailurePoint.NONE: 8229}
AUTH_PARAMS = {AuthMethod.PRESHARED_KEY: 8193, AuthMethod.CERTIFICATE: 8227, AuthMethod.KERBEROS: 8192,
               AuthMethod.EAP: 8247}  # fmt: skip
UNKNOWN_AUTH = 8194
ROLE_PARAMS = {Role.INITIATOR: 8205, Role.RESPONDER: 8206}
IMPERSONATION_NOT_ENABLED = 8217
MODE_PARAMS = {"transport": 8212, "tunnel": 8213}
UNKNOWN = 8211
STATE_PARAMS: dict[type[MmState | QmState | EmState], dict[int, int]] = {
    MmState: {MmState.NONE: 8201, MmState.SA_SENT: 8202, MmState.SSPI_SENT: 8203, MmState.FINAL: 8204},
    QmState: {QmState.NONE: 8207, QmState.INITIAL: 8208, QmState.FINAL: 8209, QmState.COMPLETE: 8210},
    EmState: {EmState.NONE: 8218, EmState.SENT_ATTS: 8219, EmState.SSPI_SENT: 8220, EmState.AUTH_COMPLETE: 8221},
}

# --- The manifest's templates: Data names in order, and each value's type ---------------------
# airbus-cert/etl-parser (etl/parsers/etw/Microsoft_Windows_Security_Auditing.py) and
# repnz/etw-providers-docs (Manifests-Win10-18990/Microsoft-Windows-Security-Auditing.xml).
TEMPLATES: dict[tuple[int, int], tuple[str, ...]] = {
    (4652, 0): ("LocalMMPrincipalName", "LocalMMCertHash", "LocalMMIssuingCA", "LocalMMRootCA",
                "RemoteMMPrincipalName", "RemoteMMCertHash", "RemoteMMIssuingCA", "RemoteMMRootCA", "LocalAddress",
                "LocalKeyModPort", "RemoteAddress", "RemoteKeyModPort", "KeyModName", "FailurePoint", "FailureReason",
                "MMAuthMethod", "State", "Role", "MMImpersonationState", "MMFilterID", "InitiatorCookie",
                "ResponderCookie"),
    (4653, 0): ("LocalMMPrincipalName", "RemoteMMPrincipalName", "LocalAddress", "LocalKeyModPort", "RemoteAddress",
                "RemoteKeyModPort", "KeyModName", "FailurePoint", "FailureReason", "MMAuthMethod", "State", "Role",
                "MMImpersonationState", "MMFilterID", "InitiatorCookie", "ResponderCookie"),
    (4654, 1): ("LocalAddress", "LocalAddressMask", "LocalPort", "LocalTunnelEndpoint", "RemoteAddress",
                "RemoteAddressMask", "RemotePort", "RemoteTunnelEndpoint", "Protocol", "RemotePrivateAddress",
                "KeyModName", "FailurePoint", "FailureReason", "Mode", "State", "Role", "MessageID", "QMFilterID",
                "MMSAID", "TunnelId", "TrafficSelectorId"),
    (4655, 0): ("LocalAddress", "RemoteAddress", "KeyModName", "MMSAID"),
    (4976, 0): ("LocalAddress", "RemoteAddress", "KeyModName"),
    (4977, 0): ("LocalAddress", "RemoteAddress", "KeyModName"),
    (4978, 0): ("LocalAddress", "RemoteAddress", "KeyModName"),
    (4984, 0): ("LocalEMPrincipalName", "RemoteEMPrincipalName", "LocalAddress", "LocalKeyModPort", "RemoteAddress",
                "RemoteKeyModPort", "FailurePoint", "FailureReason", "EMAuthMethod", "State", "Role",
                "EMImpersonationState", "QMFilterID"),
}  # fmt: skip
# (event ID) -> (Task, Keywords). Version is the template's.
SYSTEM = {
    4652: (TASK_MAIN_MODE, AUDIT_FAILURE),
    4653: (TASK_MAIN_MODE, AUDIT_FAILURE),
    4654: (TASK_QUICK_MODE, AUDIT_FAILURE),
    4655: (TASK_MAIN_MODE, AUDIT_SUCCESS),
    4976: (TASK_MAIN_MODE, AUDIT_SUCCESS),
    4977: (TASK_QUICK_MODE, AUDIT_SUCCESS),
    4978: (TASK_EXTENDED_MODE, AUDIT_SUCCESS),
    4984: (TASK_EXTENDED_MODE, AUDIT_FAILURE),
}
# The manifest's inType of every value that is not a UnicodeString (win:UInt32 / win:UInt64).
DATA_TYPES: dict[str, ValueType] = {
    **dict.fromkeys(("LocalKeyModPort", "RemoteKeyModPort", "LocalPort", "RemotePort", "Protocol", "MessageID"),
                    ValueType.UINT32),
    **dict.fromkeys(("MMFilterID", "QMFilterID", "MMSAID", "TunnelId", "TrafficSelectorId"), ValueType.UINT64),
}  # fmt: skip
# The event messages of adtschema.dll 10.0.22000.1 (libyal/winevt-kb, MessageFile-adtschema.dll.md).
MESSAGES = {
    4652: "An IPsec main mode negotiation failed.%n%n%nLocal Endpoint:%n%tPrincipal Name:%t%t%1%n%tNetwork "
    "Address:%t%9%n%tKeying Module Port:%t%10%n%nLocal Certificate:%n%tSHA Thumbprint:%t%2%n%tIssuing CA:%t%t%3%n"
    "%tRoot CA:%t%t%4%n%nRemote Endpoint:%n%tPrincipal Name:%t%t%5%n%tNetwork Address:%t%11%n%tKeying Module Port:"
    "%t%12%n%nRemote Certificate:%n%tSHA thumbprint:%t%t%6%n%tIssuing CA:%t%t%7%n%tRoot CA:%t%t%8%n%nAdditional "
    "Information:%n%tKeying Module Name:%t%13%n%tAuthentication Method:%t%16%n%tRole:%t%t%t%18%n%tImpersonation "
    "State:%t%19%n%tMain Mode Filter ID:%t%20%n%nFailure Information:%n%tFailure Point:%t%t%14%n%tFailure Reason:"
    "%t%t%15%n%tState:%t%t%t%17%n%tInitiator Cookie:%t%t%21%n%tResponder Cookie:%t%22",
    4653: "An IPsec main mode negotiation failed.%n%nLocal Endpoint:%n%tLocal Principal Name:%t%1%n%tNetwork "
    "Address:%t%3%n%tKeying Module Port:%t%4%n%nRemote Endpoint:%n%tPrincipal Name:%t%t%2%n%tNetwork Address:%t%5"
    "%n%tKeying Module Port:%t%6%n%nAdditional Information:%n%tKeying Module Name:%t%7%n%tAuthentication Method:%t"
    "%10%n%tRole:%t%t%t%12%n%tImpersonation State:%t%13%n%tMain Mode Filter ID:%t%14%n%nFailure Information:%n"
    "%tFailure Point:%t%t%8%n%tFailure Reason:%t%t%9%n%tState:%t%t%t%11%n%tInitiator Cookie:%t%t%15%n%tResponder "
    "Cookie:%t%16",
    4654: "An IPsec quick mode negotiation failed.%n%nLocal Endpoint:%n%tNetwork Address:%t%1%n%tNetwork Address "
    "mask:%t%2%n%tPort:%t%t%t%3%n%tTunnel Endpoint:%t%t%4%n%nRemote Endpoint:%n%tNetwork Address:%t%5%n%tAddress "
    "Mask:%t%t%6%n%tPort:%t%t%t%7%n%tTunnel Endpoint:%t%t%8%n%tPrivate Address:%t%t%10%n%nAdditional Information:"
    "%n%tProtocol:%t%t%9%n%tKeying Module Name:%t%11%n%tVirtual Interface Tunnel ID:%t%20%n%tTraffic Selector ID:"
    "%t%21%n%tMode:%t%t%t%14%n%tRole:%t%t%t%16%n%tQuick Mode Filter ID:%t%18%n%tMain Mode SA ID:%t%19%n%nFailure "
    "Information:%n%tState:%t%t%t%15%n%tMessage ID:%t%t%17%n%tFailure Point:%t%t%12%n%tFailure Reason:%t%t%13",
    4655: "An IPsec main mode security association ended.%n%nLocal Network Address:%t%t%1%nRemote Network Address:"
    "%t%2%nKeying Module Name:%t%t%3%nMain Mode SA ID:%t%t%4",
    **{
        event_id: f"During {mode} mode negotiation, IPsec received an invalid negotiation packet. If this problem "
        "persists, it could indicate a network issue or an attempt to modify or replay this negotiation.%n%nLocal "
        "Network Address:%t%1%nRemote Network Address:%t%2%nKeying Module Name:%t%3"
        for event_id, mode in ((4976, "main"), (4977, "quick"), (4978, "extended"))
    },
    4984: "An IPsec extended mode negotiation failed. The corresponding main mode security association has been "
    "deleted.%n%nLocal Endpoint:%n%tPrincipal Name:%t%t%1%n%tNetwork Address:%t%3%n%tKeying Module Port:%t%4%n%n"
    "Remote Endpoint:%n%tPrincipal Name:%t%t%2%n%tNetwork Address:%t%5%n%tKeying Module Port:%t%6%n%nAdditional "
    "Information:%n%tKeying Module Name:%tAuthIP%n%tAuthentication Method:%t%9%n%tRole:%t%t%t%11%n%tImpersonation "
    "State:%t%12%n%tQuick Mode Filter ID:%t%13%n%nFailure Information:%n%tFailure Point:%t%t%7%n%tFailure Reason:"
    "%t%t%8%n%tState:%t%t%t%10",
}


@dataclass(frozen=True)
class PeerInfo:
    """What fixtures need to know of a peer: its address, its MAC, and whether it runs Windows."""

    name: str
    address: str
    mac: str
    windows: bool
    auth: str
    protocol: str


_INFOS: WeakKeyDictionary[Trace, dict[str, PeerInfo]] = WeakKeyDictionary()
_EVENTS_OF: WeakKeyDictionary[Trace, dict[str, list[Event]]] = WeakKeyDictionary()


def peer_infos(trace: Trace) -> dict[str, PeerInfo]:
    """Addresses for every peer of a run: responders in 192.0.2.0/24, initiators in 198.51.100.0/24.

    Documentation ranges (RFC 5737), numbered in the order the scenario lists the peers. Worked
    out once per trace: the renderers ask for it per peer. Treat the result as read-only.
    """
    cached = _INFOS.get(trace)
    if cached is None:
        cached = _INFOS[trace] = _peer_infos(trace)
    return cached


def events_of(trace: Trace, peer: str) -> list[Event]:
    """A peer's events, in order (indexed once per trace, so that rendering every peer stays linear)."""
    index = _EVENTS_OF.get(trace)
    if index is None:
        index = _EVENTS_OF[trace] = {}
        for e in trace.events:
            index.setdefault(e.peer, []).append(e)
    return index.get(peer, [])


def _peer_infos(trace: Trace) -> dict[str, PeerInfo]:
    infos: dict[str, PeerInfo] = {}
    counters = {"responder": 0, "initiator": 0}
    base = {"responder": ipaddress.IPv4Address("192.0.2.1"), "initiator": ipaddress.IPv4Address("198.51.100.1")}
    for peer in trace.peers:
        n = counters[peer.role]
        counters[peer.role] += 1
        index = len(infos) + 1
        infos[peer.name] = PeerInfo(
            name=peer.name,
            address=str(base[peer.role] + n),
            mac=f"02:00:00:00:{index >> 8:02x}:{index & 0xFF:02x}",
            windows=peer.windows,
            auth=peer.auth,
            protocol=peer.protocol,
        )
    return infos


# --- What each peer knows of each SA, from the trace (indexed once per trace) ----------------


@dataclass
class _Facts:
    """Per trace: who is on the other side of each SA, what each peer received, the IKEv2 message IDs."""

    remote: dict[tuple[str, str], str]  # (peer, root SA) -> the other peer
    received: set[tuple[str, str]]  # (peer, root SA): the peer received at least one message of the SA
    sent: set[tuple[str, str]]  # (peer, root SA): the peer sent at least one message of the SA
    v2_ids: dict[str, int]  # IKEv2 SA label -> the message ID of the first request that carried it
    certified: set[tuple[str, str]] = field(default_factory=set)  # (peer, root SA): it got the other's certificate
    authenticating: dict[tuple[str, str], float] = field(default_factory=dict)  # (peer, root SA): its first IKE_AUTH


_FACTS: WeakKeyDictionary[Trace, _Facts] = WeakKeyDictionary()
CERTIFICATE_MESSAGES = frozenset({"MM5", "MM6", "IKE_AUTH request", "IKE_AUTH response"})  # carry CERT (sim.wire)


def _facts(trace: Trace) -> _Facts:
    cached = _FACTS.get(trace)
    if cached is not None:
        return cached
    facts = _Facts({}, set(), set(), {})
    refused: set[tuple[str, str, str]] = set()  # (sender, SA, message): an IKE_AUTH answer without a certificate
    v2 = {p.name for p in trace.peers if p.protocol == "ikev2"}
    counters: dict[tuple[str, str], int] = {}
    ids: dict[tuple[str, str, str, int], int] = {}
    sends: dict[tuple[str, str, str], int] = {}
    for e in trace.events:
        if isinstance(e, Send) and e.sa is not None:
            root = trace.root_of(e.sa)
            facts.remote.setdefault((e.peer, root), e.to)
            facts.sent.add((e.peer, root))
            if e.message == "IKE_AUTH response" and "AUTHENTICATION_FAILED" in (e.detail or ""):
                refused.add((e.peer, e.sa, e.message))
            n = sends.get((e.peer, e.sa, e.message), 0)
            sends[(e.peer, e.sa, e.message)] = n + 1
            exchange, _, kind = e.message.partition(" ")
            if e.peer in v2 and kind == "request" and exchange != "IKE_SA_INIT":
                # as the capture counts them: each side numbers the requests it sends, the initiator from 1
                key = (root, e.peer, exchange, n)
                if key not in ids:
                    initiator = trace.peer_facts[e.peer].role == "initiator"
                    count = counters.get((root, e.peer), 1 if initiator else 0)
                    counters[(root, e.peer)] = count + 1
                    ids[key] = count
                facts.v2_ids.setdefault(e.sa, ids[key])
        if isinstance(e, Send | Recv) and e.sa is not None and e.message.startswith("IKE_AUTH"):
            facts.authenticating.setdefault((e.peer, trace.root_of(e.sa)), e.t)
        if isinstance(e, Recv) and e.sa is not None:
            root = trace.root_of(e.sa)
            facts.remote.setdefault((e.peer, root), e.sender)
            facts.received.add((e.peer, root))
            if e.message in CERTIFICATE_MESSAGES and not e.corrupted and (e.sender, e.sa, e.message) not in refused:
                facts.certified.add((e.peer, root))
    _FACTS[trace] = facts
    return facts


def _port(trace: Trace, peer: str, e: Event) -> int:
    """The keying module port of an event's SA: 4500 once a floating IKEv2 SA reached IKE_AUTH, else 500."""
    if e.sa is None:
        return IKE_PORT
    root = trace.root_of(e.sa)
    since = _facts(trace).authenticating.get((peer, root))
    if since is None or e.t < since:
        return IKE_PORT
    pair = [f for f in trace.peers if f.name in (peer, _facts(trace).remote.get((peer, root), ""))]
    initiator = next((f for f in pair if f.role == "initiator"), None)
    responder = next((f for f in pair if f.role == "responder"), None)
    if initiator is None or responder is None:
        return IKE_PORT
    answered = vendors.ikev2_response_extras(responder.profile, vendors.ikev2_request_extras(initiator.profile))
    return NATT_PORT if vendors.ikev2_floats(initiator.profile, answered) else IKE_PORT


def _remote(trace: Trace, peer: str, e: Event) -> PeerInfo | None:
    """The peer on the other side: the outcome's or the message's, else the one of its root SA's messages."""
    infos = peer_infos(trace)
    name = e.remote if isinstance(e, Outcome) else getattr(e, "sender", "")
    if name not in infos and e.sa is not None:
        name = _facts(trace).remote.get((peer, trace.root_of(e.sa)), "")
    return infos.get(name)


def _time(t: float) -> str:
    stamp = EPOCH + timedelta(microseconds=round(t * 1_000_000))
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # Windows writes seven fractional digits


def _state(state: str) -> MmState | QmState | EmState:
    for prefix, enum in STATE_ENUMS.items():
        if state.startswith(prefix):
            value: MmState | QmState | EmState = enum[state.removeprefix(prefix)]
            return value
    raise ValueError(state)


def _state_value(state: str) -> int:
    return int(_state(state))


def _point(point: str) -> FailurePoint:
    return FailurePoint[point.removeprefix("IPSEC_FAILURE_")]


def _point_value(point: str) -> int:
    return int(_point(point))


def _role(role: str) -> Role:
    return Role[role.upper()]


def _role_value(role: str) -> int:
    return int(_role(role))


def param(number: int) -> str:
    """A parameter-message reference as a raw event holds it: ``%%8199``."""
    return f"%%{number}"


def _state_param(state: str) -> str:
    value = _state(state)
    return param(STATE_PARAMS[type(value)].get(int(value), UNKNOWN))


def _key_module(protocol: str) -> str:
    return {"ikev1": "IKE", "authip": "AUTHIP", "ikev2": "IKEV2"}[protocol]


def _filter_id(trace: Trace, sa: str, what: str = "filter") -> int:
    return int.from_bytes(stable_bytes(trace.seed, sa, what, size=4), "big") % 100_000 + 60_000


def _cookie(trace: Trace, sa: str, which: str) -> str:
    return stable_bytes(trace.seed, trace.root_of(sa), which, size=8).hex()


def _responder_cookie(trace: Trace, peer: str, o: Outcome) -> str:
    """Zeros while this initiator has received nothing from the responder on the SA (the real 4653)."""
    root = trace.root_of(o.sa)
    if _role(o.role) is Role.INITIATOR and (peer, root) not in _facts(trace).received:
        return ZERO_COOKIE
    return _cookie(trace, root, "rcookie")


def _auth_param(trace: Trace, peer: str, me: PeerInfo, o: Outcome) -> str:
    """The configured method once the peer knows it was chosen; before, "Unknown authentication"."""
    root = trace.root_of(o.sa)
    if _role(o.role) is Role.INITIATOR:
        known = (peer, root) in _facts(trace).received
    else:
        known = _state(o.state) != MmState.NONE
    return param(AUTH_PARAMS[AUTH_METHODS[me.auth]] if known else UNKNOWN_AUTH)


def _message_id(trace: Trace, o: Outcome, protocol: str) -> int:
    """The quick-mode message ID of the capture; for IKEv2, the ID of the request that carried the child SA."""
    if protocol == "ikev2":
        ids = _facts(trace).v2_ids
        return ids.get(o.sa, ids.get(trace.root_of(o.sa), 1))
    return int.from_bytes(stable_bytes(trace.seed, o.sa, "QM", size=4), "big")


def _mode(protocol: str) -> str:
    return "tunnel" if protocol == "ikev2" else "transport"


# --- Security audit events ------------------------------------------------------------------


def _expand(text: str, values: list[str]) -> str:
    """A message with its insertion strings %1..%N in, %%NNNN as text, %n and %t as newline and tab."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("%n", i) or text.startswith("%t", i):
            out.append("\n" if text[i + 1] == "n" else "\t")
            i += 2
        elif text[i] == "%" and i + 1 < len(text) and text[i + 1].isdigit():
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            value = values[int(text[i + 1 : j]) - 1]
            out.append(MSOBJS.get(int(value[2:]), value) if value.startswith("%%") and value[2:].isdigit() else value)
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _event(
    record_id: int, event_id: int, t: float, computer: str, values: dict[str, str], rendered: bool
) -> ET.Element:
    (version,) = [v for (eid, v) in TEMPLATES if eid == event_id]
    names = TEMPLATES[(event_id, version)]
    if list(values) != list(names):
        raise AssertionError(f"{event_id}: {list(values)} is not the template {list(names)}")
    task, keywords = SYSTEM[event_id]
    event = ET.Element("Event", {"xmlns": EVENT_NS})
    system = ET.SubElement(event, "System")
    ET.SubElement(system, "Provider", {"Name": PROVIDER, "Guid": PROVIDER_GUID})
    for tag, text in (
        ("EventID", str(event_id)),
        ("Version", str(version)),
        ("Level", "0"),
        ("Task", str(task)),
        ("Opcode", "0"),
        ("Keywords", keywords),
    ):
        ET.SubElement(system, tag).text = text
    ET.SubElement(system, "TimeCreated", {"SystemTime": _time(t)})
    ET.SubElement(system, "EventRecordID").text = str(record_id)
    ET.SubElement(system, "Correlation")
    ET.SubElement(system, "Execution", {"ProcessID": "828", "ThreadID": "1024"})
    ET.SubElement(system, "Channel").text = "Security"
    ET.SubElement(system, "Computer").text = computer
    ET.SubElement(system, "Security")
    event_data = ET.SubElement(event, "EventData")
    for name, value in values.items():
        ET.SubElement(event_data, "Data", {"Name": name}).text = value
    if rendered:
        info = ET.SubElement(event, "RenderingInfo", {"Culture": "en-US"})
        ET.SubElement(info, "Message").text = _expand(MESSAGES[event_id], list(values.values()))
        ET.SubElement(info, "Level").text = "Information"
        ET.SubElement(info, "Task").text = TASK_NAMES[task]
        ET.SubElement(info, "Opcode").text = "Info"
        ET.SubElement(info, "Channel").text = "Security"
        ET.SubElement(info, "Provider").text = "Microsoft Windows security auditing."
        keyword_list = ET.SubElement(info, "Keywords")
        ET.SubElement(keyword_list, "Keyword").text = "Audit Failure" if keywords == AUDIT_FAILURE else "Audit Success"
    return event


def _invalid_packet_event(message: str) -> int:
    bare = message.removeprefix("AuthIP ")
    if bare.startswith("QM"):
        return 4977
    if bare.startswith("EM"):
        return 4978
    return 4976


def _certificate_fields(credentials: certs.Credentials | None, trusted: bool) -> tuple[str, str, str]:
    """SHA thumbprint, issuing CA and root CA of a certificate, as 4652 writes them; ``-`` for none."""
    if credentials is None:
        return "-", "-", "-"
    root = credentials.root.subject.rfc4514_string() if trusted else "-"  # no chain to a trusted root: none
    return credentials.thumbprint.upper(), credentials.issuer, root


def _with_certificates(
    trace: Trace, peer: str, other: PeerInfo | None, o: Outcome, values: dict[str, str]
) -> dict[str, str]:
    """4653's values in 4652's order, with the certificate sections the peer can fill.

    Its own certificate unless it has none; the other's once a message carrying it arrived
    (MM5 / MM6, IKE_AUTH), with no root CA when it does not chain to the trusted root.
    """
    facts = trace.peer_facts
    own_state = facts[peer].certificate
    own = None if own_state == "missing" else certs.credentials(trace.seed, peer, peer_infos(trace)[peer].address,
                                                                own_state)  # fmt: skip
    theirs = None
    if other is not None and (peer, trace.root_of(o.sa)) in _facts(trace).certified:
        state = facts[other.name].certificate
        theirs = None if state == "missing" else certs.credentials(trace.seed, other.name, other.address, state)
    local = _certificate_fields(own, own_state != "untrusted")
    remote = _certificate_fields(theirs, theirs is not None and facts[other.name].certificate != "untrusted")  # type: ignore[union-attr]
    return {
        "LocalMMPrincipalName": values["LocalMMPrincipalName"],
        **dict(zip(("LocalMMCertHash", "LocalMMIssuingCA", "LocalMMRootCA"), local, strict=True)),
        "RemoteMMPrincipalName": values["RemoteMMPrincipalName"],
        **dict(zip(("RemoteMMCertHash", "RemoteMMIssuingCA", "RemoteMMRootCA"), remote, strict=True)),
        **{k: v for k, v in values.items() if not k.endswith("PrincipalName")},
    }


def _exchange_kind(exchange: str) -> str:
    if exchange.endswith(("quick_mode", "child_sa")):
        return "quick"
    if exchange.endswith("extended_mode"):
        return "extended"
    return "main"


def audit_events(trace: Trace, peer: str, *, rendered: bool = False) -> list[ET.Element]:
    """The Security audit events a Windows peer would log for a run, in order.

    Raw, as ``wevtutil qe /f:xml`` or an exported .evtx holds them; ``rendered=True`` adds each
    event's ``RenderingInfo`` as ``wevtutil qe /f:RenderedXml`` does.
    """
    infos = peer_infos(trace)
    me = infos[peer]
    if not me.windows:
        return []
    out: list[ET.Element] = []
    module = param(KEY_MODULE_PARAMS[me.protocol])
    for e in events_of(trace, peer):
        other = _remote(trace, peer, e)
        remote = other.address if other else "-"
        values: dict[str, str]
        if isinstance(e, Recv) and e.corrupted:
            values = {"LocalAddress": me.address, "RemoteAddress": remote, "KeyModName": module}
            out.append(_event(len(out) + 1, _invalid_packet_event(e.message), e.t, peer, values, rendered))
            continue
        if not isinstance(e, Outcome):
            continue
        kind = _exchange_kind(e.exchange)
        failure = e.code not in (13897, 13909)
        reason = codes.info(e.code).message
        point = param(FAILURE_POINT_PARAMS[_point(e.failure_point)])
        role = param(ROLE_PARAMS[_role(e.role)])
        if e.ends == "negotiation" and failure and kind == "main":
            values = {
                "LocalMMPrincipalName": f"CN={peer}" if me.auth == "certificate" else "-",
                "RemoteMMPrincipalName": f"CN={other.name}" if other and other.auth == "certificate" else "-",
                "LocalAddress": me.address,
                "LocalKeyModPort": str(_port(trace, peer, e)),
                "RemoteAddress": remote,
                "RemoteKeyModPort": str(_port(trace, peer, e)),
                "KeyModName": module,
                "FailurePoint": point,
                "FailureReason": reason,
                "MMAuthMethod": _auth_param(trace, peer, me, e),
                "State": _state_param(e.state),
                "Role": role,
                "MMImpersonationState": param(IMPERSONATION_NOT_ENABLED),
                "MMFilterID": str(_filter_id(trace, e.sa)),
                "InitiatorCookie": _cookie(trace, e.sa, "icookie"),
                "ResponderCookie": _responder_cookie(trace, peer, e),
            }
            event_id = 4653
            if me.auth == "certificate":  # the variant with certificate sections
                event_id, values = 4652, _with_certificates(trace, peer, other, e, values)
            out.append(_event(len(out) + 1, event_id, e.t, peer, values, rendered))
        elif e.ends == "negotiation" and failure and kind == "quick":
            tunnel = _mode(me.protocol) == "tunnel"
            values = {
                "LocalAddress": me.address,
                "LocalAddressMask": "255.255.255.255",
                "LocalPort": "0",
                "LocalTunnelEndpoint": me.address if tunnel else "-",
                "RemoteAddress": remote,
                "RemoteAddressMask": "255.255.255.255",
                "RemotePort": "0",
                "RemoteTunnelEndpoint": remote if tunnel else "-",
                "Protocol": "0",
                "RemotePrivateAddress": "-",
                "KeyModName": module,
                "FailurePoint": point,
                "FailureReason": reason,
                "Mode": param(MODE_PARAMS[_mode(me.protocol)]),
                "State": _state_param(e.state),
                "Role": role,
                "MessageID": str(_message_id(trace, e, me.protocol)),
                "QMFilterID": str(_filter_id(trace, e.sa)),
                "MMSAID": str(_filter_id(trace, trace.root_of(e.sa), "mm")),
                "TunnelId": "0",
                "TrafficSelectorId": "0",
            }
            out.append(_event(len(out) + 1, 4654, e.t, peer, values, rendered))
        elif e.ends == "negotiation" and failure and kind == "extended":
            # 4984: extended mode failed without a certificate (4983 is the variant with certificate
            # sections; ikesim's extended mode authenticates the user with Kerberos).
            values = {
                "LocalEMPrincipalName": "-",
                "RemoteEMPrincipalName": "-",
                "LocalAddress": me.address,
                "LocalKeyModPort": str(_port(trace, peer, e)),
                "RemoteAddress": remote,
                "RemoteKeyModPort": str(_port(trace, peer, e)),
                "FailurePoint": point,
                "FailureReason": reason,
                "EMAuthMethod": param(AUTH_PARAMS[AuthMethod.KERBEROS]),
                "State": _state_param(e.state),
                "Role": role,
                "EMImpersonationState": param(IMPERSONATION_NOT_ENABLED),
                "QMFilterID": str(_filter_id(trace, e.sa)),
            }
            out.append(_event(len(out) + 1, 4984, e.t, peer, values, rendered))
        elif e.ends == "sa" and kind == "main":
            values = {
                "LocalAddress": me.address,
                "RemoteAddress": remote,
                "KeyModName": module,
                "MMSAID": str(_filter_id(trace, e.sa, "mm")),
            }
            out.append(_event(len(out) + 1, 4655, e.t, peer, values, rendered))
    return out


def events_xml(trace: Trace, peer: str, *, rendered: bool = False) -> str:
    """A peer's audit events as one XML document (``<Events>`` around ``<Event>`` elements)."""
    root = ET.Element("Events")
    root.extend(audit_events(trace, peer, rendered=rendered))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def events_evtx(trace: Trace, peer: str) -> bytes:
    """A peer's audit events as a binary .evtx file, values typed as the manifest types them."""
    return evtx_bytes(records_from_xml(audit_events(trace, peer), DATA_TYPES))


# --- WFP net events -------------------------------------------------------------------------

ZERO_HASH = "00" * 20
# FWPM_NET_EVENT_FLAG_* (fwpmtypes.h)
NET_EVENT_FLAGS = {
    "FWPM_NET_EVENT_FLAG_IP_PROTOCOL_SET": 0x1,
    "FWPM_NET_EVENT_FLAG_LOCAL_ADDR_SET": 0x2,
    "FWPM_NET_EVENT_FLAG_REMOTE_ADDR_SET": 0x4,
    "FWPM_NET_EVENT_FLAG_LOCAL_PORT_SET": 0x8,
    "FWPM_NET_EVENT_FLAG_REMOTE_PORT_SET": 0x10,
    "FWPM_NET_EVENT_FLAG_APP_ID_SET": 0x20,
    "FWPM_NET_EVENT_FLAG_USER_ID_SET": 0x40,
    "FWPM_NET_EVENT_FLAG_SCOPE_ID_SET": 0x80,
    "FWPM_NET_EVENT_FLAG_IP_VERSION_SET": 0x100,
    "FWPM_NET_EVENT_FLAG_REAUTH_REASON_SET": 0x200,
    "FWPM_NET_EVENT_FLAG_PACKAGE_ID_SET": 0x400,
    "FWPM_NET_EVENT_FLAG_ENTERPRISE_ID_SET": 0x800,
    "FWPM_NET_EVENT_FLAG_POLICY_FLAGS_SET": 0x1000,
    "FWPM_NET_EVENT_FLAG_EFFECTIVE_NAME_SET": 0x2000,
}
FWP_IP_VERSION_V4 = 0  # FWP_IP_VERSION (fwptypes.h); FWP_AF_INET has the same value
FWP_AF_INET = 0
FWP_V4_ADDR_MASK = 0x100  # FWP_DATA_TYPE of an FWP_CONDITION_VALUE0 holding an FWP_V4_ADDR_AND_MASK
IPPROTO_UDP = 17
NET_EVENT_TYPES = {"FWPM_NET_EVENT_TYPE_IKEEXT_MM_FAILURE": 0, "FWPM_NET_EVENT_TYPE_IKEEXT_QM_FAILURE": 1,
                   "FWPM_NET_EVENT_TYPE_IKEEXT_EM_FAILURE": 2}  # fmt: skip
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def _filetime(t: float) -> dict[str, int]:
    """A FILETIME (100 ns ticks since 1601) as the SDK's struct: ``dwLowDateTime``, ``dwHighDateTime``."""
    ticks = filetime(EPOCH + timedelta(microseconds=round(t * 1_000_000)))
    return {"dwLowDateTime": ticks & 0xFFFFFFFF, "dwHighDateTime": ticks >> 32}


def _netsh_time(stamp: dict[str, int]) -> str:
    """A FILETIME as ``netsh wfp show netevents`` writes it: UTC, to the millisecond."""
    ticks = stamp["dwHighDateTime"] << 32 | stamp["dwLowDateTime"]
    when = _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _subnet(address: str) -> dict[str, Any]:
    """An FWP_CONDITION_VALUE0 holding one host's FWP_V4_ADDR_AND_MASK (ikesim's selectors are the hosts)."""
    return {"type": FWP_V4_ADDR_MASK, "v4AddrMask": {"addr": address, "mask": "255.255.255.255"}}


def _guid(*parts: object) -> str:
    return "{" + str(uuid.UUID(bytes=stable_bytes(*parts, size=16))) + "}"


def _header(t: float, me: PeerInfo, other: PeerInfo | None, port: int = IKE_PORT) -> dict[str, Any]:
    """FWPM_NET_EVENT_HEADER3, its 16 members in order, ``flags`` naming the members that are set."""
    names = ["IP_PROTOCOL_SET", "LOCAL_ADDR_SET", "LOCAL_PORT_SET", "REMOTE_PORT_SET", "IP_VERSION_SET"]
    if other is not None:
        names.append("REMOTE_ADDR_SET")
    return {
        "timeStamp": _filetime(t),
        "flags": sum(NET_EVENT_FLAGS[f"FWPM_NET_EVENT_FLAG_{name}"] for name in names),
        "ipVersion": FWP_IP_VERSION_V4,
        "ipProtocol": IPPROTO_UDP,
        "localAddrV4": me.address,
        "remoteAddrV4": other.address if other else "0.0.0.0",
        "localPort": port,
        "remotePort": port,
        "scopeId": 0,
        "appId": {"size": 0, "data": ""},
        "userId": None,
        "addressFamily": FWP_AF_INET,
        "packageSid": None,
        "enterpriseId": None,
        "policyFlags": 0,
        "effectiveName": {"size": 0, "data": ""},
    }


def net_events(trace: Trace, peer: str) -> list[dict[str, Any]]:
    """The WFP IKEEXT failure net events a Windows peer would record (FWPM_NET_EVENT5's form).

    Members in the SDK's order; enums by value, as the JSON form writes them; the header's
    ``flags`` name the members that are set (``FWPM_NET_EVENT_FLAG_*``).
    """
    infos = peer_infos(trace)
    me = infos[peer]
    if not me.windows:
        return []
    out: list[dict[str, Any]] = []
    context = _guid(trace.seed, peer, "mm-provider-context")  # the peer's main-mode policy's provider context
    for o in events_of(trace, peer):
        if not isinstance(o, Outcome) or o.ends != "negotiation" or o.code in (13897, 13909):
            continue
        other = _remote(trace, peer, o)
        kind = _exchange_kind(o.exchange)
        root = trace.root_of(o.sa)
        header = _header(o.t, me, other, _port(trace, peer, o))
        common = {"failureErrorCode": o.code, "failurePoint": _point_value(o.failure_point)}
        module = int(KeyModule[_key_module(me.protocol)])
        cert = stable_bytes(peer, "cert", size=20).hex() if me.auth == "certificate" else ZERO_HASH
        if kind == "main":
            body: dict[str, Any] = {
                **common,
                "flags": 0,
                "keyingModuleType": module,
                "mmState": _state_value(o.state),
                "saRole": _role_value(o.role),
                "mmAuthMethod": int(AUTH_METHODS[me.auth]),
                "endCertHash": cert,
                "mmId": _filter_id(trace, root, "mm"),
                "mmFilterId": _filter_id(trace, o.sa),
                "localPrincipalNameForAuth": "",
                "remotePrincipalNameForAuth": "",
                "numLocalPrincipalGroupSids": 0,
                "localPrincipalGroupSids": [],
                "numRemotePrincipalGroupSids": 0,
                "remotePrincipalGroupSids": [],
                "providerContextKey": context,
            }
            kind_name, struct, key = "MM", "FWPM_NET_EVENT_IKEEXT_MM_FAILURE2", "ikeMmFailure"
        elif kind == "quick":
            tunnel = _mode(me.protocol) == "tunnel"
            body = {
                **common,
                "keyingModuleType": module,
                "qmState": _state_value(o.state),
                "saRole": _role_value(o.role),
                "saTrafficType": 1 if tunnel else 0,
                # a union on saTrafficType: empty for transport mode, an FWP_CONDITION_VALUE0 for tunnel mode
                "localSubNet": _subnet(me.address) if tunnel else None,
                "remoteSubNet": _subnet(other.address) if tunnel and other else None,
                "qmFilterId": _filter_id(trace, o.sa),
                "mmSaLuid": _filter_id(trace, root, "mm"),
                "mmProviderContextKey": context,
            }
            kind_name, struct, key = "QM", "FWPM_NET_EVENT_IKEEXT_QM_FAILURE1", "ikeQmFailure"
        else:
            body = {
                **common,
                "flags": 0,
                "emState": _state_value(o.state),
                "saRole": _role_value(o.role),
                "emAuthMethod": int(AuthMethod.KERBEROS),
                "endCertHash": cert,
                "mmId": _filter_id(trace, root, "mm"),
                "qmFilterId": _filter_id(trace, o.sa),
                "localPrincipalNameForAuth": "",
                "remotePrincipalNameForAuth": "",
                "numLocalPrincipalGroupSids": 0,
                "localPrincipalGroupSids": [],
                "numRemotePrincipalGroupSids": 0,
                "remotePrincipalGroupSids": [],
                "saTrafficType": 0,
            }
            kind_name, struct, key = "EM", "FWPM_NET_EVENT_IKEEXT_EM_FAILURE1", "ikeEmFailure"
        event_type = f"FWPM_NET_EVENT_TYPE_IKEEXT_{kind_name}_FAILURE"
        out.append({"header": header, "type": NET_EVENT_TYPES[event_type], "struct": struct, key: body})
    return out


# Enum names as netsh shows them, for the XML form.
_XML_ENUMS: dict[str, Callable[[int], str]] = {
    "failurePoint": lambda v: FailurePoint(v).wire_name,
    "keyingModuleType": lambda v: f"IKEEXT_KEY_MODULE_{KeyModule(v).name}",
    "mmState": lambda v: f"IKEEXT_MM_SA_STATE_{MmState(v).name}",
    "qmState": lambda v: f"IKEEXT_QM_SA_STATE_{QmState(v).name}",
    "emState": lambda v: f"IKEEXT_EM_SA_STATE_{EmState(v).name}",
    "saRole": lambda v: f"IKEEXT_SA_ROLE_{Role(v).name}",
    "mmAuthMethod": lambda v: f"IKEEXT_{AuthMethod(v).name}",
    "emAuthMethod": lambda v: f"IKEEXT_{AuthMethod(v).name}",
    "saTrafficType": lambda v: "IPSEC_TRAFFIC_TYPE_TUNNEL" if v else "IPSEC_TRAFFIC_TYPE_TRANSPORT",
    "ipVersion": lambda v: "FWP_IP_VERSION_V4",
    "addressFamily": lambda v: "FWP_AF_INET",
}


def _xml_value(parent: ET.Element, key: str, value: Any) -> None:
    if key == "timeStamp":
        ET.SubElement(parent, key).text = _netsh_time(value)
    elif key == "flags" and parent.tag == "header":
        names = [name for name, bit in NET_EVENT_FLAGS.items() if value & bit]
        flags = ET.SubElement(parent, key, {"numItems": str(len(names))})
        for name in names:
            ET.SubElement(flags, "item").text = name
    elif key in ("appId", "effectiveName"):
        blob = ET.SubElement(parent, key)
        if value["size"]:
            ET.SubElement(blob, "data").text = value["data"]
    elif key in ("localSubNet", "remoteSubNet") and value is not None:
        subnet = ET.SubElement(parent, key)
        ET.SubElement(subnet, "type").text = "FWP_V4_ADDR_MASK"
        mask = ET.SubElement(subnet, "v4AddrMask")
        ET.SubElement(mask, "addr").text = value["v4AddrMask"]["addr"]
        ET.SubElement(mask, "mask").text = value["v4AddrMask"]["mask"]
    elif isinstance(value, list):
        ET.SubElement(parent, key, {"numItems": str(len(value))})
    elif value is None:
        ET.SubElement(parent, key)
    else:
        ET.SubElement(parent, key).text = _XML_ENUMS[key](value) if key in _XML_ENUMS else str(value)


def net_events_xml(trace: Trace, peer: str) -> str:
    """The net events in XML shaped like ``netsh wfp show netevents`` output (enums and flags by name)."""
    root = ET.Element("netEvents")
    names = {value: name for name, value in NET_EVENT_TYPES.items()}
    for event in net_events(trace, peer):
        item = ET.SubElement(root, "item")
        header = ET.SubElement(item, "header")
        for key, value in event["header"].items():
            _xml_value(header, key, value)
        ET.SubElement(item, "type").text = names[event["type"]]
        body_key = next(k for k in event if k.startswith("ike"))
        body = ET.SubElement(item, body_key)
        for key, value in event[body_key].items():
            _xml_value(body, key, value)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def net_events_json(trace: Trace, peer: str) -> str:
    """The net events as JSON: struct members in order, enums by value, FILETIME as its two halves."""
    return json.dumps(net_events(trace, peer), indent=2) + "\n"


def _windows_peers(trace: Trace) -> list[str]:
    return [p.name for p in trace.peers if p.windows]


def render_audit(trace: Trace, *, rendered: bool = False) -> dict[str, bytes]:
    """``security-events-<peer>.xml`` and ``security-events-<peer>.evtx`` for each Windows peer.

    The XML is raw (as ``wevtutil qe /f:xml`` writes it), or with ``rendered=True`` as
    ``wevtutil qe /f:RenderedXml`` writes it (each event's ``RenderingInfo`` added); the .evtx
    holds the raw events (an exported log holds no rendering).
    """
    files: dict[str, bytes] = {}
    for peer in _windows_peers(trace):
        files[f"security-events-{peer}.xml"] = events_xml(trace, peer, rendered=rendered).encode()
        files[f"security-events-{peer}.evtx"] = events_evtx(trace, peer)
    return files


def render_wfp(trace: Trace) -> dict[str, bytes]:
    """``wfp-netevents-<peer>.xml`` and ``.json`` for each Windows peer."""
    files: dict[str, bytes] = {}
    for peer in _windows_peers(trace):
        files[f"wfp-netevents-{peer}.xml"] = net_events_xml(trace, peer).encode()
        files[f"wfp-netevents-{peer}.json"] = net_events_json(trace, peer).encode()
    return files


def render_audit_rendered(trace: Trace) -> dict[str, bytes]:
    """``security-events-rendered-<peer>.xml``: the events as ``wevtutil qe /f:RenderedXml`` writes them."""
    return {
        f"security-events-rendered-{peer}.xml": events_xml(trace, peer, rendered=True).encode()
        for peer in _windows_peers(trace)
    }


AUDIT_RENDERER = Renderer("evtx", "security-events-<peer>.xml, security-events-<peer>.evtx",
                          "the Security audit events each Windows peer logs (4652..4655, 4976..4978, 4984), "
                          "as Event XML and as a binary .evtx log", render_audit)  # fmt: skip
WFP_RENDERER = Renderer("wfp", "wfp-netevents-<peer>.xml, wfp-netevents-<peer>.json",
                        "the WFP IKEEXT failure net events each Windows peer records", render_wfp)  # fmt: skip
RENDERED_AUDIT_RENDERER = Renderer(
    "evtx-rendered",
    "security-events-rendered-<peer>.xml",
    "the same audit events as Event Viewer renders them (RenderingInfo with the message text); on request only",
    render_audit_rendered,
)
