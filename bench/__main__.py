"""``make bench``: what the goals of ``docs/performance.md`` ask, measured on one core, trace recorded.

Figures go to stdout and to ``bench/results.json``; ``docs/performance.md`` says how to read them.

- **fleet**: N initiator peers (instances of scenario peers, 1,000 to a batch, a batch every
  0.1 s) each negotiate IKEv1 main mode and one quick mode with one gateway. The trace is
  recorded and the outcomes are read through the public API (``trace.outcomes``); every
  negotiation must have completed. Each size runs in a fresh process, so that its peak RSS is
  its own. Throughput is per second of the process's CPU time (the machine is shared: wall time
  is reported beside it).
- **memory**: the same fleet at 100,000 under ``tracemalloc``: what stays allocated once the
  run is over and its outcomes read, per established SA (a main-mode or quick-mode SA, counted
  once although both peers hold it) and per peer.
- **engine / bare loop**: the engine against :func:`bare_run`, a loop over dict tables that
  does the same protocol work and writes the same trace, in the same process, interleaved; and
  the bare loop alone at 1,000 and 1,000,000 peers, for how much the least code grows.
- **growth**: the cost a negotiation at 1,000,000 peers against 1,000, in all CPU (the goal), in
  user CPU alone, and the bare loop's; beside it, what this machine's kernel charges for memory
  written for the first time (**fresh memory**), which is most of the difference.
- **give-up**: strongSwan initiators to a gateway that never answers: each resends five times
  and gives up at 165.06 s of virtual time.
- **logon rush**: the library's gateway-fleet scenario with every count and limit times 250
  (3,000 laptops at 8:00): how many tunnels come up, cookies, pool and per-peer refusals.
- and the figures of earlier rounds: one client's paced connections, IKEv2 with CP, NAP, the
  core per transition, whole small runs, the testing kit, the live responder's core.

``python -m bench`` runs everything in about seven and a half minutes, four and a half of them the
1,000,000-peer fleets (``--quick`` leaves them out); ``python -m bench fleet N [--tracemalloc] [--outcomes-only]``
prints one fleet's JSON, ``python -m bench bare N`` the bare loop's, ``python -m bench fresh-memory``
the price of fresh memory.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import math
import mmap
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import sim
from sim.codes import IkeCode
from sim.conditions import Condition
from sim.enums import FailurePoint, Role
from sim.protocol.ikev1 import IKEV1
from sim.protocol.policy import Policy
from sim.protocol.registry import COMPILED, TABLES
from sim.protocol.schedule import Schedule
from sim.protocol.session import Endpoint, EndpointConfiguration, Message, Session, outcome_kind
from sim.protocol.table import Ends, fire_reference
from sim.protocol.words import number
from sim.scenario import Scenario, parse_scenario
from sim.simulator.engine import Simulation
from sim.trace import (
    KIND_NEW_TIME,
    KIND_NUMBER,
    KIND_OUTCOME_OF,
    KIND_RECV_AT,
    KIND_RECV_OF,
    KIND_SAME,
    KIND_SEND_OF,
    KIND_TRANSITION_OF,
    Drop,
    EventLog,
    Trace,
    collector_paused,
)

RESULTS = Path(__file__).with_name("results.json")
BATCH = 1_000  # instances of one scenario peer: they all start at its start time
SPACING = 0.1  # seconds between batches: a batch's negotiations take 45 ms, so batches do not overlap
FLEET_SIZES = (1_000, 100_000, 1_000_000)


def _cpu() -> float:
    return time.process_time()


# --- the fleet: N peers, each one main mode and one quick mode with one gateway ------------------


def fleet_scenario(peers: int, batch: int = BATCH, spacing: float = SPACING, **extra: Any) -> Scenario:
    """``peers`` initiators in batches of ``batch`` instances, one batch every ``spacing`` s, to one gateway."""
    specs: dict[str, Any] = {}
    left, i = peers, 0
    while left > 0:
        size = min(batch, left)
        specs[f"c{i}"] = {"role": "initiator", "instances": size, "start": round(i * spacing, 6), "connect": "gateway"}
        left -= size
        i += 1
    specs["gateway"] = {"role": "responder"}
    return parse_scenario({"name": f"fleet-{peers}", "peers": specs, **extra})


def _completed(outcomes: Iterable[Any]) -> int:
    """Initiators whose quick mode completed, read from the public outcome records."""
    return sum(1 for o in outcomes if o.role == "initiator" and o.exchange == "ikev1_quick_mode" and o.code == 13897)


def _rss_kb() -> int:
    """This process's resident set now, in KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


SHORT_RUN = 10_000  # fleets up to this size are run five times and their median kept: one run is too brief to trust
TINY_RUN = 1_000  # ...and those up to this size fifteen times: a run of 40 ms is at the mercy of a busy host


def _repeats(peers: int) -> int:
    """How many times a fleet of ``peers`` is run in one process, the run of median cost kept (:func:`_median_run`)."""
    return 15 if peers <= TINY_RUN else 5 if peers <= SHORT_RUN else 1


