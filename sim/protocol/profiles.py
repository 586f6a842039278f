"""Retransmission profiles: when each implementation sends its last message again, and gives up.

Facts and their sources are in ``docs/retransmission.md``; the points no public source
documents (when Windows IKEv1 gives up after its last resend) are assumptions, each with an
option to change it.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

from sim.protocol.policy import Proposal
from sim.protocol.schedule import Schedule

MAX_RESENDS = 100  # resends per message a profile may ask for: real stacks stop far sooner


def _r(x: float) -> float:
    return round(x, 9)  # keep sums such as 4 + 7.2 from printing as 11.200000000000001


def windows(give_up_after: float = 64.0) -> Schedule:
    """Windows IKEv1: resends 1, 2, 4, 8, 16, 32 s apart (sends at 0, 1, 3, 7, 15, 31, 63 s).

    The gaps are observed fingerprints (ike-scan's backoff patterns). When Windows gives up
    after the last resend is not documented: ikesim assumes one more doubling, 64 s, so the
    negotiation ends at 127 s.
    """
    offsets, t = [], 0.0
    for gap in (1, 2, 4, 8, 16, 32):
        t += gap
        offsets.append(t)
    return Schedule(tuple(offsets), _r(t + give_up_after))


def strongswan(timeout: float = 4.0, base: float = 1.8, tries: int = 5, limit: float = 0.0, jitter: float = 0.0) -> (
    Schedule
):  # fmt: skip
    """StrongSwan's ``retransmission_timeout()``: the n-th wait is ``timeout * base**n`` seconds.

    Each wait is capped at ``limit`` seconds (0: no cap), less a random part of up to ``jitter``
    percent (0 to 20), and counted in whole milliseconds; after ``tries`` resends it gives up.
    With the defaults: resends at 4, 11.2, 24.16, 47.488, 89.478 s, gives up at 165.06 s.
    """
    if not 0 <= jitter <= 20:
        raise ValueError(f"jitter is a percentage from 0 to 20 (RETRANSMIT_JITTER_MAX), not {jitter:g}")
    if not 0 <= tries <= MAX_RESENDS:
        raise ValueError(f"tries is a count from 0 to {MAX_RESENDS}, not {tries}")

    def draw(rng: random.Random | None) -> Schedule:
        offsets, total_ms = [], 0
        for n in range(tries + 1):
            wait = timeout * 1000.0 * base**n
            if limit:
                wait = min(wait, limit * 1000.0)
            if rng is not None:
                wait -= wait / 100.0 * jitter * rng.random()
            total_ms += int(wait)  # strongSwan returns the wait as a uint32_t of milliseconds
            offsets.append(total_ms / 1000)
        return Schedule(tuple(offsets[:-1]), offsets[-1])

    plain = draw(None)
    return Schedule(plain.resend_at, plain.give_up_at, draw) if jitter else plain


def libreswan(interval: float = 0.5, timeout: float = 30.0, limit: int = 12) -> Schedule:
    """Libreswan's ``retransmit.c``: the first event after ``interval``, then each delay doubles.

    At each event pluto gives up when ``limit`` retransmits are done or the accumulated delay has
    reached ``timeout``; otherwise it resends and waits its delay, doubled (from the second event
    on) while the doubled delay stays below the timeout. Resends at 0.5, 1, 2, 4, 8, 16 s and gives
    up at 32 s with the 30 s timeout of 5.4 and later; ``timeout = 60`` (4.x to 5.3) adds a resend
    at 32 s and gives up at 64 s.
    """
    if not 0 <= limit <= MAX_RESENDS or interval <= 0:
        raise ValueError(f"limit is a count from 0 to {MAX_RESENDS} and interval more than 0 s")
    resends: list[float] = []
    delay = waited = interval  # the first event comes after one interval
    while len(resends) < limit and waited < timeout:
        if resends and delay + delay < timeout:
            delay += delay
        resends.append(_r(waited))
        waited += delay
    return Schedule(tuple(resends), _r(waited))


def authip(give_up_after: float = 128.0) -> Schedule:
    """AuthIP: seven retransmissions, then the main-mode SA is deleted ([MS-AIPS] 3.1.6.1).

    The gaps are not documented: ikesim assumes Windows' IKEv1 doubling from 1 s (resends at 1, 3,
    7, 15, 31, 63, 127 s) and, as for ``windows``, one more doubling before it gives up (255 s).
    """
    offsets, t = [], 0.0
    for gap in (1, 2, 4, 8, 16, 32, 64):
        t += gap
        offsets.append(t)
    return Schedule(tuple(offsets), _r(t + give_up_after))


def windows_ikev2(duration: float = 120.0) -> Schedule:
    """Windows IKEv2: retransmits for ``duration`` seconds (at least 120), then the SA times out.

    The duration is documented (``retransmitDurationSecs``, at least 120 s); the gaps are not:
    ikesim assumes Windows' IKEv1 doubling from 1 s (resends at 1, 3, 7, 15, 31, 63 s).
    """
    if duration < 120:
        raise ValueError(f"duration must be at least 120 s (retransmitDurationSecs), not {duration:g}")
    offsets, t, gap = [], 0.0, 1.0
    while t + gap < duration:
        t += gap
        offsets.append(t)
        gap *= 2
    return Schedule(tuple(offsets), float(duration))


def custom(resend_at: tuple[float, ...] | list[float] = (), give_up_at: float = 30.0) -> Schedule:
    """A schedule given in full: resend offsets from the first send, and when to give up."""
    if len(resend_at) > MAX_RESENDS:
        raise ValueError(f"{len(resend_at)} resends; a schedule has at most {MAX_RESENDS}")
    return Schedule(tuple(float(x) for x in resend_at), float(give_up_at))


@dataclass(frozen=True)
class ResponderRules:
    """What a responder of an implementation does on its own, beyond answering requests."""

    resends: frozenset[str] | None = None  # the replies it resends when no answer comes; None: every one
    half_open_timeout: float | None = None  # seconds after it opened an SA that it drops it if not yet up
    # A main-mode request of an earlier step that is not a duplicate of the one it last answered (an MM1
    # after its MM4, an MM3 with a new key exchange): "drop" it, answer it with an error "notify" when it
    # has new content (libreswan), or, while negotiating, answer it with an error and "delete" the SA (strongSwan).
    stale: Literal["drop", "notify", "delete"] = "drop"
    forgets_ended: bool = False  # an SA it ended is gone: a first message naming it opens a new negotiation
    notifies_damaged: bool = False  # a malformed payload a negotiation would take gets an error notify; state kept
    rejects_damaged_first: bool = False  # a malformed first message (MM1) opens a negotiation that rejects it
    discard_unresent_after: float | None = None  # seconds after sending a reply it does not resend that it drops
    # the negotiation (pluto: EVENT_SO_DISCARD after retransmit-timeout); None: at the schedule's give-up


@dataclass(frozen=True)
class Profile:
    """An implementation's behaviour: its retransmission schedule and the facts the rest of ikesim reads.

    Every fact of a profile is here, so that adding one is one function and one entry in
    :data:`PROFILES`: the scenario loader, the fixtures (who writes Windows events), the testing
    kit (which protocols to draw it for) and ``ikesim serve`` read these fields.
    """

    name: str
    build: Callable[..., Schedule]
    summary: str
    protocols: tuple[str, ...] = ("ikev1", "authip", "ikev2")  # the protocols this implementation speaks
    windows: bool = False  # a Windows peer: it writes Security audit events and WFP net events
    served: tuple[Proposal, ...] | None = None  # what ``ikesim serve`` accepts by default; None: not served
    responder: ResponderRules = ResponderRules()  # what its IKEv1 and AuthIP responders resend on their own
    responder_options: tuple[str, ...] = ()  # options that set responder rules, not the schedule (half_open_timeout)
    discard_option: str | None = None  # the schedule option that is also the discard delay of unresent replies

    @cached_property
    def _parameters(self) -> Mapping[str, inspect.Parameter]:
        """The options of its schedule (read once: ``inspect.signature`` was a tenth of a small run)."""
        return inspect.signature(self.build).parameters

    @cached_property
    def _default_schedule(self) -> Schedule:
        return self.build()

    def _split(self, options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(schedule options, responder options)."""
        given = options or {}
        rules = {k: v for k, v in given.items() if k in self.responder_options}
        return {k: v for k, v in given.items() if k not in rules}, rules

    def schedule(self, options: dict[str, Any] | None = None) -> Schedule:
        """The schedule with these options (the profile's own defaults where none are given).

        Options are finite numbers (lists of them for ``resend_at``); anything else is a ValueError.
        """
        given = self._split(options)[0]
        if not given:  # the profile's own schedule: immutable, so made once and shared by every run
            return self._default_schedule
        known = [*self._parameters, *self.responder_options]
        unknown = [name for name in given if name not in known]
        if unknown:
            raise ValueError(f"{self.name} has no option {', '.join(map(repr, unknown))}; its options: "
                             f"{', '.join(known) or 'none'}")  # fmt: skip
        for name, value in given.items():
            values = value if isinstance(value, list | tuple) else [value]
            if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in values):
                raise ValueError(f"{name} must be a finite number of seconds or a count, not {value!r}")
        try:
            return self.build(**given)
        except OverflowError:
            raise ValueError("these options make a wait too long to count") from None

    def responder_rules(self, options: dict[str, Any] | None = None) -> ResponderRules:
        """The responder rules with these options (``half_open_timeout`` for strongSwan)."""
        schedule_options, rules = self._split(options)
        responder = self.responder
        if self.discard_option is not None:
            default = self._parameters[self.discard_option].default
            responder = replace(
                responder, discard_unresent_after=float(schedule_options.get(self.discard_option, default))
            )
        for name, value in rules.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
                raise ValueError(f"{name} is a number of seconds greater than 0, not {value!r}")
        timeout = rules.get("half_open_timeout")
        return responder if timeout is None else replace(responder, half_open_timeout=float(timeout))


