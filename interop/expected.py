"""Where ikesim does not (yet) do what the real daemons do: case -> {difference key: reason}.

``make interop`` and ``tests/test_interop_recordings.py`` fail on a difference not listed here,
and on a listed one that no longer occurs (then ikesim got better: remove the entry).

Empty: the strongSwan profile has ``half_open_timeout``, its responder treats an MM5 it cannot
decrypt (a wrong pre-shared key, a damaged ciphertext) as a malformed payload, and the libreswan
responder drops a negotiation whose reply it does not resend (MM2) ``timeout`` after sending it
(pluto's EVENT_SO_DISCARD), not at the end of its resend schedule.
"""

from __future__ import annotations

EXPECTED_DIFFERENCES: dict[str, dict[str, str]] = {}
