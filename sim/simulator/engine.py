"""The discrete-event simulation: peers (protocol endpoints) on a network, driven by a virtual clock.

The engine owns time and I/O: it tells endpoints the time, carries the messages they send
through the network, schedules their timers, and records everything in the trace. It does not
know IKE: protocol behaviour lives in the tables and the endpoints.
"""

from __future__ import annotations

import gc
import random

from sim.codes import IkeCode
from sim.outputs.trace import WIDTH, EventLog, Trace
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
        self.raw = EventLog()
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
                queue.at(peer.start, self._start, (name, 0))
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
        if self.raw.event_count() > self.scenario.limits.max_events:
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
        # A run makes no reference cycles per event, so the cyclic collector would only rescan
        # the growing trace again and again (it doubled the cost per negotiation at 100,000).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if collecting:
                gc.enable()

    def _run(self) -> Trace:
        self.start()
        queue = self.queue
        raw = self.raw
        max_events = self.scenario.limits.max_events
        max_fields = max_events * WIDTH
        while self._pending():
            _, callback, arg, _ = queue.pop()
            callback(arg)
            if len(raw) > max_fields:
                self.truncated = f"max_events {max_events} reached"
                break
        return self.trace()

    def trace(self) -> Trace:
        """The trace so far."""
        raw = self.raw
        return Trace(
            self.scenario.name, self.seed, raw, self.outcomes, raw.last_time(), self.truncated, self._final_states
        )

    def _final_states(self) -> dict[tuple[str, str], str]:
        states = dict(self._ended_sessions)
        for name, ep in self.endpoints.items():
            for label, session in ep.sessions.items():
                states[(name, label)] = session.state
        return states

    # --- events ------------------------------------------------------------------------------

    def _start(self, arg: tuple[str, int]) -> None:
        name, index = arg
        spec = self.scenario.peers[name]
        if index + 1 < spec.connections:  # each start schedules the next: the heap stays small
            self.queue.at(spec.start + (index + 1) * spec.interval, self._start, (name, index + 1))
        if name in self.network.down:
            return
        ep = self.endpoints[name]
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
            self.raw.extend((now, "drop", receiver, msg.sa, msg.name, msg.sender, f"{receiver} {why}", None))
            return
        self.raw.extend((now, "recv", receiver, msg.sa, msg.name, msg.sender, None, None))
        ep = self.endpoints[receiver]
        ep.receive(now, msg)
        self._drain(ep)

    def _deadline(self, session: Session) -> None:
        ep = session.endpoint
        now = self.queue.now
        if session.timer_at != now or self.endpoints.get(ep.name) is not ep:
            return  # superseded by an earlier look, or the peer crashed since
        session.timer_at = INF
        if session.deadline > now:  # moved later since it was scheduled: look again then
            self._arm(session)
            return
        ep.on_deadline(now, session)
        self._drain(ep)

    def _arm(self, session: Session) -> None:
        """Make sure the driver looks at the session's deadline in time (one heap entry per session)."""
        deadline = session.deadline
        if deadline < session.timer_at:
            session.timer_at = deadline
            self.queue.at(deadline, self._deadline, session, background=not session.waiting)

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
        self.raw.extend((now, "timer", name, None, "crash", f"{len(ep.sessions)} SAs lost", None, None))
        self.endpoints[name] = self._endpoint(name)  # the state the peer restarts with: empty

    def _restart(self, name: str) -> None:
        self.network.down.discard(name)
        self.raw.extend((self.queue.now, "timer", name, None, "restart", None, None, None))
        spec = self.scenario.peers[name]
        if spec.role == "initiator":
            ep = self.endpoints[name]
            ep.initiate(self.queue.now, FIRST_EXCHANGE[spec.protocol], self.scenario.target_of(name))
            self._drain(ep)

    def _local_delete(self, arg: tuple[str, str]) -> None:
        name, trigger = arg
        if name in self.network.down:
            return
        ep = self.endpoints[name]
        self.raw.extend((self.queue.now, "timer", name, None, trigger.replace("_", " "), None, None, None))
        ep.delete_all(self.queue.now, trigger)
        self._drain(ep)

    def _net_report(self, kind: str, msg: Message, reason: str) -> None:
        self.raw.extend((self.queue.now, kind, msg.receiver, msg.sa, msg.name, msg.sender, reason, None))

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
                    raw.extend((now, "send", ep.name, msg.sa, msg.name, msg.receiver, None, None))
                else:
                    raw.extend((now, "retransmit", ep.name, msg.sa, msg.name, msg.receiver, max(attempt, 0), None))
                self.network.send(now, msg)
            elif kind == "transition":
                session = effect[1]
                raw.extend((now, "transition", ep.name, session.label, effect[2], effect[3], effect[4],
                            session.table.name))  # fmt: skip
            elif kind == "deadline":
                self._arm(effect[1])
            elif kind == "outcome":
                outcome = effect[1]
                self.outcomes.append(outcome)
                raw.extend((now, "outcome", ep.name, outcome.sa, outcome, None, None, None))
            elif kind == "lifetime":
                session = effect[1]
                self.queue.at(session.expires_at, self._lifetime, session, background=True)
            elif kind == "timer":
                raw.extend((now, "timer", ep.name, effect[1].label, effect[2], None, None, None))
            elif kind == "drop":
                msg = effect[2]
                raw.extend((now, "drop", ep.name, msg.sa, msg.name, msg.sender, effect[3], None))
