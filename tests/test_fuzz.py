"""Fuzzing in the suite (issue 18): the scenario loader, the CLI, the trace reader and the live responder.

Each target is fed structured mutations of real inputs (library scenarios, saved traces, real
MM1/MM3/IKE_SA_INIT datagrams) and raw bytes, and must answer with its documented error type
only, within a deadline, with small inputs, and with its state unchanged after a rejected input.

``make test`` runs these briefly (tens of examples each). ``make fuzz`` sets ``IKESIM_FUZZ=1``:
then every test runs with the ``fuzz`` settings profile registered below (no deadline, no
example cap to speak of) for its share of ``IKESIM_FUZZ_SECONDS``; pytest's
``--hypothesis-show-statistics`` prints Hypothesis' statistics, and the summary at the end each
target's examples and examples per second (``FUZZ_TALLY``, printed by ``conftest.py``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sim
from sim.cli import main
from sim.errors import IkesimError
from sim.library import scenario_files
from sim.live import ikev2 as wire2
from sim.live.crypto import NON_ESP_MARKER
from sim.live.responder import Limits, LiveResponder, responder_for
from sim.outputs.registry import FORMATS, RENDERERS
from sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from sim.simulator.engine import Simulation
from sim.trace import TraceError, load_trace, read_trace
from sim.wire import dh, reader
from sim.wire import payloads as wp

# --- settings: brief in `make test`, long in `make fuzz` ------------------------------------------

FUZZ = os.environ.get("IKESIM_FUZZ") == "1"
FUZZ_TESTS = 7  # the tests below that take a share of IKESIM_FUZZ_SECONDS
settings.register_profile(
    "fuzz",
    max_examples=100_000_000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


class _TimeBoxed(settings):
    """The fuzz profile, ended after a wall-clock budget: ``max_examples`` reads 0 once the budget is spent.

    Hypothesis reads ``max_examples`` after every example, so the run stops at the next one, and
    its statistics say how many ran. The clock starts when Hypothesis first asks.
    """

    _stop_at: float | None = None
    _budget: float = 0.0

    @property
    def max_examples(self) -> int:
        if self._stop_at is None:
            object.__setattr__(self, "_stop_at", time.monotonic() + self._budget)
        assert self._stop_at is not None
        return self._max_examples if time.monotonic() < self._stop_at else 0  # type: ignore[attr-defined]


# Under `make fuzz`: each test's examples, and the times of its first and last (conftest prints the rates).
FUZZ_TALLY: dict[str, list[float]] = {}


def _tallied(name: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    """``inner``, counting its examples and timing them from the first one's start to the last one's end."""
    tally = FUZZ_TALLY.setdefault(name, [0, math.inf, 0.0])

    def counted(*args: Any, **kwargs: Any) -> Any:
        tally[1] = min(tally[1], time.monotonic())
        try:
            return inner(*args, **kwargs)
        finally:
            tally[0] += 1
            tally[2] = time.monotonic()

    return counted


def fuzzed(examples: int, deadline_ms: int) -> Callable[[Any], Any]:
    """Brief settings for the suite (``examples``, a deadline per example), or the fuzz profile under IKESIM_FUZZ."""
    brief = settings(
        derandomize=True,  # the suite's brief run is the same every time: a CI failure is reproducible
        max_examples=examples,
        deadline=timedelta(milliseconds=deadline_ms),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    if not FUZZ:
        return brief
    seconds = float(os.environ.get("IKESIM_FUZZ_SECONDS") or 0)
    if seconds <= 0:  # no time bound: the profile's example cap
        return settings(settings.get_profile("fuzz"))

    def apply(test: Any) -> Any:
        boxed = _TimeBoxed(settings.get_profile("fuzz"))
        object.__setattr__(boxed, "_budget", seconds / FUZZ_TESTS)
        test = settings(settings.get_profile("fuzz"))(test)
        test._hypothesis_internal_use_settings = boxed  # Hypothesis reads the settings from here
        test.hypothesis.inner_test = _tallied(test.__name__, test.hypothesis.inner_test)
        return test

    return apply


# --- shared inputs -------------------------------------------------------------------------------

LIBRARY = {path.stem: tomllib.loads(path.read_text(encoding="utf-8")) for path in scenario_files()}
LIBRARY_TEXT = {path.stem: path.read_text(encoding="utf-8") for path in scenario_files()}
NAMES = sorted(LIBRARY)
SANDBOX = Path(tempfile.mkdtemp(prefix="ikesim-fuzz-"))  # every file these tests write is under it
MAX_WORK = 40  # negotiations a generated scenario may declare and still be run


@pytest.fixture(scope="module", autouse=True)
def _sandbox() -> Iterator[None]:
    yield
    shutil.rmtree(SANDBOX, ignore_errors=True)


WEIRD = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**63, 10**9, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 1e-300]),
    st.booleans(),
    st.lists(st.integers(-3, 300) | st.text(max_size=4), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 2) | st.text(max_size=4), max_size=3),
    st.sampled_from(["", "..", "../x", "/tmp/x", "a/b", "x" * 2000, "\x1b]0;t\x07", "[bold]x[/]", "MM#1", "ikev2",
                     "responder", "initiator", "windows", "strongswan", "NEG_STATUS_END", "13801", "client-1"]),
)  # fmt: skip
KEY_NAMES = st.sampled_from(
    ["name", "role", "protocol", "profile", "connect", "connections", "instances", "interval", "start", "policy",
     "retransmit", "peers", "faults", "limits", "expect", "network", "seed", "max_events", "max_time", "until",
     "loss", "latency", "jitter", "message", "kind", "code", "proposals", "dh_groups", "psk", "quick_modes",
     "rekey_after", "address_pool", "request_address", "MM#1", "QM#1", "IKE#1", "client", "gateway", "client-1"]
) | st.text(min_size=1, max_size=10)  # fmt: skip


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in nested dicts and lists (the root is the empty path)."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, (*prefix, i))
    return out


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


@st.composite
def mutated(draw: st.DrawFn, base: Any, rounds: int = 4) -> Any:
    """``base`` (dicts, lists, scalars) after 1 to ``rounds`` structured mutations."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, rounds))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "duplicate", "retype", "rename", "nest", "deep", "add"]))
        if op == "delete":
            del parent[key]
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[draw(KEY_NAMES)] = copy.deepcopy(parent[key])
        elif op == "retype":
            parent[key] = draw(WEIRD)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(KEY_NAMES)] = parent.pop(key)
        elif op == "nest":
            wrap = draw(st.sampled_from(["list", "dict", "same-key"]))
            value = parent[key]
            parent[key] = [value] if wrap == "list" else {"x" if wrap == "dict" else str(key): value}
        elif op == "deep":
            value = parent[key]
            for _ in range(draw(st.integers(5, 400))):
                value = {"x": value} if draw(st.booleans()) else [value]
            parent[key] = value
        elif op == "add" and isinstance(_at(data, path), dict):
            _at(data, path)[draw(KEY_NAMES)] = draw(WEIRD)
    return data


