"""Windows Security audit events, .evtx logs and WFP net events as Windows writes them (issue 17).

Checked against the manifest's templates (reference/windows-ike.md section 3), the real raw 4653
of GitHub DigitalRuby/IPBan, the msobjs.dll parameter messages and the SDK's fwpmtypes.h; the
sources are listed in docs/windows-events.md.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sim.expectations import check
from sim.library import scenarios
from sim.outputs import windows
from sim.outputs.evtx_file import ValueType
from sim.scenario import Scenario, load_scenario
from sim.simulator.engine import Simulation
from sim.trace import Outcome, Recv, Trace

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
ENUMERATED = ("KeyModName", "FailurePoint", "MMAuthMethod", "EMAuthMethod", "State", "Role", "MMImpersonationState",
              "EMImpersonationState", "Mode")  # fmt: skip

# The manifest's templates (airbus-cert/etl-parser; repnz/etw-providers-docs), written out again
# here rather than imported, so that a slip in the module cannot hide in the test.
TEMPLATES = {
    # airbus-cert/etl-parser, Microsoft_Windows_Security_Auditing_4652_0
    4652: (0, 12547, "0x8010000000000000", "LocalMMPrincipalName LocalMMCertHash LocalMMIssuingCA LocalMMRootCA "
           "RemoteMMPrincipalName RemoteMMCertHash RemoteMMIssuingCA RemoteMMRootCA LocalAddress LocalKeyModPort "
           "RemoteAddress RemoteKeyModPort KeyModName FailurePoint FailureReason MMAuthMethod State Role "
           "MMImpersonationState MMFilterID InitiatorCookie ResponderCookie"),
    4653: (0, 12547, "0x8010000000000000", "LocalMMPrincipalName RemoteMMPrincipalName LocalAddress LocalKeyModPort "
           "RemoteAddress RemoteKeyModPort KeyModName FailurePoint FailureReason MMAuthMethod State Role "
           "MMImpersonationState MMFilterID InitiatorCookie ResponderCookie"),
    4654: (1, 12549, "0x8010000000000000", "LocalAddress LocalAddressMask LocalPort LocalTunnelEndpoint RemoteAddress "
           "RemoteAddressMask RemotePort RemoteTunnelEndpoint Protocol RemotePrivateAddress KeyModName FailurePoint "
           "FailureReason Mode State Role MessageID QMFilterID MMSAID TunnelId TrafficSelectorId"),
    4655: (0, 12547, "0x8020000000000000", "LocalAddress RemoteAddress KeyModName MMSAID"),
    4976: (0, 12547, "0x8020000000000000", "LocalAddress RemoteAddress KeyModName"),
    4977: (0, 12549, "0x8020000000000000", "LocalAddress RemoteAddress KeyModName"),
    4978: (0, 12550, "0x8020000000000000", "LocalAddress RemoteAddress KeyModName"),
    4984: (0, 12550, "0x8010000000000000", "LocalEMPrincipalName RemoteEMPrincipalName LocalAddress LocalKeyModPort "
           "RemoteAddress RemoteKeyModPort FailurePoint FailureReason EMAuthMethod State Role EMImpersonationState "
           "QMFilterID"),
}  # fmt: skip
HEADER3 = ["timeStamp", "flags", "ipVersion", "ipProtocol", "localAddrV4", "remoteAddrV4", "localPort", "remotePort",
           "scopeId", "appId", "userId", "addressFamily", "packageSid", "enterpriseId", "policyFlags",
           "effectiveName"]  # fmt: skip
# The real raw 4653 (GitHub DigitalRuby/IPBan, IPBanTests/TestData/EventViewer/Files/EventViewerTests.txt).
REAL_4653 = """<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider
Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-A5BA-3E3B0328C30D}' /><EventID>4653</EventID>
<Version>0</Version><Level>0</Level><Task>12547</Task><Opcode>0</Opcode><Keywords>0x8010000000000000</Keywords>
<TimeCreated SystemTime='2020-07-10T17:20:06.687103300Z' /><EventRecordID>100095994</EventRecordID><Correlation
ActivityID='{5108737F-4EB9-0001-8473-0851B94ED601}' /><Execution ProcessID='660' ThreadID='124' /><Channel>Security
</Channel><Computer>MYVPN.MYCPU</Computer><Security /></System><EventData><Data Name='LocalMMPrincipalName'>-</Data>
<Data Name='RemoteMMPrincipalName'>-</Data><Data Name='LocalAddress'>88.88.88.81</Data><Data
Name='LocalKeyModPort'>4500</Data><Data Name='RemoteAddress'>88.88.88.82</Data><Data
Name='RemoteKeyModPort'>4500</Data><Data Name='KeyModName'>%%8222</Data><Data Name='FailurePoint'>%%8199</Data><Data
Name='FailureReason'>Negotiation timed out</Data><Data Name='MMAuthMethod'>%%8194</Data><Data
Name='State'>%%8202</Data><Data Name='Role'>%%8205</Data><Data Name='MMImpersonationState'>%%8217</Data><Data
Name='MMFilterID'>54919761</Data><Data Name='InitiatorCookie'>db55d3767e51b422</Data><Data
Name='ResponderCookie'>0000000000000000</Data></EventData></Event>"""


def _scenarios() -> list[Scenario]:
    return list(scenarios())


@cache
def _traces() -> list[tuple[str, Trace]]:
    return [(s.name, Simulation(s).run()) for s in _scenarios()]


def _run(name: str) -> Trace:
    return dict(_traces())[name]


def _windows_logs() -> list[tuple[str, Trace, str, list[ET.Element]]]:
    return [(name, trace, p.name, windows.audit_events(trace, p.name)) for name, trace in _traces()
            for p in trace.peers if p.windows]  # fmt: skip


def _tag(elem: ET.Element) -> str:
    return elem.tag.rsplit("}", 1)[-1]


def _system(event: ET.Element, tag: str) -> ET.Element:
    found = event.find(f"{NS}System/{NS}{tag}")
    if found is None:
        found = event.find(f"System/{tag}")
    assert found is not None, tag
    return found


def _data(event: ET.Element) -> list[tuple[str, str]]:
    event_data = event.find(f"{NS}EventData")
    if event_data is None:
        event_data = event.find("EventData")
    assert event_data is not None
    return [(d.get("Name") or "", d.text or "") for d in event_data]


# --- Templates ---------------------------------------------------------------------------------


def test_every_event_of_the_library_matches_its_template() -> None:
    seen: set[int] = set()
    for name, _, peer, events in _windows_logs():
        for event in events:
            event_id = int(_system(event, "EventID").text or "")
            version, task, keywords, names = TEMPLATES[event_id]
            where = (name, peer, event_id)
            assert [n for n, _ in _data(event)] == names.split(), where
            assert _system(event, "Version").text == str(version), where
            assert _system(event, "Task").text == str(task), where
            assert _system(event, "Keywords").text == keywords, where
            assert (_system(event, "Level").text, _system(event, "Opcode").text) == ("0", "0"), where
            assert _system(event, "Provider").attrib == {
                "Name": "Microsoft-Windows-Security-Auditing",
                "Guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
            }
            seen.add(event_id)
    assert seen == set(TEMPLATES)  # the library shows every kind, 4977 and 4978 included


def _sha1_thumbprints_in_the_capture(trace: Trace) -> set[str]:
    """The SHA-1 of every certificate any captured message carries (from the wire layer's SAs)."""
    from sim.outputs.pcap import _captures

    builder = _captures(trace)[1]
    return {
        sa.credentials(side).thumbprint.upper()
        for sa in builder.sas.values()
        for side in (sa.initiator, sa.responder)
        if side.uses_certificate() and side.certificate != "missing"
    }


def test_a_certificate_peer_logs_4652_with_the_certificates_it_could_see() -> None:
    trace = _run("mm-gateway-certificate-chain-wrong")
    (gateway,) = windows.audit_events(trace, "gateway")
    values = dict(_data(gateway))
    assert _system(gateway, "EventID").text == "4652"
    thumbprints = _sha1_thumbprints_in_the_capture(trace)
    assert values["LocalMMCertHash"] in thumbprints and values["RemoteMMCertHash"] in thumbprints
    assert values["LocalMMCertHash"] != values["RemoteMMCertHash"]
    assert values["RemoteMMIssuingCA"] == "CN=ikesim Other Root CA"  # the client's, which the gateway does not trust
    assert values["RemoteMMRootCA"] == "-"
    assert values["LocalMMRootCA"] == "CN=ikesim Root CA"
    # the client without a certificate, and before it heard the gateway's: nothing it cannot know
    (client,) = windows.audit_events(_run("mm-no-machine-certificate"), "client")
    values = dict(_data(client))
    assert _system(client, "EventID").text == "4652"
    assert [values[k] for k in ("LocalMMCertHash", "RemoteMMCertHash", "RemoteMMIssuingCA")] == ["-", "-", "-"]
    (psk,) = windows.audit_events(_run("mm-no-response"), "client")
    assert _system(psk, "EventID").text == "4653"


def test_enumerated_values_are_parameter_messages_as_in_a_raw_event() -> None:
    for name, _, peer, events in _windows_logs():
        for event in events:
            for field, value in _data(event):
                if field in ENUMERATED:
                    assert re.fullmatch(r"%%\d{4}", value), (name, peer, field, value)
                    assert int(value[2:]) in windows.MSOBJS, (name, peer, field, value)


def test_no_event_lacks_a_remote_address_it_could_know() -> None:
    for name, trace, peer, events in _windows_logs():
        addresses = {info.address for other, info in windows.peer_infos(trace).items() if other != peer}
        for event in events:
            data = dict(_data(event))
            assert data["RemoteAddress"] in addresses, (name, peer, data)
            if "RemoteTunnelEndpoint" in data and data["Mode"] == "%%8213":
                assert data["RemoteTunnelEndpoint"] == data["RemoteAddress"]
        for net_event in windows.net_events(trace, peer):
            header = net_event["header"]
            assert header["flags"] & windows.NET_EVENT_FLAGS["FWPM_NET_EVENT_FLAG_REMOTE_ADDR_SET"], (name, peer)
            assert header["remoteAddrV4"] in addresses, (name, peer)


def test_child_sa_failures_know_their_remote_through_the_ike_sa() -> None:
    trace = _run("ikev2-inner-ip-pool-exhausted")
    events = windows.audit_events(trace, "gateway")
    assert len(events) == 15 and {int(_system(e, "EventID").text or "") for e in events} == {4654}
    remotes = {dict(_data(e))["RemoteAddress"] for e in events}
    assert len(remotes) == 15  # each laptop's own address


# --- Values consistent with the trace and the capture -------------------------------------------


def test_responder_cookie_is_zero_while_the_initiator_heard_nothing() -> None:
    for name, trace, peer, events in _windows_logs():
        for event in (e for e in events if _system(e, "EventID").text == "4653"):
            data = dict(_data(event))
            if data["Role"] != "%%8205":
                assert data["ResponderCookie"] != "0" * 16
                continue
            heard = any(isinstance(e, Recv) and e.peer == peer for e in trace.events)
            assert (data["ResponderCookie"] == "0" * 16) == (not heard), (name, peer)
    data = dict(_data(windows.audit_events(_run("mm-no-response"), "client")[0]))
    assert (data["ResponderCookie"], data["MMAuthMethod"], data["State"]) == ("0" * 16, "%%8194", "%%8202")


def test_cookies_and_quick_mode_message_ids_are_those_of_the_captures() -> None:
    pytest.importorskip("scapy")
    from scapy.layers.inet import UDP
    from scapy.layers.isakmp import ISAKMP

    from sim.outputs.pcap import captures

    trace = _run("mm-peer-stops-responding")
    (qm,) = [e for e in windows.audit_events(trace, "client") if _system(e, "EventID").text == "4654"]
    headers = [ISAKMP(bytes(p[UDP].payload)) for p in captures(trace)["client"]]
    quick_ids = {h.id for h in headers if h.exch_type == 32}
    assert int(dict(_data(qm))["MessageID"]) in quick_ids
    trace = _run("mm-certificate-rejected-by-strongswan")
    (mm,) = windows.audit_events(trace, "client")
    headers = [ISAKMP(bytes(p[UDP].payload)) for p in captures(trace)["client"]]
    data = dict(_data(mm))
    assert {(h.init_cookie.hex(), h.resp_cookie.hex()) for h in headers if h.exch_type == 2} >= {
        (data["InitiatorCookie"], data["ResponderCookie"])
    }


def test_ikev2_child_sa_message_id_is_the_request_that_carried_it() -> None:
    trace = _run("ikev2-inner-ip-pool-exhausted")
    for event in windows.audit_events(trace, "gateway"):
        assert dict(_data(event))["MessageID"] == "1"  # the IKE_AUTH request that asked for the child SA


def test_damaged_quick_and_extended_mode_datagrams_are_4977_and_4978() -> None:
    for name, peer, event_id, task in (("qm-damaged-qm1", "gateway", "4977", "12549"),
                                       ("authip-damaged-em1", "server", "4978", "12550")):  # fmt: skip
        scenario = load_scenario(name)
        trace = Simulation(scenario).run()
        assert check(scenario, trace) == []
        (event,) = windows.audit_events(trace, peer)
        assert (_system(event, "EventID").text, _system(event, "Task").text) == (event_id, task)
        damaged = next(e for e in trace.events if isinstance(e, Recv) and e.corrupted)
        assert dict(_data(event))["RemoteAddress"] == windows.peer_infos(trace)[damaged.sender].address


# --- The rendered flavour -----------------------------------------------------------------------


def test_the_rendered_flavour_adds_rendering_info_and_keeps_the_raw_values() -> None:
    trace = _run("mm-no-response")
    (raw,) = windows.audit_events(trace, "client")
    (rendered,) = windows.audit_events(trace, "client", rendered=True)
    assert _data(raw) == _data(rendered)
    info = rendered.find("RenderingInfo")
    assert info is not None and [_tag(c) for c in info] == [
        "Message", "Level", "Task", "Opcode", "Channel", "Provider", "Keywords"]  # fmt: skip
    message = info.findtext("Message") or ""
    assert message.startswith("An IPsec main mode negotiation failed.\n\nLocal Endpoint:\n")
    assert "\tKeying Module Name:\tIKEv1\n" in message and "\tRole:\t\t\tInitiator\n" in message
    assert "\tFailure Reason:\t\tNo response from peer\n" in message and "%%" not in message
    assert info.findtext("Task") == "IPsec Main Mode" and info.findtext("Keywords/Keyword") == "Audit Failure"
    assert windows.render_audit(trace, rendered=True)["security-events-client.xml"].count(b"<RenderingInfo") == 1


# --- Sigma rules written against the real raw 4653 ---------------------------------------------------


def _sigma_matches(rule_yaml: str, event: ET.Element) -> bool:
    """pySigma parses the rule; this evaluates its condition tree on one event's EventID and EventData."""
    pytest.importorskip("sigma")
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionNOT,
        ConditionOR,
    )
    from sigma.rule import SigmaRule
    from sigma.types import SigmaNumber, SigmaString

    fields = {"EventID": _system(event, "EventID").text or "", **dict(_data(event))}

    def holds(node: Any) -> bool:
        if isinstance(node, ConditionAND):
            return all(holds(arg) for arg in node.args)
        if isinstance(node, ConditionOR):
            return any(holds(arg) for arg in node.args)
        if isinstance(node, ConditionNOT):
            return not holds(node.args[0])
        if isinstance(node, ConditionFieldEqualsValueExpression):
            value = fields.get(node.field)
            if value is None:
                return False
            if isinstance(node.value, SigmaNumber):
                return value == str(node.value.number)
            if isinstance(node.value, SigmaString):  # Sigma string matching is case-insensitive
                return re.fullmatch(node.value.to_regex().to_plain(), value, re.IGNORECASE | re.DOTALL) is not None
        raise NotImplementedError(node)

    rule = SigmaRule.from_yaml(rule_yaml)
    return all(holds(condition.parse()) for condition in rule.detection.parsed_condition)


