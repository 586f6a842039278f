"""The scenarios ``runs()`` draws, each named by one byte string: one choice per example is fast.

Hypothesis spends about as much on each choice it records as ikesim spends on a small run, so a
generated scenario is one fixed-size byte string (a *gene*), one byte per decision: the
protocol, each peer's profile, the network, the seed, two *situations* (a policy mismatch, a
limit, a lifetime, a peer that moves...) and two faults. Zero is each byte's simplest value (no
situation, no fault, IKEv1, Windows), so shrinking, which lowers each byte on its own, makes a
failing scenario simpler one decision at a time.

The faults are made from :data:`sim.faults.FAULT_KINDS` (each kind's own example, moved to each
message, peer and time of the protocol), so a new kind of fault is drawn without a change here.
Scenarios are assembled from cached, validated parts: a part is validated once per process.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import product
from typing import Any

from sim.faults import FAULT_KINDS, FaultModel
from sim.protocol.profiles import PROFILES, is_windows
from sim.protocol.registry import PROTOCOLS as PROTOCOL_SPECS
from sim.scenario import LimitsSpec, NetworkSpec, PeerSpec, Scenario

PROTOCOLS = ("ikev1", "ikev2", "authip")
PROFILE_NAMES = tuple(name for name, profile in PROFILES.items() if profile.protocols)  # those a run can have
PEERS = ("client", "gateway")
NAME = "generated"
MAX_TIME = 3600.0


@dataclass(frozen=True)
class Situation:
    """Something about the peers' set-up that decides how a negotiation ends (a mismatch, a limit...)."""

    name: str
    protocols: tuple[str, ...]
    client: dict[str, Any] = field(default_factory=dict)  # policy
    gateway: dict[str, Any] = field(default_factory=dict)  # policy
    client_spec: dict[str, Any] = field(default_factory=dict)  # connections, interval...
    until: float | None = None  # run on to this time (lifetimes, liveness, rekeys need it)
    faults: tuple[dict[str, Any], ...] = ()  # what happens to it (a peer that moves, a peer that dies)


ALL = PROTOCOLS
V1 = ("ikev1", "authip")
V2 = ("ikev2",)
# Simplest first: shrinking moves towards the start of the list.
SITUATIONS = (
    Situation("wrong-psk", ALL, {"psk": "another-secret"}),
    Situation("no-common-proposal", ALL, {"proposals": [{"encryption": "3des"}]}),
    Situation("group-2-offered", ALL, {"proposals": [{"dh_group": 2}]}),
    Situation("gateway-wants-group-2", ALL, {"proposals": [{"dh_group": 14}, {"dh_group": 2}]}, {"dh_groups": [2]}),
    Situation("certificates", ALL, {"auth": "certificate"}, {"auth": "certificate"}),
    Situation(
        "client-cert-untrusted", ALL, {"auth": "certificate", "certificate": "untrusted"}, {"auth": "certificate"}
    ),
    Situation("gateway-cert-revoked", ALL, {"auth": "certificate"}, {"auth": "certificate", "certificate": "revoked"}),
    Situation("client-cert-missing", ALL, {"auth": "certificate", "certificate": "missing"}, {"auth": "certificate"}),
    Situation("gateway-cert-missing", ALL, {"auth": "certificate"}, {"auth": "certificate", "certificate": "missing"}),
    Situation("no-quick-mode", V1, {"quick_modes": 0}),
    Situation("two-quick-modes", V1, {"quick_modes": 2}),
    Situation("quick-mode-limit", V1, {"quick_modes": 2}, {"max_qm_per_mm": 1}),
    Situation("two-connections", ALL, client_spec={"connections": 2, "interval": 1.0}),
    Situation("main-mode-limit", ALL, {}, {"max_mm_per_peer": 1}, {"connections": 2, "interval": 1.0}),
    Situation("rate-limit", ALL, {}, {"rate_limit": 1}, {"connections": 3}),
    Situation("shutting-down", ALL, {}, {"shutdown_at": 0.0}),
    Situation("liveness", ALL, {"liveness_interval": 30.0}, until=100.0),
    Situation(
        "dead-peer-detected",
        ALL,
        {"liveness_interval": 30.0},
        until=400.0,
        faults=({"kind": "silence", "peer": "gateway", "at": 40.0},),
    ),
    Situation("short-mm-lifetime", ALL, {"mm_lifetime": 60.0}, until=100.0),
    Situation("short-qm-lifetime", ALL, {"qm_lifetime": 60.0}, until=100.0),
    Situation("inner-address", V2, {"request_address": True}, {"address_pool": 4}),
    Situation("address-pool-empty", V2, {"request_address": True}, {"address_pool": 0}),
    Situation("cp-required", V2, {}, {"require_cp": True}),
    Situation("nap-unhealthy", V2, {"nap_health": "unhealthy"}, {"nap": True}),
    Situation("nap-remediates", V2, {"nap_health": "remediates"}, {"nap": True}),
    Situation("dos-cookies", V2, {}, {"dos_threshold": 1}, {"connections": 2}),
    Situation("no-mobike", V2, {}, {"mobike": False}),
    Situation(
        "client-moves-without-mobike",
        V2,
        {},
        {"mobike": False},
        faults=({"kind": "address_change", "peer": "client", "at": 30.0},),
    ),
    Situation(
        "gateway-moves-without-mobike",
        V2,
        {"mobike": False},
        {},
        faults=({"kind": "address_change", "peer": "gateway", "at": 30.0},),
    ),
    Situation("rekeys", V2, {"rekey_after": 30.0}, {"rekey_after": 30.0}, until=50.0),
    Situation("extended-mode", ("authip",), {"extended_mode": True}),
    Situation("wrong-user-secret", ("authip",), {"extended_mode": True, "user_secret": "not-the-user-secret"}),
)

