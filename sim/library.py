"""The scenario library: every scenario that ships with ikesim, and which codes each one shows."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sim.enums import DropCause
from sim.scenario import Scenario, library_dir, load_scenario
from sim.trace import Drop, Trace


def scenario_files(folder: Path | None = None) -> list[Path]:
    """The library's scenario files, by name."""
    return sorted((folder or library_dir()).glob("*.toml"))


@cache
def scenarios() -> tuple[Scenario, ...]:
    """Every library scenario, loaded (and so validated)."""
    return tuple(load_scenario(path) for path in scenario_files())


def _drop_codes(trace: Trace) -> list[int]:
    """The codes of the datagrams a run's peers dropped with one: damaged, or refused keeping no state.

    Such a drop's reason starts with its code.
    """
    return [
        int(e.reason.split()[0])
        for e in trace.events
        if isinstance(e, Drop) and e.cause in (DropCause.DAMAGED, DropCause.REFUSED) and e.reason[:1].isdigit()
    ]


@cache
def _library_codes() -> tuple[dict[int, tuple[str, ...]], dict[int, tuple[str, ...]]]:
    """(codes reported as outcomes, codes shown anywhere) -> the library scenarios that show them."""
    from sim.simulator.engine import Simulation

    reported: dict[int, list[str]] = {}
    shown: dict[int, list[str]] = {}
    for scenario in scenarios():
        trace = Simulation(scenario).run()
        outcome_codes = [int(o.code) for o in trace.outcomes]
        for table, found in ((reported, outcome_codes), (shown, outcome_codes + _drop_codes(trace))):
            for code in found:
                names = table.setdefault(code, [])
                if scenario.name not in names:
                    names.append(scenario.name)
    return ({c: tuple(n) for c, n in sorted(reported.items())}, {c: tuple(n) for c, n in sorted(shown.items())})


def codes_reported() -> dict[int, tuple[str, ...]]:
    """Each code that some library scenario's peer reports as an outcome, with those scenarios."""
    return _library_codes()[0]


def codes_shown() -> dict[int, tuple[str, ...]]:
    """Each code some library scenario shows (an outcome, or a datagram dropped with its code), with those scenarios."""
    return _library_codes()[1]
