"""Compare a recording of real daemons with what ikesim does in the case's scenario.

Both sides are reduced to the same view (:func:`ikesim_view` for a trace; a recording already is
one) and compared on: the messages in order (direction, name, retransmission or not, the error
notifies they carry, whether they arrived damaged), the time of each message (within
:data:`TOLERANCE_MS`), who gives up and when (within the same tolerance: an initiator's "giving up
after N retransmits", a responder's "deleting half open IKE_SA", pluto's "N second timeout
exceeded" or its deletion of an incomplete state; in ikesim a ``give_up`` timer), and which side
ends with an established IKE SA. Two messages sent the opposite ways within :data:`TOLERANCE_MS`
of each other cross on the wire and have no order: when the daemons sent them in the other order
than ikesim, they are compared in ikesim's (:func:`_uncross`). Status notifies (NAT detection,
INITIAL_CONTACT...) and whether a lost message was lost are recorded but not compared: ikesim
does not model them.

Each difference has a stable ``key`` (``messages``, ``timing``, ``give_up:initiator``,
``established``...) so that a table of expected differences can name them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOLERANCE_MS = 50.0


def _norm_notify(name: str) -> str:
    return name.upper().replace("-", "_")


ERROR_NOTIFIES = frozenset(
    _norm_notify(n)
    for n in (
        "INVALID_PAYLOAD_TYPE", "INVALID_COOKIE", "INVALID_MAJOR_VERSION", "INVALID_EXCHANGE_TYPE",
        "NO_PROPOSAL_CHOSEN", "PAYLOAD_MALFORMED", "INVALID_KEY_INFORMATION", "INVALID_ID_INFORMATION",
        "INVALID_HASH_INFORMATION", "AUTHENTICATION_FAILED", "UNSUPPORTED_CRITICAL_PAYLOAD", "INVALID_IKE_SPI",
        "INVALID_SYNTAX", "INVALID_MESSAGE_ID", "INVALID_SPI", "INVALID_KE_PAYLOAD", "SINGLE_PAIR_REQUIRED",
        "NO_ADDITIONAL_SAS", "INTERNAL_ADDRESS_FAILURE", "FAILED_CP_REQUIRED", "TS_UNACCEPTABLE",
        "INVALID_SELECTORS", "TEMPORARY_FAILURE", "CHILD_SA_NOT_FOUND",
    )
)  # fmt: skip


@dataclass(frozen=True)
class Difference:
    """One way the daemons and ikesim disagree."""

    key: str
    text: str

    def __str__(self) -> str:
        return f"{self.key}: {self.text}"


def error_notifies(names: list[str]) -> list[str]:
    """The error notifies among ``names``, normalised (``NO-PROPOSAL-CHOSEN`` -> ``NO_PROPOSAL_CHOSEN``)."""
    return [n for n in (_norm_notify(x) for x in names) if n in ERROR_NOTIFIES]


def _message_name(name: str) -> str:
    return "INFO" if name.startswith("INFO ") and not name.startswith("INFORMATIONAL") else name


def ikesim_view(trace: Any) -> dict[str, Any]:
    """A trace as a recording: messages, give-ups and established sides, times in ms."""
    from sim.trace import Drop, Outcome, Recv, Retransmit, Send, Timer

    roles = {p.name: p.role for p in trace.peers}
    arrivals: dict[tuple[str, str, str], list[str]] = {}
    for e in trace.events:
        if isinstance(e, Recv):
            arrivals.setdefault((e.peer, e.sender, e.message), []).append("damaged" if e.corrupted else "delivered")
        elif isinstance(e, Drop) and e.cause in ("lost", "silent", "down"):
            arrivals.setdefault((e.peer, e.sender, e.message), []).append("lost")
    messages, events = [], []
    for e in trace.events:
        if isinstance(e, Send | Retransmit):
            queue = arrivals.get((e.to, e.peer, e.message), [])
            notifies = re.findall(r"N\(([\w-]+)", e.detail or "")
            messages.append({
                "t_ms": round(e.t * 1000, 1),
                "dir": "i->r" if roles.get(e.peer) == "initiator" else "r->i",
                "message": _message_name(e.message),
                "notifies": notifies,
                "retransmit": isinstance(e, Retransmit),
                "delivery": queue.pop(0) if queue else "lost",
            })  # fmt: skip
        elif isinstance(e, Timer) and e.timer == "give_up":
            events.append({"t_ms": round(e.t * 1000, 1), "side": roles.get(e.peer, e.peer), "event": "give_up"})
        elif (
            isinstance(e, Outcome)
            and e.parent is None
            and e.ends == "negotiation"
            and e.name.endswith("NEG_STATUS_END")
        ):
            events.append({"t_ms": round(e.t * 1000, 1), "side": e.role, "event": "established"})
    return {"messages": messages, "events": events}


def _line(m: dict[str, Any]) -> str:
    notes = error_notifies(m.get("notifies", []))
    extra = (" " + " ".join(f"N({n})" for n in notes)) if notes else ""
    again = " (again)" if m["retransmit"] else ""
    damaged = " [damaged]" if m.get("delivery") == "damaged" else ""
    return f"{m['dir']} {m['message']}{extra}{again}{damaged}"


def _gives_up(view: dict[str, Any], side: str) -> list[float]:
    kinds = ("give_up", "half_open_deleted")
    return [e["t_ms"] for e in view["events"] if e["side"] == side and e["event"] in kinds]


def _established(view: dict[str, Any]) -> set[str]:
    return {e["side"] for e in view["events"] if e["event"] == "established"}


def _uncross(real: list[dict[str, Any]], sim_lines: list[str]) -> list[dict[str, Any]]:
    """The daemons' messages, each pair that crossed (opposite ways, within the tolerance) put in ikesim's order."""
    real = list(real)
    for i in range(min(len(real) - 1, len(sim_lines))):
        a, b = real[i], real[i + 1]
        if (
            _line(a) != sim_lines[i]
            and _line(b) == sim_lines[i]
            and a["dir"] != b["dir"]
            and abs(b["t_ms"] - a["t_ms"]) <= TOLERANCE_MS
        ):
            real[i], real[i + 1] = b, a
    return real


def compare(recording: dict[str, Any], simulated: dict[str, Any]) -> list[Difference]:
    """How ikesim's view of a case differs from the recording (an empty list: they agree)."""
    diffs: list[Difference] = []
    sim = simulated["messages"]
    real = _uncross(recording["messages"], [_line(m) for m in sim])
    real_lines, sim_lines = [_line(m) for m in real], [_line(m) for m in sim]
    if real_lines != sim_lines:
        first = next((i for i, (a, b) in enumerate(zip(real_lines, sim_lines, strict=False)) if a != b), None)
        if first is None:
            first = min(len(real_lines), len(sim_lines))
        diffs.append(Difference("messages", (
            f"from message {first + 1}: daemons {real_lines[first:first + 4]} ({len(real_lines)} in all), "
            f"ikesim {sim_lines[first:first + 4]} ({len(sim_lines)} in all)")))  # fmt: skip
    # Times are compared between the k-th occurrences of the same message line on both sides.
    sim_times: dict[str, list[float]] = {}
    for m in sim:
        sim_times.setdefault(_line(m), []).append(m["t_ms"])
    late, taken = [], dict.fromkeys(sim_times, 0)
    for m in real:
        line = _line(m)
        k = taken.get(line, 0)
        if k < len(sim_times.get(line, [])):
            taken[line] = k + 1
            if abs(m["t_ms"] - sim_times[line][k]) > TOLERANCE_MS:
                late.append(f"{line} at {m['t_ms']} ms vs {sim_times[line][k]} ms")
    if late:
        diffs.append(Difference("timing", f"{len(late)} message(s) off by more than {TOLERANCE_MS:g} ms: {late[:3]}"))
    for side in ("initiator", "responder"):
        a_times, b_times = _gives_up(recording, side), _gives_up(simulated, side)
        if len(a_times) != len(b_times) or any(
            abs(x - y) > TOLERANCE_MS for x, y in zip(a_times, b_times, strict=True)
        ):
            diffs.append(Difference(f"give_up:{side}", f"daemon gives up at {a_times} ms, ikesim at {b_times} ms"))
    if _established(recording) != _established(simulated):
        diffs.append(Difference("established", (
            f"IKE SA established at the daemons' {sorted(_established(recording))}, "
            f"in ikesim at {sorted(_established(simulated))}")))  # fmt: skip
    return diffs


def simulate(scenario: Path) -> dict[str, Any]:
    """Run a case's ikesim scenario and return its view."""
    import sim

    return ikesim_view(sim.run(sim.load_scenario(str(scenario))))
