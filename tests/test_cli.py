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
