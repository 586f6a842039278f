"""IKEv2: IKE_SA_INIT and IKE_AUTH, the configuration payload and the address pool, rekeys, MOBIKE."""

from __future__ import annotations

import pytest
from helpers import ikev2, leases, outcomes

import sim


def _one(trace, peer, sa, ends="negotiation"):
    found = trace.outcome(peer, sa, ends)
    assert found is not None, f"no {ends} outcome for {peer} {sa}"
    return found


def test_ike_sa_and_first_child_sa_complete_with_13897():
    trace = sim.run(ikev2())
    assert outcomes(trace) == {(p, sa): 13897 for p in ("client", "gateway") for sa in ("IKE#1", "CHILD#1")}
    ike = _one(trace, "client", "IKE#1")
    assert (ike.keying_module, ike.state) == ("IKEV2", "IKEEXT_MM_SA_STATE_COMPLETE")
    assert _one(trace, "client", "CHILD#1").state == "IKEEXT_QM_SA_STATE_COMPLETE"
    sends = [e.message for e in trace.events if e.kind == "send"]
    assert sends == ["IKE_SA_INIT request", "IKE_SA_INIT response", "IKE_AUTH request", "IKE_AUTH response"]


def test_inner_address_is_assigned_from_the_pool():
    trace = sim.run(ikev2(client={"policy": {"request_address": True}}, gateway={"policy": {"address_pool": 4}}))
    reply = next(e for e in trace.events if e.kind == "send" and e.message == "IKE_AUTH response")
    assert reply.detail == "CP(CFG_REPLY) INTERNAL_IP4_ADDRESS=10.10.0.1"
    assert _one(trace, "client", "CHILD#1").code == 13897


def test_empty_pool_gives_13899_for_the_child_and_keeps_the_ike_sa_up():
    trace = sim.run(ikev2(client={"policy": {"request_address": True}}, gateway={"policy": {"address_pool": 0}}))
    assert _one(trace, "client", "IKE#1").code == 13897
    child = _one(trace, "client", "CHILD#1")
    assert (child.code, child.name) == (13899, "ERROR_IPSEC_IKE_INNER_IP_ASSIGNMENT_FAILURE")
    assert child.failure_point == "IPSEC_FAILURE_PEER"
    assert _one(trace, "gateway", "CHILD#1").failure_point == "IPSEC_FAILURE_ME"
    reply = next(e for e in trace.events if e.kind == "send" and e.message == "IKE_AUTH response")
    assert reply.detail == "N(INTERNAL_ADDRESS_FAILURE)"
    assert trace.final_states[("client", "IKE#1")] == "COMPLETE"


def test_many_initiators_against_one_small_pool_login_storm():
    trace = sim.run(
        ikev2(client={"instances": 20, "policy": {"request_address": True}}, gateway={"policy": {"address_pool": 5}})
    )
    children = [o for o in trace.outcomes if o.sa.startswith("CHILD") and o.role == "initiator"]
    assert len(children) == 20
    assert sum(o.code == 13897 for o in children) == 5
    assert sum(o.code == 13899 for o in children) == 15
    assert all(o.code == 13897 for o in trace.outcomes if o.sa.startswith("IKE"))
    addresses = [a for a, *_ in leases(trace)]
    assert sorted(addresses) == [f"10.10.0.{i}" for i in range(1, 6)]


def test_a_released_address_is_assigned_again():
    v2 = {"protocol": "ikev2", "profile": "windows-ikev2"}
    asks = {"request_address": True}
    trace = sim.run(
        {
            "name": "reuse",
            "peers": {
                "first": {"role": "initiator", **v2, "policy": asks},
                "second": {"role": "initiator", **v2, "start": 60, "policy": asks},
                "gateway": {"role": "responder", **v2, "policy": {"address_pool": 1, "mm_lifetime": 50}},
            },
        }
    )
    held = leases(trace)
    assert [(a, sa) for a, sa, *_ in held] == [("10.10.0.1", "IKE#1"), ("10.10.0.1", "IKE#2")]
    assert held[0][3] == pytest.approx(50.015)  # released when the first IKE SA expired
    assert held[0][3] <= held[1][2]
    assert _one(trace, "second", "CHILD#2").code == 13897


def test_cp_required_and_missing_gives_13900():
    trace = sim.run(ikev2(gateway={"policy": {"require_cp": True}}))
    assert _one(trace, "client", "IKE#1").code == 13897
    assert _one(trace, "client", "CHILD#1").code == 13900
    assert _one(trace, "gateway", "CHILD#1").code == 13900


