"""The command line: output forms, and one clean line with exit 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ikesim in a child process, exactly as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, check=False, env=None
    )


@pytest.mark.parametrize("form", ["13886", "0x363E", "0x8007363E", "PEER_MM_ASSUMED_INVALID",
                                  "ERROR_IPSEC_IKE_PEER_MM_ASSUMED_INVALID", "peer_mm_assumed_invalid"])  # fmt: skip
def test_explain_shows_the_same_entry_for_every_form(form, capsys):
    assert main(["explain", form, "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["name"] == "ERROR_IPSEC_IKE_PEER_MM_ASSUMED_INVALID"
    assert (entry["code"], entry["hex"], entry["hresult"]) == (13886, "0x363E", "0x8007363E")
    assert entry["marker"] is False


def test_explain_text_is_readable(capsys):
    assert main(["explain", "0x363E"]) == 0
    out = capsys.readouterr().out
    assert "ERROR_IPSEC_IKE_PEER_MM_ASSUMED_INVALID" in out
    assert "13886" in out
    assert "0x8007363E" in out
    assert "peer stopped responding" in out


def test_explain_of_a_marker_says_what_it_really_is(capsys):
    assert main(["explain", "13897"]) == 0
    out = capsys.readouterr().out
    assert "Range marker" in out
    assert "IKEEXT_ERROR_CODE_COUNT" in out


def test_codes_json_lists_the_whole_catalog(capsys):
    assert main(["codes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 110
    assert {"name", "code", "hex", "hresult", "message", "marker"} <= set(data[0])


def test_codes_text_has_one_line_per_code(capsys):
    assert main(["codes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 110
    assert lines[0].startswith("13800")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["explain", "13799"], "13799"),
        (["explain", "ERROR_IPSEC_IKE_SA_REKEYED"], "COEXISTENCE_SUPPRESS"),
        (["explain"], "Missing argument"),
        (["explain", "13886", "--bogus"], "--bogus"),
        (["nosuchcommand"], "nosuchcommand"),
        (["codes", "--json", "extra"], "extra"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args, needle):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_version_and_help_exit_0():
    assert run_cli("--version").returncode == 0
    assert "explain" in run_cli("--help").stdout


# --- nothing is written outside where the user said, and a failed write is an error -----------


def _ikesim(*args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, check=False)  # fmt: skip


def test_fixtures_stay_inside_the_output_folder_whatever_the_scenario_and_peers_are_named(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "../../escape"\n[peers."a/../../b"]\nrole = "initiator"\n'
                        '[peers."[bold]c[/bold]"]\nrole = "responder"\n')  # fmt: skip
    out = tmp_path / "deep" / "out"
    done = _ikesim("fixtures", str(scenario), "-o", str(out))
    assert done.returncode == 0, done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != scenario]
    assert written and all(out in p.parents for p in written)
    [folder] = out.iterdir()
    assert len({p.name for p in folder.iterdir()}) == 14  # a file per format and peer, and a decryption table


def test_two_scenarios_with_one_name_are_refused_before_anything_is_written(tmp_path):
    twin = tmp_path / "twin.toml"
    twin.write_text('name = "mm-qm-success"\n[peers.a]\nrole = "initiator"\n[peers.b]\nrole = "responder"\n')
    done = _ikesim("fixtures", "mm-qm-success", str(twin), "-o", str(tmp_path / "out"))
    assert done.returncode == 2 and "would overwrite each other" in done.stderr and str(twin) in done.stderr
    assert not (tmp_path / "out").exists() and "Traceback" not in done.stderr


def test_an_output_that_is_not_a_folder_or_cannot_be_written_is_an_error_not_a_traceback(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("mine")
    done = _ikesim("fixtures", "mm-qm-success", "-o", str(not_a_folder))
    assert done.returncode == 2 and "is a file" in done.stderr and not_a_folder.read_text() == "mine"
    done = _ikesim("fixtures", "mm-qm-success", "-o", "/dev/null")
    assert done.returncode == 2 and "not a directory" in done.stderr and "Traceback" not in done.stderr
    with open("/dev/full", "w") as full:
        done = _ikesim("run", "mm-qm-success", stdout=full)
    assert done.returncode == 2 and "No space left on device" in done.stderr and "Traceback" not in done.stderr


def test_a_run_cut_short_by_a_limit_says_so_and_exits_1_unless_the_scenario_expects_it(tmp_path):
    scenario = tmp_path / "cut.toml"
    body = 'name = "cut"\n[peers.a]\nrole = "initiator"\nconnections = 50\n[peers.b]\nrole = "responder"\n[limits]\n'
    scenario.write_text(body + "max_events = 100\n")
    for command in ("run", "check"):
        done = _ikesim(command, str(scenario))
        assert done.returncode == 1, command
        assert "run cut short: max_events 100 reached" in done.stderr + done.stdout, command
    scenario.write_text(body + "max_events = 100\ncut_expected = true\n")
    assert _ikesim("run", str(scenario)).returncode == 0


def test_the_default_event_limit_grows_with_the_scenario():
    from sim.scenario import parse_scenario
    from sim.simulator.engine import Simulation

    big = {"name": "big", "peers": {"a": {"role": "initiator", "connections": 40_000}, "b": {"role": "responder"}}}
    assert Simulation(parse_scenario(big)).max_events == 200 * 40_000 * 2  # one main mode and one quick mode each


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("a = " + "[" * 500 + "]" * 500 + "\n", "nested too deeply"),
        ('name = "x"\n[peers.a]\nrole = "initiator"\nretransmit = { tries = 3 }\n[peers.b]\nrole = "responder"\n',
         "windows has no option 'tries'; its options: give_up_after"),
        ('name = "x"\n[network]\nloss = nan\n[peers.a]\nrole = "initiator"\n[peers.b]\nrole = "responder"\n',
         "network.loss: Input should be a finite number"),
    ],
)  # fmt: skip
def test_scenario_problems_are_named_clearly_with_exit_2(tmp_path, content, says):
    path = tmp_path / "s.toml"
    path.write_text(content)
    done = _ikesim("check", str(path))
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


def test_a_scenario_file_that_never_ends_is_refused_not_read_whole():
    done = _ikesim("check", "/dev/zero")
    assert done.returncode == 2 and "larger than 1,000,000 bytes" in done.stderr


def test_check_does_not_call_a_scenario_without_expectations_passed_and_fixtures_of_nothing_is_an_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n[peers.a]\nrole = "initiator"\n[peers.b]\nrole = "responder"\n')
    done = _ikesim("check", str(path))
    assert done.returncode == 0 and "0 passed, 0 failed, 1 without [expect]" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _ikesim("fixtures", str(empty), "-o", str(tmp_path / "out"))
    assert done.returncode == 2 and "no scenario files" in done.stderr and not (tmp_path / "out").exists()


def test_instances_are_addressable_in_expect_and_names_that_collide_are_refused(tmp_path):
    path = tmp_path / "s.toml"
    fleet = '[peers.laptop]\nrole = "initiator"\ninstances = 2\n[peers.gw]\nrole = "responder"\n'
    path.write_text('name = "x"\n' + fleet + '[expect.laptop-2]\n"MM#2" = "NEG_STATUS_END"\n')
    assert _ikesim("check", str(path)).returncode == 0
    path.write_text(
        'name = "x"\n' + fleet + '[peers."laptop-1"]\nrole = "initiator"\n[expect.laptop]\n"MM#1" = "ATTRIB_FAIL"\n'
    )
    done = _ikesim("check", str(path))
    assert done.returncode == 2
    assert "peers.laptop-1: it would run as 'laptop-1'" in done.stderr
    assert "expect.laptop: laptop runs as laptop-1 .. laptop-2 (instances = 2): name one of them" in done.stderr


def test_terminal_escapes_in_names_and_descriptions_are_shown_not_obeyed_and_mermaid_names_are_aliased(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "x"\ndescription = "a \\u001b]0;pwned\\u0007 title"\n'
                    '[peers."c: ->>d"]\nrole = "initiator"\n[peers.gw]\nrole = "responder"\n')  # fmt: skip
    done = _ikesim("run", str(path))
    assert done.returncode == 0 and "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "a \\x1b]0;pwned\\x07 title" in done.stdout
    diagram = _ikesim("run", str(path), "--format", "mermaid").stdout.splitlines()
    assert diagram[1:3] == ["    participant p1 as c: ->>d", "    participant gw"]
    assert diagram[3].startswith("    p1->>gw: MM1")


def test_wrapped_descriptions_keep_hyphenated_words_whole():
    from sim.scenario import prose

    assert prose("once two main modes are half-\n  open. Then\nmore") == "once two main modes are half-open. Then more"
    assert "half- open" not in _ikesim("list").stdout


def test_the_rendered_audit_events_come_on_request_and_carry_the_message_text(tmp_path):
    from sim.outputs.registry import DEFAULT_FORMATS

    assert ",".join(DEFAULT_FORMATS) == "jsonl,text,mermaid,evtx,wfp,pcap"  # the fixtures command's default
    done = _ikesim("fixtures", "mm-no-response", "-o", str(tmp_path), "--formats", "evtx-rendered")
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "mm-no-response").iterdir())
    assert names == ["security-events-rendered-client.xml", "security-events-rendered-gateway.xml"]
    text = (tmp_path / "mm-no-response" / names[0]).read_text()
    assert "<RenderingInfo" in text and "main mode negotiation failed" in text.lower()


def test_run_outcomes_only_prints_the_header_and_the_outcomes_of_the_whole_run():
    whole = run_cli("run", "mm-peer-stops-responding", "--format", "jsonl")
    lean = run_cli("run", "mm-peer-stops-responding", "--format", "jsonl", "--outcomes-only")
    assert whole.returncode == lean.returncode == 0
    said = [json.loads(line) for line in whole.stdout.splitlines()[1:]]
    kept = [json.loads(line) for line in lean.stdout.splitlines()[1:]]
    assert [e["kind"] for e in kept] == ["outcome"] * len(kept) and kept
    strip = ("seq",)  # numbered among the events kept
    assert [{k: v for k, v in e.items() if k not in strip} for e in kept] == [
        {k: v for k, v in e.items() if k not in strip} for e in said if e["kind"] == "outcome"
    ]
    assert json.loads(lean.stdout.splitlines()[0])["events"] == len(kept)
