"""ikesim against the last recordings of real daemons (``make interop`` makes them; no daemon runs here).

Each case of ``interop.cases`` has its ikesim scenario and its recording in ``tests/data/interop``.
The scenario's run must agree with the recording, except for the differences listed in
``EXPECTED_DIFFERENCES`` (with their reasons), and each listed difference must still occur.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from interop.cases import CASES, DATA, Case
from interop.compare import compare, simulate
from interop.expected import EXPECTED_DIFFERENCES
from interop.runner import FORMAT

RUNNABLE = [c for c in CASES if not c.skip]


def _recording(case: Case) -> dict[str, Any]:
    if not case.recording.exists():
        pytest.fail(f"{case.recording.name} is missing: run `make interop` to record {case.name}")
    data: dict[str, Any] = json.loads(case.recording.read_text())
    return data


@pytest.mark.parametrize("case", RUNNABLE, ids=lambda c: c.name)
def test_ikesim_matches_the_recording(case: Case) -> None:
    recording = _recording(case)
    diffs = compare(recording, simulate(case.scenario))
    expected = EXPECTED_DIFFERENCES.get(case.name, {})
    unexpected = [str(d) for d in diffs if d.key not in expected]
    assert not unexpected, f"{case.name}: ikesim disagrees with the daemons:\n" + "\n".join(unexpected)
    gone = sorted(set(expected) - {d.key for d in diffs})
    assert not gone, f"{case.name}: listed in EXPECTED_DIFFERENCES but no longer different: {gone}; remove them"


@pytest.mark.parametrize("case", RUNNABLE, ids=lambda c: c.name)
def test_recording_is_well_formed(case: Case) -> None:
    recording = _recording(case)
    assert recording["format"] == FORMAT
    assert recording["case"] == case.name
    assert recording["scenario"] == case.scenario.name
    assert recording["messages"], "a recording with no message: the capture failed"
    times = [m["t_ms"] for m in recording["messages"]]
    assert times == sorted(times)
    assert recording["messages"][0]["t_ms"] == 0.0
    for m in recording["messages"]:
        assert m["dir"] in ("i->r", "r->i")
        assert m["delivery"] in ("delivered", "damaged", "lost")
    initiator = recording["daemons"]["initiator"]
    assert initiator["daemon"] in ("charon", "pluto")
    assert initiator["version"], "the daemon's version is recorded"


def test_expected_differences_name_known_cases() -> None:
    assert set(EXPECTED_DIFFERENCES) <= {c.name for c in RUNNABLE}
    for reasons in EXPECTED_DIFFERENCES.values():
        assert all(reason.strip() for reason in reasons.values())


def test_every_case_has_its_scenario_and_nothing_else_lies_in_the_folder() -> None:
    names = {c.name for c in CASES}
    assert {p.stem for p in DATA.glob("*.toml")} == names
    assert {p.stem for p in DATA.glob("*.json")} <= names
