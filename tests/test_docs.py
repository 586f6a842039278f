"""The docs match the code: generated pages are current, links resolve, diagrams come from the tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim import codes
from sim.conditions import Condition
from sim.outputs.diagrams import diagram, machines, state_tags
from sim.protocol.profiles import PROFILES
from sim.protocol.registry import TABLES
from sim.tools import docs
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_generated_docs_are_committed_as_generated() -> None:
    """`make docs` would change nothing: every generated page equals what the code makes now."""
    differ = [
        str(path.relative_to(ROOT))
        for path, text in docs.generated_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert differ == [], f"run `make docs` and commit: {differ}"


def test_no_stale_generated_pages() -> None:
    assert docs.stale_files() == []


def test_every_reported_code_has_a_page_and_false_names_have_theirs() -> None:
    pages = {p.name.split("-")[0] for p in (ROOT / "docs" / "codes").glob("1*.md")}
    assert pages == {str(c) for c in codes.IkeCode}
    false_names = (ROOT / "docs" / "false-names.md").read_text(encoding="utf-8")
    for short in codes.FALSE_NAMES:
        assert f"ERROR_IPSEC_IKE_{short}" in false_names


@pytest.mark.parametrize("code", [13886, 13897, 13898, 13899, 13909])
def test_fuller_pages_explain_more(code: int) -> None:
    page = next((ROOT / "docs" / "codes").glob(f"{code}-*.md")).read_text(encoding="utf-8")
    assert docs.FULLER[code].strip() in page
    assert "## What a handler should do" in page


def test_code_page_lists_each_condition_of_the_model() -> None:
    for condition in Condition:
        code = condition.value.code
        if not code:
            continue
        page = next((ROOT / "docs" / "codes").glob(f"{code}-*.md")).read_text(encoding="utf-8")
        assert f"`{condition.key}`" in page, (condition, code)


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("machine", machines())
def test_diagram_draws_every_state_and_tags_terminal_codes(machine: str) -> None:
    table = TABLES[machine]
    mermaid = diagram(machine, "mermaid")
    dot = diagram(machine, "dot")
    assert mermaid.startswith("---\n") and "stateDiagram-v2" in mermaid
    assert dot.startswith("digraph")
    tags = state_tags(table)
    for state in table.states:
        label = state.name + (f" [{', '.join(tags[state.name])}]" if tags[state.name] else "")
        assert f'state "{label}" as {state.name}' in mermaid
    for row in table.rows:
        if isinstance(row.report, Condition) and row.report.value.code and row.dest:
            assert str(row.report.value.code) in tags[row.dest]


def test_dead_peer_state_is_tagged_13886() -> None:
    assert "DEAD [13886]" in diagram("ikev1_main_mode")
    assert 'DEAD [label="DEAD [13886]' in diagram("ikev1_main_mode", "dot")


def test_diagram_command() -> None:
    listed = run_cli("diagram")
    assert listed.returncode == 0 and listed.stdout.split() == machines()
    drawn = run_cli("diagram", "ikev1_quick_mode", "--format", "dot")
    assert drawn.returncode == 0 and drawn.stdout == diagram("ikev1_quick_mode", "dot")
    unknown = run_cli("diagram", "ikev3")
    assert unknown.returncode == 2 and "no machine named 'ikev3'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad_format = run_cli("diagram", "ikev1_quick_mode", "--format", "svg")
    assert bad_format.returncode == 2 and "Traceback" not in bad_format.stderr


def _tutorial_scenario() -> str:
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    return str(blocks[0])


def test_tutorial_scenario_runs_and_its_expectation_holds(tmp_path: Path) -> None:
    path = tmp_path / "my-first-scenario.toml"
    path.write_text(_tutorial_scenario(), encoding="utf-8")
    checked = run_cli("check", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "13805" in run_cli("run", str(path)).stdout


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (
            'profile = "strongswan"',
            'profile = "strongswan2"',
            f"strongswan2'; known: {', '.join(PROFILES)} (line 6)",
        ),
        ('"MM#1" = "TIMED_OUT"', '"MM#1" = "PEER_MM_NO_RESPONSE"', "PEER_MM_ASSUMED_INVALID"),
    ],
)
def test_tutorial_mistakes_are_named_with_their_line(tmp_path: Path, old: str, new: str, said: str) -> None:
    path = tmp_path / "mistake.toml"
    path.write_text(_tutorial_scenario().replace(old, new), encoding="utf-8")
    result = run_cli("run", str(path))
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr
