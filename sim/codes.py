"""The catalog of Windows IKE status codes, ERROR_IPSEC_IKE_* 13800..13909.

The data is a copy of the Microsoft SDK ``winerror.h`` defines (``data/ike_codes.csv``),
shipped inside the package. :class:`IkeCode` names every define; :func:`lookup` turns what a
user types (``13886``, ``0x363E``, ``0x8007363E``, ``PEER_MM_ASSUMED_INVALID``) into its
:class:`CodeInfo`, and refuses anything Windows does not define, including the made-up names
that circulate on third-party error-code pages.
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from sim.errors import IkesimError

__all__ = [
    "FIRST",
    "HRESULT_BASE",
    "LAST",
    "MARKERS",
    "Category",
    "CodeInfo",
    "IkeCode",
    "UnknownCodeError",
    "all_codes",
    "info",
    "lookup",
]

FIRST = 13800
LAST = 13909
HRESULT_BASE = 0x80070000  # HRESULT_FROM_WIN32: FACILITY_WIN32 with the failure bit

_PREFIXES = ("ERROR_IPSEC_IKE_", "ERROR_IPSEC_")


class IkeCode(enum.IntEnum):
    """One Windows IKE status code; each member's docstring is its Microsoft message."""

    NEG_STATUS_BEGIN = 13800
    AUTH_FAIL = 13801
    ATTRIB_FAIL = 13802
    NEGOTIATION_PENDING = 13803
    GENERAL_PROCESSING_ERROR = 13804
    TIMED_OUT = 13805
    NO_CERT = 13806
    SA_DELETED = 13807
    SA_REAPED = 13808
    MM_ACQUIRE_DROP = 13809
    QM_ACQUIRE_DROP = 13810
    QUEUE_DROP_MM = 13811
    QUEUE_DROP_NO_MM = 13812
    DROP_NO_RESPONSE = 13813
    MM_DELAY_DROP = 13814
    QM_DELAY_DROP = 13815
    ERROR = 13816
    CRL_FAILED = 13817
    INVALID_KEY_USAGE = 13818
    INVALID_CERT_TYPE = 13819
    NO_PRIVATE_KEY = 13820
    SIMULTANEOUS_REKEY = 13821
    DH_FAIL = 13822
    CRITICAL_PAYLOAD_NOT_RECOGNIZED = 13823
    INVALID_HEADER = 13824
    NO_POLICY = 13825
    INVALID_SIGNATURE = 13826
    KERBEROS_ERROR = 13827
    NO_PUBLIC_KEY = 13828
    PROCESS_ERR = 13829
    PROCESS_ERR_SA = 13830
    PROCESS_ERR_PROP = 13831
    PROCESS_ERR_TRANS = 13832
    PROCESS_ERR_KE = 13833
    PROCESS_ERR_ID = 13834
    PROCESS_ERR_CERT = 13835
    PROCESS_ERR_CERT_REQ = 13836
    PROCESS_ERR_HASH = 13837
    PROCESS_ERR_SIG = 13838
    PROCESS_ERR_NONCE = 13839
    PROCESS_ERR_NOTIFY = 13840
    PROCESS_ERR_DELETE = 13841
    PROCESS_ERR_VENDOR = 13842
    INVALID_PAYLOAD = 13843
    LOAD_SOFT_SA = 13844
    SOFT_SA_TORN_DOWN = 13845
    INVALID_COOKIE = 13846
    NO_PEER_CERT = 13847
    PEER_CRL_FAILED = 13848
    POLICY_CHANGE = 13849
    NO_MM_POLICY = 13850
    NOTCBPRIV = 13851
    SECLOADFAIL = 13852
    FAILSSPINIT = 13853
    FAILQUERYSSP = 13854
    SRVACQFAIL = 13855
    SRVQUERYCRED = 13856
    GETSPIFAIL = 13857
    INVALID_FILTER = 13858
    OUT_OF_MEMORY = 13859
    ADD_UPDATE_KEY_FAILED = 13860
    INVALID_POLICY = 13861
    UNKNOWN_DOI = 13862
    INVALID_SITUATION = 13863
    DH_FAILURE = 13864
    INVALID_GROUP = 13865
    ENCRYPT = 13866
    DECRYPT = 13867
    POLICY_MATCH = 13868
    UNSUPPORTED_ID = 13869
    INVALID_HASH = 13870
    INVALID_HASH_ALG = 13871
    INVALID_HASH_SIZE = 13872
    INVALID_ENCRYPT_ALG = 13873
    INVALID_AUTH_ALG = 13874
    INVALID_SIG = 13875
    LOAD_FAILED = 13876
    RPC_DELETE = 13877
    BENIGN_REINIT = 13878
    INVALID_RESPONDER_LIFETIME_NOTIFY = 13879
    INVALID_MAJOR_VERSION = 13880
    INVALID_CERT_KEYLEN = 13881
    MM_LIMIT = 13882
    NEGOTIATION_DISABLED = 13883
    QM_LIMIT = 13884
    MM_EXPIRED = 13885
    PEER_MM_ASSUMED_INVALID = 13886
    CERT_CHAIN_POLICY_MISMATCH = 13887
    UNEXPECTED_MESSAGE_ID = 13888
    INVALID_AUTH_PAYLOAD = 13889
    DOS_COOKIE_SENT = 13890
    SHUTTING_DOWN = 13891
    CGA_AUTH_FAILED = 13892
    PROCESS_ERR_NATOA = 13893
    INVALID_MM_FOR_QM = 13894
    QM_EXPIRED = 13895
    TOO_MANY_FILTERS = 13896
    NEG_STATUS_END = 13897
    KILL_DUMMY_NAP_TUNNEL = 13898
    INNER_IP_ASSIGNMENT_FAILURE = 13899
    REQUIRE_CP_PAYLOAD_MISSING = 13900
    KEY_MODULE_IMPERSONATION_NEGOTIATION_PENDING = 13901
    COEXISTENCE_SUPPRESS = 13902
    RATELIMIT_DROP = 13903
    PEER_DOESNT_SUPPORT_MOBIKE = 13904
    AUTHORIZATION_FAILURE = 13905
    STRONG_CRED_AUTHORIZATION_FAILURE = 13906
    AUTHORIZATION_FAILURE_WITH_OPTIONAL_RETRY = 13907
    STRONG_CRED_AUTHORIZATION_AND_CERTMAP_FAILURE = 13908
    NEG_STATUS_EXTENDED_END = 13909

    @property
    def info(self) -> CodeInfo:
        """The catalog entry of this code."""
        return info(self.value)


