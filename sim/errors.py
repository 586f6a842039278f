"""The base of every error ikesim raises on purpose, so a caller can catch them all at once."""

from __future__ import annotations


class IkesimError(Exception):
    """An error ikesim raises on purpose: bad input it names, or an input a machine refuses."""
