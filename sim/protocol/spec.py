"""What makes a protocol: its tables and the hooks an endpoint calls. The endpoint itself is generic."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim.conditions import Condition
from sim.protocol.table import Table

if TYPE_CHECKING:
    from sim.protocol.session import Endpoint, Message, Session

Check = Callable[["Endpoint", "Session", "Message | None", "str | None", "str | None"], "Condition | None"]
Hook = Callable[["Endpoint", "Session"], None]


def _nothing(endpoint: Endpoint, session: Session) -> None:
    return None


@dataclass(frozen=True)
class ProtocolSpec:
    """A protocol as the endpoint sees it."""

    name: str
    tables: tuple[Table, ...]
    first_table: str  # what an initiator starts
    first_messages: Mapping[str, str]  # a message that opens a session at the responder -> its table
    first_sent: Mapping[str, str]  # table -> the first message its initiator sends
    next_message: Mapping[str, str]  # a received message -> the one this peer sends next
    prefixes: Mapping[str, str]  # table -> SA label prefix (MM, QM, EM, IKE, CHILD)
    notify_types: Mapping[Condition, tuple[str, int, Condition]]  # announced: notify name, number, what it says
    notify_message: Callable[[Session, Message | None], tuple[str, str]]  # (message name, its trigger)
    delete_message: tuple[str, str]  # (message name, its trigger)
    check: Check  # the protocol's own checks of an input (after corruption and local faults)
    on_established: Hook = _nothing  # what a peer does once an SA of this protocol is up
    responder_retransmits: bool = True  # IKEv1 and AuthIP responders do; IKEv2 responders never
    children_end_with_parent: bool = False  # IKEv2 child SAs go with their IKE SA
    payloads: Mapping[str, str] = field(default_factory=dict)  # message -> its payloads, for traces and pcaps
    delete_answer: str | None = None  # the response a delete gets (IKEv2); the deleting SA takes it once gone
    stateless: Mapping[Condition, bool] = field(default_factory=dict)  # refused keeping no state -> answered?
    keys_from_psk: bool = False  # IKEv1 and AuthIP: a pre-shared key keys the encryption (SKEYID, RFC 2409 5)
    decorate: Callable[[Endpoint, Session, Message, Message | None], None] | None = None  # fill a message in
    session_class: type | None = None  # a Session subclass with the protocol's own actions
