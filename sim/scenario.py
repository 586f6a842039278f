"""Scenarios: the peers, their policies, the faults, the seed, the limits, and what to expect.

A scenario is a TOML file (``scenarios/*.toml``) or the same data built in Python. It is
validated strictly with pydantic: unknown keys, wrong types and impossible values are errors
that name the field. :func:`load_scenario` accepts a path or the name of a library scenario.
"""

from __future__ import annotations

import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from sim import codes
from sim.errors import IkesimError
from sim.faults import Fault
from sim.protocol.policy import Policy
from sim.protocol.profiles import PROFILES
from sim.schema_types import CodeRef, PositiveTime, Strict, catalog_code
from sim.trace import MAX_TIME, PeerFacts, RunPeers


def _scalar(hint: Any) -> type | None:
    """The scalar type (bool, int, float, str) a policy field holds, if it holds one."""
    for arg in (hint, *typing.get_args(hint)):
        base = typing.get_args(arg)[0] if typing.get_origin(arg) is Annotated else arg
        if base in (bool, int, float, str):
            return typing.cast(type, base)
    return None


def _is_a(value: Any, want: type) -> bool:
    if want is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, want)


_NOT_COERCIBLE = object()  # stands in for a value of the wrong type: no validator turns it into one
POLICY_SCALARS = {
    name: kind
    for name, hint in typing.get_type_hints(Policy, include_extras=True).items()
    if (kind := _scalar(hint)) is not None
}


class PeerSpec(Strict):
    """One peer: its role, protocol, retransmission profile and policy."""

    role: Literal["initiator", "responder"]
    protocol: Literal["ikev1", "authip", "ikev2"] = "ikev1"
    profile: str = Field(default="windows", json_schema_extra={"enum": list(PROFILES)})
    retransmit: dict[str, float | int | list[float]] = Field(
        default_factory=dict, description="options of the profile, for example give_up_after or resend_at"
    )
    connect: str | None = Field(default=None, description="the responder an initiator talks to")
    start: PositiveTime = 0.0
    connections: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1, description="main modes an initiator starts, `interval` seconds apart"
    )
    interval: PositiveTime = 0.0
    instances: Annotated[int, Field(ge=1, le=10_000)] = Field(
        default=1, description="initiators only: this many separate peers, named NAME-1, NAME-2, ..."
    )
    policy: Policy = Field(default_factory=Policy)

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_as_written(cls, value: Any) -> Any:
        """The policy's scalars as TOML wrote them: "yes" is not a boolean, "2" not a number (no coercion).

        A value of the wrong type is replaced by one that nothing coerces, so that the policy's own
        validation names the field ("Input should be a valid boolean"), every such field at once.
        """
        if isinstance(value, dict):
            return {
                name: _NOT_COERCIBLE
                if (want := POLICY_SCALARS.get(name)) is not None and given is not None and not _is_a(given, want)
                else given
                for name, given in value.items()
            }
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; known: {', '.join(PROFILES)}")
        return value

    @model_validator(mode="after")
    def _profile_options(self) -> PeerSpec:
        try:
            PROFILES[self.profile].schedule(dict(self.retransmit))
            PROFILES[self.profile].responder_rules(dict(self.retransmit))
        except (TypeError, ValueError) as error:
            raise ValueError(f"retransmit options do not fit profile {self.profile!r}: {error}") from None
        return self


class NetworkSpec(Strict):
    """The links between peers: one-way latency, uniform jitter, seeded random loss."""

    latency: PositiveTime = 0.005
    jitter: PositiveTime = 0.0
    loss: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0


class LimitsSpec(Strict):
    """Bounds every run stays within."""

    max_time: Annotated[float, Field(gt=0, le=MAX_TIME, allow_inf_nan=False)] = 86400.0
    max_events: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="trace events at most; none: 1,000,000 or 200 per negotiation, whichever is more"
    )
    until: PositiveTime | None = Field(
        default=None, description="run to this time even when only SA lifetimes and liveness timers remain"
    )
    cut_expected: bool = Field(
        default=False, description="the run is meant to stop at a limit: `run` and `check` do not call that an error"
    )


