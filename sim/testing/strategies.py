"""Hypothesis strategies for people who test their own handlers of Windows IKE codes.

    from hypothesis import given
    from sim.testing import strategies as ikest

    @given(ikest.runs(code=13886, peer_role="initiator"))
    def test_my_handler_retries_a_dead_peer(trace):
        ...

Every strategy checks its arguments when it is first used (Hypothesis' convention): a wrong or
unsatisfiable argument is :class:`hypothesis.errors.InvalidArgument`, with what cannot be had and
what can; no strategy is silently empty. Every generated scenario is valid, every run terminates
within its limits, and a falsifying example prints as a Python expression that makes the same run
again (``sim.run({...})``).

* ``runs()`` without a query draws from a space of two-peer scenarios (``sim.testing._space``):
  one byte string per example, one choice for Hypothesis, so a hundred examples cost little
  more than a hundred runs.
* With a query (``code``, ``category``, ``peer_role``, ``exchange``, ``failure_point``,
  ``local_faults``), a run is one of the scenarios the cause index (``sim.testing._causes``) found
  to end that way, varied (seed, peer names, latency) where the variation keeps the cause.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

try:
    from hypothesis import note, reject
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as missing:  # pragma: no cover - a clear message instead of a bare ImportError
    raise ImportError("sim.testing.strategies needs Hypothesis: pip install 'ikesim[testing]'") from missing

from sim import codes as catalog
from sim.faults import FAULT_KINDS, FaultModel
from sim.protocol.policy import Encryption, Integrity, Policy, Proposal
from sim.protocol.profiles import is_windows
from sim.scenario import PeerSpec, Scenario, ScenarioError, parse_scenario
from sim.testing import _causes, _config, _space
from sim.testing.forms import (
    AUDIT_FORMS,
    WFP_FORMS,
    AuditLog,
    EventStream,
    JsonlTrace,
    NetEventLog,
    pretty_run,
    run_expression,
)
from sim.trace import Outcome, Trace

__all__ = [
    "AuditLog",
    "EventStream",
    "JsonlTrace",
    "NetEventLog",
    "audit_events",
    "codes",
    "event_streams",
    "fault_data",
    "faults",
    "fleets",
    "jsonl_lines",
    "net_events",
    "outcomes",
    "policies",
    "proposals",
    "renamed",
    "runs",
    "scenario_data",
    "scenarios",
]

T = TypeVar("T")
PROTOCOLS = _space.PROTOCOLS


def _lazy(build: Callable[[], st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """A strategy whose arguments are checked, and whose index is built, when it is first used."""
    return st.deferred(build)


def _gene(size: int) -> st.SearchStrategy[bytes]:
    """One choice per example: a byte string, each byte one decision (``sim.testing._space``)."""
    return st.binary(min_size=size, max_size=size)


# --- the catalog and faults -------------------------------------------------------------------


def codes(markers: bool = False, category: Any = None) -> st.SearchStrategy[catalog.CodeInfo]:
    """Catalog entries (``sim.codes.CodeInfo``), of one category if asked; the range markers only if ``markers``."""

    def build() -> st.SearchStrategy[catalog.CodeInfo]:
        if not isinstance(markers, bool):
            raise InvalidArgument(f"markers={markers!r}: expected True or False")
        wanted = None if category is None else _causes.query(category=category).codes
        entries = [e for e in catalog.all_codes() if (markers or not e.marker) and (wanted is None or e.code in wanted)]
        if not entries:
            raise InvalidArgument(
                f"codes(markers={markers!r}, category={category!r}): every code of the category "
                "is a range marker; ask with markers=True"
            )
        return st.sampled_from(entries)

    return _lazy(build)


def _fault_kinds(kinds: Iterable[str] | None) -> list[str]:
    if kinds is None:
        return list(FAULT_KINDS)
    chosen = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in chosen if k not in FAULT_KINDS]
    if unknown or not chosen:
        raise InvalidArgument(f"kinds={kinds!r}: expected some of {', '.join(FAULT_KINDS)}")
    return chosen


def _fault_args(peers: Any, horizon: Any) -> tuple[tuple[str, ...], float]:
    if isinstance(peers, str) or not isinstance(peers, Sequence) or not peers:
        raise InvalidArgument(f"peers={peers!r}: expected a non-empty sequence of peer names")
    if not all(isinstance(p, str) and p for p in peers):
        raise InvalidArgument(f"peers={peers!r}: every peer name is a non-empty string")
    if isinstance(horizon, bool) or not isinstance(horizon, int | float) or not 0 < horizon < math.inf:
        raise InvalidArgument(f"horizon={horizon!r}: expected a finite number of seconds greater than 0")
    return tuple(peers), float(horizon)


def fault_data(
    peers: Sequence[str] = ("client", "gateway"), horizon: float = 200.0, kinds: Iterable[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Fault data as a scenario file writes it (a dict), of the given kinds, on these peers, before ``horizon``."""

    def build() -> st.SearchStrategy[dict[str, Any]]:
        names, until = _fault_args(peers, horizon)
        return st.one_of([FAULT_KINDS[k].strategy(names, until) for k in _fault_kinds(kinds)])

    return _lazy(build)