def _work(scenario: Scenario) -> int:
    """The negotiations a scenario declares (each initiator's connections, instances and quick modes)."""
    return sum(
        p.instances * p.connections * (1 + p.policy.quick_modes)
        for p in scenario.peers.values()
        if p.role == "initiator"
    )


def _runs_within_limits(scenario: Scenario) -> None:
    """A scenario that loaded runs without an exception, within its limits (cheap ones only: small inputs)."""
    if _work(scenario) > MAX_WORK or any(
        (p.policy.rekey_after or math.inf) < 1 or p.interval * p.connections > 3600 for p in scenario.peers.values()
    ):
        return  # declared work too large for a brief example
    limits = scenario.limits.model_copy(update={"max_events": min(scenario.limits.max_events or 20_000, 20_000)})
    capped = scenario.model_copy(update={"limits": limits})
    simulation = Simulation(capped)
    trace = simulation.run()
    assert len(trace.events) <= simulation.max_events + 100
    assert trace.end <= max(capped.limits.max_time, capped.limits.until or 0.0) + 1e-6
    for renderer in ("jsonl", "text"):
        RENDERERS[renderer].render(trace)


# --- 1. the scenario loader ----------------------------------------------------------------------


@fuzzed(examples=150, deadline_ms=5000)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_loader_structured_mutations_raise_only_scenario_errors_and_loaded_ones_run(name: str, data: Any) -> None:
    original = LIBRARY[name]
    mutant = data.draw(mutated(original), label="mutant")
    before = repr(mutant)
    try:
        scenario = parse_scenario(mutant, f"{name}.toml")
    except ScenarioError as error:
        problems = error.problems
        assert problems and all(isinstance(p, str) and p for p in problems)
        assert repr(mutant) == before  # the loader does not touch its input
        assert parse_scenario(copy.deepcopy(original)).name == original["name"]  # and keeps no state from it
        event("rejected")
        return
    event("loaded")
    assert repr(mutant) == before
    _runs_within_limits(scenario)


