"""The simulator: virtual clock, network, faults and retransmission profiles. It knows no protocol."""
