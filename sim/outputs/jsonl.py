"""The trace itself as JSON Lines (schema ``ikesim.trace/1``): what ``load_trace`` reads back."""

from __future__ import annotations

from sim.outputs.renderer import Renderer
from sim.trace import Trace


def render(trace: Trace) -> dict[str, bytes]:
    """``trace.jsonl``."""
    return {"trace.jsonl": trace.to_jsonl().encode()}


RENDERER = Renderer("jsonl", "trace.jsonl", "the trace as JSON Lines, the input every other format renders from",
                    render, stdout=True)  # fmt: skip