MARKERS = frozenset({IkeCode.NEG_STATUS_BEGIN, IkeCode.NEG_STATUS_END, IkeCode.NEG_STATUS_EXTENDED_END})

# What each range marker really is (reference/windows-ike.md section 1).
MARKER_NOTES = {
    IkeCode.NEG_STATUS_BEGIN: (
        "Range marker: the lower bound of the IKE negotiation status codes, not a failure. Windows never reports it."
    ),
    IkeCode.NEG_STATUS_END: (
        "Range marker: the upper bound of the original IKE status range. The SDK says 'Do NOT "
        "change this final value. It is used in a public API structure': IKEEXT_ERROR_CODE_COUNT "
        "= END - BEGIN = 97 sizes errorFrequencyTable[] in IKEEXT_KEYMODULE_STATISTICS. ikesim "
        "reports it, by convention, for a negotiation that reaches its end with no failure."
    ),
    IkeCode.NEG_STATUS_EXTENDED_END: (
        "Range marker: the extended upper bound added 'to accommodate new errors' (13898..13908 "
        "lie above END). ikesim reports it, by convention, for an AuthIP extended-mode "
        "negotiation that ends with no more specific status."
    ),
}


class Category(enum.StrEnum):
    """A coarse grouping of the codes, for people browsing the catalog."""

    MARKER = "range marker"
    TIMEOUT = "timeout and dead peer"
    QUEUE = "queueing"
    AUTHENTICATION = "authentication"
    CERTIFICATE = "certificate"
    PROPOSAL = "proposal and policy"
    CRYPTO = "cryptography"
    PACKET = "packet and payload"
    SA_LIFECYCLE = "SA lifecycle"
    LIMIT = "limits and denial of service"
    LOCAL = "local system"
    TUNNEL = "NAP and tunnel configuration"
    AUTHORIZATION = "authorization"


