"""Faults: each kind is one class that owns its schema, its behaviour and its Hypothesis strategy.

A fault kind is a pydantic model (what a scenario may write, validated with every problem and
its line), an :meth:`~FaultModel.install` that tells the simulator what to do through the
:class:`FaultHost` interface (message faults also :meth:`~MessageFault.apply` to each matching
message on the wire), and a :meth:`~FaultModel.strategy` that draws valid fault data for the
testing kit. :data:`FAULT_KINDS` is read by the scenario loader, the simulator, the testing kit
and the docs, so a kind cannot exist in one of them and be missing in another. Adding a kind is
one class here and one entry in the :data:`Fault` union.
"""

from __future__ import annotations

import typing
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from sim import codes
from sim.protocol.registry import PROTOCOLS
from sim.schema_types import CodeRef, MessageName, PositiveTime, Strict, catalog_code

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Every message name ikesim sends, in any protocol: a fault must be able to match one of them.
MESSAGE_NAMES = tuple(sorted({name for spec in PROTOCOLS.values() for name in spec.payloads}))


def known_message(value: str) -> str:
    """``value`` when it names (or, as a glob, matches) a message ikesim sends; else a ValueError saying so."""
    if value != "*" and not any(fnmatchcase(name, value) for name in MESSAGE_NAMES):
        raise ValueError(f"{value!r} matches no message ikesim sends; messages: {', '.join(MESSAGE_NAMES)}")
    return value


# Messages the strategies aim message faults at: each protocol's, and wildcards.
STRATEGY_MESSAGES = ("*", "MM1", "MM2", "MM3", "MM4", "MM5", "MM6", "QM*", "IKE_SA_INIT*", "IKE_AUTH*", "AuthIP MM*")
# Messages an initiator sends, where a local fault of its machine can strike.
INITIATOR_MESSAGES = ("MM1", "MM3", "MM5", "QM1", "QM3", "AuthIP MM1", "AuthIP MM3", "IKE_SA_INIT request",
                      "IKE_AUTH request")  # fmt: skip


class FaultHost(Protocol):
    """What the simulator offers faults: the network's rules, a peer's machine, and its clock."""

    def add_message_rule(self, fault: MessageFault) -> None:
        """Apply ``fault`` to every message on the wire that it matches."""

    def add_partition(self, fault: PartitionFault) -> None:
        """Cut the links between peers for a time window."""

    def silence(self, peer: str, at: float | None, after_message: str | None) -> None:
        """Silence a peer from a time, or once it has sent a message."""

    def add_local_fault(self, peer: str, message: str, code: int) -> None:
        """Make the peer's machine fail with ``code`` when it handles or sends ``message``."""

    def at(self, when: float, peer: str, action: str) -> None:
        """At ``when``, do ``action`` to the peer: ``crash``, ``restart``, or an input to all its SAs."""


class Delivery:
    """What becomes of one message on the wire: its copies with their extra delay, held, or dropped."""

    __slots__ = ("copies", "dropped", "hold")

    def __init__(self, msg: Any) -> None:
        self.copies: list[tuple[Any, float]] = [(msg, 0.0)]
        self.hold = False  # wait for a later message to overtake it
        self.dropped: str | None = None  # why it was dropped


def _times(horizon: float) -> SearchStrategy[float]:
    from hypothesis import strategies as st

    return st.floats(0.0, horizon, allow_nan=False).map(lambda t: round(t, 3))