NETWORKS: tuple[dict[str, float], ...] = (
    {},
    {"loss": 0.1},
    {"jitter": 0.2},
    {"loss": 0.3},
    {"jitter": 0.01},
    {"loss": 0.1, "jitter": 0.2},
)
TIMES = (0.008, 1.0, 30.0)  # mid main mode, once the SAs are up, later


def profiles_for(protocol: str, windows_only: bool = False) -> tuple[str, ...]:
    """The profiles of implementations that speak ``protocol``, Windows first (only Windows ones if asked)."""
    return tuple(
        name
        for name, profile in PROFILES.items()
        if protocol in profile.protocols and (not windows_only or is_windows(name, protocol))
    )


def messages_of(protocol: str) -> tuple[str, ...]:
    """The messages a protocol sends, in the order of its exchanges."""
    return tuple(PROTOCOL_SPECS[protocol].payloads)


def _literal_fields(cls: type[FaultModel]) -> dict[str, tuple[Any, ...]]:
    """The fields of a fault kind that take one of a few values (the part a corruption damages)."""
    out = {}
    for name, info in cls.model_fields.items():
        if name != "kind" and typing.get_origin(info.annotation) is typing.Literal:
            out[name] = typing.get_args(info.annotation)
    return out


def _variants(kind: str, cls: type[FaultModel], protocol: str) -> Iterator[dict[str, Any]]:
    """A kind's example moved to each message, peer and time where it can strike in ``protocol``."""
    example = cls.example()
    messages = messages_of(protocol)
    choices: dict[str, tuple[Any, ...]] = {}
    if "message" in cls.model_fields:
        choices["message"] = messages
    if "peer" in cls.model_fields:
        choices["peer"] = PEERS
    if isinstance(example.get("at"), float):
        choices["at"] = TIMES
    choices |= _literal_fields(cls)
    names = list(choices)
    for values in product(*(choices[n] for n in names)):
        yield {**example, **dict(zip(names, values, strict=True))}
    if "after_message" in cls.model_fields:  # silent once the peer has sent a message
        for peer, message in product(PEERS, messages):
            yield {**{k: v for k, v in example.items() if k != "at"}, "peer": peer, "after_message": message}
    if "count" in cls.model_fields:  # every such message, not just one
        for message in messages:
            yield {**example, "message": message, "count": 0}
    if "restart_at" in cls.model_fields:
        for peer, at in product(PEERS, TIMES):
            yield {**example, "peer": peer, "at": at, "restart_at": at + 5.0}
    if "start" in cls.model_fields:
        yield {**example, "start": 0.0, "end": 30.0}
        yield {**example, "start": 1.0, "end": 100.0}


