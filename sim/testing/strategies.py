"""Hypothesis strategies for people who test their own handlers of Windows IKE codes.

    from hypothesis import given
    from sim.testing import strategies as ikest

    @given(ikest.runs())
    def test_my_handler_never_ignores_a_failure(trace):
        for outcome in trace.outcomes:
            ...

Every generated scenario is valid and every run terminates within its limits. Shrinking goes
towards a short IKEv1 negotiation between two peers with few faults, so a failure shrinks to a
scenario you can read (its ``repr`` shows only what differs from the defaults).
"""

from __future__ import annotations

from functools import cache
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as missing:  # pragma: no cover - a clear message instead of a bare ImportError
    raise ImportError("sim.testing.strategies needs Hypothesis: pip install 'ikesim[testing]'") from missing

from sim import codes as catalog
from sim.faults import Fault, faults_strategy
from sim.protocol.profiles import PROFILES as ALL_PROFILES
from sim.scenario import Scenario, parse_scenario
from sim.trace import Trace

__all__ = ["codes", "faults", "runs", "scenario_data", "scenarios"]

PROTOCOLS = ("ikev1", "ikev2", "authip")
PROFILES = {  # the profiles drawn for each protocol: those of implementations that speak it
    protocol: tuple(name for name, profile in ALL_PROFILES.items() if protocol in profile.protocols)
    for protocol in ("ikev1", "authip", "ikev2")
}
# The messages an initiator sends, by protocol: where a local fault of the client can strike.
INITIATOR_MESSAGES = {
    "ikev1": ("MM1", "MM3", "MM5", "QM1", "QM3"),
    "authip": ("AuthIP MM1", "AuthIP MM3", "QM1", "QM3"),
    "ikev2": ("IKE_SA_INIT request", "IKE_AUTH request"),
}
SUCCESS = (13897, 13909)


def codes(markers: bool = False) -> st.SearchStrategy[catalog.CodeInfo]:
    """Catalog entries (``sim.codes.CodeInfo``); the range markers 13800, 13897, 13909 only if ``markers``."""
    entries = [e for e in catalog.all_codes() if markers or not e.marker]
    return st.sampled_from(entries)


def faults(peers: tuple[str, ...] = ("client", "gateway"), horizon: float = 200.0) -> st.SearchStrategy[Fault]:
    """Single faults of every kind (``sim.faults.FAULT_KINDS``), on the given peers, at times before ``horizon``."""
    return faults_strategy(peers, horizon).map(_one_fault)


def _one_fault(data: dict[str, Any]) -> Fault:
    peers = {"client": {"role": "initiator"}, "gateway": {"role": "responder"}}
    return parse_scenario({"name": "fault", "peers": peers, "faults": [data]}).faults[0]


def _policy(protocol: str, role: str) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        "psk": st.sampled_from(["shared-secret", "another-secret"]),
        "proposals": st.sampled_from([[{"encryption": "3des"}], [{"dh_group": 2}]]),
        "liveness_interval": st.sampled_from([30.0, 90.0]),
        "mm_lifetime": st.sampled_from([60.0, 600.0]),
    }
    if protocol != "ikev2":
        optional["quick_modes"] = st.integers(0, 2)
    if protocol == "ikev2" and role == "initiator":
        optional |= {"request_address": st.booleans(), "nap_health": st.sampled_from(["unhealthy", "remediates"])}
    if protocol == "ikev2" and role == "responder":
        optional |= {"address_pool": st.integers(0, 3), "require_cp": st.booleans(), "nap": st.booleans()}
    if protocol == "authip" and role == "initiator":
        optional["extended_mode"] = st.booleans()
    return st.fixed_dictionaries({}, optional=optional)


def scenario_data(
    protocol: str | None = None, profile: str | None = None, max_faults: int = 2
) -> st.SearchStrategy[dict[str, Any]]:
    """Scenario data (what a TOML file holds, as a dict): two peers, their policies, a few faults."""
    return _scenario_data(protocol, profile, max_faults)