SPLICES = st.sampled_from(
    [b"[", b"]", b"=", b'"', b"'''", b"\n[peers.x]\n", b"\x00", b"\xff\xfe", b"= nan", b"= 1e999", b"= [[[", b"{",
     b"\\u0000", b"\r"]
)  # fmt: skip


def _text_mutation(draw: st.DrawFn, text: str) -> bytes:
    op = draw(st.sampled_from(["splice", "delete", "truncate", "bytes", "repeat", "deep"]))
    raw = text.encode()
    if op == "bytes":
        return draw(st.binary(max_size=400))
    i = draw(st.integers(0, len(raw)))
    if op == "splice":
        insert = draw(SPLICES | st.binary(max_size=8))
        return raw[:i] + insert + raw[i:]
    if op == "delete":
        return raw[:i] + raw[i + draw(st.integers(1, 40)) :]
    if op == "truncate":
        return raw[:i]
    if op == "repeat":
        return raw + raw[i:]
    depth = draw(st.integers(1, 2000))
    return raw + b"\nnested = " + b"[" * depth + b"1" + b"]" * depth + b"\n"


@fuzzed(examples=150, deadline_ms=5000)
@given(name=st.sampled_from(NAMES), data=st.data())
def test_loader_raw_files_raise_only_scenario_errors(name: str, data: Any) -> None:
    raw = _text_mutation(data.draw, LIBRARY_TEXT[name])
    path = SANDBOX / "loader" / "fuzz.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    try:
        scenario = load_scenario(path)
    except ScenarioError as error:
        assert error.problems  # noqa: PT017
        assert path.read_bytes() == raw
        event("rejected")
        return
    event("loaded")
    _runs_within_limits(scenario)


# --- 2. the command line -------------------------------------------------------------------------


def _cli_files() -> dict[str, Path]:
    """Inputs the CLI is given: a scenario, a broken one, a saved trace, a damaged trace, an empty folder."""
    folder = SANDBOX / "cli-inputs"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "good": folder / "good.toml",
        "bad": folder / "bad.toml",
        "trace": folder / "run.jsonl",
        "badtrace": folder / "bad.jsonl",
        "escape": folder / "escape.toml",
        "empty": folder / "empty",
    }
    files["good"].write_text(LIBRARY_TEXT["mm-qm-success"], encoding="utf-8")
    files["bad"].write_text('name = "x"\n[peers.a]\nrole = 3\n', encoding="utf-8")
    files["trace"].write_text(sim.run("mm-no-proposal-chosen").to_jsonl(), encoding="utf-8")
    files["badtrace"].write_text('{"schema": "ikesim.trace/1"}\n{"kind": 3}\n', encoding="utf-8")
    files["escape"].write_text(LIBRARY_TEXT["mm-qm-success"].replace('"mm-qm-success"', '"../../escaped"'), "utf-8")
    files["empty"].mkdir(exist_ok=True)
    return files


CLI_FILES = _cli_files()
COMMANDS = ["codes", "explain", "list", "run", "check", "diagram", "fixtures"]
OPTIONS = ["--json", "--seed", "--format", "--formats", "-h", "--help", "--version", "--", "-x", "--nope"]
WORDS = ["mm-qm-success", "no-such-scenario", "13801", "0x363E", "PEER_MM_ASSUMED_INVALID", "ikev1-mm", "jsonl", "text",
         "pcap", "mermaid", "dot", "jsonl,pcap", ",", "-1", "0", "99999999999999999999", "nan", "", " ", "..", "a/b",
         "\x1b[2J", "[red]x"]  # fmt: skip
TOKEN = st.one_of(
    st.sampled_from(COMMANDS + OPTIONS),
    st.sampled_from([str(p) for p in CLI_FILES.values()]),
    st.sampled_from([*NAMES[:8], *WORDS]),
    st.text(max_size=8).filter(lambda t: not t.startswith(("-o", "--o", "/"))),
)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


_CLI_RUNS = [0]


