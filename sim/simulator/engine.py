"""The discrete-event simulation: peers (protocol endpoints) on a network, driven by a virtual clock.

The engine owns time and I/O: it tells endpoints the time, carries the messages they send
through the network, schedules their timers, and records everything in the trace. It does not
know IKE: protocol behaviour lives in the tables and the endpoints.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from heapq import heappush
from typing import Any

from sim.codes import IkeCode
from sim.enums import DropCause
from sim.faults import FaultModel, MessageFault, PartitionFault
from sim.protocol.profiles import PROFILES, is_windows
from sim.protocol.registry import COMPILED, PROTOCOLS
from sim.protocol.session import (
    Endpoint,
    EndpointConfiguration,
    Message,
    Outcome,
    OutcomeKind,
    Session,
    hash_keeping_dict,
    link_twins,
    outcome_kind,
)
from sim.protocol.words import number
from sim.scenario import PeerSpec, Scenario
from sim.simulator.clock import BATCH, Batch, EventQueue
from sim.simulator.network import Network
from sim.trace import (
    KIND_NEW_TIME,
    KIND_NUMBER,
    KIND_OUTCOME_OF,
    KIND_RECV_AT,
    KIND_RECV_OF,
    KIND_SAME,
    KIND_SEND_OF,
    KIND_TRANSITION_OF,
    EventLog,
    OutcomeLog,
    Trace,
    collector_paused,
)

DEFAULT_MAX_EVENTS = 1_000_000  # trace events a run may record when the scenario sets no limit...
EVENTS_PER_NEGOTIATION = 200  # ...or this many per negotiation its initiators start, if that is more


class Effects:
    """The simulator's :class:`~sim.protocol.session.EffectSink`: records each effect in the trace as it happens.

    Sends go on the network; a wake-up a session asks for is an entry of the clock (the heap, or
    its calendar when far ahead; a session asks again only for an earlier time), and the sessions
    that wait for an answer keep the run going. Besides the sink's methods it has the core's fast
    hooks (``record_move``, ``record_outcome_kind``), which take a transition as its move's number
    and an outcome as its interned kind, and it writes the common events in the log's short forms
    itself (:data:`sim.trace.KIND_SEND_OF`...), without a call of the log's.
    """

    __slots__ = ("_arrival", "_batch", "_kind", "_moved_as", "_received_as", "_ref", "_reported_as", "_sent_as",
                 "_sent_at", "_taken_as", "_time", "arrive", "busy", "keeps", "network", "queue", "raw", "record_move",
                 "record_outcome_kind", "wake")  # fmt: skip

    def __init__(
        self,
        raw: EventLog,
        queue: EventQueue,
        network: Network,
        wake_cb: Callable[[Session], None],
        arrive: Callable[[Message], None],
    ) -> None:
        self.raw = raw
        self.queue = queue
        self.network = network
        self.arrive = arrive  # what a message's arrival calls (bound once)
        self._batch = queue.batcher(arrive)  # (when, message): messages sent at one instant, one heap entry
        self.wake = queue.waker(wake_cb)  # (when, session): one call per wake-up asked for, far ones in the calendar
        self.busy: set[Session] = set()  # sessions waiting for an answer (or a foreground alarm)
        # The log's columns, for the common events written here without a call of the log's own.
        self._time, self._kind, self._ref = raw.times.append, raw.kinds.append, raw.refs.append
        # A short form's entry in the log's kinds (its kind, and its number above KIND_NUMBER), made once per
        # kind and value (a message name, a move's number, an OutcomeKind): no int is made per event.
        self._sent_as: dict[str, int] = {}
        self._received_as: dict[str, int] = {}
        self._taken_as: dict[str, int] = {}  # KIND_RECV_AT: a message taken by a session found without a search
        self._moved_as: dict[int, int] = {}
        self._reported_as: dict[OutcomeKind, int] = {}
        # The core's fast hooks (Endpoint.moved, Endpoint.reported), bound once: every endpoint shares them.
        self._sent_at = self._arrival = math.nan  # the time of the last plain send, and its messages' arrival
        self.keeps = raw.keeps_events  # False: only outcomes are kept, the other events counted
        self.record_move = self._moved if self.keeps else self._counted
        self.record_outcome_kind = self._reported

    def send(self, session: Session, msg: Message, attempt: int) -> None:
        """Record the send and put the message on the network."""
        now = self.queue.now
        if not self.keeps:  # an OutcomeLog: counted, not kept
            self.raw.unkept += 1
        elif (
            attempt == 0
            and msg.detail is None
            and msg.origin is session  # the short form: the session holds the sender, the SA and the receiver
            and msg.sa is session.label
            and msg.sender is session.endpoint.name
            and msg.receiver is session.peer
        ):
            raw = self.raw
            try:  # a subscript, not .get(): no call (a miss is once per name)
                entry = self._sent_as[msg.name]
            except KeyError:
                entry = _entry(self._sent_as, KIND_SEND_OF, msg.name, number(msg.name))
            if session is raw.last_ref:  # the event before was this session's: its reference serves
                entry |= KIND_SAME
            else:
                self._ref(session)
                raw.last_ref = session
            if now == raw.last:
                self._kind(entry)
            else:  # the first event at this time
                self._time(now)
                raw.last = now
                self._kind(entry | KIND_NEW_TIME)
        elif attempt == 0:
            self.raw.send(now, msg.sender, msg.sa, msg.name, msg.receiver, msg.detail)
        else:
            self.raw.retransmit(now, msg.sender, msg.sa, msg.name, msg.receiver, max(attempt, 0), msg.detail)
        network = self.network
        if network.plain:  # nothing on the way but the latency: Network.send's fast path, its arrival scheduled here
            if now != self._sent_at:
                # The first send at this time: the messages sent with it share its arrival (one float), and
                # one batch of the clock, which they join in the order they are sent.
                self._sent_at, self._arrival = now, now + network.latency
            queue = self.queue
            batch = queue._open
            if batch is not None and queue._open_time == self._arrival:  # the batcher's own fast path
                batch.args.append(msg)
                queue._batched += 1
                queue.foreground += 1
            else:
                self._batch(self._arrival, msg)
        else:
            network.send(now, msg)

    def transition(self, session: Session, source: str, dest: str, trigger: str) -> None:
        """Record the change of state."""
        self.raw.moved(self.queue.now, session.endpoint.name, session.label, source, dest, trigger,
                       session.compiled.table.name)  # fmt: skip

    def _moved(self, session: Session, move: int) -> None:
        """Record a change of state: ``move`` is the number (sim.protocol.words) of its (src, dst, trigger, machine)."""
        raw, now = self.raw, self.queue.now
        try:
            entry = self._moved_as[move]
        except KeyError:
            entry = _entry(self._moved_as, KIND_TRANSITION_OF, move, move)
        if session is raw.last_ref:
            entry |= KIND_SAME
        else:
            self._ref(session)
            raw.last_ref = session
        if now == raw.last:
            self._kind(entry)
        else:  # the first event at this time
            self._time(now)
            raw.last = now
            self._kind(entry | KIND_NEW_TIME)

    def _counted(self, session: Session, move: int) -> None:
        """Count a change of state that an OutcomeLog does not keep."""
        self.raw.unkept += 1

    def outcome(self, outcome: Outcome) -> None:
        """Record the outcome."""
        kind = outcome_kind(outcome.role, outcome.exchange, outcome.condition, outcome.code, outcome.failure_point,
                            outcome.state, outcome.ends)  # fmt: skip
        self.raw.outcome(self.queue.now, outcome.peer, outcome.sa, kind, outcome.remote, outcome.parent, outcome.t)

    def _reported(self, session: Session, kind: OutcomeKind, parent: str | None) -> None:
        """Record the outcome of ``session`` (what it says is ``kind``), at the time its endpoint reported it."""
        now, reported_at = self.queue.now, session.endpoint.now
        if reported_at == now:  # the short form: the session holds the peer, the SA, the remote peer and the parent
            raw = self.raw  # what EventLog.outcome_of() does, without the call
            try:
                entry = self._reported_as[kind]
            except KeyError:
                entry = _entry(self._reported_as, KIND_OUTCOME_OF, kind, kind.number)
            if session is raw.last_ref:
                entry |= KIND_SAME
            else:
                self._ref(session)
                raw.last_ref = session
            raw.outcome_at.append(len(raw.kinds))
            raw.outcome_ref.append(len(raw.refs) - 1)  # where its session is
            raw.outcome_t.append(now)
            if now == raw.last:
                self._kind(entry)
            else:  # the first event at this time
                self._time(now)
                raw.last = now
                self._kind(entry | KIND_NEW_TIME)
        else:
            self.raw.outcome(now, session.endpoint.name, session.label, kind, session.peer, parent, reported_at)

    def timer(self, session: Session, name: str, detail: str | None = None) -> None:
        """Record that a timer fired."""
        self.raw.timer(self.queue.now, session.endpoint.name, session.label, name, detail)

    def drop(self, endpoint: Endpoint, msg: Message, reason: str, cause: DropCause) -> None:
        """Record a message the endpoint would not accept."""
        self.raw.drop(self.queue.now, endpoint.name, msg.sa, msg.name, msg.sender, reason, cause)

    def timers_changed(self, session: Session, wake: float | None) -> None:
        """Wake the session when it asks; note whether it keeps the run going.

        Wake-ups never keep a run alive by themselves (a superseded one would); sessions that
        wait for an answer do, through ``busy``.
        """
        if session.told:  # what Session.keeps_run_going() says: its endpoint has just worked it out
            self.busy.add(session)
        else:
            self.busy.discard(session)
        if wake is not None:
            self.wake(wake, session)

    def forget(self, ep: Endpoint) -> None:
        """A crashed endpoint's sessions keep nothing going."""
        for session in ep.sessions.values():
            self.busy.discard(session)


