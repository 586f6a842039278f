"""Network and peer faults: what each one does to a negotiation."""

from __future__ import annotations

import pytest
from helpers import outcomes, two_peers

import sim


def _kinds(trace, kind, **match):
    return [e for e in trace.events if e.kind == kind and all(getattr(e, k, None) == v for k, v in match.items())]


def test_drop_the_nth_message_is_recovered_by_a_retransmission():
    trace = sim.run(two_peers(faults=[{"kind": "drop", "message": "MM3", "nth": 1}]))
    assert set(outcomes(trace).values()) == {13897}
    assert [e.t for e in _kinds(trace, "retransmit", message="MM3")] == [1.01]
    assert _kinds(trace, "drop", message="MM3")[0].reason.startswith("fault: drop")


def test_drop_every_message_from_a_peer_after_main_mode():
    trace = sim.run(two_peers(faults=[{"kind": "drop", "message": "QM*", "from": "gateway", "count": 0}]))
    assert trace.outcome("client", "QM#1").code == 13886
    assert trace.outcome("gateway", "QM#1").code == 13886


def test_duplicate_is_answered_without_changing_the_outcome():
    trace = sim.run(two_peers(faults=[{"kind": "duplicate", "message": "MM1"}]))
    assert set(outcomes(trace).values()) == {13897}
    assert len(_kinds(trace, "recv", message="MM1")) == 2
    assert _kinds(trace, "retransmit", message="MM2")[0].cause == "duplicate received"


def test_delay_longer_than_the_retransmission_timer():
    trace = sim.run(two_peers(faults=[{"kind": "delay", "message": "MM2", "delay": 1.5}]))
    assert set(outcomes(trace).values()) == {13897}
    assert [e.t for e in _kinds(trace, "retransmit", peer="client")] == [1.0]


def test_reorder_delivers_a_message_after_the_next_one():
    trace = sim.run(two_peers(client={"policy": {"quick_modes": 0}, "connections": 2},
                              faults=[{"kind": "reorder", "message": "MM1", "nth": 1}]))  # fmt: skip
    arrivals = [e.sa for e in _kinds(trace, "recv", message="MM1")]
    assert arrivals == ["MM#2", "MM#1"]
    assert set(outcomes(trace).values()) == {13897}


def test_reorder_with_nothing_to_overtake_releases_the_message_after_a_second():
    trace = sim.run(two_peers(faults=[{"kind": "reorder", "message": "QM3"}]))
    arrival = _kinds(trace, "recv", message="QM3")[0]
    assert arrival.t == 0.04 + 0.005 + 1.0
    assert set(outcomes(trace).values()) == {13897}


def test_replay_of_an_old_message_is_dropped_by_the_state_machine():
    trace = sim.run(two_peers(faults=[{"kind": "replay", "message": "MM3", "after": 5}]))
    assert set(outcomes(trace).values()) == {13897}
    late = [e for e in _kinds(trace, "drop", message="MM3") if e.t > 5]
    assert late and "not accepted in state COMPLETE" in late[0].reason


def test_partition_window_heals_in_time():
    trace = sim.run(two_peers(faults=[{"kind": "partition", "start": 0.0, "end": 2.5}]))
    assert set(outcomes(trace).values()) == {13897}
    assert _kinds(trace, "drop")[0].reason.startswith("network partition")


def test_partition_that_outlasts_the_retransmissions():
    trace = sim.run(two_peers(faults=[{"kind": "partition", "start": 0.0, "end": 500}]))
    assert outcomes(trace) == {("client", "MM#1"): 13813}


def test_crash_loses_state_and_restart_comes_back_empty():
    trace = sim.run(
        two_peers(faults=[{"kind": "crash", "peer": "gateway", "at": 5, "restart_at": 20}], limits={"until": 30})
    )
    assert _kinds(trace, "timer", timer="crash")[0].detail == "2 SAs lost"
    assert _kinds(trace, "timer", timer="restart")
    assert trace.final_states[("gateway", "MM#1")].endswith("(lost in crash)")


