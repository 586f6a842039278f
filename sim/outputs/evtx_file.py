r"""Binary Windows event logs (.evtx), written without any dependency.

What Chainsaw, Hayabusa, EvtxECmd, python-evtx and the ``evtx`` crate read. The layout follows
libyal's "Windows XML Event Log (EVTX)" format document and [MS-EVEN6] section 2.2.12 (BinXml):

* a 4096-byte file header: ``ElfFile\0``, first and last chunk numbers, the next record
  identifier, header size 128, version 3.1, header block size 4096, the chunk count, flags 0
  (clean) and the CRC32 of its first 120 bytes;
* 64 KiB chunks: ``ElfChnk\0``, first and last record numbers and identifiers, header size 128,
  the offsets of the last record and of the free space, the CRC32 of the records, the CRC32 of
  the header (bytes 0..120 and 128..512), then the string table (64 buckets) and the template
  table (32 buckets), then the records from offset 512;
* event records: ``**\0\0``, size, record identifier, written time (the event's own
  TimeCreated, so the bytes do not depend on the clock), BinXml, size again.

Each record's BinXml is a fragment header, a template instance and its values, as Windows writes
them. The template is the whole ``<Event>``: every System value is a normal substitution, the
EventData ``Name`` attributes are literal text, and each Data value is an optional substitution.
A chunk holds each template (and each element or attribute name) once, inline in the first
record that uses it; later records of the chunk point back at it, and both are listed in the
chunk's tables. Records that do not fit in a chunk start the next one, which defines its
templates and names anew. The same events give the same bytes.

Not written: RenderingInfo, UserData, array values and BinXml-typed values.
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import NamedTuple

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
FILE_HEADER_SIZE = 4096  # the header block; its first 128 bytes are the header itself
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512  # the 128-byte header, then the string and template tables
RECORD_HEADER_SIZE = 24  # magic, size, record identifier, written time
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


class ValueType(IntEnum):
    """BinXml value types ([MS-EVEN6] 2.2.12, ``ValueType``) that this writer encodes."""

    NULL = 0x00
    STRING = 0x01  # UnicodeString: UTF-16LE, no terminator
    INT8 = 0x03
    UINT8 = 0x04
    INT16 = 0x05
    UINT16 = 0x06
    INT32 = 0x07
    UINT32 = 0x08
    INT64 = 0x09
    UINT64 = 0x0A
    BOOL = 0x0D
    BINARY = 0x0E
    GUID = 0x0F
    FILETIME = 0x11
    SYSTEMTIME = 0x12
    SID = 0x13
    HEX32 = 0x14  # HexInt32
    HEX64 = 0x15  # HexInt64


Value = str | int | bool | bytes | uuid.UUID | datetime | None
"""A substitution value. By type: STRING and SID take ``str`` (``"S-1-5-18"``); the integer types,
HEX32 and HEX64 ``int``; BOOL ``bool``; BINARY ``bytes``; GUID ``uuid.UUID`` or its text; FILETIME
an ``int`` of 100 ns ticks since 1601 or an aware ``datetime``; SYSTEMTIME a ``datetime``; NULL
``None``."""

_INT_FORMATS = {
    ValueType.INT8: "<b",
    ValueType.UINT8: "<B",
    ValueType.INT16: "<h",
    ValueType.UINT16: "<H",
    ValueType.INT32: "<i",
    ValueType.UINT32: "<I",
    ValueType.INT64: "<q",
    ValueType.UINT64: "<Q",
    ValueType.HEX32: "<I",
    ValueType.HEX64: "<Q",
}


class DataItem(NamedTuple):
    """One ``<Data Name="name">value</Data>`` of EventData, with the type its value is stored as."""

    name: str
    value: Value
    type: ValueType = ValueType.STRING


@dataclass(frozen=True)
class EventRecord:
    """One event: its System values (with the BinXml type each is stored as) and its EventData.

    ``time_created`` is a FILETIME (100 ns ticks since 1601-01-01 UTC; see ``filetime``). Optional
    values that are ``None`` leave their attribute out (``Provider Guid``, ``EventID Qualifiers``,
    ``Correlation ActivityID`` and ``RelatedActivityID``, ``Security UserID``).
    """

    event_id: int  # UInt16
    time_created: int  # FileTime: TimeCreated SystemTime, and the record's written time
    record_id: int  # UInt64: EventRecordID, and the record's identifier
    provider_name: str  # UnicodeString
    provider_guid: uuid.UUID | None = None  # GUID
    qualifiers: int | None = None  # UInt16
    version: int = 0  # UInt8
    level: int = 0  # UInt8
    task: int = 0  # UInt16
    opcode: int = 0  # UInt8
    keywords: int = 0  # HexInt64
    activity_id: uuid.UUID | None = None  # GUID
    related_activity_id: uuid.UUID | None = None  # GUID
    process_id: int = 0  # UInt32
    thread_id: int = 0  # UInt32
    channel: str = ""  # UnicodeString
    computer: str = ""  # UnicodeString
    user_id: str | None = None  # SID
    event_data: Sequence[DataItem] = ()


# --- Times ------------------------------------------------------------------------------------


def filetime(stamp: datetime) -> int:
    """A FILETIME (100 ns ticks since 1601-01-01 UTC) from an aware datetime."""
    delta = stamp - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


_SYSTEM_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?Z")


def parse_system_time(text: str) -> int:
    """A FILETIME from an Event XML ``SystemTime`` (``2026-01-01T00:02:07.0300000Z``), to the tick."""
    match = _SYSTEM_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not a UTC SystemTime: {text!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    whole = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return filetime(whole) + int((match.group(7) or "").ljust(7, "0"))


def _ticks(value: Value) -> int:
    if isinstance(value, datetime):
        return filetime(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"a FILETIME is an int or a datetime, not {value!r}")


# --- Values -----------------------------------------------------------------------------------


def _sid_bytes(text: str) -> bytes:
    parts = text.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID: {text!r}")
    revision, authority, *subs = (int(p) for p in parts[1:])
    return struct.pack("<BB", revision, len(subs)) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


def encode_value(vtype: ValueType, value: Value) -> bytes:
    """The bytes of a substitution value of a type."""
    if vtype is ValueType.NULL:
        return b""
    if vtype in _INT_FORMATS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{vtype.name} takes an int, not {value!r}")
        try:
            return struct.pack(_INT_FORMATS[vtype], value)
        except struct.error as error:
            raise ValueError(f"{value} does not fit {vtype.name}") from error
    if vtype is ValueType.STRING and isinstance(value, str):
        return value.encode("utf-16-le")
    if vtype is ValueType.SID and isinstance(value, str):
        return _sid_bytes(value)
    if vtype is ValueType.BOOL and isinstance(value, bool):
        return struct.pack("<i", int(value))
    if vtype is ValueType.BINARY and isinstance(value, bytes):
        return value
    if vtype is ValueType.GUID and isinstance(value, uuid.UUID | str):
        return (value if isinstance(value, uuid.UUID) else uuid.UUID(value)).bytes_le
    if vtype is ValueType.FILETIME:
        return struct.pack("<Q", _ticks(value))
    if vtype is ValueType.SYSTEMTIME and isinstance(value, datetime):
        t = value.astimezone(UTC) if value.tzinfo else value
        weekday = t.isoweekday() % 7  # Sunday is 0
        return struct.pack("<8H", t.year, t.month, weekday, t.day, t.hour, t.minute, t.second, t.microsecond // 1000)
    raise TypeError(f"{vtype.name} cannot hold {value!r}")


# --- Templates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sub:
    index: int
    type: ValueType
    optional: bool


@dataclass(frozen=True)
class _Elem:
    name: str
    attrs: tuple[tuple[str, str | _Sub], ...] = ()
    content: tuple[_Elem | _Sub | str, ...] = ()


def _shape(record: EventRecord) -> tuple[_Elem, list[tuple[ValueType, bytes]]]:
    """The record's template (substitutions in place of values) and its values, in index order."""
    values: list[tuple[ValueType, bytes]] = []

    def sub(vtype: ValueType, value: Value, optional: bool = False) -> _Sub:
        values.append((vtype, encode_value(vtype, value)))
        return _Sub(len(values) - 1, vtype, optional)

    def text(tag: str, vtype: ValueType, value: Value) -> _Elem:
        return _Elem(tag, (), (sub(vtype, value),))

    def optional_attrs(*attrs: tuple[str, ValueType, Value]) -> tuple[tuple[str, str | _Sub], ...]:
        return tuple((name, sub(vtype, value)) for name, vtype, value in attrs if value is not None)

    r = record
    system = _Elem(
        "System",
        (),
        (
            _Elem("Provider", (("Name", sub(ValueType.STRING, r.provider_name)),
                               *optional_attrs(("Guid", ValueType.GUID, r.provider_guid)))),
            _Elem("EventID", optional_attrs(("Qualifiers", ValueType.UINT16, r.qualifiers)),
                  (sub(ValueType.UINT16, r.event_id),)),
            text("Version", ValueType.UINT8, r.version),
            text("Level", ValueType.UINT8, r.level),
            text("Task", ValueType.UINT16, r.task),
            text("Opcode", ValueType.UINT8, r.opcode),
            text("Keywords", ValueType.HEX64, r.keywords),
            _Elem("TimeCreated", (("SystemTime", sub(ValueType.FILETIME, r.time_created)),)),
            text("EventRecordID", ValueType.UINT64, r.record_id),
            _Elem("Correlation", optional_attrs(("ActivityID", ValueType.GUID, r.activity_id),
                                                ("RelatedActivityID", ValueType.GUID, r.related_activity_id))),
            _Elem("Execution", (("ProcessID", sub(ValueType.UINT32, r.process_id)),
                                ("ThreadID", sub(ValueType.UINT32, r.thread_id)))),
            text("Channel", ValueType.STRING, r.channel),
            text("Computer", ValueType.STRING, r.computer),
            _Elem("Security", optional_attrs(("UserID", ValueType.SID, r.user_id))),
        ),
    )  # fmt: skip
    data = tuple(
        _Elem("Data", (("Name", item.name),), (sub(item.type, item.value, optional=True),))
        for item in (DataItem(*item) for item in r.event_data)
    )
    return _Elem("Event", (("xmlns", EVENT_NS),), (system, _Elem("EventData", (), data))), values


