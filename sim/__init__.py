"""ikesim: simulate IKE negotiations on a virtual clock and report the Windows status codes they end in.

>>> import sim
>>> trace = sim.run(sim.load_scenario("mm-peer-stops-responding"))
>>> [(o.peer, o.sa, o.name) for o in trace.outcomes]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import codes
from sim._version import __version__
from sim.errors import IkesimError

__all__ = ["IkesimError", "Scenario", "Trace", "__version__", "codes", "load_scenario", "load_trace", "run"]

if TYPE_CHECKING:
    from sim.scenario import Scenario
    from sim.trace import Trace


def load_scenario(path_or_name: str) -> Scenario:
    """Load a scenario from a TOML file, or by the name of a library scenario."""
    from sim.scenario import load_scenario as _load

    return _load(path_or_name)


def load_trace(path: str) -> Trace:
    """Read back a JSONL trace saved by ``ikesim run --format jsonl``; ``TraceError`` says what is wrong."""
    from sim.trace import load_trace as _load

    return _load(path)


def run(scenario: Scenario | dict[str, object] | str, seed: int | None = None, *, events: bool = True) -> Trace:
    """Run a scenario (an object, its data, a path or a library name) and return its trace.

    ``events=False`` keeps the outcomes alone (the other events are counted, not kept): for runs
    of many peers whose reports are all that is read.
    """
    from sim.scenario import Scenario as _Scenario
    from sim.scenario import parse_scenario
    from sim.simulator.engine import Simulation

    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    elif isinstance(scenario, dict):
        scenario = parse_scenario(scenario)
    if not isinstance(scenario, _Scenario):
        raise TypeError(f"run() takes a Scenario, its data, a path or a name, not {type(scenario).__name__}")
    return Simulation(scenario, seed, events=events).run()


def __getattr__(name: str) -> object:
    if name in ("Scenario", "Trace"):
        from sim.scenario import Scenario
        from sim.trace import Trace

        return {"Scenario": Scenario, "Trace": Trace}[name]
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
