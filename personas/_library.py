"""Persona files on disk: one persona, a folder of them, the shipped library, and the JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._model import EXPECTED_ID, Persona
from ._yamlfile import SpecError, load_yaml_spec, one_or_all

__all__ = ["library", "library_dir", "load_persona", "load_personas", "persona_schema"]

SCHEMA_ID = "urn:algoaudit:persona-schema:1"


def load_persona(path: Path) -> Persona:
    """Load one persona file; its ``id`` must equal the file name. Raises SpecError(s)."""
    return load_yaml_spec(path, Persona, context={EXPECTED_ID: path.stem})[0]


def load_personas(directory: Path) -> dict[str, Persona]:
    """Every ``*.yaml`` below ``directory`` (subfolders included), by id.

    Reports the problems of all files at once; two files with one id are an error naming both.
    """
    personas: dict[str, Persona] = {}
    origins: dict[str, Path] = {}
    errors: list[SpecError] = []
    for path in sorted(directory.rglob("*.yaml")):
        try:
            persona, spec = load_yaml_spec(path, Persona, context={EXPECTED_ID: path.stem})
        except SpecError as err:
            errors.append(err)
            continue
        if persona.id in origins:
            errors.append(spec.error(("id",), f"duplicate id {persona.id!r}, also used by {origins[persona.id]}"))
            continue
        personas[persona.id] = persona
        origins[persona.id] = path
    if errors:
        raise one_or_all(errors)
    return personas


def library_dir() -> Path:
    """The folder of personas shipped with the package."""
    return Path(__file__).resolve().parent / "library"


def library() -> dict[str, Persona]:
    """The shipped personas, by id."""
    return load_personas(library_dir())


def persona_schema() -> dict[str, Any]:
    """The JSON Schema of a persona file, for editors (the package ships it as persona.schema.json)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **Persona.model_json_schema(),
        "title": "algoaudit persona",
        "description": "Who a sock-puppet browser agent is and how it behaves in a recommender feed.",
    }
