"""Which runs end how: every cause ikesim's model has, found by running it, and a scenario for each.

A *cause* is one row of the conditions table as it happens at one peer: the code (from the
condition, ``sim.conditions``), the peer's role, the exchange (the protocol table whose row
reported it), the failure point, and the protocol and profile of the peer. Nothing here lists
which code comes from which scenario: the index runs a corpus of scenarios and records what each
peer reports, so a new condition, row or profile behaviour is picked up as soon as a scenario
shows it. The corpus is the scenario library (which covers every row of the table) and probes from
the generated space (:mod:`sim.testing._space`): each situation with every pair of profiles, each
fault with each profile, and, apart, a local fault at each message of each peer.

Codes whose only cause is a fault of the local machine (no condition reports them) come from the
local-fault probes, with the code asked for, and only when asked (``local_faults=True``); a run
with a local fault is never the cause of any other code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any

from hypothesis.errors import InvalidArgument

from sim import codes as catalog
from sim.conditions import Condition, conditions_for
from sim.enums import FailurePoint
from sim.faults import LocalFault
from sim.protocol.profiles import PROFILES, is_windows
from sim.protocol.registry import TABLES
from sim.scenario import Scenario
from sim.testing import _space
from sim.trace import Trace

STAND_IN = int(catalog.IkeCode.OUT_OF_MEMORY)  # the code of the local-fault probes, replaced when drawn
LOCAL_ONLY = frozenset(e.code for e in catalog.all_codes() if not e.marker and not conditions_for(e.code))
NEVER = frozenset({int(catalog.IkeCode.NEG_STATUS_BEGIN)})  # a marker no peer ever reports


def windows_group(table: str) -> str:
    """The audit subcategory Windows logs a machine's failures under: main, quick or extended mode."""
    if table.endswith(("quick_mode", "child_sa")):
        return "quick"
    return "extended" if table.endswith("extended_mode") else "main"


# Names for groups of exchanges as Windows audits them (besides each table's name and its tail).
EXCHANGE_GROUPS = {
    group: tuple(t for t in TABLES if windows_group(t) == group) for group in ("main", "quick", "extended")
}
ROLES = ("initiator", "responder")
POINTS = tuple(p.wire_name for p in FailurePoint)


@dataclass(frozen=True, slots=True)
class Cause:
    """One way a peer's negotiation or SA ends, and the recipe (corpus scenario) where it does."""

    code: int
    condition: str
    role: str
    exchange: str
    failure_point: str
    ends: str
    protocol: str
    profile: str
    recipe: int


@dataclass(frozen=True)
class Recipe:
    """A corpus scenario; ``events`` says how long its story is (shrinking prefers short ones)."""

    scenario: Scenario
    events: int
    local: bool


class Index:
    """The corpus, what each of its peers reports, and the local-fault probes apart.

    Built in parts, each the first time a query needs it: the library, then per protocol the
    situations, the faults with one profile, and the local faults. A query that none of the parts
    it needs can answer is tried against every part before it is refused.
    """

    def __init__(self) -> None:
        self.recipes: list[Recipe] = []
        self.causes: list[Cause] = []
        self.by_code: dict[int, list[Cause]] = {}  # the same causes, by code
        self.local_causes: list[Cause] = []  # their code is STAND_IN (or a library scenario's own)
        self.built: set[tuple[str, ...]] = set()

    def ensure(self, parts: Iterable[tuple[str, ...]]) -> None:
        """Run the corpus of these parts, those not run yet."""
        for part in parts:
            if part not in self.built:
                self.built.add(part)
                for scenario in _part(part):
                    self.add_run(scenario)

    def add_run(self, scenario: Scenario) -> None:
        """Run a corpus scenario and record what each peer reports."""
        from sim.simulator.engine import Simulation

        trace = Simulation(scenario).run()
        local = _has_local(scenario)
        number = len(self.recipes)
        self.recipes.append(Recipe(scenario, trace.raw.event_count() if trace.raw is not None else 0, local))
        specs = peer_specs(scenario)
        for code, role, exchange, point, ends, peer, condition in dict.fromkeys(outcome_facts(trace)):
            spec = specs[peer]
            cause = Cause(
                code,
                condition,
                role,
                exchange,
                point,
                ends,
                spec.protocol,
                spec.profile,
                number,
            )
            if not local:
                self.causes.append(cause)
                self.by_code.setdefault(code, []).append(cause)
            elif condition == Condition.LOCAL_FAULT.key:
                self.local_causes.append(cause)


