"""The Hypothesis entry point: ``st.from_type`` knows ikesim's public types once ikesim is installed."""

from __future__ import annotations


def _hypothesis_setup_hook() -> None:
    """Register strategies for Scenario, CodeInfo and Trace."""
    from hypothesis import strategies as st

    from sim.codes import CodeInfo
    from sim.scenario import Scenario
    from sim.testing import strategies
    from sim.trace import Trace

    st.register_type_strategy(Scenario, strategies.scenarios())
    st.register_type_strategy(CodeInfo, strategies.codes())
    st.register_type_strategy(Trace, strategies.runs())