@fuzzed(examples=100, deadline_ms=10_000)
@given(command=st.sampled_from(COMMANDS), args=st.lists(TOKEN, max_size=5), output=st.booleans(), data=st.data())
def test_cli_exits_0_1_or_2_and_writes_only_under_its_output_folder(
    command: str, args: list[str], output: bool, data: Any
) -> None:
    _CLI_RUNS[0] += 1
    work = SANDBOX / "cli" / f"run-{_CLI_RUNS[0]}"
    work.mkdir(parents=True)
    out = work / data.draw(st.sampled_from(["out", "out/deeper", "existing-file"]), label="output")
    if out.name == "existing-file":
        out.write_text("not a folder")
    argv = [command, *args]
    if output or command == "fixtures":
        argv[1 + data.draw(st.integers(0, len(args)), label="at") : 0] = ["-o", str(out)]
    outside_before = {k: v for k, v in _tree(SANDBOX).items() if not (SANDBOX / k).is_relative_to(work)}
    cwd = Path.cwd()
    os.chdir(work)  # a relative path the CLI writes to lands here, not in the project
    try:
        status = main(argv)
    finally:
        os.chdir(cwd)
    assert status in (0, 1, 2), argv
    event(f"{command}: exit {status}")
    outside_after = {k: v for k, v in _tree(SANDBOX).items() if not (SANDBOX / k).is_relative_to(work)}
    assert outside_after == outside_before, (argv, set(outside_after) ^ set(outside_before))
    written = {p for p in work.rglob("*") if p.is_file() and p.name != "existing-file"}
    stray = {p for p in written if not p.resolve().is_relative_to(out.resolve())}
    assert not stray, (argv, stray)
    shutil.rmtree(work, ignore_errors=True)


# --- 3. the trace reader -------------------------------------------------------------------------

TRACED = ["mm-qm-success", "mm-no-proposal-chosen", "ikev2-success-with-inner-address", "authip-damaged-em1"]
TRACES = {name: sim.run(name).to_jsonl() for name in TRACED}


