"""The discrete-event simulation: peers (protocol endpoints) on a network, driven by a virtual clock.

The engine owns time and I/O: it tells endpoints the time, carries the messages they send
through the network, schedules their timers, and records everything in the trace. It does not
know IKE: protocol behaviour lives in the tables and the endpoints.
"""

from __future__ import annotations

import gc
import random

from sim.enums import DropCause
from sim.protocol.profiles import PROFILES
from sim.protocol.registry import COMPILED, PROTOCOLS
from sim.protocol.session import INF, Endpoint, Message, Outcome, Session
from sim.scenario import (
    AddressChangeFault,
    CrashFault,
    DeleteFault,
    Fault,
    LocalFault,
    PolicyChangeFault,
    Scenario,
    local_faults,
)
from sim.simulator.clock import EventQueue
from sim.simulator.network import Network
from sim.trace import WIDTH, EventLog, Trace


def instance_names(scenario: Scenario) -> dict[str, list[str]]:
    """The peers of a run for each peer of the scenario.

    An initiator with several ``instances`` becomes separate peers named ``NAME-1``, ``NAME-2``...
    """
    return {
        name: [f"{name}-{i}" for i in range(1, spec.instances + 1)] if spec.instances > 1 else [name]
        for name, spec in scenario.peers.items()
    }


def expand_fault(fault: Fault, names: dict[str, list[str]]) -> list[Fault]:
    """A fault on a peer of the scenario, as faults on the peers of the run."""
    peer = getattr(fault, "peer", None)
    listed = getattr(fault, "peers", None)
    if peer is not None:
        return [fault.model_copy(update={"peer": n}) for n in names[peer]]
    if listed is not None:
        return [fault.model_copy(update={"peers": [n for p in listed for n in names[p]]})]
    return [fault]


