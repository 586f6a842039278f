"""strongSwan's charon in a namespace: its strongswan.conf and swanctl.conf, start, load, initiate.

Each charon runs in its own mount namespace with a private ``/run`` (its PID file lives there),
with a config, a vici socket and a log in the case's temporary directory. The log has Unix times
with milliseconds, so its events line up with the capture.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interop.net import Processes

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
PLUGINS = (
    "random nonce aes sha1 sha2 hmac pem pkcs1 x509 revocation constraints pubkey gmp kdf curve25519 "
    "kernel-libipsec kernel-netlink socket-default vici updown"
)


@dataclass(frozen=True)
class Charon:
    """One charon's settings: its side, the connection and its timers."""

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
    vips: str | None = None  # ask for an inner address (IKEv2 configuration payload): "0.0.0.0"
    retransmit_timeout: float = 1.0
    retransmit_base: float = 1.4
    retransmit_tries: int = 3
    half_open_timeout: int = 5

    def settings(self) -> dict[str, Any]:
        """What the recording says of this daemon's config."""
        return {
            "daemon": "charon",
            "side": self.side,
            "ike_version": self.version,
            "proposals": self.proposals,
            "esp_proposals": self.esp_proposals,
            "retransmit_timeout": self.retransmit_timeout,
            "retransmit_base": self.retransmit_base,
            "retransmit_tries": self.retransmit_tries,
            "retransmit_jitter": 0,
            "retransmit_limit": 0,
            "half_open_timeout": self.half_open_timeout,
            **({"vips": self.vips} if self.vips else {}),
        }

    def strongswan_conf(self, run: Path) -> str:
        """strongswan.conf for charon and swanctl."""
        return f"""charon {{
  load = {PLUGINS}
  install_routes = no
  install_virtual_ip = {"yes" if self.vips else "no"}
  retransmit_timeout = {self.retransmit_timeout}
  retransmit_base = {self.retransmit_base}
  retransmit_tries = {self.retransmit_tries}
  retransmit_jitter = 0
  retransmit_limit = 0
  half_open_timeout = {self.half_open_timeout}
  filelog {{
    main {{
      path = {run}/charon-{self.side}.log
      time_format = %s
      time_add_ms = yes
      default = 1
      ike = 4
      flush_line = yes
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{run}/charon-{self.side}.vici
    }}
  }}
}}
swanctl {{
  load = pem pkcs1 x509 revocation constraints pubkey random
}}
"""

    def swanctl_conf(self) -> str:
        """swanctl.conf: one connection ``c`` with one child ``c``."""
        return f"""connections {{
  c {{
    version = {self.version}
    local_addrs = {self.local}
    remote_addrs = {self.remote}
    proposals = {self.proposals}{f"{chr(10)}    vips = {self.vips}" if self.vips else ""}
    local {{
      auth = psk
      id = {self.local_id}
    }}
    remote {{
      auth = psk
      id = {self.remote_id}
    }}
    children {{
      c {{
        local_ts = {"dynamic" if self.vips else self.local_ts}
        remote_ts = {self.remote_ts}
        esp_proposals = {self.esp_proposals}
        mode = tunnel
      }}
    }}
  }}
}}
secrets {{
  ike-1 {{
    id-1 = {self.local_id}
    id-2 = {self.remote_id}
    secret = "{self.psk}"
  }}
}}
"""

    def log_path(self, run: Path) -> Path:
        """Where this charon logs."""
        return run / f"charon-{self.side}.log"

    def uri(self, run: Path) -> str:
        """The vici socket."""
        return f"unix://{run}/charon-{self.side}.vici"

    def start(self, procs: Processes, ns: str, run: Path) -> None:
        """Write the configs, start charon in ``ns`` and load the connection and secret."""
        conf = run / f"strongswan-{self.side}.conf"
        conf.write_text(self.strongswan_conf(run))
        (run / f"swanctl-{self.side}.conf").write_text(self.swanctl_conf())
        script = f"mount -t tmpfs tmpfs /run && exec {CHARON}"
        procs.start(
            f"charon-{self.side}",
            ns,
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            run / f"charon-{self.side}.out",
            env={"STRONGSWAN_CONF": str(conf)},
        )
        socket = run / f"charon-{self.side}.vici"
        deadline = time.monotonic() + 10
        while not socket.exists():
            if time.monotonic() > deadline or not procs.alive(f"charon-{self.side}"):
                out = (run / f"charon-{self.side}.out").read_text(errors="replace")
                raise RuntimeError(f"charon {self.side} did not start: {out[-2000:]}")
            time.sleep(0.05)
        self.swanctl(run, "--load-all", "--file", str(run / f"swanctl-{self.side}.conf"))

    def swanctl(self, run: Path, *args: str) -> str:
        """Run swanctl against this charon (root namespace; the vici socket is a file)."""
        done = subprocess.run(
            [SWANCTL, *args, "--uri", self.uri(run)],
            capture_output=True,
            text=True,
            check=False,
            env={"STRONGSWAN_CONF": str(run / f"strongswan-{self.side}.conf")},
        )
        if done.returncode != 0:
            raise RuntimeError(f"swanctl {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def initiate(self, procs: Processes, run: Path) -> None:
        """Start the negotiation of child ``c`` without waiting for it (swanctl runs in the background)."""
        procs.start(
            f"swanctl-{self.side}",
            "ikesim-ia" if self.side == "A" else "ikesim-ib",
            [SWANCTL, "--initiate", "--child", "c", "--timeout", "120", "--uri", self.uri(run)],
            run / f"swanctl-initiate-{self.side}.out",
            env={"STRONGSWAN_CONF": str(run / f"strongswan-{self.side}.conf")},
        )
