"""When an endpoint sends its last message again, and when it gives up: a profile's timing."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the last message is sent again, as offsets from its first send, and when to give up.

    A schedule with random parts (strongSwan's ``retransmit_jitter``) has a ``variant`` that draws
    one schedule from a random source; :meth:`drawn` gives each message its own, the same for the
    same key on every run.
    """

    resend_at: tuple[float, ...]
    give_up_at: float
    variant: Callable[[random.Random], Schedule] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        offsets = (0.0, *self.resend_at, self.give_up_at)
        if not all(math.isfinite(x) for x in offsets):
            raise ValueError("retransmission offsets must be finite numbers of seconds (not NaN or infinity)")
        if any(b <= a for a, b in pairwise(offsets)):
            raise ValueError("retransmission offsets must increase and end before giving up")

    def drawn(self, key: str) -> Schedule:
        """The schedule itself, or where it has random parts, the one drawn for ``key`` (seeded by it)."""
        if self.variant is None:
            return self
        return self.variant(random.Random(key))