class FaultModel(Strict):
    """A fault of a scenario: its kind, the peers it names, what it does, and how to draw one."""

    kind: str
    # The protocol whose two-peer run this kind visibly changes (used to show that it does).
    example_protocol: ClassVar[str] = "ikev1"
    peers_key: ClassVar[str] = "peer"  # the key under which a scenario names the fault's peers

    def named_peers(self) -> list[str]:
        """The peers of the scenario this fault names."""
        return []

    def for_instances(self, names: dict[str, list[str]]) -> list[FaultModel]:
        """The fault on the peers of a run, where a scenario peer stands for several instances."""
        return [self]

    def install(self, host: FaultHost) -> None:
        """Tell the simulator what to do."""
        raise NotImplementedError

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Valid data of this kind (as a scenario file writes it) on these peers, before ``horizon``."""
        raise NotImplementedError

    @classmethod
    def example(cls) -> dict[str, Any]:
        """A fault of this kind that changes a two-peer run of :attr:`example_protocol`."""
        raise NotImplementedError


class MessageFault(FaultModel):
    """A fault on the messages that match: by name (a glob), by sender, from the nth on."""

    peers_key: ClassVar[str] = "from"
    message: MessageName = "*"
    sender: str | None = Field(default=None, alias="from", description="only messages sent by this peer")
    nth: Annotated[int, Field(ge=1)] = 1
    count: Annotated[int, Field(ge=0, description="how many matching messages from the nth on; 0: all")] = 1

    _message_is_known = field_validator("message")(known_message)

    def named_peers(self) -> list[str]:
        """The sender it is limited to, if any."""
        return [self.sender] if self.sender is not None else []

    def matches(self, name: str, sender: str) -> bool:
        """True when a message of this name from this (scenario) peer is one the fault looks at."""
        if self.sender is not None and sender != self.sender:
            return False
        return self.message == "*" or fnmatchcase(name, self.message)

    def install(self, host: FaultHost) -> None:
        """A rule of the network."""
        host.add_message_rule(self)

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """Change what becomes of ``msg``, the ``n``-th message this fault matched."""
        raise NotImplementedError

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which message, from which on, how many."""
        from hypothesis import strategies as st

        return cls._base(nth=st.integers(1, 3), count=st.integers(0, 2))

    @classmethod
    def _base(cls, **more: SearchStrategy[Any]) -> SearchStrategy[dict[str, Any]]:
        from hypothesis import strategies as st

        kind = typing.get_args(cls.model_fields["kind"].annotation)[0]
        return st.fixed_dictionaries({"kind": st.just(kind), "message": st.sampled_from(STRATEGY_MESSAGES), **more})


class DropFault(MessageFault):
    """Drop the nth matching message (and the count - 1 after it)."""

    kind: Literal["drop"]

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """Lose it."""
        delivery.dropped = f"fault: drop ({msg.name} #{n})"

    @classmethod
    def example(cls) -> dict[str, Any]:
        """MM1 lost once: the initiator sends it again."""
        return {"kind": "drop", "message": "MM1"}


class DuplicateFault(MessageFault):
    """Deliver the matching message twice."""

    kind: Literal["duplicate"]

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """One more copy, at the same time."""
        delivery.copies.append((msg, 0.0))

    @classmethod
    def example(cls) -> dict[str, Any]:
        """MM3 twice: the responder answers the duplicate."""
        return {"kind": "duplicate", "message": "MM3"}


class DelayFault(MessageFault):
    """Deliver the matching message ``delay`` seconds late."""

    kind: Literal["delay"]
    delay: Annotated[float, Field(gt=0, allow_inf_nan=False)]

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """Every copy later."""
        delivery.copies = [(m, extra + self.delay) for m, extra in delivery.copies]

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which message, and a delay below, near or past a retransmission."""
        from hypothesis import strategies as st

        return cls._base(delay=st.sampled_from([0.5, 2.0, 30.0]))

    @classmethod
    def example(cls) -> dict[str, Any]:
        """MM2 late: the initiator resends MM1 first."""
        return {"kind": "delay", "message": "MM2", "delay": 2.0}


class ReorderFault(MessageFault):
    """Hold the matching message and deliver it just after the next message on the same path."""

    kind: Literal["reorder"]

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """Hold it for a later message to overtake."""
        delivery.hold = True

    @classmethod
    def example(cls) -> dict[str, Any]:
        """MM1 held until nothing overtakes it."""
        return {"kind": "reorder", "message": "MM1"}


class ReplayFault(MessageFault):
    """Deliver a copy of the matching message again ``after`` seconds later."""

    kind: Literal["replay"]
    after: Annotated[float, Field(gt=0, allow_inf_nan=False)]

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """A copy, later."""
        delivery.copies.append((msg.copy(), self.after))

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which message, replayed soon or late."""
        from hypothesis import strategies as st

        return cls._base(after=st.sampled_from([1.0, 10.0]))

    @classmethod
    def example(cls) -> dict[str, Any]:
        """MM1 again after the negotiation went on."""
        return {"kind": "replay", "message": "MM1", "after": 1.0}