def faults(
    peers: Sequence[str] = ("client", "gateway"), horizon: float = 200.0, kinds: Iterable[str] | None = None
) -> st.SearchStrategy[FaultModel]:
    """Single faults (``sim.faults`` objects) of every kind or of ``kinds``, on these peers, before ``horizon``.

    ``scenario_data()``, ``scenarios()`` and ``runs()`` take them (``faults=ikest.faults(...)``), and
    scenario data may hold them as they are or as dicts (``fault_data()``).
    """

    def build() -> st.SearchStrategy[FaultModel]:
        names, until = _fault_args(peers, horizon)
        data = st.one_of([FAULT_KINDS[k].strategy(names, until) for k in _fault_kinds(kinds)])

        @st.composite
        def one(draw: Callable[..., Any]) -> FaultModel:
            fault = draw(data)
            return FAULT_KINDS[fault["kind"]].model_validate(fault)

        return one()

    return _lazy(build)


def _fault_as_data(fault: FaultModel | dict[str, Any]) -> dict[str, Any]:
    if isinstance(fault, FaultModel):
        data: dict[str, Any] = fault.model_dump(by_alias=True, exclude_defaults=True)
        return {"kind": fault.kind, **data}
    if isinstance(fault, dict):
        return fault
    raise InvalidArgument(f"faults= drew {fault!r}: expected a fault (sim.faults) or fault data (a dict)")


def policies(role: str = "initiator", protocol: str | None = None) -> st.SearchStrategy[Policy]:
    """Valid policies (``sim.protocol.policy.Policy``): the default, or one of the situations runs() draws."""

    def build() -> st.SearchStrategy[Policy]:
        if role not in _causes.ROLES:
            raise InvalidArgument(f"role={role!r}: expected one of {', '.join(_causes.ROLES)}")
        chosen = _space.protocols_for(_causes.query(protocol=protocol).protocol, None)
        side = "client" if role == "initiator" else "gateway"
        options = [{}] + [getattr(s, side) for s in _space.SITUATIONS if set(s.protocols) & set(chosen)]
        unique = list({repr(sorted(o.items())): o for o in options}.values())
        return st.sampled_from(unique).map(_policy)

    return _lazy(build)


@lru_cache(maxsize=256)
def _policy_of(text: str) -> Policy:
    import json

    return PeerSpec.model_validate({"role": "initiator", "policy": json.loads(text)}).policy


def _policy(data: dict[str, Any]) -> Policy:
    import json

    return _policy_of(json.dumps(data, sort_keys=True))


def proposals() -> st.SearchStrategy[Proposal]:
    """Valid proposals (``sim.protocol.policy.Proposal``): encryption, integrity and Diffie-Hellman group."""
    from typing import get_args

    return st.builds(
        Proposal,
        encryption=st.sampled_from(get_args(Encryption)),
        integrity=st.sampled_from(get_args(Integrity)),
        dh_group=st.sampled_from((14, 2, 19, 20, 1, 5)),
    )


# --- running, and what a run keeps ------------------------------------------------------------


def _simulate(scenario: Scenario, seed: int | None = None) -> Trace:
    """Run a scenario, with ``--ikesim-seed``'s seed when one was given."""
    from sim.simulator.engine import Simulation  # the engine loads when the first run is drawn

    chosen = _config.seed if _config.seed is not None else seed
    if chosen is not None and chosen != scenario.seed:
        scenario = scenario.model_copy(update={"seed": chosen})
    return Simulation(scenario).run()


def _handed(trace: Trace) -> Trace:
    """A run handed to the test: kept for ``--ikesim-keep-traces`` when it is in the example Hypothesis reports."""
    if _config.in_final_replay():
        _config.keep_final(trace)
    return trace


