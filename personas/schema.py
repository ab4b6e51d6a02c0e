"""Print the persona JSON Schema: ``python -m personas.schema > personas/persona.schema.json``."""

from __future__ import annotations

import json

from ._library import persona_schema


def render() -> str:
    """The schema exactly as persona.schema.json holds it."""
    return json.dumps(persona_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
