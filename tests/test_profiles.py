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


def test_strongswan_resends_at_4_11_2_24_16_47_488_89_478_and_gives_up_at_165_06():
    # reference/real-implementations.md 1: 4 s x 1.8^n in whole milliseconds (retransmission_timeout()).
    resends, gave_up, code = _resend_times("strongswan")
    assert resends == [4, 11.2, 24.16, 47.488, 89.478]
    assert gave_up == 165.06
    assert code == 13813


def test_strongswan_limit_caps_each_wait():
    resends, gave_up, _ = _resend_times("strongswan", limit=10)
    assert resends == [4, 11.2, 21.2, 31.2, 41.2]
    assert gave_up == 51.2


def test_strongswan_jitter_takes_up_to_its_percentage_off_each_wait_the_same_on_every_run():
    first, gave_up, _ = _resend_times("strongswan", jitter=20)
    again, _, _ = _resend_times("strongswan", jitter=20)
    assert first == again  # drawn from the seed
    plain = [4, 11.2, 24.16, 47.488, 89.478, 165.06]
    waits = [b - a for a, b in zip([0, *plain], plain, strict=False)]
    drawn = [b - a for a, b in zip([0, *first, gave_up], [*first, gave_up], strict=False)]
    assert drawn != waits
    assert all(0.8 * w - 0.002 <= d <= w + 0.002 for w, d in zip(waits, drawn, strict=True))
    with pytest.raises(sim.scenario.ScenarioError):
        sim.run(two_peers(client={"profile": "strongswan", "retransmit": {"jitter": 21}}))


def test_libreswan_follows_retransmit_c_with_the_30_s_timeout_of_5_4_and_60_s_before():
    # reference/real-implementations.md 1: measured on pluto 4.10 with its 60 s timeout.
    resends, gave_up, _ = _resend_times("libreswan")
    assert (resends, gave_up) == ([0.5, 1, 2, 4, 8, 16], 32)
    resends, gave_up, _ = _resend_times("libreswan", timeout=60)
    assert (resends, gave_up) == ([0.5, 1, 2, 4, 8, 16, 32], 64)


def test_libreswan_resends_at_most_12_times_per_exchange():
    resends, gave_up, _ = _resend_times("libreswan", timeout=100_000)
    assert len(resends) == 12 and resends[-1] == 1024 and gave_up == 2048


def test_authip_resends_seven_times():
    resends, gave_up, _ = _resend_times("authip")
    assert resends == [1, 3, 7, 15, 31, 63, 127]
    assert gave_up == 255


def test_custom_schedule():
    resends, gave_up, _ = _resend_times("custom", resend_at=[2, 5], give_up_at=9)
    assert (resends, gave_up) == ([2, 5], 9)


def _responder(profile, silent_after):
    fault = {"kind": "silence", "peer": "client", "after_message": silent_after}
    trace = sim.run(two_peers(gateway={"profile": profile}, faults=[fault]))
    resends = [(e.message, e.t) for e in trace.events if e.kind == "retransmit" and e.peer == "gateway"]
    return resends, trace.outcome("gateway", "MM#1")


def test_a_windows_responder_resends_mm2_on_its_schedule():
    resends, ended = _responder("windows", "MM1")
    assert resends == [("MM2", pytest.approx(0.005 + t)) for t in (1, 3, 7, 15, 31, 63)]
    assert ended.code == 13805


def test_a_strongswan_responder_sends_mm2_once_and_drops_the_half_open_sa_at_30_s():
    resends, ended = _responder("strongswan", "MM1")
    assert resends == []
    assert (ended.t, ended.code) == (pytest.approx(30.005), 13805)
    resends, ended = _responder("strongswan", "MM3")  # MM4 is not resent either; 30 s from MM1
    assert resends == [] and ended.t == pytest.approx(30.005)


def test_a_strongswan_responder_that_dropped_a_half_open_sa_opens_it_anew_for_a_later_mm1():
    """The SA it ended is gone: the initiator's MM1, resent after the 30 s, begins a negotiation that completes."""
    strongswan = {"profile": "strongswan"}
    trace = sim.run(two_peers(client=strongswan, gateway=strongswan,
                              faults=[{"kind": "partition", "start": 0.002, "end": 40}]))  # fmt: skip
    ends = [(o.t, o.code) for o in trace.outcomes if o.peer == "gateway" and o.sa == "MM#1"]
    assert ends == [(pytest.approx(30.005), 13805), (pytest.approx(47.513), 13897)]
    assert trace.outcome("client", "QM#1").code == 13897
    assert not [e for e in trace.events if type(e).__name__ == "Drop" and e.t > 40]  # MM3 and MM5 went to the new one


def test_a_libreswan_responder_resends_mm4_but_not_mm2():
    resends, _ = _responder("libreswan", "MM1")
    assert resends == []
    resends, _ = _responder("libreswan", "MM3")
    assert [m for m, _ in resends] == ["MM4"] * 6
    assert resends[0][1] == pytest.approx(0.015 + 0.5)


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
    assert {"windows", "windows-ikev2", "strongswan", "libreswan", "authip", "custom"} <= set(profiles.PROFILES)


@pytest.mark.parametrize("protocol", ["ikev1"])
def test_a_responders_own_liveness_checks_are_resent_once_its_sa_is_up(protocol):
    # The responder rules (no resend, a half-open timeout) are about answering a negotiation, not
    # about requests of its own on an established SA.
    base = {"protocol": protocol, "profile": "strongswan"}
    silent_client = [{"kind": "silence", "peer": "client", "at": 40}]
    trace = sim.run(two_peers(client={**base, "policy": {"quick_modes": 0}},
                              gateway={**base, "policy": {"liveness_interval": 30}},
                              faults=silent_client, limits={"until": 400}))  # fmt: skip
    label = "MM#1" if protocol == "ikev1" else "IKE#1"
    resends = [e.t for e in trace.events if e.kind == "retransmit" and e.peer == "gateway"]
    assert len(resends) == 5  # strongSwan's five retransmissions
    ended = trace.outcome("gateway", label, ends="sa")
    assert ended is not None and ended.code == 13886 and ended.t > 190


@pytest.mark.parametrize(
    ("profile", "options", "says"),
    [
        ("strongswan", {"timeout": float("nan")}, "finite"),
        ("strongswan", {"base": float("inf")}, "finite"),
        ("strongswan", {"base": 1e308}, "too long to count"),
        ("strongswan", {"tries": 10**9}, "tries is a count"),
        ("libreswan", {"limit": 10**9}, "limit is a count"),
        ("windows", {"give_up_after": float("inf")}, "finite"),
        ("custom", {"resend_at": list(range(1, 10_000)), "give_up_at": 20_000}, "at most"),
        ("strongswan", {"half_open_timeout": float("nan")}, "greater than 0"),
    ],
)
def test_retransmit_options_that_would_never_end_or_cannot_be_counted_are_scenario_errors(profile, options, says):
    with pytest.raises(sim.IkesimError, match=says):
        sim.run(two_peers(client={"profile": profile, "retransmit": options}))
