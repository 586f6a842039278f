"""Small builders for scenarios used across the tests."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings


def two_peers(
    client: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A client (initiator) and a gateway (responder), both IKEv1 with the windows profile."""
    return {
        "name": extra.pop("name", "test"),
        "peers": {
            "client": {"role": "initiator", **(client or {})},
            "gateway": {"role": "responder", **(gateway or {})},
        },
        **extra,
    }


def outcomes(trace: Any, ends: str = "negotiation") -> dict[tuple[str, str], int]:
    """(peer, sa) -> code for one kind of outcome."""
    return {(o.peer, o.sa): o.code for o in trace.outcomes if o.ends == ends}


def ikev2(
    client: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A client and a gateway speaking IKEv2 with the windows-ikev2 profile."""
    base = {"protocol": "ikev2", "profile": "windows-ikev2"}
    return two_peers({**base, **(client or {})}, {**base, **(gateway or {})}, **extra)


def authip(
    client: dict[str, Any] | None = None,
    gateway: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A client and a gateway speaking AuthIP."""
    return two_peers({"protocol": "authip", **(client or {})}, {"protocol": "authip", **(gateway or {})}, **extra)


def leases(trace: Any) -> list[tuple[str, str, float, float]]:
    """(address, IKE SA, leased at, released at) from a trace: a lease shows in the IKE_AUTH response."""
    import math

    start: dict[str, tuple[str, float]] = {}
    out = []
    for e in trace.events:
        detail = getattr(e, "detail", None) or ""
        if e.kind == "send" and e.message == "IKE_AUTH response" and "INTERNAL_IP4_ADDRESS=" in detail:
            start[e.sa] = (detail.split("INTERNAL_IP4_ADDRESS=")[1].split(",")[0], e.t)
        elif e.kind == "outcome" and e.ends == "sa" and e.sa in start and e.role == "responder":
            address, t = start.pop(e.sa)
            out.append((address, e.sa, t, e.t))
        elif e.kind == "timer" and e.timer == "crash" and e.peer == "gateway":
            for sa, (address, t) in start.items():
                out.append((address, sa, t, e.t))
            start.clear()
    out += [(address, sa, t, math.inf) for sa, (address, t) in start.items()]
    return out


def first(strategy: Any) -> Any:
    """One example of the strategy, as a test would get it (no search, no shrinking)."""
    drawn = []

    @settings(max_examples=1, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn[0]
