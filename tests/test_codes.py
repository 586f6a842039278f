"""The packaged catalog against the reference, lookups, and the made-up names."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim import codes
from sim.codes import IkeCode, UnknownCodeError, lookup

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ike_codes.csv"
PACKAGED = Path(codes.__file__).parent / "data" / "ike_codes.csv"
MINGW_HEADER = Path("/usr/share/mingw-w64/include/winerror.h")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_catalog_has_all_110_defines_in_order():
    entries = codes.all_codes()
    assert [e.code for e in entries] == list(range(13800, 13910))


def test_catalog_equals_packaged_csv_row_by_row():
    for row, entry in zip(_rows(PACKAGED), codes.all_codes(), strict=True):
        assert (entry.code, entry.hex, entry.name, entry.message) == (
            int(row["code"]),
            row["hex"],
            row["name"],
            row["message"],
        )


@pytest.mark.skipif(
    not REFERENCE.exists(),
    reason="the project's reference copy of the catalog (the shared folder beside the repository) is absent; "
    "the packaged sim/data/ike_codes.csv is still checked row by row",
)
def test_packaged_csv_is_an_exact_copy_of_the_reference():
    assert PACKAGED.read_bytes() == REFERENCE.read_bytes()


def test_enum_names_and_values_match_the_catalog():
    assert len(IkeCode) == 110
    for entry in codes.all_codes():
        member = IkeCode(entry.code)
        assert entry.name.endswith("_" + member.name)
        assert member.__doc__ == entry.message


def test_numbers_are_derived_correctly():
    entry = lookup(13886)
    assert entry.hex == "0x363E"
    assert entry.hresult == "0x8007363E"
    assert entry.name == "ERROR_IPSEC_IKE_PEER_MM_ASSUMED_INVALID"
    assert entry.message == "Main mode SA assumed to be invalid because peer stopped responding."


def test_markers_are_exactly_the_three_range_bounds():
    assert [e.code for e in codes.all_codes() if e.marker] == [13800, 13897, 13909]
    assert all(e.marker_note for e in codes.all_codes() if e.marker)
    assert 13897 - 13800 == 97  # IKEEXT_ERROR_CODE_COUNT


def test_every_code_has_a_category():
    assert {e.category for e in codes.all_codes()} == set(codes.Category)


def _forms(entry: codes.CodeInfo) -> list[str | int]:
    return [
        entry.code,
        str(entry.code),
        entry.hex,
        entry.hex.lower(),
        entry.hresult,
        str(0x80070000 | entry.code),
        str((0x80070000 | entry.code) - (1 << 32)),  # signed HRESULT
        entry.name,
        entry.name.lower(),
        entry.short_name,
        entry.short_name.lower(),
    ]


@given(st.sampled_from(codes.all_codes()), st.data())
def test_every_lookup_form_round_trips(entry, data):
    form = data.draw(st.sampled_from(_forms(entry)))
    assert lookup(form) == entry


@pytest.mark.parametrize(
    ("false_name", "real"),
    [
        ("ERROR_IPSEC_IKE_SA_REKEYED", "COEXISTENCE_SUPPRESS"),
        ("ERROR_IPSEC_IKE_PEER_MM_NO_RESPONSE", "CERT_CHAIN_POLICY_MISMATCH"),
        ("ERROR_IPSEC_IKE_AUTHENTICATION_FAILURE", "DOS_COOKIE_SENT"),
        ("ERROR_IPSEC_IKE_CERTIFICATE_PROBLEM", "SHUTTING_DOWN"),
        ("ERROR_IPSEC_IKE_INNER_ADDRESS_NOT_FOUND", "NEG_STATUS_END"),
        ("ERROR_IPSEC_IKE_OUTER_ADDRESS_MISMATCH", "QM_EXPIRED"),
        ("ERROR_IPSEC_IKE_SECURITY_ASSOCIATION_FAILURE", "INVALID_MM_FOR_QM"),
        ("ERROR_IPSEC_IKE_NEG_STATUS_AUTH_FAILED", None),
        ("ERROR_IPSEC_IKE_NEG_STATUS_CERT", None),
        ("ERROR_IPSEC_IKE_NEG_STATUS_CONNECT_FAILED", None),
    ],
)
def test_false_names_fail_and_name_the_real_code(false_name, real):
    for form in (false_name, false_name.removeprefix("ERROR_IPSEC_IKE_"), false_name.lower()):
        with pytest.raises(UnknownCodeError, match="not a Windows name") as raised:
            lookup(form)
        if real is not None:
            assert real in str(raised.value)


@pytest.mark.parametrize(
    "bad",
    [13799, 13910, 0, -1, "13799", "0x35E7", "0x80070001", "0x80040000", "0xFFFFFFFF", "", "  ",
     "NOT_A_CODE", "ERROR_IPSEC_AUTH_FAIL", "ERROR_IPSEC_IKE_KEY_MODULE_IMPERSONATION_NEGOTIATION_PENDING",
     "0x", "12.5", True],
)  # fmt: skip
def test_unknown_input_is_an_error_not_a_guess(bad):
    with pytest.raises(UnknownCodeError):
        lookup(bad)


def test_key_module_define_keeps_its_own_prefix():
    entry = lookup("ERROR_IPSEC_KEY_MODULE_IMPERSONATION_NEGOTIATION_PENDING")
    assert entry.code == 13901
    assert lookup("KEY_MODULE_IMPERSONATION_NEGOTIATION_PENDING") == entry


@pytest.mark.skipif(not MINGW_HEADER.exists(), reason="mingw-w64-common is not installed (no winerror.h)")
def test_catalog_agrees_with_the_mingw_header():
    text = MINGW_HEADER.read_text(encoding="utf-8", errors="replace")
    found = {
        name: int(value, 0)
        for name, value in re.findall(
            r"#define\s+(ERROR_IPSEC_(?:IKE|KEY_MODULE)_\w+)\s+(?:__MSABI_LONG\()?(0x[0-9A-Fa-f]+|\d+)", text
        )
        if 13800 <= int(value, 0) <= 13909
    }
    ours = {e.name: e.code for e in codes.all_codes()}
    missing_from_mingw = set(ours) - set(found)
    assert missing_from_mingw == {
        "ERROR_IPSEC_IKE_SIMULTANEOUS_REKEY",
        "ERROR_IPSEC_IKE_CRITICAL_PAYLOAD_NOT_RECOGNIZED",
        "ERROR_IPSEC_IKE_INVALID_MAJOR_VERSION",
    }
    assert {name: found[name] for name in found} == {name: ours[name] for name in found}