@cache  # built once: a strategy built for every example (flatmap) cost more than the run itself
def _scenario_data(protocol: str | None, profile: str | None, max_faults: int) -> st.SearchStrategy[dict[str, Any]]:
    def build(p: str) -> st.SearchStrategy[dict[str, Any]]:
        profiles = st.just(profile) if profile else st.sampled_from(PROFILES[p])
        peer = {"protocol": st.just(p), "profile": profiles}
        return st.fixed_dictionaries(
            {
                "name": st.just("generated"),
                "seed": st.integers(0, 2**16),
                "peers": st.fixed_dictionaries(
                    {
                        "client": st.fixed_dictionaries(
                            {"role": st.just("initiator"), **peer, "policy": _policy(p, "initiator")}
                        ),
                        "gateway": st.fixed_dictionaries(
                            {"role": st.just("responder"), **peer, "policy": _policy(p, "responder")}
                        ),
                    }
                ),
                "network": st.fixed_dictionaries(
                    {}, optional={"loss": st.sampled_from([0.1, 0.3]), "jitter": st.sampled_from([0.01, 0.2])}
                ),
                "faults": st.lists(faults_strategy(("client", "gateway"), 200.0), max_size=max_faults),
                "limits": st.just({"max_time": 3600.0}),
            }
        )

    return st.one_of([build(p) for p in ([protocol] if protocol else PROTOCOLS)])


def scenarios(
    protocol: str | None = None, profile: str | None = None, code: int | str | None = None
) -> st.SearchStrategy[Scenario]:
    """Valid scenarios, optionally narrowed to a protocol, a profile, or a code some peer must report.

    With ``code``, each scenario reports that code: a library scenario that shows it (its peers
    renamed), a generated negotiation whose client has a local fault that reports it, or for
    13897 and 13909 a negotiation with nothing wrong.
    """
    if code is None:
        return _scenario_data(protocol, profile, 2).map(parse_scenario)
    wanted = catalog.lookup(code).code
    options: list[st.SearchStrategy[Scenario]] = []
    library = _library_showing(wanted, protocol, profile)
    if library:
        options.append(st.builds(_renamed, st.sampled_from(library), st.sampled_from(["", "win-", "branch-"])))
    if wanted not in catalog.MARKERS:
        options += [_local_fault(p, profile, wanted) for p in ([protocol] if protocol else PROTOCOLS)]
    if wanted in SUCCESS:
        success_protocols = ["authip"] if wanted == 13909 else [protocol] if protocol else list(PROTOCOLS)
        options += [_clean(p, profile, extended=wanted == 13909) for p in success_protocols]
    if not options:
        raise ValueError(f"no scenario reports {wanted} with protocol={protocol!r} and profile={profile!r}")
    return st.one_of(options)


def _library_showing(code: int, protocol: str | None, profile: str | None) -> list[Scenario]:
    from sim.library import codes_reported
    from sim.library import scenarios as library

    names = set(codes_reported().get(code, ()))
    return [
        s
        for s in library()
        if s.name in names
        and (protocol is None or all(p.protocol == protocol for p in s.peers.values()))
        and (profile is None or all(p.profile == profile for p in s.peers.values()))
    ]


def _renamed(scenario: Scenario, prefix: str) -> Scenario:
    if not prefix:
        return scenario
    text = scenario.model_dump_json(by_alias=True, exclude_defaults=True)
    for name in scenario.peers:
        text = text.replace(f'"{name}"', f'"{prefix}{name}"')
    return Scenario.model_validate_json(text)


def _clean(protocol: str, profile: str | None, extended: bool = False) -> st.SearchStrategy[Scenario]:
    profiles = st.just(profile) if profile else st.sampled_from(PROFILES[protocol])
    policy = {"extended_mode": True} if extended else {}
    return profiles.map(
        lambda pr: parse_scenario(
            {
                "name": "clean",
                "peers": {
                    "client": {"role": "initiator", "protocol": protocol, "profile": pr, "policy": policy},
                    "gateway": {"role": "responder", "protocol": protocol, "profile": pr},
                },
            }
        )
    )


def _local_fault(protocol: str, profile: str | None, code: int) -> st.SearchStrategy[Scenario]:
    profiles = st.just(profile) if profile else st.sampled_from(PROFILES[protocol])
    at = st.sampled_from(INITIATOR_MESSAGES[protocol])
    return st.builds(
        lambda pr, message: parse_scenario(
            {
                "name": "local-fault",
                "peers": {
                    "client": {"role": "initiator", "protocol": protocol, "profile": pr},
                    "gateway": {"role": "responder", "protocol": protocol, "profile": pr},
                },
                "faults": [{"kind": "local", "peer": "client", "at": message, "code": code}],
            }
        ),
        profiles,
        at,
    )


def runs(
    protocol: str | None = None, profile: str | None = None, code: int | str | None = None
) -> st.SearchStrategy[Trace]:
    """Simulated runs of generated scenarios: their traces, with ``outcomes`` and ``source`` (the scenario)."""
    from sim.simulator.engine import Simulation

    return scenarios(protocol, profile, code).map(lambda s: Simulation(s).run())