TIMED_OUT_RULE = """
title: IPsec main mode timed out on this computer
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4653
    FailurePoint: '%%8199'
    FailureReason|contains: 'timed out'
  condition: selection
"""
UNANSWERED_RULE = """
title: IKEv1 main mode initiator never heard from its peer
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4653
    KeyModName: '%%8222'
    Role: '%%8205'
    State: '%%8202'
    MMAuthMethod: '%%8194'
    MMImpersonationState: '%%8217'
    ResponderCookie: '0000000000000000'
  condition: selection
"""


def test_a_sigma_rule_on_the_raw_form_matches_the_real_event_and_ikesims() -> None:
    real = ET.fromstring(REAL_4653)
    assert _sigma_matches(UNANSWERED_RULE, real)
    (ours,) = windows.audit_events(_run("mm-no-response"), "client")
    assert _sigma_matches(UNANSWERED_RULE, ours)
    assert not _sigma_matches(UNANSWERED_RULE, windows.audit_events(_run("mm-no-proposal-chosen"), "client")[0])


@pytest.mark.xfail(strict=True, reason="ikesim's model reports an unanswered main mode as 13813 'No response "
                   "from peer' at IPSEC_FAILURE_PEER; the real event is 13805 'Negotiation timed out' at the "
                   "local computer (sim/conditions.py, not the renderer)")  # fmt: skip