def renamed(scenario: Scenario, names: dict[str, str]) -> Scenario:
    """The scenario with its peers renamed (``{"client": "laptop"}``); faults and expectations follow."""
    data = scenario.model_dump(by_alias=True, exclude_defaults=True)

    def new(name: Any) -> Any:
        return names.get(name, name) if isinstance(name, str) else name

    data["peers"] = {new(k): v for k, v in data["peers"].items()}
    for spec in data["peers"].values():
        if "connect" in spec:
            spec["connect"] = new(spec["connect"])
    for fault in data.get("faults", []):
        for key in ("peer", "from"):
            if key in fault:
                fault[key] = new(fault[key])
        if fault.get("peers"):
            fault["peers"] = [new(p) for p in fault["peers"]]
    data["expect"] = {new(k): v for k, v in data.get("expect", {}).items()}
    return parse_scenario(data)


# --- the generated space ----------------------------------------------------------------------


def _check_space(protocol: Any, profile: Any, max_faults: Any) -> _causes.Query:
    q = _causes.query(protocol=protocol, profile=profile)
    if isinstance(max_faults, bool) or not isinstance(max_faults, int) or not 0 <= max_faults <= 2:
        raise InvalidArgument(f"max_faults={max_faults!r}: expected 0, 1 or 2 (for more, give faults=)")
    return q


def _space_scenario(
    draw: Callable[..., Any],
    gene: bytes,
    q: _causes.Query,
    max_faults: int,
    user_faults: Any,
    windows_only: bool = False,
) -> tuple[Scenario, int]:
    """The scenario and seed a gene names (with faults drawn from ``user_faults`` if given)."""
    key, seed = _space.decode(gene, q.protocol, q.profile, windows_only)
    if user_faults is None:
        if len(key.faults) > max_faults:
            key = _space.Key(
                key.protocol,
                key.client_profile,
                key.gateway_profile,
                key.network,
                key.situations,
                key.faults[:max_faults],
            )
        return _space.scenario(key), seed
    drawn = draw(st.lists(user_faults, max_size=max_faults))
    data = _space.key_data(key)
    data["faults"] = [_fault_as_data(f) for f in drawn]
    try:
        return parse_scenario(data), seed
    except ScenarioError as error:
        raise InvalidArgument(
            f"faults= drew faults that do not fit a two-peer scenario (client, gateway): {error}"
        ) from None


# --- targeted runs ----------------------------------------------------------------------------

# The gene of a run asked for by its outcome: which cause and recipe (two bytes each), then how
# the recipe is varied; zero bytes are the recipe as the index ran it.
GROUP, RECIPE, SEED, NAMES, LATENCY, PICK = 0, 2, 4, 5, 6, 7
TARGETED_GENE = 8
NAME_SETS = (("laptop", "vpn-gateway"), ("branch-office", "headquarters"), ("win11-pc", "ras-server"))
LATENCIES = (0.001, 0.02, 0.05)


@lru_cache(maxsize=4096)
def _variant(recipe: int, names: int, latency: int, code: int | None) -> Scenario:
    """A recipe of the index with other peer names, another latency, and the local code asked for."""
    scenario = _causes.index().recipes[recipe].scenario
    if code is not None:
        scenario = _causes.with_code(scenario, code)
    if latency:
        network = scenario.network.model_copy(update={"latency": LATENCIES[latency - 1]})
        scenario = scenario.model_copy(update={"network": network})
    if names:
        initiator, responder = NAME_SETS[names - 1]
        mapping: dict[str, str] = {}
        for role, base in (("initiator", initiator), ("responder", responder)):
            peers = [n for n, p in scenario.peers.items() if p.role == role]
            for i, peer in enumerate(peers):
                mapping[peer] = base if i == 0 else f"{base}-{chr(ord('a') + i)}"
        scenario = renamed(scenario, mapping)
    return scenario


