"""Every fault kind owns its schema, its behaviour and its strategy, and each one changes a run."""

from __future__ import annotations

import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.faults import FAULT_KINDS, Fault, FaultModel, MessageFault
from sim.scenario import ScenarioError, parse_scenario


def _two_peers(protocol: str, faults: list[dict[str, typing.Any]]) -> dict[str, typing.Any]:
    peers = {
        "client": {"role": "initiator", "protocol": protocol},
        "gateway": {"role": "responder", "protocol": protocol},
    }
    return {"name": "fault-kind", "peers": peers, "faults": faults, "limits": {"max_time": 400.0}}


def test_the_registry_is_the_scenario_union():
    union = typing.get_args(typing.get_args(Fault)[0])
    assert set(FAULT_KINDS.values()) == set(union) and len(FAULT_KINDS) == len(union)


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_each_kind_has_its_own_behaviour_strategy_and_example(kind):
    cls = FAULT_KINDS[kind]
    behaviour = "apply" if issubclass(cls, MessageFault) else "install"
    assert getattr(cls, behaviour) is not getattr(MessageFault if behaviour == "apply" else FaultModel, behaviour)
    assert cls.strategy is not FaultModel.strategy and cls.example is not FaultModel.example
    assert cls.__doc__ and cls.example.__doc__


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_each_kind_changes_the_run_it_is_in(kind):
    cls = FAULT_KINDS[kind]
    example = cls.example()
    assert example["kind"] == kind
    plain = sim.run(_two_peers(cls.example_protocol, []))
    faulty = sim.run(_two_peers(cls.example_protocol, [example]))
    assert faulty.to_jsonl().splitlines()[1:] != plain.to_jsonl().splitlines()[1:], kind


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
@settings(max_examples=25)
@given(data=st.data())
def test_each_kinds_strategy_draws_valid_faults_of_that_kind(kind, data):
    drawn = data.draw(FAULT_KINDS[kind].strategy(("client", "gateway"), 100.0))
    [fault] = parse_scenario(_two_peers("ikev1", [drawn])).faults
    assert type(fault) is FAULT_KINDS[kind]


def test_a_fault_naming_an_unknown_peer_names_the_key_it_was_given_under():
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(_two_peers("ikev1", [{"kind": "drop", "from": "nobody"}, {"kind": "crash", "peer": "x", "at": 1},
                                            {"kind": "partition", "start": 0, "end": 1, "peers": ["y"]}]))  # fmt: skip
    text = str(refused.value)
    assert "faults.0.from: no peer named 'nobody'" in text
    assert "faults.1.peer: no peer named 'x'" in text
    assert "faults.2.peers: no peer named 'y'" in text


def test_a_local_fault_cannot_be_injected_into_a_run_under_way():
    from sim.simulator.engine import Simulation

    simulation = Simulation(parse_scenario(_two_peers("ikev1", [])))
    local = FAULT_KINDS["local"].model_validate(FAULT_KINDS["local"].example())
    with pytest.raises(ValueError, match="part of the peer's machine from the start"):
        simulation.inject(local)