def _template_key(record: EventRecord) -> tuple[object, ...]:
    """What decides a record's template: which optional System values it has, and its Data names and types."""
    r = record
    optional = (r.provider_guid, r.qualifiers, r.activity_id, r.related_activity_id, r.user_id)
    return (*(value is None for value in optional), *((item[0], DataItem(*item).type) for item in r.event_data))


def _template_guid(shape: _Elem) -> bytes:
    """A template's identifier: a GUID that depends on its shape alone, the same in every chunk."""
    return uuid.UUID(bytes=hashlib.sha256(repr(shape).encode()).digest()[:16]).bytes_le


def name_hash(name: str) -> int:
    """The 16-bit hash stored with a name: ``hash = hash * 65599 + code unit`` over its UTF-16 code units."""
    value = 0
    raw = name.encode("utf-16-le")
    for (unit,) in struct.iter_unpack("<H", raw):
        value = (value * 65599 + unit) & 0xFFFFFFFF
    return value & 0xFFFF


# --- BinXml -----------------------------------------------------------------------------------


class _Writer:
    """BinXml for one record at a known chunk offset, using (and adding to) the chunk's names."""

    def __init__(self, base: int, names: Mapping[str, int]) -> None:
        self.out = bytearray()
        self.base = base
        self.names = names
        self.new_names: dict[str, int] = {}

    def pos(self) -> int:
        return self.base + len(self.out)

    def name(self, name: str) -> None:
        offset = self.names.get(name, self.new_names.get(name))
        if offset is not None:
            self.out += struct.pack("<I", offset)
            return
        offset = self.pos() + 4  # right after this field: the name is inline
        self.new_names[name] = offset
        raw = name.encode("utf-16-le")
        # next string in the bucket (set when the chunk is finished), hash, length, UTF-16, NUL
        self.out += struct.pack("<IIHH", offset, 0, name_hash(name), len(raw) // 2) + raw + b"\0\0"

    def char_data(self, value: str | _Sub) -> None:
        if isinstance(value, _Sub):
            self.out += struct.pack("<BHB", 0x0E if value.optional else 0x0D, value.index, value.type)
        else:
            raw = value.encode("utf-16-le")
            self.out += struct.pack("<BBH", 0x05, ValueType.STRING, len(raw) // 2) + raw

    def element(self, elem: _Elem) -> None:
        # OpenStartElement: token, dependency id (none), size of the rest of the element, name
        self.out += struct.pack("<BHI", 0x41 if elem.attrs else 0x01, 0xFFFF, 0)
        size_at = len(self.out)
        self.name(elem.name)
        if elem.attrs:
            self.out += b"\0\0\0\0"
            list_at = len(self.out)
            for i, (attr, value) in enumerate(elem.attrs):
                self.out.append(0x46 if i + 1 < len(elem.attrs) else 0x06)  # 0x40: another attribute follows
                self.name(attr)
                self.char_data(value)
            struct.pack_into("<I", self.out, list_at - 4, len(self.out) - list_at)
        if elem.content:
            self.out.append(0x02)  # CloseStartElement
            for child in elem.content:
                if isinstance(child, _Elem):
                    self.element(child)
                else:
                    self.char_data(child)
            self.out.append(0x04)  # EndElement
        else:
            self.out.append(0x03)  # CloseEmptyElement
        struct.pack_into("<I", self.out, size_at - 4, len(self.out) - size_at)


FRAGMENT_HEADER = b"\x0f\x01\x01\x00"  # token, BinXml version 1.1, flags


@dataclass
class _Encoded:
    data: bytes
    new_names: dict[str, int]
    template: tuple[tuple[object, ...], int, int] | None  # a template defined here: key, id, offset


def _encode_record(
    record: EventRecord, start: int, names: Mapping[str, int], templates: Mapping[tuple[object, ...], tuple[int, int]]
) -> _Encoded:
    shape, values = _shape(record)
    key = _template_key(record)
    w = _Writer(start + RECORD_HEADER_SIZE, names)
    w.out += FRAGMENT_HEADER
    defined = None
    if key in templates:
        template_id, offset = templates[key]
        w.out += struct.pack("<BBII", 0x0C, 0x01, template_id, offset)
    else:
        guid = _template_guid(shape)
        (template_id,) = struct.unpack_from("<I", guid)
        offset = w.pos() + 10  # the definition follows the instance token
        w.out += struct.pack("<BBII", 0x0C, 0x01, template_id, offset)
        # TemplateDef: next template in the bucket (set when the chunk is finished), GUID, data size
        w.out += struct.pack("<I", 0) + guid + struct.pack("<I", 0)
        body_at = len(w.out)
        w.out += FRAGMENT_HEADER
        w.element(shape)
        w.out.append(0x00)  # EOF
        struct.pack_into("<I", w.out, body_at - 4, len(w.out) - body_at)
        defined = (key, template_id, offset)
    w.out += struct.pack("<I", len(values))
    for vtype, raw in values:
        if len(raw) > 0xFFFF:
            raise ValueError(f"a {vtype.name} value of {len(raw)} bytes is too long for BinXml")
        w.out += struct.pack("<HBB", len(raw), vtype, 0)
    for _, raw in values:
        w.out += raw
    w.out.append(0x00)  # EOF: the end of the document
    size = RECORD_HEADER_SIZE + len(w.out) + 4
    head = struct.pack("<IIQQ", 0x2A2A, size, record.record_id, record.time_created)
    return _Encoded(head + bytes(w.out) + struct.pack("<I", size), w.new_names, defined)


# --- Chunks and the file ----------------------------------------------------------------------


class _Chunk:
    def __init__(self) -> None:
        self.records = bytearray()
        self.names: dict[str, int] = {}
        self.templates: dict[tuple[object, ...], tuple[int, int]] = {}
        self.template_offsets: list[tuple[int, int]] = []  # (template id, offset), in order
        self.first_id = self.last_id = 0
        self.last_offset = 0

    def add(self, record: EventRecord) -> bool:
        start = CHUNK_HEADER_SIZE + len(self.records)
        encoded = _encode_record(record, start, self.names, self.templates)
        if start + len(encoded.data) > CHUNK_SIZE:
            return False
        self.records += encoded.data
        self.names.update(encoded.new_names)
        if encoded.template is not None:
            key, template_id, offset = encoded.template
            self.templates[key] = (template_id, offset)
            self.template_offsets.append((template_id, offset))
        if not self.last_offset:
            self.first_id = record.record_id
        self.last_id = record.record_id
        self.last_offset = start
        return True

    def finish(self) -> bytes:
        data = bytearray(CHUNK_HEADER_SIZE) + self.records
        free = len(data)
        data += bytes(CHUNK_SIZE - free)
        # The tables: each bucket points at its first entry, each entry at the next one.
        for table, width, entries in (
            (0x80, 64, [(name_hash(name), offset) for name, offset in self.names.items()]),
            (0x180, 32, self.template_offsets),
        ):
            last: dict[int, int] = {}
            for key, offset in sorted(entries, key=lambda e: e[1]):
                bucket = key % width
                if bucket in last:
                    struct.pack_into("<I", data, last[bucket], offset)
                else:
                    struct.pack_into("<I", data, table + 4 * bucket, offset)
                last[bucket] = offset
        data[0:8] = b"ElfChnk\0"
        struct.pack_into("<QQQQ", data, 8, self.first_id, self.last_id, self.first_id, self.last_id)
        struct.pack_into("<III", data, 40, 128, self.last_offset, free)
        struct.pack_into("<I", data, 52, zlib.crc32(data[CHUNK_HEADER_SIZE:free]))
        struct.pack_into("<I", data, 124, zlib.crc32(bytes(data[:120]) + bytes(data[128:CHUNK_HEADER_SIZE])))
        return bytes(data)


def evtx_bytes(events: Sequence[EventRecord]) -> bytes:
    """A whole .evtx file of the events, in order; record identifiers must increase."""
    chunks: list[bytes] = []
    chunk = _Chunk()
    previous = 0
    for record in events:
        if record.record_id <= previous:
            raise ValueError(f"record identifiers must increase: {record.record_id} after {previous}")
        previous = record.record_id
        if not chunk.add(record):
            if not chunk.last_offset:
                raise ValueError(f"record {record.record_id} does not fit in a chunk")
            chunks.append(chunk.finish())
            chunk = _Chunk()
            if not chunk.add(record):
                raise ValueError(f"record {record.record_id} does not fit in a chunk")
    if chunk.last_offset:
        chunks.append(chunk.finish())
    if len(chunks) > 0xFFFF:
        raise ValueError(f"{len(chunks)} chunks: an .evtx file holds at most 65535")
    header = bytearray(FILE_HEADER_SIZE)
    header[0:8] = b"ElfFile\0"
    # first chunk, last chunk, next record id, header size, minor and major version, header block size, chunks
    struct.pack_into("<QQQIHHHH", header, 8, 0, max(len(chunks) - 1, 0), previous + 1, 128, 1, 3,
                     FILE_HEADER_SIZE, len(chunks))  # fmt: skip
    struct.pack_into("<I", header, 120, 0)  # flags: clean, not full
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header) + b"".join(chunks)


# --- From Event XML ---------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_value(vtype: ValueType, text: str) -> Value:
    """A value of a type from its Event XML text (``0x...`` for HEX32 and HEX64)."""
    if vtype in (ValueType.HEX32, ValueType.HEX64):
        return int(text, 16)
    if vtype in _INT_FORMATS:
        return int(text)
    if vtype is ValueType.BOOL:
        return text.strip().lower() in ("true", "1")
    if vtype is ValueType.GUID:
        return uuid.UUID(text)
    if vtype is ValueType.FILETIME:
        return parse_system_time(text)
    if vtype is ValueType.SYSTEMTIME:
        return _FILETIME_EPOCH + timedelta(microseconds=parse_system_time(text) // 10)
    if vtype is ValueType.BINARY:
        return bytes.fromhex(text)
    if vtype is ValueType.NULL:
        return None
    return text


def records_from_xml(
    events: str | ET.Element | Iterable[ET.Element], data_types: Mapping[str, ValueType] | None = None
) -> list[EventRecord]:
    """Records from Event XML: an ``<Events>`` document or element, an ``<Event>``, or several.

    Every EventData value is a UnicodeString unless ``data_types`` names another type for its
    Data ``Name``. System values take the types ``EventRecord`` lists.
    """
    if isinstance(events, str):
        events = ET.fromstring(events)
    if isinstance(events, ET.Element):
        events = [events] if _local(events.tag) == "Event" else list(events)
    types = data_types or {}
    return [_record_from_xml(event, types) for event in events]


def _record_from_xml(event: ET.Element, types: Mapping[str, ValueType]) -> EventRecord:
    children = {_local(child.tag): child for child in event}
    unknown = set(children) - {"System", "EventData"}
    if unknown:
        raise ValueError(f"only System and EventData are written, not {sorted(unknown)}")
    system = {_local(child.tag): child for child in children["System"]}

    def text(tag: str, default: str = "") -> str:
        elem = system.get(tag)
        return default if elem is None or elem.text is None else elem.text

    def attr(tag: str, name: str) -> str | None:
        elem = system.get(tag)
        return None if elem is None else elem.get(name)

    def guid(tag: str, name: str) -> uuid.UUID | None:
        value = attr(tag, name)
        return None if value is None else uuid.UUID(value)

    time_created = attr("TimeCreated", "SystemTime")
    if time_created is None:
        raise ValueError("an event needs TimeCreated SystemTime")
    qualifiers = attr("EventID", "Qualifiers")
    data: list[DataItem] = []
    if "EventData" in children:
        for item in children["EventData"]:
            name = item.get("Name")
            if _local(item.tag) != "Data" or name is None:
                raise ValueError("EventData holds only named <Data> elements here")
            vtype = types.get(name, ValueType.STRING)
            data.append(DataItem(name, parse_value(vtype, item.text or ""), vtype))
    return EventRecord(
        event_id=int(text("EventID")),
        time_created=parse_system_time(time_created),
        record_id=int(text("EventRecordID")),
        provider_name=attr("Provider", "Name") or "",
        provider_guid=guid("Provider", "Guid"),
        qualifiers=None if qualifiers is None else int(qualifiers),
        version=int(text("Version", "0")),
        level=int(text("Level", "0")),
        task=int(text("Task", "0")),
        opcode=int(text("Opcode", "0")),
        keywords=int(text("Keywords", "0x0"), 16),
        activity_id=guid("Correlation", "ActivityID"),
        related_activity_id=guid("Correlation", "RelatedActivityID"),
        process_id=int(attr("Execution", "ProcessID") or "0"),
        thread_id=int(attr("Execution", "ThreadID") or "0"),
        channel=text("Channel"),
        computer=text("Computer"),
        user_id=attr("Security", "UserID"),
        event_data=data,
    )
