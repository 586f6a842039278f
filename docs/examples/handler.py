"""A small handler of Windows IKE codes, the kind a VPN client or a monitoring rule contains.

It is the example of docs/testing-kit.md: test_handler.py beside it tests it with ikesim's
Hypothesis strategies, and `make test` runs those tests.
"""

from __future__ import annotations

RETRY = "retry"  # the peer did not answer: try again later
ALERT = "alert"  # somebody must look at credentials or certificates
IGNORE = "ignore"  # nothing went wrong
LOG = "log"  # anything else: keep it for later

RETRY_CODES = frozenset({13805, 13886})  # TIMED_OUT, PEER_MM_ASSUMED_INVALID
ALERT_CODES = frozenset({13801})  # AUTH_FAIL
IGNORE_CODES = frozenset({13897})  # NEG_STATUS_END: a negotiation that ended with no failure


def decide(code: int) -> str:
    """What to do about a negotiation that ended with ``code``."""
    if code in RETRY_CODES:
        return RETRY
    if code in ALERT_CODES:
        return ALERT
    if code in IGNORE_CODES:
        return IGNORE
    return LOG
