"""A silent IKE peer: UDP sockets on ports 500 and 4500 that read every datagram and never answer.

Run inside a namespace: ``python -m interop.silent ADDRESS``; stops on SIGTERM.
"""

from __future__ import annotations

import select
import signal
import socket
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Read and discard until SIGTERM."""
    address = (argv if argv is not None else sys.argv[1:])[0]
    socks = []
    for port in (500, 4500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, port))
        socks.append(s)
    running = True

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        try:
            ready, _, _ = select.select(socks, [], [], 0.2)
        except InterruptedError:
            continue
        for s in ready:
            s.recv(65535)
    return 0


if __name__ == "__main__":
    sys.exit(main())
