"""The testing kit's queries, many-peer strategies and fixture forms (issue 19).

Runs asked for by their outcome reach it through causes the model has, or are refused with
InvalidArgument; fleets, streams and the state machine feed many peers; the fixture forms come
with the run that made them.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from collections import Counter

import evtx
import pytest
from helpers import first
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import invariant, run_state_machine_as_test

from sim import codes as catalog
from sim.conditions import CORRUPTION_CONDITIONS, Condition
from sim.faults import LocalFault
from sim.protocol.registry import TABLES
from sim.testing import _causes
from sim.testing import strategies as ikest
from sim.testing.stateful import EventFeedMachine
from sim.trace import read_trace

ONCE = settings(database=None, max_examples=50)
ROLES = ("initiator", "responder")
# Conditions the peer records on a datagram it drops (damaged, or refused keeping no state).
DROPPED = {c.key for c in CORRUPTION_CONDITIONS.values()} | {"rate_limited", "dos_cookie_sent"}


def test_every_catalog_code_at_each_role_is_reached_as_asked_or_refused_saying_why():
    reached, refused = set(), set()
    for entry in catalog.all_codes():
        for role in ROLES:
            try:
                trace = first(ikest.runs(code=entry.code, peer_role=role))
            except InvalidArgument as error:
                message = str(error)
                assert str(entry.code) in message and "no run of ikesim's model ends as asked" in message
                assert any(
                    why in message
                    for why in ("range marker", "local_faults=True", "drops the datagram", "What can be had")
                ), message
                refused.add((entry.code, role))
            else:
                assert any(o.code == entry.code and o.role == role for o in trace.outcomes), (entry.code, role, trace)
                assert not any(isinstance(f, LocalFault) for f in trace.source.faults), "a real cause, not a fault"
                reached.add((entry.code, role))
    codes_reached = {code for code, _ in reached}
    assert {13801, 13805, 13813, 13886, 13897, 13899, 13909, 13904} <= codes_reached
    assert (13813, "responder") in refused  # only an initiator waits for the first answer
    assert len(codes_reached) >= 25


def test_the_model_has_a_run_for_every_condition_that_ends_a_negotiation():
    idx = _causes.index()
    idx.ensure(_causes.parts(ikest.PROTOCOLS, ikest._space.PROFILE_NAMES, local=True))
    found = {c.condition for c in idx.causes} | {c.condition for c in idx.local_causes}
    expected = {c.key for c in Condition} - DROPPED
    assert expected - found == set(), "a condition no scenario shows: add one to the library"
    rows = {r.report.key for t in TABLES.values() for r in t.rows if isinstance(r.report, Condition)}
    assert rows - DROPPED <= found


def test_a_local_fault_is_injected_only_for_codes_that_have_no_other_cause_and_only_when_asked():
    with pytest.raises(InvalidArgument, match=r"13859 OUT_OF_MEMORY has no cause .* local_faults=True"):
        first(ikest.runs(code=13859))
    trace = first(ikest.runs(code="OUT_OF_MEMORY", local_faults=True, peer_role="responder"))
    mine = [o for o in trace.outcomes if o.code == 13859]
    assert mine and all(o.condition == "local_fault" and o.failure_point == "IPSEC_FAILURE_ME" for o in mine)
    assert any(o.role == "responder" for o in mine)

    @ONCE
    @given(ikest.runs(code=13801, local_faults=True))
    def a_code_with_a_real_cause_never_gets_a_local_fault(trace):
        assert not any(isinstance(f, LocalFault) for f in trace.source.faults)

    a_code_with_a_real_cause_never_gets_a_local_fault()


def test_an_impossible_request_names_what_cannot_be_had_and_what_can():
    with pytest.raises(InvalidArgument) as refused:
        first(ikest.runs(code=13899, protocol="ikev1"))
    message = str(refused.value)
    assert "code=13899, protocol='ikev1'" in message and "protocol ikev2, exchange ikev2_child_sa" in message
    with pytest.raises(InvalidArgument, match="range marker"):
        first(ikest.runs(code=13800))
    with pytest.raises(InvalidArgument, match="failure_point IPSEC_FAILURE_PEER"):
        first(ikest.outcomes(code=13886, failure_point="ME"))


@settings(max_examples=40, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_outcomes_fit_every_part_of_the_query_at_once(data):
    query = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "peer_role": st.sampled_from(ROLES),
                "exchange": st.sampled_from(["main", "quick", "ikev1_main_mode", "child_sa"]),
                "failure_point": st.sampled_from(["ME", "PEER", "NONE", ["ME", "PEER"]]),
                "protocol": st.sampled_from(["ikev1", "ikev2", "authip"]),
            },
        )
    )
    try:
        outcome = data.draw(ikest.outcomes(category="timeout and dead peer", **query))
    except InvalidArgument:
        return  # refused: the refusals are tested above
    assert catalog.info(outcome.code).category is catalog.Category.TIMEOUT
    if "peer_role" in query:
        assert outcome.role == query["peer_role"]
    if "exchange" in query:
        assert outcome.exchange in _causes._exchanges(query["exchange"])
    if "failure_point" in query:
        points = query["failure_point"] if isinstance(query["failure_point"], list) else [query["failure_point"]]
        assert outcome.failure_point.removeprefix("IPSEC_FAILURE_") in points


def test_rare_causes_come_as_often_as_common_ones():
    seen = []

    @settings(max_examples=60, database=None)
    @given(ikest.outcomes(code=13886))
    def collect(outcome):
        seen.append((outcome.exchange, outcome.ends))

    collect()
    assert len(set(seen)) >= 5, Counter(seen)  # main and quick modes, IKE and child SAs, negotiations and SAs


def test_arguments_are_checked_when_the_strategy_is_used_not_when_it_is_built():
    wrong = [
        ikest.runs(code=99999),
        ikest.runs(code=3.5),
        ikest.runs(peer_role="boss"),
        ikest.runs(exchange="fast_mode"),
        ikest.runs(failure_point="YOU"),
        ikest.runs(protocol="ikev3"),
        ikest.runs(profile="custom"),
        ikest.runs(protocol="ikev2", profile="windows"),
        ikest.runs(category="weather"),
        ikest.runs(code=13801, faults=ikest.faults()),
        ikest.runs(faults=[1, 2]),
        ikest.runs(local_faults="yes"),
        ikest.scenario_data(max_faults=7),
        ikest.codes(category="range marker"),  # every code of it is a marker
        ikest.faults(kinds=["meteor"]),
        ikest.faults(peers=()),
        ikest.fault_data(horizon=-1.0),
        ikest.fleets(min_initiators=5, max_initiators=2),
        ikest.event_streams(runs=3),
        ikest.audit_events(form="pdf"),
        ikest.net_events(form="csv"),
        ikest.jsonl_lines(colour="red"),
        ikest.audit_events(profile="strongswan"),  # a peer that writes no Windows events
        ikest.policies(role="bystander"),
    ]
    for strategy in wrong:  # building them raised nothing; using them does
        with pytest.raises(InvalidArgument):
            first(strategy)


def test_fleets_have_many_initiators_with_staggered_starts_and_a_shared_pool():
    @settings(max_examples=15, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ikest.fleets(protocol="ikev2", min_initiators=3, max_initiators=12))
    def check(trace):
        initiators = [p for p in trace.peers if p.role == "initiator"]
        assert 3 <= len(initiators) <= 12 and len([p for p in trace.peers if p.role == "responder"]) == 1
        scenario = trace.source
        pool = scenario.peers["gateway"].policy.address_pool
        children = [
            o
            for o in trace.outcomes
            if o.peer == "gateway" and o.sa.startswith("CHILD") and o.ends == "negotiation" and o.code == 13897
        ]
        asking = [p for p in scenario.peers.values() if p.policy.request_address]
        if asking and pool is not None:  # the shared pool: never more inner addresses than it holds
            leased = [o for o in children if trace.peer_facts[o.remote].request_address]
            assert len(leased) <= pool

    check()
    starts = find(ikest.fleets(), lambda t: len({p.start for p in t.source.peers.values()}) >= 3, settings=ONCE)
    assert len([p for p in starts.source.peers.values() if p.role == "initiator"]) >= 2


@settings(max_examples=20, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(ikest.event_streams(max_runs=3))
def test_an_event_stream_interleaves_its_runs_by_time_and_keeps_each_runs_order(stream):
    times = [e.t for e in stream.events]
    assert times == sorted(times)
    names = [p.name for run in stream.runs for p in run.peers]
    assert len(names) == len(set(names))
    for i, run in enumerate(stream.runs):
        mine = [e for e, origin in zip(stream.events, stream.origin, strict=True) if origin == i]
        assert [e.seq for e in mine] == [e.seq for e in run.events]
        assert all(abs(e.t - (r.t + stream.offsets[i])) < 1e-6 for e, r in zip(mine, run.events, strict=True))
    assert len(list(stream.jsonl_lines())) == len(stream.events)


class CountingMachine(EventFeedMachine):
    """Counts the outcomes it is fed; the invariant says it saw each one once, in time order."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def handle(self, event):
        if event.kind == "outcome":
            self.seen.append((event.peer, event.sa, event.ends, event.t))

    @invariant()
    def every_outcome_fed_once_in_order(self):
        assert len(self.seen) == len(set(self.seen)) == len(self.outcomes_delivered)
        assert [t for *_, t in self.seen] == sorted(t for *_, t in self.seen)


