"""The .evtx writer: two independent readers (the Rust ``evtx`` crate and python-evtx) read back what it wrote."""

from __future__ import annotations

import dataclasses
import io
import struct
import uuid
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import sim
from sim.library import scenarios
from sim.outputs import windows
from sim.outputs.evtx_file import (
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    DataItem,
    EventRecord,
    ValueType,
    evtx_bytes,
    name_hash,
    parse_system_time,
    records_from_xml,
)

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(elem: ET.Element, tag: str) -> ET.Element:
    found = next((child for child in elem if _local(child.tag) == tag), None)
    assert found is not None, tag
    return found


def _fields(event: ET.Element) -> dict[str, Any]:
    """What both readers must give back: EventID, TimeCreated (to the microsecond), EventRecordID,
    provider and the EventData (Name, value) pairs in order."""
    system = _find(event, "System")
    provider = _find(system, "Provider")
    stamp = _find(system, "TimeCreated").get("SystemTime", "")
    if " " in stamp:  # python-evtx: "2026-01-01 00:02:07.029999+00:00" (via a float: off by up to 1 us)
        micros = round((datetime.fromisoformat(stamp) - EPOCH_1601).total_seconds() * 1e6)
    else:  # Event XML and the Rust crate: "2026-01-01T00:02:07.030000Z"
        micros = parse_system_time(stamp) // 10
    return {
        "event_id": int(_find(system, "EventID").text or ""),
        "record_id": int(_find(system, "EventRecordID").text or ""),
        "micros": micros,
        "provider": (provider.get("Name"), uuid.UUID(provider.get("Guid", ""))),
        "data": [(d.get("Name"), d.text or "") for d in _find(event, "EventData")],
    }


def _library_events() -> list[tuple[str, list[ET.Element]]]:
    """Every Windows peer's audit events in every library scenario (4653, 4654, 4655, 4976..4978, 4984)."""
    out = []
    for name in scenarios():
        trace = sim.run(name)
        for peer in trace.peers:
            if peer.windows:
                events = windows.audit_events(trace, peer.name)
                if events:
                    out.append((f"{name}/{peer.name}", events))
    return out


def _rust_read(data: bytes) -> list[tuple[int, int, ET.Element]]:
    """(record id, written time as FILETIME, Event) per record, as the Rust crate reads them, CRCs checked."""
    evtx = pytest.importorskip("evtx")
    out = []
    parser = evtx.PyEvtxParser(io.BytesIO(data), validate_checksums=True, indent=False, number_of_threads=1)
    for record in parser.records():
        stamp = datetime.fromisoformat(record["timestamp"].removesuffix(" UTC").replace("Z", "+00:00"))
        ticks = round((stamp - EPOCH_1601).total_seconds() * 1e6) * 10
        out.append((record["event_record_id"], ticks, ET.fromstring(record["data"])))
    return out


def _python_open(data: bytes, tmp_path: Path) -> Any:
    """python-evtx's view of the file (it reads a path, through mmap)."""
    evtx_module = pytest.importorskip("Evtx.Evtx")
    path = tmp_path / f"log-{len(list(tmp_path.iterdir()))}.evtx"
    path.write_bytes(data)
    return evtx_module.Evtx(str(path))


def _python_records(chunk: Any) -> list[tuple[int, int, ET.Element]]:
    """(record id, written FILETIME, Event) per record of a python-evtx chunk; checks the one FILETIME value."""
    nodes = pytest.importorskip("Evtx.Nodes")
    out = []
    for record in chunk.records():
        assert record.verify()  # size == size copy
        event = ET.fromstring(record.xml())
        filetimes = [s for s in record.root().substitutions() if isinstance(s, nodes.FiletimeTypeNode)]
        assert len(filetimes) == 1  # TimeCreated: ikesim's EventData are strings
        assert filetimes[0].unpack_qword(0) == record.unpack_qword(0x10)  # to the tick, not through a float
        out.append((record.record_num(), record.unpack_qword(0x10), event))
    return out


def _expected(events: list[ET.Element]) -> list[tuple[int, int, dict[str, Any]]]:
    return [
        (int(_find(_find(e, "System"), "EventRecordID").text or ""),
         parse_system_time(_find(_find(e, "System"), "TimeCreated").get("SystemTime", "")), _fields(e))
        for e in events
    ]  # fmt: skip


