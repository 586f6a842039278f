"""When an endpoint sends its last message again, and when it gives up: a profile's timing."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the last message is sent again, as offsets from its first send, and when to give up."""

    resend_at: tuple[float, ...]
    give_up_at: float

    def __post_init__(self) -> None:
        offsets = (0.0, *self.resend_at, self.give_up_at)
        if any(b <= a for a, b in pairwise(offsets)):
            raise ValueError("retransmission offsets must increase and end before giving up")
