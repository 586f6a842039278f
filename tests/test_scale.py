"""Work grows linearly with the size of a run: counted in function calls and container sizes, never timed.

A fault on a peer with many instances used to be copied once per instance; a partition naming
such a peer was checked by scanning a list of every instance for each message. Doubling the
instances must double the work, no more.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from sim.faults import FAULT_KINDS
from sim.protocol.session import Session, hash_keeping_dict
from sim.scenario import parse_scenario
from sim.simulator.engine import Simulation


def _fault_on_client(kind: str) -> dict[str, Any]:
    fault = FAULT_KINDS[kind].example()
    for key in ("peer", "from"):
        if key in fault:
            fault[key] = "client"
    if kind == "partition":
        fault["peers"] = ["client", "gateway"]
    return fault


def _scenario(instances: int, kind: str) -> Any:
    protocol = FAULT_KINDS[kind].example_protocol
    return parse_scenario(
        {
            "name": "scale",
            "peers": {
                "client": {"role": "initiator", "protocol": protocol, "instances": instances},
                "gateway": {"role": "responder", "protocol": protocol},
            },
            "faults": [_fault_on_client(kind)],
        }
    )


def _calls(job: Any) -> int:
    """Python and C function calls made while ``job()`` runs."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        job()
    finally:
        sys.setprofile(None)
    return count


def _setup(scenario: Any) -> Simulation:
    simulation = Simulation(scenario)
    simulation.start()
    return simulation


@pytest.mark.parametrize("kind", sorted(FAULT_KINDS))
def test_setting_up_a_fault_on_an_instanced_peer_is_linear(kind: str) -> None:
    small, large = _scenario(200, kind), _scenario(400, kind)
    ratio = _calls(lambda: _setup(large)) / _calls(lambda: _setup(small))
    assert ratio < 2.1, f"{kind}: twice the instances cost {ratio:.2f} times the set-up calls"


@pytest.mark.parametrize("kind", ["partition", "silence", "crash", "local", "drop"])
def test_running_with_a_fault_on_an_instanced_peer_is_linear(kind: str) -> None:
    small, large = _scenario(100, kind), _scenario(200, kind)
    ratio = _calls(lambda: Simulation(large).run()) / _calls(lambda: Simulation(small).run())
    assert ratio < 2.1, f"{kind}: twice the instances cost {ratio:.2f} times the calls of the run"


def test_a_partition_naming_an_instanced_peer_is_one_set_not_a_list_per_instance() -> None:
    simulation = Simulation(_scenario(300, "partition"))
    [(_, _, listed)] = simulation.network._cuts
    assert isinstance(listed, frozenset) and len(listed) == 301  # every client instance and the gateway


def test_a_fault_on_an_instanced_peer_is_installed_once_not_copied_per_instance() -> None:
    scenario = _scenario(300, "crash")
    simulation = Simulation(scenario)
    # one crash per instance is scheduled, from the one fault of the scenario
    assert len(simulation._timed or ()) == 300
    assert {peer for _, peer, _ in simulation._timed or ()} == set(simulation.names["client"])


# --- the clock: far wake-ups in a calendar, first starts fed one at a time ------------------------