def _per_negotiation(before: resource.struct_rusage, after: resource.struct_rusage, peers: int) -> dict[str, float]:
    """A negotiation's share of the user and the kernel CPU between two readings, and of the page faults.

    Taken from the unrounded times: the growth of the program's own work is the user's, and the
    kernel's is mostly the pages of memory the run writes first (zeroed on a fault).
    """
    return {
        "user_us_per_negotiation": round((after.ru_utime - before.ru_utime) / peers * 1e6, 2),
        "kernel_us_per_negotiation": round((after.ru_stime - before.ru_stime) / peers * 1e6, 2),
        "page_faults_per_negotiation": round((after.ru_minflt - before.ru_minflt) / peers, 2),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median CPU cost (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r["cpu_s"])[len(runs) // 2]


def fleet(peers: int, traced: bool = False, events: bool = True) -> dict[str, Any]:
    """A fleet run: set-up, run, ``trace.outcomes``; CPU and wall seconds, peak RSS; ``traced``: the bytes kept.

    ``events=False``: the run keeps its outcomes alone (``sim.run(..., events=False)``).

    A short fleet is run several times (fifteen up to 1,000 peers, five up to 10,000; the run of median cost is
    kept); peak RSS is the process's.
    """
    warm = Simulation(fleet_scenario(200)).run()  # one-time costs (imports, caches, the catalog) are not the fleet's
    assert _completed(warm.outcomes) == 200
    del warm
    repeat = 1 if traced else _repeats(peers)
    runs = [_fleet_once(peers, traced, events) for _ in range(repeat)]
    out = _median_run(runs)
    out["runs"] = len(runs)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["rss_bytes_per_peer"] = round((out["peak_rss_mb"] - out["rss_before_mb"]) * 2**20 / (peers + 1))
    return out


def _fleet_once(peers: int, traced: bool, events: bool = True) -> dict[str, Any]:
    sc = fleet_scenario(peers)
    gc.collect()
    rss_before = _rss_kb()
    if traced:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if traced else 0
    w0, c0, r0 = time.perf_counter(), _cpu(), resource.getrusage(resource.RUSAGE_SELF)
    simulation = Simulation(sc, events=events)
    c1 = _cpu()
    trace = simulation.run()
    c2 = _cpu()
    rss_run = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB: the trace kept, no record made yet
    kept_run = tracemalloc.get_traced_memory()[0] - base if traced else 0
    outcomes = trace.outcomes
    c3, w3, r3 = _cpu(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    done = _completed(outcomes)
    assert done == peers and trace.truncated is None, (done, peers, trace.truncated)
    sas = 2 * peers  # one main-mode SA and one quick-mode SA per negotiation, each held at both peers
    out: dict[str, Any] = {
        "peers": peers,
        "events_kept": events,
        "negotiations": peers,
        "cpu_s": round(c3 - c0, 3),
        "wall_s": round(w3 - w0, 3),
        "setup_s": round(c1 - c0, 3),
        "run_s": round(c2 - c1, 3),
        "outcomes_s": round(c3 - c2, 3),
        # CPU in the kernel: mostly the pages of memory the run touches first (zeroed on a fault).
        "kernel_s": round(r3.ru_stime - r0.ru_stime, 3),
        **_per_negotiation(r0, r3, peers),
        "negotiations_per_s": round(peers / (c3 - c0)),
        "us_per_negotiation": round((c3 - c0) / peers * 1e6, 1),
        "trace_events": trace.raw.events_seen() if trace.raw is not None else len(trace.events),
        "outcomes": len(outcomes),
        "peak_rss_mb_run": round(rss_run / 1024),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_mb": round(rss_before / 1024),
    }
    if traced:
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        kept -= base
        out |= {
            "traced_kept_mb": round(kept / 2**20, 1),
            "traced_peak_mb": round((peak - base) / 2**20, 1),
            "bytes_per_sa": round(kept / sas),  # the trace kept, once its outcomes are read
            "bytes_per_sa_run": round(kept_run / sas),  # the trace kept, no record made
            "bytes_per_peer": round(kept / (peers + 1)),
            "bytes_per_negotiation": round(kept / peers),
        }
    del trace, outcomes, simulation
    return out


def in_subprocess(*args: str) -> dict[str, Any]:
    """``python -m bench *args`` in a fresh interpreter (its memory and peak RSS its own): the JSON it prints last."""
    done = subprocess.run([sys.executable, "-m", "bench", *args], check=True, capture_output=True, text=True,
                          cwd=Path(__file__).parents[1])  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fleet_in_subprocess(peers: int, traced: bool = False, events: bool = True) -> dict[str, Any]:
    """:func:`fleet` in a fresh interpreter, so that peak RSS is this run's alone."""
    return in_subprocess("fleet", str(peers), *(["--tracemalloc"] if traced else []),
                         *([] if events else ["--outcomes-only"]))  # fmt: skip


FLEET_PROCESSES = 3  # a fleet of the goals is run in this many fresh interpreters, and the median kept


def fleet_medians(sizes: Iterable[int]) -> list[dict[str, Any]]:
    """:func:`fleet_in_subprocess` ``FLEET_PROCESSES`` times for each size, in rounds: each size's run of median cost.

    At a million peers a busy host moves one run's cost by 5 to 10% (47 to 54 us measured for one
    code on one day), as much as the goal it is judged against, and it moves a thousand-peer run,
    half a second, by as much (41 to 48 us in consecutive processes): each round runs every size
    once, so that the small fleets sample the host over the time the big ones take, not in one
    burst before them. Each run has a fresh process, so none reuses the memory of another.
    """
    sizes = list(sizes)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    for _ in range(FLEET_PROCESSES):
        for n in sizes:
            runs[n].append(fleet_in_subprocess(n))
    out = []
    for n in sizes:
        rows = runs[n]
        row = _median_run(rows)
        row["processes"] = len(rows)
        row["us_per_negotiation_each"] = [r["us_per_negotiation"] for r in rows]
        row["kernel_us_per_negotiation_each"] = [r["kernel_us_per_negotiation"] for r in rows]  # the host's part
        out.append(row)
    return out


# --- the bare loop: the same protocol work and the same trace, with dict tables -------------------

# (table, state, trigger) -> (next state, message to send, reports success, establishes, disarms)
_MM, _QM = "ikev1_main_mode", "ikev1_quick_mode"
BARE_TABLE: dict[tuple[str, str, str], tuple[str, str | None, bool]] = {
    (_MM, "NONE", "start"): ("SA_SENT", "MM1", False),
    (_MM, "NONE", "recv_MM1"): ("SA_SENT", "MM2", False),
    (_MM, "SA_SENT", "recv_MM2"): ("SSPI_SENT", "MM3", False),
    (_MM, "SA_SENT", "recv_MM3"): ("SSPI_SENT", "MM4", False),
    (_MM, "SSPI_SENT", "recv_MM4"): ("FINAL", "MM5", False),
    (_MM, "SSPI_SENT", "recv_MM5"): ("COMPLETE", "MM6", True),
    (_MM, "FINAL", "recv_MM6"): ("COMPLETE", None, True),
    (_QM, "NONE", "start"): ("INITIAL", "QM1", False),
    (_QM, "NONE", "recv_QM1"): ("FINAL", "QM2", False),
    (_QM, "INITIAL", "recv_QM2"): ("COMPLETE", "QM3", True),
    (_QM, "FINAL", "recv_QM3"): ("COMPLETE", None, True),
}
_COMPLETE_STATE = {_MM: "IKEEXT_MM_SA_STATE_COMPLETE", _QM: "IKEEXT_QM_SA_STATE_COMPLETE"}
_FIRST = {"MM1": _MM, "QM1": _QM}
_LAST = frozenset({"MM6", "QM3"})  # a reply that ends a negotiation: nothing to resend it for


class BarePeer:
    """A peer of the bare loop: its name (what a trace reads of an endpoint)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class BareSA:
    """One SA at one peer: its table, state, retransmission deadline and lifetime.

    It has what the trace reads of a session (``endpoint.name``, ``label``, ``peer``, ``parent``),
    so the bare loop writes the same short forms as the engine.
    """

    __slots__ = ("deadline", "endpoint", "expires", "label", "parent", "peer", "role", "state", "table")

    def __init__(self, endpoint: BarePeer, table: str, label: str, role: Role, peer: str,
                 parent: BareSA | None) -> None:  # fmt: skip
        self.endpoint, self.table, self.label, self.role, self.peer, self.parent = (
            endpoint, table, label, role, peer, parent
        )  # fmt: skip
        self.state = "NONE"
        self.deadline = self.expires = float("inf")


def bare_run(scenario: Scenario) -> Trace:
    """IKEv1 main mode and one quick mode for every initiator of ``scenario``, as a plain loop over dict tables.

    It does what the engine does on this path: a heap of arrivals, a table lookup per input, the
    proposal and key checks, retransmission deadlines armed and disarmed, lifetimes set, labels
    given, and the same trace records in the same trace, written the way the engine writes them
    (the log's short forms). It does nothing else: no faults, no profiles, no timers that fire
    (none is due on this path). The trace it returns is byte for byte the engine's (checked
    before they are timed).
    """
    latency = scenario.network.latency
    raw = EventLog()
    times, kinds, refs = raw.times.append, raw.kinds.append, raw.refs.append
    last = math.nan  # the log's last time (every record of a step is at the step's time)
    last_ref: BareSA | None = None  # the SA the last record named: the next one of it keeps no reference (KIND_SAME)

    parents: dict[str, str] = {}
    policies = {name: spec.policy for base, spec in scenario.peers.items() for name in scenario.instances_of(base)}
    peers = {name: BarePeer(name) for name in policies}
    sessions: dict[str, dict[str, BareSA]] = {name: {} for name in policies}
    counters = {"MM": 0, "QM": 0}
    heap: list[tuple[float, int, tuple[Any, ...]]] = []
    seq = 0
    for base, spec in scenario.peers.items():
        if spec.role == "initiator":
            for name in scenario.instances_of(base):
                seq += 1
                heap.append((spec.start, seq, ("start", name, spec.connect or "gateway")))
    heapq.heapify(heap)
    # What the events name beside their SA, numbered (sim.protocol.words), as the engine's compiled tables have them.
    # (in the bits of an event's kind above KIND_NUMBER).
    moves = {key: number((key[1], dest, key[2], key[0])) << KIND_NUMBER for key, (dest, _, _) in BARE_TABLE.items()}
    named = {message: number(message) << KIND_NUMBER for _, message, _ in BARE_TABLE.values() if message is not None}
    named.update((name, number(name) << KIND_NUMBER) for name in _FIRST)
    kinds_of = {
        (table, role): outcome_kind(
            role,
            table,
            Condition.COMPLETE,
            IkeCode.NEG_STATUS_END,
            FailurePoint.NONE,
            _COMPLETE_STATE[table],
            Ends.NEGOTIATION,
        )
        for table in (_MM, _QM)
        for role in Role
    }
    inf = float("inf")

    def start(now: float, me: str, table: str, peer: str, parent: BareSA | None, new: int) -> None:
        nonlocal seq, last_ref
        prefix = "MM" if table == _MM else "QM"
        counters[prefix] += 1
        label = f"{prefix}#{counters[prefix]}"
        sa = sessions[me][label] = BareSA(peers[me], table, label, Role.INITIATOR, peer, parent)
        if parent is not None:
            parents[label] = parent.label
        key = (table, "NONE", "start")
        dest, message, _ = BARE_TABLE[key]
        assert message is not None  # a start always sends
        kinds(KIND_TRANSITION_OF | new | moves[key])  # a new SA: its first record keeps its reference
        refs(sa)
        sa.state = dest
        kinds(KIND_SEND_OF | KIND_SAME | named[message])
        last_ref = sa
        seq += 1
        heapq.heappush(heap, (now + latency, seq, ("msg", message, sa)))
        sa.deadline = now + 1.0

    now = 0.0
    while heap:
        now, _, event = heapq.heappop(heap)
        if now != last:  # the step's first record begins a run of records at a new time
            times(now)
            last = now
            new = KIND_NEW_TIME
        else:
            new = 0
        if event[0] == "start":
            start(now, event[1], _MM, event[2], None, new)
            continue
        _, name, origin = event
        me, label, sender = origin.peer, origin.label, origin.endpoint.name
        mine = sessions[me]
        sa = mine.get(label)
        if sa is None:  # a first message: its record names the SA that sent it (KIND_RECV_OF)
            if origin is last_ref:
                kinds(KIND_RECV_OF | new | named[name] | KIND_SAME)
            else:
                kinds(KIND_RECV_OF | new | named[name])
                refs(origin)
            parent = sessions[me][origin.parent.label] if origin.parent is not None else None
            sa = mine[label] = BareSA(peers[me], _FIRST[name], label, Role.RESPONDER, sender, parent)
            refs(sa)
            move = KIND_TRANSITION_OF
        else:  # the SA that takes it (KIND_RECV_AT), and the move it makes: one reference
            if sa is last_ref:
                kinds(KIND_RECV_AT | new | named[name] | KIND_SAME)
            else:
                kinds(KIND_RECV_AT | new | named[name])
                refs(sa)
            move = KIND_TRANSITION_OF | KIND_SAME
        last_ref = sa
        key = (sa.table, sa.state, "recv_" + name)
        dest, message, reports = BARE_TABLE[key]
        policy, theirs = policies[me], policies[sender]
        if name == "MM1":  # the responder's proposal choice
            assert theirs.auth == policy.auth and theirs.proposals[0] in policy.proposals
        elif name in ("MM5", "MM6"):  # the pre-shared key proves the peer
            assert theirs.psk == policy.psk
        kinds(move | moves[key])
        sa.state = dest
        if message is not None:
            kinds(KIND_SEND_OF | KIND_SAME | named[message])
            seq += 1
            heapq.heappush(heap, (now + latency, seq, ("msg", message, sa)))
            sa.deadline = inf if message in _LAST else now + 1.0
        else:
            sa.deadline = inf
        if reports:
            raw.outcome_at.append(len(raw.kinds))
            raw.outcome_ref.append(len(raw.refs) - 1)
            raw.outcome_t.append(now)
            kinds(KIND_OUTCOME_OF | KIND_SAME | kinds_of[(sa.table, sa.role)].number << KIND_NUMBER)
            sa.expires = now + (policy.mm_lifetime if sa.table == _MM else policy.qm_lifetime)
            if sa.table == _MM and sa.role is Role.INITIATOR:
                start(now, me, _QM, sender, sa, 0)

    raw.last, raw.last_ref = last, last_ref

    def states() -> dict[tuple[str, str], str]:
        return {(me, label): sa.state for me, mine in sessions.items() for label, sa in mine.items()}

    return Trace(scenario.name, scenario.seed, scenario.peer_facts(), description=scenario.description,
                 end=raw.last_time(), raw=raw, parents=parents, final_states=states, source=scenario)  # fmt: skip


def engine_against_bare(peers: int = 100_000, rounds: int = 2) -> dict[str, Any]:
    """CPU seconds of the engine and of :func:`bare_run` on the same fleet, interleaved, best of ``rounds``."""
    check = fleet_scenario(2 * BATCH + 7)
    assert bare_run(check).to_jsonl() == Simulation(check).run().to_jsonl(), "the bare loop's trace differs"
    sc = fleet_scenario(peers)
    best = {"engine": float("inf"), "bare": float("inf")}
    jobs: dict[str, Callable[[], Trace]] = {"bare": lambda: bare_run(sc), "engine": lambda: Simulation(sc).run()}
    for _ in range(rounds):
        for label, job in jobs.items():
            gc.collect()
            with collector_paused():  # as the engine's run has it
                start = _cpu()
                trace = job()
                elapsed = _cpu() - start
            assert _completed(trace.outcomes) == peers
            best[label] = min(best[label], elapsed)
            del trace
    return {
        "peers": peers,
        "engine_s": round(best["engine"], 3),
        "bare_s": round(best["bare"], 3),
        "engine_over_bare": round(best["engine"] / best["bare"], 2),
        "bare_us_per_negotiation": round(best["bare"] / peers * 1e6, 1),
    }


def bare_fleet(peers: int) -> dict[str, Any]:
    """:func:`bare_run` on a fleet, its outcomes read: CPU a negotiation, in user and kernel time, and page faults.

    What the least code that does the work pays as the run grows, beside the engine's :func:`fleet`
    (a short fleet is run as often as :func:`fleet` runs it, and the run of median cost kept).
    """
    assert _completed(bare_run(fleet_scenario(200)).outcomes) == 200  # one-time costs are not the fleet's
    runs = []
    for _ in range(_repeats(peers)):
        sc = fleet_scenario(peers)
        gc.collect()
        with collector_paused():  # as the engine's run has it
            c0, r0 = _cpu(), resource.getrusage(resource.RUSAGE_SELF)
            trace = bare_run(sc)
            done = _completed(trace.outcomes)
            c1, r1 = _cpu(), resource.getrusage(resource.RUSAGE_SELF)
        assert done == peers
        runs.append({
            "peers": peers,
            "cpu_s": round(c1 - c0, 3),
            "us_per_negotiation": round((c1 - c0) / peers * 1e6, 1),
            **_per_negotiation(r0, r1, peers),
        })  # fmt: skip
        del trace
    out = _median_run(runs)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def fresh_memory(chunks: int = 4, chunk_mb: int = 512) -> dict[str, Any]:
    """The kernel CPU this machine charges for memory a process writes for the first time, chunk after chunk.

    ``chunks`` anonymous maps of ``chunk_mb`` MiB, each written once a page and all kept to the end,
    as a growing run keeps what it writes: kernel seconds a GiB for each. On a virtual machine that
    hands freed memory back to its host this is far from flat, and it is most of what a
    million-peer fleet pays more than a small one (``docs/performance.md``).
    """
    size, page = chunk_mb << 20, os.sysconf("SC_PAGE_SIZE")
    kept, per_gb = [], []
    for _ in range(chunks):
        region = mmap.mmap(-1, size)
        kept.append(region)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
        for offset in range(0, size, page):
            region[offset] = 1
        per_gb.append(round((resource.getrusage(resource.RUSAGE_SELF).ru_stime - before) * (1024 / chunk_mb), 2))
    for region in kept:
        region.close()
    return {"chunk_mb": chunk_mb, "kernel_s_per_gb": per_gb}


def growth(results: dict[str, Any]) -> dict[str, Any]:
    """How the cost a negotiation grows from 1,000 to 1,000,000 peers, and what of it is the program's own.

    The goal's figure (CPU, user and kernel), the user CPU alone (the kernel's share is the
    fresh memory the run keeps), the bare loop's own growth, and the machine's price of fresh memory.
    """
    by_size = {row["peers"]: row for row in results.get("fleet", [])}
    bare = {row["peers"]: row for row in results.get("bare_fleet", [])}
    out: dict[str, Any] = {}
    for name, rows in (("engine", by_size), ("bare_loop", bare)):
        if 1_000 in rows and 1_000_000 in rows:
            small, big = rows[1_000], rows[1_000_000]
            out[name] = {
                "cpu": round(big["us_per_negotiation"] / small["us_per_negotiation"] - 1, 3),
                "user_cpu": round(big["user_us_per_negotiation"] / small["user_us_per_negotiation"] - 1, 3),
                "kernel_us_per_negotiation_at_1m": big["kernel_us_per_negotiation"],
            }
    if "fresh_memory" in results:
        out["fresh_memory_kernel_s_per_gb"] = results["fresh_memory"]["kernel_s_per_gb"]
    return out


# --- the 165 s give-up ------------------------------------------------------------------------------


def give_up(peers: int = 10_000) -> dict[str, Any]:
    """StrongSwan initiators to a silent gateway: five resends each, then 13813 at 165.06 s of virtual time."""
    sc = parse_scenario(
        {
            "name": "give-up",
            "peers": {
                "client": {"role": "initiator", "profile": "strongswan", "instances": peers},
                "gateway": {"role": "responder", "profile": "strongswan"},
            },
            "faults": [{"kind": "silence", "peer": "gateway", "at": 0.0}],
        }
    )
    gc.collect()
    start = _cpu()
    trace = Simulation(sc).run()
    outcomes = trace.outcomes
    elapsed = _cpu() - start
    ends = {(o.code, o.t) for o in outcomes}
    assert len(outcomes) == peers and ends == {(13813, 165.06)}, ends
    return {
        "peers": peers,
        "virtual_s": 165.06,
        "cpu_s": round(elapsed, 3),
        "give_ups_per_s": round(peers / elapsed),
        "us_per_give_up": round(elapsed / peers * 1e6, 1),
        "trace_events": len(trace.events),
    }


# --- the library's gateway fleet, scaled up ---------------------------------------------------------------

FLEET_SCENARIO = "ikev2-gateway-fleet-logon-rush"


def logon_rush(scale: int = 250) -> dict[str, Any]:
    """The library's gateway fleet with every count and limit times ``scale``, in the same 40 ms: what the rush does."""
    sc = sim.load_scenario(FLEET_SCENARIO)
    peers = {}
    for name, spec in sc.peers.items():
        if spec.role == "initiator":
            # as many more connections in the same few milliseconds: the rush is as sudden, only bigger
            update: dict[str, Any] = {}
            if spec.connections > 1:
                update = {"connections": spec.connections * scale, "interval": spec.interval / scale}
            update |= {"instances": spec.instances * scale} if spec.instances > 1 else {}
            peers[name] = spec.model_copy(update=update)
        else:
            policy = spec.policy
            limits = {k: getattr(policy, k) * scale for k in ("dos_threshold", "max_mm_per_peer", "address_pool")}
            peers[name] = spec.model_copy(update={"policy": replace(policy, **limits)})
    scaled = parse_scenario({**sc.model_dump(by_alias=True, exclude={"peers", "expect"}),
                             "peers": {n: p.model_dump(by_alias=True) for n, p in peers.items()}})  # fmt: skip
    laptops = sum(p.instances * p.connections for p in scaled.peers.values() if p.role == "initiator")
    gc.collect()
    start = _cpu()
    trace = Simulation(scaled).run()
    outcomes = trace.outcomes
    elapsed = _cpu() - start
    mine = [o for o in outcomes if o.role == "initiator" and o.ends == "negotiation"]
    cookies = sum(1 for e in trace.events if isinstance(e, Drop) and e.reason.startswith("13890"))
    return {
        "scale": scale,
        "laptops": laptops,
        "cpu_s": round(elapsed, 3),
        "tunnels_up": sum(1 for o in mine if o.sa.startswith("CHILD") and o.code == 13897),
        "cookies_sent": cookies,
        "no_inner_address_13899": sum(1 for o in mine if o.code == 13899),
        "per_peer_limit_13882": sum(1 for o in mine if o.code == 13882),
        "trace_events": trace.raw.events_seen() if trace.raw is not None else len(trace.events),
    }


# --- figures of earlier rounds -------------------------------------------------------------------------


def scenario(connections: int, interval: float = 0.0, **extra: Any) -> Scenario:
    """One client making ``connections`` main modes (one quick mode each) to one gateway."""
    return parse_scenario(
        {
            "name": f"bench-{connections}",
            "peers": {
                "client": {"role": "initiator", "connections": connections, "interval": interval},
                "gateway": {"role": "responder"},
            },
            **extra,
        }
    )


def negotiations_per_second(connections: int, interval: float = 0.0) -> dict[str, float]:
    """One client's main + quick modes per second of CPU, trace recorded, outcomes read through ``trace.outcomes``."""
    sc = scenario(connections, interval)
    gc.collect()
    start = _cpu()
    trace = Simulation(sc).run()
    outcomes = trace.outcomes
    elapsed = _cpu() - start
    assert _completed(outcomes) == connections
    return {
        "connections": connections,
        "seconds": round(elapsed, 3),
        "negotiations_per_s": round(connections / elapsed),
        "us_per_negotiation": round(elapsed / connections * 1e6, 1),
    }


def protocol_per_second(kind: str, connections: int) -> dict[str, Any]:
    """IKEv2 negotiations with a configuration payload, or NAP reauthentications, per second of CPU."""
    v2 = {"protocol": "ikev2", "profile": "windows-ikev2"}
    client: dict[str, Any]
    gateway: dict[str, Any]
    if kind == "ikev2-cp":
        client = {"policy": {"request_address": True}}
        gateway = {"policy": {"address_pool": connections}}
    else:  # nap-reauth: a dummy tunnel, remediation, reauthentication, the dummy deleted
        client = {"policy": {"nap_health": "remediates", "remediation_time": 30}}
        gateway = {"policy": {"nap": True}}
    sc = parse_scenario(
        {
            "name": kind,
            "peers": {
                "client": {"role": "initiator", **v2, "connections": connections, "interval": 0.001, **client},
                "gateway": {"role": "responder", **v2, **gateway},
            },
        }
    )
    gc.collect()
    start = _cpu()
    trace = Simulation(sc).run()
    outcomes = trace.outcomes
    elapsed = _cpu() - start
    wanted = 13897 if kind == "ikev2-cp" else 13898
    prefix = "CHILD" if kind == "ikev2-cp" else "IKE"
    done = sum(1 for o in outcomes if o.peer == "client" and o.code == wanted and o.sa.startswith(prefix))
    assert done == connections, (kind, done, connections)
    return {"kind": kind, "connections": connections, "per_s": round(connections / elapsed),
            "us_each": round(elapsed / connections * 1e6, 1)}  # fmt: skip


def hypothesis_runs_per_second(examples: int = 1000) -> dict[str, float | int]:
    """Examples per second of the testing kit's runs() strategy inside a Hypothesis test."""
    from hypothesis import HealthCheck, given, settings

    from sim.testing import strategies

    seen = 0

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategies.runs())
    def property_test(trace: Any) -> None:
        nonlocal seen
        seen += 1

    start = time.perf_counter()
    property_test()
    elapsed = time.perf_counter() - start
    return {"examples": seen, "examples_per_s": round(seen / elapsed)}


def small_runs_per_second(runs: int = 2000) -> dict[str, float]:
    """Whole ``sim.run`` calls of the two-peer scenario per second of CPU (set-up included)."""
    sc = scenario(1)
    start = _cpu()
    for _ in range(runs):
        sim.run(sc)
    elapsed = _cpu() - start
    return {"runs": runs, "runs_per_s": round(runs / elapsed)}


HAPPY_PATH = [
    ("start", None),
    ("recv_MM2", "MM2"),
    ("recv_MM4", "MM4"),
    ("recv_MM6", "MM6"),
]


def per_transition(rounds: int = 20000) -> dict[str, float]:
    """Microseconds per transition of the core alone (effects discarded, no trace): dict, compiled, `transitions`."""
    policy = Policy()

    class Discard:  # the core's own cost: its effects go nowhere (the fleet figures include the trace)
        def send(self, *_: Any) -> None: ...
        def transition(self, *_: Any) -> None: ...
        def outcome(self, *_: Any) -> None: ...
        def timer(self, *_: Any) -> None: ...
        def drop(self, *_: Any) -> None: ...
        def timers_changed(self, *_: Any) -> None: ...

    configuration = EndpointConfiguration(policy, Schedule((1.0,), 2.0), lambda p: p + "#1", IKEV1, COMPILED, Discard())
    endpoint = Endpoint("client", configuration)
    messages = {name: Message(name, "MM#1", "gateway", "client", policy) for _, name in HAPPY_PATH if name}
    table = TABLES["ikev1_main_mode"]

    # The minimal executor of the same table: one dict lookup and a store, no guards, no actions.
    minimal: dict[tuple[str, str], str] = {}
    for r in table.rows:  # the first row of each (state, input) is the one whose guard holds on this path
        for s in r.sources:
            minimal.setdefault((s, r.trigger), r.dest or s)

    class Bare:
        __slots__ = ("state",)
        state: str

    def run_minimal() -> None:
        bare = Bare()
        for _ in range(rounds):
            bare.state = "NONE"
            for trigger, _ in HAPPY_PATH:
                bare.state = minimal[(bare.state, trigger)]

    def run_with(fire: Any) -> None:
        for _ in range(rounds):
            session = Session(endpoint, COMPILED["ikev1_main_mode"], "MM#1", Role.INITIATOR, "gateway", None)
            for trigger, name in HAPPY_PATH:
                fire(session, trigger, messages.get(name) if name else None)

    def compiled(session: Session, trigger: str, msg: Message | None) -> None:
        session.fire(trigger, msg)

    def reference(session: Session, trigger: str, msg: Message | None) -> None:
        fire_reference(table, Session, session, trigger, msg)

    n = rounds * len(HAPPY_PATH)
    out = {}
    for label, job in (
        ("minimal_dict_us", run_minimal),
        ("compiled_table_us", lambda: run_with(compiled)),
        ("transitions_us", lambda: run_with(reference)),
    ):
        gc.collect()
        start = _cpu()
        job()
        out[label] = round((_cpu() - start) / n * 1e6, 3)
    return out


def live_datagrams_per_second(count: int = 20_000) -> dict[str, float | int]:
    """The live responder's core: first messages answered per second, and garbage dropped per second."""
    import random
    import struct

    from sim.live.responder import Limits, responder_for
    from sim.wire import payloads as wp
    from sim.wire import reader

    attrs = b"".join(struct.pack("!HH", 0x8000 | kind, value) for kind, value in ((1, 7), (14, 128), (2, 2), (4, 14),
                                                                                     (3, 1)))  # fmt: skip
    offer = reader.Transform(1, 1, {}, bytes((1, 1, 0, 0)) + attrs)
    sa = wp.v1_sa([wp.v1_proposal(offer.proposal_number, 1, b"", [offer.raw])])[1]
    first = [wp.v1_message(i.to_bytes(8, "big"), bytes(8), reader.IDENTITY_PROTECTION, [(wp.V1_SA, sa)])
             for i in range(1, count + 1)]  # fmt: skip
    responder = responder_for("windows", None, lambda event: None, Limits(per_address=count, total=count))
    start = time.perf_counter()
    answered = sum(len(responder.datagram(0.0, data, ("192.0.2.1", 500))) for data in first)
    mm1_elapsed = time.perf_counter() - start
    rng = random.Random(1)
    garbage = [rng.randbytes(rng.randrange(0, 200)) for _ in range(count)]
    start = time.perf_counter()
    for data in garbage:
        responder.datagram(0.0, data, ("192.0.2.2", 500))
    garbage_elapsed = time.perf_counter() - start
    return {"mm1_answered": answered, "mm1_per_s": round(count / mm1_elapsed),
            "garbage_per_s": round(count / garbage_elapsed)}  # fmt: skip


# --- the goals -------------------------------------------------------------------------------------------

GOALS = {
    "negotiations_per_s_at_100k": 20_000,  # at least
    "engine_over_bare": 10.0,  # at most
    "bytes_per_sa": 1024,  # at most, trace kept
    "peak_rss_mb_at_1m": 4096,  # at most, trace kept
    "cost_growth_1k_to_1m": 0.10,  # at most
}


def goals(results: dict[str, Any]) -> dict[str, Any]:
    """Each goal with the figure measured for it, and whether it is met."""
    by_size = {row["peers"]: row for row in results.get("fleet", [])}
    out: dict[str, Any] = {}

    def judge(name: str, figure: float | None, met: Callable[[float], bool]) -> None:
        out[name] = {"goal": GOALS[name], "measured": figure, "met": None if figure is None else met(figure)}

    judge("negotiations_per_s_at_100k", by_size.get(100_000, {}).get("negotiations_per_s"), lambda x: x >= 20_000)
    judge("engine_over_bare", results.get("engine_vs_bare", {}).get("engine_over_bare"), lambda x: x <= 10.0)
    judge("bytes_per_sa", results.get("memory", {}).get("bytes_per_sa"), lambda x: x <= 1024)
    judge("peak_rss_mb_at_1m", by_size.get(1_000_000, {}).get("peak_rss_mb"), lambda x: x <= 4096)
    growth = None
    if 1_000 in by_size and 1_000_000 in by_size:
        growth = round(by_size[1_000_000]["us_per_negotiation"] / by_size[1_000]["us_per_negotiation"] - 1, 3)
    judge("cost_growth_1k_to_1m", growth, lambda x: x <= 0.10)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, print the figures, write ``bench/results.json``."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="leave out the 1,000,000-peer fleet")
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("fleet", help="one fleet run; prints its JSON")
    one.add_argument("peers", type=int)
    one.add_argument("--tracemalloc", action="store_true")
    one.add_argument("--outcomes-only", action="store_true", help="keep the outcomes alone (events=False)")
    bare = sub.add_parser("bare", help="the bare loop on one fleet; prints its JSON")
    bare.add_argument("peers", type=int)
    sub.add_parser("fresh-memory", help="the kernel's price of memory written for the first time; prints its JSON")
    args = parser.parse_args(argv)
    if args.command == "fleet":
        print(json.dumps(fleet(args.peers, traced=args.tracemalloc, events=not args.outcomes_only)))
        return 0
    if args.command == "bare":
        print(json.dumps(bare_fleet(args.peers)))
        return 0
    if args.command == "fresh-memory":
        print(json.dumps(fresh_memory()))
        return 0

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    print("ikesim benchmarks (one core, trace recorded; rates are per second of CPU)")
    # Before the fleets: what the host charges this day for the memory they will write for the first time.
    results["fresh_memory"] = in_subprocess("fresh-memory")
    print("the kernel's price of fresh memory, 512 MiB after 512 MiB (s/GiB):", results["fresh_memory"])
    sizes = FLEET_SIZES if not args.quick else FLEET_SIZES[:-1]
    results["fleet"] = fleet_medians(sizes)
    for row in results["fleet"]:
        print("fleet, N peers, one MM+QM each, outcomes read:", row)
    results["bare_fleet"] = [in_subprocess("bare", str(n)) for n in (sizes[0], sizes[-1])]
    for row in results["bare_fleet"]:
        print("the bare loop, N peers:", row)
    results["growth"] = growth(results)
    print("growth from 1,000 to 1,000,000 peers:", results["growth"])
    results["fleet_outcomes_only"] = [fleet_in_subprocess(n, events=False) for n in sizes[1:]]
    for row in results["fleet_outcomes_only"]:
        print("fleet, outcomes kept alone (events=False):", row)
    results["memory"] = fleet_in_subprocess(100_000, traced=True)
    print("memory, 100,000 peers under tracemalloc:", results["memory"])
    results["engine_vs_bare"] = engine_against_bare()
    print("engine against the bare loop:", results["engine_vs_bare"])
    results["give_up"] = give_up()
    print("strongSwan give-up at 165.06 s:", results["give_up"])
    results["logon_rush"] = logon_rush()
    print(f"the library's {FLEET_SCENARIO}, every count and limit x250:", results["logon_rush"])
    results["paced"] = [negotiations_per_second(n, interval=0.001) for n in (1_000, 100_000)]
    for row in results["paced"]:
        print("one client, connections 1 ms apart:", row)
    results["protocols"] = [protocol_per_second(k, n) for k in ("ikev2-cp", "nap-reauth") for n in (1_000, 10_000)]
    for row in results["protocols"]:
        print("protocol:", row)
    results["transition"] = per_transition()
    print("per transition, the core alone (us):", results["transition"])
    results["small_runs"] = small_runs_per_second()
    print("whole sim.run of a 2-peer scenario:", results["small_runs"])
    results["hypothesis"] = hypothesis_runs_per_second()
    print("testing kit:", results["hypothesis"])
    results["live"] = live_datagrams_per_second()
    print("live responder core:", results["live"])
    results["goals"] = goals(results)
    for name, goal in results["goals"].items():
        verdict = {True: "met", False: "NOT met", None: "not measured"}[goal["met"]]
        print(f"goal {name}: {goal['measured']} against {goal['goal']}: {verdict}")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