def test_the_issues_sigma_rule_matches_ikesims_event_for_the_same_situation() -> None:
    assert _sigma_matches(TIMED_OUT_RULE, ET.fromstring(REAL_4653))
    (ours,) = windows.audit_events(_run("mm-no-response"), "client")
    assert _sigma_matches(TIMED_OUT_RULE, ours)


# --- .evtx ----------------------------------------------------------------------------------------


def _rust_data(data: bytes) -> list[list[tuple[str, str]]]:
    evtx = pytest.importorskip("evtx")
    parser = evtx.PyEvtxParser(io.BytesIO(data), validate_checksums=True, indent=False, number_of_threads=1)
    return [_data(ET.fromstring(record["data"])) for record in parser.records()]


def _python_data(data: bytes, path: Path) -> list[list[tuple[str, str]]]:
    evtx_module = pytest.importorskip("Evtx.Evtx")
    path.write_bytes(data)
    with evtx_module.Evtx(str(path)) as log:
        return [_data(ET.fromstring(record.xml())) for record in log.records()]


def test_every_evtx_reads_back_with_both_parsers_as_the_xml(tmp_path: Path) -> None:
    kinds: dict[frozenset[str], bytes] = {}
    for name, trace, peer, events in _windows_logs():
        files = windows.render_audit(trace)
        data = files[f"security-events-{peer}.evtx"]
        expected = [_data(e) for e in ET.fromstring(files[f"security-events-{peer}.xml"])]
        assert _rust_data(data) == expected, (name, peer)
        kinds.setdefault(frozenset(_system(e, "EventID").text or "" for e in events), data)
    assert len(kinds) > 3
    for n, data in enumerate(kinds.values()):  # python-evtx is slow: one log of each set of event IDs
        assert _python_data(data, tmp_path / f"{n}.evtx") == _rust_data(data)


