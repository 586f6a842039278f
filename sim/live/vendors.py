"""The vendor IDs each implementation sends: they live in :mod:`sim.wire.vendors`, shared with the captures."""

from __future__ import annotations

from sim.wire.vendors import (
    DPD,
    FRAGMENTATION,
    FRAGMENTATION_STRONGSWAN,
    IKE_CGA_V1,
    MS_NEGOTIATION_DISCOVERY,
    MS_NT5_V9,
    NAMES,
    NATT_DRAFT_02,
    NATT_DRAFT_02N,
    NATT_DRAFT_03,
    NATT_PREFERENCE,
    NATT_RFC3947,
    XAUTH,
    vendor_ids,
)

__all__ = [
    "DPD",
    "FRAGMENTATION",
    "FRAGMENTATION_STRONGSWAN",
    "IKE_CGA_V1",
    "MS_NEGOTIATION_DISCOVERY",
    "MS_NT5_V9",
    "NAMES",
    "NATT_DRAFT_02",
    "NATT_DRAFT_02N",
    "NATT_DRAFT_03",
    "NATT_PREFERENCE",
    "NATT_RFC3947",
    "XAUTH",
    "vendor_ids",
]