def _check(
    read: list[tuple[int, int, ET.Element]], expected: list[tuple[int, int, dict[str, Any]]], slack_us: int = 0
) -> None:
    """The records match; ``slack_us``: python-evtx renders TimeCreated through a float (its FILETIME value
    itself is checked to the tick in ``_python_records``)."""
    got = [(rid, ticks, _fields(event)) for rid, ticks, event in read]
    assert [abs(g[2].pop("micros") - e[2]["micros"]) <= slack_us for g, e in zip(got, expected, strict=True)] == [
        True
    ] * len(expected)
    assert got == [(rid, ticks, {k: v for k, v in fields.items() if k != "micros"}) for rid, ticks, fields in expected]


# --- Both readers, real events ----------------------------------------------------------------


def test_library_events_read_back_by_both_parsers(tmp_path: Path) -> None:
    """The Rust crate reads every Windows peer's log of every library scenario; python-evtx (slow: some
    15 ms a record) one log of each kind (each set of event IDs), among them the 15 4654s of one peer."""
    cases = _library_events()
    kinds: dict[frozenset[int], list[ET.Element]] = {}
    for _, events in cases:
        ids = frozenset(int(_find(_find(e, "System"), "EventID").text or "") for e in events)
        if len(events) > len(kinds.get(ids, [])):
            kinds[ids] = events  # the longest log of each kind
    assert frozenset().union(*kinds) >= {4653, 4654, 4655, 4976, 4984}
    assert max(len(events) for events in kinds.values()) >= 15
    for _, events in cases:
        data = evtx_bytes(records_from_xml(events))
        _check(_rust_read(data), _expected(events))
    for events in kinds.values():
        data = evtx_bytes(records_from_xml(events))
        with _python_open(data, tmp_path) as log:
            assert log.get_file_header().verify()  # magic, version 3.1, block size, header CRC
            chunks = list(log.chunks())
            assert all(chunk.verify() for chunk in chunks)  # magic, header and data CRCs
            _check([r for chunk in chunks for r in _python_records(chunk)], _expected(events), slack_us=2)


def test_events_xml_document_converts_like_the_elements() -> None:
    trace = sim.run("mm-peer-stops-responding")
    text = windows.events_xml(trace, "client")
    from_text = records_from_xml(text)
    assert from_text == records_from_xml(ET.fromstring(text)) == records_from_xml(windows.audit_events(trace, "client"))
    assert [r.event_id for r in from_text] == [4654, 4655]
    first = from_text[0]
    assert first.provider_guid == uuid.UUID("54849625-5478-4994-a5ba-3e3b0328c30d")
    assert (first.keywords, first.process_id, first.thread_id) == (0x8010000000000000, 828, 1024)
    assert (first.channel, first.computer, first.task) == ("Security", "client", 12549)
    assert first.time_created == parse_system_time("2026-01-01T00:02:07.0300000Z")


def _many_records(count: int) -> list[EventRecord]:
    base = [r for _, events in _library_events() for r in records_from_xml(events)]
    return [
        dataclasses.replace(base[i % len(base)], record_id=i + 1, time_created=base[0].time_created + i * 10_000)
        for i in range(count)
    ]


def _chunk(data: bytes, index: int) -> bytes:
    return data[FILE_HEADER_SIZE + index * CHUNK_SIZE : FILE_HEADER_SIZE + (index + 1) * CHUNK_SIZE]


def _record_offsets(chunk: bytes) -> list[int]:
    free = struct.unpack_from("<I", chunk, 48)[0]
    offsets, offset = [], 512
    while offset < free:
        offsets.append(offset)
        offset += struct.unpack_from("<I", chunk, offset + 4)[0]
    assert offset == free
    return offsets


