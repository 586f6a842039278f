"""Renderers: each output format turns a trace, and only a trace, into files, through one registry."""