def peer_specs(scenario: Scenario) -> dict[str, Any]:
    """Each peer of a run (an instance of a scenario peer under its own name) and its spec."""
    return {name: spec for base, spec in scenario.peers.items() for name in scenario.instances_of(base)}


def outcome_facts(trace: Trace) -> list[tuple[int, str, str, str, str, str, str]]:
    """(code, role, exchange, failure point, ends, peer, condition) of each outcome of a run, in order.

    From the run's core outcomes where it has them: cheaper than making every event's record.
    """
    core = getattr(trace, "raw_outcomes", None)
    if core is not None:
        return [
            (
                int(o.code),
                o.role.name.lower(),
                o.exchange,
                o.failure_point.wire_name,
                o.ends.value,
                o.peer,
                o.condition.key,
            )
            for o in core
        ]
    return [(o.code, o.role, o.exchange, o.failure_point, o.ends, o.peer, o.condition) for o in trace.outcomes]


def _has_local(scenario: Scenario) -> bool:
    return any(isinstance(f, LocalFault) for f in scenario.faults)


def parts(protocols: Iterable[str], profiles: Iterable[str] | None, local: bool) -> list[tuple[str, ...]]:
    """The corpus parts for these protocols; faults with ``profiles`` (None: each protocol's first)."""
    out: list[tuple[str, ...]] = [("library",)]
    for protocol in protocols:
        out.append(("situations", protocol))
        speaking = _space.profiles_for(protocol)
        for profile in speaking[:1] if profiles is None else [p for p in profiles if p in speaking]:
            out.append(("faults", protocol, profile))
            if local:
                out.append(("local", protocol, profile))
    return out


def _part(part: tuple[str, ...]) -> Iterable[Scenario]:
    """The scenarios of one part of the corpus."""
    if part[0] == "library":
        from sim.library import scenarios as library

        for scenario in library():
            yield scenario.model_copy(update={"expect": {}, "description": ""})
    elif part[0] == "situations":  # each situation with every pair of profiles
        protocol = part[1]
        profiles = _space.profiles_for(protocol)
        for i, situation in enumerate(_space.SITUATIONS):
            if protocol in situation.protocols:
                for client in profiles:
                    for gateway in profiles:
                        yield _space.scenario(_space.Key(protocol, client, gateway, 0, (i,), ()))
    elif part[0] == "faults":  # each fault, the same profile at both peers
        protocol, profile = part[1], part[2]
        for j in range(len(_space.fault_templates(protocol))):
            yield _space.scenario(_space.Key(protocol, profile, profile, 0, (), (j,)))
    else:  # a local fault at each message each peer sends or handles
        protocol, profile = part[1], part[2]
        base = _space.scenario(_space.Key(protocol, profile, profile, 0, (), ()))
        for peer in _space.PEERS:
            for message in _space.messages_of(protocol):
                fault = LocalFault.model_validate({"kind": "local", "peer": peer, "at": message, "code": STAND_IN})
                yield base.model_copy(update={"faults": [fault]})


@cache
def index() -> Index:
    """The one index of this process (its parts are run when first needed)."""
    return Index()


def with_code(scenario: Scenario, code: int) -> Scenario:
    """A local-fault recipe with its faults of the local machine reporting ``code``."""
    faults = [f.model_copy(update={"code": code}) if isinstance(f, LocalFault) else f for f in scenario.faults]
    return scenario.model_copy(update={"faults": faults})


# --- what a user asks for -------------------------------------------------------------------


def _many(value: Any) -> list[Any]:
    if isinstance(value, str | int | catalog.CodeInfo | catalog.Category | FailurePoint):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return [value]


