"""The simulator: drives the protocol core on a virtual clock, through a network with faults, into a trace."""
