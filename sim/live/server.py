"""The live responder on its UDP sockets (IKE and NAT-T), driven by the real clock.

The only place in ikesim that reads a clock: :class:`ResponderProtocol` tells the
:class:`~sim.live.responder.LiveResponder` the time in profile seconds since the server
started (real seconds divided by ``time_scale``) and calls it back when its next deadline comes.
Two sockets share one responder: the IKE port (500) and the NAT-T port (4500, RFC 3948), where
IKE messages carry the non-ESP marker; a reply that starts with the marker leaves by the NAT-T
socket, every other by the IKE socket.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any, TextIO, cast

from sim.live.crypto import NON_ESP_MARKER
from sim.live.responder import Address, LiveResponder, Reply
from sim.trace import json_line


class ResponderProtocol(asyncio.DatagramProtocol):
    """asyncio's side of the responder: datagrams in, datagrams out, one timer for the next deadline.

    One instance per socket; ``shared`` is the IKE port's instance, which owns the clock and the
    timer (the NAT-T port's instance hands its datagrams to the same responder).
    """

    def __init__(
        self, responder: LiveResponder, time_scale: float = 1.0, natt: bool = False,
        shared: ResponderProtocol | None = None,
    ) -> None:  # fmt: skip
        self.responder = responder
        self.time_scale = time_scale
        self.natt = natt
        self.shared = shared or self
        self.loop = asyncio.get_running_loop()
        self.started: float = self.loop.time() if shared is None else shared.started
        self.transport: asyncio.DatagramTransport | None = None
        self.natt_transport: asyncio.DatagramTransport | None = None  # the IKE port's instance: the other socket
        self.local: Address | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def now(self) -> float:
        """Profile seconds since the server started."""
        return (self.loop.time() - self.started) / self.time_scale

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket to answer on."""
        self.transport = cast(asyncio.DatagramTransport, transport)
        bound = self.transport.get_extra_info("sockname")
        self.local = (bound[0], bound[1]) if bound else None
        if self.natt and self.shared is not self:
            self.shared.natt_transport = self.transport

    def datagram_received(self, data: bytes, addr: Address) -> None:
        """Hand a datagram to the responder and send what it answers."""
        main = self.shared
        main._send(self.responder.datagram(main.now(), data, (addr[0], addr[1]), self.local, self.natt))
        main._rearm()

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for something sent (a closed port): UDP forgets it, and so does IKE."""

    def _tick(self) -> None:
        self._timer = self._timer_at = None
        self._send(self.responder.tick(self.now()))
        self._rearm()

    def _rearm(self) -> None:
        deadline = self.responder.next_deadline()
        if deadline is None or deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(self.started + deadline * self.time_scale, self._tick)

    def _send(self, replies: list[Reply]) -> None:
        for data, to in replies:
            natt = data[:4] == NON_ESP_MARKER
            transport = self.natt_transport if natt else self.transport
            if transport is not None:
                transport.sendto(data, to)


def line_writer(out: TextIO = sys.stdout, kinds: frozenset[str] | None = None) -> Callable[[dict[str, Any]], None]:
    """A trace-record sink that prints each record as one JSON line, flushed (``kinds``: only those)."""

    def write(event: dict[str, Any]) -> None:
        if kinds is None or event["kind"] in kinds:
            out.write(json_line(event) + "\n")
            out.flush()

    return write


def natt_port(port: int) -> int:
    """The NAT-T port that goes with an IKE port: 4500 with 500 (RFC 3948), else the port plus 4000, 0 with 0."""
    if port == 500:
        return 4500
    return port + 4000 if 0 < port <= 61535 else 0


async def serve(
    responder: LiveResponder,
    host: str,
    port: int,
    time_scale: float = 1.0,
    stop_after: float | None = None,
    ready: Callable[[Address], None] | None = None,
    natt: int | None = None,
    ready_natt: Callable[[Address], None] | None = None,
) -> None:
    """Answer on ``host:port`` and on the NAT-T port ``natt`` (None: :func:`natt_port`; -1: none).

    Runs until cancelled or ``stop_after`` real seconds have passed.
    """
    loop = asyncio.get_running_loop()
    transport, main = await loop.create_datagram_endpoint(
        lambda: ResponderProtocol(responder, time_scale), local_addr=(host, port)
    )
    bound = transport.get_extra_info("sockname")
    responder.local = (bound[0], bound[1])
    natt_transport = None
    try:
        if natt is None:
            natt = natt_port(port)
        if natt >= 0:
            natt_transport, _ = await loop.create_datagram_endpoint(
                lambda: ResponderProtocol(responder, time_scale, True, main), local_addr=(host, natt)
            )
            if ready_natt is not None:
                other = natt_transport.get_extra_info("sockname")
                ready_natt((other[0], other[1]))
        if ready is not None:
            ready((bound[0], bound[1]))
        if stop_after is None:
            await asyncio.Event().wait()  # until cancelled (Ctrl-C)
        else:
            await asyncio.sleep(stop_after)
    finally:
        transport.close()
        if natt_transport is not None:
            natt_transport.close()