def _code(value: Any) -> int:
    if isinstance(value, catalog.CodeInfo):
        return value.code
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(f"code={value!r}: expected a code (13801, '0x3649', 'AUTH_FAIL'...) or a list of codes")
    try:
        return catalog.lookup(value).code
    except catalog.UnknownCodeError as error:
        raise InvalidArgument(f"code={value!r}: {error}") from None


def _category(value: Any) -> catalog.Category:
    if isinstance(value, catalog.Category):
        return value
    if isinstance(value, str):
        for category in catalog.Category:
            if value.strip().lower() in (category.value.lower(), category.name.lower()):
                return category
    known = ", ".join(repr(c.value) for c in catalog.Category)
    raise InvalidArgument(f"category={value!r} is not a category of the catalog; categories: {known}")


def _choice(name: str, value: Any, allowed: Iterable[str], normal: Callable[[str], str] = str.lower) -> str:
    options = list(allowed)
    if isinstance(value, str) and normal(value.strip()) in options:
        return normal(value.strip())
    raise InvalidArgument(f"{name}={value!r}: expected one of {', '.join(map(repr, options))}")


def _point(value: Any) -> str:
    if isinstance(value, FailurePoint):
        return value.wire_name
    if isinstance(value, str):
        short = value.strip().upper().removeprefix("IPSEC_FAILURE_")
        if short in FailurePoint.__members__:
            return FailurePoint[short].wire_name
    raise InvalidArgument(
        f"failure_point={value!r}: expected one of {', '.join(map(repr, POINTS))} (or ME, PEER, NONE)"
    )


def _exchanges(value: Any) -> set[str]:
    if isinstance(value, str):
        name = value.strip().lower()
        if name in EXCHANGE_GROUPS:
            return set(EXCHANGE_GROUPS[name])
        found = {t for t in TABLES if t == name or t.endswith("_" + name)}
        if found:
            return found
    tails = sorted({t.split("_", 1)[1] for t in TABLES})
    raise InvalidArgument(
        f"exchange={value!r}: expected a machine ({', '.join(TABLES)}), the tail of one "
        f"({', '.join(tails)}), or a group as Windows audits them "
        f"({', '.join(EXCHANGE_GROUPS)})"
    )


@dataclass(frozen=True)
class Query:
    """What a user asks of a run's outcome; every constraint holds for one and the same outcome."""

    codes: frozenset[int] | None = None
    roles: frozenset[str] | None = None
    exchanges: frozenset[str] | None = None
    points: frozenset[str] | None = None
    protocol: str | None = None
    profile: str | None = None
    local_faults: bool = False
    form: str | None = None  # "audit" or "wfp": the outcome is one a Windows peer logs in that form
    asked: str = ""  # the arguments as given, for messages

    @property
    def targeted(self) -> bool:
        """True when some outcome is asked for (not only a protocol or profile)."""
        constraints = (self.codes, self.roles, self.exchanges, self.points)
        return any(c is not None for c in constraints) or self.local_faults or self.form is not None

    def matches(self, code: int, role: str, exchange: str, point: str, ends: str, protocol: str, profile: str) -> bool:
        """True when an outcome with these attributes, at a peer with this protocol and profile, is asked for."""
        return (
            (self.codes is None or code in self.codes)
            and (self.roles is None or role in self.roles)
            and (self.exchanges is None or exchange in self.exchanges)
            and (self.points is None or point in self.points)
            and (self.protocol is None or protocol == self.protocol)
            and (self.profile is None or profile == self.profile)
            and (self.form is None or logged(self.form, code, exchange, ends, profile, protocol))
        )

    def matching(self, trace: Trace) -> list[int]:
        """The positions, among the run's outcomes, of those asked for."""
        scenario = trace.source
        assert isinstance(scenario, Scenario)
        specs = peer_specs(scenario)
        out = []
        for k, (code, role, exchange, point, ends, peer, _) in enumerate(outcome_facts(trace)):
            spec = specs[peer]
            if self.matches(code, role, exchange, point, ends, spec.protocol, spec.profile):
                out.append(k)
        return out


