"""ikesim's pytest plugin (registered under the ``pytest11`` entry point as ``ikesim``).

It imports nothing of the engine until a test uses it. It gives:

* the ``ikesim_run`` fixture: ``ikesim_run(scenario, seed=None)`` runs a scenario given by
  library name, path, :class:`~sim.scenario.Scenario` or dict, and returns its trace (session
  scoped, so a ``@given`` test may use it: it keeps each test's runs apart all the same);
* the ``ikesim_seed`` fixture: the ``--ikesim-seed`` option, or None for each scenario's own seed;
  the strategies of :mod:`sim.testing.strategies` run every scenario they draw with it too;
* ``--ikesim-keep-traces DIR``: the traces of a failing test's runs are written there as JSONL:
  those it made with ``ikesim_run`` and those the strategies drew for it (under ``@given``, the
  runs of the example Hypothesis reports);
* collection of scenario files as test items: files matching the ``ikesim_scenarios`` ini option
  (default ``scenario_*.toml``) are run and their ``[expect]`` checked; a failure shows the
  expected and the actual code of each SA that differs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from sim.testing import _config

DEFAULT_PATTERN = "scenario_*.toml"
_TRACES = pytest.StashKey[list[Any]]()
_current: list[pytest.Item] = []  # the test item being run, if any


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


_OUTER_SEED = pytest.StashKey[int | None]()


def pytest_configure(config: pytest.Config) -> None:
    """Hand ``--ikesim-seed`` to the strategies."""
    config.stash[_OUTER_SEED] = _config.seed
    _config.seed = config.getoption("--ikesim-seed")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give the strategies back the seed they had (a pytester run inside a session configures again)."""
    _config.seed = config.stash.get(_OUTER_SEED, None)


# Session-scoped: Hypothesis' function_scoped_fixture health check is for fixtures that a test's
# examples would share without meaning to; these keep nothing between tests (see _keep).
@pytest.fixture(scope="session")
def ikesim_seed(pytestconfig: pytest.Config) -> int | None:
    """The seed given with ``--ikesim-seed``, or None."""
    seed: int | None = pytestconfig.getoption("--ikesim-seed")
    return seed


@pytest.fixture(scope="session")
def ikesim_run(ikesim_seed: int | None) -> Any:
    """A function that runs a scenario (name, path, Scenario or dict) and returns its trace."""

    def run(scenario: Any, seed: int | None = None) -> Any:
        import sim

        trace = sim.run(scenario, seed if seed is not None else ikesim_seed)
        _keep(trace)
        return trace

    return run


def _keep(trace: Any) -> None:
    """Remember a run of the current test: under Hypothesis, only the runs of the example it reports."""
    if not _current:
        return
    import sys

    if "hypothesis" in sys.modules:
        from hypothesis.control import currently_in_test_context

        if currently_in_test_context() and not _config.in_final_replay():
            return
    _current[-1].stash.setdefault(_TRACES, []).append(trace)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """Know which test the runs belong to."""
    _current.append(item)
    try:
        yield
    finally:
        _current.remove(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Collect the runs the strategies draw for the example Hypothesis reports."""
    _config.final_runs.clear()
    try:
        yield
    finally:
        kept = item.stash.setdefault(_TRACES, [])
        kept += [t for t in _config.final_runs if not any(t is k for k in kept)]
        _config.final_runs.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the traces of a failing test, when asked to."""
    outcome = yield
    report = outcome.get_result()
    folder = item.config.getoption("--ikesim-keep-traces")
    traces = item.stash.get(_TRACES, None)
    if report.when != "call" or not traces:
        return
    if folder and report.failed:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.nodeid)
        for i, trace in enumerate(traces, start=1):
            path = out / f"{stem}-{i}.jsonl"
            path.write_text(trace.to_jsonl(), encoding="utf-8")
            report.sections.append(("ikesim", f"trace kept: {path}"))
    traces.clear()  # a passing test's runs are not kept for the rest of the session


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
        _keep(trace)
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