@st.composite
def trace_lines(draw: st.DrawFn) -> list[str]:
    """A real saved trace after line, JSON or byte mutations."""
    lines = draw(st.sampled_from(sorted(TRACES)).map(TRACES.get)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        op = draw(st.sampled_from(["json", "json", "json", "delete", "duplicate", "swap", "text", "truncate"]))
        if not lines:
            lines = [draw(st.text(max_size=40))]
        elif op == "json":
            try:
                decoded = json.loads(lines[i])
            except ValueError:
                continue
            lines[i] = json.dumps(draw(mutated(decoded, rounds=2)), allow_nan=True) + "\n"
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "text":
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + draw(st.text(max_size=6)) + lines[i][k:]
        else:
            lines = lines[:i]
    return lines


@fuzzed(examples=200, deadline_ms=5000)
@given(lines=trace_lines(), via_file=st.booleans())
def test_trace_reader_raises_only_trace_errors_and_what_it_accepts_renders(lines: list[str], via_file: bool) -> None:
    try:
        if via_file:
            path = SANDBOX / "trace" / "fuzz.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes("".join(lines).encode("utf-8", "surrogatepass"))
            trace = load_trace(path)
        else:
            trace = read_trace(lines)
    except TraceError as error:
        assert error.problems  # noqa: PT017
        name = "mm-qm-success"
        assert read_trace(TRACES[name].splitlines()).to_jsonl() == TRACES[name]  # no state kept from the bad one
        event("rejected")
        return
    event("accepted")
    again = read_trace(trace.to_jsonl().splitlines())
    assert again.to_jsonl() == trace.to_jsonl()
    for fmt in FORMATS:  # `ikesim fixtures saved.jsonl` renders every format of what was read
        with contextlib.suppress(IkesimError):
            RENDERERS[fmt].render(trace)


@fuzzed(examples=100, deadline_ms=5000)
@given(raw=st.binary(max_size=600))
def test_trace_reader_raw_bytes_raise_only_trace_errors(raw: bytes) -> None:
    path = SANDBOX / "trace" / "raw.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    with contextlib.suppress(TraceError):
        load_trace(path)


# --- 4. the live responder's datagram handling ---------------------------------------------------

PAIR14 = dh.key_pair(14, b"fuzz" * 8, b"initiator")
PAIR2 = dh.key_pair(2, b"fuzz" * 8, b"initiator")


def _v1_attributes(encryption: int, bits: int | None, hash_: int, group: int, auth: int = 1) -> bytes:
    out = wp.attribute(1, encryption) + (wp.attribute(14, bits) if bits else b"")
    return (
        out
        + wp.attribute(2, hash_)
        + wp.attribute(3, auth)
        + wp.attribute(4, group)
        + wp.attribute(11, 1)
        + (wp.attribute(12, 28800))
    )


V1_OFFERS = [
    _v1_attributes(7, 128, 2, 14),  # AES-128, SHA-1, group 14: what every served profile accepts
    _v1_attributes(5, None, 2, 2),  # 3DES, SHA-1, group 2
    _v1_attributes(1, None, 1, 1),  # DES, MD5, group 1: refused
]


def v1_mm1(icookie: bytes, offers: list[bytes], vids: list[bytes]) -> bytes:
    transforms = [wp.v1_transform(i, 1, a) for i, a in enumerate(offers, start=1)]
    sa = wp.v1_sa([wp.v1_proposal(1, 1, b"", transforms)])
    return wp.v1_message(icookie, bytes(8), 2, [sa, *((wp.V1_VID, v) for v in vids)])


def v1_mm3(icookie: bytes, rcookie: bytes, group: int) -> bytes:
    public = PAIR14.public if group == 14 else PAIR2.public
    body = [(wp.V1_KE, public), (wp.V1_NONCE, b"n" * 32), (20, bytes(20)), (20, bytes(20))]
    return wp.v1_message(icookie, rcookie, 2, body)


def v2_init(spi: bytes, groups: list[int], ke_group: int) -> bytes:
    transforms = [wp.v2_transform(1, 12, 128), wp.v2_transform(2, 5), wp.v2_transform(3, 12)]
    transforms += [wp.v2_transform(4, g) for g in groups]
    public = PAIR14.public if ke_group == 14 else PAIR2.public
    body = [wp.v2_sa([wp.v2_proposal(1, 1, b"", transforms)]), wp.v2_ke(ke_group, public), (wp.V2_NONCE, b"n" * 32),
            wp.v2_notify(16388, data=bytes(20)), wp.v2_notify(16389, data=bytes(20))]  # fmt: skip
    return wp.message(spi, bytes(8), 0x20, 34, 0x08, 0, body)


def _v1_payloads(data: bytes) -> tuple[bytes, bytes, int, int, int, list[tuple[int, bytes]]]:
    d = reader.read_isakmp(data)
    return d.icookie, d.rcookie, d.exchange, d.flags, d.message_id, list(d.payloads)


@st.composite
def structured(draw: st.DrawFn, data: bytes, v2: bool) -> bytes:
    """A real datagram with one payload's body mutated (the lengths kept right, so the damage goes deep),
    a header field changed, bytes flipped, cut or added, or spliced with another."""
    op = draw(st.sampled_from(["payload", "payload", "header", "flip", "cut", "extend", "drop-payload", "same"]))
    raw = bytearray(data)
    if op in ("payload", "drop-payload"):
        try:
            parsed: Any = reader.read_ikev2(data) if v2 else reader.read_isakmp(data)
        except reader.WireError:  # not the version this responder speaks: damage its bytes instead
            parsed, op = None, "flip"
        payloads = list(parsed.payloads) if parsed is not None else []
        if payloads:
            i = draw(st.integers(0, len(payloads) - 1))
            kind, body = payloads[i]
            if op == "drop-payload":
                del payloads[i]
            else:
                b = bytearray(body)
                how = draw(st.sampled_from(["flip", "cut", "grow", "field", "type"]))
                if how == "flip" and b:
                    for _ in range(draw(st.integers(1, 4))):
                        b[draw(st.integers(0, len(b) - 1))] ^= 1 << draw(st.integers(0, 7))
                elif how == "cut":
                    b = b[: draw(st.integers(0, len(b)))]
                elif how == "grow":
                    b += draw(st.binary(max_size=40))
                elif how == "field" and len(b) >= 2:
                    j = draw(st.integers(0, len(b) - 2))
                    b[j : j + 2] = draw(st.sampled_from([0, 1, 2, 0x7FFF, 0x8000, 0xFFFF, 0x8001, 255])).to_bytes(
                        2, "big"
                    )
                elif how == "type":
                    kind = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 10, 13, 20, 33, 34, 40, 41, 46, 130, 255]))
                payloads[i] = (kind, bytes(b))
            if v2:
                return wp.message(parsed.spi_i, parsed.spi_r, 0x20, parsed.exchange, parsed.flags, parsed.message_id,
                                  payloads)  # fmt: skip
            return wp.v1_message(parsed.icookie, parsed.rcookie, parsed.exchange, payloads, parsed.message_id,
                                 parsed.flags)  # fmt: skip
    if op == "flip" and not raw:
        raw = bytearray(b"\x00")
    if op == "header":
        offset = draw(st.sampled_from([8, 16, 17, 18, 19, 20, 24]))
        width = {8: 8, 20: 4, 24: 4}.get(offset, 1)
        raw[offset : offset + width] = draw(st.binary(min_size=width, max_size=width))
    elif op == "flip":
        for _ in range(draw(st.integers(1, 6))):
            raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif op == "cut":
        del raw[draw(st.integers(0, len(raw))) :]
    elif op == "extend":
        raw += draw(st.binary(min_size=1, max_size=64))
    return bytes(raw)