_C = IkeCode
_CATEGORY_MEMBERS: dict[Category, tuple[IkeCode, ...]] = {
    Category.MARKER: tuple(sorted(MARKERS)),
    Category.TIMEOUT: (_C.TIMED_OUT, _C.DROP_NO_RESPONSE, _C.MM_DELAY_DROP, _C.QM_DELAY_DROP,
                       _C.PEER_MM_ASSUMED_INVALID),
    Category.QUEUE: (_C.NEGOTIATION_PENDING, _C.MM_ACQUIRE_DROP, _C.QM_ACQUIRE_DROP, _C.QUEUE_DROP_MM,
                     _C.QUEUE_DROP_NO_MM, _C.KEY_MODULE_IMPERSONATION_NEGOTIATION_PENDING),
    Category.AUTHENTICATION: (_C.AUTH_FAIL, _C.INVALID_SIGNATURE, _C.KERBEROS_ERROR, _C.INVALID_HASH,
                              _C.INVALID_AUTH_PAYLOAD, _C.CGA_AUTH_FAILED),
    Category.CERTIFICATE: (_C.NO_CERT, _C.CRL_FAILED, _C.INVALID_KEY_USAGE, _C.INVALID_CERT_TYPE,
                           _C.NO_PRIVATE_KEY, _C.NO_PUBLIC_KEY, _C.NO_PEER_CERT, _C.PEER_CRL_FAILED,
                           _C.INVALID_SIG, _C.INVALID_CERT_KEYLEN, _C.CERT_CHAIN_POLICY_MISMATCH),
    Category.PROPOSAL: (_C.ATTRIB_FAIL, _C.NO_POLICY, _C.POLICY_CHANGE, _C.NO_MM_POLICY, _C.INVALID_FILTER,
                        _C.INVALID_POLICY, _C.POLICY_MATCH, _C.NEGOTIATION_DISABLED),
    Category.CRYPTO: (_C.DH_FAIL, _C.DH_FAILURE, _C.INVALID_GROUP, _C.ENCRYPT, _C.DECRYPT, _C.INVALID_HASH_ALG,
                      _C.INVALID_HASH_SIZE, _C.INVALID_ENCRYPT_ALG, _C.INVALID_AUTH_ALG),
    Category.PACKET: (_C.CRITICAL_PAYLOAD_NOT_RECOGNIZED, _C.INVALID_HEADER, _C.PROCESS_ERR, _C.PROCESS_ERR_SA,
                      _C.PROCESS_ERR_PROP, _C.PROCESS_ERR_TRANS, _C.PROCESS_ERR_KE, _C.PROCESS_ERR_ID,
                      _C.PROCESS_ERR_CERT, _C.PROCESS_ERR_CERT_REQ, _C.PROCESS_ERR_HASH, _C.PROCESS_ERR_SIG,
                      _C.PROCESS_ERR_NONCE, _C.PROCESS_ERR_NOTIFY, _C.PROCESS_ERR_DELETE,
                      _C.PROCESS_ERR_VENDOR, _C.INVALID_PAYLOAD, _C.INVALID_COOKIE, _C.UNKNOWN_DOI,
                      _C.INVALID_SITUATION, _C.UNSUPPORTED_ID, _C.INVALID_MAJOR_VERSION,
                      _C.UNEXPECTED_MESSAGE_ID, _C.PROCESS_ERR_NATOA),
    Category.SA_LIFECYCLE: (_C.SA_DELETED, _C.SA_REAPED, _C.SIMULTANEOUS_REKEY, _C.LOAD_SOFT_SA,
                            _C.SOFT_SA_TORN_DOWN, _C.RPC_DELETE, _C.BENIGN_REINIT,
                            _C.INVALID_RESPONDER_LIFETIME_NOTIFY, _C.MM_EXPIRED, _C.INVALID_MM_FOR_QM,
                            _C.QM_EXPIRED, _C.COEXISTENCE_SUPPRESS, _C.PEER_DOESNT_SUPPORT_MOBIKE),
    Category.LIMIT: (_C.MM_LIMIT, _C.QM_LIMIT, _C.DOS_COOKIE_SENT, _C.TOO_MANY_FILTERS, _C.RATELIMIT_DROP),
    Category.LOCAL: (_C.GENERAL_PROCESSING_ERROR, _C.ERROR, _C.NOTCBPRIV, _C.SECLOADFAIL, _C.FAILSSPINIT,
                     _C.FAILQUERYSSP, _C.SRVACQFAIL, _C.SRVQUERYCRED, _C.GETSPIFAIL, _C.OUT_OF_MEMORY,
                     _C.ADD_UPDATE_KEY_FAILED, _C.LOAD_FAILED, _C.SHUTTING_DOWN),
    Category.TUNNEL: (_C.KILL_DUMMY_NAP_TUNNEL, _C.INNER_IP_ASSIGNMENT_FAILURE, _C.REQUIRE_CP_PAYLOAD_MISSING),
    Category.AUTHORIZATION: (_C.AUTHORIZATION_FAILURE, _C.STRONG_CRED_AUTHORIZATION_FAILURE,
                             _C.AUTHORIZATION_FAILURE_WITH_OPTIONAL_RETRY,
                             _C.STRONG_CRED_AUTHORIZATION_AND_CERTMAP_FAILURE),
}  # fmt: skip
CATEGORY_OF: dict[IkeCode, Category] = {
    code: category for category, members in _CATEGORY_MEMBERS.items() for code in members
}

