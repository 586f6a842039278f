"""Small builders for scenarios used across the tests."""

from __future__ import annotations

from typing import Any


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