@cache
def fault_templates(protocol: str) -> tuple[dict[str, Any], ...]:
    """Fault data for ``protocol``, every kind but local faults, the kinds' first variants first."""
    per_kind = [list(_variants(kind, cls, protocol)) for kind, cls in FAULT_KINDS.items() if kind != "local"]
    out: list[dict[str, Any]] = []
    for i in range(max(len(v) for v in per_kind)):  # round-robin: each kind appears early
        out += [v[i] for v in per_kind if i < len(v)]
    return tuple(out)


@cache
def templates_by_kind(protocol: str) -> tuple[tuple[int, ...], ...]:
    """For each fault kind (but local faults), the positions of its templates in ``fault_templates(protocol)``."""
    kinds = [k for k in FAULT_KINDS if k != "local"]
    templates = fault_templates(protocol)
    return tuple(tuple(i for i, t in enumerate(templates) if t["kind"] == kind) for kind in kinds)


# --- the gene ---------------------------------------------------------------------------------

# One fixed-size byte string names a scenario: one choice for Hypothesis, drawn uniformly, and
# shrunk byte by byte towards zero. Each byte is one decision; zero is its simplest value. A
# byte means the same whatever the protocol (a situation by its place in SITUATIONS, a fault by
# its kind), so that the protocol can shrink to IKEv1 and keep what makes a test fail.
PROTOCOL, CLIENT_PROFILE, GATEWAY_PROFILE, NETWORK, SEED = range(5)
SITUATION_SLOTS = ((5, 6), (7, 8))  # (present when >= 128, which one)
FAULT_SLOTS = ((9, 10, 11), (13, 14, 15))  # (present when >= 128, its kind, which of the kind's: two bytes)
EXTRA = 17  # a byte for the strategy's own use (which peer's log, which outcome)
GENE = 18


@dataclass(frozen=True, slots=True)
class Key:
    """A scenario of the space, all but its seed."""

    protocol: str
    client_profile: str
    gateway_profile: str
    network: int
    situations: tuple[int, ...]
    faults: tuple[int, ...]


def decode(gene: bytes, protocol: str | None, profile: str | None, windows_only: bool = False) -> tuple[Key, int]:
    """The scenario and the seed that ``gene`` names, within the protocol and profile asked for."""
    protocols = protocols_for(protocol, profile)
    proto = protocols[gene[PROTOCOL] % len(protocols)]
    options = (profile,) if profile else profiles_for(proto, windows_only)
    client = options[gene[CLIENT_PROFILE] % len(options)]
    gateway = options[gene[GATEWAY_PROFILE] % len(options)]
    network = 0 if gene[NETWORK] < 160 else 1 + gene[NETWORK] % (len(NETWORKS) - 1)
    chosen = [gene[which] % len(SITUATIONS) for present, which in SITUATION_SLOTS if gene[present] >= 128]
    situations = tuple(dict.fromkeys(i for i in chosen if proto in SITUATIONS[i].protocols))
    by_kind = templates_by_kind(proto)
    faults = []
    for present, kind, which in FAULT_SLOTS:
        if gene[present] >= 128:
            variants = by_kind[gene[kind] % len(by_kind)]
            faults.append(variants[(gene[which] << 8 | gene[which + 1]) % len(variants)])
    return Key(proto, client, gateway, network, situations, tuple(faults)), gene[SEED]


def protocols_for(protocol: str | None, profile: str | None) -> tuple[str, ...]:
    """The protocols a run may speak: the one asked for, or those the profile asked for speaks."""
    if protocol is not None:
        return (protocol,)
    if profile is not None:
        return tuple(p for p in PROTOCOLS if p in PROFILES[profile].protocols)
    return PROTOCOLS


