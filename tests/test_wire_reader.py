"""One wire layer: what the captures write, the reader the live responder uses reads back, damage included."""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP

from sim.library import scenarios
from sim.outputs.pcap import captures
from sim.scenario import load_scenario
from sim.simulator.engine import Simulation
from sim.trace import Recv
from sim.wire import reader

LIBRARY = [s.name for s in scenarios()]


def _damage(trace) -> dict[tuple[str, str, float], str]:
    """(receiving peer, message, arrival time) -> the damaged part, for every damaged arrival."""
    return {(e.peer, e.message, e.t): e.corrupted for e in trace.events if isinstance(e, Recv) and e.corrupted}


def _arrivals(trace, peer: str) -> list[tuple[str, float, str]]:
    """What the peer's capture holds, in order: ("sent" | "received", time, message)."""
    from test_fixtures import _seen

    return _seen(trace, peer)


@pytest.mark.parametrize("name", LIBRARY)
def test_every_captured_message_reads_back_and_damage_is_named(name):
    trace = Simulation(load_scenario(name)).run()
    damage = _damage(trace)
    facts = trace.peer_facts
    for peer, frames in captures(trace).items():
        if facts[peer].protocol == "authip":
            continue  # AuthIP's Crypto payload and exchange types are not ISAKMP's
        read = reader.read_ikev2 if facts[peer].protocol == "ikev2" else reader.read_isakmp
        for frame, (way, t, message) in zip(frames, _arrivals(trace, peer), strict=True):
            data = bytes(frame[UDP].payload)
            if frame[UDP].dport == 4500:  # RFC 3948 2.2: the non-ESP marker before the IKE header
                assert data[:4] == bytes(4)
                data = data[4:]
            part = damage.get((peer, message, t)) if way == "received" else None
            clear = not (data[19] & reader.FLAG_ENCRYPTION) if data[17] >> 4 == 1 else data[16] != 46
            if part == "header" or (part == "payload" and clear):
                with pytest.raises(reader.WireError) as error:
                    read(data)
                assert error.value.part == part, (name, peer, message, t)
                continue
            datagram = read(data)  # a clean message, or damage only the SA's state can notice
            assert datagram.spi_i == data[:8] and datagram.message_id == int.from_bytes(data[20:24], "big")
            if clear and data[17] >> 4 == 1:
                assert datagram.payloads, (name, peer, message)


def test_the_reader_refuses_what_the_writer_never_writes():
    from sim.wire import payloads as p

    good = p.message(b"\x01" * 8, bytes(8), 0x10, 2, 0, 0, [(p.V1_NONCE, b"\x00" * 16)])
    assert reader.read_isakmp(good).first(p.V1_NONCE) == b"\x00" * 16
    for damaged, part in [
        (good[:20], "header"),
        (good[:17] + b"\x20" + good[18:], "version"),
        (bytes(8) + good[8:], "cookie"),
        (good[:19] + b"\x80" + good[20:], "header"),
        (good + b"\x00", "header"),  # the length field no longer matches
        (good[:29] + b"\x01" + good[30:], "payload"),  # the generic header's reserved byte
    ]:
        with pytest.raises(reader.WireError) as error:
            reader.read_isakmp(damaged)
        assert error.value.part == part
