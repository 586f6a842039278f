"""Where ikesim does not (yet) do what the real daemons do: case -> {difference key: reason}.

``make interop`` and ``tests/test_interop_recordings.py`` fail on a difference not listed here,
and on a listed one that no longer occurs (then ikesim got better: remove the entry).
"""

from __future__ import annotations

NO_HALF_OPEN_KNOB = (
    "ikesim has no half_open_timeout option: its strongswan responder drops a half-open SA at 30 s or at "
    "its own retransmission give-up (7.103 s with these timers), whichever is first; charon at "
    "half_open_timeout (5 s here)"
)

EXPECTED_DIFFERENCES: dict[str, dict[str, str]] = {
    "v1-wrong-psk": {
        "messages": (
            "charon's responder cannot decrypt MM5 and answers it and each retransmission with an encrypted "
            "INFORMATIONAL N(PAYLOAD-MALFORMED); ikesim's gateway sends one N(AUTHENTICATION-FAILED) and then "
            "drops the retransmissions silently"
        ),
        "give_up:responder": (
            "charon keeps the rejected SA half-open and deletes it at half_open_timeout (5 s); ikesim's gateway "
            "ends it at MM5 (13801) with no give-up"
        ),
    },
    "v1-responder-gets-mm1-only": {"give_up:responder": NO_HALF_OPEN_KNOB},
    "v1-damaged-mm3": {
        "give_up:responder": (
            "both answer the broken MM3 with a clear N(PAYLOAD-MALFORMED) and the initiator aborts on it; the "
            "responder then keeps its half-open SA: " + NO_HALF_OPEN_KNOB
        ),
    },
    "v1-damaged-mm5": {
        "messages": (
            "charon answers an MM5 it cannot decrypt with an encrypted INFORMATIONAL N(PAYLOAD-MALFORMED); the charon "
            "initiator ignores it, resends MM5 after 1 s and main mode and quick mode complete; ikesim's initiator "
            "aborts on the notify (13843) and nothing more is sent"
        ),
        "give_up:responder": "the same: ikesim's responder waits for a retransmission that never comes and gives up",
        "established": "the same: both charons establish, in ikesim neither does",
    },
}
