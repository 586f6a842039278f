r"""The vendor IDs and IKE_SA_INIT notifies each implementation sends, where their sources document them.

IKEv1 main mode, MM1 (what an initiator of the profile sends, whatever the responder):

- Windows (8 / Server 2012 onwards): eight VIDs, in this order: ``01528bbb...00000001`` (a
  Microsoft VID no public source names), MS NT5 ISAKMPOAKLEY version 9, RFC 3947 NAT-T,
  draft-ietf-ipsec-nat-t-ike-02\n, FRAGMENTATION, MS-Negotiation Discovery Capable,
  Vid-Initial-Contact, IKE CGA version 1. Sources: a Windows L2TP/IPsec client's MM1 logged by
  strongSwan in the pfSense documentation (pfsense/docs, L2TP example logs: ``parsed ID_PROT
  request 0 [ SA V V V V V V V V ]``, the VIDs in this order), the same MM1 as raw bytes in
  public scanning code (``ipsec_payload_7cs``), libreswan users' logs (``ignoring Vendor ID
  payload [MS NT5 ISAKMPOAKLEY 00000009]``); [MS-IKEE] 3.2.4 (the two NAT-T VIDs in message #1)
  and 3.4.5.1 (IKE CGA version 1).
- strongSwan 5.9.8 (``isakmp_vendor.c`` ``build()``, default settings): XAuth and DPD (``send``
  set), FRAGMENTATION with the capability bits 0x80000000 (``fragmentation`` defaults to yes),
  then the NAT-T VIDs marked ``send``: RFC 3947 and draft-ietf-ipsec-nat-t-ike-02\n. Its
  "strongSwan" VID only with ``send_vendor_id`` (off by default). The interop recordings agree:
  ``SA V V V V V``, 180 bytes.
- libreswan 4.10 (``main_outI1`` in ``ikev1_main.c``): ``out_v1VID_set()`` (``ikev1_vendorid.c``:
  FRAGMENTATION, ``ike-frag`` allowed by default; DPD last and unconditional), then
  ``nat_traversal_insert_vid()`` (``ikev1_nat.c``, ``nat-ikev1-method=both`` by default): RFC 3947,
  draft-03, draft-02\n, draft-02. 204 bytes in the interop recording, as these six give.

MM2 (what a responder sends, given the VIDs of the MM1 it answers):

- Windows: the six VIDs that ike-scan records from Windows responders, in that order: MS NT5
  ISAKMPOAKLEY version 9, RFC 3947 NAT-T, draft-ietf-ipsec-nat-t-ike-02\n, FRAGMENTATION,
  MS-Negotiation Discovery Capable, IKE CGA version 1, whatever the initiator sent.
- strongSwan (``isakmp_vendor.c``): XAuth and DPD always; FRAGMENTATION only when the initiator
  sent it; the most preferred NAT-T VID the initiator sent.
- libreswan (``main_inI1_outR1``: ``out_v1VID_set()``, then the best NAT-T VID received):
  FRAGMENTATION, DPD; then the NAT-T VID the initiator sent.

NAT-D payloads (RFC 3947) follow in MM3 and MM4 when both MM1 and MM2 carried the RFC 3947 VID
(see :func:`nat_d`).

IKEv2 IKE_SA_INIT (the notifies besides SA, KE and the nonce, and the VIDs, in wire order; the
NAT_DETECTION_* notifies' data is computed from the SPIs and addresses by the message builder):

- strongSwan 5.9.8 request (``ike_init.c`` ``build_payloads()``, ``ike_natd.c``, recorded in
  ``tests/data/interop/v2-success.json``): N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP),
  N(IKEV2_FRAGMENTATION_SUPPORTED), N(SIGNATURE_HASH_ALGORITHMS: SHA2-256, SHA2-384, SHA2-512,
  Identity, ``send_supported_hash_algorithms()``, the 464 bytes recorded), N(REDIRECT_SUPPORTED).
  Response: the NAT detection pair, FRAGMENTATION and SIGNATURE_HASH_ALGORITHMS when the request
  had them, CHILDLESS_IKEV2_SUPPORTED, MULTIPLE_AUTH_SUPPORTED (472 bytes recorded).
- libreswan 4.10 (``ikev2_ike_sa_init.c``, a pre-shared key connection): request
  N(IKEV2_FRAGMENTATION_SUPPORTED), then the NAT detection pair (440 bytes recorded); response
  N(IKEV2_FRAGMENTATION_SUPPORTED), the NAT detection pair, N(CHILDLESS_IKEV2_SUPPORTED) (448
  bytes recorded).
- Windows (10 and 11) request: the NAT detection pair, then four VIDs: MS NT5 ISAKMPOAKLEY
  version 9, MS-Negotiation Discovery Capable, Vid-Initial-Contact, ``01528bbb...00000002``
  (strongSwan's log of a Windows client, ``parsed IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP)
  N(NATD_D_IP) V V V V ]``, and Zeek's spicy-ipsec analyser README, corelight/zeek-spicy-ipsec,
  on a public Windows client capture). No public capture of a Windows IKEv2 responder was
  found: its response carries the NAT detection pair only (RFC 7296 2.23), no VIDs.

What the encrypted messages carry besides what RFC 2409 / RFC 7296 require, and the port they
travel on (measured with the interop harness, ``make interop``; see docs/fixtures.md):

- strongSwan 5.9.8 IKEv1: MM5 ends with N(INITIAL-CONTACT), the cookie pair as its SPI, when the
  initiator has no other IKE SA with the peer (``main_mode.c`` ``add_initial_contact()``: a
  remote identity without wildcards, ``unique`` not ``never``, no ``has_contact()``; recorded
  ``ID HASH N(INITIAL_CONTACT)``, 108 bytes). Quick mode carries IDci / IDcr in QM1 and QM2
  (``quick_mode.c`` ``add_ts()``, unconditional; recorded ``HASH SA No ID ID``).
- libreswan 4.10 IKEv1: no INITIAL-CONTACT in MM5 (measured: pluto's MM5 is ``ID HASH``, 92
  bytes); IDci / IDcr in QM1 when the connection has subnets (measured, 188 bytes), which
  ikesim's any-to-any selectors are.
- strongSwan 5.9.8 IKE_AUTH request (``message.c`` ``ike_auth_i_order``, ``ike_auth.c``,
  ``ike_mobike.c``; recorded ``IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr N(MOBIKE_SUP)
  N(NO_ADD_ADDR) N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP)``, 288 bytes): IDr (a configured
  remote identity), INITIAL_CONTACT as for IKEv1, MOBIKE_SUPPORTED and NO_ADDITIONAL_ADDRESSES
  (``mobike`` defaults to yes; one address), MULTIPLE_AUTH_SUPPORTED only when the IKE_SA_INIT
  response announced it (absent against pluto, recorded), EAP_ONLY_AUTHENTICATION,
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED. Response: MOBIKE_SUPPORTED and NO_ADDITIONAL_ADDRESSES after
  TSr when the request announced MOBIKE (recorded ``IDr AUTH SA TSi TSr N(MOBIKE_SUP)
  N(NO_ADD_ADDR)``, 240 bytes; none to pluto's request, measured).
- libreswan 4.10 IKE_AUTH: request ``IDi IDr AUTH SA TSi TSr`` (measured, 240 bytes: no
  notifies, ``mobike`` and ``initial-contact`` default to no), response ``IDr AUTH SA TSi TSr``.
- Ports: a strongSwan IKEv2 initiator moves to UDP 4500 for IKE_AUTH and everything after when
  the IKE_SA_INIT response carried NAT detection, NAT or not (``ike_natd.c`` ``process_i()``:
  "we switch to port 4500 even if no NAT is detected", with MOBIKE enabled; measured both with
  and without ``kernel-libipsec``). IKEv1 (strongSwan ``isakmp_natd.c``, libreswan) and a
  libreswan IKEv2 initiator move only when NAT-D shows a NAT (pluto to pluto stays on 500,
  measured); ikesim models no NAT. Windows: no source known to ikesim says it moves without NAT.
- Windows: none of the above is assumed (no public capture of its encrypted messages).

A custom schedule is no implementation: no VIDs and no notifies beyond what the trace names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sim.wire import payloads as p

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
VID_INITIAL_CONTACT = bytes.fromhex("26244d38eddb61b3172a36e3d0cfb819")  # MD5("Vid-Initial-Contact")
MS_UNNAMED_V1 = bytes.fromhex("01528bbbc00696121849ab9a1c5b2a5100000001")  # Windows IKEv1 MM1, first VID
MS_UNNAMED_V2 = bytes.fromhex("01528bbbc00696121849ab9a1c5b2a5100000002")  # Windows IKE_SA_INIT, last VID

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
    VID_INITIAL_CONTACT: "Vid-Initial-Contact",
    MS_UNNAMED_V1: "Microsoft 01528bbb (1)",
    MS_UNNAMED_V2: "Microsoft 01528bbb (2)",
}

# IKEv2 notify message types (RFC 7296 3.10.1 and the IANA registry).
NAT_DETECTION_SOURCE_IP = 16388
NAT_DETECTION_DESTINATION_IP = 16389
MULTIPLE_AUTH_SUPPORTED = 16404  # RFC 4739
REDIRECT_SUPPORTED = 16406  # RFC 5685
CHILDLESS_IKEV2_SUPPORTED = 16418  # RFC 6023
INITIAL_CONTACT = 16384  # RFC 7296 3.10.1
MOBIKE_SUPPORTED = 16396  # RFC 4555
NO_ADDITIONAL_ADDRESSES = 16399  # RFC 4555
EAP_ONLY_AUTHENTICATION = 16417  # RFC 5998
IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420  # RFC 6311
INITIAL_CONTACT_V1 = 24578  # RFC 2407 4.6.3.3, IKEv1's (DOI IPsec)
IKEV2_FRAGMENTATION_SUPPORTED = 16430  # RFC 7383
SIGNATURE_HASH_ALGORITHMS = 16431  # RFC 7427
NAT_DETECTION = (NAT_DETECTION_SOURCE_IP, NAT_DETECTION_DESTINATION_IP)
# SHA2-256, SHA2-384, SHA2-512, Identity (RFC 7427 / RFC 8420): strongSwan's default set, in its order.
STRONGSWAN_HASH_ALGORITHMS = bytes.fromhex("0002000300040005")


def _family(profile: str) -> str:
    return "windows" if profile.startswith("windows") or profile == "authip" else profile


def _best_natt(offered: Sequence[bytes]) -> list[bytes]:
    return next(([vid] for vid in NATT_PREFERENCE if vid in offered), [])


def initiator_vendor_ids(profile: str) -> list[bytes]:
    """The VIDs an initiator of this profile sends in MM1, in their order."""
    family = _family(profile)
    if family == "windows":
        return [MS_UNNAMED_V1, MS_NT5_V9, NATT_RFC3947, NATT_DRAFT_02N, FRAGMENTATION, MS_NEGOTIATION_DISCOVERY,
                VID_INITIAL_CONTACT, IKE_CGA_V1]  # fmt: skip
    if family == "strongswan":
        return [XAUTH, DPD, FRAGMENTATION_STRONGSWAN, NATT_RFC3947, NATT_DRAFT_02N]
    if family == "libreswan":
        return [FRAGMENTATION, DPD, NATT_RFC3947, NATT_DRAFT_03, NATT_DRAFT_02N, NATT_DRAFT_02]
    return []


def vendor_ids(profile: str, offered: Sequence[bytes]) -> list[bytes]:
    """The VIDs a responder of this profile sends in MM2, given the VIDs the initiator's MM1 carried."""
    family = _family(profile)
    if family == "windows":
        return [MS_NT5_V9, NATT_RFC3947, NATT_DRAFT_02N, FRAGMENTATION, MS_NEGOTIATION_DISCOVERY, IKE_CGA_V1]
    if family == "strongswan":
        fragmentation = [FRAGMENTATION_STRONGSWAN] if any(v.startswith(FRAGMENTATION) for v in offered) else []
        return [XAUTH, DPD, *fragmentation, *_best_natt(offered)]
    if family == "libreswan":
        return [FRAGMENTATION, DPD, *_best_natt(offered)]
    return []  # a custom schedule is no implementation: no VIDs


