"""The Windows Filtering Platform enums that outcomes are reported in (iketypes.h, ipsectypes.h)."""

from __future__ import annotations

import enum


class MmState(enum.IntEnum):
    """IKEEXT_MM_SA_STATE: main-mode progress, counted in packets sent by this peer."""

    NONE = 0  #: no packet sent yet
    SA_SENT = 1  #: first packet sent
    SSPI_SENT = 2  #: second packet sent
    FINAL = 3  #: third packet sent
    FINAL_SENT = 4  #: final packet sent
    COMPLETE = 5  #: main mode established


class QmState(enum.IntEnum):
    """IKEEXT_QM_SA_STATE: quick-mode progress."""

    NONE = 0
    INITIAL = 1  #: first packet sent
    FINAL = 2  #: final packet sent
    COMPLETE = 3


class EmState(enum.IntEnum):
    """IKEEXT_EM_SA_STATE: AuthIP extended-mode progress."""

    NONE = 0
    SENT_ATTS = 1
    SSPI_SENT = 2
    AUTH_COMPLETE = 3
    FINAL = 4
    COMPLETE = 5


class Role(enum.IntEnum):
    """IKEEXT_SA_ROLE."""

    INITIATOR = 0
    RESPONDER = 1


class FailurePoint(enum.IntEnum):
    """IPSEC_FAILURE_POINT (there is no IKEEXT_FAILURE_POINT)."""

    NONE = 0  #: no failure
    ME = 1  #: the local system failed
    PEER = 2  #: the peer failed (did not answer, offered or proved something unacceptable)

    @property
    def wire_name(self) -> str:
        """The C name, for example ``IPSEC_FAILURE_PEER``."""
        return f"IPSEC_FAILURE_{self.name}"


class KeyModule(enum.IntEnum):
    """IKEEXT_KEY_MODULE_TYPE."""

    IKE = 0
    AUTHIP = 1
    IKEV2 = 2


class AuthMethod(enum.IntEnum):
    """IKEEXT_AUTHENTICATION_METHOD_TYPE (the members ikesim uses)."""

    PRESHARED_KEY = 0
    CERTIFICATE = 1
    KERBEROS = 2
    EAP = 11


STATE_ENUM_PREFIX: dict[type[enum.IntEnum], str] = {
    MmState: "IKEEXT_MM_SA_STATE_",
    QmState: "IKEEXT_QM_SA_STATE_",
    EmState: "IKEEXT_EM_SA_STATE_",
}


def state_wire_name(state: enum.IntEnum) -> str:
    """The C name of a state, for example ``IKEEXT_MM_SA_STATE_SSPI_SENT``."""
    return STATE_ENUM_PREFIX[type(state)] + state.name


class DropCause(enum.StrEnum):
    """Why a datagram never reached the machine it was sent to."""

    LOST = "lost"  #: the network lost it: an injected drop, random loss, a partition
    DOWN = "down"  #: the sender or the receiver had crashed
    SILENT = "silent"  #: the sender or the receiver was silenced
    DAMAGED = "damaged"  #: it arrived damaged (a field fails the receiver's checks): dropped, state kept
    REFUSED = "refused"  #: it arrived, but the receiver's machine does not accept it in its state
    NO_SA = "no_sa"  #: it arrived for an SA (or a parent SA) the receiver does not have
