"""A scenario's ``[expect]`` against what a run reported: the differences, one per field."""

from __future__ import annotations

from dataclasses import dataclass

from sim import codes
from sim.scenario import Scenario
from sim.trace import Trace

TIME_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    peer: str
    sa: str
    field: str
    expected: object
    actual: object

    def __str__(self) -> str:
        return f"{self.peer} {self.sa} {self.field}: expected {self.expected}, got {self.actual}"


def _code_text(code: int | str | None) -> str:
    return "nothing" if code is None else f"{code} {codes.lookup(code).short_name}"


def check(scenario: Scenario, trace: Trace) -> list[Mismatch]:
    """Every expectation of the scenario that the trace does not meet."""
    out: list[Mismatch] = []
    for peer, sas in scenario.expect.items():
        for sa, want in sas.items():
            got = trace.outcome(peer, sa)
            if want.code is not None and (got is None or got.code != want.code):
                out.append(Mismatch(peer, sa, "code", _code_text(want.code), _code_text(got.code if got else None)))
            if want.end is not None:
                end = trace.outcome(peer, sa, "sa")
                if end is None or end.code != want.end:
                    out.append(Mismatch(peer, sa, "end", _code_text(want.end), _code_text(end.code if end else None)))
            if want.state is not None:
                state = trace.final_states.get((peer, sa))
                shown = got.state if got is not None and want.state.startswith("IKEEXT_") else state
                if shown != want.state:
                    out.append(Mismatch(peer, sa, "state", want.state, shown))
            if want.failure_point is not None and (got is None or got.failure_point != want.failure_point):
                out.append(Mismatch(peer, sa, "failure_point", want.failure_point, got.failure_point if got else None))
            if want.t is not None and (got is None or abs(got.t - want.t) > TIME_TOLERANCE):
                out.append(Mismatch(peer, sa, "t", want.t, got.t if got else None))
            if want.retransmits is not None:
                count = trace.retransmissions(peer, sa)
                if count != want.retransmits:
                    out.append(Mismatch(peer, sa, "retransmits", want.retransmits, count))
    return out