def _entry(entries: dict[Any, int], kind: int, value: Any, number: int) -> int:
    """A short form's entry in a log's kinds, made the first time ``value`` is met (``number`` its number)."""
    entry = entries[value] = kind | number << KIND_NUMBER
    return entry


class _PeersOf(AbstractSet[str]):
    """The peers of a run that are instances of some scenario peers (no set of their names: there may be a million)."""

    __slots__ = ("base_of", "bases")

    def __init__(self, base_of: dict[str, str], bases: frozenset[str]) -> None:
        self.base_of = base_of  # run name -> scenario peer
        self.bases = bases

    def __contains__(self, name: object) -> bool:
        return self.base_of.get(name) in self.bases  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[str]:
        return (name for name, base in self.base_of.items() if base in self.bases)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _parents_of(ep: Endpoint) -> dict[str, str]:
    return {label: session.parent.label for label, session in ep.sessions.items() if session.parent is not None}


class Simulation:
    """One run of one scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | None = None, *, events: bool = True) -> None:
        """A run of ``scenario``; ``events=False`` keeps its outcomes alone (an :class:`~sim.trace.OutcomeLog`)."""
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.queue = EventQueue()
        self.raw = EventLog() if events else OutcomeLog()
        self._lost_parents: dict[str, str] = {}  # the parents of child SAs that crashed peers lost
        self._counters: dict[str, int] = {}
        self.names = {name: scenario.instances_of(name) for name in scenario.peers}
        self.base_of: dict[str, str] = hash_keeping_dict()  # a million peers' names: see hash_keeping_dict()
        self.base_of.update((n, base) for base, group in self.names.items() for n in group)
        # Each initiating scenario peer's responder.
        self._target_of = {base: scenario.target_of(base) for base, spec in scenario.peers.items()
                           if spec.role == "initiator"}  # fmt: skip
        # Arrivals are scheduled with the callback bound once (a bound method made at each push cost 48
        # bytes per pending event).
        self._arrive_cb = self._arrive
        self.network = Network(scenario.network, self.rng, self.queue.scheduler(self._arrive_cb), self._net_report,
                               self.queue.at, self.base_of)  # fmt: skip
        self.endpoints: dict[str, Endpoint] = hash_keeping_dict()
        self._makers: dict[str, Callable[[str], Endpoint]] = {}  # scenario peer -> what makes its endpoints
        # Who announces Windows in its vendor IDs (a Windows responder tells those the status itself).
        self.windows_peers = _PeersOf(
            self.base_of, frozenset(b for b, spec in scenario.peers.items() if is_windows(spec.profile, spec.protocol))
        )
        # Scenario peer -> message -> the code its machine fails with.
        self._local_faults: dict[str, dict[str, IkeCode]] = {}
        self._timed: list[tuple[float, str, str]] | None = []  # peer events to schedule at start (None: started)
        # Each fault is installed once: a fault that names a scenario peer reaches every instance
        # of it through the host methods below (no copy of the fault per instance).
        for fault in scenario.faults:
            fault.install(self)
        self._ended_sessions: dict[tuple[str, str], str] = {}
        self._started = False
        # The initiators' first starts not yet in the heap: (time, sequence, endpoint, scenario peer).
        self._feed: Iterator[tuple[float, int, Endpoint, str]] = iter(())
        self._crashed = False  # whether a peer has crashed: a start then finds its endpoint by name
        self._wake_cb = self._wake  # bound once: the run tells a wake-up by its callback
        self.effects = Effects(self.raw, self.queue, self.network, self._wake_cb, self._arrive_cb)
        self.truncated: str | None = None
        with collector_paused():  # a peer per instance: the collector would rescan the growing set again and again
            for base, group in self.names.items():  # each scenario peer's instances, in the order of base_of
                for name in group:
                    self.endpoints[name] = self._endpoint(name, base)

    # --- set-up ------------------------------------------------------------------------------

    def spec_of(self, name: str) -> PeerSpec:
        """The scenario peer a peer of the run is (an instance of)."""
        return self.scenario.peers[self.base_of[name]]

    def _endpoint(self, name: str, base: str) -> Endpoint:
        make = self._makers.get(base)
        if make is None:  # one configuration per scenario peer, shared by its instances (its local faults too)
            local_faults = self._local_faults.get(base)
            spec = self.scenario.peers[base]
            profile = PROFILES[spec.profile]
            options = dict(spec.retransmit)
            configuration = EndpointConfiguration(
                spec.policy, profile.schedule(options), self._label, PROTOCOLS[spec.protocol], COMPILED, self.effects,
                local_faults, responder=profile.responder_rules(options), seed=self.seed,
                windows=name in self.windows_peers, windows_peers=self.windows_peers)  # fmt: skip
            make = self._makers[base] = Endpoint.sharing(configuration, spec.instances)
        return make(name)

    def _label(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}#{n}"

    def _initiate(self, ep: Endpoint, base: str) -> None:
        ep.initiate(self.queue.now, ep.protocol.first_table, self._target_of[base])

    # --- the run -----------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the initiators and the timed faults; :meth:`run` and :meth:`step` call it once."""
        if self._started:
            return
        self._started = True
        queue = self.queue
        # Each initiator's first start takes its place in the order now (the sequence numbers a start
        # per initiator would have had), but enters the heap only when the one before it has run:
        # a million peers never put a million starts in the heap, and every event runs when it did.
        firsts = []
        first = queue.reserve(sum(len(group) for base, group in self.names.items()
                                  if self.scenario.peers[base].role == "initiator"))  # fmt: skip
        # Each start carries its endpoint and its scenario peer: a million peers' table is not searched
        # for them (the endpoints of a scenario peer's instances are in the table in their order).
        endpoints = iter(self.endpoints.values())
        for base, group in self.names.items():
            spec = self.scenario.peers[base]
            mine = list(itertools.islice(endpoints, len(group)))
            if spec.role == "initiator":
                firsts.append((spec.start, first, base, mine))
                first += len(group)
        firsts.sort(key=lambda f: (f[0], f[1]))  # the order the heap would give them: by time, then sequence
        self._feed = ((when, seq + i, ep, base) for when, seq, base, mine in firsts for i, ep in enumerate(mine))
        self._feed_next()
        timed, self._timed = self._timed or [], None
        for when, target, action in timed:  # after the initiators: at equal times they go first
            self._schedule(when, target, action)

    def inject(self, fault: FaultModel) -> None:
        """Add a fault while the run is under way (its times must not lie in the past)."""
        fault.install(self)

    # --- what faults ask of the simulation (sim.faults.FaultHost) ----------------------------

    def add_message_rule(self, fault: MessageFault) -> None:
        """Apply a message fault on the network."""
        self.network.add_rule(fault)

    def add_partition(self, fault: PartitionFault) -> None:
        """Cut links for a time window (between every instance of the peers it lists)."""
        listed = None if fault.peers is None else frozenset(n for p in fault.peers for n in self.run_names(p))
        self.network.add_partition(fault.start, fault.end, listed)

    def silence(self, peer: str, at: float | None, after_message: str | None) -> None:
        """Silence a peer (each instance of it) from a time, or once it has sent a message."""
        for name in self.run_names(peer):
            self.network.silence(name, at, after_message)

    def add_local_fault(self, peer: str, message: str, code: int) -> None:
        """A fault of the peer's machine: part of the machine from the start, so only from the scenario."""
        if self.endpoints:
            raise ValueError("a local fault is part of the peer's machine from the start: give it in the scenario")
        self._local_faults.setdefault(peer, {})[message] = IkeCode(code)  # each instance's, in the shared configuration

    def at(self, when: float, peer: str, action: str) -> None:
        """At ``when``, crash or restart the peer (each instance), or give every SA it has the input ``action``."""
        for name in self.run_names(peer):
            if self._timed is not None:
                self._timed.append((when, name, action))
            else:
                self._schedule(when, name, action)

    def run_names(self, peer: str) -> list[str]:
        """The peers of the run a fault naming ``peer`` applies to: each instance of a scenario peer, or that peer."""
        return self.names.get(peer) or [peer]

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
        if self.raw.events_seen() > self.max_events:
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
        with collector_paused():
            return self._run()

    def _run(self) -> Trace:
        self.start()
        queue = self.queue
        heap = queue._heap
        pop = heapq.heappop
        busy = self.effects.busy
        limits = self.scenario.limits
        until, max_time = limits.until, limits.max_time
        max_events = self.max_events
        raw = self.raw
        kinds = raw.kinds
        far_times = queue._far_times
        wake = self._wake_cb
        while heap or far_times:  # step() and _pending(), inlined: this loop runs once per event
            far = bool(far_times) and (not heap or far_times[0] <= heap[0][0]) and queue.far_first()
            when = far_times[0] if far else heap[0][0]
            if queue.foreground == 0 and not busy and (until is None or when > until):
                break  # nothing in flight and nobody waiting: only lifetimes, idle timers and rekeys remain
            if when > max_time:
                self.truncated = f"max_time {max_time:g} s reached"
                break
            if far:
                if queue.skip_superseded():
                    continue  # the next may now be the heap's
                wake(queue.pop_far()[1])  # due: skip_superseded() dropped those superseded before it
            else:
                when, seq, callback, arg, background = pop(heap)
                if not background:
                    queue.foreground -= 1
                queue.now = when
                if callback is BATCH:  # messages that arrive at this instant, taken here one by one
                    if self._run_batch(when, seq, arg, max_events):
                        break
                    continue
                if callback is not wake or arg.wake_at <= when:
                    callback(arg)
            if len(kinds) + raw.unkept > max_events:  # EventLog.events_seen(), without the call
                self.truncated = f"max_events {max_events} reached"
                break
        return self.trace()

    def _run_batch(self, when: float, seq: int, batch: Batch, max_events: int) -> bool:
        """Run the events of a batch just taken from the heap, in order; True when ``max_events`` cut the run.

        Whatever the batch's events schedule for its time runs after the batch (it has a later
        sequence number), or joins the batch while it is open, and runs here in turn.
        """
        queue, raw = self.queue, self.raw
        kinds = raw.kinds
        args, callback = batch.args, batch.callback
        i = batch.next
        while True:
            arg = args[i]
            args[i] = None  # what was taken is not kept
            i += 1
            callback(arg)
            if len(kinds) + raw.unkept > max_events:
                self.truncated = f"max_events {max_events} reached"
                if i < len(args):  # the rest stays in the queue, in its place
                    batch.next = i
                    heappush(queue._heap, (when, seq, BATCH, batch, False))
                    queue._batched -= 1
                return True
            if i == len(args):
                break
            queue.foreground -= 1
            queue._batched -= 1
        batch.next = i
        if batch is queue._open:
            queue._open = None  # what comes later for this time starts a new batch
        return False

    def trace(self) -> Trace:
        """The trace so far."""
        raw = self.raw
        return Trace(
            self.scenario.name,
            self.seed,
            self.scenario.peer_facts(self.names),
            description=self.scenario.description,
            end=raw.last_time(),
            truncated=self.truncated,
            raw=raw,
            parents=self.parents,  # made when the trace first needs it
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

    def _feed_next(self) -> None:
        """Put the next initiator's first start in the heap, with the sequence number it was given."""
        following = next(self._feed, None)
        if following is not None:
            when, seq, ep, base = following
            self.queue.at_seq(when, seq, self._start, (ep, base, 0))

    def _start(self, arg: tuple[Endpoint, str, int]) -> None:
        ep, base, index = arg
        if index == 0:
            self._feed_next()  # the next first start, before anything this one schedules
        spec = self.scenario.peers[base]
        if index + 1 < spec.connections:  # each start schedules the next: the heap stays small
            self.queue.at(spec.start + (index + 1) * spec.interval, self._start, (ep, base, index + 1))
        if self._crashed:  # the endpoint it carries may be one a crash replaced
            ep = self.endpoints[ep.name]
        if ep.name not in self.network.down:
            self._initiate(ep, base)

    def _arrive(self, msg: Message) -> None:
        now = self.queue.now
        receiver = msg.receiver
        network = self.network
        if (network.down or network.silent_from) and receiver in network.down:
            self.raw.drop(now, receiver, msg.sa, msg.name, msg.sender, f"{receiver} is down", DropCause.DOWN)
            return
        if network.silent_from and network.silent(receiver, now):
            self.raw.drop(now, receiver, msg.sa, msg.name, msg.sender, f"{receiver} is silent", DropCause.SILENT)
            return
        raw = self.raw
        origin = msg.origin
        # The session that sent it, where it goes to that session's peer under its SA (else None); then
        # the receiver's session of that SA, where the two are linked (Session.twin): no search for it.
        sending = origin if origin is not None and receiver is origin.peer and msg.sa is origin.label else None
        twin = sending.twin if sending is not None else None
        if twin is not None and (twin is sending or twin.twin is not sending):  # linked_twin(), without the call
            twin = None
        if not self.effects.keeps:
            raw.unkept += 1
        else:
            kept: Session | None = None  # the session a short form keeps, if the event has one
            if sending is not None and msg.corrupt is None and msg.sender is sending.endpoint.name:
                if twin is not None:  # the session that takes it: its endpoint, label and peer were when linked
                    kept, entries, kind = twin, self.effects._taken_as, KIND_RECV_AT
                else:  # the session that sent it
                    kept, entries, kind = sending, self.effects._received_as, KIND_RECV_OF
            if kept is None:
                raw.recv(now, receiver, msg.sa, msg.name, msg.sender, msg.corrupt)
            else:
                try:
                    entry = entries[msg.name]
                except KeyError:
                    entry = _entry(entries, kind, msg.name, number(msg.name))
                if kept is raw.last_ref:
                    entry |= KIND_SAME
                else:
                    raw.refs.append(kept)
                    raw.last_ref = kept
                if now == raw.last:
                    raw.kinds.append(entry)
                else:  # the first event at this time
                    raw.times.append(now)
                    raw.last = now
                    raw.kinds.append(entry | KIND_NEW_TIME)
        if twin is not None:
            twin.endpoint.receive(now, msg, twin)
        elif sending is not None:
            link_twins(sending, self.endpoints[receiver].receive(now, msg))  # found by name and label, then linked
        else:
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
            session.twin = session  # gone with its endpoint: messages for it go to the one that restarts
        self._lost_parents.update(_parents_of(ep))
        self.network.crash(name)
        self.effects.forget(ep)
        self.raw.timer(now, name, None, "crash", f"{len(ep.sessions)} SAs lost")
        self.endpoints[name] = self._endpoint(name, self.base_of[name])  # the state the peer restarts with: empty
        self._crashed = True

    def _restart(self, name: str) -> None:
        self.network.restart(name)
        self.raw.timer(self.queue.now, name, None, "restart", None)
        base = self.base_of[name]
        if self.scenario.peers[base].role == "initiator":
            self._initiate(self.endpoints[name], base)

    def _fire_all(self, arg: tuple[str, str]) -> None:
        name, trigger = arg
        if name in self.network.down:
            return
        ep = self.endpoints[name]
        self.raw.timer(self.queue.now, name, None, trigger.replace("_", " "), None)
        ep.fire_all(self.queue.now, trigger)

    def _net_report(self, msg: Message, reason: str, cause: DropCause) -> None:
        """The network lost a message: record it at its receiver, with why."""
        self.raw.drop(self.queue.now, msg.receiver, msg.sa, msg.name, msg.sender, reason, cause)
