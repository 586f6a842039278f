"""libreswan's pluto in a namespace: its ipsec.conf and ipsec.secrets, start, initiate.

Debian's libreswan package conflicts with strongSwan's, so it is not installed: ``.ci/run``
downloads it (``apt-get download libreswan``) and unpacks it with ``dpkg-deb -x`` into
:data:`ROOT` (``IKESIM_LIBRESWAN`` overrides it). pluto execs ``addconn`` from the compiled-in
``/usr/libexec/ipsec``, so each pluto runs in its own mount namespace with a private ``/run``, a
tmpfs on ``/usr/libexec`` and the unpacked ``usr/libexec/ipsec`` bind-mounted there. Its NSS
database, control socket and log are in the case's temporary directory; the log has local times
with microseconds (``Nov 25 14:40:26.640447: ...``), read by :func:`interop.reduce.pluto_log_events`.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interop.net import Processes

ROOT = Path(os.environ.get("IKESIM_LIBRESWAN", "/opt/ikesim-libreswan"))
LIBEXEC = ROOT / "usr" / "libexec" / "ipsec"
PLUTO = LIBEXEC / "pluto"
WHACK = LIBEXEC / "whack"
CERTUTIL = "/usr/bin/certutil"


def missing() -> str | None:
    """Why pluto cannot run here (None: it can)."""
    if not PLUTO.exists() or not WHACK.exists():
        return f"libreswan is not unpacked in {ROOT} (.ci/run: apt-get download libreswan; dpkg-deb -x)"
    if not Path(CERTUTIL).exists():
        return "certutil is missing (apt-get install libnss3-tools)"
    done = subprocess.run([str(PLUTO), "--version"], capture_output=True, text=True, check=False)
    if done.returncode != 0 or "Libreswan" not in done.stdout + done.stderr:
        return f"{PLUTO} --version fails: {(done.stdout + done.stderr).strip()[-300:]}"
    return None


@dataclass(frozen=True)
class Pluto:
    """One pluto's settings: its side, the connection ``c`` and its timers."""

    side: str  # "A" (initiator namespace) or "B" (responder namespace)
    version: int
    local: str
    remote: str
    local_id: str
    remote_id: str
    psk: str
    proposals: str = "aes128-sha256-modp2048"
    esp_proposals: str = "aes128-sha256"
    local_ts: str = "10.1.0.0/24"
    remote_ts: str = "10.2.0.0/24"
    retransmit_interval_ms: int = 500
    retransmit_timeout: int = 5

    def settings(self) -> dict[str, Any]:
        """What the recording says of this daemon's config."""
        return {
            "daemon": "pluto",
            "side": self.side,
            "ike_version": self.version,
            "proposals": self.proposals,
            "esp_proposals": self.esp_proposals,
            "retransmit_interval_ms": self.retransmit_interval_ms,
            "retransmit_timeout": self.retransmit_timeout,
            "keyingtries": 1,
            "pfs": "no",
        }

    def ipsec_conf(self, run: Path) -> str:
        """ipsec.conf: ``config setup`` (IKEv1 allowed, a log file) and one connection ``c``."""
        return f"""config setup
    ikev1-policy=accept
    logfile={self.log_path(run)}
    logtime=yes
    logappend=no
    plutodebug=none
    dumpdir={run}/pluto-{self.side}

conn c
    ikev2={"no" if self.version == 1 else "insist"}
    authby=secret
    left={self.local}
    leftid={self.local_id}
    leftsubnet={self.local_ts}
    right={self.remote}
    rightid={self.remote_id}
    rightsubnet={self.remote_ts}
    ike={self.proposals}
    phase2alg={self.esp_proposals}
    pfs=no
    retransmit-interval={self.retransmit_interval_ms}
    retransmit-timeout={self.retransmit_timeout}s
    keyingtries=1
    rekey=no
    auto=add
"""

    def secrets(self) -> str:
        """ipsec.secrets: the pre-shared key of the two identities."""
        return f'{self.local_id} {self.remote_id} : PSK "{self.psk}"\n'

    def log_path(self, run: Path) -> Path:
        """Where this pluto logs."""
        return run / f"pluto-{self.side}.log"

    def ctl(self, run: Path) -> Path:
        """Pluto's control socket (whack's)."""
        return run / f"pluto-{self.side}" / "pluto.ctl"

    def start(self, procs: Processes, ns: str, run: Path) -> None:
        """Write the configs and the NSS database, start pluto in ``ns``, wait until the connection is loaded."""
        home = run / f"pluto-{self.side}"
        nss = home / "nss"
        nss.mkdir(parents=True)
        conf = home / "ipsec.conf"
        conf.write_text(self.ipsec_conf(run))
        secrets = home / "ipsec.secrets"
        secrets.write_text(self.secrets())
        secrets.chmod(0o600)
        done = subprocess.run([CERTUTIL, "-N", "-d", f"sql:{nss}", "--empty-password"], capture_output=True,
                              text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"certutil -N failed: {done.stdout}{done.stderr}")
        script = (
            "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /usr/libexec && mkdir /usr/libexec/ipsec"
            f" && mount --bind {LIBEXEC} /usr/libexec/ipsec && exec {PLUTO} --nofork --config {conf}"
            f" --secretsfile {secrets} --ipsecdir {home} --nssdir {nss} --rundir {home}"
        )
        name = f"pluto-{self.side}"
        procs.start(name, ns, ["unshare", "-m", "--propagation", "private", "sh", "-c", script], run / f"{name}.out")
        log = self.log_path(run)
        deadline = time.monotonic() + 10
        while True:
            text = log.read_text(errors="replace") if log.exists() else ""
            if '"c": added' in text and "loading secrets" in text:
                return
            if time.monotonic() > deadline or not procs.alive(name):
                out = (run / f"{name}.out").read_text(errors="replace")
                raise RuntimeError(f"pluto {self.side} did not start: {out[-1500:]}{text[-1500:]}")
            time.sleep(0.05)

    def initiate(self, procs: Processes, run: Path) -> None:
        """Start the negotiation of ``c`` without waiting for it (``--asynchronous``: whack returns at once)."""
        procs.start(
            f"whack-{self.side}",
            "ikesim-ia" if self.side == "A" else "ikesim-ib",
            [str(WHACK), "--ctlsocket", str(self.ctl(run)), "--name", "c", "--initiate", "--asynchronous"],
            run / f"whack-initiate-{self.side}.out",
        )
