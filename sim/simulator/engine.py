"""The discrete-event simulation: peers (protocol endpoints) on a network, driven by a virtual clock.

The engine owns time and I/O: it tells endpoints the time, carries the messages they send
through the network, schedules their timers, and records everything in the trace. It does not
know IKE: protocol behaviour lives in the tables and the endpoints.
"""

from __future__ import annotations

import random
from typing import Any

from sim.codes import IkeCode
from sim.outputs.trace import Trace
from sim.protocol.policy import Policy, Proposal
from sim.protocol.registry import COMPILED
from sim.protocol.session import INF, Endpoint, Message, Outcome, Session
from sim.scenario import (
    CrashFault,
    DeleteFault,
    Fault,
    LocalFault,
    PartitionFault,
    PeerSpec,
    PolicyChangeFault,
    Scenario,
    SilenceFault,
)
from sim.simulator.clock import EventQueue
from sim.simulator.network import Network
from sim.simulator.profiles import PROFILES

FIRST_EXCHANGE = {"ikev1": "ikev1_main_mode"}


def build_policy(peer: PeerSpec, local_faults: dict[str, int]) -> Policy:
    """The protocol core's policy object for a peer of a scenario."""
    p = peer.policy
    return Policy(
        auth=p.auth,
        psk=p.psk,
        proposals=tuple(Proposal(x.encryption, x.integrity, x.dh_group) for x in p.proposals),
        dh_groups=tuple(p.dh_groups) if p.dh_groups is not None else None,
        certificate=p.certificate,
        quick_modes=p.quick_modes,
        mm_lifetime=p.mm_lifetime,
        qm_lifetime=p.qm_lifetime,
        liveness_interval=p.liveness_interval,
        max_mm_per_peer=p.max_mm_per_peer,
        max_qm_per_mm=p.max_qm_per_mm,
        rate_limit=p.rate_limit,
        dos_threshold=p.dos_threshold,
        shutdown_at=p.shutdown_at,
        local_faults={name: IkeCode(code) for name, code in local_faults.items()},
    )


