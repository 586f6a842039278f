"""The testing kit: strategies, shrinking, the pytest plugin, and the Hypothesis entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import first
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from test_invariants import check_trace

import sim
from sim import codes as catalog
from sim.faults import FAULT_KINDS
from sim.library import codes_reported, codes_shown
from sim.library import scenarios as library
from sim.scenario import Scenario, parse_scenario
from sim.simulator.engine import Simulation
from sim.testing import _causes, _space
from sim.testing import strategies as ikest

pytest_plugins = ["pytester"]


@given(ikest.codes())
def test_codes_exclude_markers_unless_asked(entry):
    assert not entry.marker


def test_codes_with_markers():
    assert find(ikest.codes(markers=True), lambda e: e.marker).code == 13800


@given(ikest.faults())
def test_faults_are_valid_faults(fault):
    assert isinstance(fault, FAULT_KINDS[fault.kind])


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_faults_draw_every_kind(kind):
    assert find(ikest.faults(), lambda f: f.kind == kind).kind == kind


@given(ikest.scenarios(protocol="ikev2", profile="strongswan"))
def test_scenarios_can_be_narrowed(scenario):
    assert {p.protocol for p in scenario.peers.values()} == {"ikev2"}
    assert {p.profile for p in scenario.peers.values()} == {"strongswan"}


@given(ikest.runs())
def test_generated_runs_terminate_and_hold_the_engine_invariants(trace):
    simulation = Simulation(trace.source)
    again = simulation.run()
    assert again.to_jsonl() == trace.to_jsonl()  # same scenario and seed, same bytes
    check_trace(again, simulation)


def test_the_library_scenarios_hold_the_same_invariants():
    for scenario in library():
        simulation = Simulation(scenario)
        check_trace(simulation.run(), simulation)


def test_every_code_a_library_scenario_reports_can_be_asked_for_and_the_dropped_ones_are_refused():
    reported = codes_reported()
    for code in codes_shown():
        local = code in _causes.LOCAL_ONLY  # the library's local-* scenarios inject it
        strategy = ikest.scenarios(code=code, local_faults=local)
        if code in reported:
            scenario = first(strategy)
            assert code in {o.code for o in Simulation(scenario).run().outcomes}, (code, scenario)
        else:  # shown only on datagrams the peer dropped: no negotiation ends with it
            with pytest.raises(InvalidArgument, match=f"{code}.*drops the datagram"):
                first(strategy)


def test_a_failure_shrinks_to_a_small_readable_scenario():
    smallest = find(ikest.scenarios(), lambda s: any(f.kind == "silence" for f in s.faults))
    # Shrinking is a search: it may stop with one other fault beside the one that matters.
    assert 1 <= len(smallest.faults) <= 2
    assert any(f.kind == "silence" for f in smallest.faults)
    text = repr(smallest)
    assert text.startswith("Scenario(") and len(text) < 400, text
    assert smallest.peers["client"].protocol == "ikev1"


@given(st.from_type(Scenario), st.from_type(catalog.CodeInfo))
def test_from_type_knows_the_public_types(scenario, entry):
    assert isinstance(scenario, Scenario)
    assert isinstance(entry, catalog.CodeInfo)


def test_the_plugin_loads_without_the_engine():
    code = "import sim.testing.plugin, sys; print('sim.simulator.engine' in sys.modules, 'sim.scenario' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


PASSING = """
name = "dead-gateway"
[peers.client]
role = "initiator"
[peers.gateway]
role = "responder"
[[faults]]
kind = "silence"
peer = "gateway"
at = 0.0
[expect.client]
"MM#1" = "DROP_NO_RESPONSE"
"""


def test_the_plugin_collects_scenario_files_and_reports_expected_and_actual(pytester):
    pytester.makefile(".toml", scenario_dead=PASSING, scenario_wrong=PASSING.replace("DROP_NO_RESPONSE", "TIMED_OUT"))
    pytester.makefile(".toml", ignored_by_pattern=PASSING)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*client MM#1 code: expected 13805 TIMED_OUT, actual 13813 DROP_NO_RESPONSE*"])


def test_the_scenario_pattern_can_be_changed(pytester):
    pytester.makeini("[pytest]\nikesim_scenarios = *.ike.toml\n")
    pytester.makefile(".ike.toml", dead=PASSING)
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_fixtures_run_by_name_path_object_and_keep_traces_of_failures(pytester, tmp_path):
    pytester.makefile(".toml", my_scenario=PASSING)
    pytester.makepyfile(
        """
        import sim

        def test_by_name(ikesim_run):
            assert ikesim_run("mm-peer-stops-responding").outcome("client", "QM#1").code == 13886

        def test_by_path_and_object(ikesim_run):
            scenario = sim.load_scenario("my_scenario.toml")
            assert ikesim_run("my_scenario.toml").to_jsonl() == ikesim_run(scenario).to_jsonl()

        def test_seed_option(ikesim_seed, ikesim_run):
            assert ikesim_seed == 7
            assert ikesim_run("mm-lossy-link-seeded").seed == 7

        def test_fails(ikesim_run):
            ikesim_run("mm-qm-success")
            assert False
        """
    )
    kept = tmp_path / "kept"
    result = pytester.runpytest("--ikesim-seed", "7", "--ikesim-keep-traces", str(kept))
    result.assert_outcomes(passed=3, failed=1)
    files = sorted(kept.glob("*.jsonl"))
    assert len(files) == 1
    assert "test_fails" in files[0].name
    assert files[0].read_text().startswith('{"schema":"ikesim.trace/1"')


@pytest.mark.parametrize("first", ["sim.testing.strategies", "hypothesis"])
def test_the_strategies_import_in_any_order_and_load_the_engine_only_when_a_run_is_drawn(first):
    import subprocess
    import sys

    code = (
        f"import sys, {first}\n"
        "import sim.testing.strategies as ikest\n"
        "assert not [m for m in sys.modules if m.startswith(('sim.simulator', 'sim.outputs'))], 'eager engine'\n"
        "from hypothesis import find\n"
        "find(ikest.runs(), lambda t: True)\n"
        "assert 'sim.simulator.engine' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_hypothesis_entry_point_imports_nothing_heavy_and_from_type_still_works():
    import subprocess
    import sys

    script = (
        "import sys, hypothesis\n"
        "heavy = [m for m in ('sim.scenario', 'sim.trace', 'sim.protocol', 'pydantic') if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "from hypothesis import strategies as st\n"
        "from sim.scenario import Scenario\n"
        "from sim.codes import CodeInfo\n"
        "assert isinstance(st.from_type(Scenario).example(), Scenario)\n"
        "assert isinstance(st.from_type(CodeInfo).example(), CodeInfo)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --- issue 19: what a failing example shows, and keeps -------------------------------------------

FAILING_RUNS = """
from hypothesis import given, settings, strategies as st
from sim.testing import strategies as ikest

