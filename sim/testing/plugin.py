"""ikesim's pytest plugin (registered under the ``pytest11`` entry point as ``ikesim``).

It imports nothing of the engine until a test uses it. It gives:

* the ``ikesim_run`` fixture: ``ikesim_run(scenario, seed=None)`` runs a scenario given by
  library name, path, :class:`~sim.scenario.Scenario` or dict, and returns its trace;
* the ``ikesim_seed`` fixture: the ``--ikesim-seed`` option, or None for each scenario's own seed;
* ``--ikesim-keep-traces DIR``: the traces of a failing test's runs are written there as JSONL;
* collection of scenario files as test items: files matching the ``ikesim_scenarios`` ini option
  (default ``scenario_*.toml``) are run and their ``[expect]`` checked; a failure shows the
  expected and the actual code of each SA that differs.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

DEFAULT_PATTERN = "scenario_*.toml"
_TRACES = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line and ini options."""
    group = parser.getgroup("ikesim", "ikesim: simulated IKE negotiations")
    group.addoption(
        "--ikesim-seed", type=int, default=None, help="seed for every ikesim run (default: each scenario's)"
    )
    group.addoption(
        "--ikesim-keep-traces", metavar="DIR", default=None, help="write the JSONL traces of failing tests' runs to DIR"
    )
    parser.addini(
        "ikesim_scenarios", "file-name pattern of scenario files to collect as tests", default=DEFAULT_PATTERN
    )


@pytest.fixture
def ikesim_seed(request: pytest.FixtureRequest) -> int | None:
    """The seed given with ``--ikesim-seed``, or None."""
    seed: int | None = request.config.getoption("--ikesim-seed")
    return seed


@pytest.fixture
def ikesim_run(request: pytest.FixtureRequest, ikesim_seed: int | None) -> Any:
    """A function that runs a scenario (name, path, Scenario or dict) and returns its trace."""
    kept: list[Any] = []
    request.node.stash[_TRACES] = kept

    def run(scenario: Any, seed: int | None = None) -> Any:
        import sim

        trace = sim.run(scenario, seed if seed is not None else ikesim_seed)
        kept.append(trace)
        return trace

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the traces of a failing test, when asked to."""
    outcome = yield
    report = outcome.get_result()
    folder = item.config.getoption("--ikesim-keep-traces")
    traces = item.stash.get(_TRACES, None)
    if folder and traces and report.when == "call" and report.failed:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.nodeid)
        for i, trace in enumerate(traces, start=1):
            path = out / f"{stem}-{i}.jsonl"
            path.write_text(trace.to_jsonl(), encoding="utf-8")
            report.sections.append(("ikesim", f"trace kept: {path}"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect scenario files whose name matches the ``ikesim_scenarios`` pattern."""
    pattern = parent.config.getini("ikesim_scenarios")
    if file_path.suffix == ".toml" and fnmatch.fnmatch(file_path.name, pattern):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario file: one test item."""

    def collect(self) -> Any:
        """The file's single item."""
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailed(Exception):
    """A scenario whose ``[expect]`` did not hold, or that is not valid."""


class ScenarioItem(pytest.Item):
    """Runs one scenario file and checks its ``[expect]``."""

    def runtest(self) -> None:
        """Load, run, check."""
        from sim.expectations import check
        from sim.scenario import ScenarioError, load_scenario
        from sim.simulator.engine import Simulation

        try:
            scenario = load_scenario(self.path)
        except ScenarioError as error:
            raise ScenarioFailed(str(error)) from None
        trace = Simulation(scenario, self.config.getoption("--ikesim-seed")).run()
        self.stash[_TRACES] = [trace]
        mismatches = check(scenario, trace)
        if not scenario.expect:
            raise ScenarioFailed(f"{self.path}: the scenario has no [expect] to check")
        if mismatches:
            lines = [f"{m.peer} {m.sa} {m.field}: expected {m.expected}, actual {m.actual}" for m in mismatches]
            raise ScenarioFailed("\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The differences, without a traceback."""
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the item comes from."""
        return self.path, 0, f"ikesim scenario {self.name}"