def nat_d(mm1: Sequence[bytes], mm2: Sequence[bytes]) -> bool:
    """True when MM3 and MM4 carry NAT-D payloads: both sides announced RFC 3947 (RFC 3947 section 3)."""
    return NATT_RFC3947 in mm1 and NATT_RFC3947 in mm2


def nat_d_hash(hash_name: str, icookie: bytes, rcookie: bytes, address: bytes, port: int) -> bytes:
    """RFC 3947 section 3.2: HASH(CKY-I | CKY-R | IP | Port), with the negotiated hash (not its HMAC)."""
    return hashlib.new(hash_name, icookie + rcookie + address + port.to_bytes(2, "big")).digest()


def nat_detection(spi_i: bytes, spi_r: bytes, address: bytes, port: int) -> bytes:
    """RFC 7296 section 2.23: SHA-1(SPIi | SPIr | IP | Port); SPIr is zero in the IKE_SA_INIT request."""
    return hashlib.sha1(spi_i + spi_r + address + port.to_bytes(2, "big")).digest()


@dataclass(frozen=True, slots=True)
class Extra:
    """A notify (``notify`` its type) or, with ``notify`` None, a vendor ID (``data`` its value).

    The data of the NAT_DETECTION_* notifies is left empty: the message builder computes it.
    """

    notify: int | None
    data: bytes = b""