def _fleet(peers: int, batch: int = 100) -> Any:
    specs: dict[str, Any] = {
        f"c{i}": {"role": "initiator", "instances": batch, "start": i * 0.1, "connect": "gateway"}
        for i in range(peers // batch)
    }
    specs["gateway"] = {"role": "responder"}
    return parse_scenario({"name": "fleet", "peers": specs})


def test_the_calendar_and_the_heap_together_give_a_single_heaps_order() -> None:
    import heapq
    import random

    from sim.simulator.clock import FAR, EventQueue

    rng = random.Random(7)
    for _ in range(200):
        _one_random_schedule(rng, FAR, EventQueue(), heapq)


def _one_random_schedule(rng: Any, far: float, queue: Any, heapq: Any) -> None:
    popped: list[int] = []
    reference: list[tuple[float, int]] = []  # what one heap of (time, order of scheduling) gives
    expected: list[int] = []
    wake = queue.waker(popped.append)
    tick = queue.scheduler(popped.append)
    batch = queue.batcher(popped.append)

    def take() -> None:
        _, callback, arg, _ = queue.pop()
        callback(arg)
        expected.append(heapq.heappop(reference)[1])

    for i in range(40):
        when = queue.now + rng.choice([0.0, 1.0, far, far + 1.0, 2 * far])
        heapq.heappush(reference, (when, i))
        how = rng.random()
        (wake if how < 0.4 else tick if how < 0.6 else batch)(when, i)
        if rng.random() < 0.3:  # take some on the way: later ones are scheduled from a later now
            take()
    while queue:
        take()
    assert popped == expected
    assert queue.foreground == 0


def test_superseded_far_wake_ups_are_dropped_together_and_the_rest_keep_their_order() -> None:
    from types import SimpleNamespace

    from sim.simulator.clock import EventQueue

    queue = EventQueue()
    taken: list[int] = []
    wake = queue.waker(lambda arg: taken.append(arg.n))
    tick = queue.scheduler(lambda arg: taken.append(arg.n))
    sessions = [SimpleNamespace(n=n, wake_at=700.0) for n in range(6)]
    for session in sessions:
        wake(700.0, session)  # far ahead: one bucket of the calendar, in this order
    tick(700.0, SimpleNamespace(n=99))  # after them in the order
    for n in (0, 1, 3):
        sessions[n].wake_at = 900.0  # asked since for a later time: superseded
    assert queue.skip_superseded() == 2  # the two at the front; 2 is due
    _, callback, arg, _ = queue.pop()
    callback(arg)
    assert queue.skip_superseded() == 1 and len(queue) == 3  # 3; then 4, 5 and the tick remain
    while queue:
        _, callback, arg, _ = queue.pop()
        callback(arg)
    assert taken == [2, 4, 5, 99]


def test_the_messages_of_one_instant_share_one_heap_entry() -> None:
    from sim.simulator.clock import BATCH

    simulation = Simulation(_fleet(1_000, batch=1_000))
    simulation.start()
    while simulation.queue.peek_time() == 0.0:
        simulation.step()  # the thousand starts at 0.0, each sending its MM1
    queue = simulation.queue
    batches = [entry for entry in queue._heap if entry[2] is BATCH]
    assert len(batches) == 1 and len(batches[0][3].args) == 1_000  # one entry for the MM1s that arrive together
    assert len(queue) == len(queue._heap) + 999 + queue._far_count  # and the queue counts each of them
    simulation.step()  # the gateway takes the first MM1: the others keep their entry, and its MM2 opens the next
    assert [len(entry[3].args) - entry[3].next for entry in sorted(queue._heap) if entry[2] is BATCH] == [999, 1]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"network": {"latency": 0.0}},  # a message arrives at the instant it is sent: it joins the batch it is in
        {"network": {"latency": 1.0}},  # arrivals at the instants of the retransmission timers (1 s)
        {"limits": {"max_events": 2_345}},  # the cut falls inside a batch
    ],
)
def test_a_run_takes_its_batches_in_the_order_single_steps_do(extra: dict[str, Any]) -> None:
    specs: dict[str, Any] = {f"c{i}": {"role": "initiator", "instances": 150, "start": i * 0.5, "connect": "gateway"}
                             for i in range(3)}  # fmt: skip
    specs["gateway"] = {"role": "responder"}
    scenario = parse_scenario({"name": "fleet", "peers": specs, **extra})
    stepped = Simulation(scenario)
    while stepped.step():
        pass
    whole = Simulation(scenario).run()
    assert whole.to_jsonl() == stepped.trace().to_jsonl()
    assert whole.truncated == stepped.truncated


def test_lifetimes_wait_in_the_calendar_not_in_the_heap() -> None:
    from sim.simulator.clock import FAR

    simulation = Simulation(_fleet(3_000))  # 30 batches 0.1 s apart: the first deadlines (1 s) come and go
    simulation.run()
    queue = simulation.queue
    assert queue._far_count >= 4 * 2_000  # a lifetime per SA at each peer (hours away) once its deadline passed...
    assert all(when - queue.now < FAR for when, *_ in queue._heap)  # ...and the heap holds none of them
    lifetimes = [when for when in queue._far_times if when - queue.now >= FAR]
    assert len(lifetimes) <= 4 * 30  # one bucket per distinct time: a batch shares its times


