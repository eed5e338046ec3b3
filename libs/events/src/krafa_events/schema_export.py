"""JSON Schema for every event version: `python -m krafa_events.schema_export DIR` writes them;
a test compares the committed files with the models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from krafa_events.registry import REGISTRY


def schema_for(type_name: str) -> dict[str, Any]:
    for spec in REGISTRY:
        if spec.type == type_name:
            schema = spec.model.model_json_schema(mode="serialization")
            schema["$id"] = f"https://schemas.krafa.dev/events/{spec.type}.json"
            schema["title"] = spec.type
            return schema
    raise KeyError(type_name)


def render_all() -> dict[str, str]:
    return {
        f"{spec.type}.json": json.dumps(schema_for(spec.type), indent=2, sort_keys=True) + "\n" for spec in REGISTRY
    }


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "libs/events/schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (target / name).write_text(text)
    print(f"wrote {len(REGISTRY)} schemas to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
