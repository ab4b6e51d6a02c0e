"""pydantic's validation errors, reworded for someone editing a YAML file.

pydantic words errors for programmers ("Input should be a valid integer, unable to parse string as
an integer"); a file's author wants to know what the field accepts and what they wrote.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["describe"]

_BOUNDS = {"less_than_equal": "le", "less_than": "lt", "greater_than_equal": "ge", "greater_than": "gt"}
_BOUND_SIGNS = {"le": "<=", "lt": "<", "ge": ">=", "gt": ">"}
# The leading word of pydantic's "<kind>_type" / "<kind>_parsing" error types.
_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "decimal": "a number",
    "bool": "true or false",
    "string": "text",
    "list": "a list",
    "tuple": "a list",
    "set": "a list",
    "dict": "a mapping",
    "model": "a mapping",
    "path": "a file path",
}


def describe(err: Any, field: Sequence[str | int], model: type[BaseModel]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a sentence about ``field``."""
    kind, ctx, got = err["type"], err.get("ctx") or {}, _show(err.get("input"))
    if kind == "missing":
        return "a list item is missing" if field and isinstance(field[-1], int) else "required field is missing"
    if kind == "extra_forbidden":
        names = _field_names(_type_at(model, field[:-1]))
        return "unknown field; expected one of: " + ", ".join(names) if names else "unknown field"
    if kind in ("literal_error", "enum"):
        choices = _choices(_type_at(model, field))
        allowed = ", ".join(choices) if choices else ctx.get("expected", "")
        return f"must be one of: {allowed} (got {got})"
    if kind in _BOUNDS:
        bound = _BOUNDS[kind]
        limit = ctx[bound]
        # pydantic reports a float field's bound 1 as 1.0; show it as the schema author wrote it.
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {_BOUND_SIGNS[bound]} {limit} (got {got})"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx['pattern']} (got {got})"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} items (got {ctx['actual_length']})"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items (got {ctx['actual_length']})"
    if kind == "int_from_float":
        return f"must be a whole number (got {got})"
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"])
    wanted = _KINDS.get(kind.split("_")[0]) if kind.endswith(("_type", "_parsing")) else None
    if wanted:
        return f"must be {wanted} (got {got})"
    message = err["msg"]
    return f"{message[:1].lower()}{message[1:]} (got {got})"


def _show(value: Any) -> str:
    """A value as the author wrote it in YAML, shortened."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(tp: Any) -> Any:
    """``tp`` without Annotated metadata and without an ``| None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _type_at(model: type[BaseModel], field: Sequence[str | int]) -> Any:
    """The declared type of ``field`` inside ``model``, or None where the path leaves the declarations."""
    tp: Any = model
    for part in field:
        tp = _unwrap(tp)
        origin, args = get_origin(tp), get_args(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            declared = tp.model_fields.get(part)
            if declared is None:
                return None
            tp = declared.annotation
        elif origin is tuple and isinstance(part, int):
            if len(args) == 2 and args[1] is Ellipsis:
                tp = args[0]
            elif part < len(args):
                tp = args[part]
            else:
                return None
        elif origin in (list, set, frozenset) and isinstance(part, int):
            tp = args[0]
        elif origin is dict:
            tp = args[1]
        else:
            return None
    return _unwrap(tp)


def _field_names(tp: Any) -> list[str]:
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _choices(tp: Any) -> list[str]:
    if get_origin(tp) is Literal:
        return [str(arg) for arg in get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [str(member.value) for member in tp]
    return []
