"""Protocol machines defined as tables, executed by `transitions` or by a compiled dict lookup.

A :class:`Table` is the single definition of a machine: its states (each mapped onto an IKEEXT
state enum, or terminal) and its rows ``(trigger, sources) -> guard -> (actions, dest, report)``.
From it come two executors that must agree (a test checks every state against every input):

* :meth:`Table.machine` builds a ``transitions.Machine(model=None, auto_transitions=False)``:
  the reference executor, and the source of the diagrams;
* :meth:`Table.compile` generates one step per ``(state, trigger)``, its rows fused into one
  function: the hot path, 30 times cheaper per trigger than ``transitions`` on CPython.

Tables do not know which role a session plays: the input does (only a responder ever receives
MM1). Illegal input raises :class:`IllegalInput` and leaves the state unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from transitions import Machine, MachineError

from sim.conditions import Condition
from sim.enums import KeyModule
from sim.errors import IkesimError
from sim.protocol.words import number

# A row's report: a fixed condition, or one of these, resolved at run time.
VERDICT = "verdict"  # the condition the row's guard found (a rejected message, a local fault)
NOTIFIED = "notified"  # the condition the peer's failure notify carried
PARENT = "parent"  # the condition the parent SA ended with (an IKEv2 child goes with its IKE SA)


class IllegalInput(IkesimError):
    """An input that the machine does not accept in its current state; the state is unchanged."""

    def __init__(self, table: str, state: str, trigger: str, why: str = "no transition") -> None:
        super().__init__(f"{table}: {trigger} is not accepted in state {state} ({why})")
        self.table, self.state, self.trigger = table, state, trigger


class Ends(enum.StrEnum):
    """What a report closes: the negotiation, or an SA that was established."""

    NEGOTIATION = "negotiation"
    SA = "sa"


@dataclass(frozen=True, slots=True)
class State:
    """A machine state; ``ikeext`` is the IKEEXT state it maps onto, None for a terminal state."""

    name: str
    ikeext: enum.IntEnum | None
    doc: str = ""

    @property
    def terminal(self) -> bool:
        """True for a state no input leaves."""
        return self.ikeext is None


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a protocol table."""

    trigger: str
    sources: tuple[str, ...]
    dest: str | None  # None: an internal transition that keeps the state (as in `transitions`)
    guard: str | None = None  # the row applies when this guard holds; rows are tried in order
    actions: tuple[str, ...] = ()  # "name" or "name:argument", performed in order after the state changes
    report: Condition | str | None = None  # a Condition, VERDICT, NOTIFIED or PARENT
    ends: Ends = Ends.NEGOTIATION
    doc: str = ""


def row(
    trigger: str,
    sources: str | Iterable[str],
    dest: str | None,
    *,
    guard: str | None = None,
    actions: Iterable[str] = (),
    report: Condition | str | None = None,
    ends: Ends = Ends.NEGOTIATION,
    doc: str = "",
) -> Row:
    """A table row; ``sources`` is one state name or several."""
    srcs = (sources,) if isinstance(sources, str) else tuple(sources)
    return Row(trigger, srcs, dest, guard, tuple(actions), report, ends, doc)


Guard = Callable[[Any, Any], bool]
Action = Callable[[Any, str, Any, str, Row], None]
Move = tuple[str, str, str, str]  # a change of state as the trace records it: (src, dst, trigger, machine)
# (guard, row, actions, the state it leaves the session in or None, the move it records or None)
Entry = tuple[Guard | None, Row, tuple[tuple[Action, str], ...], str | None, Move | None]


