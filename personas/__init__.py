"""Personas: who each sock puppet is and how it behaves, written as YAML files.

``library()`` gives the shipped personas; ``load_persona``/``load_personas`` read others. Every
malformed file raises a SpecError whose message names the file, the line and the field.
``load_yaml_model`` is the same machinery for any pydantic model (the harness's campaign files).
This package imports nothing else of the project.
"""

from ._credentials import CredentialsError, resolve_password
from ._library import library, library_dir, load_persona, load_personas, persona_schema
from ._model import (
    AGE_BANDS,
    Attributes,
    Behaviour,
    Credentials,
    DwellRange,
    DwellSeconds,
    Interest,
    Persona,
    ProbabilityPair,
)
from ._yamlfile import SpecError, SpecErrors, SpecFile, load_yaml_model, load_yaml_spec

__all__ = [
    "AGE_BANDS",
    "Attributes",
    "Behaviour",
    "Credentials",
    "CredentialsError",
    "DwellRange",
    "DwellSeconds",
    "Interest",
    "Persona",
    "ProbabilityPair",
    "SpecError",
    "SpecErrors",
    "SpecFile",
    "library",
    "library_dir",
    "load_persona",
    "load_personas",
    "load_yaml_model",
    "load_yaml_spec",
    "persona_schema",
    "resolve_password",
]