def test_evtx_values_have_the_manifests_types(tmp_path: Path) -> None:
    nodes = pytest.importorskip("Evtx.Nodes")
    evtx_module = pytest.importorskip("Evtx.Evtx")
    assert windows.DATA_TYPES["MessageID"] is ValueType.UINT32
    assert windows.DATA_TYPES["MMFilterID"] is ValueType.UINT64
    file = tmp_path / "log.evtx"
    file.write_bytes(windows.events_evtx(_run("mm-peer-stops-responding"), "client"))  # a 4654, then a 4655
    with evtx_module.Evtx(str(file)) as log:
        record = next(log.records())
        kinds = [type(s).__name__ for s in record.root().substitutions()]
    assert kinds.count("UnsignedDwordTypeNode") >= 4  # LocalPort, RemotePort, Protocol, MessageID (+ ProcessID...)
    assert kinds.count("UnsignedQwordTypeNode") >= 4  # QMFilterID, MMSAID, TunnelId, TrafficSelectorId
    assert nodes is not None


def test_render_audit_writes_xml_and_evtx_and_is_deterministic() -> None:
    trace = _run("mm-peer-stops-responding")
    first = windows.render_audit(trace)
    assert list(first) == [f"security-events-{peer}.{ext}" for peer in ("client", "gateway") for ext in ("xml", "evtx")]
    assert first == windows.render_audit(Simulation(load_scenario("mm-peer-stops-responding")).run())
    assert first["security-events-client.evtx"][:8] == b"ElfFile\0"


