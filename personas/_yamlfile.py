"""YAML files validated by pydantic models, with every problem reported as FILE:LINE: field: problem.

PyYAML's composed node tree keeps the line of every key and list item; pydantic reports errors by
location. Joining the two lets a mistake deep in a file point at the line to fix. The module knows
nothing about personas, so the harness loads its campaign files with it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ._messages import describe

__all__ = [
    "FieldPath", "SpecError", "SpecErrors", "SpecFile", "load_yaml_model", "load_yaml_spec", "one_or_all", "read_yaml",
]

M = TypeVar("M", bound=BaseModel)
FieldPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class SpecError(ValueError):
    """A malformed file. ``str(err) == "FILE:LINE: field 'a.b.c': problem"``, parts that are None left out."""

    def __init__(self, problem: str, *, path: Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = path
        self.line = line
        self.field = field

    def __str__(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path) if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return ": ".join([*parts, self.problem])


class SpecErrors(SpecError):
    """Several problems at once, in ``errors``; ``str`` gives one per line."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        # Nested groups are flattened so that a caller collecting over many files sees one list.
        self.errors: list[SpecError] = [
            leaf for err in errors for leaf in (err.errors if isinstance(err, SpecErrors) else [err])
        ]
        paths = {err.path for err in self.errors}
        super().__init__(f"{len(self.errors)} problems", path=paths.pop() if len(paths) == 1 else None)

    def __str__(self) -> str:
        return "\n".join(str(err) for err in self.errors)

    def __reduce__(self) -> tuple[type[SpecErrors], tuple[list[SpecError]]]:
        # Exceptions are pickled as (class, args); args here would be the summary, not the errors.
        return SpecErrors, (self.errors,)


def one_or_all(errors: Sequence[SpecError]) -> SpecError:
    """The single error itself, or a SpecErrors grouping several."""
    return errors[0] if len(errors) == 1 else SpecErrors(errors)


class SpecFile:
    """Where each field of a loaded file is, so that later checks can report file and line too."""

    def __init__(self, path: Path | None, lines: dict[FieldPath, int]) -> None:
        self.path = path
        self._lines = lines

    def line_of(self, field: FieldPath) -> int | None:
        """The line of ``field``, else of its nearest enclosing field that is in the file."""
        for end in range(len(field), -1, -1):
            line = self._lines.get(_key(field[:end]))
            if line is not None:
                return line
        return None

    def error(self, field: FieldPath, problem: str) -> SpecError:
        """A SpecError at ``field`` (e.g. ``("interests", 1, "keywords")``)."""
        dotted = ".".join(str(part) for part in field) or None
        return SpecError(problem, path=self.path, line=self.line_of(field), field=dotted)


def read_yaml(path: Path, *, text: str | None = None) -> tuple[dict[Any, Any], SpecFile]:
    """Parse a file whose top level must be a mapping; raise SpecError(s) for anything malformed."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(f"not UTF-8 text (bad byte at offset {exc.start})", path=path) from None
        except OSError as exc:
            raise SpecError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    try:
        data, lines = _parse(text, path)
    except yaml.reader.ReaderError as exc:
        raise SpecError(f"invalid YAML: control character U+{exc.character:04X} is not allowed", path=path,
                        line=text.count("\n", 0, exc.position) + 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context or ""
        if context and exc.context_mark and exc.context_mark is not mark:
            # The context often starts lines above the place where the parser noticed the problem.
            context += f" at line {exc.context_mark.line + 1}"
        problem = ", ".join(part for part in (context, exc.problem) if part)
        raise SpecError(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None) from None
    return data, SpecFile(path, lines)


def _parse(text: str, path: Path | None) -> tuple[dict[Any, Any], dict[FieldPath, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError("file is empty; expected a mapping of fields", path=path, line=1)
        if not isinstance(node, yaml.MappingNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
            raise SpecError(f"the top level must be a mapping of fields, not {kind}", path=path,
                            line=node.start_mark.line + 1)
        lines: dict[FieldPath, int] = {}
        duplicates: list[SpecError] = []
        _walk(loader, node, (), lines, duplicates, path, set())
        if duplicates:
            raise one_or_all(duplicates)
        try:
            data = loader.construct_document(node)
        except ValueError as exc:  # e.g. 2026-13-01, which PyYAML takes for a date but cannot build
            raise SpecError(f"invalid YAML value: {exc}", path=path) from None
    finally:
        loader.dispose()
    return data, lines


def load_yaml_spec(path: Path, model: type[M], *, text: str | None = None,
                   context: dict[str, Any] | None = None) -> tuple[M, SpecFile]:
    """Like :func:`load_yaml_model`, also returning the field locations for later checks."""
    data, spec = read_yaml(path, text=text)
    try:
        return model.model_validate(data, context=context), spec
    except ValidationError as exc:
        errors = [_convert(err, data, model, spec) for err in exc.errors(include_url=False)]
        errors.sort(key=lambda err: err.line or 0)
        raise one_or_all(errors) from None


def load_yaml_model(path: Path, model: type[M], *, text: str | None = None,
                    context: dict[str, Any] | None = None) -> M:
    """Read ``path`` (or ``text``, reported as ``path``) and validate it as ``model``.

    Raises SpecError, or SpecErrors when there are several problems, each naming file, line and field.
    """
    return load_yaml_spec(path, model, text=text, context=context)[0]


def _key(field: FieldPath) -> tuple[str, ...]:
    # Keys are compared as text: YAML may construct ``1`` or ``yes`` keys as non-strings.
    return tuple(str(part) for part in field)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, field: FieldPath, lines: dict[FieldPath, int],
          duplicates: list[SpecError], path: Path | None, active: set[int]) -> None:
    """Record the line of every key and list item below ``node``; collect duplicate keys."""
    if id(node) in active:  # an alias back into its own anchor
        return
    active.add(id(node))
    lines.setdefault(_key(field), node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            # Merge keys (<<) are expanded by the constructor; their fields fall back to the mapping's line.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = str(loader.construct_object(key_node))
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = ".".join(str(part) for part in (*field, key))
                duplicates.append(SpecError(f"duplicate key (first on line {seen[key]})", path=path,
                                            line=line, field=dotted))
                continue
            seen[key] = line
            lines[_key((*field, key))] = line
            _walk(loader, value_node, (*field, key), lines, duplicates, path, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*field, index), lines, duplicates, path, active)
    active.discard(id(node))


def _convert(err: Any, data: Any, model: type[BaseModel], spec: SpecFile) -> SpecError:
    field = _data_path(data, tuple(err["loc"]))
    return spec.error(field, describe(err, field, model))


def _data_path(data: Any, loc: tuple[Any, ...]) -> FieldPath:
    """The part of pydantic's ``loc`` that names places in the data.

    pydantic also puts validator and union-member tags in ``loc``; those match nothing in the data
    and are dropped. A last part missing from a mapping is kept: it is the missing or unknown field.
    """
    field: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        if isinstance(current, dict):
            if part in current:
                field.append(part)
                current = current[part]
            elif position == len(loc) - 1:
                field.append(part)
        elif isinstance(current, list) and isinstance(part, int):
            if 0 <= part < len(current):
                field.append(part)
                current = current[part]
            elif position == len(loc) - 1:
                field.append(part)
    return tuple(field)
