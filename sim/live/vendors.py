r"""The vendor ID payloads each implementation puts in its MM2, where their sources document them.

- Windows (8 and Server 2012 onwards): the six VIDs that ike-scan records from Windows
  responders, in that order: MS NT5 ISAKMPOAKLEY version 9, RFC 3947 NAT-T,
  draft-ietf-ipsec-nat-t-ike-02\n, FRAGMENTATION, MS-Negotiation Discovery Capable, IKE CGA
  version 1. Windows sends them whatever the initiator sent.
- strongSwan (``isakmp_vendor.c``, default settings): XAuth and DPD always; FRAGMENTATION only
  when the initiator sent it; the most preferred NAT-T VID the initiator sent. Its own
  "strongSwan" VID only with ``send_vendor_id`` (off by default), so not here.
- libreswan (``out_v1VID_set`` in ``vendor.c``, default settings): FRAGMENTATION (``ike-frag``
  is allowed by default), DPD last; then the NAT-T VID the initiator sent. Its own VID only with
  ``send-vendorid`` (off by default).
"""

from __future__ import annotations

MS_NT5_V9 = bytes.fromhex("1e2b516905991c7d7c96fcbfb587e46100000009")
NATT_RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")
NATT_DRAFT_02N = bytes.fromhex("90cb80913ebb696e086381b5ec427b1f")
NATT_DRAFT_02 = bytes.fromhex("cd60464335df21f87cfdb2fc68b6a448")
NATT_DRAFT_03 = bytes.fromhex("7d9419a65310ca6f2c179d9215529d56")
FRAGMENTATION = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3")
FRAGMENTATION_STRONGSWAN = FRAGMENTATION + bytes.fromhex("80000000")  # with the capability bits
MS_NEGOTIATION_DISCOVERY = bytes.fromhex("fb1de3cdf341b7ea16b7e5be0855f120")
IKE_CGA_V1 = bytes.fromhex("e3a5966a76379fe707228231e5ce8652")
XAUTH = bytes.fromhex("09002689dfd6b712")
DPD = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")

NATT_PREFERENCE = (NATT_RFC3947, NATT_DRAFT_03, NATT_DRAFT_02, NATT_DRAFT_02N)  # the most preferred first

NAMES = {
    MS_NT5_V9: "MS NT5 ISAKMPOAKLEY (version 9)",
    NATT_RFC3947: "RFC 3947 NAT-T",
    NATT_DRAFT_02N: "draft-ietf-ipsec-nat-t-ike-02\\n",
    NATT_DRAFT_02: "draft-ietf-ipsec-nat-t-ike-02",
    NATT_DRAFT_03: "draft-ietf-ipsec-nat-t-ike-03",
    FRAGMENTATION: "FRAGMENTATION",
    FRAGMENTATION_STRONGSWAN: "FRAGMENTATION",
    MS_NEGOTIATION_DISCOVERY: "MS-Negotiation Discovery Capable",
    IKE_CGA_V1: "IKE CGA version 1",
    XAUTH: "XAuth",
    DPD: "Dead Peer Detection",
}


def _best_natt(offered: list[bytes]) -> list[bytes]:
    return next(([vid] for vid in NATT_PREFERENCE if vid in offered), [])


def vendor_ids(profile: str, offered: list[bytes]) -> list[bytes]:
    """The VIDs a responder of this profile sends in MM2, given the VIDs the initiator's MM1 carried."""
    if profile == "windows":
        return [MS_NT5_V9, NATT_RFC3947, NATT_DRAFT_02N, FRAGMENTATION, MS_NEGOTIATION_DISCOVERY, IKE_CGA_V1]
    if profile == "strongswan":
        fragmentation = [FRAGMENTATION_STRONGSWAN] if any(v.startswith(FRAGMENTATION) for v in offered) else []
        return [XAUTH, DPD, *fragmentation, *_best_natt(offered)]
    if profile == "libreswan":
        return [FRAGMENTATION, DPD, *_best_natt(offered)]
    return []  # a custom schedule is no implementation: no VIDs