@settings(database=None, derandomize=True)  # the same examples every run: the suite must not depend on luck
@given(ikest.runs())
def test_no_peer_ever_goes_unanswered(trace):
    assert 13813 not in {o.code for o in trace.outcomes}

@settings(database=None, derandomize=True)  # the same examples every run: the suite must not depend on luck
@given(st.integers(0, 9))
def test_the_fixture_under_given(ikesim_run, n):
    ikesim_run("mm-qm-success")
    assert n < 5
"""


def test_a_falsifying_run_prints_as_a_python_expression_that_makes_it_again_and_its_traces_are_kept(pytester, tmp_path):
    pytester.makepyfile(FAILING_RUNS)
    kept = tmp_path / "kept"
    result = pytester.runpytest("--ikesim-keep-traces", str(kept), "--tb=native")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    match = re.search(r"trace=(sim\.run\(.*?\)),\n\)", out, re.S)
    assert match, out
    again = eval(match.group(1), {"sim": sim})
    assert 13813 in {o.code for o in again.outcomes}
    files = sorted(kept.glob("*unanswered*.jsonl"))
    assert len(files) == 1, files  # the reported example's run, not the hundred before it
    assert files[0].read_text() == again.to_jsonl()
    assert len(list(kept.glob("*fixture_under_given*.jsonl"))) == 1  # ikesim_run's, of that example alone
    assert "Simulation(" not in out and "Scenario({" not in out


def test_a_trace_says_what_it_is():
    trace = sim.run("mm-wrong-preshared-key")
    text = repr(trace)
    assert text.startswith("<Trace 'mm-wrong-preshared-key' seed 0,")
    assert "gateway MM#1 13801 AUTH_FAIL" in text and "client MM#1 13805 TIMED_OUT" in text
    assert "SA ended" in repr(sim.run("mm-lifetime-expires"))


def test_the_seed_option_reaches_the_strategies_and_the_fixture_trips_no_health_check(pytester):
    pytester.makepyfile(
        """
        from hypothesis import given, strategies as st
        from sim.testing import strategies as ikest

        @given(ikest.runs(), ikest.scenarios(), ikest.runs(code=13886))
        def test_the_strategies_use_the_seed(trace, scenario, dead):
            assert trace.seed == 7 and scenario.seed == 7 and dead.seed == 7

        @given(st.integers(0, 3))
        def test_the_fixture_under_given(ikesim_run, n):
            assert ikesim_run("mm-qm-success").seed == 7
        """
    )
    pytester.runpytest("--ikesim-seed", "7").assert_outcomes(passed=2)


def test_from_type_knows_every_public_type():
    from sim.faults import FAULT_KINDS, Fault, FaultModel
    from sim.protocol.policy import Policy, Proposal
    from sim.testing.forms import AuditLog, EventStream, JsonlTrace, NetEventLog
    from sim.trace import Outcome, Trace

    for kind, cls in FAULT_KINDS.items():
        assert first(st.from_type(cls)).kind == kind
    for public in (Fault, FaultModel, Outcome, Trace, Policy, Proposal, AuditLog, NetEventLog, JsonlTrace, EventStream):
        expected = FaultModel if public is Fault else public
        assert isinstance(first(st.from_type(public)), expected)


@given(ikest.faults(), st.data())
def test_faults_fit_scenario_data_as_they_are(fault, data):
    scenario = parse_scenario({**data.draw(ikest.scenario_data(max_faults=0)), "faults": [fault]})
    assert scenario.faults == [fault]
    drawn = data.draw(ikest.scenario_data(faults=ikest.faults(kinds=["drop", "silence"])))
    assert all(f["kind"] in ("drop", "silence") for f in drawn.get("faults", []))
    parse_scenario(drawn)


@given(ikest.runs(faults=ikest.faults(kinds=["silence"]), max_faults=1))
def test_runs_draw_their_faults_from_a_strategy_of_faults(trace):
    assert all(f.kind == "silence" for f in trace.source.faults)


def test_the_classifier_says_the_package_is_a_hypothesis_extension():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"Framework :: Hypothesis"' in text


@settings(max_examples=200, database=None)
@given(st.binary(min_size=_space.GENE, max_size=_space.GENE))
def test_the_generated_space_builds_the_scenarios_its_data_says(gene):
    # Scenarios are put together from validated parts without validating the whole again.
    key, _ = _space.decode(gene, None, None)
    assert _space.scenario(key).model_dump() == parse_scenario(_space.key_data(key)).model_dump()


def test_the_strategy_benchmark_runs_and_counts_what_it_claims():
    from bench.strategies import candidates, rate

    assert "runs()" in candidates() and "audit_events(form='evtx')" in candidates()
    figures = rate(ikest.runs(), examples=5, rounds=1)
    assert figures["examples"] == 5 and figures["examples_per_s"] > 0
