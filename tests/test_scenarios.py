"""The scenario library, its golden traces, the JSON Schema, and strict validation."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

import sim
from sim.errors import IkesimError
from sim.library import codes_shown, scenario_files, scenarios
from sim.protocol.policy import Policy, Proposal
from sim.scenario import PeerSpec, ScenarioError, library_dir, load_scenario, parse_scenario
from sim.tools.golden import GOLDEN, golden_text
from sim.tools.schema import SCHEMA_FILE, schema_text

BROKEN = Path(__file__).parent / "data" / "broken"
NAMES = [s.name for s in scenarios()]

# The codes of the SPEC's table of conditions: every row has a library scenario.
SPEC_ROWS = {13897, 13909, 13813, 13805, 13886, 13899, 13900, 13898, 13905, 13802, 13801, 13887, 13848, 13806,
             13865, 13807, 13885, 13895, 13882, 13884, 13903, 13890, 13891, 13846, 13888, 13843, 13824, 13880,
             13821, 13849, 13904}  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_golden_trace_is_byte_identical(name):
    golden = GOLDEN / f"{name}.jsonl"
    assert golden.exists(), f"no golden trace for {name}: run `make golden`"
    assert golden_text(name) == golden.read_text(encoding="utf-8"), f"{name} changed: read the diff, then `make golden`"


def test_every_golden_trace_has_a_scenario():
    assert sorted(p.stem for p in GOLDEN.glob("*.jsonl")) == sorted(NAMES)


def test_the_library_is_large_and_named_after_what_happens():
    files = scenario_files()
    assert len(files) >= 30
    for path, scenario in zip(files, scenarios(), strict=True):
        assert path.stem == scenario.name
        assert len(scenario.description) > 80, f"{scenario.name} should teach what happens"
        assert scenario.expect, f"{scenario.name} has no [expect]"


def test_every_row_of_the_spec_table_and_the_five_codes_are_shown():
    shown = set(codes_shown())
    assert shown >= SPEC_ROWS, sorted(SPEC_ROWS - shown)
    assert {13886, 13897, 13898, 13899, 13909} <= shown
    assert len(shown) >= 40


def test_every_library_scenario_meets_its_expectations():
    from sim.expectations import check
    from sim.simulator.engine import Simulation

    for scenario in scenarios():
        assert check(scenario, Simulation(scenario).run()) == [], scenario.name


def test_the_json_schema_in_docs_is_current():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run `make schema`"
    schema = json.loads(schema_text())
    assert schema["additionalProperties"] is False
    assert {"peers", "name"} <= set(schema["required"])


def test_load_by_library_name_and_by_path():
    by_name = load_scenario("mm-peer-stops-responding")
    assert by_name == load_scenario(scenario_files()[NAMES.index("mm-peer-stops-responding")])


BROKEN_FILES = {
    "syntax-error.toml": ["toml: Invalid value (at line 4, column 8)"],
    "unknown-keys.toml": [
        "colour: unknown key (line 2)",
        "peers.client.speed: unknown key (line 6)",
        "peers.gateway.policy.pool: unknown key (line 12)",
    ],
    "wrong-types.toml": [
        "seed: Input should be a valid integer",
        "peers.client.start:",
        "peers.client.connections:",
        "peers.gateway.policy.address_pool:",
    ],
    "bad-values.toml": [
        "peers.client.profile: unknown profile 'windows-ikev3'",
        "peers.client.start:",
        "peers.gateway.policy.pool_base: '10.10.0.300' is not an IPv4 address (line 19)",
        "faults.0.nth:",
        "faults.1.code: ERROR_IPSEC_IKE_PEER_MM_NO_RESPONSE is not a Windows name",
    ],
    "impossible-expectation.toml": [
        "expect.client.CHILD#1.code: expects success, but the responder's address pool is empty (line 21)",
        "expect.client.QM#1: an IKEv2 peer has no QM SAs",
        "expect.client.tunnel: 'tunnel' is not an SA label",
    ],
}


@pytest.mark.parametrize(("file", "needles"), BROKEN_FILES.items())
def test_every_problem_of_a_broken_file_is_named_with_its_line(file, needles):
    with pytest.raises(ScenarioError) as raised:
        load_scenario(BROKEN / file)
    text = str(raised.value)
    for needle in needles:
        assert needle in text
    for line in text.splitlines():
        assert line.startswith(f"{BROKEN / file}: ")
    assert len(text.splitlines()) == len(raised.value.problems) >= len(needles)


@pytest.mark.parametrize(
    ("policy", "problems"),
    [
        ({"proposals": []}, ["policy.proposals: List should have at least 1 item after validation, not 0"]),
        ({"proposals": "aes"}, ["policy.proposals: Input should be a valid list"]),
        # A proposal that fails is named once: the list around it is not "too short" as well.
        (
            {"proposals": [{"dh_group": 0}]},
            ["policy.proposals.0.dh_group: Input should be 1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21 or 31"],
        ),
        ({"proposals": [{"cipher": "des"}]}, ["policy.proposals.0.cipher: unknown key"]),
        ({"mm_lifetime": float("inf")}, ["policy.mm_lifetime: Input should be a finite number"]),
        ({"shutdown_at": float("nan")}, ["policy.shutdown_at: Input should be a finite number"]),
        # Local faults are faults (kind = "local"), not something a policy sets.
        ({"local_faults": {"MM1": 13801}}, ["policy.local_faults: unknown key"]),
    ],
)
def test_policy_problems_read_as_a_file_user_wrote_them(policy, problems):
    peers = {"client": {"role": "initiator", "policy": policy}, "gateway": {"role": "responder"}}
    with pytest.raises(ScenarioError) as raised:
        parse_scenario({"name": "p", "peers": peers})
    assert raised.value.problems == [f"peers.client.{p}" for p in problems]


def test_a_policy_built_in_python_is_checked_like_one_from_a_file():
    policy = Policy(auth="kerberos", proposals=())
    with pytest.raises(ValidationError) as raised:
        PeerSpec(role="initiator", policy=policy)
    assert {e["loc"] for e in raised.value.errors()} == {("policy", "auth"), ("policy", "proposals")}
    fine = Policy(proposals=(Proposal("3des", "sha256", 2),), mm_lifetime=600.0)
    assert PeerSpec(role="initiator", policy=fine).policy == fine


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True, check=False)


def test_check_a_folder_of_broken_files_exits_2_naming_every_problem_and_nothing_else():
    result = _cli("check", str(BROKEN))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert {line.split(": ")[0] for line in lines} == {str(p) for p in sorted(BROKEN.glob("*.toml"))}
    assert len(lines) >= 15


def test_check_the_library_passes():
    result = _cli("check", "scenarios/")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == f"{len(NAMES)} passed, 0 failed"


def test_check_reports_a_failed_expectation_with_a_diff(tmp_path):
    text = (scenario_files()[NAMES.index("mm-no-response")]).read_text()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('code = "DROP_NO_RESPONSE"', 'code = "TIMED_OUT"'))
    result = _cli("check", str(wrong))
    assert result.returncode == 1
    assert "- expected: 13805 TIMED_OUT" in result.stdout
    assert "+ actual:   13813 DROP_NO_RESPONSE" in result.stdout


def test_list_shows_the_library_one_line_each():
    lines = _cli("list").stdout.splitlines()
    assert len(lines) == len(NAMES)
    assert any(line.startswith("mm-peer-stops-responding ") for line in lines)


def test_run_text_jsonl_mermaid():
    text = _cli("run", "mm-peer-stops-responding")
    assert text.returncode == 0
    assert "13886 ERROR_IPSEC_IKE_PEER_MM_ASSUMED_INVALID" in text.stdout
    assert "retransmission 6" in text.stdout
    jsonl = _cli("run", "mm-peer-stops-responding", "--format", "jsonl")
    lines = jsonl.stdout.splitlines()
    header = json.loads(lines[0])
    assert (header["schema"], header["scenario"], header["seed"]) == ("ikesim.trace/1", "mm-peer-stops-responding", 0)
    events = [json.loads(line) for line in lines[1:]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all({"t", "seq", "kind", "peer", "sa"} <= set(e) for e in events)
    mermaid = _cli("run", "mm-peer-stops-responding", "--format", "mermaid").stdout
    assert mermaid.startswith("sequenceDiagram\n    participant client\n    participant gateway\n")
    assert "client-xgateway: QM1 lost" in mermaid
    assert "MM#35;1" in mermaid


def test_run_with_another_seed_changes_a_lossy_run():
    a = _cli("run", "mm-lossy-link-seeded", "--format", "jsonl", "--seed", "1").stdout
    b = _cli("run", "mm-lossy-link-seeded", "--format", "jsonl", "--seed", "2").stdout
    assert a != b
    assert a == _cli("run", "mm-lossy-link-seeded", "--format", "jsonl", "--seed", "1").stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "no-such-scenario"], "no such file, and no library scenario of that name"),
        (["run", "mm-qm-success", "--seed", "-1"], "--seed"),
        (["run", "mm-qm-success", "--format", "pdf"], "--format"),
        (["check", "/nonexistent/folder/x.toml"], "x.toml"),
    ],
)
def test_run_and_check_bad_input_exits_2_without_a_traceback(args, needle):
    result = _cli(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_explain_and_codes_name_the_scenarios_that_show_a_code():
    explained = json.loads(_cli("explain", "13899", "--json").stdout)
    assert "ikev2-inner-ip-pool-exhausted" in explained["scenarios"]
    assert explained["conditions"][0]["condition"] == "inner_ip_unavailable"
    text = _cli("explain", "13886").stdout
    assert "mm-peer-stops-responding" in text
    catalog = {e["code"]: e for e in json.loads(_cli("codes", "--json").stdout)}
    assert "nap-reauth-kills-dummy-tunnel" in catalog[13898]["scenarios"]
    assert catalog[13800]["scenarios"] == []


def test_run_by_api_accepts_a_library_name():
    assert sim.run("mm-qm-success").outcome("client", "QM#1").code == 13897


def test_a_key_named_inside_a_multi_line_string_is_not_taken_for_the_key(tmp_path):
    text = '''name = "x"
description = """
seed = 3 would make the run lose another message.
"""
seed = -1
[peers.client]
role = "initiator"
[peers.gateway]
role = "responder"
'''
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    assert "seed: " in str(refused.value) and str(refused.value).endswith("(line 5)")


def _schema_errors(data):
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return list(jsonschema.Draft202012Validator(schema).iter_errors(data))


@pytest.mark.parametrize("path", sorted(library_dir().glob("*.toml")), ids=lambda p: p.stem)
def test_every_library_scenario_is_valid_against_the_published_schema(path):
    assert _schema_errors(tomllib.loads(path.read_text(encoding="utf-8"))) == []


BASE = {"name": "x", "peers": {"a": {"role": "initiator"}, "b": {"role": "responder"}}}


@pytest.mark.parametrize(
    "change",
    [
        {"seed": "3"},
        {"seed": True},
        {"peers": {"a": {"role": "initiator", "connections": "2"}, "b": {"role": "responder"}}},
        {"peers": {"a": {"role": "initiator", "policy": {"request_address": "yes"}}, "b": {"role": "responder"}}},
        {"peers": {"a": {"role": "initiator", "profile": "cisco"}, "b": {"role": "responder"}}},
        {"peers": {"a": {"role": "initiator"}, "b": {"role": "responder"}}, "expect": {"a": {"MM#1": True}}},
        # A group whose key exchange the captures cannot build (`ikesim fixtures` crashed on group 3).
        {"peers": {"a": {"role": "initiator", "policy": {"proposals": [{"dh_group": 3}]}}, "b": {"role": "responder"}}},
        {"peers": {"a": {"role": "initiator"}, "b": {"role": "responder", "policy": {"dh_groups": [14, 24]}}}},
    ],
)
def test_the_loader_and_the_schema_refuse_the_same_coercions(change):
    data = {**BASE, **change}
    with pytest.raises(IkesimError):
        parse_scenario(data)
    assert _schema_errors(data) != []


def test_a_scenario_may_name_exactly_the_groups_the_captures_build():
    from typing import get_args

    from sim.protocol.policy import Group
    from sim.wire import dh

    assert set(get_args(Group)) == set(dh.GROUPS)
