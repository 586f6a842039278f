"""Invariants of every run, under random fault schedules injected while the run goes on.

* every SA ends with exactly one negotiation outcome at each peer that took part (and did not
  lose it in a crash), and at most one more when an established SA ends; a peer that restarts
  after a crash is a new instance, and counts anew, and so does a negotiation a responder that
  deleted an ended SA (strongSwan) begins when that SA's first message comes again;
* no outcome before the end: an outcome comes with the transition that ends the negotiation
  (or the SA), and nothing happens to a failed negotiation afterwards;
* virtual time never goes back;
* a run always terminates within its limits, with nobody left waiting for an answer;
* an IKEv2 responder never retransmits unprompted: a response is sent again only when its request
  came again (a gateway that starts a rekey is the initiator of that exchange);
* an inner address is never leased to two IKE SAs at once.
"""

from __future__ import annotations

import itertools
from collections import Counter

from helpers import leases
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sim.protocol.registry import TABLES
from sim.scenario import parse_scenario
from sim.simulator.engine import Simulation

PEERS = ["client", "gateway"]
MESSAGES = ["MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM1", "QM2", "QM3", "MM*", "QM*", "*", "AuthIP MM3", "EM*",
            "IKE_SA_INIT*", "IKE_AUTH request", "IKE_AUTH response", "CREATE_CHILD_SA*", "INFORMATIONAL*"]  # fmt: skip
MAX_TIME = 5000.0

POLICY_FIELDS = {
    "psk": st.sampled_from(["a", "b"]),
    "quick_modes": st.integers(0, 3),
    "liveness_interval": st.sampled_from([20.0, 45.0]),
    "mm_lifetime": st.sampled_from([30.0, 90.0]),
    "qm_lifetime": st.sampled_from([15.0, 60.0]),
    "max_qm_per_mm": st.integers(0, 2),
    "dos_threshold": st.integers(0, 2),
    "rate_limit": st.integers(0, 2),
    "proposals": st.sampled_from([[{"encryption": "aes256"}], [{"dh_group": 2}], [{}]]),
    "request_address": st.booleans(),
    "require_cp": st.booleans(),
    "address_pool": st.integers(0, 2),
    "mobike": st.booleans(),
    "rekey_after": st.sampled_from([15.0, 40.0]),
    "nap": st.booleans(),
    "nap_health": st.sampled_from(["healthy", "unhealthy", "remediates"]),
    "remediation_time": st.sampled_from([5.0, 50.0]),
    "extended_mode": st.booleans(),
    "user_secret": st.sampled_from(["u", "v"]),
}


def policies(protocol: str):
    """Policies for one protocol's peers (DoS cookies are IKEv2's)."""
    fields = {k: v for k, v in POLICY_FIELDS.items() if protocol == "ikev2" or k != "dos_threshold"}
    return st.fixed_dictionaries({}, optional=fields)


PROFILES = {"ikev1": ["windows", "strongswan", "libreswan"], "authip": ["windows", "libreswan"],
            "ikev2": ["windows-ikev2", "strongswan", "libreswan"]}  # fmt: skip


def _scenario(protocol: str):
    return st.fixed_dictionaries(
        {
            "name": st.just("generated"),
            "peers": st.fixed_dictionaries(
                {
                    "client": st.fixed_dictionaries(
                        {"role": st.just("initiator"), "protocol": st.just(protocol)},
                        optional={
                            "profile": st.sampled_from(PROFILES[protocol]),
                            "connections": st.integers(1, 3),
                            "instances": st.integers(1, 3),
                            "interval": st.sampled_from([0.0, 0.5, 20.0]),
                            "policy": policies(protocol),
                        },
                    ),
                    "gateway": st.fixed_dictionaries(
                        {"role": st.just("responder"), "protocol": st.just(protocol)},
                        optional={"profile": st.sampled_from(PROFILES[protocol]), "policy": policies(protocol)},
                    ),
                }
            ),
            "network": st.fixed_dictionaries(
                {}, optional={"loss": st.sampled_from([0.0, 0.1, 0.5]), "jitter": st.sampled_from([0.0, 0.3])}
            ),
            "limits": st.fixed_dictionaries(
                {"max_time": st.just(MAX_TIME)}, optional={"until": st.sampled_from([100.0, 400.0])}
            ),
        }
    )