def _n(*numbers: int) -> list[Extra]:
    return [Extra(number) for number in numbers]


def ikev2_request_extras(profile: str) -> list[Extra]:
    """The notifies and VIDs an initiator of this profile adds to its IKE_SA_INIT request, in wire order."""
    family = _family(profile)
    if family == "strongswan":
        return [*_n(*NAT_DETECTION, IKEV2_FRAGMENTATION_SUPPORTED),
                Extra(SIGNATURE_HASH_ALGORITHMS, STRONGSWAN_HASH_ALGORITHMS), Extra(REDIRECT_SUPPORTED)]  # fmt: skip
    if family == "libreswan":
        return _n(IKEV2_FRAGMENTATION_SUPPORTED, *NAT_DETECTION)
    if family == "windows":
        vids = (MS_NT5_V9, MS_NEGOTIATION_DISCOVERY, VID_INITIAL_CONTACT, MS_UNNAMED_V2)
        return [*_n(*NAT_DETECTION), *(Extra(None, vid) for vid in vids)]
    return []


def ikev2_response_extras(profile: str, request: Sequence[Extra]) -> list[Extra]:
    """The notifies and VIDs a responder of this profile adds to an accepting IKE_SA_INIT response."""
    family = _family(profile)
    seen = {extra.notify for extra in request}
    natd = _n(*NAT_DETECTION) if NAT_DETECTION_SOURCE_IP in seen else []
    if family == "strongswan":
        out = [*natd]
        if IKEV2_FRAGMENTATION_SUPPORTED in seen:
            out.append(Extra(IKEV2_FRAGMENTATION_SUPPORTED))
        if SIGNATURE_HASH_ALGORITHMS in seen:
            out.append(Extra(SIGNATURE_HASH_ALGORITHMS, STRONGSWAN_HASH_ALGORITHMS))
        return [*out, *_n(CHILDLESS_IKEV2_SUPPORTED, MULTIPLE_AUTH_SUPPORTED)]
    if family == "libreswan":
        return [*_n(IKEV2_FRAGMENTATION_SUPPORTED), *natd, *_n(CHILDLESS_IKEV2_SUPPORTED)]
    if family == "windows":
        return natd
    return []