@pytest.mark.parametrize(
    ("client", "gateway", "code", "told"),
    [
        ({"psk": "wrong"}, {}, 13801, 13801),
        ({"auth": "certificate", "certificate": "untrusted"}, {"auth": "certificate"}, 13887, 13887),  # MS status
        (
            {"auth": "certificate", "certificate": "untrusted"},
            {"auth": "certificate", "profile": "strongswan"},
            13887,
            13801,
        ),
        ({"proposals": [{"encryption": "3des"}]}, {}, 13802, 13802),
        ({"proposals": [{"dh_group": 19}]}, {}, 13802, 13802),  # no acceptable group offered: NO_PROPOSAL_CHOSEN
        ({"auth": "eap", "psk": "wrong"}, {"auth": "eap"}, 13801, 13801),
    ],
)
def test_ikev2_rejections(client, gateway, code, told):
    profile = gateway.get("profile", "windows-ikev2")
    gateway = {k: v for k, v in gateway.items() if k != "profile"}
    trace = sim.run(ikev2(client={"policy": client}, gateway={"policy": gateway, "profile": profile}))
    assert _one(trace, "gateway", "IKE#1").code == code
    assert _one(trace, "client", "IKE#1").code == told
    assert not [o for o in trace.outcomes if o.sa.startswith("CHILD")]


def test_ikev2_timeouts_no_response_and_silent_peer():
    silent = sim.run(ikev2(faults=[{"kind": "silence", "peer": "gateway", "at": 0}]))
    o = _one(silent, "client", "IKE#1")
    assert (o.code, o.t) == (13813, 120)
    assert [e.t for e in silent.events if e.kind == "retransmit"] == [1, 3, 7, 15, 31, 63]
    mid = sim.run(ikev2(faults=[{"kind": "silence", "peer": "gateway", "after_message": "IKE_SA_INIT response"}]))
    assert _one(mid, "client", "IKE#1").code == 13805
    assert _one(mid, "gateway", "IKE#1").code == 13805  # it waited for IKE_AUTH, and gave up


def test_windows_ikev2_duration_is_configurable_but_at_least_120():
    longer = sim.run(ikev2(client={"retransmit": {"duration": 300}}, faults=[{"kind": "silence", "peer": "gateway",
                                                                               "at": 0}]))  # fmt: skip
    assert _one(longer, "client", "IKE#1").t == 300
    assert [e.t for e in longer.events if e.kind == "retransmit"][-1] == 255
    with pytest.raises(sim.scenario.ScenarioError, match="at least 120"):
        sim.run(ikev2(client={"retransmit": {"duration": 60}}))


def test_an_ikev2_responder_never_retransmits_unprompted():
    trace = sim.run(ikev2(faults=[{"kind": "drop", "message": "IKE_SA_INIT response", "count": 3}]))
    responder = [e for e in trace.events if e.kind == "retransmit" and e.peer == "gateway"]
    assert len(responder) == 3
    assert all(e.cause == "duplicate received" for e in responder)
    requests = [e.t for e in trace.events if e.kind == "recv" and e.peer == "gateway"
                and e.message == "IKE_SA_INIT request"]  # fmt: skip
    assert [e.t for e in responder] == requests[1:]
    assert _one(trace, "client", "IKE#1").code == 13897


def test_rekey_replaces_the_child_sa():
    trace = sim.run(ikev2(client={"policy": {"rekey_after": 10}}, limits={"until": 15}))
    assert _one(trace, "client", "CHILD#2").code == 13897
    assert _one(trace, "client", "CHILD#1", ends="sa").code == 13895
    assert _one(trace, "gateway", "CHILD#1", ends="sa").code == 13895
    request = next(e for e in trace.events if e.kind == "send" and e.message == "CREATE_CHILD_SA request")
    assert request.detail == "N(REKEY_SA) CHILD#1"


def test_simultaneous_rekey_13821():
    trace = sim.run(ikev2(client={"policy": {"rekey_after": 10}}, gateway={"policy": {"rekey_after": 10}},
                          limits={"until": 15}))  # fmt: skip
    lost = [o for o in trace.outcomes if o.code == 13821]
    assert {(o.peer, o.sa) for o in lost} == {("client", "CHILD#2"), ("gateway", "CHILD#2")}
    survivors = [k for k, state in trace.final_states.items() if k[1].startswith("CHILD") and state == "COMPLETE"]
    assert sorted(survivors) == [("client", "CHILD#3"), ("gateway", "CHILD#3")]


def test_peer_without_mobike_13904_and_with_mobike_the_sa_moves():
    moved = sim.run(ikev2(faults=[{"kind": "address_change", "peer": "client", "at": 5}]))
    assert moved.outcome("client", "IKE#1", "sa") is None
    assert any(e.kind == "recv" and e.message == "INFORMATIONAL response" for e in moved.events)
    refused = sim.run(ikev2(gateway={"policy": {"mobike": False}},
                            faults=[{"kind": "address_change", "peer": "client", "at": 5}]))  # fmt: skip
    assert _one(refused, "client", "IKE#1", ends="sa").code == 13904


