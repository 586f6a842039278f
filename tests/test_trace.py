"""The trace is the product: every output renders from it alone, and a saved trace renders the same files."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.library import scenarios
from sim.outputs.registry import FORMATS, RENDERERS, render_files
from sim.trace import Drop, Outcome, TraceError, load_trace, read_trace

OUTPUTS = Path(sim.__file__).parent / "outputs"


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", [s.name for s in scenarios()])
def test_a_saved_trace_renders_every_format_byte_for_byte_as_its_run(name, tmp_path):
    trace = sim.run(name)
    saved = tmp_path / "t.jsonl"
    saved.write_text(trace.to_jsonl(), encoding="utf-8")
    again = load_trace(saved)
    assert render_files(again) == render_files(trace)
    assert again.final_states.items() >= {k: v for k, v in trace.final_states.items() if "crash" not in v}.items()


def test_the_fixtures_command_gives_the_same_tree_from_a_scenario_and_from_its_saved_trace(tmp_path):
    name = "mm-peer-stops-responding"
    run = subprocess.run([sys.executable, "-m", "sim.cli", "run", name, "--format", "jsonl"],
                         capture_output=True, check=True)  # fmt: skip
    (tmp_path / "t.jsonl").write_bytes(run.stdout)
    for folder, source in (("A", str(tmp_path / "t.jsonl")), ("B", name)):
        done = subprocess.run([sys.executable, "-m", "sim.cli", "fixtures", source, "-o", str(tmp_path / folder)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    a, b = _tree(tmp_path / "A"), _tree(tmp_path / "B")
    assert a == b and len(a) == 14  # a capture per peer, and the IKEv1 decryption table


def test_every_format_is_registered_once_and_named_in_the_cli():
    assert len(set(FORMATS)) == len(FORMATS) and {"jsonl", "text", "mermaid", "evtx", "wfp", "pcap"} <= set(FORMATS)
    help_text = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--help"], capture_output=True, text=True
    ).stdout
    for name, renderer in RENDERERS.items():
        assert renderer.description and renderer.files
        if renderer.stdout:
            assert name in help_text
    trace = sim.run("mm-qm-success")
    for renderer in RENDERERS.values():
        files = renderer.render(trace)
        assert files and all(isinstance(data, bytes) and data for data in files.values()), renderer.name


def test_no_renderer_imports_the_simulator_the_scenario_loader_or_the_cli():
    for path in OUTPUTS.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        for forbidden in ("sim.simulator", "sim.scenario", "sim.cli", "sim.library"):
            assert not any(m == forbidden or m.startswith(forbidden + ".") for m in imported), (path.name, forbidden)


def test_records_are_typed_and_drops_say_why():
    trace = sim.run("mm-peer-stops-responding")
    drops = [e for e in trace.events if isinstance(e, Drop)]
    assert drops and {d.cause for d in drops} == {"silent"}
    assert all(isinstance(o, Outcome) and isinstance(o.code, int) for o in trace.outcomes)
    qm = trace.outcome("client", "QM#1")
    assert qm is not None and qm.parent == "MM#1" and trace.root_of("QM#1") == "MM#1"
    assert "Trace 'mm-peer-stops-responding' seed 0" in repr(trace)


def _lines(trace_text: str) -> list[str]:
    return trace_text.splitlines(keepends=True)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda lines: [], "empty"),
        (lambda lines: lines[1:], "line 1: the first line must be the header"),
        (lambda lines: [lines[0], "{not json\n", *lines[2:]], "line 2: not JSON"),
        (lambda lines: [lines[0], lines[2], *lines[2:]], "line 2: seq: 2, expected 1"),
        (lambda lines: [*lines, lines[-1]], "seq:"),
        (lambda lines: [lines[0], lines[1].replace('"transition"', '"teleport"'), *lines[2:]], "'teleport' is not"),
        (lambda lines: [lines[0], lines[1].replace('"t":0.0', '"t":"soon"'), *lines[2:]], "line 2: transition: t:"),
        (lambda lines: [lines[0], lines[1].replace('"machine"', '"engine"'), *lines[2:]], "machine: required"),
        (lambda lines: [lines[0].replace('"events":41', '"events":40'), *lines[1:]], "events: says 40"),
        (lambda lines: [lines[0].replace('"peers":[', '"peers":[7,'), *lines[1:]], "peers.0"),
    ],
)
def test_a_malformed_trace_is_refused_with_its_line(mutate, needle):
    lines = _lines(sim.run("mm-peer-stops-responding").to_jsonl())
    with pytest.raises(TraceError) as refused:
        read_trace(mutate(lines), "t.jsonl")
    assert needle in str(refused.value) and str(refused.value).startswith("t.jsonl: ")


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        # Found by `make fuzz`: the captures build every message, so a name its protocol lacks is refused.
        ('"message":"IKE_SA_INIT request"', '"message":""', "line 3: message: '' is not a message of ikev2"),
        ('"message":"IKE_SA_INIT request"', '"message":"0IKE_SA_INIT request"', "is not a message of ikev2"),
        ('"protocol":"ikev2"', '"protocol":"ikev3"', "header: peers.0: protocol: 'ikev3' is not one of"),
        ('"role":"initiator","protocol"', '"role":"bystander","protocol"', "peers.0: role: 'bystander' is not one"),
        ('"profile":"windows-ikev2"', '"profile":"windows-11"', "peers.0: profile: 'windows-11' is not one"),
        ('"auth":"psk"', '"auth":""', "peers.0: auth: '' is not one of psk, certificate, eap"),
        ('"encryption":"aes128"', '"encryption":""', "peers.0: proposals: expected a list of objects with encryption"),
        ('"dh_group":14', '"dh_group":3', "dh_group (of 1, 2, 5, 14"),
        ('"dh_groups":null', '"dh_groups":[2, 22]', "peers.0: dh_groups: expected a list of group numbers"),
        # Details the captures build from: an inner address, a status, a group.
        ("INTERNAL_IP4_ADDRESS=10.10.0.1", "INTERNAL_IP4_ADDRESS=010.10.0.1", "detail: INTERNAL_IP4_ADDRESS=010.10"),
        ('"detail":"CP(CFG_REPLY)', '"detail":"N(MS_NOTIFY_STATUS 4294967296) CP(CFG_REPLY)', "below 2**32"),
        ('"detail":"CP(CFG_REQUEST)"', '"detail":"KEi group 99"', "detail: KEi group 99: not a Diffie-Hellman"),
    ],
)
def test_a_trace_naming_what_ikesim_does_not_have_is_refused_once_per_line(old, new, needle):
    lines = _lines(sim.run("ikev2-success-with-inner-address").to_jsonl())
    first = next(i for i, line in enumerate(lines) if old in line)
    lines[first] = lines[first].replace(old, new, 1)
    with pytest.raises(TraceError) as refused:
        read_trace(lines, "t.jsonl")
    problems = str(refused.value).splitlines()
    assert needle in problems[0] and len(problems) == 1  # a refused line keeps its place: no seq errors after it


def test_the_cli_refuses_a_malformed_trace_with_exit_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"schema": "something/else"}) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "sim.cli", "fixtures", str(bad), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2 and "bad.jsonl: line 1:" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    with_seed = subprocess.run([sys.executable, "-m", "sim.cli", "fixtures", str(bad), "-o", str(tmp_path / "out"),
                                "--seed", "3"], capture_output=True, text=True, check=False)  # fmt: skip
    assert with_seed.returncode == 2 and "--seed" in with_seed.stderr


def test_a_missing_trace_file_is_a_clear_error(tmp_path):
    with pytest.raises(TraceError, match="cannot read it"):
        load_trace(tmp_path / "nowhere.jsonl")


def test_a_name_with_a_unicode_line_break_stays_on_its_line():
    # Found by `make fuzz`: U+0085 in a scenario name was written raw, and str.splitlines() (and
    # many JSON Lines readers) broke the header line in two when reading the trace back.
    text = sim.run("authip-damaged-em1").to_jsonl()
    renamed = text.replace('"scenario":"authip', '"scenario":"\\u0085\\u2028\\u2029authip', 1)
    trace = read_trace(renamed.splitlines())
    assert trace.scenario.startswith("\x85\u2028\u2029")
    written = trace.to_jsonl()
    assert len(written.splitlines()) == len(text.splitlines()) and "\\u0085\\u2028\\u2029" in written
    assert read_trace(written.splitlines()).to_jsonl() == written


def test_a_log_read_from_any_event_gives_what_it_gives_read_whole() -> None:
    """Short forms of one session in a row keep one reference (KIND_SAME): reading from the middle finds it.

    The library's runs mix them with long forms (drops, timers, retransmissions), which name their
    peer and SA themselves.
    """
    from sim.trace import KIND_SAME

    shared = 0
    for scenario in scenarios():
        raw = sim.run(scenario.name).raw
        assert raw is not None
        rows = list(raw.rows())
        if len(rows) > 300:
            continue
        shared += sum(1 for entry in raw.kinds if entry & KIND_SAME)
        for start in range(len(rows)):
            assert list(raw.rows(start)) == rows[start:], (scenario.name, start)
    assert shared > 1000  # what is checked does share references
