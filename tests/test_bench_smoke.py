"""The benchmarks still run (tiny sizes, no timing asserted: speed is measured by `make bench`)."""

from __future__ import annotations

import pytest

import bench.__main__ as bench_main
from bench.__main__ import (
    bare_fleet,
    bare_run,
    engine_against_bare,
    fleet,
    fleet_scenario,
    fresh_memory,
    give_up,
    goals,
    growth,
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


def test_the_fleets_of_the_goals_run_in_rounds_and_keep_each_sizes_median(monkeypatch: pytest.MonkeyPatch) -> None:
    costs = {1_000: iter([41.0, 48.0, 41.5]), 1_000_000: iter([52.1, 47.3, 49.0])}
    order: list[int] = []

    def one_process(peers: int) -> dict[str, float]:
        order.append(peers)
        us = next(costs[peers])
        return {"peers": peers, "cpu_s": us * peers / 1e6, "us_per_negotiation": us,
                "kernel_us_per_negotiation": us - 45.0}  # fmt: skip

    monkeypatch.setattr(bench_main, "fleet_in_subprocess", one_process)
    small, big = bench_main.fleet_medians([1_000, 1_000_000])
    assert order == [1_000, 1_000_000] * 3  # interleaved: the small fleet sampled over the big ones' time
    assert small["us_per_negotiation"] == 41.5 and small["processes"] == 3
    assert big["us_per_negotiation"] == 49.0 and big["us_per_negotiation_each"] == [52.1, 47.3, 49.0]
    assert big["kernel_us_per_negotiation_each"] == pytest.approx([7.1, 2.3, 4.0])


def test_the_bare_loop_alone_and_fresh_memory_report_their_share_of_the_cost():
    row = bare_fleet(250)
    assert row["peers"] == 250 and row["user_us_per_negotiation"] > 0 and row["kernel_us_per_negotiation"] >= 0
    price = fresh_memory(chunks=2, chunk_mb=4)
    assert price["chunk_mb"] == 4 and len(price["kernel_s_per_gb"]) == 2


def test_growth_compares_a_million_peers_with_a_thousand_in_all_cpu_and_in_user_cpu():
    def row(peers: int, us: float, user: float, kernel: float) -> dict[str, float]:
        return {"peers": peers, "us_per_negotiation": us, "user_us_per_negotiation": user,
                "kernel_us_per_negotiation": kernel}  # fmt: skip

    measured = growth({
        "fleet": [row(1_000, 40.0, 40.0, 0.0), row(100_000, 42.0, 41.0, 1.0), row(1_000_000, 46.0, 42.0, 4.0)],
        "bare_fleet": [row(1_000, 20.0, 20.0, 0.0), row(1_000_000, 30.0, 28.0, 2.0)],
        "fresh_memory": {"chunk_mb": 512, "kernel_s_per_gb": [0.7, 3.0]},
    })  # fmt: skip
    assert measured["engine"] == {"cpu": 0.15, "user_cpu": 0.05, "kernel_us_per_negotiation_at_1m": 4.0}
    assert measured["bare_loop"]["cpu"] == 0.5 and measured["bare_loop"]["user_cpu"] == 0.4
    assert measured["fresh_memory_kernel_s_per_gb"] == [0.7, 3.0]
    assert growth({"fleet": [row(1_000, 40.0, 40.0, 0.0)]}) == {}  # nothing at a million: nothing to compare