def test_a_thousand_initiators_put_one_start_at_a_time_in_the_heap() -> None:
    simulation = Simulation(_fleet(1_000, batch=1_000))
    simulation.start()
    assert len(simulation.queue) == 1  # the next start goes in when this one runs


def test_initiators_share_the_containers_only_responders_need() -> None:
    simulation = Simulation(_fleet(200))
    clients = [ep for name, ep in simulation.endpoints.items() if name != "gateway"]
    for attribute in ("established_by_peer", "first_seen", "half_open", "leases", "free_addresses"):
        assert len({id(getattr(ep, attribute)) for ep in clients}) == 1, attribute  # one shared empty container
    assert len({id(ep.schedule) for ep in clients}) == 1  # the profile's own schedule: no options, one object


def test_the_instances_of_a_scenario_peer_share_one_configuration_and_keep_only_their_state() -> None:
    from sim.protocol.session import EndpointConfiguration, StandaloneEndpoint

    scenario = _fleet(200)
    simulation = Simulation(scenario)
    clients = [ep for name, ep in simulation.endpoints.items() if name != "gateway"]
    assert len({type(ep) for ep in clients}) == 2  # one class per scenario peer (c0, c1)...
    first = clients[0]
    assert "policy" not in type(first).__slots__ and "policy" in vars(type(first))  # ...holding the configuration
    assert first.policy is scenario.peers["c0"].policy and first.moved is simulation.effects.record_move
    configuration = EndpointConfiguration(first.policy, None, str, first.protocol, {})
    assert set(configuration.attributes()) == set(StandaloneEndpoint.__slots__)  # each attribute declared, and no other
    assert sys.getsizeof(first) < sys.getsizeof(StandaloneEndpoint("x", configuration))
    with pytest.raises(AttributeError):
        first.policy = first.policy  # shared: an instance cannot change it for the others


def test_the_instances_of_a_peer_with_a_local_fault_share_it_and_each_reports_its_code() -> None:
    specs: dict[str, Any] = {"c": {"role": "initiator", "instances": 3}, "gateway": {"role": "responder"}}
    faults = [{"kind": "local", "peer": "c", "at": "MM1", "code": 13806}]
    simulation = Simulation(parse_scenario({"name": "fleet", "peers": specs, "faults": faults}))
    assert len({type(simulation.endpoints[f"c-{i}"]) for i in (1, 2, 3)}) == 1
    assert dict(simulation.endpoints["c-1"].local_faults) == {"MM1": 13806}
    codes = {o.peer: o.code for o in simulation.run().outcomes if o.role == "initiator"}
    assert codes == {"c-1": 13806, "c-2": 13806, "c-3": 13806}


def test_reading_the_outcomes_of_a_run_keeps_no_record() -> None:
    import gc

    from sim.trace import Outcome, Outcomes

    trace = Simulation(_fleet(300)).run()
    outcomes = trace.outcomes
    assert isinstance(outcomes, Outcomes) and len(outcomes) == 4 * 300
    assert sum(1 for _ in outcomes) == 1_200
    gc.collect()
    assert not any(isinstance(o, Outcome) for o in gc.get_objects())  # read, and none kept
    made = list(outcomes)
    assert trace.outcomes is outcomes
    # What the sequence says is what a list of its records says.
    assert outcomes == made and made == list(outcomes) and outcomes[-1] == made[-1]
    assert outcomes[10:20] == made[10:20] and outcomes[::400] == made[::400]
    with pytest.raises(IndexError):
        outcomes[1_200]
    last = made[-1]
    assert trace.outcome(last.peer, last.sa) == last
    assert trace.outcome(last.peer, "MM#999999") is None
    # A trace whose records are made already gives the same records as a list.
    trace.events  # noqa: B018
    del trace.__dict__["outcomes"]
    assert trace.outcomes == made and isinstance(trace.outcomes, list)


