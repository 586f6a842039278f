"""Network namespaces, veth pairs and the processes started in them.

The topology, made once per ``make interop`` run and removed at its end (also on failure)::

    ikesim-ia (initiator)        ikesim-im (relay)              ikesim-ib (responder)
    isia 10.99.0.1/24 ---- isma  [userspace L2 relay]  ismb ---- isib 10.99.0.2/24
    lo   10.1.0.1/32                                             lo   10.2.0.1/32

The middle namespace has no addresses: :mod:`interop.relay` copies every Ethernet frame from one
side to the other (so ARP and IKE pass as on one wire) and, when a case asks, damages or drops
chosen IKE datagrams. Every process started here is remembered by its PID and stopped by it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

NS_A, NS_M, NS_B = "ikesim-ia", "ikesim-im", "ikesim-ib"
NAMESPACES = (NS_A, NS_M, NS_B)
IF_A, IF_MA, IF_MB, IF_B = "isia", "isma", "ismb", "isib"
ADDR_A, ADDR_B = "10.99.0.1", "10.99.0.2"
INNER_A, INNER_B = "10.1.0.1", "10.2.0.1"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short command, capturing its output; raise with its stderr when it fails and ``check``."""
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def in_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a short command inside a namespace."""
    return sh("ip", "netns", "exec", ns, *args, check=check)


def existing_namespaces() -> list[str]:
    """Our namespaces that exist now (left over from a crashed run, or made by this one)."""
    listed = sh("ip", "netns", "list", check=False).stdout.split()
    return [ns for ns in NAMESPACES if ns in listed]


def kill_pid(pid: int, grace: float = 3.0) -> None:
    """Stop one process by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def teardown() -> None:
    """Remove our namespaces and veths, first stopping (by PID) any process still inside them."""
    for ns in existing_namespaces():
        pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            kill_pid(int(pid))
    for ns in existing_namespaces():
        sh("ip", "netns", "delete", ns, check=False)
    for link in (IF_A, IF_MA, IF_MB, IF_B):  # a veth left in the root namespace by a half-made set-up
        if sh("ip", "link", "show", link, check=False).returncode == 0:
            sh("ip", "link", "delete", link, check=False)


def setup() -> None:
    """Make the three namespaces and the two veth pairs (after cleaning leftovers of an earlier run)."""
    teardown()
    for ns in NAMESPACES:
        sh("ip", "netns", "add", ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
        in_ns(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
        in_ns(ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "link", "add", IF_A, "netns", NS_A, "type", "veth", "peer", "name", IF_MA, "netns", NS_M)
    sh("ip", "link", "add", IF_B, "netns", NS_B, "type", "veth", "peer", "name", IF_MB, "netns", NS_M)
    in_ns(NS_A, "ip", "addr", "add", f"{ADDR_A}/24", "dev", IF_A)
    in_ns(NS_B, "ip", "addr", "add", f"{ADDR_B}/24", "dev", IF_B)
    in_ns(NS_A, "ip", "addr", "add", f"{INNER_A}/32", "dev", "lo")
    in_ns(NS_B, "ip", "addr", "add", f"{INNER_B}/32", "dev", "lo")
    for ns, dev in ((NS_A, IF_A), (NS_M, IF_MA), (NS_M, IF_MB), (NS_B, IF_B)):
        in_ns(ns, "ip", "link", "set", dev, "up")
    for dev in (IF_MA, IF_MB):
        in_ns(NS_M, "ip", "link", "set", dev, "promisc", "on")


@dataclass
class Processes:
    """The processes a case started, each stopped by its PID when the case ends."""

    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, ns: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> int:
        """Start ``argv`` in namespace ``ns`` (its own session), output to ``log``; return its PID."""
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.started.append((name, proc))
        return proc.pid

    def alive(self, name: str) -> bool:
        """True while the process started under ``name`` runs."""
        return any(n == name and p.poll() is None for n, p in self.started)

    def stop(self, name: str | None = None) -> None:
        """Stop the processes started under ``name`` (all when None), last started first."""
        for n, proc in reversed(self.started):
            if (name is None or n == name) and proc.poll() is None:
                proc.terminate()  # SIGTERM to this PID
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=3)
        self.started = [(n, p) for n, p in self.started if not (name is None or n == name)]
