"""Each IKEv1 row of the SPEC table, from its cause, through the public API ``sim.run``."""

from __future__ import annotations

import pytest
from helpers import outcomes, two_peers

import sim


def _one(trace, peer, sa, ends="negotiation"):
    found = trace.outcome(peer, sa, ends)
    assert found is not None, f"no {ends} outcome for {peer} {sa}: {[dict(o) for o in trace.outcomes]}"
    return found


def test_completed_negotiation_reports_13897_at_both_peers_for_main_and_quick_mode():
    trace = sim.run(two_peers())
    assert outcomes(trace) == {
        ("client", "MM#1"): 13897,
        ("gateway", "MM#1"): 13897,
        ("client", "QM#1"): 13897,
        ("gateway", "QM#1"): 13897,
    }
    mm = _one(trace, "client", "MM#1")
    assert mm.name == "ERROR_IPSEC_IKE_NEG_STATUS_END"
    assert mm.failure_point == "IPSEC_FAILURE_NONE"
    assert mm.state == "IKEEXT_MM_SA_STATE_COMPLETE"
    assert mm.role == "initiator" and mm.keying_module == "IKE"
    assert _one(trace, "gateway", "QM#1").state == "IKEEXT_QM_SA_STATE_COMPLETE"
    assert [e.message for e in trace.events if e.kind == "send"] == [
        "MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM1", "QM2", "QM3"
    ]  # fmt: skip


def test_peer_that_never_answers_gives_13813_after_the_last_retransmission():
    trace = sim.run(two_peers(faults=[{"kind": "silence", "peer": "gateway", "at": 0}]))
    o = _one(trace, "client", "MM#1")
    assert (o.code, o.failure_point, o.state) == (13813, "IPSEC_FAILURE_PEER", "IKEEXT_MM_SA_STATE_SA_SENT")
    assert o.t == 127.0  # 63 s (last resend) + 64 s (documented assumption)
    assert trace.outcome("gateway", "MM#1") is None  # the gateway never heard of it


def test_peer_that_goes_silent_mid_negotiation_gives_13805():
    trace = sim.run(two_peers(faults=[{"kind": "silence", "peer": "gateway", "after_message": "MM4"}]))
    o = _one(trace, "client", "MM#1")
    assert (o.code, o.state) == (13805, "IKEEXT_MM_SA_STATE_FINAL")
    assert _one(trace, "gateway", "MM#1").code == 13805


def test_peer_that_stops_responding_after_main_mode_gives_13886():
    trace = sim.run(two_peers(faults=[{"kind": "silence", "peer": "gateway", "after_message": "MM6"}]))
    assert _one(trace, "client", "MM#1").code == 13897
    qm = _one(trace, "client", "QM#1")
    assert (qm.code, qm.name, qm.state) == (
        13886,
        "ERROR_IPSEC_IKE_PEER_MM_ASSUMED_INVALID",
        "IKEEXT_QM_SA_STATE_INITIAL",
    )
    mm_end = _one(trace, "client", "MM#1", ends="sa")
    assert mm_end.code == 13886 and mm_end.state == "IKEEXT_MM_SA_STATE_COMPLETE"
    assert trace.retransmissions("client", "QM#1") == 6


def test_liveness_check_finds_a_dead_peer_with_13886():
    trace = sim.run(
        two_peers(
            client={"policy": {"liveness_interval": 30, "quick_modes": 0}},
            faults=[{"kind": "silence", "peer": "gateway", "at": 10}],
            limits={"until": 600},
        )
    )
    end = _one(trace, "client", "MM#1", ends="sa")
    assert end.code == 13886
    probes = [e for e in trace.events if e.kind == "send" and e.message == "R-U-THERE"]
    assert probes[0].t == pytest.approx(30.03)


def test_liveness_answered_keeps_the_sa_up():
    trace = sim.run(two_peers(client={"policy": {"liveness_interval": 30, "quick_modes": 0}}, limits={"until": 100}))
    assert trace.outcome("client", "MM#1", ends="sa") is None
    acks = [e for e in trace.events if e.kind == "recv" and e.message == "R-U-THERE-ACK"]
    assert len(acks) == 3


