"""What a Windows peer would log: Security audit events (Event XML) and WFP net events.

Only Windows peers log: a peer whose profile is ``windows`` or ``windows-ikev2``, or that speaks
AuthIP. Documented fields only, in the documented order (reference/windows-ike.md sections 2
and 3). Where a rendering is not documented, ikesim's choice is stated here and in
docs/fixtures.md, and kept the same everywhere:

* FailurePoint, State, Role, MMAuthMethod: the enum's decimal value (``IPSEC_FAILURE_POINT``,
  ``IKEEXT_*_SA_STATE``, ``IKEEXT_SA_ROLE``, ``IKEEXT_AUTHENTICATION_METHOD_TYPE``);
* FailureReason: the code's Microsoft message;
* the Data names of 4654, 4655, 4976..4978 and 4984, and the Task of events other than 4653, are
  not confirmed by a public source: ikesim names them after the documented message fields (for
  4984, in the order of its message template's insertion strings);
* main-mode failures are 4653 whatever the authentication; Windows logs 4652, the variant with
  certificate sections, when a certificate was used (left for later).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sim import codes
from sim.enums import AuthMethod, EmState, FailurePoint, KeyModule, MmState, QmState, Role
from sim.outputs.renderer import Renderer
from sim.trace import Event, Outcome, Recv, Trace

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the virtual clock's zero, in every fixture
PROVIDER = "Microsoft-Windows-Security-Auditing"
PROVIDER_GUID = "{54849625-5478-4994-a5ba-3e3b0328c30d}"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
AUDIT_FAILURE, AUDIT_SUCCESS = "0x8010000000000000", "0x8020000000000000"

KEY_MODULE_NAMES = {"IKE": "IKEv1", "AUTHIP": "AuthIP", "IKEV2": "IKEv2"}
AUTH_METHODS = {"psk": AuthMethod.PRESHARED_KEY, "certificate": AuthMethod.CERTIFICATE, "eap": AuthMethod.EAP}
STATE_ENUMS = {"IKEEXT_MM_SA_STATE_": MmState, "IKEEXT_QM_SA_STATE_": QmState, "IKEEXT_EM_SA_STATE_": EmState}


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


def stable_bytes(*parts: object, size: int) -> bytes:
    """Bytes that depend only on ``parts`` (the seed, an SA, a purpose): the same on every run."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256("|".join(map(str, (*parts, counter))).encode()).digest()
        counter += 1
    return out[:size]


def _time(t: float) -> str:
    stamp = EPOCH + timedelta(microseconds=round(t * 1_000_000))
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # Windows writes seven fractional digits


def _state_value(state: str) -> int:
    for prefix, enum in STATE_ENUMS.items():
        if state.startswith(prefix):
            return int(enum[state.removeprefix(prefix)])
    raise ValueError(state)


def _point_value(point: str) -> int:
    return int(FailurePoint[point.removeprefix("IPSEC_FAILURE_")])


def _role_value(role: str) -> int:
    return int(Role[role.upper()])


# --- Security audit events ------------------------------------------------------------------