def test_the_state_machine_feeds_events_one_by_one_and_finds_a_handler_that_loses_some():
    run_state_machine_as_test(
        CountingMachine, settings=settings(max_examples=10, stateful_step_count=15, database=None)
    )

    class Forgetful(CountingMachine):
        def handle(self, event):
            if event.kind == "outcome" and event.role == "responder":
                return  # the planted bug: a responder's outcomes are lost
            super().handle(event)

    with pytest.raises(AssertionError):
        run_state_machine_as_test(Forgetful, settings=settings(max_examples=50, database=None, phases=[Phase.generate]))


EVENT = "{http://schemas.microsoft.com/win/2004/08/events/event}"


@settings(max_examples=20, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(ikest.audit_events(form="xml"), ikest.audit_events(form="rendered"))
def test_audit_logs_hold_one_event_per_record_with_its_id_and_reason(log, rendered):
    for one in (log, rendered):
        events = list(ET.fromstring(one.data).iter(f"{EVENT}Event"))
        assert [int(e.findtext(f"{EVENT}System/{EVENT}EventID")) for e in events] == [r.event_id for r in one.records]
        assert one.trace.peer_facts[one.peer].windows
        for e, r in zip(events, one.records, strict=True):
            reason = next((d.text for d in e.iter(f"{EVENT}Data") if d.get("Name") == "FailureReason"), None)
            if r.outcome is not None and reason is not None:
                assert reason == catalog.info(r.outcome.code).message
    assert ("RenderingInfo" in rendered.data) == bool(rendered.records)
    assert "RenderingInfo" not in log.data


@settings(max_examples=15, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(ikest.audit_events(form="evtx", code=13801))
def test_an_evtx_log_reads_back_with_an_independent_reader(log):
    records = [json.loads(r["data"])["Event"] for r in evtx.PyEvtxParser(io.BytesIO(log.data)).records_json()]
    assert [r["System"]["EventID"] for r in records] == [r.event_id for r in log.records]
    assert 13801 in {o.code for o in log.outcomes}  # the query: an event for a 13801 at this peer


@settings(max_examples=30, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(ikest.net_events(form="json"), ikest.net_events(form="xml", exchange="quick"))
def test_net_events_report_the_code_and_failure_point_of_their_outcome(log, quick):
    for event, record in zip(json.loads(log.data), log.records, strict=True):
        body = next(v for k, v in event.items() if k.startswith("ike"))
        assert body["failureErrorCode"] == record.outcome.code
        assert event["header"]["remoteAddrV4"] == log.address_of(record.outcome.remote)
    assert any(o.exchange in _causes.EXCHANGE_GROUPS["quick"] for o in quick.outcomes)
    assert quick.data.count("<item>") >= len(quick.records)


@settings(max_examples=30, database=None)
@given(ikest.jsonl_lines())
def test_jsonl_lines_read_back_as_their_run(fixture):
    again = read_trace(fixture.lines)
    assert [(o.peer, o.sa, o.code) for o in again.outcomes] == [(o.peer, o.sa, o.code) for o in fixture.outcomes]
    assert fixture.text == fixture.trace.to_jsonl()


def test_every_form_prints_as_an_expression_that_makes_it_again():
    from hypothesis.vendor.pretty import pretty

    import sim.testing.forms

    for strategy in (ikest.audit_events(), ikest.net_events(form="xml"), ikest.jsonl_lines(), ikest.event_streams()):
        value = first(strategy)
        text = pretty(value)
        again = eval(text, {"sim": sim})
        assert type(again) is type(value)
        assert repr(again) == repr(value)
        if hasattr(value, "data"):
            assert again.data == value.data