@pytest.mark.parametrize(
    ("client", "gateway", "code", "told", "where"),
    [
        ({"proposals": [{"encryption": "3des"}]}, {}, 13802, 13802, "MM1"),
        # Windows to Windows, MS_NOTIFY_STATUS beside the notify carries the status itself.
        ({"proposals": [{"dh_group": 2}]}, {}, 13865, 13865, "MM1"),
        ({"auth": "certificate"}, {}, 13802, 13802, "MM1"),
        ({"auth": "certificate", "certificate": "untrusted"}, {"auth": "certificate"}, 13887, 13887, "MM5"),
        ({"auth": "certificate", "certificate": "revoked"}, {"auth": "certificate"}, 13848, 13848, "MM5"),
        # A strongSwan gateway sends the notify alone: the client records what its type says.
        ({"proposals": [{"dh_group": 2}]}, {"profile": "strongswan"}, 13865, 13802, "MM1"),
        (
            {"auth": "certificate", "certificate": "untrusted"},
            {"auth": "certificate", "profile": "strongswan"},
            13887,
            13801,
            "MM5",
        ),
        (
            {"auth": "certificate", "certificate": "revoked"},
            {"auth": "certificate", "profile": "strongswan"},
            13848,
            13801,
            "MM5",
        ),
    ],
)
def test_policy_rejections_by_the_responder_are_reported_by_both_peers(client, gateway, code, told, where):
    profile = gateway.get("profile", "windows")
    gateway = {k: v for k, v in gateway.items() if k != "profile"}
    trace = sim.run(two_peers(client={"policy": client}, gateway={"policy": gateway, "profile": profile}))
    responder = _one(trace, "gateway", "MM#1")
    initiator = _one(trace, "client", "MM#1")
    assert (responder.code, initiator.code) == (code, told)
    assert initiator.failure_point == "IPSEC_FAILURE_PEER"
    assert any(e.kind == "recv" and e.message == where and e.peer == "gateway" for e in trace.events)
    [notify] = [e for e in trace.events if e.kind == "send" and e.message == "INFO NOTIFY"]
    assert ("MS_NOTIFY_STATUS" in notify.detail) == ((profile == "windows" and code != told) or profile == "windows")
    if code == 13865:  # IKEv1 has no notify for a group: NO-PROPOSAL-CHOSEN, as charon answers it
        assert notify.detail.startswith("N(NO-PROPOSAL-CHOSEN)")


def test_responder_certificate_not_trusted_by_the_initiator_gives_13887_at_the_initiator():
    trace = sim.run(
        two_peers(client={"policy": {"auth": "certificate"}},
                  gateway={"policy": {"auth": "certificate", "certificate": "untrusted"}})
    )  # fmt: skip
    assert _one(trace, "client", "MM#1").code == 13887
    assert _one(trace, "gateway", "MM#1").code == 13897  # it sent MM6 and believes the SA is up


def test_no_machine_certificate_is_a_local_failure_13806():
    trace = sim.run(
        two_peers(client={"policy": {"auth": "certificate", "certificate": "missing"}},
                  gateway={"policy": {"auth": "certificate"}})
    )  # fmt: skip
    o = _one(trace, "client", "MM#1")
    assert (o.code, o.failure_point) == (13806, "IPSEC_FAILURE_ME")
    assert _one(trace, "gateway", "MM#1").code == 13805  # it waits for an MM5 that never comes


def test_peer_deletes_before_establishment_13807_and_the_deleter_reports_13877():
    trace = sim.run(two_peers(faults=[{"kind": "delete", "peer": "gateway", "at": 0.012}]))
    assert _one(trace, "client", "MM#1").code == 13807
    assert _one(trace, "gateway", "MM#1").code == 13877


def test_main_mode_lifetime_expires_13885_and_quick_mode_lifetime_13895():
    trace = sim.run(two_peers(client={"policy": {"mm_lifetime": 60, "qm_lifetime": 30}}, limits={"until": 100}))
    assert _one(trace, "client", "QM#1", ends="sa").code == 13895
    assert _one(trace, "client", "MM#1", ends="sa").code == 13885
    assert _one(trace, "client", "MM#1", ends="sa").t == pytest.approx(60.03)
    # The gateway learns of both through deletes.
    assert _one(trace, "gateway", "MM#1", ends="sa").code == 13885
    assert _one(trace, "gateway", "QM#1", ends="sa").code == 13895


def test_peer_sends_a_main_mode_delete_13885():
    trace = sim.run(two_peers(faults=[{"kind": "delete", "peer": "gateway", "at": 5}]))
    assert _one(trace, "client", "MM#1", ends="sa").code == 13885
    assert _one(trace, "gateway", "MM#1", ends="sa").code == 13877


def test_policy_change_13849():
    trace = sim.run(two_peers(faults=[{"kind": "policy_change", "peer": "gateway", "at": 5}]))
    assert _one(trace, "gateway", "MM#1", ends="sa").code == 13849
    assert _one(trace, "gateway", "QM#1", ends="sa").code == 13849


def test_too_many_main_modes_to_the_peer_13882():
    trace = sim.run(two_peers(client={"connections": 2, "interval": 1}, gateway={"policy": {"max_mm_per_peer": 1}}))
    assert _one(trace, "client", "MM#1").code == 13897
    assert _one(trace, "gateway", "MM#2").code == 13882
    assert _one(trace, "client", "MM#2").code == 13882


def test_quick_mode_limit_13884():
    trace = sim.run(two_peers(client={"policy": {"quick_modes": 2, "max_qm_per_mm": 1}}))
    assert _one(trace, "client", "QM#1").code == 13897
    o = _one(trace, "client", "QM#2")
    assert (o.code, o.failure_point) == (13884, "IPSEC_FAILURE_ME")


