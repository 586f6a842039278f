"""The live responder: real IKEv1 datagrams on UDP, the simulator's machines on the real clock."""
