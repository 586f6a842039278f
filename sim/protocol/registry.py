"""Every protocol table by name, and their compiled executors (built once per process)."""

from __future__ import annotations

from sim.protocol import ikev1
from sim.protocol.session import Session
from sim.protocol.table import CompiledTable, Table

TABLES: dict[str, Table] = {t.name: t for t in ikev1.TABLES}
COMPILED: dict[str, CompiledTable] = {name: t.compile(Session) for name, t in TABLES.items()}
