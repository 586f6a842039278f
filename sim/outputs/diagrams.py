"""State diagrams of the protocol machines, drawn by ``transitions`` from the same tables.

Terminal states are tagged with the codes the rows that enter them report (``DEAD [13886]``);
a state that maps onto another IKEEXT state than its name is tagged with that state.
"""

from __future__ import annotations

from typing import Any, Literal

from sim.conditions import Condition
from sim.protocol.registry import TABLES
from sim.protocol.table import NOTIFIED, PARENT, VERDICT, Table

REPORT_TAGS = {VERDICT: "the failed check's code", NOTIFIED: "the peer's code", PARENT: "its parent SA's code"}


def state_tags(table: Table) -> dict[str, list[str]]:
    """For each state, the tags a diagram shows: codes for terminal states, IKEEXT mappings for the rest."""
    tags: dict[str, list[str]] = {s.name: [] for s in table.states}
    for r in table.rows:
        if r.report is None or r.dest is None:
            continue
        tag = str(r.report.value.code) if isinstance(r.report, Condition) and r.report.value.code else None
        tag = tag or REPORT_TAGS.get(str(r.report), "an injected code")
        if tag not in tags[r.dest]:
            tags[r.dest].append(tag)
    for s in table.states:
        if s.ikeext is not None and s.ikeext.name != s.name:
            tags[s.name].insert(0, f"= {s.ikeext.name}")
    return tags


def diagram(machine: str, fmt: str = "mermaid") -> str:
    """The state diagram of a machine (a table name), as Mermaid or Graphviz DOT source."""
    from transitions.extensions import GraphMachine
    from transitions.extensions.states import Tags, add_state_features

    @add_state_features(Tags)
    class DiagramMachine(GraphMachine):
        pass

    table = TABLES[machine]
    tags = state_tags(table)
    states = [{"name": s.name, "tags": tags[s.name]} for s in table.states]
    engine: Literal["mermaid", "graphviz"] = "mermaid" if fmt == "mermaid" else "graphviz"
    graph_machine = DiagramMachine(
        model=None,
        states=states,
        initial=table.initial,
        transitions=table.transition_dicts,
        auto_transitions=False,
        graph_engine=engine,
        title=table.title,
        show_state_attributes=True,
    )

    class Model:
        pass

    model: Any = Model()
    graph_machine.add_model(model)
    graph = model.get_graph()
    source = graph.draw(None) if engine == "mermaid" else graph.source
    return str(source).rstrip("\n") + "\n"


def machines() -> list[str]:
    """The names of every machine."""
    return sorted(TABLES)