def test_crash_during_quick_mode_then_restart_gives_13886():
    trace = sim.run(two_peers(faults=[{"kind": "crash", "peer": "gateway", "at": 0.032, "restart_at": 2}]))
    assert trace.outcome("client", "QM#1").code == 13886
    no_sa = [e for e in _kinds(trace, "drop", peer="gateway") if "no established SA MM#1" in e.reason]
    assert no_sa, "after the restart the gateway has no SA for the retransmitted QM1"


def test_crashed_initiator_restarts_and_negotiates_again():
    trace = sim.run(
        two_peers(faults=[{"kind": "crash", "peer": "client", "at": 0.012, "restart_at": 1}], limits={"until": 200})
    )
    assert trace.outcome("client", "MM#2").code == 13897
    assert trace.outcome("gateway", "MM#1").code == 13805


def test_an_initiator_that_crashed_before_its_start_starts_from_the_state_it_restarted_with():
    """A start carries its endpoint (no search of the run's peers); a crash before it replaces that endpoint."""
    from sim.scenario import parse_scenario
    from sim.simulator.engine import Simulation

    crash = {"kind": "crash", "peer": "client", "at": 0.2, "restart_at": 0.4}
    client = {"instances": 2, "start": 1, "connections": 2, "interval": 30}
    simulation = Simulation(parse_scenario(two_peers(client, faults=[crash], limits={"until": 100})))
    trace = simulation.run()
    for name in ("client-1", "client-2"):  # the restart's negotiation, then the start's and the next connection's
        mine = simulation.endpoints[name].sessions
        assert sorted(label for label in mine if label.startswith("MM")) == sorted(
            o.sa for o in trace.outcomes if o.peer == name and o.exchange == "ikev1_main_mode"
        )
        assert len([label for label in mine if label.startswith("MM")]) == 3
    assert {o.code for o in trace.outcomes} == {13897}


def test_random_loss_is_seeded():
    scenario = two_peers(network={"loss": 0.3}, client={"policy": {"quick_modes": 3}})
    first = sim.run(scenario, seed=7).to_jsonl()
    assert first == sim.run(scenario, seed=7).to_jsonl()
    assert first != sim.run(scenario, seed=8).to_jsonl()
    assert "random loss" in first


def test_jitter_changes_arrival_times_deterministically():
    scenario = two_peers(network={"latency": 0.01, "jitter": 0.02})
    a = sim.run(scenario, seed=1)
    b = sim.run(scenario, seed=1)
    assert [e.t for e in a.events] == [e.t for e in b.events]
    gaps = {round(r.t - s.t, 6) for s, r in zip(_kinds(a, "send"), _kinds(a, "recv"), strict=False)}
    assert len(gaps) > 1


def test_limits_stop_a_run_and_say_why():
    trace = sim.run(two_peers(faults=[{"kind": "silence", "peer": "gateway", "at": 0}], limits={"max_time": 10}))
    assert trace.truncated == "max_time 10 s reached"
    assert trace.outcome("client", "MM#1") is None
    capped = sim.run(two_peers(limits={"max_events": 5}))
    assert capped.truncated == "max_events 5 reached"
    # The run stops after the step that crossed the limit; that step's lines are kept whole.
    assert 5 < len(capped.events) <= 5 + 8


def test_a_restarted_peer_is_a_new_instance_and_reports_again():
    trace = sim.run(
        two_peers(
            faults=[
                {"kind": "local", "peer": "gateway", "at": "MM1", "code": 13815},  # rejected, no word to the client
                {"kind": "crash", "peer": "gateway", "at": 0.01, "restart_at": 0.5},
            ],
        )
    )
    reports = [o for o in trace.outcomes if o.peer == "gateway" and o.sa == "MM#1"]
    crash = _kinds(trace, "timer", timer="crash")[0]
    assert [o.code for o in reports] == [13815, 13815]
    assert reports[0].t < crash.t < reports[1].t


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop", "message": "MM9"},
        {"kind": "local", "peer": "client", "at": "QM7", "code": 13815},
        {"kind": "silence", "peer": "gateway", "after_message": "MM 2"},
    ],
)
def test_a_fault_that_can_never_match_a_message_is_a_scenario_error(fault):
    with pytest.raises(sim.IkesimError, match="matches no message ikesim sends"):
        sim.run(two_peers(faults=[fault]))
