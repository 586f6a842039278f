"""Shared settings: Hypothesis profiles (CI runs more examples) and scenario helpers."""

from __future__ import annotations

import os
import sys
from typing import Any

from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Under ``make fuzz``: each fuzz target's examples, and how many it ran per second."""
    fuzz = next((m for name, m in sys.modules.items() if name.rsplit(".", 1)[-1] == "test_fuzz"), None)
    tally = getattr(fuzz, "FUZZ_TALLY", {})
    if tally:
        terminalreporter.section("fuzz: examples per second")
        for name, (examples, first, last) in tally.items():
            seconds = max(last - first, 1e-9)
            terminalreporter.write_line(f"{name}: {examples:,.0f} examples in {seconds:.1f} s, "
                                        f"{examples / seconds:,.0f} per second")  # fmt: skip
