"""The protocol core: IKE state machines as tables, messages and sessions. No I/O, no clock."""
