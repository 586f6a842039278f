"""Every machine, every state, every input: a legal next state or a typed error; both executors agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import Machine

from sim.conditions import Condition
from sim.enums import Role
from sim.protocol.policy import Policy
from sim.protocol.registry import COMPILED, PROTOCOLS, SESSION_CLASS, TABLES
from sim.protocol.schedule import Schedule
from sim.protocol.session import Endpoint, EndpointConfiguration, Message, Outcome, Session
from sim.protocol.table import IllegalInput, fire_reference

SCHEDULE = Schedule((1.0, 3.0), 7.0)
PROTOCOL_OF = {t.name: p for p in PROTOCOLS.values() for t in p.tables}
MESSAGE_NAMES = sorted(
    {name for p in PROTOCOLS.values() for name in [*p.next_message, *p.next_message.values(), *p.payloads]}
    | {"INFO NOTIFY", "INFO DELETE"}
)
NAME_OF_TRIGGER = {Message(n, "", "", "", Policy()).trigger: n for n in MESSAGE_NAMES}
NAME_OF_TRIGGER.update({"recv_NOTIFY": "INFO NOTIFY", "recv_DELETE": "INFO DELETE"})


def test_every_receive_trigger_has_a_message():
    for table in TABLES.values():
        for trigger in table.triggers:
            assert not trigger.startswith("recv_") or trigger in NAME_OF_TRIGGER, (table.name, trigger)


def _session(table_name: str, state: str, role: Role, heard: bool, policy: Policy) -> Session:
    ep = Endpoint("me", EndpointConfiguration(policy, SCHEDULE, lambda prefix: f"{prefix}#9", PROTOCOL_OF[table_name],
                                              COMPILED))  # fmt: skip
    ep.now = 5.0
    session = SESSION_CLASS[table_name](ep, COMPILED[table_name], "SA#1", role, "peer", None)
    session.state = state
    session.heard = heard
    session.last_sent = Message("MM1", "SA#1", "me", "peer", policy)
    session.schedule = ep.schedule_for(session, "MM1")  # as if it had sent MM1 and waited for an answer
    return session


def _comparable(effect: tuple[Any, ...]) -> tuple[Any, ...]:
    out = []
    for item in effect:
        if isinstance(item, Session):
            out.append(("session", item.label, item.state, item.deadline))
        elif isinstance(item, Message):
            out.append(("message", item.name, item.sa, item.condition))
        elif isinstance(item, Outcome):
            out.append(("outcome", item.code, item.state, item.failure_point, item.ends, item.condition))
        else:
            out.append(item)
    return tuple(out)


def _apply(executor: str, table_name: str, state: str, trigger: str, role: Role, heard: bool, policy: Policy,
           body: Policy, corrupt: str | None, notified: Condition) -> tuple[Any, ...]:  # fmt: skip
    session = _session(table_name, state, role, heard, policy)
    msg = None
    if trigger in NAME_OF_TRIGGER:
        msg = Message(NAME_OF_TRIGGER[trigger], "SA#1", "peer", "me", body, condition=notified, trigger=trigger)
        msg.corrupt = corrupt
        msg.child = "CHILD#7"
    try:
        if executor == "compiled":
            session.fire(trigger, msg)
        else:
            fire_reference(session.table, SESSION_CLASS[table_name], session, trigger, msg)
    except IllegalInput as error:
        assert session.state == state, "illegal input must leave the state unchanged"
        assert session.endpoint.sink.effects == [], "illegal input must have no effect"
        return ("illegal", error.state, error.trigger)
    return ("fired", session.state, [_comparable(e) for e in session.endpoint.sink.effects])


policies = st.builds(
    Policy,
    auth=st.sampled_from(["psk", "certificate"]),
    psk=st.sampled_from(["a", "b"]),
    certificate=st.sampled_from(["valid", "missing", "untrusted", "revoked"]),
    liveness_interval=st.sampled_from([None, 30.0]),
)
cases = st.sampled_from(sorted(TABLES)).flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.sampled_from([s.name for s in TABLES[name].states]),
        st.sampled_from(TABLES[name].triggers),
    )
)


@given(
    case=cases,
    role=st.sampled_from(list(Role)),
    heard=st.booleans(),
    policy=policies,
    body=policies,
    corrupt=st.sampled_from([None, "cookie", "message_id", "payload", "header", "version"]),
    notified=st.sampled_from([Condition.NO_PROPOSAL_CHOSEN, Condition.AUTH_FAILED, Condition.SHUTTING_DOWN]),
)
def test_every_input_in_every_state_is_legal_or_a_typed_error_and_executors_agree(
    case, role, heard, policy, body, corrupt, notified
):
    table_name, state, trigger = case
    fast = _apply("compiled", table_name, state, trigger, role, heard, policy, body, corrupt, notified)
    reference = _apply("transitions", table_name, state, trigger, role, heard, policy, body, corrupt, notified)
    assert fast == reference
    if fast[0] == "fired":
        assert fast[1] in {s.name for s in TABLES[table_name].states}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_exhaustively_every_state_and_trigger(name):
    table = TABLES[name]
    for state in table.states:
        for trigger in table.triggers:
            for heard in (False, True):
                args = (name, state.name, trigger, Role.INITIATOR, heard, Policy(), Policy(), None,
                        Condition.NO_PROPOSAL_CHOSEN)  # fmt: skip
                assert _apply("compiled", *args) == _apply("transitions", *args)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_terminal_states_accept_nothing_and_every_state_is_reachable(name):
    table = TABLES[name]
    reachable = {table.initial}
    for _ in table.states:
        for r in table.rows:
            if reachable & set(r.sources) and r.dest is not None:
                reachable.add(r.dest)
    assert reachable == {s.name for s in table.states}
    for r in table.rows:
        assert not any(table.state(s).terminal for s in r.sources)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_row_that_enters_a_terminal_state_reports(name):
    table = TABLES[name]
    for r in table.rows:
        if r.dest is not None and table.state(r.dest).terminal:
            assert r.report is not None and "report" in r.actions, r


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_transitions_machine_is_the_table(name):
    table = TABLES[name]
    machine = table.machine(SESSION_CLASS[name])
    assert isinstance(machine, Machine)
    assert list(machine.states) == [s.name for s in table.states]
    pairs = {(t, src) for t, ev in machine.events.items() for src in ev.transitions}
    assert pairs == {(r.trigger, s) for r in table.rows for s in r.sources}