def logged(form: str, code: int, exchange: str, ends: str, profile: str, protocol: str) -> bool:
    """True when a Windows peer writes an outcome of this kind in the fixture form (``audit`` or ``wfp``).

    As ``sim.outputs.windows`` renders them: a failed negotiation (4652..4654, 4984; a WFP
    failure net event), and for audit events also the end of a main-mode SA (4655).
    """
    if not is_windows(profile, protocol):
        return False
    failed = ends == "negotiation" and code not in (13897, 13909)
    if form == "wfp":
        return failed
    return failed or (ends == "sa" and windows_group(exchange) == "main")


def query(
    *,
    code: Any = None,
    category: Any = None,
    peer_role: Any = None,
    exchange: Any = None,
    failure_point: Any = None,
    protocol: Any = None,
    profile: Any = None,
    local_faults: Any = False,
    form: str | None = None,
) -> Query:
    """The query of a strategy's arguments, each checked: a wrong one is :class:`InvalidArgument`."""
    shown = [
        f"{k}={v!r}"
        for k, v in (
            ("code", code),
            ("category", category),
            ("peer_role", peer_role),
            ("exchange", exchange),
            ("failure_point", failure_point),
            ("protocol", protocol),
            ("profile", profile),
        )
        if v is not None
    ]
    if local_faults:
        shown.append("local_faults=True")
    if not isinstance(local_faults, bool):
        raise InvalidArgument(f"local_faults={local_faults!r}: expected True or False")
    codes: set[int] | None = None
    if code is not None:
        codes = {_code(c) for c in _many(code)}
    if category is not None:
        members = {e.code for e in catalog.all_codes() for c in _many(category) if e.category is _category(c)}
        if codes is not None and not codes & members:
            raise InvalidArgument(f"{', '.join(shown)}: none of the codes is in the category")
        codes = members if codes is None else codes & members
    if codes is not None and not codes:
        raise InvalidArgument(f"{', '.join(shown)}: no code asked for")
    if protocol is not None:
        protocol = _choice("protocol", protocol, _space.PROTOCOLS)
    if profile is not None:
        profile = _choice("profile", profile, [p for p in PROFILES if PROFILES[p].protocols], str)
        if protocol is not None and protocol not in PROFILES[profile].protocols:
            raise InvalidArgument(
                f"profile={profile!r} does not speak {protocol} (it speaks {', '.join(PROFILES[profile].protocols)})"
            )
    roles = {_choice("peer_role", r, ROLES) for r in _many(peer_role)} if peer_role is not None else None
    exchanges = set().union(*(_exchanges(e) for e in _many(exchange))) if exchange is not None else None
    points = {_point(p) for p in _many(failure_point)} if failure_point is not None else None
    return Query(
        frozenset(codes) if codes is not None else None,
        frozenset(roles) if roles is not None else None,
        frozenset(exchanges) if exchanges is not None else None,
        frozenset(points) if points is not None else None,
        protocol,
        profile,
        local_faults,
        form,
        ", ".join(shown),
    )


