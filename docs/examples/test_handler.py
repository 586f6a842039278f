"""Property tests of handler.py with ikesim's strategies (the worked example of docs/testing-kit.md)."""

from __future__ import annotations

from handler import ALERT, IGNORE, RETRY, decide
from hypothesis import given

from sim.testing import strategies as ikest


@given(ikest.codes())
def test_every_failure_code_gets_a_decision_and_none_is_ignored(entry):
    # Markers are left out by codes(): every code drawn here is a failure or a status.
    assert decide(entry.code) in {RETRY, ALERT, "log"}


@given(ikest.runs())
def test_a_handler_never_ignores_a_negotiation_that_failed(trace):
    for outcome in trace.outcomes:
        if outcome.failure_point != "IPSEC_FAILURE_NONE":
            assert decide(outcome.code) != IGNORE, outcome


@given(ikest.runs(code=13886))
def test_a_dead_peer_is_retried(trace):
    dead = [o for o in trace.outcomes if o.code == 13886]
    assert dead
    assert all(decide(o.code) == RETRY for o in dead)


@given(ikest.runs(code=13801))
def test_bad_credentials_raise_an_alert_at_some_peer(trace):
    assert ALERT in {decide(o.code) for o in trace.outcomes}


def test_a_library_scenario_by_name(ikesim_run):
    # The pytest plugin's fixture: a library scenario, by name.
    trace = ikesim_run("mm-wrong-preshared-key")
    # The gateway knows the key is wrong; the client, which cannot read its answer, only times out.
    assert {o.peer: decide(o.code) for o in trace.outcomes} == {"gateway": ALERT, "client": RETRY}