def _event(
    record_id: int, event_id: int, task: int, keywords: str, t: float, computer: str, data: list[tuple[str, str]]
) -> ET.Element:
    event = ET.Element("Event", {"xmlns": EVENT_NS})
    system = ET.SubElement(event, "System")
    ET.SubElement(system, "Provider", {"Name": PROVIDER, "Guid": PROVIDER_GUID})
    for tag, text in (
        ("EventID", str(event_id)),
        ("Version", "0"),
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
    for name, value in data:
        ET.SubElement(event_data, "Data", {"Name": name}).text = value
    return event


def _cookie(trace: Trace, sa: str, which: str) -> str:
    return stable_bytes(trace.seed, sa, which, size=8).hex()


def audit_events(trace: Trace, peer: str) -> list[ET.Element]:
    """The Security audit events a Windows peer would log for a run, in order."""
    infos = peer_infos(trace)
    me = infos[peer]
    if not me.windows:
        return []
    out: list[ET.Element] = []
    module = KEY_MODULE_NAMES[_key_module(me.protocol)]
    for e in events_of(trace, peer):
        other = infos.get(e.remote if isinstance(e, Outcome) else getattr(e, "sender", ""))
        remote = other.address if other else "-"
        if isinstance(e, Recv) and e.corrupted:
            event_id, task = _invalid_packet_event(e.message)
            data = [("LocalAddress", me.address), ("RemoteAddress", remote), ("KeyModName", module)]
            out.append(_event(len(out) + 1, event_id, task, AUDIT_FAILURE, e.t, peer, data))
            continue
        if not isinstance(e, Outcome):
            continue
        kind = _exchange_kind(e.exchange)
        failure = e.code not in (13897, 13909)
        reason = codes.info(e.code).message
        if e.ends == "negotiation" and failure and kind == "main":
            data = [
                ("LocalMMPrincipalName", f"CN={peer}" if me.auth == "certificate" else "-"),
                ("RemoteMMPrincipalName", f"CN={other.name}" if other and other.auth == "certificate" else "-"),
                ("LocalAddress", me.address),
                ("LocalKeyModPort", "500"),
                ("RemoteAddress", remote),
                ("RemoteKeyModPort", "500"),
                ("KeyModName", module),
                ("FailurePoint", str(_point_value(e.failure_point))),
                ("FailureReason", reason),
                ("MMAuthMethod", str(int(AUTH_METHODS[me.auth]))),
                ("State", str(_state_value(e.state))),
                ("Role", str(_role_value(e.role))),
                ("MMImpersonationState", "0"),
                ("MMFilterID", str(_filter_id(trace, e.sa))),
                ("InitiatorCookie", _cookie(trace, e.sa, "icookie")),
                ("ResponderCookie", _cookie(trace, e.sa, "rcookie")),
            ]
            out.append(_event(len(out) + 1, 4653, 12547, AUDIT_FAILURE, e.t, peer, data))
        elif e.ends == "negotiation" and failure and kind == "quick":
            data = [
                ("LocalAddress", me.address),
                ("LocalAddressMask", "255.255.255.255"),
                ("LocalPort", "0"),
                ("LocalTunnelEndpoint", me.address),
                ("LocalPrivateAddress", "-"),
                ("RemoteAddress", remote),
                ("RemoteAddressMask", "255.255.255.255"),
                ("RemotePort", "0"),
                ("RemoteTunnelEndpoint", remote),
                ("RemotePrivateAddress", "-"),
                ("Protocol", "0"),
                ("KeyModName", module),
                ("Mode", "Tunnel" if me.protocol == "ikev2" else "Transport"),
                ("Role", str(_role_value(e.role))),
                ("QMFilterID", str(_filter_id(trace, e.sa))),
                ("MMSAID", str(_filter_id(trace, e.sa, "mm"))),
                ("State", str(_state_value(e.state))),
                ("MessageID", str(int.from_bytes(stable_bytes(trace.seed, e.sa, "msgid", size=4), "big"))),
                ("FailurePoint", str(_point_value(e.failure_point))),
                ("FailureReason", reason),
            ]
            out.append(_event(len(out) + 1, 4654, 12548, AUDIT_FAILURE, e.t, peer, data))
        elif e.ends == "negotiation" and failure and kind == "extended":
            # 4984: extended mode failed without a certificate (4983 is the variant with certificate
            # sections; ikesim's extended mode authenticates the user with credentials). Fields in
            # the order of the message template's insertion strings %1..%13.
            data = [
                ("LocalEMPrincipalName", "-"),
                ("RemoteEMPrincipalName", "-"),
                ("LocalAddress", me.address),
                ("LocalKeyModPort", "500"),
                ("RemoteAddress", remote),
                ("RemoteKeyModPort", "500"),
                ("FailurePoint", str(_point_value(e.failure_point))),
                ("FailureReason", reason),
                ("EMAuthMethod", str(int(AuthMethod.KERBEROS))),
                ("State", str(_state_value(e.state))),
                ("Role", str(_role_value(e.role))),
                ("EMImpersonationState", "0"),
                ("QMFilterID", str(_filter_id(trace, e.sa))),
            ]
            out.append(_event(len(out) + 1, 4984, 12549, AUDIT_FAILURE, e.t, peer, data))
        elif e.ends == "sa" and kind == "main":
            data = [
                ("LocalAddress", me.address),
                ("RemoteAddress", remote),
                ("KeyModName", module),
                ("MMSAID", str(_filter_id(trace, e.sa, "mm"))),
            ]
            out.append(_event(len(out) + 1, 4655, 12547, AUDIT_SUCCESS, e.t, peer, data))
    return out


def _invalid_packet_event(message: str) -> tuple[int, int]:
    if message.startswith("QM"):
        return 4977, 12548
    if message.startswith("EM"):
        return 4978, 12549
    return 4976, 12547


def _exchange_kind(exchange: str) -> str:
    if exchange.endswith(("quick_mode", "child_sa")):
        return "quick"
    if exchange.endswith("extended_mode"):
        return "extended"
    return "main"


def _key_module(protocol: str) -> str:
    return {"ikev1": "IKE", "authip": "AUTHIP", "ikev2": "IKEV2"}[protocol]


def _filter_id(trace: Trace, sa: str, what: str = "filter") -> int:
    return int.from_bytes(stable_bytes(trace.seed, sa, what, size=4), "big") % 100_000 + 60_000


def events_xml(trace: Trace, peer: str) -> str:
    """A peer's audit events as one XML document (``<Events>`` around ``<Event>`` elements)."""
    root = ET.Element("Events")
    root.extend(audit_events(trace, peer))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- WFP net events -------------------------------------------------------------------------

ZERO_HASH = "00" * 20


def net_events(trace: Trace, peer: str) -> list[dict[str, Any]]:
    """The WFP IKEEXT failure net events a Windows peer would record, as structs (members in order)."""
    infos = peer_infos(trace)
    me = infos[peer]
    if not me.windows:
        return []
    out: list[dict[str, Any]] = []
    for o in events_of(trace, peer):
        if not isinstance(o, Outcome) or o.ends != "negotiation" or o.code in (13897, 13909):
            continue
        other = infos.get(o.remote)
        kind = _exchange_kind(o.exchange)
        header = {
            "timeStamp": _time(o.t),
            "flags": 0,
            "ipVersion": "FWP_IP_VERSION_V4",
            "ipProtocol": 17,
            "localAddrV4": me.address,
            "remoteAddrV4": other.address if other else "0.0.0.0",
            "localPort": 500,
            "remotePort": 500,
        }
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
                "mmId": _filter_id(trace, o.sa, "mm"),
                "mmFilterId": _filter_id(trace, o.sa),
                "localPrincipalNameForAuth": "",
                "remotePrincipalNameForAuth": "",
                "numLocalPrincipalGroupSids": 0,
                "localPrincipalGroupSids": [],
                "numRemotePrincipalGroupSids": 0,
                "remotePrincipalGroupSids": [],
                "providerContextKey": None,
            }
            out.append(
                {
                    "header": header,
                    "type": "FWPM_NET_EVENT_TYPE_IKEEXT_MM_FAILURE",
                    "struct": "FWPM_NET_EVENT_IKEEXT_MM_FAILURE2",
                    "ikeMmFailure": body,
                }
            )
        elif kind == "quick":
            body = {
                **common,
                "keyingModuleType": module,
                "qmState": _state_value(o.state),
                "saRole": _role_value(o.role),
                "saTrafficType": 1 if me.protocol == "ikev2" else 0,
                "localSubNet": me.address,
                "remoteSubNet": (other.address if other else None) if me.protocol == "ikev2" else None,
                "qmFilterId": _filter_id(trace, o.sa),
                "mmSaLuid": _filter_id(trace, o.sa, "mm"),
                "mmProviderContextKey": None,
            }
            out.append(
                {
                    "header": header,
                    "type": "FWPM_NET_EVENT_TYPE_IKEEXT_QM_FAILURE",
                    "struct": "FWPM_NET_EVENT_IKEEXT_QM_FAILURE1",
                    "ikeQmFailure": body,
                }
            )
        else:
            body = {
                **common,
                "flags": 0,
                "emState": _state_value(o.state),
                "saRole": _role_value(o.role),
                "emAuthMethod": int(AuthMethod.KERBEROS),
                "endCertHash": cert,
                "mmId": _filter_id(trace, o.sa, "mm"),
                "qmFilterId": _filter_id(trace, o.sa),
                "localPrincipalNameForAuth": "",
                "remotePrincipalNameForAuth": "",
                "numLocalPrincipalGroupSids": 0,
                "localPrincipalGroupSids": [],
                "numRemotePrincipalGroupSids": 0,
                "remotePrincipalGroupSids": [],
                "saTrafficType": 0,
            }
            out.append(
                {
                    "header": header,
                    "type": "FWPM_NET_EVENT_TYPE_IKEEXT_EM_FAILURE",
                    "struct": "FWPM_NET_EVENT_IKEEXT_EM_FAILURE1",
                    "ikeEmFailure": body,
                }
            )
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
}