def test_rate_limit_13903_refuses_within_its_window_not_forever():
    trace = sim.run(two_peers(client={"connections": 3}, gateway={"policy": {"rate_limit": 1}}))
    drops = [(e.sa, round(e.t, 3), e.reason.split()[0]) for e in trace.events if e.kind == "drop"]
    assert drops == [("MM#2", 0.005, "13903"), ("MM#3", 0.005, "13903"), ("MM#3", 1.005, "13903")]
    assert {o.code for o in trace.outcomes} == {13897}  # every retransmission past the window is accepted
    assert [round(_one(trace, "gateway", sa).t, 3) for sa in ("MM#2", "MM#3")] == [1.025, 3.025]


def test_dos_cookies_are_ikev2s_and_an_ikev1_scenario_with_one_is_refused():
    with pytest.raises(sim.IkesimError, match=r"peers.gateway.policy.dos_threshold: DoS cookies are IKEv2's"):
        sim.run(two_peers(gateway={"policy": {"dos_threshold": 1}}))


def test_service_shutting_down_13891():
    trace = sim.run(two_peers(gateway={"policy": {"shutdown_at": 0}}))
    assert _one(trace, "gateway", "MM#1").code == 13891
    assert _one(trace, "client", "MM#1").code == 13891


@pytest.mark.parametrize(
    ("field", "code"),
    [("cookie", 13846), ("message_id", 13888), ("payload", 13843), ("header", 13824), ("version", 13880)],
)
def test_a_damaged_message_is_dropped_with_its_code_and_the_retransmission_completes(field, code):
    trace = sim.run(two_peers(faults=[{"kind": "corrupt", "message": "MM3", "field": field}]))
    [drop] = [e for e in trace.events if e.kind == "drop"]
    assert (drop.peer, drop.message, drop.cause) == ("gateway", "MM3", "damaged")
    assert drop.reason.startswith(f"{code} ") and "state kept" in drop.reason
    assert _one(trace, "gateway", "MM#1").code == 13897
    assert _one(trace, "client", "MM#1").code == 13897


@pytest.mark.parametrize(("gateway_profile", "gateway_code"), [("windows", 13801), ("strongswan", 13805)])
def test_a_wrong_preshared_key_leaves_the_initiator_unable_to_read_the_answer(gateway_profile, gateway_code):
    # IKEv1 keys come from the pre-shared key: the gateway cannot read MM5, the client cannot read
    # the encrypted error notify, and times out (reference/real-implementations.md 2). A Windows
    # gateway calls it an authentication failure; strongSwan cannot tell it from a malformed MM5,
    # answers every copy and drops the half-open SA (make interop, case v1-wrong-psk).
    trace = sim.run(two_peers(client={"policy": {"psk": "wrong"}}, gateway={"profile": gateway_profile}))
    assert _one(trace, "gateway", "MM#1").code == gateway_code
    assert _one(trace, "client", "MM#1").code == 13805
    drops = [e for e in trace.events if e.kind == "drop" and e.peer == "client"]
    assert drops and all(
        d.message == "INFO NOTIFY" and d.cause == "damaged" and "keys differ" in d.reason for d in drops
    )
    unreadable = [e for e in trace.events if e.kind == "drop" and e.peer == "gateway" and "keys differ" in e.reason]
    assert len(unreadable) == (0 if gateway_profile == "windows" else len(drops))  # each MM5 answered


def test_a_message_damaged_every_time_ends_in_timeouts_at_both_peers():
    trace = sim.run(two_peers(faults=[{"kind": "corrupt", "message": "MM3", "field": "payload", "count": 0}]))
    assert _one(trace, "gateway", "MM#1").code == 13805
    assert _one(trace, "client", "MM#1").code == 13805
    assert {e.cause for e in trace.events if e.kind == "drop"} == {"damaged"}


@pytest.mark.parametrize("code", ["OUT_OF_MEMORY", "GETSPIFAIL", "13860", "ERROR_IPSEC_IKE_SRVACQFAIL"])
def test_local_faults_report_the_injected_code_at_failure_point_me(code):
    trace = sim.run(two_peers(faults=[{"kind": "local", "peer": "client", "at": "MM3", "code": code}]))
    o = _one(trace, "client", "MM#1")
    assert o.code == sim.codes.lookup(code).code
    assert (o.failure_point, o.condition) == ("IPSEC_FAILURE_ME", "local_fault")


def test_local_fault_on_a_received_message_and_before_the_first_message():
    first = sim.run(two_peers(faults=[{"kind": "local", "peer": "client", "at": "MM1", "code": "NO_POLICY"}]))
    assert _one(first, "client", "MM#1").code == 13825
    assert not [e for e in first.events if e.kind == "send"]
    last = sim.run(two_peers(faults=[{"kind": "local", "peer": "client", "at": "MM6", "code": "DECRYPT"}]))
    assert _one(last, "client", "MM#1").code == 13867


def test_a_give_up_that_the_implementation_s_own_timeout_caused_says_so():
    half_open = sim.run("mm-strongswan-drops-half-open-sa")
    [timer] = [e for e in half_open.events if e.kind == "timer" and e.peer == "gateway" and e.timer == "give_up"]
    assert timer.detail == "half-open SA dropped after half_open_timeout (30 s)"
    windows = sim.run("mm-no-response")
    assert all(e.detail is None for e in windows.events if e.kind == "timer" and e.timer == "give_up")
