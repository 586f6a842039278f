"""Maintenance commands for ikesim's own repository (not part of the public API)."""
