"""The wire layer: what goes on the wire, built from what the simulation decided."""