def test_a_negotiation_that_completes_is_never_woken_again_before_its_lifetime(monkeypatch) -> None:
    # Its retransmission deadlines were superseded when the answers came: the run skips their
    # wake-ups without a call (30 batches over 3 s, so the first deadlines, 1 s on, come and go).
    from sim.protocol.session import Endpoint

    woken = []
    original = Endpoint.handle_timer

    def handle_timer(ep: Endpoint, now: float, session: Any) -> None:
        woken.append(session)
        original(ep, now, session)

    monkeypatch.setattr(Endpoint, "handle_timer", handle_timer)
    trace = Simulation(_fleet(3_000)).run()
    assert len(trace.outcomes) == 4 * 3_000 and woken == []


@pytest.mark.parametrize("name", ["mm-peer-stops-responding", "ikev2-gateway-fleet-logon-rush", "authip-damaged-em1"])
def test_a_run_that_keeps_its_outcomes_alone_reports_what_the_whole_run_reports(name: str) -> None:
    import sim
    from sim.library import load_scenario

    whole, lean = sim.run(name), sim.run(name, events=False)
    said = [(o.t, o.peer, o.sa, o.code, o.state, o.ends, o.remote, o.parent) for o in whole.outcomes]
    assert said and [(o.t, o.peer, o.sa, o.code, o.state, o.ends, o.remote, o.parent) for o in lean.outcomes] == said
    assert [o.seq for o in lean.outcomes] == list(range(1, len(said) + 1))  # numbered among the events kept
    assert lean.raw is not None and whole.raw is not None
    assert lean.raw.event_count() == len(said) and lean.raw.events_seen() == whole.raw.event_count()
    assert [e.kind for e in lean.events] == ["outcome"] * len(said)
    # A limit on events counts every event, kept or not: both runs stop at the same one.
    scenario = load_scenario(name)
    limited = scenario.model_copy(update={"limits": scenario.limits.model_copy(update={"max_events": 20})})
    cut_whole, cut_lean = Simulation(limited).run(), Simulation(limited, events=False).run()
    assert cut_whole.truncated == cut_lean.truncated == "max_events 20 reached"
    assert [(o.peer, o.sa, o.code) for o in cut_lean.outcomes] == [(o.peer, o.sa, o.code) for o in cut_whole.outcomes]


def test_a_runs_peers_are_made_when_read_one_set_of_facts_per_scenario_peer() -> None:
    from sim.trace import RunPeers

    trace = Simulation(_fleet(300)).run()
    peers = trace.peers
    assert isinstance(peers, RunPeers) and len(peers._groups) == 4  # three batches and the gateway
    every = list(peers)
    assert len(every) == len(peers) == 301 and [p.name for p in every[:2]] == ["c0-1", "c0-2"]
    assert peers[-1].name == "gateway" and peers[100].name == "c1-1" and peers[99:102] == every[99:102]
    assert peers[::50] == every[::50] and peers == tuple(every) and peers[5:2] == []
    with pytest.raises(IndexError):
        peers[301]


# --- the trace's short forms: one reference and a number per event -------------------------------


def test_a_fleets_events_keep_one_reference_each_and_a_sessions_events_in_a_row_share_it() -> None:
    """Every event of a plain fleet is a short form: its session, and its number beside its kind.

    A message taken by a linked session, the move it makes and the answer it sends name that
    session once: a negotiation's 33 events keep 13 references, not 33.
    """
    from sim.trace import KIND_SAME

    trace = Simulation(_fleet(200)).run()
    raw = trace.raw
    assert raw is not None and len(raw.kinds) == 200 * 33
    assert len(raw.refs) == 200 * 13
    assert len(raw.refs) == sum(1 for entry in raw.kinds if not entry & KIND_SAME)
    assert all(isinstance(ref, Session) for ref in raw.refs)
    assert not any(a is b for a, b in zip(raw.refs, raw.refs[1:], strict=False))  # none repeated: one too many
    assert [record.message for record in trace.events[:2] if hasattr(record, "message")] == ["MM1"]


class _CountingDict(dict):  # type: ignore[type-arg]
    """A dict that counts its searches (subscripts and ``get``)."""

    searches = 0

    def __getitem__(self, key: Any) -> Any:
        self.searches += 1
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.searches += 1
        return super().get(key, default)


