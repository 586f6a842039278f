"""Every output format, in one registry.

``ikesim run --format``, ``ikesim fixtures --formats``, the docs' list of formats and the tests
all read :data:`RENDERERS`.

A new format is one module that defines a :class:`~sim.outputs.renderer.Renderer`, and one line
in the tuple below.
"""

from __future__ import annotations

from pathlib import Path

from sim.outputs import jsonl, mermaid, pcap, timeline, windows
from sim.outputs.renderer import Renderer
from sim.trace import Trace

RENDERERS: dict[str, Renderer] = {
    r.name: r
    for r in (
        jsonl.RENDERER,
        timeline.RENDERER,
        mermaid.RENDERER,
        windows.AUDIT_RENDERER,
        windows.WFP_RENDERER,
        pcap.RENDERER,
    )
}
FORMATS = tuple(RENDERERS)


def render_files(trace: Trace, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """The files of the chosen formats for one trace, file name -> bytes, in registry order."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; formats: {', '.join(FORMATS)}")
    files: dict[str, bytes] = {}
    for name, renderer in RENDERERS.items():
        if name in formats:
            files.update(renderer.render(trace))
    return files


def write_fixtures(trace: Trace, folder: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the chosen formats of a trace into ``folder`` (made if needed); return the files written."""
    files = render_files(trace, formats)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
