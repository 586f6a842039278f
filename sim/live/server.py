"""The live responder on a UDP socket, driven by the real clock.

The only place in ikesim that reads a clock: :class:`ResponderProtocol` tells the
:class:`~sim.live.responder.LiveResponder` the time in profile seconds since the server
started (real seconds divided by ``time_scale``) and calls it back when its next deadline comes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO, cast

from sim.live.responder import Address, LiveResponder, Reply


class ResponderProtocol(asyncio.DatagramProtocol):
    """asyncio's side of the responder: datagrams in, datagrams out, one timer for the next deadline."""

    def __init__(self, responder: LiveResponder, time_scale: float = 1.0) -> None:
        self.responder = responder
        self.time_scale = time_scale
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def now(self) -> float:
        """Profile seconds since the server started."""
        return (self.loop.time() - self.started) / self.time_scale

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket to answer on."""
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        """Hand a datagram to the responder and send what it answers."""
        self._send(self.responder.datagram(self.now(), data, (addr[0], addr[1])))
        self._rearm()

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
        if self.transport is not None:
            for data, to in replies:
                self.transport.sendto(data, to)


def line_writer(out: TextIO = sys.stdout, kinds: frozenset[str] | None = None) -> Callable[[dict[str, Any]], None]:
    """A trace-record sink that prints each record as one JSON line, flushed (``kinds``: only those)."""

    def write(event: dict[str, Any]) -> None:
        if kinds is None or event["kind"] in kinds:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            out.flush()

    return write


async def serve(
    responder: LiveResponder,
    host: str,
    port: int,
    time_scale: float = 1.0,
    stop_after: float | None = None,
    ready: Callable[[Address], None] | None = None,
) -> None:
    """Answer on ``host:port`` until cancelled or ``stop_after`` real seconds have passed."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: ResponderProtocol(responder, time_scale), local_addr=(host, port)
    )
    try:
        if ready is not None:
            bound = transport.get_extra_info("sockname")
            ready((bound[0], bound[1]))
        if stop_after is None:
            await asyncio.Event().wait()  # until cancelled (Ctrl-C)
        else:
            await asyncio.sleep(stop_after)
    finally:
        transport.close()