@dataclass(frozen=True)
class Table:
    """A protocol machine: states and rows, from which both executors are derived."""

    name: str
    title: str
    keying_module: KeyModule
    states: tuple[State, ...]
    rows: tuple[Row, ...]
    initial: str = "NONE"
    sa_kind: str = "main"  # main (its lifetime is mm_lifetime), child (qm_lifetime) or extended (none)
    doc: str = ""
    _by_name: dict[str, State] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {s.name: s for s in self.states})
        for r in self.rows:
            for name in (*r.sources, r.dest):
                if name is not None and name not in self._by_name:
                    raise ValueError(f"{self.name}: row {r.trigger} names unknown state {name}")
            if any(self._by_name[s].terminal for s in r.sources):
                raise ValueError(f"{self.name}: row {r.trigger} leaves a terminal state")

    def state(self, name: str) -> State:
        """The state of that name."""
        return self._by_name[name]

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every input the table knows, in first-use order."""
        return tuple(dict.fromkeys(r.trigger for r in self.rows))

    def compile(self, ops: type) -> CompiledTable:
        """The fast executor, with guards and actions bound to the class ``ops``."""
        return CompiledTable(self, ops)

    def machine(self, ops: type) -> Machine:
        """The reference ``transitions`` machine, built once per table and operations class."""
        return _machine(self, ops)

    @cached_property
    def transition_dicts(self) -> list[dict[str, Any]]:
        """The rows as plain ``transitions`` transition dicts, without callbacks (for diagrams)."""
        return [{"trigger": r.trigger, "source": list(r.sources), "dest": r.dest} for r in self.rows]

    def next_state(self, source: str, r: Row) -> str:
        """Where a row leaves a session that was in ``source``."""
        return source if r.dest is None else r.dest


def _bind(ops: type, r: Row) -> tuple[Guard | None, tuple[tuple[Action, str], ...]]:
    guard = getattr(ops, "guard_" + r.guard) if r.guard else None
    actions = []
    for spec in r.actions:
        name, _, arg = spec.partition(":")
        actions.append((getattr(ops, "act_" + name), arg))
    return guard, tuple(actions)


class CompiledTable:
    """The hot-path executor: one generated step per (state, input), which tries its rows' guards in order.

    Each step is the rows of one (state, input) fused into one function, generated from the table
    when it is compiled: the guards are tried in order, and the first that holds sets the state,
    records the move and performs the row's actions, written out with every argument a constant
    of the row. A step makes one call per guard and per action, and no lookup or loop of the rows
    at run time. ``index`` keeps the rows themselves, by (state, input), for what asks whether an
    input is accepted.
    """

    __slots__ = ("index", "ops", "steps", "table", "terminal")

    def __init__(self, table: Table, ops: type) -> None:
        self.table = table
        self.ops = ops  # the session class whose guards and actions the rows name
        self.terminal = frozenset(s.name for s in table.states if s.terminal)  # the states no input leaves
        index: dict[tuple[str, str], list[Entry]] = {}
        for r in table.rows:
            guard, actions = _bind(ops, r)
            for source in r.sources:
                # The move a row records, made once: (src, dst, trigger, machine); None: the row keeps the state.
                move = (source, r.dest, r.trigger, table.name) if r.dest is not None and r.dest != source else None
                index.setdefault((source, r.trigger), []).append((guard, r, actions, r.dest, move))
        self.index = index
        # state -> input -> step: fire() looks up two strings, and makes no key tuple.
        self.steps: dict[str, dict[str, Step]] = {}
        for (source, trigger), entries in index.items():
            self.steps.setdefault(source, {})[trigger] = _step(table.name, source, trigger, entries)

    def fire(self, session: Any, trigger: str, msg: Any = None) -> Row:
        """Apply one input to a session; raise :class:`IllegalInput` (state unchanged) if it is not accepted.

        A change of state goes to the endpoint's fast ``moved`` hook as the number of the row's move
        (:mod:`sim.protocol.words`) where the sink has one, else to the sink's ``transition`` (what
        ``Session.on_transition`` does).
        """
        inputs = self.steps.get(session.state)
        step = inputs.get(trigger) if inputs is not None else None
        if step is None:
            raise IllegalInput(self.table.name, session.state, trigger)
        return step(session, msg)


Step = Callable[[Any, Any], Row]


def _step(machine: str, source: str, trigger: str, entries: list[Entry]) -> Step:
    """The rows of one (state, input), fused into one function: see :class:`CompiledTable`."""
    constants: dict[str, Any] = {"IllegalInput": IllegalInput}
    lines = ["def step(session, msg):"]
    for i, (guard, r, actions, dest, move) in enumerate(entries):
        body = "    "
        if guard is not None:
            constants[f"guard{i}"] = guard
            lines.append(f"    if guard{i}(session, msg):")
            body = "        "
        constants[f"row{i}"] = r
        if dest is not None:
            lines.append(f"{body}session.state = {dest!r}")
        if move is not None:
            lines += [
                f"{body}endpoint = session.endpoint",
                f"{body}if endpoint.moved is not None:",
                f"{body}    endpoint.moved(session, {number(move)})  # the move's number (sim.protocol.words)",
                f"{body}else:",
                f"{body}    endpoint.sink.transition(session, {source!r}, {dest!r}, {trigger!r})",
            ]
        for j, (action, arg) in enumerate(actions):
            constants[f"action{i}_{j}"] = action
            lines.append(f"{body}action{i}_{j}(session, {arg!r}, msg, {source!r}, row{i})")
        lines.append(f"{body}return row{i}")
        if guard is None:
            break  # a row without a guard always applies: the rows after it are never tried
    else:
        lines.append(f"    raise IllegalInput({machine!r}, {source!r}, {trigger!r}, 'no guard holds')")
    namespace = dict(constants)
    exec(compile("\n".join(lines), f"<step {machine} {source} {trigger}>", "exec"), namespace)
    step: Step = namespace["step"]
    return step


_MACHINES: dict[tuple[str, type], Machine] = {}


def _machine(table: Table, ops: type) -> Machine:
    key = (table.name, ops)
    if key in _MACHINES:
        return _MACHINES[key]
    transitions = []
    for r in table.rows:
        guard, actions = _bind(ops, r)

        def after(event: Any, r: Row = r, actions: tuple[tuple[Action, str], ...] = actions) -> None:
            source = event.transition.source
            msg = event.args[0] if event.args else None
            event.model.on_transition(source, r, event.event.name)
            for action, arg in actions:
                action(event.model, arg, msg, source, r)

        spec: dict[str, Any] = {"trigger": r.trigger, "source": list(r.sources), "dest": r.dest, "after": [after]}
        if guard is not None:
            spec["conditions"] = [lambda event, g=guard: g(event.model, event.args[0] if event.args else None)]
        transitions.append(spec)
    machine = Machine(
        model=None,
        states=[s.name for s in table.states],
        initial=table.initial,
        transitions=transitions,
        auto_transitions=False,
        send_event=True,
        name=table.name,
    )
    _MACHINES[key] = machine
    return machine


def fire_reference(table: Table, ops: type, session: Any, trigger: str, msg: Any = None) -> None:
    """Apply one input through the ``transitions`` machine; same contract as :meth:`CompiledTable.fire`."""
    machine = _machine(table, ops)
    event = machine.events.get(trigger)
    source = session.state
    if event is None:
        raise IllegalInput(table.name, source, trigger)
    try:
        fired = event.trigger(session, msg)
    except MachineError:
        raise IllegalInput(table.name, source, trigger) from None
    if not fired:
        raise IllegalInput(table.name, source, trigger, "no guard holds")