# --- assembling a scenario from cached parts --------------------------------------------------


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


def key_data(key: Key) -> dict[str, Any]:
    """The scenario of ``key`` as plain data (what a TOML file holds), defaults left out."""
    chosen = [SITUATIONS[i] for i in key.situations]
    client_policy = _merged([s.client for s in chosen])
    gateway_policy = _merged([s.gateway for s in chosen])
    client: dict[str, Any] = {"role": "initiator", **_merged([s.client_spec for s in chosen])}
    gateway: dict[str, Any] = {"role": "responder"}
    for spec, proto_profile, policy in (
        (client, key.client_profile, client_policy),
        (gateway, key.gateway_profile, gateway_policy),
    ):
        if key.protocol != "ikev1":
            spec["protocol"] = key.protocol
        if proto_profile != "windows":
            spec["profile"] = proto_profile
        if policy:
            spec["policy"] = policy
    data: dict[str, Any] = {"name": NAME, "peers": {"client": client, "gateway": gateway}}
    if NETWORKS[key.network]:
        data["network"] = dict(NETWORKS[key.network])
    faults = [dict(f) for s in chosen for f in s.faults] + [dict(fault_templates(key.protocol)[i]) for i in key.faults]
    if faults:
        data["faults"] = faults
    until = max((s.until for s in chosen if s.until is not None), default=None)
    data["limits"] = {"max_time": MAX_TIME, **({"until": until} if until is not None else {})}
    return data


@lru_cache(maxsize=4096)
def _peer(role: str, protocol: str, profile: str, extra: tuple[tuple[str, Any], ...], policy: str) -> PeerSpec:
    import json

    return PeerSpec.model_validate(
        {"role": role, "protocol": protocol, "profile": profile, **dict(extra), "policy": json.loads(policy)}
    )


@cache
def _fault(protocol: str, index: int) -> FaultModel:
    data = fault_templates(protocol)[index]
    return FAULT_KINDS[data["kind"]].model_validate(data)


@cache
def _situation_faults(index: int) -> tuple[FaultModel, ...]:
    return tuple(FAULT_KINDS[f["kind"]].model_validate(f) for f in SITUATIONS[index].faults)


@cache
def _network(index: int) -> NetworkSpec:
    return NetworkSpec.model_validate(NETWORKS[index])


@cache
def _limits(until: float | None) -> LimitsSpec:
    return LimitsSpec.model_validate({"max_time": MAX_TIME, **({"until": until} if until is not None else {})})


@lru_cache(maxsize=1024)
def _situation_parts(situations: tuple[int, ...]) -> tuple[tuple[tuple[str, Any], ...], str, str, float | None]:
    """(the client's spec options, each peer's policy as JSON, run-until) of a set of situations."""
    import json

    chosen = [SITUATIONS[i] for i in situations]
    client_policy = json.dumps(_merged([s.client for s in chosen]), sort_keys=True)
    gateway_policy = json.dumps(_merged([s.gateway for s in chosen]), sort_keys=True)
    client_extra = tuple(sorted(_merged([s.client_spec for s in chosen]).items()))
    until = max((s.until for s in chosen if s.until is not None), default=None)
    return client_extra, client_policy, gateway_policy, until


@lru_cache(maxsize=4096)
def scenario(key: Key) -> Scenario:
    """The scenario of ``key`` (its seed 0), made of parts validated once each.

    The whole is put together without validating it again (a fifth of the cost of a run): every
    part is valid, and the parts of the space always fit together (a test checks that they do).
    """
    client_extra, client_policy, gateway_policy, until = _situation_parts(key.situations)
    return Scenario.model_construct(
        name=NAME,
        peers={
            "client": _peer("initiator", key.protocol, key.client_profile, client_extra, client_policy),
            "gateway": _peer("responder", key.protocol, key.gateway_profile, (), gateway_policy),
        },
        network=_network(key.network),
        faults=[
            *(f for i in key.situations for f in _situation_faults(i)),
            *(_fault(key.protocol, i) for i in key.faults),
        ],
        limits=_limits(until),
    )
