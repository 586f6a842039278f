"""Fixtures: Windows audit events, WFP net events, pcaps (checked with tshark), and determinism."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from sim import run as sim_run
from sim.library import scenarios
from sim.outputs.pcap import captures, exchange_of
from sim.outputs.registry import DEFAULT_FORMATS, write_fixtures
from sim.outputs.windows import EPOCH, audit_events, net_events, peer_infos
from sim.scenario import load_scenario
from sim.simulator.engine import Simulation

NS = {"e": "http://schemas.microsoft.com/win/2004/08/events/event"}
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")

# reference/windows-ike.md section 3: the Data names of 4653, in this order.
MM_FAILED_FIELDS = [
    "LocalMMPrincipalName",
    "RemoteMMPrincipalName",
    "LocalAddress",
    "LocalKeyModPort",
    "RemoteAddress",
    "RemoteKeyModPort",
    "KeyModName",
    "FailurePoint",
    "FailureReason",
    "MMAuthMethod",
    "State",
    "Role",
    "MMImpersonationState",
    "MMFilterID",
    "InitiatorCookie",
    "ResponderCookie",
]
# reference/windows-ike.md section 2: FWPM_NET_EVENT_IKEEXT_MM_FAILURE0, then what 1 and 2 add.
MM_FAILURE_MEMBERS = [
    "failureErrorCode",
    "failurePoint",
    "flags",
    "keyingModuleType",
    "mmState",
    "saRole",
    "mmAuthMethod",
    "endCertHash",
    "mmId",
    "mmFilterId",
    "localPrincipalNameForAuth",
    "remotePrincipalNameForAuth",
    "numLocalPrincipalGroupSids",
    "localPrincipalGroupSids",
    "numRemotePrincipalGroupSids",
    "remotePrincipalGroupSids",
    "providerContextKey",
]
QM_FAILURE_MEMBERS = [
    "failureErrorCode",
    "failurePoint",
    "keyingModuleType",
    "qmState",
    "saRole",
    "saTrafficType",
    "localSubNet",
    "remoteSubNet",
    "qmFilterId",
    "mmSaLuid",
    "mmProviderContextKey",
]


def run(name):
    return Simulation(load_scenario(name)).run()


def fixture(name, tmp_path, formats=DEFAULT_FORMATS):
    return write_fixtures(run(name), tmp_path, formats)


def data(event):
    return [(d.get("Name"), d.text) for d in event.find("EventData")]


def test_fixtures_for_the_whole_library_are_byte_identical_twice(tmp_path):
    for attempt in ("a", "b"):
        for scenario in scenarios():
            write_fixtures(Simulation(scenario).run(), tmp_path / attempt / scenario.name)
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert first == second
    assert len(first) > 5 * len(scenarios())


def test_main_mode_failure_with_a_certificate_is_4652_with_the_documented_fields_in_order():
    trace = run("mm-certificate-rejected-by-strongswan")
    (event,) = audit_events(trace, "client")
    system = event.find("System")
    assert system.find("Provider").attrib == {
        "Name": "Microsoft-Windows-Security-Auditing",
        "Guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
    }
    assert (system.find("EventID").text, system.find("Task").text, system.find("Keywords").text) == (
        "4652",
        "12547",
        "0x8010000000000000",
    )
    assert system.find("Channel").text == "Security"
    fields = dict(data(event))
    certificate_sections = ["CertHash", "IssuingCA", "RootCA"]
    assert [name for name, _ in data(event)] == [
        "LocalMMPrincipalName", *(f"LocalMM{n}" for n in certificate_sections),
        "RemoteMMPrincipalName", *(f"RemoteMM{n}" for n in certificate_sections),
        *(n for n in MM_FAILED_FIELDS if not n.endswith("PrincipalName")),
    ]  # fmt: skip
    assert fields["FailureReason"] == "IKE authentication credentials are unacceptable"
    # Raw values, as the real event holds them (reference/windows-ike.md 3): %%NNNN parameter messages.
    assert (fields["FailurePoint"], fields["State"], fields["Role"], fields["KeyModName"]) == (
        "%%8200",
        "%%8204",
        "%%8205",
        "%%8222",
    )
    assert fields["LocalAddress"] == "198.51.100.1" and fields["RemoteAddress"] == "192.0.2.1"
    assert len(fields["InitiatorCookie"]) == 16


def test_quick_mode_failure_4654_and_main_mode_sa_ended_4655():
    trace = run("mm-peer-stops-responding")
    ids = [e.find("System/EventID").text for e in audit_events(trace, "client")]
    assert ids == ["4654", "4655"]
    qm = dict(data(audit_events(trace, "client")[0]))
    assert qm["FailureReason"] == "Main mode SA assumed to be invalid because peer stopped responding."
    assert audit_events(trace, "gateway") == []  # the gateway saw nothing fail


def test_extended_mode_failure_4984_and_invalid_packet_4976():
    trace = run("authip-extended-mode-wrong-user-credentials")
    (event,) = audit_events(trace, "client")
    assert event.find("System/EventID").text == "4984"
    fields = dict(data(event))
    assert fields["FailureReason"] == "IKE authentication credentials are unacceptable"
    assert "KeyModName" not in fields  # 4984's template says AuthIP itself
    trace = run("mm-invalid-cookie")
    ids = [e.find("System/EventID").text for e in audit_events(trace, "gateway")]
    assert ids == ["4976"]  # the damaged MM3 is audited; the negotiation then completes


def test_only_windows_peers_log():
    trace = run("retransmit-strongswan")
    assert not peer_infos(trace)["client"].windows
    assert audit_events(trace, "client") == []
    assert net_events(trace, "client") == []


def test_event_xml_is_well_formed(tmp_path):
    written = fixture("mm-peer-stops-responding", tmp_path, ("evtx",))
    for path in [p for p in written if p.suffix == ".xml"]:
        root = ET.parse(path).getroot()
        assert root.tag == "Events"
        assert all(child.tag == f"{{{NS['e']}}}Event" for child in root)  # Windows' event namespace
        assert all(child.find("e:System/e:EventID", NS) is not None for child in root)


def test_wfp_net_events_have_the_documented_members_in_order(tmp_path):
    trace = run("mm-no-proposal-chosen")
    (mm,) = net_events(trace, "client")
    assert mm["type"] == 0  # FWPM_NET_EVENT_TYPE_IKEEXT_MM_FAILURE, by value as the JSON form has enums
    assert list(mm["ikeMmFailure"]) == MM_FAILURE_MEMBERS
    assert mm["ikeMmFailure"]["failureErrorCode"] == 13802
    trace = run("mm-peer-stops-responding")
    (qm,) = net_events(trace, "client")
    assert list(qm["ikeQmFailure"]) == QM_FAILURE_MEMBERS
    fixture("mm-no-proposal-chosen", tmp_path, ("wfp",))
    root = ET.parse(tmp_path / "wfp-netevents-client.xml").getroot()
    body = root.find("item/ikeMmFailure")
    assert [child.tag for child in body] == MM_FAILURE_MEMBERS
    assert body.find("failurePoint").text == "IPSEC_FAILURE_PEER"
    assert body.find("mmState").text == "IKEEXT_MM_SA_STATE_SA_SENT"
    assert json.loads((tmp_path / "wfp-netevents-client.json").read_text())[0]["ikeMmFailure"]["failurePoint"] == 2


def _seen(trace, peer):
    """What the trace says a peer's interface saw: its sends and what reached it, in order.

    A send that the sender's own silence or crash kept in (a drop "<sender> is silent" at the
    time of sending) never left it.
    """
    mine = (f"{peer} is silent", f"{peer} is down")
    kept_in = {
        (e.sa, e.message, e.t) for e in trace.events if e.kind == "drop" and e.sender == peer and e.reason in mine
    }
    out = []
    for e in trace.events:
        if e.kind in ("send", "retransmit") and e.peer == peer:
            if (e.sa, e.message, e.t) in kept_in:
                kept_in.discard((e.sa, e.message, e.t))
                continue
            out.append(("sent", e.t, e.message))
        elif (e.kind == "recv" and e.peer == peer) or (
            e.kind == "drop" and e.peer == peer and e.cause == "silent" and e.reason == f"{peer} is silent"
        ):
            out.append(("received", e.t, e.message))
    return out


@pytest.mark.parametrize("name", ["mm-lost-mm2-recovered", "mm-peer-stops-responding", "mm-lossy-link-seeded"])
def test_each_peer_captures_what_it_sent_and_received_one_for_one_at_its_own_time(name):
    from scapy.layers.inet import IP, UDP

    trace = run(name)
    infos = peer_infos(trace)
    for peer, frames in captures(trace).items():
        seen = _seen(trace, peer)
        assert len(frames) == len(seen), peer
        for f, (way, t, _) in zip(frames, seen, strict=True):
            assert f[UDP].sport == 500 and f[UDP].dport == 500
            assert (f[IP].src if way == "sent" else f[IP].dst) == infos[peer].address
            assert f.time - int(EPOCH.timestamp()) == Decimal(repr(t))  # its own time, exactly


def test_lost_datagrams_are_in_the_senders_capture_and_retransmissions_are_identical():
    from scapy.layers.inet import UDP

    trace = run("mm-lost-mm2-recovered")
    gateway = captures(trace)["gateway"]
    mm2 = [bytes(f[UDP].payload) for f, (way, _, m) in zip(gateway, _seen(trace, "gateway"), strict=True)
           if way == "sent" and m == "MM2"]  # fmt: skip
    assert len(mm2) == 3 and len(set(mm2)) == 1  # the lost MM2, its resend, its answer to MM1 again: same bytes
    silent = captures(run("mm-no-response"))
    assert [f.time - int(EPOCH.timestamp()) for f in silent["client"]] == [0, 1, 3, 7, 15, 31, 63]
    assert len(silent["gateway"]) == 7  # every MM1 reached the gateway, whose IKE service ignored it


@needs_tshark
@pytest.mark.parametrize("name", [s.name for s in scenarios()])
def test_every_pcap_dissects_cleanly_and_as_the_trace_says(name, tmp_path):
    scenario = load_scenario(name)
    fixture(name, tmp_path, ("pcap",))
    trace = Simulation(scenario).run()
    infos = peer_infos(trace)
    for peer in infos:
        pcap = tmp_path / f"capture-{peer}.pcap"
        bad = subprocess.run(
            [TSHARK, "-r", str(pcap), "-Y", "_ws.malformed || _ws.expert", "-T", "fields", "-e", "frame.number",
             "-e", "_ws.expert.message"],
            capture_output=True,
            text=True,
            check=True,
        )  # fmt: skip
        assert bad.stdout.strip() == "", (peer, bad.stdout)
        fields = subprocess.run(
            [TSHARK, "-r", str(pcap), "-T", "fields", "-e", "isakmp.exchangetype", "-e", "isakmp.flag_r"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        protocol = infos[peer].protocol
        expected = [(str(exchange_of(m, protocol)), "1" if m.endswith(" response") else None) for _, _, m in
                    _seen(trace, peer)]  # fmt: skip
        assert len(fields) == len(expected), peer
        for line, (exchange, response) in zip(fields, expected, strict=True):
            got_exchange, _, got_response = line.partition("\t")
            assert got_exchange == exchange
            if response is not None:
                assert got_response == response


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, check=False)


def test_the_fixtures_command_writes_every_format(tmp_path):
    result = _cli("fixtures", "mm-peer-stops-responding", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "mm-peer-stops-responding").iterdir())
    assert names == sorted(
        [
            "trace.jsonl",
            "timeline.txt",
            "sequence.mmd",
            "capture-client.pcap",
            "capture-gateway.pcap",
            "ikev1_decryption_table",
            "security-events-client.xml",
            "security-events-client.evtx",
            "security-events-gateway.xml",
            "security-events-gateway.evtx",
            "wfp-netevents-client.xml",
            "wfp-netevents-client.json",
            "wfp-netevents-gateway.xml",
            "wfp-netevents-gateway.json",
        ]
    )
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fixtures", "mm-qm-success", "-o", "OUT", "--formats", "jsonl,pdf"], "unknown format pdf"),
        (["fixtures", "mm-qm-success"], "Missing option"),
        (["fixtures", "tests/data/broken/unknown-keys.toml", "-o", "OUT"], "unknown key"),
        (["fixtures", "-o", "OUT"], "Missing argument"),
    ],
)
def test_the_fixtures_command_rejects_bad_input_with_exit_2(args, needle, tmp_path):
    result = _cli(*[str(tmp_path / "out") if a == "OUT" else a for a in args])
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_child_sa_failures_name_the_remote_peer_even_without_a_message_of_their_own():
    # IKEv2 child SA messages travel under the IKE SA; a local fault can end a QM before it sends.
    for name, peer, remote in (("ikev2-cp-required-missing", "client", "192.0.2.1"),
                               ("local-qm-acquire-drop", "client", "192.0.2.1")):  # fmt: skip
        trace = run(name)
        events = audit_events(trace, peer)
        assert events, name
        for event in events:
            assert dict(data(event))["RemoteAddress"] == remote, name
        assert all(e["header"]["remoteAddrV4"] == remote for e in net_events(trace, peer)), name


def test_each_request_has_its_own_message_id_and_a_response_repeats_its_requests():
    from helpers import ikev2, two_peers
    from scapy.contrib.ikev2 import IKEv2
    from scapy.layers.inet import UDP
    from scapy.layers.isakmp import ISAKMP

    v2 = sim_run(ikev2(client={"policy": {"liveness_interval": 30}}, limits={"until": 100}))
    headers = [IKEv2(bytes(p[UDP].payload)) for p in captures(v2)["client"]]
    informational = [(h.id, bool(h.flags & 0x20)) for h in headers if h.exch_type == 37]
    assert informational == [(2, False), (2, True), (3, False), (3, True), (4, False), (4, True)]  # RFC 7296 2.2
    v1 = sim_run(two_peers(client={"policy": {"liveness_interval": 30, "quick_modes": 0}}, limits={"until": 100}))
    client = captures(v1)["client"]
    ids = [ISAKMP(bytes(p[UDP].payload)).id for p in client if ISAKMP(bytes(p[UDP].payload)).exch_type == 5]
    assert len(ids) == 6 and len(set(ids)) == 6  # each R-U-THERE and R-U-THERE-ACK its own exchange


def test_two_requests_of_one_name_carry_their_own_payloads():
    from helpers import ikev2
    from scapy.contrib.ikev2 import IKEv2, IKEv2_Encrypted
    from scapy.layers.inet import UDP

    # Two liveness checks, then a delete: all INFORMATIONAL requests of the client's IKE SA.
    trace = sim_run(ikev2(client={"policy": {"liveness_interval": 30}},
                          faults=[{"kind": "delete", "peer": "client", "at": 70}], limits={"until": 100}))  # fmt: skip
    headers = [IKEv2(bytes(p[UDP].payload)) for p in captures(trace)["client"]]
    requests = [h[IKEv2_Encrypted].next_payload for h in headers if h.exch_type == 37 and not h.flags & 0x20]
    assert requests == [0, 0, 42]  # only the delete carries a Delete payload
