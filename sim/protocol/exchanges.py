"""Row builders for the exchange patterns IKE protocols share.

IKEv1 main mode, AuthIP main and extended mode, and IKEv2's IKE_SA_INIT + IKE_AUTH are all
*rounds*: the initiator sends a request, the responder answers; the responder's answer to the
last round completes the negotiation there, and its arrival completes it at the initiator.
:func:`rounds` writes those rows once; each protocol module names its messages and states and
adds what is its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.conditions import Condition
from sim.protocol.table import NOTIFIED, VERDICT, Ends, Row, State, row

C = Condition

# Terminal states: where a negotiation or an SA ends.
TERMINALS = (
    State("NO_RESPONSE", None, "no answer to the first message"),
    State("TIMED_OUT", None, "the peer went silent during the negotiation"),
    State("REJECTED", None, "this peer rejected the negotiation (policy, validation or local fault)"),
    State("REFUSED", None, "the peer refused the negotiation with a notify"),
    State("DELETED_EARLY", None, "the peer deleted the SA before it was established"),
    State("EXPIRED", None, "the established SA reached the end of its lifetime here"),
    State("DELETED", None, "the peer deleted the established SA"),
    State("DEAD", None, "the peer stopped responding"),
    State("DELETED_HERE", None, "this peer deleted the SA (on request, or because its policy changed)"),
)

ESTABLISHED = ("COMPLETE", "PROBING")


def rounds(
    exchanges: Sequence[tuple[str, str]],
    states: Sequence[str],
    success: Condition = C.COMPLETE,
    last_request: Sequence[str] | None = None,
    last_response: Sequence[str] = ("disarm", "report", "establish"),
    established: Sequence[str] = ESTABLISHED,
    delete_answer: str | None = None,
) -> tuple[Row, ...]:
    """The rows of a negotiation made of request/response rounds.

    ``exchanges`` are the (request, response) message names of each round; ``states`` the
    state a peer is in after it sent its message of that round (all but the last round: the
    responder's last answer and the initiator's receipt of it lead to COMPLETE).
    ``last_request`` and ``last_response`` are the actions of the responder and of the
    initiator when the last round succeeds; ``established`` the states of the SA once it is up;
    ``delete_answer`` the response a peer sends to a delete (IKEv2: every request is answered).
    """
    established = tuple(established)
    out: list[Row] = []
    last = len(exchanges) - 1
    out.append(row("start", "NONE", states[0], guard="ok", actions=[f"send:{exchanges[0][0]}"]))
    out.append(row("start", "NONE", "REJECTED", actions=["report"], report=VERDICT))
    for i, (request, response) in enumerate(exchanges):
        before = "NONE" if i == 0 else states[i - 1]
        recv_request, recv_response = "recv_" + _t(request), "recv_" + _t(response)
        # The responder answers the request of round i.
        if i == last:
            actions = last_request if last_request is not None else (f"reply:{response}", "report", "establish")
            out.append(row(recv_request, before, "COMPLETE", guard="ok", actions=actions, report=success))
            out.append(row(recv_request, established, None, guard="duplicate", actions=["resend"],
                           doc=f"{request} again: our {response} was lost"))  # fmt: skip
        else:
            out.append(row(recv_request, before, states[i], guard="ok", actions=[f"send:{response}"]))
            out.append(row(recv_request, states[i], None, guard="duplicate", actions=["resend"],
                           doc=f"{request} again: our {response} was lost"))  # fmt: skip
        if i == 0:
            stateless = "refused keeping no state (rate limit, DoS cookie, INVALID_KE): it may come again"
            out.append(row(recv_request, before, None, guard="stateless", actions=["refuse_statelessly"],
                           doc=stateless))  # fmt: skip
        out.append(row(recv_request, before, "REJECTED", actions=["disarm", "notify", "report"], report=VERDICT))
        # The initiator receives the response of round i.
        waiting = states[i]
        if i == last:
            out.append(row(recv_response, waiting, "COMPLETE", guard="ok", actions=last_response, report=success))
        else:
            out.append(row(recv_response, waiting, states[i + 1], guard="ok",
                           actions=[f"send:{exchanges[i + 1][0]}"]))  # fmt: skip
        out.append(row(recv_response, waiting, "REJECTED", actions=["disarm", "report"], report=VERDICT))
        later = tuple(dict.fromkeys([*states[i + 1 :], *established]))
        out.append(row(recv_response, later, None, doc="a duplicate: ignored"))
    negotiating = tuple(dict.fromkeys(states))
    out += [
        row("retransmit", tuple(dict.fromkeys([*negotiating, *established[1:]])), None, actions=["retransmit"]),
        row("give_up", negotiating, "TIMED_OUT", guard="heard", actions=["report"], report=C.PEER_SILENT),
        row("give_up", states[0], "NO_RESPONSE", actions=["report"], report=C.NO_RESPONSE),
        row("recv_NOTIFY", negotiating, "REFUSED", actions=["disarm", "report"], report=NOTIFIED),
        row(
            "recv_DELETE",
            negotiating,
            "DELETED_EARLY",
            actions=[*_answering(delete_answer), "disarm", "report"],
            report=C.DELETED_BEFORE_ESTABLISHED,
        ),
        *local_deletes(negotiating, established),
    ]
    return tuple(out)


def sa_life(
    probe: str, answer: str, expired: Condition, deleted: Condition | str, answers_deletes: bool = False
) -> tuple[Row, ...]:
    """An established SA: its lifetime, deletes from the peer, liveness checks and a dead peer.

    Where ``answers_deletes`` (IKEv2, RFC 7296 1.4.1), a delete gets ``answer`` as its response
    (the endpoint takes the answer to its own delete once the SA is gone: ``ProtocolSpec.delete_answer``).
    """
    delete_answer = answer if answers_deletes else None
    return (
        row(
            "expire",
            ESTABLISHED,
            "EXPIRED",
            actions=["disarm", "delete", "report", "end_children"],
            report=expired,
            ends=Ends.SA,
        ),
        row(
            "recv_DELETE",
            ESTABLISHED,
            "DELETED",
            actions=[*_answering(delete_answer), "disarm", "report", "end_children"],
            report=deleted,
            ends=Ends.SA,
        ),
        row("probe", "COMPLETE", "PROBING", actions=[f"send:{probe}"]),
        row("recv_" + _t(probe), ESTABLISHED, None, actions=[f"answer:{answer}"]),
        row("recv_" + _t(answer), "PROBING", "COMPLETE", actions=["disarm", "idle"]),
        row("recv_" + _t(answer), "COMPLETE", None, doc="a late answer: ignored"),
        row("give_up", "PROBING", "DEAD", actions=["report", "end_children"], report=C.PEER_DEAD, ends=Ends.SA),
        row(
            "peer_dead",
            ESTABLISHED,
            "DEAD",
            actions=["disarm", "report", "end_children"],
            report=C.PEER_DEAD,
            ends=Ends.SA,
            doc="a negotiation under this SA found the peer dead",
        ),
    )


def local_deletes(negotiating: Sequence[str], established: Sequence[str]) -> tuple[Row, ...]:
    """Rows for an SA deleted here (on request, or because the policy changed), with a delete to the peer."""
    out = []
    for trigger, condition in (("admin_delete", C.ADMIN_DELETE), ("policy_change", C.POLICY_CHANGE)):
        out.append(row(trigger, tuple(negotiating), "DELETED_HERE", actions=["disarm", "delete", "report"],
                       report=condition))  # fmt: skip
        out.append(row(trigger, tuple(established), "DELETED_HERE",
                       actions=["disarm", "delete", "report", "end_children"], report=condition,
                       ends=Ends.SA))  # fmt: skip
    return tuple(out)


def _answering(answer: str | None) -> list[str]:
    return [f"answer:{answer}"] if answer is not None else []


def _t(message: str) -> str:
    """The trigger part of a message name: ``IKE_AUTH request`` -> ``IKE_AUTH_request``."""
    return message.replace(" ", "_").replace("-", "_")
