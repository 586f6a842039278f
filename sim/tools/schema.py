"""Write the scenario format's JSON Schema to ``docs/scenario.schema.json`` (``make schema``).

A test fails when the committed file differs from what the model produces.
"""

from __future__ import annotations

import json
from pathlib import Path

from sim.scenario import Scenario

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "scenario.schema.json"


def schema_text() -> str:
    """The JSON Schema of a scenario file, as committed."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ikesim scenario"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    """Write the schema file."""
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
