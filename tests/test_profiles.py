"""Retransmission profiles, asserted on the virtual send times of real runs."""

from __future__ import annotations

import pytest
from helpers import two_peers

import sim
from sim.protocol import profiles

SILENT_GATEWAY = [{"kind": "silence", "peer": "gateway", "at": 0}]


def _resend_times(profile, **options):
    client = {"profile": profile, "retransmit": options} if options else {"profile": profile}
    trace = sim.run(two_peers(client=client, faults=SILENT_GATEWAY))
    resends = [e.t for e in trace.events if e.kind == "retransmit" and e.peer == "client"]
    gave_up = trace.outcome("client", "MM#1")
    return resends, gave_up.t, gave_up.code


def test_windows_resends_1_3_7_15_31_63_after_the_first_send():
    resends, gave_up, code = _resend_times("windows")
    assert resends == [1, 3, 7, 15, 31, 63]
    assert (gave_up, code) == (127, 13813)


def test_windows_give_up_is_a_configurable_assumption():
    _, gave_up, _ = _resend_times("windows", give_up_after=10)
    assert gave_up == 73


def test_strongswan_resends_at_4_11_2_24_16_47_49_89_48_and_gives_up_at_165_06():
    resends, gave_up, code = _resend_times("strongswan")
    assert resends == pytest.approx([4, 11.2, 24.16, 47.488, 89.4784])
    assert gave_up == pytest.approx(165.06112)
    assert code == 13813


def test_libreswan_doubles_from_half_a_second_until_60_or_30_seconds():
    resends, gave_up, _ = _resend_times("libreswan")
    assert resends == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert gave_up == 60
    resends, gave_up, _ = _resend_times("libreswan", timeout=30)
    assert resends == [0.5, 1.5, 3.5, 7.5, 15.5]
    assert gave_up == 30


def test_custom_schedule():
    resends, gave_up, _ = _resend_times("custom", resend_at=[2, 5], give_up_at=9)
    assert (resends, gave_up) == ([2, 5], 9)


def test_an_ikev1_responder_retransmits_its_reply_on_the_same_schedule():
    trace = sim.run(two_peers(gateway={"profile": "strongswan"}, faults=[{"kind": "silence", "peer": "client",
                                                                              "after_message": "MM1"}]))  # fmt: skip
    resends = [e.t for e in trace.events if e.kind == "retransmit" and e.peer == "gateway"]
    assert resends == pytest.approx([0.005 + t for t in (4, 11.2, 24.16, 47.488, 89.4784)])
    assert trace.outcome("gateway", "MM#1").code == 13805


@pytest.mark.parametrize(
    "bad",
    [
        {"profile": "nosuch"},
        {"profile": "windows", "retransmit": {"nosuch": 1}},
        {"profile": "custom", "retransmit": {"resend_at": [5, 2], "give_up_at": 9}},
        {"profile": "custom", "retransmit": {"resend_at": [1], "give_up_at": 1}},
    ],
)
def test_bad_profiles_are_rejected(bad):
    with pytest.raises(sim.scenario.ScenarioError) as raised:
        sim.run(two_peers(client=bad))
    assert "peers.client" in str(raised.value)


def test_profile_table_lists_the_spec_profiles():
    assert {"windows", "strongswan", "libreswan", "custom"} <= set(profiles.PROFILES)
