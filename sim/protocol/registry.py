"""Every protocol and table by name, and their compiled executors (built once per process)."""

from __future__ import annotations

from sim.protocol.authip import AUTHIP
from sim.protocol.ikev1 import IKEV1
from sim.protocol.ikev2 import IKEV2
from sim.protocol.session import Session
from sim.protocol.spec import ProtocolSpec
from sim.protocol.table import CompiledTable, Table

PROTOCOLS: dict[str, ProtocolSpec] = {p.name: p for p in (IKEV1, AUTHIP, IKEV2)}
TABLES: dict[str, Table] = {t.name: t for p in PROTOCOLS.values() for t in p.tables}
SESSION_CLASS: dict[str, type] = {t.name: p.session_class or Session for p in PROTOCOLS.values() for t in p.tables}
COMPILED: dict[str, CompiledTable] = {name: t.compile(SESSION_CLASS[name]) for name, t in TABLES.items()}
