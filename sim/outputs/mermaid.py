"""Mermaid sequence diagrams of a run, which render on GitHub.

Each message is drawn when it arrives (a solid arrow), or where it was lost (an arrow ending in a
cross); a message sent again is dashed. Outcomes and timers are notes over the peer.
"""

from __future__ import annotations

from collections.abc import Iterator

from sim import codes
from sim.outputs.trace import Trace

_ENTITIES = str.maketrans({"#": "#35;", ";": "#59;"})


def _text(s: str) -> str:
    # Mermaid reads "#...;" as an entity and ";" as a line end: write both as entities, in one pass.
    return s.translate(_ENTITIES)


def sequence_diagram(trace: Trace, participants: list[str] | None = None) -> str:
    """The run as a Mermaid ``sequenceDiagram``."""
    return "\n".join(_lines(trace, participants)) + "\n"


def _lines(trace: Trace, participants: list[str] | None) -> Iterator[str]:
    yield "sequenceDiagram"
    names = participants or list(dict.fromkeys(e.peer for e in trace.events if e.kind != "outcome" or e.peer))
    for name in names:
        yield f"    participant {_text(name)}"
    resent: set[tuple[str, str, str]] = set()
    for e in trace.events:
        kind = e.kind
        if kind == "retransmit":
            resent.add((e.peer, e.sa, e.message))
        elif kind == "send":
            resent.discard((e.peer, e.sa, e.message))
        elif kind == "recv":
            arrow = "-->>" if (e.get("from"), e.sa, e.message) in resent else "->>"
            yield f"    {_text(e['from'])}{arrow}{_text(e.peer)}: {_text(e.message)} [{_text(e.sa)}] t={e.t:g}"
        elif kind == "drop" and e.get("from") and "not accepted" not in e.reason and "no SA" not in e.reason:
            yield f"    {_text(e['from'])}-x{_text(e.peer)}: {_text(e.message)} lost: {_text(e.reason)} t={e.t:g}"
        elif kind == "drop":
            yield f"    Note over {_text(e.peer)}: drops {_text(e.message)}: {_text(e.reason)}"
        elif kind == "timer" and e.timer != "probe":
            yield f"    Note over {_text(e.peer)}: t={e.t:g} {_text(e.timer)}"
        elif kind == "outcome":
            what = "" if e.ends == "negotiation" else " SA ended"
            yield f"    Note over {_text(e.peer)}: {_text(e.sa)}{what} {e.code} {codes.info(e.code).short_name}"
