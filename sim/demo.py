"""``make demo``: a short tour of ikesim for a newcomer, with real scenarios from the library."""

from __future__ import annotations

import subprocess
import sys

TOUR = [
    ("mm-qm-success", "First, nothing goes wrong: IKEv1 main mode then quick mode, both ending in 13897."),
    ("mm-peer-stops-responding", "Now the gateway stops answering once main mode is up. Watch the retransmissions."),
    ("ikev2-cp-required-missing", "IKEv2: the gateway wants a configuration payload the client did not send."),
    ("nap-reauth-kills-dummy-tunnel", "NAP: a restricted tunnel first, then the full one after remediation."),
]


def _banner(text: str) -> None:
    print("\n" + "=" * 100)
    print(text)
    print("=" * 100 + "\n", flush=True)


def main(args: list[str]) -> int:
    """Run one ``ikesim`` command as a user would (a process of its own; nothing imports the CLI)."""
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], check=False).returncode


def tour() -> int:
    """Run a few library scenarios as timelines, then explain the dead-peer code."""
    for name, why in TOUR:
        _banner(f"ikesim run {name}\n{why}")
        status = main(["run", name])
        if status:
            return status
    _banner("ikesim explain 13886\nAnd what the code of a dead peer means:")
    status = main(["explain", "13886"])
    print("\nMore: `ikesim list` shows all the scenarios; `ikesim run NAME --format mermaid` draws one.")
    return status


if __name__ == "__main__":
    raise SystemExit(tour())
