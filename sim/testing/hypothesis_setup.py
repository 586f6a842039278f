"""The Hypothesis entry point: ``st.from_type`` knows ikesim's public types once ikesim is installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _lazy(name: str) -> Callable[[type], Any]:
    """A strategy resolver that imports ``sim.testing.strategies`` only when the type is first drawn.

    Hypothesis runs this hook while it is itself being imported, which may be from inside
    ``sim.testing.strategies``: importing that module here would find it half made.
    """

    def resolve(_: type) -> Any:
        from sim.testing import strategies

        return getattr(strategies, name)()

    return resolve


def _hypothesis_setup_hook() -> None:
    """Register strategies for Scenario, CodeInfo and Trace."""
    from hypothesis import strategies as st

    from sim.codes import CodeInfo
    from sim.scenario import Scenario
    from sim.trace import Trace

    st.register_type_strategy(Scenario, _lazy("scenarios"))
    st.register_type_strategy(CodeInfo, _lazy("codes"))
    st.register_type_strategy(Trace, _lazy("runs"))