class OutcomeExpectation(Strict):
    """What one peer should report for one SA."""

    code: CodeRef | None = None
    end: CodeRef | None = Field(default=None, description="the code the established SA ends with")
    state: str | None = None
    failure_point: Literal["IPSEC_FAILURE_NONE", "IPSEC_FAILURE_ME", "IPSEC_FAILURE_PEER"] | None = None
    t: PositiveTime | None = None
    retransmits: Annotated[int, Field(ge=0)] | None = None

    @field_validator("code", "end")
    @classmethod
    def _catalog_code(cls, value: int | str | None) -> int | None:
        return None if value is None else catalog_code(value)


def _expectation(value: Any) -> Any:
    return {"code": value} if isinstance(value, (str, int)) and not isinstance(value, bool) else value


# An expectation, or its shorthand: the code alone ("MM#1" = "NEG_STATUS_END"). The JSON Schema
# says both, as the loader takes both.
Expectation = Annotated[
    OutcomeExpectation, BeforeValidator(_expectation, json_schema_input_type=OutcomeExpectation | CodeRef)
]


class Scenario(Strict):
    """A whole scenario."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    seed: Annotated[int, Field(ge=0)] = 0
    peers: dict[str, PeerSpec] = Field(min_length=2)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    faults: list[Fault] = Field(default_factory=list)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    expect: dict[str, dict[str, Expectation]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        names = set(self.peers)
        problems = []
        responders = [n for n, p in self.peers.items() if p.role == "responder"]
        for name, peer in self.peers.items():
            if peer.role == "responder" and peer.instances > 1:
                problems.append(f"peers.{name}.instances: only initiators can have several instances")
            if peer.policy.dos_threshold is not None and peer.protocol != "ikev2":
                problems.append(f"peers.{name}.policy.dos_threshold: DoS cookies are IKEv2's (RFC 7296 2.6); "
                                f"{peer.protocol} has no cookie notify")  # fmt: skip
            if peer.role == "initiator":
                target = peer.connect or (responders[0] if len(responders) == 1 else None)
                if target is None:
                    problems.append(f"peers.{name}.connect: name the responder (there are {len(responders)})")
                elif target not in names or self.peers[target].role != "responder":
                    problems.append(f"peers.{name}.connect: {target!r} is not a responder of this scenario")
                elif self.peers[target].protocol != peer.protocol:
                    problems.append(f"peers.{name}.protocol: {peer.protocol} cannot talk to {target!r}, which "
                                    f"speaks {self.peers[target].protocol}")  # fmt: skip
        for i, fault in enumerate(self.faults):
            for ref in fault.named_peers():
                if ref not in names:
                    problems.append(f"faults.{i}.{fault.peers_key}: no peer named {ref!r}")
        base_of: dict[str, str] = {}  # the name each peer runs under -> the peer of the scenario it is
        for name in self.peers:
            for instance in self.instances_of(name):
                if instance in base_of and base_of[instance] != name:
                    problems.append(f"peers.{name}: it would run as {instance!r}, the name of another peer or of an "
                                    f"instance of {base_of[instance]!r}; rename one")  # fmt: skip
                base_of.setdefault(instance, name)
        for expected, sas in self.expect.items():
            if expected not in base_of:
                if expected in names:
                    count = self.peers[expected].instances
                    problems.append(f"expect.{expected}: {expected} runs as {expected}-1 .. {expected}-{count} "
                                    f"(instances = {count}): name one of them")  # fmt: skip
                else:
                    problems.append(f"expect.{expected}: no peer named {expected!r}")
                continue
            for label, expectation in sas.items():
                problems += _expectation_problems(self, base_of[expected], label, expectation, shown=expected)
        if problems:
            raise ValueError("\n".join(problems))  # one problem a line, each with its own path
        return self

    def __repr__(self) -> str:
        # Only what differs from the defaults: shrunk Hypothesis examples stay readable.
        return f"Scenario({self.model_dump(by_alias=True, exclude_defaults=True)!r})"

    def instances_of(self, name: str) -> list[str]:
        """The names the peer has in a run (``client-1``... for an initiator with several instances)."""
        count = self.peers[name].instances
        return [f"{name}-{i}" for i in range(1, count + 1)] if count > 1 else [name]

    def peer_facts(self, names: Mapping[str, Sequence[str]] | None = None) -> RunPeers:
        """What a trace records of each peer of a run, in the order of the scenario.

        ``names``: each scenario peer's names in the run (:meth:`instances_of`), where the run has them already.
        """
        groups = []
        for base, spec in self.peers.items():
            policy = spec.policy
            facts = PeerFacts(base, spec.role, spec.protocol, spec.profile, policy.auth, tuple(policy.proposals),
                              policy.dh_groups, policy.psk, policy.request_address, policy.mm_lifetime,
                              policy.qm_lifetime, policy.certificate)  # fmt: skip
            groups.append((facts, names[base] if names is not None else self.instances_of(base)))
        return RunPeers(groups)

    def target_of(self, name: str) -> str:
        """The responder an initiator talks to."""
        peer = self.peers[name]
        if peer.connect:
            return peer.connect
        return next((n for n, p in self.peers.items() if p.role == "responder"), "")  # "": none (reported elsewhere)


SA_LABEL = re.compile(r"^(MM|QM|EM|IKE|CHILD)#[1-9][0-9]*$")
LABELS_OF = {"ikev1": ("MM", "QM"), "authip": ("MM", "EM", "QM"), "ikev2": ("IKE", "CHILD")}
SUCCESS = {codes.IkeCode.NEG_STATUS_END, codes.IkeCode.NEG_STATUS_EXTENDED_END}


def _expectation_problems(
    scenario: Scenario, peer: str, label: str, expectation: OutcomeExpectation, shown: str | None = None
) -> list[str]:
    """What cannot hold in an expectation of this scenario (a label it cannot have, a success it cannot reach).

    ``peer`` is the scenario's peer; ``shown`` the name the expectation gives it (an instance's).
    """
    where = f"expect.{shown or peer}.{label}"
    if not SA_LABEL.match(label):
        return [f"{where}: {label!r} is not an SA label such as MM#1, QM#2, EM#1, IKE#1 or CHILD#1"]
    spec = scenario.peers[peer]
    kinds = LABELS_OF[spec.protocol]
    if label.split("#")[0] not in kinds:
        shown = {"ikev1": "an IKEv1", "authip": "an AuthIP", "ikev2": "an IKEv2"}[spec.protocol]
        return [f"{where}: {shown} peer has no {label.split('#')[0]} SAs (it has {', '.join(kinds)})"]
    if expectation.code in SUCCESS and label.startswith("CHILD") and spec.policy.request_address:
        target = scenario.peers.get(scenario.target_of(peer)) if spec.role == "initiator" else spec
        if target is not None and not target.policy.address_pool:
            return [f"{where}.code: expects success, but the responder's address pool is empty"]
    return []


class ScenarioError(IkesimError, ValueError):
    """A scenario that cannot be loaded; ``problems`` lists every problem as ``field.path: what``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__("\n".join(f"{source}: {p}" for p in problems))
        self.source = source
        self.problems = problems


