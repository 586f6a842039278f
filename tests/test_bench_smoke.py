"""The benchmarks still run (tiny sizes, no timing asserted: speed is measured by `make bench`)."""

from __future__ import annotations

import pytest

import bench.__main__ as bench_main
from bench.__main__ import (
    bare_run,
    engine_against_bare,
    fleet,
    fleet_scenario,
    give_up,
    goals,
    hypothesis_runs_per_second,
    live_datagrams_per_second,
    negotiations_per_second,
    per_transition,
    protocol_per_second,
)
from sim.simulator.engine import Simulation


def test_every_benchmark_runs_and_counts_what_it_claims():
    assert set(per_transition(rounds=5)) == {"minimal_dict_us", "compiled_table_us", "transitions_us"}
    assert negotiations_per_second(20, interval=0.001)["connections"] == 20
    assert protocol_per_second("ikev2-cp", 10)["connections"] == 10
    assert protocol_per_second("nap-reauth", 10)["connections"] == 10
    assert hypothesis_runs_per_second(20)["examples"] >= 1
    assert live_datagrams_per_second(50)["mm1_answered"] == 50  # every first message got its MM2
    assert give_up(20)["peers"] == 20  # every one of them gave up at 165.06 s with 13813


def test_the_fleet_counts_completed_negotiations_and_memory_per_sa():
    row = fleet(300, traced=True)
    assert row["negotiations"] == row["outcomes"] // 4 == 300  # MM and QM at both peers
    assert row["bytes_per_sa"] > 0 and row["bytes_per_peer"] > 0
    assert list(fleet_scenario(2_500).peers) == ["c0", "c1", "c2", "gateway"]  # batches of 1,000


def test_the_bare_loop_writes_the_engines_trace_byte_for_byte():
    scenario = fleet_scenario(1_203)  # two batches, the second partial
    assert bare_run(scenario).to_jsonl() == Simulation(scenario).run().to_jsonl()
    ratio = engine_against_bare(30, rounds=1)
    assert ratio["peers"] == 30 and ratio["engine_over_bare"] > 0


def test_each_goal_is_judged_from_its_figure_or_marked_not_measured():
    judged = goals({"fleet": [{"peers": 100_000, "negotiations_per_s": 25_000}], "memory": {"bytes_per_sa": 2048}})
    assert judged["negotiations_per_s_at_100k"]["met"] is True
    assert judged["bytes_per_sa"]["met"] is False
    assert judged["peak_rss_mb_at_1m"]["met"] is None  # not measured: neither met nor failed


def test_a_fleet_of_the_goals_keeps_the_median_of_its_fresh_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    costs = iter([52.1, 47.3, 49.0])

    def one_process(peers: int) -> dict[str, float]:
        us = next(costs)
        return {"peers": peers, "cpu_s": us * peers / 1e6, "us_per_negotiation": us}

    monkeypatch.setattr(bench_main, "fleet_in_subprocess", one_process)
    row = bench_main.fleet_median(1_000_000)
    assert row["us_per_negotiation"] == 49.0 and row["processes"] == 3
    assert row["us_per_negotiation_each"] == [52.1, 47.3, 49.0]
