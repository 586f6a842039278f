"""Model learning of ikesim's own IKEv1 responder with AALpy, over the VPN-AL alphabet.

VPN-AL (GitHub ``benjowun/VPN-AL``, folder ``Appendix/``, commit 4b4f789bc830; copies and their
citation in ``tests/data/vpn-al/``) learned Mealy machines of real IKEv1 responders, strongSwan
5.9.5 and libreswan 3.32. :class:`ResponderSUL` is the same experiment run on ikesim: an AALpy
system under learning that drives an :class:`~sim.protocol.session.Endpoint` of a profile
(``strongswan``, ``libreswan``) in-process, with no network and no clock, and
:func:`distinguishing_inputs` compares a learned machine with a published one exactly.

Harness conventions (each difference the comparison finds is either one of these or a
divergence of ikesim's core, and the test's table says which):

H1 Responder. One endpoint per query (AALpy's reset): ``PROFILES[profile].schedule()``, the
   profile's ``responder`` rules, protocol ``IKEV1``, the ``COMPILED`` tables of
   ``sim.protocol.registry``, a :class:`~sim.protocol.session.Recorder` as sink. Its policy
   accepts the profile's served proposals and VPN-AL's transform (AES-CBC-256, SHA1, MODP-2048,
   PSK), as VPN-AL configured its gateways to accept it; the initiator's messages carry a policy
   offering that transform with the same pre-shared key.
H2 Clock. Every input arrives at t = 0 and the time never advances: no timer fires, so ikesim
   never resends on its own, never gives up and never drops a half-open SA. This is how
   retransmissions are filtered out, as VPN-AL filtered them. An answer to a duplicate request
   (a send with attempt -1, ``Session.act_resend``) is an answer to the input, as a real
   responder's answer to a repeated packet is, and counts.
H3 Inputs. ``sa_main`` is MM1 under one fixed SA label (``MM#1``: VPN-AL's fixed initiator
   cookie); ``key_ex_main`` MM3 and ``authenticate`` MM5 under that label; ``sa_quick`` QM1
   under a new label ``QM#n`` per input (VPN-AL's new message ID per ``sa_quick``), with ``MM#1``
   as its parent; ``ack_quick`` QM3 under the label of the latest ``sa_quick`` or
   ``sa_quick_err`` of the query (``QM#0``, which no quick mode has, before the first).
   Each ``key_ex_main`` carries a fresh key exchange and nonce and each ``authenticate`` is
   encrypted anew (VPN-AL builds every input afresh), so both set ``Message.fresh``: new
   content under a name already sent, which is not a retransmission. ``sa_main`` (no nonce, the
   same proposal) is the same MM1 again.
H4 Damaged inputs. An ``_err`` input is its clean message with ``Message.corrupt = "payload"``,
   as ``sim.faults.CorruptFault`` damages a message on the wire. VPN-AL's damages (a key length
   of 444 in the transform, a nonce payload of length 11, 64 bytes of 0xFF as ciphertext, a
   wrong hash, bad encryption) are all damages of the payloads; ikesim has no finer kind.
   ``Endpoint.receive`` drops a damaged message, and the profile's ``ResponderRules`` say what
   else the implementation does (an error notify, a malformed MM1 rejected).
H5 Outputs. What the endpoint sends while it handles the input: MM2 -> ``ISAKMP_SA``, MM4 ->
   ``ISAKMP_KEY_EX``, MM6 -> ``ISAKMP_AUTH``, QM2 -> ``IPSEC_SA``, any INFORMATIONAL message
   (a notify, a delete) -> ``ERROR_NOTIFICATION``, nothing -> ``None``. A step that sends
   several messages maps to its outputs joined by ``+`` (VPN-AL's outputs have no such form,
   so it shows as a difference rather than being hidden).
H6 Learning. AALpy's L* with a state-prefix random-walk equivalence oracle, seeded (the global
   ``random`` state is saved and restored around it), and a W-method pass over the result (up
   to two states more than it has): the learned machine is the same on every run.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aalpy.automata import MealyMachine  # type: ignore[import-untyped]
from aalpy.base import SUL  # type: ignore[import-untyped]
from aalpy.learning_algs import run_Lstar  # type: ignore[import-untyped]
from aalpy.oracles import StatePrefixEqOracle, WMethodEqOracle  # type: ignore[import-untyped]
from aalpy.utils import load_automaton_from_file  # type: ignore[import-untyped]

from sim.protocol.ikev1 import IKEV1
from sim.protocol.policy import Policy, Proposal
from sim.protocol.profiles import PROFILES
from sim.protocol.registry import COMPILED
from sim.protocol.session import Endpoint, EndpointConfiguration, Message, Recorder

DATA = Path(__file__).parent / "data" / "vpn-al"
PUBLISHED = {  # (profile, with the _err inputs) -> the published model learned from the real responder
    ("strongswan", False): "simple.dot",
    ("strongswan", True): "error_model.dot",
    ("libreswan", False): "libresimple.dot",
    ("libreswan", True): "libreerr.dot",
}

SIMPLE_INPUTS = ("sa_main", "key_ex_main", "authenticate", "sa_quick", "ack_quick")
ERR_INPUTS = (*SIMPLE_INPUTS, *(f"{name}_err" for name in SIMPLE_INPUTS))
MESSAGE_OF = {"sa_main": "MM1", "key_ex_main": "MM3", "authenticate": "MM5", "sa_quick": "QM1", "ack_quick": "QM3"}
OUTPUT_OF = {"MM2": "ISAKMP_SA", "MM4": "ISAKMP_KEY_EX", "MM6": "ISAKMP_AUTH", "QM2": "IPSEC_SA"}
ERROR = "ERROR_NOTIFICATION"
NOTHING = "None"

VPN_AL_TRANSFORM = Proposal("aes256", "sha1", 14)  # AES-CBC-256, SHA1, MODP-2048 (PSK: Policy.auth)
INITIATOR = "initiator"
RESPONDER = "responder"
MAIN_LABEL = "MM#1"  # VPN-AL's fixed initiator cookie
NO_QUICK_MODE = "QM#0"  # what ack_quick names before any sa_quick
SEED = 20240101


def responder_policy(profile: str) -> Policy:
    """The profile's served proposals and VPN-AL's transform (H1)."""
    served = PROFILES[profile].served or ()
    return Policy(proposals=(*served, VPN_AL_TRANSFORM))


INITIATOR_POLICY = Policy(proposals=(VPN_AL_TRANSFORM,))


class ResponderSUL(SUL):  # type: ignore[misc]
    """ikesim's IKEv1 responder of one profile, driven in-process with VPN-AL's inputs."""

    def __init__(self, profile: str) -> None:
        super().__init__()
        self.profile = profile
        self.schedule = PROFILES[profile].schedule()
        self.rules = PROFILES[profile].responder
        self.policy = responder_policy(profile)
        self.recorder = Recorder()
        self.endpoint = self._endpoint()
        self.quick_modes = 0
        self.quick_label = NO_QUICK_MODE

    def _endpoint(self) -> Endpoint:
        labels = iter(range(1, 1 << 30))
        configuration = EndpointConfiguration(self.policy, self.schedule, lambda prefix: f"{prefix}#R{next(labels)}",
                                              IKEV1, COMPILED, self.recorder, responder=self.rules)  # fmt: skip
        return Endpoint(RESPONDER, configuration)

    def pre(self) -> None:
        """A fresh responder for each query (H1)."""
        self.recorder = Recorder()
        self.endpoint = self._endpoint()
        self.quick_modes = 0
        self.quick_label = NO_QUICK_MODE

    def post(self) -> None:
        """Nothing to release: the endpoint is dropped at the next reset."""

    def step(self, letter: str | None) -> str:
        """Give the responder one input at t = 0 (H2) and say what it sent (H5)."""
        assert letter is not None
        self.recorder.effects.clear()
        self.endpoint.receive(0.0, self.message(letter))
        return output_of(self.recorder.effects)

    def message(self, letter: str) -> Message:
        """The message a VPN-AL input stands for (H3, H4)."""
        base, damaged = letter.removesuffix("_err"), letter.endswith("_err")
        name = MESSAGE_OF[base]
        parent = None
        if base == "sa_quick":
            self.quick_modes += 1
            self.quick_label = label = f"QM#{self.quick_modes}"
            parent = MAIN_LABEL
        elif base == "ack_quick":
            label, parent = self.quick_label, MAIN_LABEL
        else:
            label = MAIN_LABEL
        msg = Message(name, label, INITIATOR, RESPONDER, INITIATOR_POLICY, parent)
        if base in ("key_ex_main", "authenticate"):
            msg.fresh = True  # a new key exchange and nonce; MM5 encrypted anew (H3)
        if damaged:
            msg.corrupt = "payload"
        return msg


def output_of(effects: Sequence[tuple[Any, ...]]) -> str:
    """The VPN-AL output of what a responder sent in one step (H2, H5)."""
    outputs: list[str] = []
    for effect in effects:
        if effect[0] != "send":
            continue
        _, _, msg, attempt = effect
        if attempt > 0:  # a resend on the responder's own timer: filtered out (H2; cannot happen at t = 0)
            continue
        outputs.append(OUTPUT_OF.get(msg.name, ERROR if msg.name.startswith("INFO") else f"?{msg.name}"))
    return "+".join(dict.fromkeys(outputs)) or NOTHING


def learn(profile: str, inputs: Sequence[str], seed: int = SEED) -> MealyMachine:
    """Learn the profile's responder over these inputs with L* (H6)."""
    sul = ResponderSUL(profile)
    alphabet = list(inputs)
    saved = random.getstate()
    random.seed(seed)
    try:
        oracle = StatePrefixEqOracle(alphabet, sul, walks_per_state=20, walk_len=8)
        model = run_Lstar(alphabet, sul, oracle, automaton_type="mealy", print_level=0)
        check = WMethodEqOracle(alphabet, sul, max_number_of_states=len(model.states) + 2)
        model = run_Lstar(alphabet, sul, check, automaton_type="mealy", print_level=0)
    finally:
        random.setstate(saved)
    return model