def is_windows(profile: str, protocol: str) -> bool:
    """True for a Windows peer: its profile is a Windows one, or it speaks AuthIP (only Windows does)."""
    known = PROFILES.get(profile)
    return (known is not None and known.windows) or protocol == "authip"


# fmt: off
PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("windows", windows, "Windows IKEv1: resend after 1, 2, 4, 8, 16, 32 s", ("ikev1", "authip"), True,
                (Proposal("aes128", "sha1", 2), Proposal("3des", "sha1", 2), Proposal("aes128", "sha1", 14))),
        Profile("windows-ikev2", windows_ikev2, "Windows IKEv2: retransmits for 120 s or a longer duration",
                ("ikev2",), True),
        Profile("strongswan", strongswan, "strongSwan: 4 s x 1.8^n, 5 resends, gives up at 165.06 s",
                ("ikev1", "ikev2"),
                served=(Proposal("aes128", "sha256", 14), Proposal("aes256", "sha256", 14),
                        Proposal("aes128", "sha1", 14)),
                responder=ResponderRules(frozenset({"QM2"}), half_open_timeout=30.0, stale="delete",
                                         forgets_ended=True, notifies_damaged=True,
                                         rejects_damaged_first=True),
                responder_options=("half_open_timeout",)),
        Profile("libreswan", libreswan, "libreswan: 0.5, 1, 2, 4, 8, 16 s, gives up at 32 s (60 s timeout to v5.3)",
                served=(Proposal("aes256", "sha256", 14), Proposal("aes128", "sha256", 14),
                        Proposal("aes128", "sha1", 14)),
                responder=ResponderRules(frozenset({"MM4", "QM2"}), stale="notify",
                                         rejects_damaged_first=True),
                discard_option="timeout"),
        Profile("authip", authip, "AuthIP: seven resends (1, 3, 7, ... 127 s), gives up at 255 s", ("authip",), True),
        Profile("custom", custom, "a schedule given in full in the scenario", (), served=()),
    )
}
# fmt: on
