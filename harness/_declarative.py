"""Declarative drivers: one platform's pages and the steps of every verb, written as a YAML file.

An auditor adapts the harness to a new platform by writing such a file instead of Python (the
format is explained in docs/declarative-drivers.md). :class:`DeclarativeDriver` interprets it with
the same :class:`PageOps` as the hand-written drivers, so a missing control is told from a changed
page, and a page load is counted and its lists reported, the same way. Every mistake that can be
found before a browser starts is reported when the file is loaded, naming the file, the line and
the field.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from playwright.async_api import Locator, Page
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    create_model,
    field_validator,
    model_validator,
)

from personas import SpecError, SpecErrors, SpecFile, load_yaml_spec

from ._browser import translate_errors
from ._counts import parse_count
from ._driver import (
    Account,
    CouponOutcome,
    DisclosurePage,
    FeedCard,
    HotEntry,
    ItemCounts,
    LOGIN_OUTCOMES,
    NotInterestedOutcome,
    OnboardingOutcome,
    PriceSeen,
    SwitchState,
)
from ._pageops import PageOps, Surface
from .errors import ConfigError, DriverDrift, StepTimeout

__all__ = ["DeclarativeDriver", "DriverFile", "builtin_driver_path", "load_driver_file"]

_BUILTIN = {"sandbox-declarative": "sandbox.yaml"}


def builtin_driver_path(name: str) -> Path | None:
    """The driver file packaged under ``name``, if there is one."""
    file = _BUILTIN.get(name)
    return None if file is None else Path(__file__).with_name("drivers") / file


@dataclasses.dataclass(frozen=True)
class _Verb:
    inputs: tuple[str, ...]  # the placeholders it is given
    result: Any  # the type it returns; None: nothing
    choices: tuple[str, ...] = ()  # the texts it may return, when only some are meaningful


_CARD = ("item_id", "title", "author", "channel", "url", "position")
VERBS: dict[str, _Verb] = {
    "sign_up_or_log_in": _Verb(("username", "password", "birth_year", "occupation", "region", "language"), str,
                               LOGIN_OUTCOMES),
    "whoami": _Verb((), str),
    "log_out": _Verb((), bool),
    "onboarding": _Verb(("choose",), OnboardingOutcome),
    "read_feed": _Verb(("pages",), list[FeedCard]),
    "open_item": _Verb(_CARD, None),
    "like": _Verb((), bool),
    "not_interested": _Verb((*_CARD, "reason"), NotInterestedOutcome),
    "list_tags": _Verb((), list[str]),
    "delete_tag": _Verb(("tag",), list[str]),
    "personalization": _Verb(("on",), SwitchState),
    "minors_mode": _Verb(("on", "pin"), SwitchState),
    "elderly_mode": _Verb(("on",), SwitchState),
    "hot_list": _Verb((), list[HotEntry]),
    "item_counts": _Verb(("item_id", "url", "rank", "title"), ItemCounts),
    "product_prices": _Verb(("limit",), list[PriceSeen]),
    "product_price": _Verb(("product_id",), PriceSeen),
    "buy": _Verb(("product_id",), float),
    "claim_coupon": _Verb(("coupon_id",), CouponOutcome),
    "disclosures": _Verb((), list[DisclosurePage]),
}
# Verbs a file may leave out: a campaign step that needs one fails on that driver, and says so.
OPTIONAL_VERBS = frozenset({"item_counts"})
# The lists of items a page can show, reported whichever verb landed there (Driver.observe).
SURFACES: dict[str, type] = {"feed": FeedCard, "hot": HotEntry}
# Placeholders every verb has: the clicks since its last goto, and the address shown now.
_BUILT_IN = ("clicks", "page_url")
# Record fields the harness fills when a file leaves them out: the place in the list, the page load.
_AUTOMATIC = ("position", "load")

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(rf"\{{({_NAME})(?:\.({_NAME}))?\}}")
_COUNT = re.compile(rf"^\s*(?:(\d+)|\{{{_NAME}(?:\.{_NAME})?\}})\s*(?:([+-])\s*(\d+))?\s*$")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


# the file format --------------------------------------------------------------------------------

def _text(value: Any) -> Any:
    """Numbers and true/false written in YAML are text to a template."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _selector_shorthand(value: Any) -> Any:
    """``click: SELECTOR`` is short for ``click: {selector: SELECTOR}``."""
    if isinstance(value, str):
        return {"selector": value}
    if not isinstance(value, dict):
        raise ValueError("must be a selector, or a mapping with a selector")
    return value


