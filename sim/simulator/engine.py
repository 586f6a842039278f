"""The discrete-event simulation: peers (protocol endpoints) on a network, driven by a virtual clock.

The engine owns time and I/O: it tells endpoints the time, carries the messages they send
through the network, schedules their timers, and records everything in the trace. It does not
know IKE: protocol behaviour lives in the tables and the endpoints.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable

from sim.codes import IkeCode
from sim.enums import DropCause
from sim.faults import FaultModel, MessageFault, PartitionFault
from sim.protocol.profiles import PROFILES, is_windows
from sim.protocol.registry import COMPILED, PROTOCOLS
from sim.protocol.session import Endpoint, Message, Outcome, Session
from sim.scenario import Scenario
from sim.simulator.clock import EventQueue
from sim.simulator.network import Network
from sim.trace import WIDTH, EventLog, Trace

DEFAULT_MAX_EVENTS = 1_000_000  # trace events a run may record when the scenario sets no limit...
EVENTS_PER_NEGOTIATION = 200  # ...or this many per negotiation its initiators start, if that is more


class Effects:
    """The simulator's :class:`~sim.protocol.session.EffectSink`: records each effect in the trace as it happens.

    Sends go on the network; a wake-up a session asks for is a heap entry (a session asks again
    only for an earlier time), and the sessions that wait for an answer keep the run going.
    """

    __slots__ = ("busy", "network", "outcomes", "queue", "raw", "wake_cb")

    def __init__(self, raw: EventLog, queue: EventQueue, network: Network, wake_cb: Callable[[Session], None]) -> None:
        self.raw = raw
        self.outcomes: list[Outcome] = []  # the core's outcome objects, in order
        self.queue = queue
        self.network = network
        self.wake_cb = wake_cb  # bound once: a bound method made at each push cost 48 bytes per pending event
        self.busy: set[Session] = set()  # sessions waiting for an answer (or a foreground alarm)

    def send(self, session: Session, msg: Message, attempt: int) -> None:
        """Record the send and put the message on the network."""
        now = self.queue.now
        if attempt == 0:
            self.raw.extend((now, "send", msg.sender, msg.sa, msg.name, msg.receiver, msg.detail, None))
        else:
            self.raw.extend((now, "retransmit", msg.sender, msg.sa, msg.name, msg.receiver, max(attempt, 0),
                             msg.detail))  # fmt: skip
        self.network.send(now, msg)

    def transition(self, session: Session, source: str, dest: str, trigger: str) -> None:
        """Record the change of state."""
        self.raw.extend((self.queue.now, "transition", session.endpoint.name, session.label, source, dest, trigger,
                         session.compiled.table.name))  # fmt: skip

    def outcome(self, outcome: Outcome) -> None:
        """Record the outcome."""
        self.outcomes.append(outcome)
        self.raw.extend((self.queue.now, "outcome", outcome.peer, outcome.sa, outcome, None, None, None))

    def timer(self, session: Session, name: str, detail: str | None = None) -> None:
        """Record that a timer fired."""
        self.raw.extend((self.queue.now, "timer", session.endpoint.name, session.label, name, detail, None, None))

    def drop(self, endpoint: Endpoint, msg: Message, reason: str, cause: DropCause) -> None:
        """Record a message the endpoint would not accept."""
        self.raw.extend((self.queue.now, "drop", endpoint.name, msg.sa, msg.name, msg.sender, reason, cause))

    def timers_changed(self, session: Session, wake: float | None) -> None:
        """Wake the session when it asks; note whether it keeps the run going.

        Wake-ups never keep a run alive by themselves (a superseded one would); sessions that
        wait for an answer do, through ``busy``.
        """
        if session.keeps_run_going():
            self.busy.add(session)
        else:
            self.busy.discard(session)
        if wake is not None:
            self.queue.at(wake, self.wake_cb, session, background=True)

    def forget(self, ep: Endpoint) -> None:
        """A crashed endpoint's sessions keep nothing going."""
        for session in ep.sessions.values():
            self.busy.discard(session)


def _parents_of(ep: Endpoint) -> dict[str, str]:
    return {label: session.parent.label for label, session in ep.sessions.items() if session.parent is not None}


