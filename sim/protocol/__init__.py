"""The protocol core: IKE state machines as tables, sessions, profiles. No I/O, no clock, no validation."""