ADDRESSES = st.tuples(st.sampled_from(["192.0.2.1", "192.0.2.2", "198.51.100.7", "::1", "10.0.0.1"]),
                      st.sampled_from([500, 4500, 40000, 65535]))  # fmt: skip
LIMITS = Limits(per_address=3, total=6)
PROGRESS = frozenset({"recv", "send", "retransmit", "outcome", "transition", "timer"})


def _state(r: LiveResponder) -> tuple[Any, ...]:
    """What a rejected datagram must leave as it was: the negotiations kept, and where each is answered."""
    where = sorted((label, c.address, c.natt) for label, c in r.conversations.items())
    return (r.negotiations(), dict(r.per_address), sorted(r.conversations), sorted(r.by_cookie), where)


def _within_limits(r: LiveResponder) -> None:
    assert r.negotiations() <= LIMITS.total
    assert all(0 < n <= LIMITS.per_address for n in r.per_address.values()), r.per_address
    assert sum(r.per_address.values()) == r.negotiations()


@st.composite
def steps(draw: st.DrawFn, v2: bool) -> list[tuple[str, Any]]:
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["valid", "valid", "next", "mutant", "mutant", "mutant", "random", "tick"]),
                st.integers(0, 2**16),
            ),
            min_size=1,
            max_size=14,
        )
    )


def _drive(r: LiveResponder, v2: bool, plan: list[tuple[str, int]], data: Any) -> None:
    events: list[dict[str, Any]] = []
    r.emit = events.append
    now = 0.0
    seen: list[bytes] = []  # valid datagrams sent so far: mutations start from them
    answered: list[tuple[bytes, bytes]] = []  # (initiator cookie or SPI, responder's) of negotiations under way
    for what, n in plan:
        now += data.draw(st.sampled_from([0.0, 0.0, 0.1, 1.0, 7.0, 45.0]), label="dt")
        address = data.draw(ADDRESSES, label="from")
        natt = address[1] == 4500 and data.draw(st.booleans(), label="natt")
        if what == "tick":
            r.tick(now)
            _within_limits(r)
            continue
        valid = what == "valid" or (not seen and what in ("mutant", "next")) or (what == "next" and bool(answered))
        if what == "valid" or (not seen and what in ("mutant", "next")):
            cookie = n.to_bytes(8, "big") if n else b"\x00" * 7 + b"\x01"
            datagram = (v2_init(cookie, data.draw(st.sampled_from([[14], [2, 14], [1]]), label="groups"), 14) if v2
                        else v1_mm1(cookie, data.draw(st.lists(st.sampled_from(V1_OFFERS), min_size=1, max_size=4),
                                                      label="offers"), []))  # fmt: skip
        elif what == "next" and answered:
            ic, rc = answered[n % len(answered)]
            datagram = (
                v1_mm3(ic, rc, data.draw(st.sampled_from([14, 2]), label="ke group"))
                if not v2
                else v2_init(ic, [14], data.draw(st.sampled_from([14, 2]), label="ke group"))
            )
        elif what == "random":
            datagram = data.draw(st.binary(max_size=200), label="random")
        else:
            base = seen[n % len(seen)] if seen else v1_mm1(b"initiatr", V1_OFFERS[:1], [])
            datagram = data.draw(structured(base, v2), label="mutant")
        if natt:
            datagram = NON_ESP_MARKER + datagram
        r.tick(now)  # the deadlines that passed take effect first: what follows is the datagram's doing alone
        before, count = _state(r), len(events)
        replies = r.datagram(now, datagram, address, None, natt)
        new = events[count:]
        assert all(isinstance(reply, bytes) and isinstance(to, tuple) for reply, to in replies)
        if not replies and not any(e["kind"] in PROGRESS for e in new):  # rejected: nothing changes
            assert _state(r) == before, (datagram, new)
        _within_limits(r)
        if valid and not natt:
            seen.append(datagram)
            for reply, _ in replies:
                if len(reply) >= 16 and reply[8:16] != bytes(8):
                    answered.append((reply[:8], reply[8:16]))
    # Everything ends: after long enough, nothing is kept.
    for _ in range(10_000):
        deadline = r.next_deadline()
        if deadline is None:
            break
        r.tick(max(deadline, now))
        _within_limits(r)
    r.tick(now + 10**6)
    r.flush(now + 10**6)
    assert r.negotiations() == 0 and r.per_address == {} and r.by_cookie == {}