# --- WFP net events ---------------------------------------------------------------------------------


def test_wfp_headers_have_all_sixteen_members_and_flags_for_those_set() -> None:
    flags = windows.NET_EVENT_FLAGS
    assert flags == {f"FWPM_NET_EVENT_FLAG_{name}": 1 << bit for bit, name in enumerate(
        ["IP_PROTOCOL_SET", "LOCAL_ADDR_SET", "REMOTE_ADDR_SET", "LOCAL_PORT_SET", "REMOTE_PORT_SET", "APP_ID_SET",
         "USER_ID_SET", "SCOPE_ID_SET", "IP_VERSION_SET", "REAUTH_REASON_SET", "PACKAGE_ID_SET", "ENTERPRISE_ID_SET",
         "POLICY_FLAGS_SET", "EFFECTIVE_NAME_SET"])}  # fmt: skip
    count = 0
    for _, trace, peer, _ in _windows_logs():
        for event in windows.net_events(trace, peer):
            header = event["header"]
            assert list(header) == HEADER3
            assert header["flags"] == 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x100
            assert set(header["timeStamp"]) == {"dwLowDateTime", "dwHighDateTime"}
            assert header["ipVersion"] == 0 and header["addressFamily"] == 0 and header["ipProtocol"] == 17
            assert (header["localPort"], header["remotePort"]) == (500, 500)
            assert event["type"] in (0, 1, 2)
            count += 1
    assert count > 50


