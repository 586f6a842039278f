"""The benchmarks still run (tiny sizes, no timing asserted: speed is measured by `make bench`)."""

from __future__ import annotations

from bench.__main__ import (
    bytes_per_sa,
    hypothesis_runs_per_second,
    live_datagrams_per_second,
    negotiations_per_second,
    per_transition,
    protocol_per_second,
)


def test_every_benchmark_runs_and_counts_what_it_claims():
    assert set(per_transition(rounds=5)) == {"minimal_dict_us", "compiled_table_us", "transitions_us"}
    assert negotiations_per_second(20, interval=0.001)["connections"] == 20
    assert protocol_per_second("ikev2-cp", 10)["connections"] == 10
    assert protocol_per_second("nap-reauth", 10)["connections"] == 10
    assert bytes_per_sa(200)["sas_in_flight"] == 200
    assert hypothesis_runs_per_second(20)["examples"] >= 1
    assert live_datagrams_per_second(50)["mm1_answered"] == 50  # every first message got its MM2
