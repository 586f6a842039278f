"""Every output format, in one registry.

``ikesim run --format``, ``ikesim fixtures --formats``, the docs' list of formats and the tests
all read :data:`RENDERERS`.

A new format is one module that defines a :class:`~sim.outputs.renderer.Renderer`, and one line
in the tuple below.
"""

from __future__ import annotations

import hashlib
import re
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
        windows.RENDERED_AUDIT_RENDERER,
    )
}
FORMATS = tuple(RENDERERS)
ON_REQUEST = frozenset({"evtx-rendered"})  # formats written only when asked for by name
DEFAULT_FORMATS = tuple(name for name in FORMATS if name not in ON_REQUEST)


def render_files(trace: Trace, formats: tuple[str, ...] = DEFAULT_FORMATS) -> dict[str, bytes]:
    """The files of the chosen formats for one trace, file name -> bytes, in registry order."""
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; formats: {', '.join(FORMATS)}")
    files: dict[str, bytes] = {}
    for name, renderer in RENDERERS.items():
        if name in formats:
            files.update(renderer.render(trace))
    return files


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_NAME_LIMIT = 120


def file_name(text: str) -> str:
    """``text`` as one safe path component: the same for the same text, never a path of its own.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``, a leading dot
    ``_``, and a name that had to change, or is too long, gets a short hash of the original, so
    that ``a/b`` and ``a_b`` stay two files.
    """
    cleaned = _UNSAFE.sub("_", text)
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    if cleaned == text and 0 < len(text) <= _NAME_LIMIT:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem, dot, suffix = cleaned.rpartition(".")
    if not stem or len(suffix) > 8 or not suffix.isalnum():  # no extension to keep
        stem, dot, suffix = cleaned, "", ""
    return f"{stem[:100]}-{digest}{dot}{suffix}"


def write_fixtures(trace: Trace, folder: Path, formats: tuple[str, ...] = DEFAULT_FORMATS) -> list[Path]:
    """Write the chosen formats of a trace into ``folder`` (made if needed); return the files written.

    File names made from names in the scenario (peers) pass through :func:`file_name`: nothing is
    written outside ``folder``.
    """
    files = render_files(trace, formats)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        path = folder / file_name(name)
        path.write_bytes(data)
        written.append(path)
    return written