class CorruptFault(MessageFault):
    """Corrupt one field of the matching message."""

    kind: Literal["corrupt"]
    field: Literal["cookie", "message_id", "payload", "header", "version"]

    def apply(self, delivery: Delivery, msg: Any, n: int) -> None:
        """Every copy damaged (a copy: the sender's message stays whole)."""
        damaged = []
        for m, extra in delivery.copies:
            twin = m.copy()
            twin.corrupt = self.field
            damaged.append((twin, extra))
        delivery.copies = damaged

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which message, and which part of it."""
        from hypothesis import strategies as st

        return cls._base(field=st.sampled_from(["cookie", "message_id", "payload", "header", "version"]))

    @classmethod
    def example(cls) -> dict[str, Any]:
        """A damaged MM3 payload."""
        return {"kind": "corrupt", "message": "MM3", "field": "payload"}


class PeerFault(FaultModel):
    """A fault of one peer; on a peer with several instances, of each instance."""

    peer: str

    def named_peers(self) -> list[str]:
        """The peer."""
        return [self.peer]

    def for_instances(self, names: dict[str, list[str]]) -> list[FaultModel]:
        """One fault per instance of the peer."""
        return [self.model_copy(update={"peer": n}) for n in names[self.peer]]


class TimedPeerFault(PeerFault):
    """Something that happens to a peer at a time: an input to every SA it has."""

    at: PositiveTime
    trigger: ClassVar[str]
    example_peer: ClassVar[str] = "client"

    def install(self, host: FaultHost) -> None:
        """Give every SA of the peer this input at ``at``."""
        host.at(self.at, self.peer, self.trigger)

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which peer, and when."""
        from hypothesis import strategies as st

        kind = typing.get_args(cls.model_fields["kind"].annotation)[0]
        return st.fixed_dictionaries({"kind": st.just(kind), "peer": st.sampled_from(peers), "at": _times(horizon)})

    @classmethod
    def example(cls) -> dict[str, Any]:
        """At 1 s, once the SAs are up, at :attr:`example_peer`."""
        return {"kind": typing.get_args(cls.model_fields["kind"].annotation)[0], "peer": cls.example_peer, "at": 1.0}


class SilenceFault(PeerFault):
    """From a time, or once the peer has sent a message, nothing reaches or leaves the peer."""

    kind: Literal["silence"]
    at: PositiveTime | None = None
    after_message: str | None = Field(default=None, description="silent once the peer has sent this message")

    @field_validator("after_message")
    @classmethod
    def _after_a_known_message(cls, value: str | None) -> str | None:
        return None if value is None else known_message(value)

    @model_validator(mode="after")
    def _one_trigger(self) -> SilenceFault:
        if (self.at is None) == (self.after_message is None):
            raise ValueError("give exactly one of 'at' or 'after_message'")
        return self

    def install(self, host: FaultHost) -> None:
        """The network silences the peer."""
        host.silence(self.peer, self.at, self.after_message)

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which peer, and from when."""
        from hypothesis import strategies as st

        return st.fixed_dictionaries({"kind": st.just("silence"), "peer": st.sampled_from(peers),
                                      "at": _times(horizon)})  # fmt: skip

    @classmethod
    def example(cls) -> dict[str, Any]:
        """The gateway silent once it has sent MM2."""
        return {"kind": "silence", "peer": "gateway", "after_message": "MM2"}


class PartitionFault(FaultModel):
    """Between ``start`` and ``end`` no message crosses between the listed peers (all peers if none)."""

    kind: Literal["partition"]
    peers_key: ClassVar[str] = "peers"
    start: PositiveTime
    end: PositiveTime
    peers: list[str] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PartitionFault:
        if self.end <= self.start:
            raise ValueError("'end' must come after 'start'")
        return self

    def named_peers(self) -> list[str]:
        """The peers it cuts off from each other (none named: all)."""
        return list(self.peers or ())

    def for_instances(self, names: dict[str, list[str]]) -> list[FaultModel]:
        """The same window, naming every instance of the listed peers."""
        if self.peers is None:
            return [self]
        return [self.model_copy(update={"peers": [n for p in self.peers for n in names[p]]})]

    def cuts(self, now: float, sender: str, receiver: str) -> bool:
        """True when nothing passes between these two peers of the run at this time."""
        listed = self.peers
        return self.start <= now < self.end and (listed is None or (sender in listed and receiver in listed))

    def install(self, host: FaultHost) -> None:
        """The network cuts the links in the window."""
        host.add_partition(self)

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """A window of 0.1 to 100 s starting before ``horizon``."""
        from hypothesis import strategies as st

        return st.builds(lambda s, n: {"kind": "partition", "start": s, "end": round(s + n, 3)}, _times(horizon),
                         st.floats(0.1, 100.0).map(lambda n: round(n, 3)))  # fmt: skip

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Three seconds without a link from the start."""
        return {"kind": "partition", "start": 0.0, "end": 3.0}


