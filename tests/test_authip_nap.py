"""AuthIP main and extended mode (13909), and NAP reauthentication (13898, 13905)."""

from __future__ import annotations

from helpers import authip, ikev2, outcomes

import sim


def test_authip_main_mode_and_quick_mode_complete():
    trace = sim.run(authip())
    assert outcomes(trace) == {(p, sa): 13897 for p in ("client", "gateway") for sa in ("MM#1", "QM#1")}
    assert trace.outcome("client", "MM#1").keying_module == "AUTHIP"


def test_extended_mode_that_ends_without_a_more_specific_status_reports_13909():
    trace = sim.run(authip(client={"policy": {"extended_mode": True}}))
    em = trace.outcome("client", "EM#1")
    assert (em.code, em.name) == (13909, "ERROR_IPSEC_IKE_NEG_STATUS_EXTENDED_END")
    assert em.state == "IKEEXT_EM_SA_STATE_COMPLETE"
    assert trace.outcome("gateway", "EM#1").code == 13909
    order = [o.sa for o in trace.outcomes if o.peer == "client"]
    assert order == ["MM#1", "EM#1", "QM#1"]  # extended mode comes before quick mode


def test_extended_mode_with_wrong_user_credentials():
    trace = sim.run(authip(client={"policy": {"extended_mode": True, "user_secret": "wrong"}}))
    assert trace.outcome("gateway", "EM#1").code == 13801
    em = trace.outcome("client", "EM#1")
    assert (em.code, em.state) == (13801, "IKEEXT_EM_SA_STATE_SSPI_SENT")
    assert trace.outcome("client", "QM#1") is None


def test_extended_mode_peer_goes_silent():
    trace = sim.run(authip(client={"policy": {"extended_mode": True}},
                           faults=[{"kind": "silence", "peer": "gateway", "after_message": "AuthIP MM4"}]))  # fmt: skip
    assert trace.outcome("client", "MM#1").code == 13897
    assert trace.outcome("client", "EM#1").code == 13805


def test_authip_machine_authentication_failure():
    trace = sim.run(authip(client={"policy": {"psk": "wrong"}}))
    assert trace.outcome("client", "MM#1").code == 13801


NAP = {"policy": {"nap": True}}


def test_nap_reauthentication_kills_the_dummy_tunnel_13898():
    trace = sim.run(ikev2(client={"policy": {"nap_health": "remediates", "remediation_time": 30}}, gateway=NAP))
    restricted = next(e for e in trace.events if e.kind == "send" and e.message == "IKE_AUTH response")
    assert "NAP restricted (dummy tunnel)" in restricted.detail
    assert trace.outcome("client", "IKE#1").code == 13897  # the dummy tunnel comes up
    assert trace.outcome("client", "IKE#2").code == 13897  # the full tunnel, after remediation
    for peer in ("client", "gateway"):
        end = trace.outcome(peer, "IKE#1", "sa")
        assert (end.code, end.name) == (13898, "ERROR_IPSEC_IKE_KILL_DUMMY_NAP_TUNNEL")
        assert end.failure_point == "IPSEC_FAILURE_NONE"
        assert trace.outcome(peer, "CHILD#1", "sa").code == 13898
    assert trace.outcome("client", "IKE#1", "sa").t > 30
    assert trace.final_states[("client", "CHILD#2")] == "COMPLETE"


def test_nap_reauthentication_of_a_client_still_unhealthy_fails_13905():
    trace = sim.run(ikev2(client={"policy": {"nap_health": "unhealthy"}}, gateway=NAP))
    reauth = trace.outcome("client", "IKE#2")
    assert (reauth.code, reauth.name) == (13905, "ERROR_IPSEC_IKE_AUTHORIZATION_FAILURE")
    assert trace.outcome("gateway", "IKE#2").code == 13905
    assert trace.outcome("client", "IKE#1", "sa") is None  # the dummy tunnel stays
    assert trace.final_states[("client", "IKE#1")] == "COMPLETE"


def test_a_healthy_client_gets_the_full_tunnel_at_once():
    trace = sim.run(ikev2(gateway=NAP))
    reply = next(e for e in trace.events if e.kind == "send" and e.message == "IKE_AUTH response")
    assert not reply.detail
    assert trace.outcome("client", "IKE#2") is None
