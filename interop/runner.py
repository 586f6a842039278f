"""Play the case matrix against real daemons, write the recordings, compare them with ikesim."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from interop import libreswan, net, serve
from interop.cases import CASES, PLUTO_TIMERS, TIMERS, Case
from interop.compare import Difference, compare, simulate
from interop.expected import EXPECTED_DIFFERENCES
from interop.libreswan import Pluto
from interop.reduce import log_events, pluto_log_events, reduce_messages
from interop.strongswan import CHARON, SWANCTL, Charon

FORMAT = "ikesim.interop/1"
PYTHON = os.environ.get("INTEROP_PYTHON") or str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python")


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the cases (empty: all there)."""
    missing = [] if os.geteuid() == 0 else ["root (network namespaces)"]
    for tool in ("ip", "tcpdump", "tshark", "unshare"):
        if shutil.which(tool) is None:
            missing.append(tool)
    missing += [path for path in (CHARON, SWANCTL) if not Path(path).exists()]
    return missing


def _wait_for(path: Path, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{path.name}: no {text!r} after {timeout} s")


def _version(log: Path) -> str | None:
    if not log.exists():
        return None
    m = re.search(r"Starting IKE charon daemon \((strongSwan [^,]+)", log.read_text(errors="replace"))
    return m.group(1) if m else None


def _pluto_version(log: Path) -> str | None:
    if not log.exists():
        return None
    m = re.search(r"Starting Pluto \(Libreswan Version (\S+)", log.read_text(errors="replace"))
    return f"libreswan {m.group(1)}" if m else None


def charons(case: Case) -> tuple[Charon, Charon]:
    """The initiator's and the responder's charon of a case."""
    common: dict[str, Any] = {"version": case.version, **{k: v for k, v in TIMERS.items()}}
    remote_id = net.ADDR_B if case.responder == "ikesim" else "b@test"  # serve identifies itself by its address
    a = Charon("A", local=net.ADDR_A, remote=net.ADDR_B, local_id="a@test", remote_id=remote_id,
               psk=case.initiator_psk, proposals=case.initiator_proposals, vips=case.vips, **common)  # fmt: skip
    b = Charon("B", local=net.ADDR_B, remote=net.ADDR_A, local_id="b@test", remote_id="a@test",
               psk=case.responder_psk, proposals=case.responder_proposals, local_ts="10.2.0.0/24",
               remote_ts="10.1.0.0/24", **common)  # fmt: skip
    return a, b


def plutos(case: Case) -> tuple[Pluto, Pluto]:
    """The initiator's and the responder's pluto of a case (the same connection as the charons')."""
    common: dict[str, Any] = {"version": case.version, **PLUTO_TIMERS}
    a = Pluto("A", local=net.ADDR_A, remote=net.ADDR_B, local_id="a@test", remote_id="b@test",
              psk=case.initiator_psk, proposals=case.initiator_proposals, **common)  # fmt: skip
    b = Pluto("B", local=net.ADDR_B, remote=net.ADDR_A, local_id="b@test", remote_id="a@test",
              psk=case.responder_psk, proposals=case.responder_proposals, local_ts="10.2.0.0/24",
              remote_ts="10.1.0.0/24", **common)  # fmt: skip
    return a, b


Daemon = Charon | Pluto


def daemons(case: Case) -> tuple[Daemon, Daemon | None]:
    """The initiator's daemon and the responder's (None: the silent peer) of a case."""
    ca, cb = charons(case)
    pa, pb = plutos(case)
    a: Daemon = pa if case.initiator == "pluto" else ca
    b: Daemon | None = cb if case.responder == "charon" else pb if case.responder == "pluto" else None
    return a, b


def uses_pluto(case: Case) -> bool:
    """True when one side of the case is libreswan's pluto."""
    return "pluto" in (case.initiator, case.responder)


def _events(daemon: Daemon, run: Path, side: str, t0: float) -> list[dict[str, Any]]:
    if isinstance(daemon, Pluto):
        return pluto_log_events(daemon.log_path(run), side, t0)
    return log_events(daemon.log_path(run), side, t0)


def _described(daemon: Daemon, run: Path) -> dict[str, Any]:
    log = daemon.log_path(run)
    found = _pluto_version(log) if isinstance(daemon, Pluto) else _version(log)
    return {**daemon.settings(), "version": found}


def initiate_ike(charon: Charon, procs: net.Processes, run: Path) -> None:
    """Start the negotiation of charon's IKE SA ``c`` alone (no CHILD_SA), without waiting for it."""
    procs.start(
        f"swanctl-{charon.side}",
        net.NS_A if charon.side == "A" else net.NS_B,
        [SWANCTL, "--initiate", "--ike", "c", "--timeout", "120", "--uri", charon.uri(run)],
        run / f"swanctl-initiate-{charon.side}.out",
        env={"STRONGSWAN_CONF": str(run / f"strongswan-{charon.side}.conf")},
    )


def play(case: Case, run: Path) -> dict[str, Any]:
    """Run one case in the namespaces (already set up) and return its recording."""
    procs = net.Processes()
    a, b = daemons(case)
    try:
        relay_log = run / "relay.log"
        procs.start("relay", net.NS_M, [PYTHON, "-m", "interop.relay", net.IF_MA, net.IF_MB, "--log", str(relay_log),
                                        *case.relay], run / "relay.out")  # fmt: skip
        _wait_for(relay_log, "ready")
        for side, ns, dev in (("a", net.NS_A, net.IF_A), ("b", net.NS_B, net.IF_B)):
            argv = ["tcpdump", "-i", dev, "-U", "-n", "-w", str(run / f"{side}.pcap"), "udp port 500 or udp port 4500"]
            procs.start(f"tcpdump-{side}", ns, argv, run / f"tcpdump-{side}.out")
        for side in ("a", "b"):
            _wait_for(run / f"tcpdump-{side}.out", "listening on")
        if case.responder == "ikesim":
            serve.start(procs, case.scenario, run)
        elif b is None:
            procs.start("silent", net.NS_B, [PYTHON, "-m", "interop.silent", net.ADDR_B], run / "silent.out")
        else:
            b.start(procs, net.NS_B, run)
        a.start(procs, net.NS_A, run)
        time.sleep(0.3)
        if case.ike_only and isinstance(a, Charon):
            initiate_ike(a, procs, run)
        else:
            a.initiate(procs, run)
        time.sleep(case.duration)
        time.sleep(0.2)
        procs.stop("tcpdump-a")
        procs.stop("tcpdump-b")
    finally:
        procs.stop()
    logs: dict[str, Path | None] = {  # charon logs the payloads of what it sends; pluto does not
        "i->r": a.log_path(run) if isinstance(a, Charon) else None,
        "r->i": b.log_path(run) if isinstance(b, Charon) else None,
    }
    t0, messages = reduce_messages(run / "a.pcap", run / "b.pcap", net.ADDR_A, net.ADDR_B, relay_log, logs)
    events: list[dict[str, Any]] = []
    records = serve.trace_lines(run) if case.responder == "ikesim" else []
    if t0 is not None:
        events += _events(a, run, "initiator", t0)
        if b is not None:
            events += _events(b, run, "responder", t0)
        events += serve.events(records, next((m["t_ms"] for m in messages if m["dir"] == "r->i"), None))
    if records:  # the notifies serve put in what it sent (encrypted ones no capture can read)
        sends = iter(serve.sent_notifies(records))
        for m in messages:
            if m["dir"] == "r->i" and not m["retransmit"]:
                said = next(sends, [])
                if said and not m["notifies"]:
                    m["notifies"] = said
    events.sort(key=lambda e: (e["t_ms"], e["side"]))
    initiator = _described(a, run)
    if b is not None:
        responder = _described(b, run)
    elif case.responder == "ikesim":
        responder = {"daemon": "ikesim serve", "scenario": case.scenario.name, "outcomes": serve.outcomes(records)}
    else:
        responder = {"daemon": "silent", "what": "UDP sockets on ports 500 and 4500 that never answer"}
    return {
        "format": FORMAT,
        "case": case.name,
        "summary": case.summary,
        "scenario": case.scenario.name,
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "daemons": {"initiator": initiator, "responder": responder},
        "relay": list(case.relay),
        "t0_unix": t0,
        "messages": messages,
        "events": events,
    }


def check(case: Case, recording: dict[str, Any]) -> tuple[list[Difference], list[str], list[str]]:
    """(all differences, unexpected ones, expected ones that no longer occur) of one case."""
    diffs = compare(recording, simulate(case.scenario))
    expected = EXPECTED_DIFFERENCES.get(case.name, {})
    keys = {d.key for d in diffs}
    unexpected = [str(d) for d in diffs if d.key not in expected]
    gone = [f"{k}: listed as expected ({expected[k]}) but no longer occurs" for k in expected if k not in keys]
    return diffs, unexpected, gone


def summary(recording: dict[str, Any]) -> str:
    """One line per message and event of a recording."""
    lines = []
    for m in recording["messages"]:
        notes = " ".join(f"N({n})" for n in m["notifies"] if not n.startswith(("NAT_", "INITIAL", "NOTIFY_1")))
        again = " (again)" if m["retransmit"] else ""
        lost = "" if m["delivery"] == "delivered" else f" [{m['delivery']}]"
        lines.append(f"  {m['t_ms']:9.1f} ms  {m['dir']}  {m['message']}{again} {notes}{lost}".rstrip())
    for e in recording["events"]:
        shown = ("established", "child_established", "virtual_ip", "no_child", "give_up", "half_open_deleted",
                 "notify_error")  # fmt: skip
        if e["event"] in shown:
            lines.append(f"  {e['t_ms']:9.1f} ms  {e['side']}: {e['log'] if e['side'] == 'initiator' else e['event']}")
    for o in recording["daemons"]["responder"].get("outcomes", []):
        parent = f" under {o['parent']}" if o.get("parent") else ""
        ends = f"ends its {o['ends']} at {o['t']:.3f} s"
        lines.append(f"  ikesim serve: {o['sa']}{parent} {ends}: {o['code']} {o['name']}")
    return "\n".join(lines)


def main(names: list[str], keep: bool = False) -> int:
    """Record the cases (all when ``names`` is empty) and compare them; 0 when all agree as expected."""
    missing = missing_prerequisites()
    if missing:
        print(f"interop: skipped, this machine lacks: {', '.join(missing)}")
        return 0
    cases = [c for c in CASES if not names or c.name in names]
    no_pluto = libreswan.missing() if any(uses_pluto(c) for c in cases) else None
    started = time.monotonic()
    failures: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="ikesim-interop-"))
    try:
        net.setup()
        for case in cases:
            if case.skip:
                print(f"== {case.name}: skipped: {case.skip}")
                continue
            if no_pluto and uses_pluto(case):
                print(f"== {case.name}: skipped (recording kept): {no_pluto}")
                continue
            run = base / case.name
            run.mkdir()
            t = time.monotonic()
            recording = play(case, run)
            case.recording.write_text(json.dumps(recording, indent=1) + "\n")
            diffs, unexpected, gone = check(case, recording)
            verdict = "agrees" if not diffs else f"{len(diffs)} difference(s)"
            print(f"== {case.name} ({time.monotonic() - t:.1f} s): {case.summary}; ikesim {verdict}")
            print(summary(recording))
            for d in diffs:
                tag = "UNEXPECTED" if str(d) in unexpected else "expected"
                print(f"  {tag} {d}")
            failures += [f"{case.name}: {x}" for x in unexpected + gone]
    finally:
        net.teardown()
        if keep:
            print(f"interop: captures and logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(f"interop: {len(cases)} case(s) in {time.monotonic() - started:.1f} s")
    for f in failures:
        print(f"FAIL {f}")
    return 1 if failures else 0