def published(profile: str, errors: bool) -> MealyMachine:
    """The machine VPN-AL learned from the real responder."""
    return load_automaton_from_file(DATA / PUBLISHED[profile, errors], automaton_type="mealy")


def inputs_of(machine: MealyMachine) -> tuple[str, ...]:
    """A machine's inputs, in the order VPN-AL lists them."""
    known = set(machine.get_input_alphabet())
    return tuple(name for name in ERR_INPUTS if name in known) + tuple(sorted(known - set(ERR_INPUTS)))


@dataclass(frozen=True)
class Difference:
    """An input, after the shortest sequence that reaches a pair of states, on which two machines answer apart."""

    inputs: tuple[str, ...]  # the sequence, ending with the distinguishing input
    expected: str  # the published machine's output
    actual: str  # the learned machine's output
    states: tuple[str, str]  # the pair of states (published, learned) it is given in


def distinguishing_inputs(expected: MealyMachine, actual: MealyMachine, inputs: Sequence[str]) -> list[Difference]:
    """Every (reachable state pair, input) where the machines' outputs differ, breadth first over their product.

    The search starts at both initial states, tries the inputs in order, and goes on past each
    difference, so every reachable pair is visited once, by a shortest input sequence.
    """
    start = (expected.initial_state, actual.initial_state)
    seen = {(start[0].state_id, start[1].state_id)}
    queue: deque[tuple[Any, Any, tuple[str, ...]]] = deque([(*start, ())])
    found: list[Difference] = []
    while queue:
        p, q, path = queue.popleft()
        for letter in inputs:
            out_p, out_q = str(p.output_fun[letter]), str(q.output_fun[letter])
            if out_p != out_q:
                found.append(Difference((*path, letter), out_p, out_q, (p.state_id, q.state_id)))
            nxt_p, nxt_q = p.transitions[letter], q.transitions[letter]
            key = (nxt_p.state_id, nxt_q.state_id)
            if key not in seen:
                seen.add(key)
                queue.append((nxt_p, nxt_q, (*path, letter)))
    return found
