"""Where ikesim does not (yet) do what the real daemons do: case -> {difference key: reason}.

``make interop`` and ``tests/test_interop_recordings.py`` fail on a difference not listed here,
and on a listed one that no longer occurs (then ikesim got better: remove the entry).

Empty since the strongSwan profile gained ``half_open_timeout`` and its responder treats an MM5
it cannot decrypt (a wrong pre-shared key, a damaged ciphertext) as a malformed payload: an
encrypted PAYLOAD-MALFORMED the initiator cannot read, state kept until the half-open timeout.
"""

from __future__ import annotations

EXPECTED_DIFFERENCES: dict[str, dict[str, str]] = {}