class Simulation:
    """One run of one scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.queue = EventQueue()
        self.raw = EventLog()
        self.outcomes: list[Outcome] = []
        self.parents: dict[str, str] = {}  # child SA label -> the label of the SA it was negotiated under
        self._counters: dict[str, int] = {}
        self.names = instance_names(scenario)
        self.peers = {n: scenario.peers[base] for base, group in self.names.items() for n in group}
        self.base_of = {n: base for base, group in self.names.items() for n in group}
        self.faults = [one for fault in scenario.faults for one in expand_fault(fault, self.names)]
        self.network = Network(
            scenario.network, self.faults, self.rng, self._schedule_arrival, self._net_report, self.queue.at,
            self.base_of,
        )  # fmt: skip
        self.endpoints: dict[str, Endpoint] = {}
        self._ended_sessions: dict[tuple[str, str], str] = {}
        # Bound once: a bound method made at each push cost 48 bytes per pending event.
        self._arrive_cb = self._arrive
        self._deadline_cb = self._deadline
        self._lifetime_cb = self._lifetime
        self._started = False
        self._waiting: set[Session] = set()  # sessions waiting for an answer: they keep the run going
        self.truncated: str | None = None
        for name in self.peers:
            self.endpoints[name] = self._endpoint(name)

    # --- set-up ------------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Endpoint:
        spec = self.peers[name]
        schedule = PROFILES[spec.profile].schedule(dict(spec.retransmit))
        protocol = PROTOCOLS[spec.protocol]
        return Endpoint(name, spec.policy, schedule, self._label, protocol, COMPILED, local_faults(self.faults, name))

    def _label(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}#{n}"

    def _initiate(self, name: str) -> None:
        ep = self.endpoints[name]
        ep.initiate(self.queue.now, ep.protocol.first_table, self.scenario.target_of(self.base_of[name]))
        self._drain(ep)

    # --- the run -----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the initiators and the timed faults; :meth:`run` and :meth:`step` call it once."""
        if self._started:
            return
        self._started = True
        queue = self.queue
        for name, peer in self.peers.items():
            if peer.role == "initiator":
                queue.at(peer.start, self._start, (name, 0))
        for fault in self.faults:
            self._schedule_fault(fault)

    def inject(self, fault: Fault) -> None:
        """Add a fault while the run is under way (its times must not lie in the past)."""
        if isinstance(fault, LocalFault):
            raise ValueError("local faults are part of a peer's policy: give them in the scenario")
        for one in expand_fault(fault, self.names):
            if isinstance(one, CrashFault | DeleteFault | PolicyChangeFault | AddressChangeFault):
                self._schedule_fault(one)
            else:
                self.network.add(one)

    def _schedule_fault(self, fault: Fault) -> None:
        queue = self.queue
        if isinstance(fault, CrashFault):
            queue.at(fault.at, self._crash, fault.peer)
            if fault.restart_at is not None:
                queue.at(fault.restart_at, self._restart, fault.peer)
        elif isinstance(fault, DeleteFault):
            queue.at(fault.at, self._fire_all, (fault.peer, "admin_delete"))
        elif isinstance(fault, PolicyChangeFault):
            queue.at(fault.at, self._fire_all, (fault.peer, "policy_change"))
        elif isinstance(fault, AddressChangeFault):
            queue.at(fault.at, self._fire_all, (fault.peer, "address_change"))

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
        if queue.foreground == 0 and not self._waiting and (limits.until is None or when > limits.until):
            return False  # nothing in flight and nobody waiting: only lifetimes, idle timers and rekeys remain
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
            self.scenario.name,
            self.seed,
            self.scenario.peer_facts(),
            description=self.scenario.description,
            end=raw.last_time(),
            truncated=self.truncated,
            raw=raw,
            parents=self.parents,
            raw_outcomes=self.outcomes,
            final_states=self._final_states,
            source=self.scenario,
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
        spec = self.peers[name]
        if index + 1 < spec.connections:  # each start schedules the next: the heap stays small
            self.queue.at(spec.start + (index + 1) * spec.interval, self._start, (name, index + 1))
        if name not in self.network.down:
            self._initiate(name)

    def _schedule_arrival(self, when: float, msg: Message) -> None:
        self.queue.at(when, self._arrive_cb, msg)

    def _arrive(self, msg: Message) -> None:
        now = self.queue.now
        receiver = msg.receiver
        network = self.network
        if receiver in network.down:
            self.raw.extend(
                (now, "drop", receiver, msg.sa, msg.name, msg.sender, f"{receiver} is down", DropCause.DOWN)
            )
            return
        if network.silent(receiver, now):
            self.raw.extend((now, "drop", receiver, msg.sa, msg.name, msg.sender, f"{receiver} is silent",
                             DropCause.SILENT))  # fmt: skip
            return
        self.raw.extend((now, "recv", receiver, msg.sa, msg.name, msg.sender, msg.corrupt, None))
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
        if not session.waiting:
            self._waiting.discard(session)
        self._drain(ep)

    def _arm(self, session: Session) -> None:
        """Make sure the driver looks at the session's deadline in time (one heap entry per session).

        Deadline entries never keep a run alive by themselves (a superseded one would); sessions
        that wait for an answer do, through ``_waiting``.
        """
        if session.waiting:
            self._waiting.add(session)
        else:
            self._waiting.discard(session)
        deadline = session.deadline
        if deadline < session.timer_at:
            session.timer_at = deadline
            self.queue.at(deadline, self._deadline_cb, session, background=True)

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
        self._waiting = {s for s in self._waiting if s.endpoint is not ep}
        self.raw.extend((now, "timer", name, None, "crash", f"{len(ep.sessions)} SAs lost", None, None))
        self.endpoints[name] = self._endpoint(name)  # the state the peer restarts with: empty

    def _restart(self, name: str) -> None:
        self.network.down.discard(name)
        self.raw.extend((self.queue.now, "timer", name, None, "restart", None, None, None))
        if self.peers[name].role == "initiator":
            self._initiate(name)

    def _fire_all(self, arg: tuple[str, str]) -> None:
        name, trigger = arg
        if name in self.network.down:
            return
        ep = self.endpoints[name]
        self.raw.extend((self.queue.now, "timer", name, None, trigger.replace("_", " "), None, None, None))
        ep.fire_all(self.queue.now, trigger)
        self._drain(ep)

    def _alarm(self, arg: tuple[Session, str]) -> None:
        session, trigger = arg
        ep = session.endpoint
        if self.endpoints.get(ep.name) is ep:
            ep.on_alarm(self.queue.now, session, trigger)
            self._drain(ep)

    def _net_report(self, msg: Message, reason: str, cause: DropCause) -> None:
        """The network lost a message: record it at its receiver, with why."""
        self.raw.extend((self.queue.now, "drop", msg.receiver, msg.sa, msg.name, msg.sender, reason, cause))

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
                if session.parent is not None:
                    self.parents[session.label] = session.parent.label
                if attempt == 0:
                    raw.extend((now, "send", ep.name, msg.sa, msg.name, msg.receiver, msg.detail, None))
                else:
                    raw.extend((now, "retransmit", ep.name, msg.sa, msg.name, msg.receiver, max(attempt, 0),
                                msg.detail))  # fmt: skip
                self.network.send(now, msg)
            elif kind == "transition":
                session = effect[1]
                raw.extend((now, "transition", ep.name, session.label, effect[2], effect[3], effect[4],
                            session.table.name))  # fmt: skip
            elif kind == "deadline":
                self._arm(effect[1])
            elif kind == "outcome":
                outcome = effect[1]
                if outcome.parent is not None:
                    self.parents[outcome.sa] = outcome.parent
                self.outcomes.append(outcome)
                raw.extend((now, "outcome", ep.name, outcome.sa, outcome, None, None, None))
            elif kind == "alarm":
                self.queue.at(effect[2], self._alarm, (effect[1], effect[3]), background=effect[4])
            elif kind == "lifetime":
                session = effect[1]
                self.queue.at(session.expires_at, self._lifetime_cb, session, background=True)
            elif kind == "timer":
                raw.extend((now, "timer", ep.name, effect[1].label, effect[2], None, None, None))
            elif kind == "drop":
                msg = effect[2]
                raw.extend((now, "drop", ep.name, msg.sa, msg.name, msg.sender, effect[3], effect[4]))