def test_wfp_filetime_and_netsh_milliseconds_agree() -> None:
    trace = _run("mm-no-response")
    (event,) = windows.net_events(trace, "client")
    stamp = event["header"]["timeStamp"]
    ticks = stamp["dwHighDateTime"] << 32 | stamp["dwLowDateTime"]
    outcome = next(o for o in trace.outcomes if o.peer == "client")
    assert ticks == (int(windows.EPOCH.timestamp()) + 11_644_473_600) * 10_000_000 + round(outcome.t * 1e7)
    root = ET.fromstring(windows.net_events_xml(trace, "client"))
    assert root.findtext("item/header/timeStamp") == "2026-01-01T00:02:07.000Z"
    assert next(i.text for i in root.findall("item/header/flags/item")) == "FWPM_NET_EVENT_FLAG_IP_PROTOCOL_SET"
    assert root.find("item/header/flags").get("numItems") == "6"


def test_tunnel_mode_quick_mode_failures_carry_both_subnets_and_a_provider_context() -> None:
    trace = _run("ikev2-inner-ip-pool-exhausted")
    events = windows.net_events(trace, "gateway")
    assert events
    for event in events:
        body = event["ikeQmFailure"]
        assert body["saTrafficType"] == 1
        assert body["remoteSubNet"] == {"type": 0x100, "v4AddrMask": {"addr": event["header"]["remoteAddrV4"],
                                                                        "mask": "255.255.255.255"}}  # fmt: skip
        assert body["localSubNet"]["v4AddrMask"]["addr"] == "192.0.2.1"
        assert re.fullmatch(r"\{[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\}", body["mmProviderContextKey"])
    transport = windows.net_events(_run("mm-peer-stops-responding"), "client")[0]["ikeQmFailure"]
    assert (transport["saTrafficType"], transport["localSubNet"], transport["remoteSubNet"]) == (0, None, None)
    json.loads(windows.net_events_json(trace, "gateway"))


def test_failure_outcomes_and_net_events_correspond_one_to_one() -> None:
    for _, trace, peer, _ in _windows_logs():
        failures = [o for o in trace.outcomes if isinstance(o, Outcome) and o.peer == peer
                    and o.ends == "negotiation" and o.code not in (13897, 13909)]  # fmt: skip
        assert [e[next(k for k in e if k.startswith("ike"))]["failureErrorCode"]
                for e in windows.net_events(trace, peer)] == [o.code for o in failures]  # fmt: skip


def test_a_windows_ikev2_gateway_logs_port_4500_once_a_strongswan_client_moved_there() -> None:
    from helpers import ikev2

    from sim.scenario import Scenario

    data = ikev2({"profile": "strongswan", "policy": {"psk": "wrong"}}, {"policy": {"psk": "right"}})
    trace = Simulation(Scenario.model_validate(data)).run()
    (event,) = windows.audit_events(trace, "gateway")
    values = dict(_data(event))
    assert (values["LocalKeyModPort"], values["RemoteKeyModPort"]) == ("4500", "4500")  # it failed at IKE_AUTH
    (net,) = windows.net_events(trace, "gateway")
    assert (net["header"]["localPort"], net["header"]["remotePort"]) == (4500, 4500)
    # a Windows client never moves: the same failure against it stays on 500
    windows_client = Simulation(Scenario.model_validate(ikev2({"policy": {"psk": "wrong"}}))).run()
    (event,) = windows.audit_events(windows_client, "gateway")
    assert dict(_data(event))["LocalKeyModPort"] == "500"