def _count(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _COUNT.match(value):
        return value
    raise ValueError('must be a whole number, or a placeholder with an optional + or - number, such as "{pages} - 1"')


def _no_bool_keys(value: Any) -> Any:
    """YAML reads a bare on, off, yes or no as true or false, keys too: say so, not "unknown field True"."""
    if isinstance(value, dict) and any(isinstance(key, bool) for key in value):
        raise ValueError('a key reads as true or false: YAML takes a bare on, off, yes or no for true or false; '
                         'put the key in quotes, such as "on"')
    return value


Name = Annotated[str, Field(pattern=rf"^{_NAME}$")]
Selector = Annotated[str, Field(min_length=1)]
Text = Annotated[str, BeforeValidator(_text)]
Count = Annotated[str, BeforeValidator(_count)]
Value = Annotated[JsonValue, BeforeValidator(_no_bool_keys)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PageSpec(_Strict):
    """A page the driver knows: where it is, and elements that prove a browser is on it."""

    path: Text | None = None  # None: a page reached only by clicking
    anchors: tuple[Selector, ...] = Field(min_length=1)


class CaptchaRule(_Strict):
    selector: Selector | None = None
    text: Selector | None = None

    @model_validator(mode="after")
    def _something(self) -> CaptchaRule:
        if self.selector is None and self.text is None:
            raise ValueError("give a selector, a text, or both")
        return self


class Control(_Strict):
    """An element a step needs. Missing, it is classified by the anchors of the page it should be on."""

    selector: Selector
    control: Text | None = None  # how messages name it; the selector when absent
    anchors: tuple[Selector, ...] | None = None  # instead of the page's, for a control inside a part of it
    timeout_ms: float | None = Field(default=None, gt=0)


class ClickSpec(Control):
    to: Name | None = None  # the page the click leads to: wait for it and land there


class Entry(Control):
    value: Text


class Scroll(Control):
    until_more: Selector | None = None  # wait until the page has more of these


class _Reading(_Strict):
    """What to read from an element: exactly one of text, attribute, link; then regex, then equals."""

    text: bool = False
    attribute: Selector | None = None
    link: bool = False  # the href, as the absolute address it leads to
    regex: str | None = None  # keep the first group, or the whole match
    equals: Text | None = None  # instead of the value: true when it is this, else false

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                groups = re.compile(value).groups
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
            if groups > 1:
                raise ValueError("a regex may have at most one group: the part to keep")
        return value

    def _readings(self) -> int:
        return sum((self.text, self.attribute is not None, self.link))

    def _one_reading(self) -> None:
        if self._readings() != 1:
            raise ValueError("say what to read: exactly one of text: true, attribute: NAME, link: true")


class Extract(Control, _Reading):
    name: Name

    @model_validator(mode="after")
    def _reading(self) -> Extract:
        self._one_reading()
        return self


class Column(_Reading):
    selector: Selector | None = None  # a CSS selector inside the row; the row itself when absent

    @model_validator(mode="after")
    def _reading(self) -> Column:
        self._one_reading()
        return self


class SurfaceSpec(_Strict):
    """A list of items: every element matching ``rows`` is one record, read field by field."""

    rows: Selector
    fields: dict[Name, Column] = Field(min_length=1)


class ExtractList(_Reading):
    name: Name
    rows: Selector | None = None
    fields: dict[Name, Column] | None = None  # records; without them, one value from each row
    surface: Literal["feed", "hot"] | None = None  # instead of rows and fields: read as that surface is
    append: bool = False  # add to the list instead of replacing it
    limit: Count | None = None  # keep at most this many

    @model_validator(mode="after")
    def _reading(self) -> ExtractList:
        if self.surface is not None:
            if self.rows is not None or self.fields is not None or self._readings() or self.regex or self.equals:
                raise ValueError("a surface says where the rows are and what to read: give nothing else")
        elif self.rows is None:
            raise ValueError("give rows (a selector), or the surface to read")
        elif self.fields is None:
            self._one_reading()
        elif self._readings() or self.regex is not None or self.equals is not None:
            raise ValueError("with fields, say what to read in each field, not beside them")
        return self


class Condition(_Strict):
    present: Selector | None = None
    absent: Selector | None = None
    at: Name | None = None
    not_at: Name | None = None
    equal: tuple[Text, Text] | None = None
    not_equal: tuple[Text, Text] | None = None
    contains: tuple[Text, Text] | None = None  # a list (or text), and the item (or part) it must hold

    @model_validator(mode="after")
    def _one(self) -> Condition:
        if len(self.model_fields_set) != 1:
            raise ValueError("a condition is exactly one of: " + ", ".join(Condition.model_fields))
        return self


def _goto_target(value: Any) -> Any:
    if not isinstance(value, str | dict):
        raise ValueError("must be a page name, or a mapping with url and page")
    return value


class GotoUrl(_Strict):
    url: Selector
    page: Name


class Goto(_Strict):
    goto: Annotated[str | GotoUrl, BeforeValidator(_goto_target)]


class OnPage(_Strict):
    on_page: Name


class Click(_Strict):
    click: Annotated[ClickSpec, BeforeValidator(_selector_shorthand)]


class Fill(_Strict):
    fill: Entry


class Select(_Strict):
    select: Entry


class WaitFor(_Strict):
    wait_for: Annotated[Control, BeforeValidator(_selector_shorthand)]


class ScrollIntoView(_Strict):
    scroll_into_view: Annotated[Scroll, BeforeValidator(_selector_shorthand)]


class Settle(_Strict):
    settle: None = None


class ExpectNavigation(_Strict):
    expect_navigation: list[Step] = Field(min_length=1)


class ExtractStep(_Strict):
    extract: Extract


class ExtractListStep(_Strict):
    extract_list: ExtractList


class SetStep(_Strict):
    set: Annotated[dict[Name, Value], BeforeValidator(_no_bool_keys)] = Field(min_length=1)


class AppendArgs(_Strict):
    to: Name
    value: Value


class AppendStep(_Strict):
    append: AppendArgs


class If(_Strict):
    if_: Condition = Field(alias="if")
    then: list[Step] = Field(min_length=1)
    else_: list[Step] = Field(default=[], alias="else")


class Repeat(_Strict):
    repeat: Count
    steps: list[Step] = Field(min_length=1)


class ForEach(_Strict):
    for_each: Name
    as_: Name = Field(alias="as")
    steps: list[Step] = Field(min_length=1)


class Return(_Strict):
    return_: Value = Field(alias="return")


# The key that names a step's primitive; a step's other keys belong to it (then, else, as, steps).
_PRIMITIVES: dict[str, type[_Strict]] = {
    "goto": Goto, "on_page": OnPage, "click": Click, "fill": Fill, "select": Select, "wait_for": WaitFor,
    "scroll_into_view": ScrollIntoView, "settle": Settle, "expect_navigation": ExpectNavigation,
    "extract": ExtractStep, "extract_list": ExtractListStep, "set": SetStep, "append": AppendStep,
    "if": If, "repeat": Repeat, "for_each": ForEach, "return": Return,
}
_BARE = ("settle",)  # primitives written as a bare word


def _step_shape(value: Any) -> Any:
    if isinstance(value, str) and value in _BARE:
        return {value: None}
    unknown = f"unknown step {value!r}; a step is one of: {', '.join(_PRIMITIVES)}"
    if not isinstance(value, dict):
        raise ValueError(unknown)
    _no_bool_keys(value)
    keys = [key for key in value if key in _PRIMITIVES]
    if len(keys) > 1:
        raise ValueError(f"one step per list item: {keys[0]!r} and {keys[1]!r} are two steps")
    if not keys:
        raise ValueError(unknown.replace(repr(value), repr(next(iter(value), ""))))
    kind = keys[0]
    # Checked here, not by the model: its error could not say which keys the step takes.
    takes = [field.alias or name for name, field in _PRIMITIVES[kind].model_fields.items()]
    extra = [key for key in value if key not in takes]
    if extra:
        raise ValueError(f"a {kind} step has no {extra[0]!r}; its keys are: {', '.join(takes)}")
    if kind in _BARE and value[kind] is not None:
        raise ValueError(f"{kind} takes nothing: write it alone, as - {kind}")
    return value


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((key for key in value if key in _PRIMITIVES), None)
    return next((key for key, model in _PRIMITIVES.items() if isinstance(value, model)), None)


def _step_tag(value: Any) -> str | None:
    # pydantic puts the tag in an error's location; one that is not a key of the file keeps it out
    # of the field an error names.
    kind = _step_kind(value)
    return None if kind is None else f"{kind} step"


Step = Annotated[
    typing.Union[tuple(Annotated[model, Tag(f"{key} step")] for key, model in _PRIMITIVES.items())],  # noqa: UP007
    Discriminator(_step_tag),
    BeforeValidator(_step_shape),
]
for _model in (ExpectNavigation, If, Repeat, ForEach):
    _model.model_rebuild()

Verbs = create_model(
    "Verbs", __base__=_Strict, **{verb: (Annotated[list[Step], Field(min_length=1)] | None, None)
                                  if verb in OPTIONAL_VERBS else (Annotated[list[Step], Field(min_length=1)], ...)
                                  for verb in VERBS})


class DriverFile(_Strict):
    """A driver file: the platform's pages, its CAPTCHA, the lists it shows, and the steps of every verb."""

    name: Selector
    timeout_ms: float = Field(default=10_000, gt=0)  # how long a control may take to appear
    variables: dict[Name, Text] = {}  # constants for placeholders; the campaign's target options override them
    captcha: CaptchaRule
    pages: dict[Name, PageSpec] = Field(min_length=1)
    surfaces: dict[Literal["feed", "hot"], SurfaceSpec] = {}
    verbs: Verbs  # type: ignore[valid-type]


# checks the model cannot make -------------------------------------------------------------------

FieldPath = tuple[str | int, ...]


def load_driver_file(path: Path) -> tuple[DriverFile, SpecFile]:
    """Read and check a driver file; ConfigError naming file, line and field for every mistake."""
    try:
        spec, where = load_yaml_spec(path, DriverFile)
        errors = sorted(_problems(spec, where), key=lambda err: err.line or 0)
        if errors:
            raise errors[0] if len(errors) == 1 else SpecErrors(errors)
    except SpecError as exc:
        raise ConfigError(str(exc)) from exc
    return spec, where


def _walk(steps: Sequence[Any], path: FieldPath, in_repeat: bool = False) -> Iterator[tuple[Any, FieldPath, bool]]:
    """Every step, nested ones too, in the order written; and whether it is inside a repeat."""
    for index, step in enumerate(steps):
        here = (*path, index)
        yield step, here, in_repeat
        match step:
            case If():
                yield from _walk(step.then, (*here, "then"), in_repeat)
                yield from _walk(step.else_, (*here, "else"), in_repeat)
            case Repeat():
                yield from _walk(step.steps, (*here, "steps"), True)
            case ForEach():
                yield from _walk(step.steps, (*here, "steps"), in_repeat)
            case ExpectNavigation():
                yield from _walk(step.expect_navigation, (*here, "expect_navigation"), in_repeat)


def _control_of(step: Any) -> tuple[str, Control] | None:
    match step:
        case (Click(click=c) | WaitFor(wait_for=c) | Fill(fill=c) | Select(select=c)
              | ScrollIntoView(scroll_into_view=c)):
            return _step_kind(step) or "", c
        case ExtractStep(extract=c):
            return "extract", c
    return None


def _json_templates(value: JsonValue, at: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _json_templates(item, (*at, k))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _json_templates(item, (*at, key))


def _column_templates(fields: dict[str, Column] | None, at: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    for name, column in (fields or {}).items():
        if column.selector is not None:
            yield (*at, name, "selector"), column.selector


def _templates(step: Any) -> Iterator[tuple[FieldPath, str]]:
    """The step's texts that may hold placeholders, and where each is (relative to the step)."""
    if (control := _control_of(step)) is not None:
        key, c = control
        yield (key, "selector"), c.selector
        if c.control is not None:
            yield (key, "control"), c.control
        for k, anchor in enumerate(c.anchors or ()):
            yield (key, "anchors", k), anchor
        if isinstance(c, Entry):
            yield (key, "value"), c.value
    match step:
        case Goto(goto=GotoUrl() as target):
            yield ("goto", "url"), target.url
        case ExtractListStep(extract_list=spec):
            if spec.rows is not None:
                yield ("extract_list", "rows"), spec.rows
            if spec.limit is not None:
                yield ("extract_list", "limit"), spec.limit
            yield from _column_templates(spec.fields, ("extract_list", "fields"))
        case SetStep(set=values):
            yield from _json_templates(values, ("set",))
        case AppendStep(append=spec):
            yield from _json_templates(spec.value, ("append", "value"))
        case If(if_=condition):
            for kind in ("present", "absent"):
                if (selector := getattr(condition, kind)) is not None:
                    yield ("if", kind), selector
            for kind in ("equal", "not_equal", "contains"):
                for k, text in enumerate(getattr(condition, kind) or ()):
                    yield ("if", kind, k), text
        case Repeat(repeat=times):
            yield ("repeat",), times
        case Return(return_=value):
            yield from _json_templates(value, ("return",))


def _page_refs(step: Any) -> Iterator[tuple[FieldPath, str, bool]]:
    """Pages the step names, where, and whether it needs the page's path."""
    match step:
        case Goto(goto=str() as name):
            yield ("goto",), name, True
        case Goto(goto=GotoUrl() as target):
            yield ("goto", "page"), target.page, False
        case OnPage(on_page=name):
            yield ("on_page",), name, False
        case Click(click=ClickSpec(to=str() as name)):
            yield ("click", "to"), name, False
        case If(if_=Condition(at=str() as name)):
            yield ("if", "at"), name, True
        case If(if_=Condition(not_at=str() as name)):
            yield ("if", "not_at"), name, True


def _defines(step: Any) -> Iterator[tuple[FieldPath, str]]:
    match step:
        case ExtractStep(extract=spec):
            yield ("extract", "name"), spec.name
        case ExtractListStep(extract_list=spec):
            yield ("extract_list", "name"), spec.name
        case SetStep(set=values):
            for name in values:
                yield ("set", name), name
        case AppendStep(append=spec):
            yield ("append", "to"), spec.to
        case ForEach(as_=name):
            yield ("as",), name


def _placeholders(template: str) -> list[str]:
    return [match.group(1) for match in _PLACEHOLDER.finditer(template)]


def _record_class(result: Any) -> type | None:
    """The record class of a verb returning records or a list of them."""
    element = typing.get_args(result)[0] if typing.get_origin(result) is list else result
    return typing.cast(type, element) if dataclasses.is_dataclass(element) else None


def _fields_problem(keys: set[str], cls: type) -> str | None:
    fields = dataclasses.fields(cls)
    required = {f.name for f in fields if f.default is dataclasses.MISSING and f.name not in _AUTOMATIC}
    missing, unknown = sorted(required - keys), sorted(keys - {f.name for f in fields})
    if not missing and not unknown:
        return None
    parts = [f"lacks {', '.join(missing)}"] if missing else []
    parts += [f"has no field {', '.join(unknown)}"] if unknown else []
    return f"a {cls.__name__} {' and '.join(parts)}; its fields are: {', '.join(f.name for f in fields)}"


def _problems(spec: DriverFile, where: SpecFile) -> Iterator[SpecError]:
    for name, surface in spec.surfaces.items():
        at: FieldPath = ("surfaces", name)
        if problem := _fields_problem(set(surface.fields), SURFACES[name]):
            yield where.error((*at, "fields"), problem)
        for rel, template in [(("rows",), surface.rows), *_column_templates(surface.fields, ("fields",))]:
            for used in _placeholders(template):
                yield where.error((*at, *rel), f"unknown placeholder {{{used}}}: a surface is read on any page, "
                                               "outside the verbs, and has none")
    for verb in VERBS:
        if getattr(spec.verbs, verb) is not None:
            yield from _verb_problems(spec, where, verb)


def _verb_problems(spec: DriverFile, where: SpecFile, verb: str) -> Iterator[SpecError]:
    info, steps = VERBS[verb], getattr(spec.verbs, verb)
    walked = list(_walk(steps, ("verbs", verb)))
    defined: dict[str, list[tuple[Any, FieldPath]]] = {}
    for step, path, _ in walked:
        for rel, name in _defines(step):
            if name in _BUILT_IN:
                yield where.error((*path, *rel), f"{{{name}}} is built in; choose another name")
            defined.setdefault(name, []).append((step, path))
    known = {*info.inputs, *_BUILT_IN, *spec.variables, *defined}
    shown = ", ".join(f"{{{name}}}" for name in sorted(known))
    page_known = False
    for step, path, in_repeat in walked:
        for rel, name, needs_path in _page_refs(step):
            page = spec.pages.get(name)
            if page is None:
                hint = "; to open an address, write goto: {url: ADDRESS, page: PAGE}" if rel == ("goto",) else ""
                yield where.error((*path, *rel), f"unknown page {name!r}; the pages are: {', '.join(spec.pages)}{hint}")
            elif needs_path and page.path is None:
                yield where.error((*path, *rel), f"page {name!r} has no path to open or compare")
            elif needs_path:
                for used in _placeholders(page.path or ""):
                    if used not in known:
                        yield where.error((*path, *rel), f"the path of page {name!r} uses {{{used}}}, which {verb} "
                                                         f"does not have; it has: {shown}")
        for rel, template in _templates(step):
            for used in _placeholders(template):
                if used not in known:
                    yield where.error((*path, *rel), f"unknown placeholder {{{used}}}; {verb} has: {shown}")
        match step:
            case ForEach(for_each=name) if name not in known:
                yield where.error((*path, "for_each"), f"unknown list {name!r}; {verb} has: {shown}")
            case ExtractListStep(extract_list=ExtractList(surface=str() as name)) if name not in spec.surfaces:
                yield where.error((*path, "extract_list", "surface"), f"no surface {name!r} in this file's surfaces")
            case ScrollIntoView(scroll_into_view=Scroll(until_more=str())) if not in_repeat:
                yield where.error((*path, "scroll_into_view", "until_more"),
                                  "until_more belongs inside a repeat: it ends the repeat when no more come")
            case Return():
                yield from _return_problems(verb, step, path, defined, where)
        page_known = page_known or isinstance(step, Goto | OnPage)
        control = _control_of(step)
        if control is not None and control[1].anchors is None and not page_known:
            yield where.error(path, "which page is this on? Put a goto or an on_page step before it, "
                                    "or give the control its own anchors")
        page_known = page_known or isinstance(step, Click) and step.click.to is not None
    if info.result is not None and not isinstance(steps[-1], Return):
        yield where.error(("verbs", verb, len(steps) - 1), f"{verb} must end with a return step")


def _return_problems(verb: str, step: Return, path: FieldPath, defined: dict[str, list[tuple[Any, FieldPath]]],
                     where: SpecFile) -> Iterator[SpecError]:
    result, value, at = VERBS[verb].result, step.return_, (*path, "return")
    if result is None:
        yield where.error(at, f"{verb} returns nothing; leave the return step out")
        return
    choices = VERBS[verb].choices
    if choices and not (isinstance(value, str) and _PLACEHOLDER.fullmatch(value)) and _text(value) not in choices:
        yield where.error(at, f"{verb} returns one of {', '.join(choices)}, not {_text(value)!r}")
        return
    cls = _record_class(result)
    if cls is None:
        return
    many = typing.get_origin(result) is list
    written = value if many and isinstance(value, list) else [value] if not many and isinstance(value, dict) else None
    if written is not None:
        for k, item in enumerate(written):
            problem = _fields_problem(set(item), cls) if isinstance(item, dict) else f"a {cls.__name__} is a mapping"
            if problem:
                yield where.error((*at, k) if many else at, problem)
        return
    whole = _PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
    if whole is None or whole.group(2) is not None:
        kind = f"a list of {cls.__name__} records" if many else f"a mapping of the {cls.__name__} fields"
        yield where.error(at, f"{verb} returns {kind}: write it here, or name the variable that holds it, "
                              'such as "{found}"')
        return
    # Records are built where the variable is filled: their fields must be the verb's.
    for source, source_path in defined.get(whole.group(1), []):
        if isinstance(source, ExtractListStep) and source.extract_list.fields is not None:
            keys, rel = set(source.extract_list.fields), ("extract_list", "fields")
        elif isinstance(source, AppendStep) and isinstance(source.append.value, dict):
            keys, rel = set(source.append.value), ("append", "value")
        else:
            continue
        if problem := _fields_problem(keys, cls):
            yield where.error((*source_path, *rel), f"{verb} returns these records: {problem}")


# running ----------------------------------------------------------------------------------------

class _Returned(Exception):
    def __init__(self, value: Any):
        self.value = value


class _Stalled(Exception):
    """A list stopped growing: the enclosing repeat ends."""


@dataclasses.dataclass
class _Run:
    """One verb being run: its variables, the page it expects to be on, the clicks since its last goto."""

    page: Page
    verb: str
    values: dict[str, Any]
    on: PageSpec | None = None
    clicks: int = 0


# One snapshot of all rows: reading element by element would race a page that is still changing
# (an infinite feed) and cost a round trip per cell.
_ROWS_JS = """(rows, spec) => {
    const read = (el, how) => {
        if (!el) return null;
        if (how.text) return el.innerText;
        if (how.attribute) return el.getAttribute(how.attribute);
        const href = el.getAttribute('href');
        return href === null ? null : new URL(href, document.baseURI).href;
    };
    return rows.map(row => {
        if (spec.fields === null) return read(row, spec);
        const out = {};
        for (const [name, f] of Object.entries(spec.fields))
            out[name] = read(f.selector ? row.querySelector(f.selector) : row, f);
        return out;
    });
}"""
_LINK_JS = "e => { const h = e.getAttribute('href'); return h === null ? '' : new URL(h, document.baseURI).href; }"


class DeclarativeDriver:
    """A :class:`~harness._driver.Driver` whose pages and steps come from a driver file."""

    def __init__(self, spec: DriverFile, where: SpecFile, base_url: str, options: dict[str, Any] | None = None,
                 evidence_dir: Path | None = None):
        options = options or {}
        self.spec = spec
        self.where = where
        self.name = spec.name
        # The campaign's target options carry settings for others too (dwell_scale): take only ours.
        self.variables = {**spec.variables,
                          **{key: _text(value) for key, value in options.items() if key in spec.variables}}
        timeout_ms = options.get("timeout_ms", spec.timeout_ms)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float) or timeout_ms <= 0:
            raise ConfigError(f"the target option timeout_ms must be a number of milliseconds, not {timeout_ms!r}")
        self.ops = PageOps(base_url, captcha_check=self.captcha_shown, evidence_dir=evidence_dir,
                           timeout_ms=float(timeout_ms),
                           surfaces={name: Surface(surface.rows, self._surface_reader(name))
                                     for name, surface in spec.surfaces.items()})

    @classmethod
    def from_file(cls, path: Path, base_url: str, options: dict[str, Any] | None = None,
                  evidence_dir: Path | None = None) -> DeclarativeDriver:
        spec, where = load_driver_file(Path(path))
        return cls(spec, where, base_url, options, evidence_dir)

    def observe(self, page: Page, callback: Callable[[str, list[FeedCard] | list[HotEntry]], None]) -> None:
        self.ops.observe(page, callback)

    async def captcha_shown(self, page: Page) -> bool:
        rule = self.spec.captcha
        with translate_errors("checking for a CAPTCHA"):
            if rule.selector is not None and await page.locator(rule.selector).count():
                return True
            return rule.text is not None and await page.get_by_text(rule.text).count() > 0

    # the verbs ----------------------------------------------------------------------------------

    async def sign_up_or_log_in(self, page: Page, account: Account) -> str:
        return await self._perform("sign_up_or_log_in", page, {
            "username": account.username, "password": account.password, "birth_year": str(account.birth_year),
            "occupation": account.occupation, "region": account.region, "language": account.language})

    async def log_out(self, page: Page) -> bool:
        return await self._perform("log_out", page, {})

    async def whoami(self, page: Page) -> str:
        return await self._perform("whoami", page, {})

    async def onboarding(self, page: Page, choose: list[str]) -> OnboardingOutcome:
        return await self._perform("onboarding", page, {"choose": list(choose)})

    async def read_feed(self, page: Page, pages: int) -> list[FeedCard]:
        return await self._perform("read_feed", page, {"pages": str(pages)})

    async def open_item(self, page: Page, card: FeedCard) -> None:
        await self._perform("open_item", page, _card_values(card))

    async def like(self, page: Page) -> bool:
        return await self._perform("like", page, {})

    async def not_interested(self, page: Page, card: FeedCard, reason: str) -> NotInterestedOutcome:
        return await self._perform("not_interested", page, {**_card_values(card), "reason": reason})

    async def list_tags(self, page: Page) -> list[str]:
        return await self._perform("list_tags", page, {})

    async def delete_tag(self, page: Page, tag: str) -> list[str]:
        return await self._perform("delete_tag", page, {"tag": tag})

    async def personalization(self, page: Page, on: bool | None) -> SwitchState:
        return await self._perform("personalization", page, {"on": "" if on is None else _text(on)})

    async def minors_mode(self, page: Page, on: bool, pin: str) -> SwitchState:
        return await self._perform("minors_mode", page, {"on": _text(on), "pin": pin})

    async def elderly_mode(self, page: Page, on: bool | None) -> SwitchState:
        return await self._perform("elderly_mode", page, {"on": "" if on is None else _text(on)})

    async def hot_list(self, page: Page) -> list[HotEntry]:
        return await self._perform("hot_list", page, {})

    async def item_counts(self, page: Page, entry: HotEntry) -> ItemCounts:
        return await self._perform("item_counts", page, {"item_id": entry.item_id, "url": entry.url,
                                                         "rank": str(entry.rank), "title": entry.title})

    async def product_prices(self, page: Page, limit: int) -> list[PriceSeen]:
        return await self._perform("product_prices", page, {"limit": str(limit)})

    async def product_price(self, page: Page, product_id: str) -> PriceSeen:
        return await self._perform("product_price", page, {"product_id": product_id})

    async def buy(self, page: Page, product_id: str) -> float:
        return await self._perform("buy", page, {"product_id": product_id})

    async def claim_coupon(self, page: Page, coupon_id: str) -> CouponOutcome:
        return await self._perform("claim_coupon", page, {"coupon_id": coupon_id})

    async def disclosures(self, page: Page) -> list[DisclosurePage]:
        return await self._perform("disclosures", page, {})

    # the interpreter ----------------------------------------------------------------------------

    async def _perform(self, verb: str, page: Page, inputs: dict[str, Any]) -> Any:
        run = _Run(page, verb, {**self.variables, **inputs})
        path: FieldPath = ("verbs", verb)
        if getattr(self.spec.verbs, verb) is None:
            raise ConfigError(f"{self.where.path}: the driver file has no verb {verb}: a campaign step needs it")
        try:
            await self._steps(run, getattr(self.spec.verbs, verb), path)
        except _Returned as done:
            value = self._typed(done.value, VERBS[verb].result, run, path)
            if VERBS[verb].choices and value not in VERBS[verb].choices:
                raise self._error(path, f"{verb} returned {value!r}; it returns one of "
                                        f"{', '.join(VERBS[verb].choices)}") from None
            return value
        return None

    def _surface_reader(self, name: str) -> Callable[[Page, int], typing.Awaitable[list[Any]]]:
        surface, path = self.spec.surfaces[name], ("surfaces", name)

        # PageOps passes the page load; _typed fills records' load with the same number.
        async def read(page: Page, _load: int) -> list[Any]:
            run = _Run(page, "observe", {})
            rows = await self._rows(run, surface.rows, surface.fields, None, path)
            return self._typed(rows, list[SURFACES[name]], run, path)  # type: ignore[valid-type]

        return read

    async def _steps(self, run: _Run, steps: Sequence[Any], path: FieldPath) -> None:
        for index, step in enumerate(steps):
            await self._step(run, step, (*path, index))

    async def _step(self, run: _Run, step: Any, path: FieldPath) -> None:
        page, ops = run.page, self.ops
        match step:
            case Goto(goto=str() as name):
                await ops.goto(page, self._render(run, self.spec.pages[name].path or "", path))
                run.on, run.clicks = self.spec.pages[name], 0
            case Goto(goto=GotoUrl() as target):
                await ops.goto(page, self._render(run, target.url, path))
                run.on, run.clicks = self.spec.pages[target.page], 0
            case OnPage(on_page=name):
                run.on = self.spec.pages[name]
            case Click(click=spec):
                locator, name = await self._require(run, spec, path)
                if spec.to is None:
                    with translate_errors(f"clicking {name}"):
                        await locator.click()
                else:
                    with translate_errors(f"following {name}"):
                        async with page.expect_navigation():
                            await locator.click()
                    await ops.landed(page)
                    run.on = self.spec.pages[spec.to]
                run.clicks += 1
            case Fill(fill=entry):
                locator, name = await self._require(run, entry, path)
                with translate_errors(f"filling {name}"):
                    await locator.fill(self._render(run, entry.value, path))
            case Select(select=entry):
                locator, name = await self._require(run, entry, path)
                with translate_errors(f"choosing in {name}"):
                    await locator.select_option(self._render(run, entry.value, path))
            case WaitFor(wait_for=control):
                await self._require(run, control, path)
            case ScrollIntoView(scroll_into_view=scroll):
                await self._scroll(run, scroll, path)
            case Settle():
                await ops.settle(page)
            case ExpectNavigation(expect_navigation=inner):
                with translate_errors("waiting for the next page"):
                    async with page.expect_navigation():
                        await self._steps(run, inner, (*path, "expect_navigation"))
                await ops.landed(page)
            case ExtractStep(extract=spec):
                locator, name = await self._require(run, spec, path)
                with translate_errors(f"reading {name}"):
                    if spec.text:
                        raw = await locator.inner_text()
                    elif spec.attribute is not None:
                        raw = await locator.get_attribute(spec.attribute) or ""
                    else:
                        raw = await locator.evaluate(_LINK_JS)
                run.values[spec.name] = self._refine(raw, spec, run)
            case ExtractListStep(extract_list=spec):
                await self._extract_list(run, spec, path)
            case SetStep(set=values):
                for name, value in values.items():
                    run.values[name] = self._value(run, value, path)
            case AppendStep(append=spec):
                target = run.values.setdefault(spec.to, [])
                if not isinstance(target, list):
                    raise self._error(path, f"cannot append to {{{spec.to}}}: it is not a list")
                target.append(self._value(run, spec.value, path))
            case If(if_=condition):
                holds = await self._holds(run, condition, path)
                await self._steps(run, step.then if holds else step.else_, (*path, "then" if holds else "else"))
            case Repeat(repeat=times):
                for _ in range(self._count(run, times, path)):
                    try:
                        await self._steps(run, step.steps, (*path, "steps"))
                    except _Stalled:
                        break
            case ForEach(for_each=name, as_=alias):
                items = self._lookup(run, name, None, path)
                if not isinstance(items, list):
                    raise self._error(path, f"for_each needs a list; {{{name}}} is not one")
                for item in list(items):
                    run.values[alias] = item
                    await self._steps(run, step.steps, (*path, "steps"))
            case Return(return_=value):
                raise _Returned(self._value(run, value, path))

    async def _require(self, run: _Run, control: Control, path: FieldPath) -> tuple[Locator, str]:
        selector = self._render(run, control.selector, path)
        name = self._render(run, control.control, path) if control.control is not None else selector
        if control.anchors is not None:
            anchors = tuple(self._render(run, anchor, path) for anchor in control.anchors)
        elif run.on is not None:
            anchors = run.on.anchors
        else:
            raise self._error(path, "no page declared before this step: add a goto or an on_page step")
        locator = await self.ops.require(run.page, selector, control=name, anchors=anchors,
                                         timeout_ms=control.timeout_ms)
        return locator, name

    async def _scroll(self, run: _Run, scroll: Scroll, path: FieldPath) -> None:
        locator, name = await self._require(run, scroll, path)
        more = None if scroll.until_more is None else run.page.locator(scroll.until_more)
        with translate_errors(f"scrolling to {name}"):
            before = 0 if more is None else await more.count()
            await locator.scroll_into_view_if_needed()
        if more is None:
            return
        try:
            with translate_errors(f"waiting for more {scroll.until_more}"):
                await more.nth(before).wait_for(state="attached", timeout=self.ops.timeout_ms)
        except StepTimeout:
            raise _Stalled() from None

    async def _extract_list(self, run: _Run, spec: ExtractList, path: FieldPath) -> None:
        if spec.surface is not None:
            surface = self.spec.surfaces[spec.surface]
            items = await self._rows(run, surface.rows, surface.fields, None, ("surfaces", spec.surface))
        else:
            items = await self._rows(run, spec.rows or "", spec.fields, spec, path)
        if spec.append:
            earlier = run.values.get(spec.name, [])
            if not isinstance(earlier, list):
                raise self._error(path, f"cannot append to {{{spec.name}}}: it is not a list")
            items = earlier + items
        if spec.limit is not None:
            items = items[: self._count(run, spec.limit, path)]
        run.values[spec.name] = items

    async def _rows(self, run: _Run, rows: str, fields: dict[str, Column] | None, reading: _Reading | None,
                    path: FieldPath) -> list[Any]:
        """Every element matching ``rows``: one value each (``reading``), or a record of ``fields``."""
        columns = None if fields is None else {
            name: {"selector": self._render(run, column.selector, path) if column.selector else None,
                   "text": column.text, "attribute": column.attribute}
            for name, column in fields.items()}
        shape = {"fields": columns, "text": reading and reading.text, "attribute": reading and reading.attribute}
        with translate_errors(f"reading {rows}"):
            raw = await run.page.eval_on_selector_all(self._render(run, rows, path), _ROWS_JS, shape)
        if fields is None:
            assert reading is not None  # the model asks for fields or a reading
            return [self._refine(value or "", reading, run) for value in raw]
        return [{name: self._refine(row[name] or "", column, run) for name, column in fields.items()} for row in raw]

    def _refine(self, raw: str, reading: _Reading, run: _Run) -> str:
        value = raw.strip() if reading.text else raw
        if reading.regex is not None:
            match = re.search(reading.regex, value)
            if match is None:
                raise DriverDrift(f"{run.page.url}: {value!r} does not match {reading.regex!r}", url=run.page.url)
            value = match.group(1) if match.re.groups else match.group(0)
        return _text(value == reading.equals) if reading.equals is not None else value

    async def _holds(self, run: _Run, condition: Condition, path: FieldPath) -> bool:
        if condition.present is not None or condition.absent is not None:
            selector = self._render(run, condition.present or condition.absent or "", path)
            with translate_errors(f"looking for {selector}"):
                found = await run.page.locator(selector).count() > 0
            return found if condition.present is not None else not found
        if condition.at is not None or condition.not_at is not None:
            page = self.spec.pages[condition.at or condition.not_at or ""]
            here = urlsplit(run.page.url).path == urlsplit(self._render(run, page.path or "", path)).path
            return here if condition.at is not None else not here
        if condition.contains is not None:
            whole, part = (self._value(run, text, path) for text in condition.contains)
            return part in whole
        pair = condition.equal or condition.not_equal or ("", "")
        same = self._value(run, pair[0], path) == self._value(run, pair[1], path)
        return same if condition.equal is not None else not same

    # values -------------------------------------------------------------------------------------

    def _lookup(self, run: _Run, name: str, part: str | None, path: FieldPath) -> Any:
        if name == "clicks":
            value: Any = str(run.clicks)
        elif name == "page_url":
            value = run.page.url
        elif name in run.values:
            value = run.values[name]
        else:
            raise self._error(path, f"{{{name}}} has no value yet when this step runs")
        if part is None:
            return value
        if isinstance(value, list) and part == "count":
            return str(len(value))
        if isinstance(value, dict) and part in value:
            return value[part]
        raise self._error(path, f"{{{name}.{part}}}: {{{name}}} has no {part!r} (records have fields, lists a count)")

    def _render(self, run: _Run, template: str, path: FieldPath) -> str:
        def scalar(match: re.Match[str]) -> str:
            value = self._lookup(run, match.group(1), match.group(2), path)
            if not isinstance(value, str):
                raise self._error(path, f"{match.group(0)} is a list or a record: it can only stand alone")
            return value

        return _PLACEHOLDER.sub(scalar, template)

    def _value(self, run: _Run, raw: JsonValue, path: FieldPath) -> Any:
        """A value written in the file: a lone placeholder keeps its list or record; the rest is text."""
        if isinstance(raw, str):
            whole = _PLACEHOLDER.fullmatch(raw)
            return self._lookup(run, whole.group(1), whole.group(2), path) if whole else self._render(run, raw, path)
        if isinstance(raw, list):
            return [self._value(run, item, path) for item in raw]
        if isinstance(raw, dict):
            return {key: self._value(run, item, path) for key, item in raw.items()}
        return "" if raw is None else _text(raw)

    def _count(self, run: _Run, text: str, path: FieldPath) -> int:
        match = _COUNT.match(self._render(run, text, path))
        if match is None or match.group(1) is None:
            raise self._error(path, f"{text!r} is not a whole number here")
        base, offset = int(match.group(1)), int(match.group(3) or 0)
        return max(0, base - offset if match.group(2) == "-" else base + offset)

    def _typed(self, value: Any, tp: Any, run: _Run, path: FieldPath, position: int = 0) -> Any:
        """``value`` as the type the verb returns. Page text that does not parse: the page changed."""
        origin = typing.get_origin(tp)
        if tp is str and isinstance(value, str):
            return value
        if tp is bool and value in ("true", "false"):
            return value == "true"
        if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):
            # An optional field: empty text is no value; anything else is read as the type it may be.
            if value in ("", None):
                return None
            (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
            return self._typed(value, inner, run, path, position)
        if tp is float and isinstance(value, str):
            # A count shown with a unit is that many units: "11.8万" is 118000, "1.2k" 1200.
            number = parse_count(value)
            if number is None:
                raise DriverDrift(f"{run.page.url}: no {_describe(tp)} in {value!r}", url=run.page.url)
            return number
        if tp is int and isinstance(value, str):
            number = _NUMBER.search(value.replace(",", ""))
            if number is None or "." in number.group():
                raise DriverDrift(f"{run.page.url}: no {_describe(tp)} in {value!r}", url=run.page.url)
            return int(number.group())
        if origin in (list, tuple) and isinstance(value, list):
            element = typing.get_args(tp)[0]
            items = [self._typed(item, element, run, path, k) for k, item in enumerate(value)]
            return items if origin is list else tuple(items)
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            hints = typing.get_type_hints(tp)
            automatic = {"position": str(position), "load": str(self.ops.load_number(run.page))}
            record = {**{k: v for k, v in automatic.items() if k in hints}, **value}
            fields = [f.name for f in dataclasses.fields(tp) if f.name in record]
            if problem := _fields_problem(set(record), typing.cast(type, tp)):
                raise self._error(path, problem)
            return tp(**{name: self._typed(record[name], hints[name], run, path) for name in fields})
        raise self._error(path, f"{run.verb} returns {_describe(tp)}, not {value!r}")

    def _error(self, path: FieldPath, problem: str) -> ConfigError:
        return ConfigError(str(self.where.error(path, problem)))


def _card_values(card: FeedCard) -> dict[str, str]:
    return {name: str(getattr(card, name)) for name in _CARD}


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) in (list, tuple):
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return f"a {typing.cast(type, tp).__name__} record"
    return {str: "text", bool: "true or false", float: "a number", int: "a whole number"}.get(tp, str(tp))