@fuzzed(examples=100, deadline_ms=5000)
@given(profile=st.sampled_from(["windows", "strongswan", "libreswan"]), plan=steps(False), data=st.data())
def test_ikev1_responder_never_raises_stays_within_limits_and_ignores_what_it_rejects(
    profile: str, plan: list[tuple[str, int]], data: Any
) -> None:
    r = responder_for(profile, None, lambda event: None, LIMITS)
    _drive(r, False, plan, data)


@fuzzed(examples=60, deadline_ms=5000)
@given(plan=steps(True), data=st.data())
def test_ikev2_responder_never_raises_stays_within_limits_and_ignores_what_it_rejects(
    plan: list[tuple[str, int]], data: Any
) -> None:
    r = responder_for(None, None, lambda event: None, LIMITS, "ikev2")
    _drive(r, True, plan, data)


def test_regression_a_resent_mm1_after_the_negotiation_ended_does_not_raise() -> None:
    """Found by the fuzz test above: strongSwan's half-open timeout ends MM#1, the MM1 comes again
    within the linger period, the machine sends MM2 afresh and ``_chosen`` looked for the transform
    in ``conversation.offer``, emptied once MM2 was first sent: StopIteration out of ``datagram()``."""
    r = responder_for("strongswan", None, lambda event: None, LIMITS)
    mm1 = v1_mm1(b"initiatr", V1_OFFERS[:1], [])
    assert len(r.datagram(0.0, mm1, ("192.0.2.1", 500))) == 1
    r.datagram(45.0, mm1, ("192.0.2.1", 500))
    _within_limits(r)


def test_regression_a_resent_ike_sa_init_after_the_negotiation_ended_does_not_raise() -> None:
    """The same in IKEv2: the choices of the offer were cleared once the first response was built."""
    r = responder_for(None, None, lambda event: None, LIMITS, "ikev2")
    init = v2_init(b"\0" * 7 + b"\1", [14], 14)
    assert r.datagram(0.0, init, ("192.0.2.1", 500))
    r.datagram(45.0, init, ("192.0.2.1", 500))
    _within_limits(r)


def test_regression_a_trace_naming_a_peer_its_header_does_not_list_is_refused() -> None:
    """Found by the trace fuzz test: such a trace was read, and the capture renderer then failed."""
    lines = list(sim.run("mm-qm-success").jsonl_lines())
    record = json.loads(lines[2])
    record["peer"] = "0client"
    lines[2] = json.dumps(record)
    with pytest.raises(TraceError, match="line 3: peer: '0client' is not a peer of the header"):
        read_trace(lines)


def test_every_fuzz_test_takes_a_share_of_the_budget() -> None:
    fuzz_tests = [
        name for name, value in globals().items() if name.startswith("test_") and hasattr(value, "hypothesis")
    ]
    assert len(fuzz_tests) == FUZZ_TESTS, fuzz_tests


def test_regression_an_outcome_with_a_value_ikesim_never_writes_is_refused() -> None:
    """Found by the long fuzz run: a failure point of "0IPSEC_FAILURE_PEER" was read, then the
    Windows renderers failed looking it up."""
    lines = list(sim.run("mm-no-proposal-chosen").jsonl_lines())
    record = json.loads(lines[-1])
    record["failure_point"] = "0IPSEC_FAILURE_PEER"
    lines[-1] = json.dumps(record)
    with pytest.raises(TraceError, match="outcome: failure_point: '0IPSEC_FAILURE_PEER' is not one of ikesim's values"):
        read_trace(lines)


def test_regression_a_refused_ike_sa_init_at_the_total_limit_evicts_no_negotiation() -> None:
    """Found by the long fuzz run: at the total limit, an IKE_SA_INIT whose KE value is out of range
    first made room (the oldest half-open negotiation was forgotten) and was then refused as a
    damaged payload: only drops were printed, nothing was answered, and one negotiation fewer was kept."""
    r = responder_for(None, None, lambda event: None, LIMITS, "ikev2")
    sources = [("192.0.2.1", 500), ("192.0.2.2", 500), ("198.51.100.7", 500)]
    for i in range(LIMITS.total):
        assert r.datagram(0.0, v2_init(b"\0" * 7 + bytes([i + 1]), [14], 14), sources[i % 3])
    before = _state(r)
    assert r.negotiations() == LIMITS.total and r._half_open  # full, and room could be made
    body = [wp.v2_sa([wp.v2_proposal(1, 1, b"", [wp.v2_transform(1, 12, 128), wp.v2_transform(2, 5),
                                                 wp.v2_transform(3, 12), wp.v2_transform(4, 14)])]),
            wp.v2_ke(14, bytes(255) + b"\x01"), (wp.V2_NONCE, b"n" * 32)]  # fmt: skip
    bad_ke = wp.message(b"\0" * 7 + b"\x63", bytes(8), 0x20, 34, 0x08, 0, body)  # g^x = 1: out of range (RFC 6989)
    events: list[dict[str, Any]] = []
    r.emit = events.append
    assert r.datagram(0.0, bad_ke, sources[0]) == []
    assert [e["kind"] for e in events] == ["drop"] and "out of range" in events[0]["reason"]
    assert _state(r) == before


