"""What a renderer is: a named function from a trace to the files it makes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.trace import Trace


@dataclass(frozen=True)
class Renderer:
    """One output format: its name, the files it writes, and the function that makes them from a trace.

    ``render`` returns ``{file name: bytes}``, in the order the files are written. A renderer
    whose ``stdout`` is true makes exactly one text file, which ``ikesim run --format`` prints.
    """

    name: str
    files: str  # the file names it writes, as a pattern for the docs: "security-events-<peer>.xml"
    description: str
    render: Callable[[Trace], dict[str, bytes]]
    stdout: bool = False
