"""``make interop``: ikesim against real strongSwan (charon, IKEv1 and IKEv2) in network namespaces.

``python -m interop [CASE...] [--keep]`` (root; skips with a message naming what is missing)
makes three namespaces (``ikesim-ia`` initiator, ``ikesim-im`` a userspace relay that can damage
or drop chosen datagrams, ``ikesim-ib`` responder: :mod:`interop.net`), and for each case of
:mod:`interop.cases` starts the daemons with short timers (:mod:`interop.strongswan`), captures
both ends with tcpdump, reduces the captures with tshark and the daemons' logs to a recording
(:mod:`interop.reduce`), writes it to ``tests/data/interop/CASE.json`` and compares it with
ikesim's run of ``tests/data/interop/CASE.toml`` (:mod:`interop.compare`). It exits 1 when a
difference is not listed in :data:`interop.expected.EXPECTED_DIFFERENCES`, or a listed one no
longer occurs. Every process it starts is stopped by its PID and the namespaces are deleted at
the end, also on failure; leftovers of a crashed run are removed first.

Recording format (``ikesim.interop/1``), one JSON object per case:

- ``case``, ``summary``, ``scenario`` (the ikesim scenario file beside it), ``recorded`` (UTC);
- ``daemons``: ``initiator`` and ``responder``, each with ``daemon`` (``charon``, or ``silent``
  for UDP sockets that never answer), ``version`` (from charon's log, e.g. ``strongSwan 5.9.8``)
  and its config (``ike_version``, ``proposals``, ``esp_proposals``, ``retransmit_timeout``,
  ``retransmit_base``, ``retransmit_tries``, ``retransmit_jitter``, ``retransmit_limit``,
  ``half_open_timeout``);
- ``relay``: the relay's arguments (``--damage N``: the N-th initiator datagram damaged;
  ``--cut-after N``: every datagram after the initiator's N-th dropped, both ways);
- ``t0_unix``: the time of the first datagram; every ``t_ms`` is milliseconds after it;
- ``messages``, in order, each from its sender's capture: ``t_ms``, ``dir`` (``i->r`` or
  ``r->i``), ``protocol``, ``exchange``, ``message`` (MM1..MM6, QM1..QM3, INFO for IKEv1, named
  by exchange type and position since encrypted IKEv1 messages cannot be read; ``IKE_SA_INIT
  request``... for IKEv2), ``message_id``, ``encrypted``, ``notifies`` (all notify types: from
  tshark in clear, else from the payload list charon logs for each message it generates),
  ``payloads`` (that list, when known), ``retransmit`` (the same bytes sent before by the same
  side), ``delivery`` (``delivered``, ``damaged`` or ``lost``), ``bytes``;
- ``events``: from the daemons' logs, each with ``t_ms``, ``side``, ``event`` and the ``log``
  line: ``established``, ``child_established``, ``give_up`` ("giving up after N retransmits"),
  ``half_open_deleted`` ("deleting half open IKE_SA ... after timeout"), ``notify_error``,
  ``parse_error``, ``no_proposal``, ``auth_failed``, ``invalid_ke``, ``failed``.

The comparison (:func:`interop.compare.compare`): the messages in order (direction, name,
retransmission, error notifies, damaged or not), each message's time within 50 ms, who gives up
and when within 50 ms, and which sides establish the IKE SA.
"""
