"""The worked examples of docs/testing-kit.md run, and the bug each plants is found.

Each example is a handler and its test, in the page's ``python`` blocks after an ``<!-- example:
NAME -->`` marker; the sentence "change `OLD` to `NEW`" under it plants a bug. The examples run
as written; with the bug planted, Hypothesis must find it within the default 100 examples (no
shrinking, no example database) for at least 9 of 10 seeds. The figure is printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hypothesis.core
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

PAGE = Path(__file__).resolve().parents[1] / "docs" / "testing-kit.md"
SEEDS = range(10)
SEARCH = settings(
    max_examples=100,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def examples() -> dict[str, SimpleNamespace]:
    """Each worked example of the page: its code (the blocks joined) and its planted bug (old, new)."""
    text = PAGE.read_text(encoding="utf-8")
    parts = re.split(r"<!-- example: ([a-z-]+) -->", text)
    found = {}
    for name, section in zip(parts[1::2], parts[2::2], strict=True):
        section = re.split(r"\n#{2,3} ", section)[0]
        blocks = re.findall(r"```python\n(.*?)```", section, re.S)
        bug = re.search(r"change\s+`([^`]+)`\s+to\s+`([^`]+)`", section)
        assert blocks and bug, f"example {name}: no code, or no 'change `...` to `...`'"
        found[name] = SimpleNamespace(code="\n".join(blocks), old=bug.group(1), new=bug.group(2))
    return found


EXAMPLES = examples()


def load(name: str, code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"docs_example_{name.replace('-', '_')}"}
    exec(compile(code, f"{PAGE}#{name}", "exec"), namespace)
    return namespace


def collect_tests(namespace: dict[str, Any]) -> list[Any]:
    found = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    found += [
        v
        for v in namespace.values()
        if isinstance(v, type)
        and issubclass(v, RuleBasedStateMachine)
        and v is not RuleBasedStateMachine
        and "run" not in v.__dict__
        and v.__module__ == namespace["__name__"]
    ]
    assert found, "an example without a test"
    return found


def run(test: Any, search: settings | None = None) -> None:
    if isinstance(test, type):  # a state machine: its TestCase's settings, or the search's with its step count
        own = test.TestCase.settings
        run_state_machine_as_test(
            test, settings=own if search is None else settings(search, stateful_step_count=own.stateful_step_count)
        )
    else:
        (search(test) if search is not None else test)()


def test_the_page_has_a_worked_example_per_fixture_form() -> None:
    assert set(EXAMPLES) >= {"audit-xml", "audit-evtx", "wfp-json", "jsonl", "live-feed"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_worked_example_passes_as_written(name: str) -> None:
    for test in collect_tests(load(name, EXAMPLES[name].code)):
        run(test)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_planted_bug_is_found_in_100_examples_for_9_of_10_seeds(name: str, capsys: Any) -> None:
    example = EXAMPLES[name]
    assert example.code.count(example.old) == 1, f"{example.old!r} is not in the example once"
    bugged = example.code.replace(example.old, example.new)
    found = 0
    for seed in SEEDS:
        tests = collect_tests(load(name, bugged))
        hypothesis.core.global_force_seed = seed  # what --hypothesis-seed sets
        try:
            for test in tests:
                run(test, SEARCH)
        except HypothesisException:  # not the bug: the search itself went wrong
            raise
        except Exception:  # the planted bug, found: an assertion, or the handler crashing
            found += 1
        finally:
            hypothesis.core.global_force_seed = None
    with capsys.disabled():
        print(f"\n{name}: the planted bug was found within 100 examples for {found} of {len(SEEDS)} seeds")
    assert found >= 9