def _targeted_run(plan: _causes.Plan, q: _causes.Query, gene: bytes) -> tuple[Trace, int, int]:
    """The run a gene names, the position of an outcome asked for in it, and the gene's pick byte."""
    recipe = plan.recipe(gene[GROUP] << 8 | gene[GROUP + 1], gene[RECIPE] << 8 | gene[RECIPE + 1])
    seed = gene[SEED] if gene[SEED] >= 96 else None  # None: the recipe's own
    names = 1 + gene[NAMES] % len(NAME_SETS) if gene[NAMES] >= 128 else 0
    latency = 1 + gene[LATENCY] % len(LATENCIES) if gene[LATENCY] >= 160 else 0
    pick = gene[PICK]
    local = _causes.index().recipes[recipe].local
    code = None
    if local and plan.local_codes:
        fitting = [c for c in plan.local_codes if _local_fits(q, recipe, c)]
        code = fitting[pick % len(fitting)]
    if q.form == "audit" and _certificates(recipe):  # keys are made per seed and name (see _warm_certificates)
        seed, names = 0, 0
    trace = _simulate(_variant(recipe, names, latency, code), seed)
    found = q.matching(trace)
    if not found:  # the variation lost the cause: the recipe as it is keeps it
        trace = _simulate(_variant(recipe, 0, 0, code), None)
        found = q.matching(trace)
    if not found:  # a seed forced with --ikesim-seed lost it: the recipe's own seed keeps it
        from sim.simulator.engine import Simulation

        trace = Simulation(_variant(recipe, 0, 0, code)).run()
        found = q.matching(trace)
    assert found, (q, recipe)
    return trace, found[pick % len(found)], pick


@cache
def _certificates(recipe: int) -> bool:
    """True when a peer of the recipe authenticates with a certificate (rendering its events makes RSA keys)."""
    return any(p.policy.auth == "certificate" for p in _causes.index().recipes[recipe].scenario.peers.values())


def _local_fits(q: _causes.Query, recipe: int, code: int) -> bool:
    return any(c.recipe == recipe and _causes._fits(q, c, code) for c in _causes.index().local_causes)


def _query(**arguments: Any) -> _causes.Query:
    return _causes.query(**arguments)


def _run_strategy(
    q: _causes.Query,
    finish: Callable[[Trace, int | None, int], T],
    max_faults: int = 2,
    user_faults: Any = None,
    windows_only: bool = False,
) -> st.SearchStrategy[T]:
    """``finish(run, position of the outcome asked for or None, extra byte)`` of runs that fit a query.

    One composite per strategy, drawing one byte string: a composite inside another costs a span.
    """
    if q.targeted:
        if user_faults is not None:
            raise InvalidArgument(
                f"faults= cannot be combined with {q.asked}: a run asked for by its outcome has the faults of its cause"
            )
        plan = _causes.plan(q)
        targeted_gene = _gene(TARGETED_GENE)

        @st.composite
        def targeted(draw: Callable[..., Any]) -> T:
            trace, k, pick = _targeted_run(plan, q, draw(targeted_gene))
            return finish(_handed(trace), k, pick)

        return targeted()
    space = _gene(_space.GENE)

    @st.composite
    def generated(draw: Callable[..., Any]) -> T:
        gene = draw(space)
        scenario, seed = _space_scenario(draw, gene, q, max_faults, user_faults, windows_only)
        if windows_only and any(p.policy.auth == "certificate" for p in scenario.peers.values()):
            seed = 0  # keys are made per seed and name (see _warm_certificates)
        return finish(_handed(_simulate(scenario, seed)), None, gene[_space.EXTRA])

    return generated()


# --- runs, outcomes, scenarios ----------------------------------------------------------------


def runs(
    protocol: str | None = None,
    profile: str | None = None,
    code: Any = None,
    *,
    peer_role: Any = None,
    exchange: Any = None,
    failure_point: Any = None,
    category: Any = None,
    local_faults: bool = False,
    max_faults: int = 2,
    faults: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Trace]:
    """Simulated runs: their traces, with ``outcomes`` and ``source`` (the scenario).

    Without a query, two peers of ``protocol`` and ``profile`` (or any), with policies, network
    and faults drawn (at most ``max_faults``, or from ``faults=``, a strategy of faults).

    With a query, each run has at least one outcome that fits every part of it at once:
    ``code`` (a code or several), ``category`` (a catalog category, such as ``"timeout"``),
    ``peer_role`` (``"initiator"`` or ``"responder"``), ``exchange`` (a machine such as
    ``ikev1_quick_mode``, its tail ``quick_mode``, or a Windows group ``main``, ``quick``,
    ``extended``), ``failure_point`` (``"ME"``, ``"PEER"``, ``"NONE"`` or the full name), at a peer of
    ``protocol`` and ``profile``. It reaches the outcome through a cause ikesim's model has; a code
    whose only cause is a fault of the local machine only with ``local_faults=True``.
    """

    def build() -> st.SearchStrategy[Trace]:
        q = _query(
            code=code,
            category=category,
            peer_role=peer_role,
            exchange=exchange,
            failure_point=failure_point,
            protocol=protocol,
            profile=profile,
            local_faults=local_faults,
        )
        _check_space(protocol, profile, max_faults)
        return _run_strategy(q, _the_run, max_faults, _check_faults(faults))

    asked = (code, category, peer_role, exchange, failure_point)
    if all(a is None for a in asked) and local_faults is False and faults is None:
        return _plain_runs(protocol, profile, max_faults)
    return _lazy(build)