class CrashFault(PeerFault):
    """The peer crashes at ``at`` (losing every SA) and, optionally, restarts empty at ``restart_at``."""

    kind: Literal["crash"]
    at: PositiveTime
    restart_at: PositiveTime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CrashFault:
        if self.restart_at is not None and self.restart_at <= self.at:
            raise ValueError("'restart_at' must come after 'at'")
        return self

    def install(self, host: FaultHost) -> None:
        """A crash, and a restart if there is one."""
        host.at(self.at, self.peer, "crash")
        if self.restart_at is not None:
            host.at(self.restart_at, self.peer, "restart")

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which peer, when, and whether it comes back."""
        from hypothesis import strategies as st

        return st.builds(
            lambda p, t, d: {"kind": "crash", "peer": p, "at": t, **({"restart_at": round(t + d, 3)} if d else {})},
            st.sampled_from(peers),
            _times(horizon),
            st.none() | st.floats(0.1, 60.0),
        )

    @classmethod
    def example(cls) -> dict[str, Any]:
        """The gateway gone after MM2."""
        return {"kind": "crash", "peer": "gateway", "at": 0.007}


class DeleteFault(TimedPeerFault):
    """At ``at`` the peer deletes every SA it has, on request (an RPC call), and tells its peers."""

    kind: Literal["delete"]
    trigger: ClassVar[str] = "admin_delete"


class PolicyChangeFault(TimedPeerFault):
    """At ``at`` a new policy reaches the peer and invalidates every SA formed with the old one."""

    kind: Literal["policy_change"]
    trigger: ClassVar[str] = "policy_change"
    example_peer: ClassVar[str] = "gateway"


class AddressChangeFault(TimedPeerFault):
    """At ``at`` the peer's address changes: MOBIKE moves its IKEv2 SAs, or they end with 13904."""

    kind: Literal["address_change"]
    trigger: ClassVar[str] = "address_change"
    example_protocol: ClassVar[str] = "ikev2"


class LocalFault(PeerFault):
    """A fault of the peer's own machine when it handles or sends ``at``: it reports ``code``."""

    kind: Literal["local"]
    at: MessageName
    code: CodeRef

    _at_is_known = field_validator("at")(known_message)

    @field_validator("code")
    @classmethod
    def _catalog_code(cls, value: int | str) -> int:
        code = catalog_code(value)
        if code in codes.MARKERS:
            raise ValueError(f"{value} is a range marker, not a failure a machine can have")
        return code

    def install(self, host: FaultHost) -> None:
        """Part of the peer's machine from the start."""
        host.add_local_fault(self.peer, self.at, int(self.code))

    @classmethod
    def strategy(cls, peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
        """Which peer, at which message, with which code of the catalog."""
        from hypothesis import strategies as st

        failures = [entry.code for entry in codes.all_codes() if not entry.marker]
        return st.fixed_dictionaries({"kind": st.just("local"), "peer": st.sampled_from(peers),
                                      "at": st.sampled_from(INITIATOR_MESSAGES),
                                      "code": st.sampled_from(failures)})  # fmt: skip

    @classmethod
    def example(cls) -> dict[str, Any]:
        """The client's machine runs out of memory sending MM3."""
        return {"kind": "local", "peer": "client", "at": "MM3", "code": "OUT_OF_MEMORY"}


Fault = Annotated[
    DropFault
    | DuplicateFault
    | DelayFault
    | ReorderFault
    | ReplayFault
    | CorruptFault
    | SilenceFault
    | PartitionFault
    | CrashFault
    | DeleteFault
    | PolicyChangeFault
    | AddressChangeFault
    | LocalFault,
    Field(discriminator="kind"),
]

FAULT_KINDS: dict[str, type[FaultModel]] = {
    typing.get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in typing.get_args(typing.get_args(Fault)[0])
}


def faults_strategy(peers: tuple[str, ...], horizon: float) -> SearchStrategy[dict[str, Any]]:
    """Fault data of every kind, on these peers, before ``horizon``."""
    from hypothesis import strategies as st

    return st.one_of([cls.strategy(peers, horizon) for cls in FAULT_KINDS.values()])
