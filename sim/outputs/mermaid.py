"""Mermaid sequence diagrams of a run, which render on GitHub.

Each message is drawn when it arrives (a solid arrow), or where it was lost (an arrow ending in a
cross); a message sent again is dashed, whether it arrives or is lost. A message that arrived
and was refused is a note over its receiver. Outcomes and timers are notes over the peer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sim import codes
from sim.enums import DropCause
from sim.outputs.renderer import Renderer
from sim.trace import Drop, Outcome, Recv, Retransmit, Send, Timer, Trace

_ENTITIES = str.maketrans({"#": "#35;", ";": "#59;"})
_ON_THE_WAY = frozenset({DropCause.LOST, DropCause.DOWN, DropCause.SILENT})  # lost before the machine saw it


def _text(s: str) -> str:
    # Mermaid reads "#...;" as an entity and ";" as a line end: write both as entities, in one pass.
    return s.translate(_ENTITIES)


def sequence_diagram(trace: Trace) -> str:
    """The run as a Mermaid ``sequenceDiagram``."""
    return "\n".join(_lines(trace)) + "\n"


_PLAIN = re.compile(r"[A-Za-z0-9_-]+")


def _ids(trace: Trace) -> dict[str, str]:
    """Each peer's participant id: its name when Mermaid reads it as one, else ``p<n>`` with the name as alias."""
    return {p.name: p.name if _PLAIN.fullmatch(p.name) else f"p{i}" for i, p in enumerate(trace.peers, start=1)}


def _lines(trace: Trace) -> Iterator[str]:
    yield "sequenceDiagram"
    ids = _ids(trace)
    for peer in trace.peers:
        alias = "" if ids[peer.name] == peer.name else f" as {_text(peer.name)}"
        yield f"    participant {ids[peer.name]}{alias}"

    def _who(name: str) -> str:
        """The participant id of a peer of the run."""
        return ids.get(name) or _text(name)

    resent: set[tuple[str, str | None, str]] = set()
    for e in trace.events:
        if isinstance(e, Retransmit):
            resent.add((e.peer, e.sa, e.message))
        elif isinstance(e, Send):
            resent.discard((e.peer, e.sa, e.message))
        elif isinstance(e, Recv | Drop):
            again = (e.sender, e.sa, e.message) in resent
            if isinstance(e, Recv):
                arrow = "-->>" if again else "->>"
                label = f"{_text(e.message)} [{_text(e.sa or '')}] t={e.t:g}"
                yield f"    {_who(e.sender)}{arrow}{_who(e.peer)}: {label}"
            elif e.cause in _ON_THE_WAY:
                arrow = "--x" if again else "-x"
                yield (f"    {_who(e.sender)}{arrow}{_who(e.peer)}: {_text(e.message)} lost: {_text(e.reason)} "
                       f"t={e.t:g}")  # fmt: skip
            else:
                yield f"    Note over {_who(e.peer)}: drops {_text(e.message)}: {_text(e.reason)}"
        elif isinstance(e, Timer) and e.timer != "probe":
            yield f"    Note over {_who(e.peer)}: t={e.t:g} {_text(e.timer)}"
        elif isinstance(e, Outcome):
            what = "" if e.ends == "negotiation" else " SA ended"
            code = f"{e.code} {codes.info(e.code).short_name}"
            yield f"    Note over {_who(e.peer)}: {_text(e.sa or '')}{what} {code}"


def render(trace: Trace) -> dict[str, bytes]:
    """``sequence.mmd``."""
    return {"sequence.mmd": sequence_diagram(trace).encode()}


RENDERER = Renderer("mermaid", "sequence.mmd", "a Mermaid sequence diagram of the run (renders on GitHub)", render,
                    stdout=True)  # fmt: skip
