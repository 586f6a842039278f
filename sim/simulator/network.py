"""The network between peers: latency, jitter, seeded loss, and the injected message faults.

It sees messages only as objects with ``name``, ``sender`` and ``receiver`` (and ``copy()`` and
``corrupt`` for the corrupt fault): it does not know which protocol it carries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sim.enums import DropCause
from sim.faults import Delivery, MessageFault
from sim.scenario import NetworkSpec

# The network reports each message it lost through this callback: (message, reason, cause).
Report = Callable[[Any, str, DropCause], None]
Deliver = Callable[[float, Any], None]
Later = Callable[[float, Callable[[Any], None], Any], None]

REORDER_HOLD = 1.0  # a reordered message waits at most this long for a message to overtake it


class _Rule:
    """A message fault with its own count of the messages it matched."""

    __slots__ = ("base_of", "fault", "seen")

    def __init__(self, fault: MessageFault, base_of: dict[str, str]) -> None:
        self.fault = fault
        self.base_of = base_of
        self.seen = 0

    def due(self, msg: Any) -> bool:
        """Count the message if it matches; True when it is one the fault applies to."""
        f = self.fault
        if not f.matches(msg.name, self.base_of.get(msg.sender, msg.sender)):
            return False
        self.seen += 1
        return self.seen >= f.nth and (f.count == 0 or self.seen < f.nth + f.count)


class Network:
    """Carries messages from peer to peer through the faults of a scenario."""

    __slots__ = (
        "_cuts",
        "_held",
        "_rules",
        "_silence_after",
        "base_of",
        "deliver",
        "down",
        "latency",
        "later",
        "plain",
        "report",
        "rng",
        "silent_from",
        "spec",
    )

    def __init__(
        self,
        spec: NetworkSpec,
        rng: random.Random,
        deliver: Deliver,
        report: Report,
        later: Later,
        base_of: dict[str, str] | None = None,
    ) -> None:
        self.base_of = base_of or {}  # a peer's scenario name (client-3 -> client), for faults "from" it
        self.spec = spec
        self.rng = rng
        self.deliver = deliver  # schedules the arrival of a message at a time
        self.report = report
        self.later = later  # schedules a callback of the network's own
        self._rules: list[_Rule] = []
        # Partitions: (start, end, the peers of the run it cuts off from each other, None: all), a set
        # so that a partition naming a peer of many instances costs the same per message as any other.
        self._cuts: list[tuple[float, float, frozenset[str] | None]] = []
        self.silent_from: dict[str, float] = {}
        self._silence_after: dict[str, str | None] = {}
        self.down: set[str] = set()  # crashed peers (changed through crash() and restart())
        self._held: dict[tuple[str, str], list[tuple[Any, float]]] = {}
        self.latency = spec.latency
        self.plain = True  # nothing between the peers but latency: the fast path of send()
        self._check_plain()

    def _check_plain(self) -> None:
        """Note whether every message simply arrives after the latency (no fault, loss, jitter, crash or silence)."""
        spec = self.spec
        self.plain = not (self._rules or self._cuts or self.silent_from or self._silence_after or self.down
                           or spec.loss or spec.jitter)  # fmt: skip

    def crash(self, peer: str) -> None:
        """The peer is down: nothing reaches or leaves it until it restarts."""
        self.down.add(peer)
        self.plain = False

    def restart(self, peer: str) -> None:
        """The peer is up again."""
        self.down.discard(peer)
        self._check_plain()

    def add_rule(self, fault: MessageFault) -> None:
        """Apply a message fault to the messages it matches from now on."""
        self._rules.append(_Rule(fault, self.base_of))
        self.plain = False

    def add_partition(self, start: float, end: float, peers: frozenset[str] | None) -> None:
        """Cut the links between these peers (all peers: None) from ``start`` until ``end``."""
        self._cuts.append((start, end, peers))
        self.plain = False

    def silence(self, peer: str, at: float | None, after_message: str | None) -> None:
        """Silence a peer from a time, or once it has sent a message."""
        if at is not None:
            self.silent_from[peer] = min(at, self.silent_from.get(peer, at))
        else:
            self._silence_after[peer] = after_message
        self.plain = False

    def silent(self, peer: str, now: float) -> bool:
        """True when the peer is silenced at this time."""
        start = self.silent_from.get(peer)
        return start is not None and now >= start

    def blocked(self, now: float, sender: str, receiver: str) -> tuple[str, DropCause] | None:
        """Why nothing can pass between these peers now, or None."""
        for peer in (sender, receiver):
            if peer in self.down:
                return f"{peer} is down", DropCause.DOWN
            if self.silent(peer, now):
                return f"{peer} is silent", DropCause.SILENT
        for start, end, listed in self._cuts:
            if start <= now < end and (listed is None or (sender in listed and receiver in listed)):
                return f"network partition until {end:g} s", DropCause.LOST
        return None

    def send(self, now: float, msg: Any) -> None:
        """Put a message on the wire at time ``now``."""
        if self.plain:  # a scenario without faults, loss or jitter pays for none of them
            self.deliver(now + self.spec.latency, msg)
            return
        blocked = self.blocked(now, msg.sender, msg.receiver)
        if blocked is not None:
            self.report(msg, *blocked)
            return
        if self._silence_after.get(msg.sender) == msg.name:
            del self._silence_after[msg.sender]
            self.silent_from[msg.sender] = now  # this message still leaves; nothing after it
        copies: list[tuple[Any, float]] = [(msg, 0.0)]
        hold = False
        if self._rules:  # a scenario without message faults pays nothing here
            delivery = Delivery(msg)
            for rule in self._rules:
                if rule.due(msg):
                    rule.fault.apply(delivery, msg, rule.seen)
                    if delivery.dropped is not None:
                        self.report(msg, delivery.dropped, DropCause.LOST)
                        return
            copies, hold = delivery.copies, delivery.hold
        if self.spec.loss and self.rng.random() < self.spec.loss:
            self.report(msg, "random loss", DropCause.LOST)
            return
        path = (msg.sender, msg.receiver)
        if hold:
            waiting = self._held.setdefault(path, [])
            if not waiting:
                release = now + self.spec.latency + REORDER_HOLD
                self.later(release, self._release, (path, waiting, release))
            waiting.extend(copies)
            return
        base = now + self.spec.latency
        for m, extra in copies:
            jitter = self.spec.jitter * self.rng.random() if self.spec.jitter else 0.0
            self.deliver(base + jitter + extra, m)
        held = self._held.pop(path, None)
        if held:
            for m, extra in held:  # overtaken: arrives just after the message that passed it
                self.deliver(base + extra, m)

    def _release(self, arg: tuple[tuple[str, str], list[tuple[Any, float]], float]) -> None:
        """Nothing overtook the held messages in time: deliver them now."""
        path, waiting, now = arg
        if self._held.get(path) is waiting:
            del self._held[path]
            for m, extra in waiting:
                self.deliver(now + extra, m)