# Names seen on third-party error-code pages that no Windows header defines
# (reference/windows-ike.md section 1), with the real code at the number they claim.
FALSE_NAMES: dict[str, tuple[int | None, str]] = {
    "SA_REKEYED": (13902, ""),
    "PEER_MM_NO_RESPONSE": (13887, "a peer that stops responding is 13886 PEER_MM_ASSUMED_INVALID"),
    "AUTHENTICATION_FAILURE": (13890, "authentication failure is 13801 AUTH_FAIL"),
    "CERTIFICATE_PROBLEM": (13891, ""),
    "INNER_ADDRESS_NOT_FOUND": (13897, "inner address failure is 13899 INNER_IP_ASSIGNMENT_FAILURE"),
    "OUTER_ADDRESS_MISMATCH": (13895, ""),
    "SECURITY_ASSOCIATION_FAILURE": (13894, ""),
    "NEG_STATUS_AUTH_FAILED": (None, "authentication failure is 13801 AUTH_FAIL"),
    "NEG_STATUS_CERT": (None, "certificate failures are 13806, 13847, 13848, 13887 and others"),
    "NEG_STATUS_CONNECT_FAILED": (None, "no answer is 13813 DROP_NO_RESPONSE, a silent peer 13805 TIMED_OUT"),
}


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """A catalog entry: one ERROR_IPSEC_IKE_* define with its numbers and its message."""

    name: str
    code: int
    message: str
    category: Category

    @property
    def member(self) -> IkeCode:
        """The :class:`IkeCode` member of this entry."""
        return IkeCode(self.code)

    @property
    def short_name(self) -> str:
        """The name without its ``ERROR_IPSEC_IKE_`` (or ``ERROR_IPSEC_``) prefix."""
        return self.member.name

    @property
    def hex(self) -> str:
        """The value as ``0x%04X``, for example ``0x363E``."""
        return f"0x{self.code:04X}"

    @property
    def hresult(self) -> str:
        """HRESULT_FROM_WIN32 of the value, for example ``0x8007363E``."""
        return f"0x{HRESULT_BASE | self.code:08X}"

    @property
    def marker(self) -> bool:
        """True for the range markers 13800, 13897 and 13909."""
        return self.code in MARKERS

    @property
    def marker_note(self) -> str | None:
        """What a range marker really is; None for an ordinary code."""
        return MARKER_NOTES.get(IkeCode(self.code))

    def as_dict(self) -> dict[str, object]:
        """The entry as plain JSON-ready data."""
        return {
            "name": self.name,
            "short_name": self.short_name,
            "code": self.code,
            "hex": self.hex,
            "hresult": self.hresult,
            "message": self.message,
            "marker": self.marker,
            "marker_note": self.marker_note,
            "category": self.category.value,
        }


