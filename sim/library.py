"""The scenario library: every scenario that ships with ikesim, and which codes each one shows."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sim.scenario import Scenario, library_dir, load_scenario


def scenario_files(folder: Path | None = None) -> list[Path]:
    """The library's scenario files, by name."""
    return sorted((folder or library_dir()).glob("*.toml"))


@cache
def scenarios() -> tuple[Scenario, ...]:
    """Every library scenario, loaded (and so validated)."""
    return tuple(load_scenario(path) for path in scenario_files())


@cache
def codes_shown() -> dict[int, tuple[str, ...]]:
    """Each code that some library scenario reports, with the names of those scenarios."""
    from sim.simulator.engine import Simulation

    found: dict[int, list[str]] = {}
    for scenario in scenarios():
        for outcome in Simulation(scenario).run().outcomes:
            names = found.setdefault(int(outcome.code), [])
            if scenario.name not in names:
                names.append(scenario.name)
    return {code: tuple(names) for code, names in sorted(found.items())}