class Simulation:
    """One run of one scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.queue = EventQueue()
        self.raw: list[tuple[Any, ...]] = []
        self.outcomes: list[Outcome] = []
        self._counters: dict[str, int] = {}
        self.network = Network(
            scenario.network, scenario.faults, self.rng, self._schedule_arrival, self._net_report, self.queue.at
        )
        self.endpoints: dict[str, Endpoint] = {}
        self._ended_sessions: dict[tuple[str, str], str] = {}
        self._started = False
        self.truncated: str | None = None
        for name in scenario.peers:
            self.endpoints[name] = self._endpoint(name)

    # --- set-up ------------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Endpoint:
        spec = self.scenario.peers[name]
        faults = {f.at: int(f.code) for f in self.scenario.faults if isinstance(f, LocalFault) and f.peer == name}
        schedule = PROFILES[spec.profile].schedule(dict(spec.retransmit))
        return Endpoint(name, build_policy(spec, faults), schedule, self._label, COMPILED)

    def _label(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}#{n}"

    # --- the run -----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the initiators and the timed faults; :meth:`run` and :meth:`step` call it once."""
        if self._started:
            return
        self._started = True
        queue = self.queue
        for name, peer in self.scenario.peers.items():
            if peer.role == "initiator":
                for i in range(peer.connections):
                    queue.at(peer.start + i * peer.interval, self._start, name)
        for fault in self.scenario.faults:
            self._schedule_fault(fault)

    def inject(self, fault: Fault) -> None:
        """Add a fault while the run is under way (its times must not lie in the past)."""
        if isinstance(fault, LocalFault):
            raise ValueError("local faults are part of a peer's policy: give them in the scenario")
        if isinstance(fault, SilenceFault | PartitionFault):
            self.network.add(fault)
        elif isinstance(fault, CrashFault | DeleteFault | PolicyChangeFault):
            self._schedule_fault(fault)
        else:
            self.network.add(fault)

    def _schedule_fault(self, fault: Fault) -> None:
        queue = self.queue
        if isinstance(fault, CrashFault):
            queue.at(fault.at, self._crash, fault.peer)
            if fault.restart_at is not None:
                queue.at(fault.restart_at, self._restart, fault.peer)
        elif isinstance(fault, DeleteFault):
            queue.at(fault.at, self._local_delete, (fault.peer, "admin_delete"))
        elif isinstance(fault, PolicyChangeFault):
            queue.at(fault.at, self._local_delete, (fault.peer, "policy_change"))

    def step(self) -> bool:
        """Process one event; False once the run is over (nothing left, or a limit reached)."""
        self.start()
        if self.truncated is not None or not self._pending():
            return False
        _, callback, arg, _ = self.queue.pop()
        callback(arg)
        if len(self.raw) > self.scenario.limits.max_events:
            self.truncated = f"max_events {self.scenario.limits.max_events} reached"
        return True

    def _pending(self) -> bool:
        queue = self.queue
        if not queue:
            return False
        limits = self.scenario.limits
        when = queue.peek_time()
        if queue.foreground == 0 and (limits.until is None or when > limits.until):
            return False  # only SA lifetimes and idle timers remain
        if when > limits.max_time:
            self.truncated = f"max_time {limits.max_time:g} s reached"
            return False
        return True

    def run(self) -> Trace:
        """Run to the end (or to a limit) and return the trace."""
        self.start()
        queue = self.queue
        raw = self.raw
        max_events = self.scenario.limits.max_events
        while self._pending():
            _, callback, arg, _ = queue.pop()
            callback(arg)
            if len(raw) > max_events:
                self.truncated = f"max_events {max_events} reached"
                break
        return self.trace()

    def trace(self) -> Trace:
        """The trace so far."""
        raw = self.raw
        end = raw[-1][0] if raw else 0.0
        return Trace(self.scenario.name, self.seed, raw, self.outcomes, end, self.truncated, self._final_states())

    def _final_states(self) -> dict[tuple[str, str], str]:
        states = dict(self._ended_sessions)
        for name, ep in self.endpoints.items():
            for label, session in ep.sessions.items():
                states[(name, label)] = session.state
        return states

    # --- events ------------------------------------------------------------------------------

    def _start(self, name: str) -> None:
        ep = self.endpoints[name]
        spec = self.scenario.peers[name]
        if name in self.network.down:
            return
        ep.initiate(self.queue.now, FIRST_EXCHANGE[spec.protocol], self.scenario.target_of(name))
        self._drain(ep)

    def _schedule_arrival(self, when: float, msg: Message) -> None:
        self.queue.at(when, self._arrive, msg)

    def _arrive(self, msg: Message) -> None:
        now = self.queue.now
        receiver = msg.receiver
        network = self.network
        if receiver in network.down or network.silent(receiver, now):
            why = "is down" if receiver in network.down else "is silent"
            self.raw.append((now, "drop", receiver, msg.sa, msg.name, msg.sender, f"{receiver} {why}"))
            return
        self.raw.append((now, "recv", receiver, msg.sa, msg.name, msg.sender))
        ep = self.endpoints[receiver]
        ep.receive(now, msg)
        self._drain(ep)

    def _deadline(self, session: Session) -> None:
        ep = session.endpoint
        if self.endpoints.get(ep.name) is not ep or session.deadline != self.queue.now:
            return  # superseded, or the peer crashed since
        ep.on_deadline(self.queue.now, session)
        self._drain(ep)

    def _lifetime(self, session: Session) -> None:
        ep = session.endpoint
        if self.endpoints.get(ep.name) is not ep:
            return
        ep.on_lifetime(self.queue.now, session)
        self._drain(ep)

    def _crash(self, name: str) -> None:
        now = self.queue.now
        ep = self.endpoints[name]
        for label, session in ep.sessions.items():
            self._ended_sessions[(name, label)] = f"{session.state} (lost in crash)"
        self.network.down.add(name)
        self.raw.append((now, "timer", name, None, "crash", f"{len(ep.sessions)} SAs lost"))
        self.endpoints[name] = self._endpoint(name)  # the state the peer restarts with: empty

    def _restart(self, name: str) -> None:
        self.network.down.discard(name)
        self.raw.append((self.queue.now, "timer", name, None, "restart", None))
        if self.scenario.peers[name].role == "initiator":
            self._start(name)

    def _local_delete(self, arg: tuple[str, str]) -> None:
        name, trigger = arg
        if name in self.network.down:
            return
        ep = self.endpoints[name]
        self.raw.append((self.queue.now, "timer", name, None, trigger.replace("_", " "), None))
        ep.delete_all(self.queue.now, trigger)
        self._drain(ep)

    def _net_report(self, kind: str, msg: Message, reason: str) -> None:
        self.raw.append((self.queue.now, kind, msg.receiver, msg.sa, msg.name, msg.sender, reason))

    # --- effects of the protocol core --------------------------------------------------------

    def _drain(self, ep: Endpoint) -> None:
        out = ep.outbox
        if not out:
            return
        ep.outbox = []
        now = self.queue.now
        raw = self.raw
        for effect in out:
            kind = effect[0]
            if kind == "send":
                session, msg, attempt = effect[1], effect[2], effect[3]
                if attempt == 0:
                    raw.append((now, "send", ep.name, msg.sa, msg.name, msg.receiver))
                else:
                    raw.append((now, "retransmit", ep.name, msg.sa, msg.name, msg.receiver, max(attempt, 0)))
                self.network.send(now, msg)
            elif kind == "transition":
                session = effect[1]
                raw.append((now, "transition", ep.name, session.label, effect[2], effect[3], effect[4],
                            session.table.name))  # fmt: skip
            elif kind == "deadline":
                session = effect[1]
                if session.deadline != INF:
                    self.queue.at(session.deadline, self._deadline, session, background=not session.waiting)
            elif kind == "outcome":
                outcome = effect[1]
                self.outcomes.append(outcome)
                raw.append((now, "outcome", ep.name, outcome.sa, outcome))
            elif kind == "lifetime":
                session = effect[1]
                self.queue.at(session.expires_at, self._lifetime, session, background=True)
            elif kind == "timer":
                raw.append((now, "timer", ep.name, effect[1].label, effect[2]))
            elif kind == "drop":
                msg = effect[2]
                raw.append((now, "drop", ep.name, msg.sa, msg.name, msg.sender, effect[3]))
