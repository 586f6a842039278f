"""``ikesim serve`` as the responder of a case: started in the responder's namespace, its trace read back.

The case's scenario (``tests/data/interop/CASE.toml``) gives serve its policy and profile, as it
gives them to the simulated responder that :mod:`interop.compare` runs: one file, three
responders (the simulator, serve on the wire, and what the recording shows). Serve prints one
``ikesim.trace/1`` JSON line per event; the recording keeps its outcome lines, and its sends (the
notifies inside encrypted messages, which no capture can read) and its give-ups and established
SAs as the responder's events.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from interop import net

IKESIM = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "ikesim"


def trace_path(run: Path) -> Path:
    """Where serve's stdout (trace lines) and stderr go."""
    return run / "ikesim-serve.jsonl"


def start(procs: net.Processes, scenario: Path, run: Path, ikesim: Path = IKESIM) -> None:
    """Start ``ikesim serve --scenario`` on the responder's address, ports 500 and 4500; wait until it listens."""
    out = trace_path(run)
    argv = [str(ikesim), "serve", "--scenario", str(scenario), "--listen", f"{net.ADDR_B}:500"]
    procs.start("ikesim-serve", net.NS_B, argv, out)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if out.exists() and "listening on" in out.read_text(errors="replace"):
            return
        if not procs.alive("ikesim-serve"):
            break
        time.sleep(0.05)
    raise RuntimeError(f"ikesim serve did not start: {out.read_text(errors='replace')[-2000:]}")


def trace_lines(run: Path) -> list[dict[str, Any]]:
    """Serve's trace records (the JSON lines of its output)."""
    path = trace_path(run)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def outcomes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Serve's outcome lines, reduced to what a case compares: SA, code and name, reason, time."""
    keep = ("t", "sa", "parent", "exchange", "ends", "code", "name", "state", "reason")
    return [{k: r[k] for k in keep if k in r} for r in records if r["kind"] == "outcome"]


def events(records: list[dict[str, Any]], first_reply_ms: float | None) -> list[dict[str, Any]]:
    """The responder's events in the recording's terms: ``established`` and ``give_up``, times in ms.

    Serve's times are seconds since it started, the recording's milliseconds since its first
    datagram: serve's first send is lined up with the first responder datagram of the capture
    (``first_reply_ms``; it leaves within a fraction of a millisecond).
    """
    first = next((r["t"] for r in records if r["kind"] == "send"), None)
    if first is None or first_reply_ms is None:
        return []
    out = []
    for r in records:
        t_ms = round((r["t"] - first) * 1000 + first_reply_ms, 1)
        if r["kind"] == "timer" and r.get("timer") == "give_up":
            out.append({"t_ms": t_ms, "side": "responder", "event": "give_up", "log": json.dumps(r)})
        elif (
            r["kind"] == "outcome"
            and r.get("parent") is None
            and r.get("ends") == "negotiation"
            and str(r.get("name", "")).endswith("NEG_STATUS_END")
        ):
            out.append({"t_ms": t_ms, "side": "responder", "event": "established", "log": json.dumps(r)})
    return out


def sent_notifies(records: list[dict[str, Any]]) -> list[list[str]]:
    """The error notifies of each message serve sent for the first time, in order (from the sends' details)."""
    import re

    return [re.findall(r"N\(([\w-]+)", r.get("detail") or "") for r in records if r["kind"] == "send"]