def _plain_runs(protocol: Any, profile: Any, max_faults: Any) -> st.SearchStrategy[Trace]:
    """``runs()`` without a query: no wrapper around the composite (a wrapper costs each example a span).

    Nothing to index, so nothing to do before the first example: the arguments are checked at the
    first draw, and a wrong one is InvalidArgument there.
    """
    checked: list[_causes.Query] = []
    space = _gene(_space.GENE)

    @st.composite
    def plain_runs(draw: Callable[..., Any]) -> Trace:
        if not checked:
            checked.append(_check_space(protocol, profile, max_faults))
        gene = draw(space)
        scenario, seed = _space_scenario(draw, gene, checked[0], max_faults, None)
        return _handed(_simulate(scenario, seed))

    return plain_runs()


def _the_run(trace: Trace, k: int | None, extra: int) -> Trace:
    return trace


def _check_faults(strategy: Any) -> Any:
    if strategy is not None and not isinstance(strategy, st.SearchStrategy):
        raise InvalidArgument(f"faults={strategy!r}: expected a strategy of faults, such as ikest.faults()")
    return strategy


def outcomes(
    protocol: str | None = None,
    profile: str | None = None,
    code: Any = None,
    *,
    peer_role: Any = None,
    exchange: Any = None,
    failure_point: Any = None,
    category: Any = None,
    local_faults: bool = False,
) -> st.SearchStrategy[Outcome]:
    """Outcomes (``sim.trace.Outcome`` records) of simulated runs; with a query (as for ``runs``), ones that fit it.

    A failing example notes the run it came from (``sim.run({...})``).
    """

    def build() -> st.SearchStrategy[Outcome]:
        q = _query(
            code=code,
            category=category,
            peer_role=peer_role,
            exchange=exchange,
            failure_point=failure_point,
            protocol=protocol,
            profile=profile,
            local_faults=local_faults,
        )

        def finish(trace: Trace, k: int | None, pick: int) -> Outcome:
            everything = trace.outcomes
            if not everything:  # a peer crashed before anything ended: a run with no outcome to give
                reject()
            if _config.in_final_replay():
                note(f"the run of this outcome: {run_expression(trace)}")
            return everything[pick % len(everything) if k is None else k]

        return _run_strategy(q, finish)

    return _lazy(build)


