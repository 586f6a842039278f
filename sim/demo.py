"""``make demo``: a short tour for a newcomer."""

from __future__ import annotations

from sim.cli import main


def tour() -> int:
    """Show what ikesim knows, one step at a time."""
    print("ikesim knows the 110 Windows IKE status codes. Here is the one for a dead peer:\n")
    status = main(["explain", "13886"])
    print("\nAnd the one a successful negotiation is reported with, by convention:\n")
    return status or main(["explain", "NEG_STATUS_END"])


if __name__ == "__main__":
    raise SystemExit(tour())