scenarios = st.sampled_from(sorted(PROFILES)).flatmap(_scenario)
offsets = st.floats(0.0, 80.0, allow_nan=False)


class FaultSchedules(RuleBasedStateMachine):
    """Step a run, and inject faults between steps."""

    @initialize(data=scenarios, seed=st.integers(0, 2**16))
    def setup(self, data, seed):
        self.sim = Simulation(parse_scenario(data), seed)
        self.sim.start()
        self.checked = 0
        self.last_t = 0.0
        self.running = True

    @property
    def now(self) -> float:
        return self.sim.queue.now

    @rule(steps=st.integers(1, 40))
    def advance(self, steps):
        for _ in range(steps if self.running else 0):
            if not self.sim.step():
                self.running = False
                break

    @precondition(lambda self: self.running)
    @rule(peer=st.sampled_from(PEERS), later=offsets)
    def silence(self, peer, later):
        self.sim.inject(parse_fault({"kind": "silence", "peer": peer, "at": self.now + later}))

    @precondition(lambda self: self.running)
    @rule(later=offsets, length=st.floats(0.1, 200.0))
    def partition(self, later, length):
        start = self.now + later
        self.sim.inject(parse_fault({"kind": "partition", "start": start, "end": start + length}))

    @precondition(lambda self: self.running)
    @rule(peer=st.sampled_from(PEERS), later=offsets, down=st.none() | st.floats(0.1, 100.0))
    def crash(self, peer, later, down):
        at = self.now + later
        fault = {"kind": "crash", "peer": peer, "at": at}
        if down is not None:
            fault["restart_at"] = at + down
        self.sim.inject(parse_fault(fault))

    @precondition(lambda self: self.running)
    @rule(kind=st.sampled_from(["drop", "duplicate", "reorder"]), message=st.sampled_from(MESSAGES),
          nth=st.integers(1, 4), count=st.integers(0, 3))  # fmt: skip
    def message_fault(self, kind, message, nth, count):
        self.sim.inject(parse_fault({"kind": kind, "message": message, "nth": nth, "count": count}))

    @precondition(lambda self: self.running)
    @rule(kind=st.sampled_from(["corrupt"]), message=st.sampled_from(MESSAGES),
          field=st.sampled_from(["cookie", "payload", "version"]))  # fmt: skip
    def corrupt(self, kind, message, field):
        self.sim.inject(parse_fault({"kind": kind, "message": message, "field": field}))

    @precondition(lambda self: self.running)
    @rule(kind=st.sampled_from(["delete", "policy_change", "address_change"]), peer=st.sampled_from(PEERS),
          later=offsets)  # fmt: skip
    def local_delete(self, kind, peer, later):
        self.sim.inject(parse_fault({"kind": kind, "peer": peer, "at": self.now + later}))

    @invariant()
    def time_never_goes_back(self):
        raw = self.sim.raw
        for event in raw.rows(self.checked):
            assert event[0] >= self.last_t, (event, self.last_t)
            self.last_t = event[0]
        self.checked = raw.event_count()

    @invariant()
    def at_most_one_outcome_of_each_kind(self):
        counts = Counter((*key, row[4].ends) for key, row in instances(self.sim.raw.rows()) if row[1] == "outcome")
        assert max(counts.values(), default=1) == 1, counts

    def teardown(self):
        if not hasattr(self, "sim"):
            return
        trace = self.sim.run()
        self.time_never_goes_back()
        check_trace(trace, self.sim)