class Simulation:
    """One run of one scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.queue = EventQueue()
        self.raw = EventLog()
        self._lost_parents: dict[str, str] = {}  # the parents of child SAs that crashed peers lost
        self._counters: dict[str, int] = {}
        self.names = {name: scenario.instances_of(name) for name in scenario.peers}
        self.peers = {n: scenario.peers[base] for base, group in self.names.items() for n in group}
        self.base_of = {n: base for base, group in self.names.items() for n in group}
        self.faults = [one for fault in scenario.faults for one in fault.for_instances(self.names)]
        self.network = Network(scenario.network, self.rng, self._schedule_arrival, self._net_report, self.queue.at,
                               self.base_of)  # fmt: skip
        self.endpoints: dict[str, Endpoint] = {}
        # Who announces Windows in its vendor IDs (a Windows responder tells those the status itself).
        self.windows_peers = frozenset(n for n, spec in self.peers.items() if is_windows(spec.profile, spec.protocol))
        self._local_faults: dict[str, dict[str, IkeCode]] = {}  # peer -> message -> the code its machine fails with
        self._timed: list[tuple[float, str, str]] | None = []  # peer events to schedule at start (None: started)
        for fault in self.faults:
            fault.install(self)
        self._ended_sessions: dict[tuple[str, str], str] = {}
        # Bound once: a bound method made at each push cost 48 bytes per pending event.
        self._arrive_cb = self._arrive
        self._started = False
        self.effects = Effects(self.raw, self.queue, self.network, self._wake)
        self.truncated: str | None = None
        for name in self.peers:
            self.endpoints[name] = self._endpoint(name)

    # --- set-up ------------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Endpoint:
        spec = self.peers[name]
        profile = PROFILES[spec.profile]
        options = dict(spec.retransmit)
        schedule = profile.schedule(options)
        protocol = PROTOCOLS[spec.protocol]
        local_faults = self._local_faults.get(name)
        return Endpoint(name, spec.policy, schedule, self._label, protocol, COMPILED, self.effects, local_faults,
                        responder=profile.responder_rules(options), seed=self.seed,
                        windows=name in self.windows_peers, windows_peers=self.windows_peers)  # fmt: skip

    def _label(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}#{n}"

    def _initiate(self, name: str) -> None:
        ep = self.endpoints[name]
        ep.initiate(self.queue.now, ep.protocol.first_table, self.scenario.target_of(self.base_of[name]))

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
        timed, self._timed = self._timed or [], None
        for when, target, action in timed:  # after the initiators: at equal times they go first
            self._schedule(when, target, action)

    def inject(self, fault: FaultModel) -> None:
        """Add a fault while the run is under way (its times must not lie in the past)."""
        for one in fault.for_instances(self.names):
            one.install(self)

    # --- what faults ask of the simulation (sim.faults.FaultHost) ----------------------------

    def add_message_rule(self, fault: MessageFault) -> None:
        """Apply a message fault on the network."""
        self.network.add_rule(fault)

    def add_partition(self, fault: PartitionFault) -> None:
        """Cut links for a time window."""
        self.network.partitions.append(fault)

    def silence(self, peer: str, at: float | None, after_message: str | None) -> None:
        """Silence a peer from a time, or once it has sent a message."""
        self.network.silence(peer, at, after_message)

    def add_local_fault(self, peer: str, message: str, code: int) -> None:
        """A fault of the peer's machine: part of the machine from the start, so only from the scenario."""
        if self.endpoints:
            raise ValueError("a local fault is part of the peer's machine from the start: give it in the scenario")
        self._local_faults.setdefault(peer, {})[message] = IkeCode(code)

    def at(self, when: float, peer: str, action: str) -> None:
        """At ``when``, crash or restart the peer, or give every SA it has the input ``action``."""
        if self._timed is not None:
            self._timed.append((when, peer, action))
        else:
            self._schedule(when, peer, action)

    def _schedule(self, when: float, peer: str, action: str) -> None:
        if action == "crash":
            self.queue.at(when, self._crash, peer)
        elif action == "restart":
            self.queue.at(when, self._restart, peer)
        else:
            self.queue.at(when, self._fire_all, (peer, action))

    @property
    def max_events(self) -> int:
        """The scenario's event limit, or by default 1,000,000 or 200 per negotiation, whichever is more."""
        given = self.scenario.limits.max_events
        if given is not None:
            return given
        negotiations = sum(
            spec.instances * spec.connections * (1 + spec.policy.quick_modes)
            for spec in self.scenario.peers.values()
            if spec.role == "initiator"
        )
        return max(DEFAULT_MAX_EVENTS, EVENTS_PER_NEGOTIATION * negotiations)

    def open_negotiations(self) -> int:
        """Negotiations that have neither ended nor come up (after a run cut short: those it left open)."""
        return sum(
            1 for ep in self.endpoints.values() for s in ep.sessions.values() if not s.ended and not s.established
        )

    def step(self) -> bool:
        """Process one event; False once the run is over (nothing left, or a limit reached)."""
        self.start()
        if self.truncated is not None or not self._pending():
            return False
        _, callback, arg, _ = self.queue.pop()
        callback(arg)
        if self.raw.event_count() > self.max_events:
            self.truncated = f"max_events {self.max_events} reached"
        return True

    def _pending(self) -> bool:
        queue = self.queue
        if not queue:
            return False
        limits = self.scenario.limits
        when = queue.peek_time()
        if queue.foreground == 0 and not self.effects.busy and (limits.until is None or when > limits.until):
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
        max_events = self.max_events
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
            parents=self.parents(),
            raw_outcomes=self.effects.outcomes,
            final_states=self._final_states,
            source=self.scenario,
        )

    def parents(self) -> dict[str, str]:
        """Child SA label -> the label of the SA it was negotiated under, for every child SA of the run.

        Read from the sessions when the trace is made, so the hot path pays nothing for it.
        """
        found = dict(self._lost_parents)
        for ep in self.endpoints.values():
            found.update(_parents_of(ep))
        return found

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
        self.endpoints[receiver].receive(now, msg)

    def _wake(self, session: Session) -> None:
        """The time a session asked to be woken at has come."""
        ep = session.endpoint
        if self.endpoints.get(ep.name) is ep:  # else the peer crashed since
            ep.handle_timer(self.queue.now, session)

    def _crash(self, name: str) -> None:
        now = self.queue.now
        ep = self.endpoints[name]
        for label, session in ep.sessions.items():
            self._ended_sessions[(name, label)] = f"{session.state} (lost in crash)"
        self._lost_parents.update(_parents_of(ep))
        self.network.down.add(name)
        self.effects.forget(ep)
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

    def _net_report(self, msg: Message, reason: str, cause: DropCause) -> None:
        """The network lost a message: record it at its receiver, with why."""
        self.raw.extend((self.queue.now, "drop", msg.receiver, msg.sa, msg.name, msg.sender, reason, cause))