def scenarios(
    protocol: str | None = None,
    profile: str | None = None,
    code: Any = None,
    *,
    peer_role: Any = None,
    exchange: Any = None,
    failure_point: Any = None,
    category: Any = None,
    local_faults: bool = False,
    max_faults: int = 2,
    faults: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[Scenario]:
    """Valid scenarios; with a query (as for ``runs``), scenarios whose run (with the scenario's seed) fits it."""

    def build() -> st.SearchStrategy[Scenario]:
        q = _query(
            code=code,
            category=category,
            peer_role=peer_role,
            exchange=exchange,
            failure_point=failure_point,
            protocol=protocol,
            profile=profile,
            local_faults=local_faults,
        )
        _check_space(protocol, profile, max_faults)
        user_faults = _check_faults(faults)
        if q.targeted:
            return _run_strategy(q, _the_scenario, max_faults, user_faults)
        space = _gene(_space.GENE)

        @st.composite
        def generated(draw: Callable[..., Any]) -> Scenario:
            scenario, seed = _space_scenario(draw, draw(space), q, max_faults, user_faults)
            forced = _config.seed if _config.seed is not None else seed
            return scenario.model_copy(update={"seed": forced}) if forced else scenario

        return generated()

    return _lazy(build)


def _the_scenario(trace: Trace, k: int | None, extra: int) -> Scenario:
    source = trace.source
    assert isinstance(source, Scenario)
    return source


def scenario_data(
    protocol: str | None = None,
    profile: str | None = None,
    max_faults: int = 2,
    faults: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Scenario data (what a TOML file holds, as a dict, defaults left out): the scenarios of ``scenarios()``.

    With ``faults=`` (a strategy of faults: objects or dicts) its faults are drawn from there.
    """

    def build() -> st.SearchStrategy[dict[str, Any]]:
        q = _check_space(protocol, profile, max_faults)
        user_faults = _check_faults(faults)
        space = _gene(_space.GENE)

        @st.composite
        def generated(draw: Callable[..., Any]) -> dict[str, Any]:
            key, seed = _space.decode(draw(space), q.protocol, q.profile)
            data = _space.key_data(key)
            if user_faults is not None:
                data["faults"] = [_fault_as_data(f) for f in draw(st.lists(user_faults, max_size=max_faults))]
            elif max_faults < len(data.get("faults", ())):
                data["faults"] = data["faults"][:max_faults]
            if not data.get("faults"):
                data.pop("faults", None)
            forced = _config.seed if _config.seed is not None else seed
            return {"name": data.pop("name"), **({"seed": forced} if forced else {}), **data}

        return generated()

    return _lazy(build)


# --- many peers ---------------------------------------------------------------------------------

GROUPS = ("laptop", "branch", "kiosk")
FLEET_SITUATIONS: tuple[dict[str, Any], ...] = (
    {},
    {"psk": "another-secret"},
    {"proposals": [{"encryption": "3des"}]},
    {"quick_modes": 2},
    {"request_address": True},
)


def fleets(
    protocol: str | None = None,
    profile: str | None = None,
    *,
    min_initiators: int = 2,
    max_initiators: int = 20,
) -> st.SearchStrategy[Trace]:
    """Runs of one gateway with many initiators: groups of instances (``laptop-1``...), staggered starts.

    Each group has its own start, its own number of connections and possibly a policy the gateway
    does not accept; with IKEv2 the initiators that ask for an inner address share the gateway's
    pool, which may hold fewer addresses than they ask for (13899 for the last ones).
    """

    def build() -> st.SearchStrategy[Trace]:
        q = _query(protocol=protocol, profile=profile)
        for name, value in (("min_initiators", min_initiators), ("max_initiators", max_initiators)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name}={value!r}: expected a whole number of initiators, 1 or more")
        if min_initiators > max_initiators:
            raise InvalidArgument(f"min_initiators={min_initiators} is more than max_initiators={max_initiators}")
        protocols = _space.protocols_for(q.protocol, q.profile)

        @st.composite
        def fleet(draw: Callable[..., Any]) -> Trace:
            proto = draw(st.sampled_from(protocols))
            options = (q.profile,) if q.profile else _space.profiles_for(proto)
            groups = draw(st.integers(1, min(len(GROUPS), max_initiators)))
            sizes = [1] * groups
            total = draw(st.integers(max(min_initiators, groups), max_initiators))
            for i in range(total - groups):  # spread the rest over the groups
                sizes[draw(st.integers(0, groups - 1)) if groups > 1 else 0] += 1
                if i > 64:  # a big fleet: the rest in the first group, without a draw each
                    sizes[0] += total - groups - i - 1
                    break
            peers: dict[str, Any] = {}
            asking = 0
            for name, size in zip(GROUPS, sizes, strict=False):
                situation = dict(draw(st.sampled_from(FLEET_SITUATIONS)))
                if situation.get("request_address") and proto != "ikev2":
                    situation = {}
                if proto == "ikev2" and "quick_modes" in situation:
                    situation = {}
                asking += size if situation.get("request_address") else 0
                spec: dict[str, Any] = {
                    "role": "initiator",
                    "protocol": proto,
                    "profile": draw(st.sampled_from(options)),
                    "instances": size,
                    "start": draw(st.integers(0, 30)) / 2,
                }
                if draw(st.booleans()):
                    spec |= {"connections": 2, "interval": float(draw(st.integers(1, 20)))}
                if situation:
                    spec["policy"] = situation
                peers[name] = spec
            gateway: dict[str, Any] = {
                "role": "responder",
                "protocol": proto,
                "profile": draw(st.sampled_from(options)),
            }
            if asking:  # a shared pool: sometimes too small
                gateway["policy"] = {"address_pool": draw(st.integers(0, asking + 1))}
            peers["gateway"] = gateway
            data = {
                "name": "fleet",
                "seed": draw(st.integers(0, 63)),
                "peers": peers,
                "limits": {"max_time": _space.MAX_TIME},
            }
            if draw(st.booleans()):
                data["network"] = {"loss": 0.05, "jitter": 0.05}
            return _handed(_simulate(parse_scenario(data)))

        return fleet()

    return _lazy(build)


_RENAMED: dict[tuple[int, str], tuple[Scenario, Scenario]] = {}  # (id of a scenario, prefix) -> (it, renamed)


def _rerun_renamed(trace: Trace, prefix: str) -> Trace:
    """The same run with its peers renamed ``PREFIX.name`` (a stream's runs share no peer name)."""
    source = trace.source
    if not isinstance(source, Scenario):
        raise InvalidArgument(f"{trace!r} has no scenario: event_streams() needs runs it can make again")
    key = (id(source), prefix)
    cached = _RENAMED.get(key)
    if cached is None or cached[0] is not source:  # the scenario is kept with it: its id is not reused
        if len(_RENAMED) > 4096:
            _RENAMED.clear()
        cached = _RENAMED[key] = (source, renamed(source, {name: f"{prefix}.{name}" for name in source.peers}))
    _config.forget_final(trace)  # the stream's run, renamed, is the one the test sees
    return _handed(_simulate(cached[1].model_copy(update={"seed": trace.seed}), trace.seed))


def event_streams(
    runs: st.SearchStrategy[Trace] | None = None, *, min_runs: int = 2, max_runs: int = 4, spread: float = 60.0
) -> st.SearchStrategy[EventStream]:
    """Several runs interleaved by time (:class:`~sim.testing.forms.EventStream`), as a live feed shows them.

    Each run comes from ``runs`` (default: ``runs()``; ``fleets()`` works too), its peers renamed
    ``r1.client``, ``r2.gateway``... and started at an offset of 0 to ``spread`` seconds.
    """

    def build() -> st.SearchStrategy[EventStream]:
        inner = globals()["runs"]() if runs is None else _check_runs(runs)
        for name, value in (("min_runs", min_runs), ("max_runs", max_runs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name}={value!r}: expected a whole number of runs, 1 or more")
        if min_runs > max_runs:
            raise InvalidArgument(f"min_runs={min_runs} is more than max_runs={max_runs}")
        if isinstance(spread, bool) or not isinstance(spread, int | float) or not 0 <= spread < math.inf:
            raise InvalidArgument(f"spread={spread!r}: expected a finite number of seconds, 0 or more")
        tenths = int(spread * 10)

        @st.composite
        def stream(draw: Callable[..., Any]) -> EventStream:
            count = draw(st.integers(min_runs, max_runs))
            traces = [_rerun_renamed(draw(inner), f"r{i + 1}") for i in range(count)]
            offsets = [0.0] + [draw(st.integers(0, tenths)) / 10 for _ in range(count - 1)]
            return EventStream.of(traces, offsets)

        return stream()

    return _lazy(build)


def _check_runs(strategy: Any) -> st.SearchStrategy[Trace]:
    if not isinstance(strategy, st.SearchStrategy):
        raise InvalidArgument(f"runs={strategy!r}: expected a strategy of runs, such as ikest.runs()")
    return strategy


# --- fixture forms ------------------------------------------------------------------------------


def _form_strategy(
    form: str,
    arguments: dict[str, Any],
    make: Callable[[Trace, str], T],
) -> st.SearchStrategy[T]:
    """A fixture form of runs asked for by ``arguments``: the peer is a Windows peer that logs the outcome."""
    asked = _query(**arguments)
    if form == "jsonl":
        return _run_strategy(asked, lambda trace, k, extra: make(trace, ""))
    protocols = _space.protocols_for(asked.protocol, asked.profile)
    if asked.profile is not None and not any(is_windows(asked.profile, p) for p in protocols):
        raise InvalidArgument(
            f"profile={asked.profile!r}: such a peer writes no Windows events; a Windows one "
            "(windows, windows-ikev2, authip, or any peer speaking AuthIP) does"
        )
    q = _query(**arguments, form=form)

    def finish(trace: Trace, k: int | None, extra: int) -> T:
        if k is not None:
            return make(trace, _causes.outcome_facts(trace)[k][5])
        windows = [p.name for p in trace.peers if p.windows]
        return make(trace, windows[extra % len(windows)])

    logging = _run_strategy(q, finish)
    if asked.targeted:
        return logging
    # Half the logs hold an event for an outcome of any cause; half come from generated runs of
    # Windows peers, which may hold nothing but invalid-packet events, or nothing at all.
    return st.one_of(logging, _run_strategy(asked, finish, windows_only=True))


def _warm_certificates() -> None:
    """Make, before the first example, the RSA keys the audit events of certificate runs need.

    ``sim.wire.certs`` derives each key from the seed and the owner's name (a prime search, about
    a second for all four), so the audit strategies run certificate scenarios with seed 0 and
    these names only: made here, they do not count as the examples' draw time.
    """
    from sim.wire import certs

    for owner in (certs.ROOT, certs.OTHER_ROOT, *_space.PEERS):
        certs.private_key(0, owner)


def audit_events(form: str = "xml", **query: Any) -> st.SearchStrategy[AuditLog]:
    """A Windows peer's Security audit events for a run (:class:`~sim.testing.forms.AuditLog`).

    ``form`` is ``"xml"`` (as ``wevtutil qe /f:xml``), ``"rendered"`` (``/f:RenderedXml``) or
    ``"evtx"`` (the binary log's bytes). ``records`` pairs each event with what it stands for. With
    a query (the arguments of ``runs``), the log holds an event for an outcome that fits it.
    """

    def build() -> st.SearchStrategy[AuditLog]:
        if form not in AUDIT_FORMS:
            raise InvalidArgument(f"form={form!r}: expected one of {', '.join(map(repr, AUDIT_FORMS))}")
        strategy = _form_strategy("audit", _arguments(query), lambda t, p: AuditLog.of(t, p, form))
        _warm_certificates()
        return strategy

    return _lazy(build)


def net_events(form: str = "json", **query: Any) -> st.SearchStrategy[NetEventLog]:
    """A Windows peer's WFP IKEEXT failure net events for a run (:class:`~sim.testing.forms.NetEventLog`).

    ``form`` is ``"json"`` (struct members in order, enums by value) or ``"xml"`` (as ``netsh wfp
    show netevents``). With a query, the log holds a net event for an outcome that fits it.
    """

    def build() -> st.SearchStrategy[NetEventLog]:
        if form not in WFP_FORMS:
            raise InvalidArgument(f"form={form!r}: expected one of {', '.join(map(repr, WFP_FORMS))}")
        return _form_strategy("wfp", _arguments(query), lambda t, p: NetEventLog.of(t, p, form))

    return _lazy(build)


def jsonl_lines(**query: Any) -> st.SearchStrategy[JsonlTrace]:
    """Runs as the JSON Lines ``ikesim run --format jsonl`` writes (:class:`~sim.testing.forms.JsonlTrace`)."""

    def build() -> st.SearchStrategy[JsonlTrace]:
        return _form_strategy("jsonl", _arguments(query), lambda t, p: JsonlTrace.of(t))

    return _lazy(build)


QUERY_ARGUMENTS = ("protocol", "profile", "code", "peer_role", "exchange", "failure_point", "category", "local_faults")


def _arguments(given: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(QUERY_ARGUMENTS))
    if unknown:
        raise InvalidArgument(f"unexpected argument {unknown[0]!r}; a query takes {', '.join(QUERY_ARGUMENTS)}")
    return given


# --- printing, and from_type ------------------------------------------------------------------


def _print_trace(trace: Trace, p: Any, cycle: bool) -> None:
    pretty_run(trace, p)


def _print_scenario(scenario: Scenario, p: Any, cycle: bool) -> None:
    data = scenario.model_dump(by_alias=True, exclude_defaults=True)
    with p.group(len("sim.scenario.parse_scenario("), "sim.scenario.parse_scenario(", ")"):
        p.pretty(data)


def _print_fault(fault: FaultModel, p: Any, cycle: bool) -> None:
    name = f"sim.faults.{type(fault).__name__}.model_validate("
    with p.group(len(name), name, ")"):
        p.pretty(_fault_as_data(fault))


def _register_printers() -> None:
    """Falsifying examples print runs, scenarios and faults as expressions that make them again."""
    try:
        from hypothesis.vendor.pretty import for_type_by_name
    except ImportError:  # pragma: no cover - an older or newer Hypothesis: the plain repr is printed
        return
    for_type_by_name("sim.trace", "Trace", _print_trace)
    for_type_by_name("sim.scenario", "Scenario", _print_scenario)
    for_type_by_name("sim.faults", "FaultModel", _print_fault)


_register_printers()
for _cls, _strategy in (
    (EventStream, event_streams),
    (AuditLog, audit_events),
    (NetEventLog, net_events),
    (JsonlTrace, jsonl_lines),
):
    st.register_type_strategy(_cls, lambda _, make=_strategy: make())  # type: ignore[misc]