def test_thousands_of_records_span_chunks(tmp_path: Path) -> None:
    records = _many_records(3000)
    data = evtx_bytes(records)
    chunk_count = (len(data) - FILE_HEADER_SIZE) // CHUNK_SIZE
    assert len(data) == FILE_HEADER_SIZE + chunk_count * CHUNK_SIZE
    assert chunk_count > 20
    assert struct.unpack_from("<QQQ", data, 8) == (0, chunk_count - 1, 3001)
    assert struct.unpack_from("<H", data, 42)[0] == chunk_count

    # The Rust crate reads every record, in order, from every chunk (CRCs checked).
    read = _rust_read(data)
    assert [rid for rid, _, _ in read] == list(range(1, 3001))
    for (rid, ticks, event), record in zip(read, records, strict=True):
        assert (rid, ticks) == (record.record_id, record.time_created)
        assert _fields(event)["event_id"] == record.event_id
        assert _fields(event)["data"] == [(item[0], item[1]) for item in record.event_data]

    # Chunk boundaries: identifiers carry on, each chunk defines its templates and names anew.
    previous_last = 0
    for index in range(chunk_count):
        chunk = _chunk(data, index)
        first, last, first_id, last_id = struct.unpack_from("<QQQQ", chunk, 8)
        offsets = _record_offsets(chunk)
        assert (first, first_id) == (previous_last + 1,) * 2
        assert (last, last_id) == (first + len(offsets) - 1,) * 2
        assert struct.unpack_from("<I", chunk, 44)[0] == offsets[-1]
        # The first record holds its template inline: the instance points right after itself.
        assert chunk[offsets[0] + 24 : offsets[0] + 30] == b"\x0f\x01\x01\x00\x0c\x01"
        assert struct.unpack_from("<I", chunk, offsets[0] + 34)[0] == offsets[0] + 38
        assert any(struct.unpack_from("<32I", chunk, 0x180))  # the template table
        if index + 1 < chunk_count:  # not closed early: less room is left than the next record takes
            free = struct.unpack_from("<I", chunk, 48)[0]
            assert CHUNK_SIZE - free < struct.unpack_from("<I", _chunk(data, index + 1), 512 + 4)[0]
        previous_last = last

    # python-evtx: every CRC and record header; the records on both sides of two chunk boundaries,
    # and the last one, rendered (it finds the templates and names of a chunk through its tables).
    with _python_open(data, tmp_path) as log:
        assert log.get_file_header().verify()
        chunks = list(log.chunks())
        assert len(chunks) == chunk_count
        assert all(chunk.verify() for chunk in chunks)
        headers = [(r.record_num(), r.unpack_qword(0x10)) for chunk in chunks for r in chunk.records()]
        assert headers == [(r.record_id, r.time_created) for r in records]
        sides = [list(chunk.records()) for chunk in (chunks[0], chunks[1], chunks[-1])]
        for picked in (sides[0][-2:] + sides[1][:2], [*sides[1][-1:], next(chunks[2].records())], sides[2][-1:]):
            for python_record in picked:
                record = records[python_record.record_num() - 1]
                event = ET.fromstring(python_record.xml())
                assert _fields(event)["event_id"] == record.event_id
                assert _fields(event)["record_id"] == record.record_id
                assert _fields(event)["data"] == [(item[0], item[1]) for item in record.event_data]


# --- CRCs, header fields, determinism ---------------------------------------------------------


def test_crc_fields() -> None:
    data = evtx_bytes(_many_records(400))
    assert struct.unpack_from("<I", data, 124)[0] == zlib.crc32(data[:120])
    chunk_count = struct.unpack_from("<H", data, 42)[0]
    assert chunk_count >= 3
    for index in range(chunk_count):
        chunk = _chunk(data, index)
        free = struct.unpack_from("<I", chunk, 48)[0]
        assert struct.unpack_from("<I", chunk, 52)[0] == zlib.crc32(chunk[512:free])
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
        assert chunk[free:] == bytes(CHUNK_SIZE - free)


@pytest.mark.parametrize("where", ["record", "chunk header", "string table"])
def test_the_rust_reader_rejects_a_damaged_chunk(where: str) -> None:
    evtx = pytest.importorskip("evtx")
    data = bytearray(evtx_bytes(_many_records(50)))
    data[FILE_HEADER_SIZE + {"record": 700, "chunk header": 20, "string table": 0x90}[where]] ^= 0x01
    with pytest.raises(RuntimeError, match="CRC32 invalid"):
        list(evtx.PyEvtxParser(io.BytesIO(bytes(data)), validate_checksums=True).records())