def test_liveness_finds_a_dead_ikev2_peer_and_the_children_go_with_the_ike_sa():
    silent = [{"kind": "silence", "peer": "gateway", "at": 10}]
    trace = sim.run(ikev2(client={"policy": {"liveness_interval": 30}}, faults=silent, limits={"until": 400}))
    assert _one(trace, "client", "IKE#1", ends="sa").code == 13886
    assert _one(trace, "client", "CHILD#1", ends="sa").code == 13886


@pytest.mark.parametrize(
    "name", ["ikev2-simultaneous-rekey", "ikev2-peer-without-mobike", "nap-reauth-kills-dummy-tunnel"]
)
def test_every_ikev2_request_that_arrives_is_answered_deletes_included(name):
    # RFC 7296 1.4.1: a delete is an INFORMATIONAL request, and gets an (empty) response.
    trace = sim.run(name)
    deletes = [e for e in trace.events if e.kind == "recv" and e.message == "INFORMATIONAL request"]
    answers = [e for e in trace.events if e.kind == "send" and e.message == "INFORMATIONAL response"]
    assert deletes
    for delete in deletes:
        assert any(a.peer == delete.peer and a.sa == delete.sa and a.t == delete.t for a in answers), delete
    assert not [e for e in trace.events if e.kind == "drop" and e.message == "INFORMATIONAL response"]


def _drops(trace, peer):
    return [e for e in trace.events if e.kind == "drop" and e.peer == peer]


def test_invalid_ke_names_the_wanted_group_and_the_initiator_retries_and_succeeds():
    trace = sim.run(
        ikev2(
            client={"policy": {"proposals": [{"dh_group": 2}, {"dh_group": 14}]}},
            gateway={"policy": {"proposals": [{"dh_group": 14}]}, "profile": "strongswan"},
        )
    )
    [drop] = _drops(trace, "gateway")
    assert (drop.sa, drop.cause, drop.reason.split()[0]) == ("IKE#1", "refused", "13865")
    sends = [(e.peer, e.message, e.detail) for e in trace.events if e.kind == "send" and e.sa == "IKE#1"]
    assert sends[:3] == [
        ("client", "IKE_SA_INIT request", None),
        ("gateway", "IKE_SA_INIT response", "N(INVALID_KE_PAYLOAD 14)"),
        ("client", "IKE_SA_INIT request", "KEi group 14"),
    ]
    assert outcomes(trace) == {(p, sa): 13897 for p in ("client", "gateway") for sa in ("IKE#1", "CHILD#1")}


def test_a_dos_cookie_is_returned_and_the_negotiation_completes_while_the_responder_records_13890():
    trace = sim.run(ikev2(client={"connections": 3}, gateway={"policy": {"dos_threshold": 2}}))
    [drop] = _drops(trace, "gateway")
    assert (drop.sa, drop.reason.split()[0]) == ("IKE#3", "13890")
    retry = [e for e in trace.events if e.kind == "send" and e.sa == "IKE#3" and e.peer == "client"][1]
    assert retry.message == "IKE_SA_INIT request" and "N(COOKIE)" in (retry.detail or "")
    assert set(outcomes(trace).values()) == {13897}


def test_a_stateless_refusal_keeps_nothing_at_the_responder():
    from sim.scenario import parse_scenario
    from sim.simulator.engine import Simulation

    # The client goes silent after the cookie arrives: the gateway never hears the second request again.
    data = ikev2(client={"connections": 2}, gateway={"policy": {"dos_threshold": 1}},
                 faults=[{"kind": "silence", "peer": "client", "at": 0.007}])  # fmt: skip
    run = Simulation(parse_scenario(data))
    trace = run.run()
    gateway = run.endpoints["gateway"]
    assert list(gateway.sessions) == ["IKE#1"] and not gateway.half_open
    assert not [o for o in trace.outcomes if o.sa == "IKE#2" and o.peer == "gateway"]


def test_an_ikev2_responder_checks_liveness_too_and_finds_a_dead_client():
    trace = sim.run(
        ikev2(
            gateway={"policy": {"liveness_interval": 20.0}},
            faults=[{"kind": "silence", "peer": "client", "at": 1.0}],
            limits={"until": 600.0},
        )
    )
    probes = [
        e for e in trace.events if e.kind == "send" and e.peer == "gateway" and e.message == "INFORMATIONAL request"
    ]
    assert probes and round(probes[0].t, 3) == 20.015  # idle for the interval after IKE_AUTH
    assert _one(trace, "gateway", "IKE#1", ends="sa").code == 13886
