"""Outputs: traces, timelines, and later events, pcaps and diagrams."""
