"""``make bench``: throughput, cost per transition, memory per SA, and how cost scales.

Figures go to stdout as a table and to ``bench/results.json``; ``docs/performance.md`` says
how to read them. Everything runs on one core, in one process, with the trace recorded.
"""

from __future__ import annotations

import gc
import json
import platform
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import sim
from sim.enums import Role
from sim.protocol.ikev1 import IKEV1
from sim.protocol.policy import Policy
from sim.protocol.registry import COMPILED, TABLES
from sim.protocol.schedule import Schedule
from sim.protocol.session import Endpoint, Message, Session
from sim.protocol.table import fire_reference
from sim.scenario import parse_scenario
from sim.simulator.engine import Simulation

RESULTS = Path(__file__).with_name("results.json")


def scenario(connections: int, interval: float = 0.0, **extra: Any) -> sim.Scenario:
    """One client making ``connections`` main modes (one quick mode each) to one gateway."""
    return parse_scenario(
        {
            "name": f"bench-{connections}",
            "peers": {
                "client": {"role": "initiator", "connections": connections, "interval": interval},
                "gateway": {"role": "responder"},
            },
            "limits": {"max_events": 100_000_000},
            **extra,
        }
    )


def negotiations_per_second(connections: int, interval: float = 0.0) -> dict[str, float]:
    """Complete main + quick mode negotiations per second of CPU, both peers, trace recorded."""
    sc = scenario(connections, interval)
    gc.collect()
    start = time.perf_counter()
    trace = Simulation(sc).run()
    elapsed = time.perf_counter() - start
    done = sum(1 for o in trace.raw_outcomes if o.peer == "client" and o.exchange.endswith("quick_mode"))
    assert done == connections, (done, connections)
    return {
        "connections": connections,
        "seconds": round(elapsed, 3),
        "negotiations_per_s": round(connections / elapsed),
        "us_per_negotiation": round(elapsed / connections * 1e6, 1),
        "trace_events": trace.raw.event_count(),
    }


def protocol_per_second(kind: str, connections: int) -> dict[str, float]:
    """IKEv2 negotiations with a configuration payload, or NAP reauthentications, per second of CPU."""
    v2 = {"protocol": "ikev2", "profile": "windows-ikev2"}
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
            "limits": {"max_events": 100_000_000},
        }
    )
    gc.collect()
    start = time.perf_counter()
    trace = Simulation(sc).run()
    elapsed = time.perf_counter() - start
    wanted = 13897 if kind == "ikev2-cp" else 13898
    done = sum(1 for o in trace.raw_outcomes if o.peer == "client" and o.code == wanted and o.sa.startswith(
        "CHILD" if kind == "ikev2-cp" else "IKE"))  # fmt: skip
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
    """Whole ``sim.run`` calls of the two-peer scenario per second (set-up included)."""
    sc = scenario(1)
    start = time.perf_counter()
    for _ in range(runs):
        sim.run(sc)
    elapsed = time.perf_counter() - start
    return {"runs": runs, "runs_per_s": round(runs / elapsed)}


HAPPY_PATH = [
    ("start", None),
    ("recv_MM2", "MM2"),
    ("recv_MM4", "MM4"),
    ("recv_MM6", "MM6"),
]


def per_transition(rounds: int = 20000) -> dict[str, float]:
    """Microseconds per transition: minimal dict table, ikesim's compiled table, `transitions`."""
    policy = Policy()

    class Discard:  # the core's own cost: its effects go nowhere (the simulator's recording is measured below)
        def send(self, *_: Any) -> None: ...
        def transition(self, *_: Any) -> None: ...
        def outcome(self, *_: Any) -> None: ...
        def timer(self, *_: Any) -> None: ...
        def drop(self, *_: Any) -> None: ...
        def timers_changed(self, *_: Any) -> None: ...

    endpoint = Endpoint("client", policy, Schedule((1.0,), 2.0), lambda p: p + "#1", IKEV1, COMPILED, Discard())
    messages = {name: Message(name, "MM#1", "gateway", "client", policy) for _, name in HAPPY_PATH if name}
    table = TABLES["ikev1_main_mode"]

    # The minimal executor of the same table: one dict lookup and a store, no guards, no actions.
    minimal: dict[tuple[str, str], str] = {}
    for r in table.rows:  # the first row of each (state, input) is the one whose guard holds on this path
        for s in r.sources:
            minimal.setdefault((s, r.trigger), r.dest or s)

    class Bare:
        __slots__ = ("state",)

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
        start = time.perf_counter()
        job()
        out[label] = round((time.perf_counter() - start) / n * 1e6, 3)
    return out


def bytes_per_sa(in_flight: int = 100_000) -> dict[str, float | int]:
    """Memory per SA with ``in_flight`` negotiations under way at both peers at once."""
    # Every MM3 is lost, so all negotiations wait mid-way: the client in SSPI_SENT, the gateway in SA_SENT.
    sc = scenario(in_flight, faults=[{"kind": "drop", "message": "MM3", "count": 0}])
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    simulation = Simulation(sc)
    simulation.start()
    while simulation.queue and simulation.queue.peek_time() < 0.5:
        simulation.step()
    total = tracemalloc.get_traced_memory()[0] - base
    trace_only = sys.getsizeof(simulation.raw)  # its fields are shared strings and the event times
    tracemalloc.stop()
    waiting = sum(1 for s in simulation.endpoints["client"].sessions.values() if s.state == "SSPI_SENT")
    assert waiting == in_flight, waiting
    return {
        "sas_in_flight": in_flight,
        "bytes_per_sa": round(total / in_flight),
        "bytes_per_sa_without_trace": round((total - trace_only) / in_flight),
    }


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


def main() -> int:
    """Run every benchmark, print a table, write ``bench/results.json``."""
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": __import__("os").cpu_count(),
    }
    print("ikesim benchmarks (one core, trace recorded)")
    results["transition"] = per_transition()
    print("per transition (us):", results["transition"])
    results["small_runs"] = small_runs_per_second()
    print("whole sim.run of a 2-peer scenario:", results["small_runs"])
    results["paced"] = [negotiations_per_second(n, interval=0.001) for n in (1_000, 10_000, 100_000)]
    for row in results["paced"]:
        print("negotiations started 1 ms apart:", row)
    results["concurrent"] = [negotiations_per_second(n) for n in (1_000, 10_000, 100_000)]
    for row in results["concurrent"]:
        print("negotiations all started at t=0:", row)
    results["protocols"] = [protocol_per_second(k, n) for k in ("ikev2-cp", "nap-reauth") for n in (1_000, 10_000)]
    for row in results["protocols"]:
        print("protocol:", row)
    results["hypothesis"] = hypothesis_runs_per_second()
    print("testing kit:", results["hypothesis"])
    results["live"] = live_datagrams_per_second()
    print("live responder core:", results["live"])
    results["memory"] = bytes_per_sa()
    print("memory:", results["memory"])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