def test_tiny_file_header_fields() -> None:
    """One event, every header field checked by hand."""
    trace = sim.run("mm-peer-stops-responding")
    data = evtx_bytes(records_from_xml(windows.audit_events(trace, "client")[:1]))
    assert len(data) == 4096 + 65536
    # File header: magic, first chunk 0, last chunk 0, next record id 2, header size 128,
    # minor version 1, major version 3, header block size 4096, 1 chunk, flags 0, CRC32 of bytes 0..120.
    assert data[:8] == b"ElfFile\x00"
    assert struct.unpack_from("<QQQIHHHH", data, 8) == (0, 0, 2, 128, 1, 3, 4096, 1)
    assert data[44:120] == bytes(76)
    assert struct.unpack_from("<II", data, 120) == (0, zlib.crc32(data[:120]))
    assert data[128:4096] == bytes(4096 - 128)
    chunk = data[4096:]
    size = struct.unpack_from("<I", chunk, 512 + 4)[0]
    # Chunk header: magic, record numbers 1..1, record ids 1..1, header size 128, last record at 512,
    # free space after it.
    assert chunk[:8] == b"ElfChnk\x00"
    assert struct.unpack_from("<QQQQIII", chunk, 8) == (1, 1, 1, 1, 128, 512, 512 + size)
    assert chunk[56:124] == bytes(68)  # unknown, and flags 0
    # The record: magic, size, id 1, written 2026-01-01T00:02:07.03Z as a FILETIME, size again.
    # (the Unix epoch is FILETIME 116444736000000000; 2026-01-01 is Unix time 1767225600)
    written = 116_444_736_000_000_000 + (1_767_225_600 + 127) * 10**7 + 300_000
    assert struct.unpack_from("<IIQQ", chunk, 512) == (0x2A2A, size, 1, written)
    assert struct.unpack_from("<I", chunk, 512 + size - 4)[0] == size
    # BinXml: fragment header 1.1, template instance with its definition right after it (at 550).
    binxml = chunk[536 : 512 + size - 4]
    assert binxml[:6] == b"\x0f\x01\x01\x00\x0c\x01"
    template_id, offset = struct.unpack_from("<II", binxml, 6)
    assert offset == 536 + 14 == 550
    assert struct.unpack_from("<I", chunk, 550 + 4)[0] == template_id  # the GUID's first 4 bytes
    assert struct.unpack_from("<32I", chunk, 0x180) == tuple(550 if b == template_id % 32 else 0 for b in range(32))
    definition_size = struct.unpack_from("<I", chunk, 550 + 20)[0]
    body = chunk[574 : 574 + definition_size]
    assert body[:4] == b"\x0f\x01\x01\x00"
    assert body[-1] == 0  # EOF
    # <Event: OpenStartElement with attributes, no dependency, then its name inline (at 574 + 15).
    assert body[4] == 0x41
    assert struct.unpack_from("<HII", body, 5) == (0xFFFF, definition_size - 4 - 7 - 1, 574 + 15)
    assert struct.unpack_from("<IHH", body, 15) == (0, name_hash("Event"), 5)
    assert body[23:35].decode("utf-16-le") == "Event" + "\0"
    # Every name is in the string table, in the bucket of its hash.
    names = _string_table(chunk)
    assert names[589] == "Event"
    assert {"System", "Provider", "EventID", "TimeCreated", "EventData", "Data", "Name", "xmlns"} <= set(names.values())
    # The values follow the definition: 14 System values and this 4654's 21 EventData values (version 1).
    values_at = 574 + definition_size
    assert struct.unpack_from("<I", chunk, values_at)[0] == 14 + 21
    assert struct.unpack_from("<HBB", chunk, values_at + 4) == (len("Microsoft-Windows-Security-Auditing") * 2, 0x01, 0)


def _string_table(chunk: bytes) -> dict[int, str]:
    names = {}
    for bucket, head in enumerate(struct.unpack_from("<64I", chunk, 0x80)):
        offset = head
        while offset:
            following, hashed, length = struct.unpack_from("<IHH", chunk, offset)
            name = chunk[offset + 8 : offset + 8 + 2 * length].decode("utf-16-le")
            assert (hashed, hashed % 64) == (name_hash(name), bucket)
            names[offset] = name
            offset = following
    return names


def test_name_hash() -> None:
    # hash = hash * 65599 + code unit, kept to 16 bits
    assert name_hash("") == 0
    assert name_hash("A") == 0x41
    assert name_hash("AB") == (0x41 * 65599 + 0x42) & 0xFFFF
    assert name_hash("Event") == _hash_by_hand("Event")


def _hash_by_hand(text: str) -> int:
    value = 0
    for char in text:
        value = value * 65599 + ord(char)
    return value % 65536


def test_same_events_same_bytes() -> None:
    first = evtx_bytes(records_from_xml(windows.audit_events(sim.run("ikev2-inner-ip-pool-exhausted"), "gateway")))
    again = evtx_bytes(records_from_xml(windows.audit_events(sim.run("ikev2-inner-ip-pool-exhausted"), "gateway")))
    assert first == again
    records = _many_records(400)
    assert evtx_bytes(records) == evtx_bytes(list(records))


def test_empty_log(tmp_path: Path) -> None:
    data = evtx_bytes([])
    assert len(data) == 4096
    assert struct.unpack_from("<QQQIHHHH", data, 8) == (0, 0, 1, 128, 1, 3, 4096, 0)
    assert _rust_read(data) == []
    with _python_open(data, tmp_path) as log:
        assert log.get_file_header().verify()
        assert list(log.records()) == []


