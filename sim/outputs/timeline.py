"""The text timeline: the teaching view of a run.

Who sent what to whom, what was lost and why, each retransmission with its virtual time, each
change of state, and at the end each peer's code with its message and the reason in plain words.
Each line comes with a style name (``send``, ``lost``, ``again``, ``state``, ``timer``,
``outcome``, ``note``) that the command line may colour.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sim import codes
from sim.enums import DropCause
from sim.outputs.renderer import Renderer
from sim.trace import Drop, Event, Outcome, Recv, Retransmit, Send, Timer, Trace, Transition

Line = tuple[str, str]  # (style, text)
_ARRIVED = frozenset({DropCause.DAMAGED, DropCause.REFUSED, DropCause.NO_SA})  # reached the machine, which dropped it


def _who(width: int, name: str) -> str:
    return name.ljust(width)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    """Control characters (a terminal escape in a description or a peer name) shown, not obeyed."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def timeline(trace: Trace) -> Iterator[Line]:
    """The lines of the timeline of a run; control characters in names and descriptions are escaped."""
    for style, text in _timeline(trace):
        yield style, _visible(text)


def _timeline(trace: Trace) -> Iterator[Line]:
    peers = {e.peer for e in trace.events} | {p.name for p in trace.peers}
    width = max((len(p) for p in peers), default=6)
    yield "title", f"{trace.scenario}  (seed {trace.seed})"
    for paragraph in trace.description.strip().splitlines():
        yield "note", f"  {paragraph}".rstrip()
    yield "note", ""
    for e in trace.events:
        line = _line(e, width)
        if line is not None:
            yield line
    if trace.truncated:
        yield "lost", f"the run stopped at a limit: {trace.truncated}"
    yield "note", ""
    yield from summary(trace)


def _line(e: Event, width: int) -> Line | None:
    t = f"{e.t:10.3f}s  "
    who = _who(width, e.peer or "")
    sa = f"[{e.sa}]" if e.sa else ""
    if isinstance(e, Send):
        detail = f"  ({e.detail})" if e.detail else ""
        return "send", f"{t}{who}  {sa:10} sends {e.message} to {e.to}{detail}"
    if isinstance(e, Retransmit):
        why = f"retransmission {e.attempt}" if e.attempt else "answering a duplicate"
        return "again", f"{t}{who}  {sa:10} sends {e.message} to {e.to} again ({why})"
    if isinstance(e, Recv):
        damaged = f" (corrupted: {e.corrupted})" if e.corrupted else ""
        return "recv", f"{t}{who}  {sa:10} receives {e.message} from {e.sender}{damaged}"
    if isinstance(e, Drop):
        if e.cause in _ARRIVED:
            return "lost", f"{t}{who}  {sa:10} drops {e.message} from {e.sender}: {e.reason}"
        return "lost", f"{t}{who}  {sa:10} never gets {e.message} from {e.sender}: {e.reason}"
    if isinstance(e, Timer):
        what = {"give_up": "gives up: retransmissions exhausted", "probe": "checks that the peer is alive",
                "expire": "SA lifetime expires"}.get(e.timer, e.timer)  # fmt: skip
        if e.timer == "give_up" and e.detail:  # its implementation's own timeout came first
            what, detail = f"gives up: {e.detail}", ""
        else:
            detail = f" ({e.detail})" if e.detail else ""
        return "timer", f"{t}{who}  {sa:10} {what}{detail}"
    if isinstance(e, Transition):
        return "state", f"{t}{who}  {sa:10} {e.src} -> {e.dst}   ({e.trigger})"
    if isinstance(e, Outcome):
        ended = "negotiation ended" if e.ends == "negotiation" else "SA ended"
        return "outcome", f"{t}{who}  {sa:10} {ended}: {e.code} {e.name} ({e.failure_point})"
    return None


def summary(trace: Trace) -> Iterator[Line]:
    """Each peer's codes, with the message and the reason in plain words."""
    yield "title", "What each peer reported"
    if not trace.outcomes:
        yield "note", "  nothing: no negotiation ended"
    for o in trace.outcomes:
        info = codes.info(o.code)
        ended = "" if o.ends == "negotiation" else " (the established SA ended)"
        yield "outcome", f"  {o.peer} {o.sa}{ended}: {o.code} {o.name} ({o.hex})"
        yield "note", f"      message: {info.message}"
        yield "note", f"      why:     {o.reason}"
        yield "note", f"      at {o.t:.3f}s, role {o.role}, state {o.state}, failure point {o.failure_point}"


def render(trace: Trace) -> dict[str, bytes]:
    """``timeline.txt``: the timeline without colours."""
    return {"timeline.txt": "".join(text + "\n" for _, text in timeline(trace)).encode()}


RENDERER = Renderer("text", "timeline.txt", "the readable timeline: who sent what, what was lost, each code and why",
                    render, stdout=True)  # fmt: skip