def library_dir() -> Path:
    """The scenario library: shipped inside the wheel, or ``scenarios/`` of a source checkout."""
    packaged = Path(__file__).parent / "library"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "scenarios"


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "unexpected_keyword_argument": "unknown key",  # the same, in a dataclass of the protocol core (a policy)
    "missing": "required, but missing",
    "tuple_type": "Input should be a valid list",  # the core keeps lists as tuples; a file writes a list
}


def _problems(error: ValidationError, lines: dict[tuple[str, ...], int] | None = None) -> list[str]:
    """Every problem as ``field.path: what is wrong (line N)``; the line where it is known."""
    out = []
    items = error.errors()
    for item in items:
        if _counts_failed_items(item, items):
            continue
        loc = tuple(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        if len(loc) > 2 and loc[0] == "faults":
            loc = loc[:2] + loc[3:]  # the union names the fault's kind (faults.0.drop.nth): users wrote faults.0.nth
        message = _MESSAGES.get(item["type"], item["msg"].removeprefix("Value error, "))
        if item["type"] in ("too_short", "too_long"):
            message = message.replace("Tuple", "List", 1)  # as for tuple_type: a file writes a list
        for text in message.split("\n"):  # a model check lists one problem a line, each with its path
            path, sep, _ = text.partition(": ")
            own_path = bool(sep) and not loc
            here = tuple(path.split(".")) if own_path else loc
            problem = text if own_path or not loc else f"{'.'.join(loc)}: {text}"
            line = _line(lines, here) if lines else None
            out.append(f"{problem} (line {line})" if line else problem)
    return out


def _counts_failed_items(item: ErrorDetails, items: list[ErrorDetails]) -> bool:
    """A tuple's "too short" that only counts its items that failed (each reported on its own)."""
    where = item["loc"]
    return (
        item["type"] == "too_short"
        and item.get("ctx", {}).get("field_type") == "Tuple"  # a list's length is checked only when its items pass
        and any(other["loc"][: len(where)] == where and len(other["loc"]) > len(where) for other in items)
    )


def _line(lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> int | None:
    """The line of the longest prefix of ``path`` that the file names."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' #]+?)\s*=")


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Where each key path of a TOML text is written: ``("peers", "client", "profile") -> 12``.

    Arrays of tables count their members (``faults.0``, ``faults.1``); keys of inline tables
    are found at the line of the key that holds them.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    open_string: str | None = None  # the delimiter of a multi-line string the line is inside
    for number, raw in enumerate(text.splitlines(), start=1):
        if open_string is not None:  # text, not keys: a description may well say "nth = 3"
            if open_string in raw:
                open_string = None
            continue
        open_string = next((d for d in ('"""', "'''") if raw.count(d) % 2 == 1), None)
        header = _HEADER.match(raw)
        if header:
            path = tuple(_split_key(header.group(2)))
            if header.group(1) == "[[":
                counts[path] = counts.get(path, -1) + 1
                path = (*path, str(counts[path]))
            table = path
            for end in range(1, len(path) + 1):
                lines.setdefault(path[:end], number)
            continue
        key = _KEY.match(raw)
        if key and not raw.lstrip().startswith("#"):
            path = (*table, *_split_key(key.group(1)))
            for end in range(len(table) + 1, len(path) + 1):
                lines.setdefault(path[:end], number)
    return lines


def _split_key(key: str) -> list[str]:
    parts, current, quote = [], "", ""
    for ch in key.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def parse_scenario(data: dict[str, Any], source: str = "<scenario>", text: str | None = None) -> Scenario:
    """Validate scenario data; :class:`ScenarioError` lists every problem (with its line, given the text)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(source, _problems(error, key_lines(text) if text is not None else None)) from None


def prose(text: str) -> str:
    """A wrapped description as one line: a word hyphenated at a line end stays one word ("half-open")."""
    return " ".join(re.sub(r"-[ \t]*\n\s*(?=\w)", "-", text).split())


MAX_SCENARIO_BYTES = 1_000_000  # a scenario file is a few kilobytes; this bounds what one file can cost


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load a scenario from a TOML file, or by the name of a library scenario."""
    path = Path(path_or_name)
    if not path.exists():
        candidate = library_dir() / f"{path_or_name}.toml"
        if candidate.exists():
            path = candidate
        else:
            raise ScenarioError(str(path_or_name), ["no such file, and no library scenario of that name"])
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SCENARIO_BYTES + 1)  # a bound, so that /dev/zero cannot take all memory
        if len(raw) > MAX_SCENARIO_BYTES:
            raise ScenarioError(str(path), [f"file: larger than {MAX_SCENARIO_BYTES:,} bytes; a scenario is small"])
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(str(path), [f"toml: {error}"]) from None
    except RecursionError:
        raise ScenarioError(str(path), ["toml: tables or arrays nested too deeply"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), [f"file: cannot read it: {error}"]) from None
    return parse_scenario(data, str(path), text)