# --- Value types ------------------------------------------------------------------------------

V = ValueType
GUID = uuid.UUID("54849625-5478-4994-a5ba-3e3b0328c30d")
TYPED = EventRecord(
    event_id=4624, time_created=parse_system_time("2026-03-04T05:06:07.1234560Z"), record_id=7,
    provider_name="Microsoft-Windows-Security-Auditing", provider_guid=GUID, qualifiers=16384,
    keywords=0x8020000000000000, activity_id=uuid.UUID(int=2), user_id="S-1-5-21-1-2-3-500",
    channel="Security", computer="hôte", event_data=[
        DataItem("S", "", V.STRING), DataItem("U", "<a&b> ünï", V.STRING), DataItem("u8", 255, V.UINT8),
        DataItem("u16", 65535, V.UINT16), DataItem("u32", 2**32 - 1, V.UINT32), DataItem("u64", 2**64 - 1, V.UINT64),
        DataItem("i32", -5, V.INT32), DataItem("h32", 0xDEADBEEF, V.HEX32), DataItem("h64", 0x80100000 << 32, V.HEX64),
        DataItem("g", GUID, V.GUID), DataItem("sid", "S-1-5-18", V.SID),
        DataItem("ft", datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC), V.FILETIME),
        DataItem("st", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), V.SYSTEMTIME), DataItem("b", True, V.BOOL),
    ],
)  # fmt: skip
# What each reader writes for TYPED's values (where the two differ, both are given).
RUST_TEXT = ["", "<a&b> ünï", "255", "65535", "4294967295", "18446744073709551615", "-5", "0xdeadbeef",
             "0x8010000000000000", "54849625-5478-4994-A5BA-3E3B0328C30D", "S-1-5-18", "2026-01-02T03:04:05.678900Z",
             "2026-01-02T03:04:05.000000Z", "true"]  # fmt: skip
PYTHON_TEXT = [*RUST_TEXT[:9], "{54849625-5478-4994-a5ba-3e3b0328c30d}", "S-1-5-18", "2026-01-02 03:04:05.678898+00:00",
               "2026-01-02 03:04:05", "True"]  # fmt: skip


def test_typed_values_read_back(tmp_path: Path) -> None:
    data = evtx_bytes([TYPED])
    [(rid, ticks, event)] = _rust_read(data)
    assert (rid, ticks) == (7, TYPED.time_created)
    system = _find(event, "System")
    assert _find(system, "EventID").get("Qualifiers") == "16384"
    assert _find(system, "Security").get("UserID") == "S-1-5-21-1-2-3-500"
    assert uuid.UUID(_find(system, "Correlation").get("ActivityID", "")) == uuid.UUID(int=2)
    assert _find(system, "Computer").text == "hôte"
    assert [d.text or "" for d in _find(event, "EventData")] == RUST_TEXT
    with _python_open(data, tmp_path) as log:
        [record] = list(log.records())
        event = ET.fromstring(record.xml())
        assert [d.text or "" for d in _find(event, "EventData")] == PYTHON_TEXT
        assert _find(_find(event, "System"), "Computer").text == "hôte"


def test_typed_data_from_xml() -> None:
    trace = sim.run("mm-wrong-preshared-key")
    [event] = windows.audit_events(trace, "client")
    types = {"LocalKeyModPort": V.UINT16, "MMFilterID": V.UINT64}
    [record] = records_from_xml(event, types)
    by_name = {item.name: item for item in record.event_data}
    assert by_name["LocalKeyModPort"] == DataItem("LocalKeyModPort", 500, V.UINT16)
    assert by_name["KeyModName"].type is V.STRING
    [(_, _, back)] = _rust_read(evtx_bytes([record]))
    assert _fields(back)["data"] == _fields(event)["data"]


def test_bad_input_is_refused() -> None:
    [one] = records_from_xml(windows.audit_events(sim.run("mm-peer-stops-responding"), "client")[:1])
    with pytest.raises(ValueError, match="must increase"):
        evtx_bytes([one, one])
    with pytest.raises(ValueError, match="does not fit"):
        evtx_bytes([dataclasses.replace(one, event_data=[DataItem("Big", "x" * 30_000)] * 2)])
    with pytest.raises(ValueError, match="does not fit UINT8"):
        evtx_bytes([dataclasses.replace(one, event_data=[DataItem("N", 256, V.UINT8)])])
    with pytest.raises(TypeError):
        evtx_bytes([dataclasses.replace(one, event_data=[DataItem("N", "1", V.UINT32)])])