# --- the encrypted messages -------------------------------------------------------------------


def sends_initial_contact(profile: str) -> bool:
    """True when an initiator of this profile sends INITIAL_CONTACT (MM5, IKE_AUTH) on a first contact."""
    return _family(profile) == "strongswan"


def sends_responder_identity(profile: str) -> bool:
    """True when an initiator of this profile names the responder (IDr) in its IKE_AUTH request."""
    return _family(profile) in ("strongswan", "libreswan")


def quick_mode_identities(profile: str) -> bool:
    """True when a quick mode initiated by this profile carries IDci / IDcr (QM1, and QM2 mirrors them)."""
    return _family(profile) in ("strongswan", "libreswan")


def ikev2_auth_request_notifies(profile: str, response: Sequence[Extra]) -> list[int]:
    """The notifies after TSr of an IKE_AUTH request of this profile, given the IKE_SA_INIT response's extras."""
    if _family(profile) != "strongswan":
        return []
    multiple = [MULTIPLE_AUTH_SUPPORTED] if any(e.notify == MULTIPLE_AUTH_SUPPORTED for e in response) else []
    return [MOBIKE_SUPPORTED, NO_ADDITIONAL_ADDRESSES, *multiple, EAP_ONLY_AUTHENTICATION,
            IKEV2_MESSAGE_ID_SYNC_SUPPORTED]  # fmt: skip


def ikev2_auth_response_notifies(profile: str, request: Sequence[int]) -> list[int]:
    """The notifies after TSr of an IKE_AUTH response of this profile, given the request's notifies."""
    if _family(profile) == "strongswan" and MOBIKE_SUPPORTED in request:
        return [MOBIKE_SUPPORTED, NO_ADDITIONAL_ADDRESSES]
    return []


def extra_payloads(
    extras: Sequence[Extra], spi_i: bytes, spi_r: bytes, source: tuple[bytes, int], destination: tuple[bytes, int]
) -> list[p.Payload]:
    """The notifies and VIDs of an IKE_SA_INIT as payloads; NAT detection hashes the message's SPIs.

    ``source`` and ``destination`` are the packed address and port the message travels from and
    to (RFC 7296 2.23): the captures and ``ikesim serve`` write them alike.
    """
    out = []
    for extra in extras:
        if extra.notify is None:
            out.append(p.v2_vendor_id(extra.data))
        elif extra.notify in NAT_DETECTION:
            address = source if extra.notify == NAT_DETECTION_SOURCE_IP else destination
            out.append(p.v2_notify(extra.notify, data=nat_detection(spi_i, spi_r, *address)))
        else:
            out.append(p.v2_notify(extra.notify, data=extra.data))
    return out


def ikev2_floats(initiator_profile: str, response: Sequence[Extra]) -> bool:
    """True when the IKE SA moves to UDP 4500 after IKE_SA_INIT, NAT or not: a strongSwan initiator, NAT-D answered."""
    return _family(initiator_profile) == "strongswan" and any(e.notify == NAT_DETECTION_SOURCE_IP for e in response)