def net_events_xml(trace: Trace, peer: str) -> str:
    """The net events in XML shaped like ``netsh wfp show netevents`` output (enums by name)."""
    root = ET.Element("netEvents")
    for event in net_events(trace, peer):
        item = ET.SubElement(root, "item")
        header = ET.SubElement(item, "header")
        for key, value in event["header"].items():
            ET.SubElement(header, key).text = str(value)
        ET.SubElement(item, "type").text = event["type"]
        body_key = next(k for k in event if k.startswith("ike"))
        body = ET.SubElement(item, body_key)
        for key, value in event[body_key].items():
            if isinstance(value, list):
                ET.SubElement(body, key, {"numItems": str(len(value))})
            elif value is None:
                ET.SubElement(body, key)
            else:
                ET.SubElement(body, key).text = _XML_ENUMS[key](value) if key in _XML_ENUMS else str(value)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def net_events_json(trace: Trace, peer: str) -> str:
    """The net events as JSON: struct members in order, enums by value."""
    return json.dumps(net_events(trace, peer), indent=2) + "\n"


def _windows_peers(trace: Trace) -> list[str]:
    return [p.name for p in trace.peers if p.windows]


def render_audit(trace: Trace) -> dict[str, bytes]:
    """``security-events-<peer>.xml`` for each Windows peer."""
    return {f"security-events-{peer}.xml": events_xml(trace, peer).encode() for peer in _windows_peers(trace)}


def render_wfp(trace: Trace) -> dict[str, bytes]:
    """``wfp-netevents-<peer>.xml`` and ``.json`` for each Windows peer."""
    files: dict[str, bytes] = {}
    for peer in _windows_peers(trace):
        files[f"wfp-netevents-{peer}.xml"] = net_events_xml(trace, peer).encode()
        files[f"wfp-netevents-{peer}.json"] = net_events_json(trace, peer).encode()
    return files


AUDIT_RENDERER = Renderer("evtx", "security-events-<peer>.xml",
                          "the Security audit events each Windows peer logs (4653, 4654, 4655, 4976..4978, 4984)",
                          render_audit)  # fmt: skip
WFP_RENDERER = Renderer("wfp", "wfp-netevents-<peer>.xml, wfp-netevents-<peer>.json",
                        "the WFP IKEEXT failure net events each Windows peer records", render_wfp)  # fmt: skip