class UnknownCodeError(IkesimError, ValueError):
    """Raised by :func:`lookup` for anything that is not a Windows IKE status code."""


@cache
def _catalog() -> dict[int, CodeInfo]:
    text = resources.files("sim").joinpath("data/ike_codes.csv").read_text(encoding="utf-8")
    entries: dict[int, CodeInfo] = {}
    for row in csv.DictReader(io.StringIO(text)):
        value = int(row["code"])
        entries[value] = CodeInfo(row["name"], value, row["message"], CATEGORY_OF[IkeCode(value)])
    return entries


def all_codes() -> tuple[CodeInfo, ...]:
    """Every catalog entry, in numeric order."""
    return tuple(_catalog().values())


def info(code: int) -> CodeInfo:
    """The entry of a numeric code; :class:`UnknownCodeError` when there is none."""
    try:
        return _catalog()[int(code)]
    except KeyError:
        raise UnknownCodeError(f"{code} is not a Windows IKE status code (they run from {FIRST} to {LAST})") from None


def _parse_number(text: str) -> int | None:
    """A decimal or 0x-hex number, or None when the text is not a number."""
    try:
        return int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text, 10)
    except ValueError:
        return None


def _from_number(value: int, shown: str) -> CodeInfo:
    if value < 0:  # an HRESULT printed as a signed 32-bit integer
        value &= 0xFFFFFFFF
    if value > 0xFFFF:
        if value & 0xFFFF0000 != HRESULT_BASE:
            raise UnknownCodeError(f"{shown} is not an HRESULT of a Windows IKE status code (0x8007xxxx)")
        value &= 0xFFFF
    if not FIRST <= value <= LAST:
        raise UnknownCodeError(f"{shown} is not a Windows IKE status code (they run from {FIRST} to {LAST})")
    return info(value)


def _from_name(text: str) -> CodeInfo:
    upper = text.strip().upper()
    short = upper
    for prefix in _PREFIXES:
        if upper.startswith(prefix):
            short = upper[len(prefix) :]
            break
    if short in FALSE_NAMES:
        claimed, hint = FALSE_NAMES[short]
        msg = f"{text} is not a Windows name: no Windows header defines it"
        if claimed is not None:
            msg += f"; {claimed} is {info(claimed).name}"
        if hint:
            msg += f"; {hint}"
        raise UnknownCodeError(msg)
    member = IkeCode.__members__.get(short)
    if member is None:
        raise UnknownCodeError(f"{text} is not the name of a Windows IKE status code")
    found = info(member.value)
    if upper != short and upper != found.name:  # a wrong prefix such as ERROR_IPSEC_KEY_MODULE_...
        raise UnknownCodeError(f"{text} is not the name of a Windows IKE status code; did you mean {found.name}?")
    return found


def lookup(code: int | str) -> CodeInfo:
    """Find a code by decimal, ``0x`` hex, HRESULT, full name, or name without ``ERROR_IPSEC_IKE_``.

    Names are case-insensitive. Anything Windows does not define raises :class:`UnknownCodeError`
    with a message that says why, never a guess.
    """
    if isinstance(code, bool):
        raise UnknownCodeError(f"{code!r} is not a code")
    if isinstance(code, int):
        return _from_number(code, str(code))
    text = str(code).strip()
    if not text:
        raise UnknownCodeError("an empty string is not a code")
    number = _parse_number(text)
    if number is not None:
        return _from_number(number, text)
    return _from_name(text)


def _document_members() -> None:
    # Each member documented by its official text, as wsproto does for close codes.
    for entry in _catalog().values():
        IkeCode(entry.code).__doc__ = entry.message


_document_members()