def parse_fault(data):
    peers = {"client": {"role": "initiator"}, "gateway": {"role": "responder"}}
    scenario = parse_scenario({"name": "f", "peers": peers, "faults": [data]})
    return scenario.faults[0]


def instances(rows):
    """Each raw event with its key (peer, instance, sa, round).

    A peer's instance counts its crashes; an SA's round counts the negotiations a responder
    began under that label after an earlier one ended (strongSwan deletes an SA when it ends, so
    the initiator's first message again opens a new negotiation).
    """
    crashes: Counter[str] = Counter()
    rounds: Counter[tuple[str, int, str]] = Counter()
    ended: set[tuple[str, int, str, int]] = set()
    for row in rows:
        peer = row[2]
        if row[1] == "timer" and row[4] == "crash":
            crashes[peer] += 1
        sa_key = (peer, crashes[peer], row[3])
        if row[1] == "transition" and row[4] == "NONE" and (*sa_key, rounds[sa_key]) in ended:
            rounds[sa_key] += 1
        key = (*sa_key, rounds[sa_key])
        if row[1] == "outcome" and row[4].ends == "negotiation":
            ended.add(key)
        yield key, row


def check_trace(trace, sim) -> None:
    """The end-of-run invariants."""
    limits = sim.scenario.limits
    assert trace.end <= limits.max_time
    assert trace.raw.event_count() <= sim.max_events + 16
    keyed = list(instances(trace.raw.rows()))
    participants = {key for key, row in keyed if row[1] == "transition"}
    outcomes = [(key, row[4]) for key, row in keyed if row[1] == "outcome"]
    negotiation = Counter(key for key, o in outcomes if o.ends == "negotiation")
    sa_end = Counter(key for key, o in outcomes if o.ends == "sa")
    # A crash loses what an instance had not finished: the instance that crashed is not the last.
    crashes = Counter(key[0] for key, row in keyed if row[1] == "timer" and row[4] == "crash")
    lost = {key for key in participants if key not in negotiation and key[1] < crashes[key[0]]}
    if trace.truncated is None:
        waiting = [s.label for ep in sim.endpoints.values() for s in ep.sessions.values() if s.waiting]
        assert not waiting, f"the run ended with sessions still waiting: {waiting}"
        for key in participants - lost:
            assert negotiation[key] == 1, (key, trace.final_states.get((key[0], key[2])))
    assert all(n == 1 for n in negotiation.values())
    assert all(n == 1 for n in sa_end.values())
    succeeded = {key for key, o in outcomes if o.ends == "negotiation" and o.code in (13897, 13909)}
    assert set(sa_end) <= succeeded
    # An IKEv2 response is sent again only in answer to a request that came again.
    ikev2_peers = {n for n in sim.base_of if sim.spec_of(n).protocol == "ikev2"}
    for e in trace.events:
        if e.kind == "retransmit" and e.peer in ikev2_peers and e.message.endswith("response"):
            assert e.cause == "duplicate received", e
    # An address is leased to one IKE SA at a time.
    by_address: dict[str, list[tuple[float, float]]] = {}
    for address, _, start, end in leases(trace):
        by_address.setdefault(address, []).append((start, end))
    for address, spans in by_address.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, (address, spans)
    # An outcome comes with the transition that ends the negotiation or the SA.
    last_transition = {}
    ended = set()
    for key, row in keyed:
        if row[1] == "transition":
            assert key not in ended, f"{key} changed state after its negotiation failed: {row}"
            last_transition[key] = row
        elif row[1] == "outcome":
            outcome = row[4]
            t = last_transition[key]
            assert t[0] == row[0]
            dst = TABLES[t[7]].state(t[5])
            assert dst.terminal or dst.name == "COMPLETE", (t, row)
            if outcome.ends == "negotiation" and outcome.code not in (13897, 13909):
                ended.add(key)


TestFaultSchedules = FaultSchedules.TestCase