@pytest.mark.parametrize("v2", [False, True], ids=["ikev1", "ikev2"])
def test_regression_a_refused_datagram_on_the_nat_t_port_does_not_move_the_negotiation(v2: bool) -> None:
    """Found by the long fuzz run once ``_state`` looked at where each negotiation is answered: a
    datagram that only named a negotiation (its cookie or SPI, anyone can copy those) and came to
    the NAT-T port moved the negotiation there before it was read, and was then dropped; the
    replies went to the sender's port with the non-ESP marker from then on."""
    r = responder_for("strongswan", None, lambda event: None, LIMITS, "ikev2" if v2 else "ikev1")
    cookie, home = b"\0" * 7 + b"\1", ("192.0.2.1", 500)
    first = v2_init(cookie, [14], 14) if v2 else v1_mm1(cookie, V1_OFFERS[:1], [])
    [(answer, _)] = r.datagram(0.0, first, home)
    rcookie = answer[8:16]
    before = _state(r)
    # IKEv2: a header only, which does not parse; IKEv1: an informational without a notify, which is no message.
    junk = (first[:8] + rcookie + b"\x00\x20\x25\x08" + bytes(8) if v2
            else wp.v1_message(cookie, rcookie, reader.INFORMATIONAL, [(wp.V1_VID, b"x" * 16)]))  # fmt: skip
    events: list[dict[str, Any]] = []
    r.emit = events.append
    assert r.datagram(0.1, NON_ESP_MARKER + junk, ("192.0.2.1", 4500), None, True) == []
    assert [e["kind"] for e in events] == ["drop"]
    assert _state(r) == before
    assert r.datagram(0.2, first, home) == [(answer, home)]  # a resend is still answered where it came from


def test_regression_an_ike_sa_init_whose_ke_names_group_0_gets_invalid_ke_payload() -> None:
    """Found by the long fuzz run: a KE payload of group 0 was read by the core as no group given
    (the first proposal's), so the request was accepted, and building the response, which needs a
    key pair of the KE's group, failed an assertion out of ``datagram()``."""
    r = responder_for(None, None, lambda event: None, LIMITS, "ikev2")
    init = bytearray(v2_init(b"\0" * 7 + b"\1", [14], 14))
    parsed = reader.read_ikev2(bytes(init))
    ke = next(body for kind, body in parsed.payloads if kind == wire2.KE)
    at = bytes(init).index(ke)
    init[at : at + 2] = bytes(2)  # the KE payload's group number
    [(answer, _)] = r.datagram(0.0, bytes(init), ("192.0.2.1", 500))
    assert reader.read_ikev2(answer).notifies() == [(17, (14).to_bytes(2, "big"))]  # INVALID_KE_PAYLOAD, group 14
    assert r.negotiations() == 0 and r.per_address == {}


def test_regression_initiators_without_a_responder_and_expectations_are_a_scenario_error():
    """Found by make fuzz: expectations of initiators with no responder raised StopIteration from the loader."""
    data = {"name": "x", "peers": {"a": {"role": "initiator"}, "b": {"role": "initiator"}},
            "expect": {"a": {"MM#1": "TIMED_OUT"}}}  # fmt: skip
    with pytest.raises(ScenarioError):
        parse_scenario(data, "x.toml")


def test_regression_a_time_beyond_the_clock_is_a_trace_error_and_a_scenario_error():
    """Found by make fuzz: a trace time past 2106 was accepted, then the pcap renderer failed on it."""
    from sim.trace import MAX_TIME, TraceError, read_trace

    lines = sim.run("mm-qm-success").to_jsonl().splitlines(keepends=True)
    record = json.loads(lines[2])
    record["t"] = 2527741696.0
    lines[2] = json.dumps(record) + "\n"
    with pytest.raises(TraceError, match="outside ikesim's clock"):
        read_trace(lines)
    with pytest.raises(ScenarioError):
        parse_scenario({"name": "x", "peers": {"a": {"role": "initiator"}, "b": {"role": "responder"}},
                        "limits": {"max_time": MAX_TIME * 2}}, "x.toml")  # fmt: skip
