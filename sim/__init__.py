"""ikesim: simulate IKE negotiations on a virtual clock and report the Windows status codes they end in."""

from sim import codes

__all__ = ["__version__", "codes"]
__version__ = "0.1.0"
