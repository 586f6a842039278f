"""The testing kit: strategies, shrinking, the pytest plugin, and the Hypothesis entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from test_invariants import check_trace

from sim import codes as catalog
from sim.faults import FAULT_KINDS
from sim.library import codes_shown
from sim.library import scenarios as library
from sim.scenario import Scenario
from sim.simulator.engine import Simulation
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


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(ikest.codes(markers=True).filter(lambda e: e.code != 13800), st.data())
def test_runs_narrowed_by_code_report_that_code(entry, data):
    trace = data.draw(ikest.runs(code=entry.code))
    assert entry.code in {o.code for o in trace.outcomes}, trace.source


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


def test_every_code_of_the_library_can_be_asked_for():
    for code in codes_shown():
        ikest.scenarios(code=code)  # builds, does not raise


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