# --- answering it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The recipes that answer a query, by cause, and the codes a local-fault recipe may report.

    Runs are drawn cause by cause (a cause: code, role, exchange, failure point, how it ends, and
    the condition), then recipe by recipe within it: a rare cause comes as often as a common one.
    """

    groups: tuple[tuple[int, ...], ...]  # per cause, its recipes, simplest (fewest events) first
    local_codes: tuple[int, ...]  # for local-fault recipes: the codes asked for that only a local fault has

    def recipe(self, cause: int, recipe: int) -> int:
        """The recipe of these two numbers (any size: they wrap around)."""
        group = self.groups[cause % len(self.groups)]
        return group[recipe % len(group)]


@lru_cache(maxsize=256)
def plan(q: Query) -> Plan:
    """The recipes whose runs end as asked; :class:`InvalidArgument` naming what cannot be had, and what can.

    Cached: a state machine asks for the same runs at every step.
    """
    idx = index()
    protocols = _space.protocols_for(q.protocol, q.profile)
    idx.ensure(parts(protocols, None if q.profile is None else [q.profile], q.local_faults))
    found = _found(q, idx)
    if not found:  # before refusing, every part that could answer
        idx.ensure(parts(protocols, _space.PROFILE_NAMES, q.local_faults))
        found = _found(q, idx)
    if not found:  # what can be had is said of the whole model
        idx.ensure(parts(_space.PROTOCOLS, _space.PROFILE_NAMES, q.local_faults))
        raise InvalidArgument(refusal(q, idx))
    local_codes = tuple(sorted(LOCAL_ONLY if q.codes is None else q.codes & LOCAL_ONLY)) if q.local_faults else ()

    def simplest(r: int) -> tuple[int, int]:
        return (idx.recipes[r].events, r)

    groups = [tuple(sorted(recipes, key=simplest)) for recipes in found.values()]
    groups.sort(key=lambda g: simplest(g[0]))
    return Plan(tuple(groups), local_codes)


def _found(q: Query, idx: Index) -> dict[tuple[Any, ...], set[int]]:
    """The recipes that fit the query, by cause."""
    found: dict[tuple[Any, ...], set[int]] = {}
    pool = idx.causes if q.codes is None else [c for code in q.codes for c in idx.by_code.get(code, ())]
    for c in pool:
        if _fits(q, c, c.code):
            found.setdefault((c.code, c.role, c.exchange, c.failure_point, c.ends, c.condition), set()).add(c.recipe)
    if q.local_faults:
        local_codes = LOCAL_ONLY if q.codes is None else q.codes & LOCAL_ONLY
        for c in idx.local_causes:
            if any(_fits(q, c, code) for code in local_codes):
                found.setdefault(("local", c.role, c.exchange), set()).add(c.recipe)
    return found


def _fits(q: Query, c: Cause, code: int) -> bool:
    return q.matches(code, c.role, c.exchange, c.failure_point, c.ends, c.protocol, c.profile)


def _name(code: int) -> str:
    return f"{code} {catalog.IkeCode(code).name}"


def refusal(q: Query, idx: Index) -> str:
    """Why no run can be had for the query, and what can be had for the codes it names."""
    asked = sorted(q.codes) if q.codes is not None else None
    why: list[str] = []
    for code in asked or ():
        if code in NEVER:
            why.append(f"{_name(code)} is a range marker that Windows never reports: no negotiation ends with it")
        elif code in LOCAL_ONLY and not q.local_faults:
            why.append(
                f"{_name(code)} has no cause in ikesim's model but a fault of the local machine: "
                "ask for it with local_faults=True"
            )
        elif code not in LOCAL_ONLY and code not in idx.by_code:
            conditions = ", ".join(c.key for c in conditions_for(code))
            why.append(
                f"{_name(code)}: its condition ({conditions}) ends no negotiation in any run ikesim knows; "
                "the peer drops the datagram and the negotiation goes on (see `ikesim explain "
                f"{code}`)"
            )
    pool = list(idx.causes) if asked is None else [c for code in asked for c in idx.by_code.get(code, ())]
    if q.local_faults:  # the local-fault probes stand for every code only a local fault has
        local = sorted(LOCAL_ONLY) if asked is None else [x for x in asked if x in LOCAL_ONLY]
        pool += [replace(c, code=code) for c in idx.local_causes for code in local]
    can = _summary(pool, q.form)
    message = f"no run of ikesim's model ends as asked ({q.asked or 'no arguments'})"
    if why:
        message += ": " + "; ".join(why)
    if can:
        message += ". What can be had: " + can
    return message


def _summary(pool: list[Cause], form: str | None) -> str:
    by_code: dict[int, list[Cause]] = {}
    for c in pool:
        if form is None or logged(form, c.code, c.exchange, c.ends, c.profile, c.protocol):
            by_code.setdefault(c.code, []).append(c)
    said = []
    for code, causes in sorted(by_code.items())[:12]:
        dims = []
        for label, attr in (
            ("protocol", "protocol"),
            ("exchange", "exchange"),
            ("peer_role", "role"),
            ("failure_point", "failure_point"),
            ("profile", "profile"),
        ):
            dims.append(f"{label} {'/'.join(sorted({getattr(c, attr) for c in causes}))}")
        said.append(f"{_name(code)} with {', '.join(dims)}")
    more = len(by_code) - 12
    return "; ".join(said) + (f"; and {more} more codes" if more > 0 else "")