def test_once_a_negotiation_has_begun_its_messages_reach_their_session_without_a_search() -> None:
    """Its first message links the two sessions of an SA (Session.twin); the others go straight to them.

    A million peers' table and a gateway's two million SAs are searched once per SA, not per message.
    """
    simulation = Simulation(_fleet(200))
    peers = simulation.endpoints = _CountingDict(simulation.endpoints)
    gateway = simulation.endpoints["gateway"]
    gateway.sessions = tables = _CountingDict()
    peers.searches = 0
    trace = simulation.run()
    assert sum(1 for o in trace.outcomes if o.code == 13897) == 4 * 200  # MM and QM, at both peers
    assert peers.searches == 2 * 200  # the receivers of its MM1 and its QM1: not a start, nor the other seven messages
    assert tables.searches == 2 * 200  # the MM1 and the QM1 (the QM1's main mode SA, its parent, is linked)
    client = simulation.endpoints["c0-1"]
    for label, session in client.sessions.items():
        assert session.twin is tables[label] and tables[label].twin is session


def _plain_copy(table: dict[Any, Any]) -> dict[Any, Any]:
    """The same keys and values, inserted in the same order into a plain dict."""
    plain: dict[Any, Any] = {}
    for key, value in table.items():
        plain[key] = value
    return plain


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="how CPython lays out a dict of string keys")
def test_the_tables_of_a_million_names_keep_their_keys_hashes() -> None:
    """The run's peers and a gateway's SAs are dicts that keep each key's hash (hash_keeping_dict()).

    A dict of string keys keeps none and reads the colliding keys' strings to compare hashes: a
    cache miss per probe in a table of millions. The hashes cost 8 bytes an entry, seen here.
    """
    labels = [f"MM#{i}" for i in range(1000)]
    kept = hash_keeping_dict()
    for label in labels:
        kept[label] = None
    assert kept == dict.fromkeys(labels) and list(kept) == labels
    assert sys.getsizeof(kept) == sys.getsizeof(_plain_copy(kept)) + 8 * 1365  # 2/3 of its 2048 slots hold entries
    simulation = Simulation(_fleet(200))
    simulation.run()
    gateway = simulation.endpoints["gateway"]
    for table in (simulation.endpoints, simulation.base_of, gateway.sessions):
        assert sys.getsizeof(table) > sys.getsizeof(_plain_copy(table))
    client = simulation.endpoints["c0-1"]  # a peer of a fleet holds a few SAs: a plain dict, smaller
    assert sys.getsizeof(client.sessions) == sys.getsizeof(_plain_copy(client.sessions))


def test_when_a_responder_opened_an_sa_is_kept_where_an_implementation_reads_it() -> None:
    """strongSwan's responder drops an SA half open after half_open_timeout: its endpoint keeps when each opened.

    Every other peer keeps nothing of it, and a session is 16 bytes smaller for it: 208 bytes with
    the collector's header, 64 bytes a negotiation of four sessions.
    """
    simulation = Simulation(_fleet(200))
    simulation.run()
    gateway = simulation.endpoints["gateway"]
    assert not gateway.opened_at
    assert max(sys.getsizeof(s) for ep in simulation.endpoints.values() for s in ep.sessions.values()) <= 208
    peers = {"client": {"role": "initiator", "start": 2.0}, "gateway": {"role": "responder", "profile": "strongswan"}}
    strongswan = Simulation(parse_scenario({"name": "half-open", "peers": peers}))
    strongswan.run()
    gateway = strongswan.endpoints["gateway"]
    main_mode = gateway.sessions["MM#1"]
    assert gateway.opened_at == {main_mode: 2.0 + strongswan.scenario.network.latency}


def test_words_number_each_value_once_and_give_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.protocol import words

    name = "a message no protocol has"
    n = words.number(name)
    assert n > 0 and words.number(name) == n and words.WORDS[n] == name
    assert words.number(("SRC", "DST", "trigger", "machine")) == words.number(("SRC", "DST", "trigger", "machine"))
    monkeypatch.setattr(words, "MAX_NUMBER", len(words.WORDS) - 1)
    with pytest.raises(OverflowError, match="distinct"):
        words.number("one more than the entries hold")
