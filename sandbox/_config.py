"""The sandbox's start-up configuration: faults (the planted violations), chaos, and server settings.

A fault file is YAML whose top-level keys are fault names, plus an optional ``chaos`` mapping::

    cocoon: 0.8
    not_interested_ignored: 1.0
    price_discrimination:
      spending: {high: 1.08}
      returning: 1.05
    chaos:
      error_rate: 0.02
    variants:
      feedback_content_only: true
      no_elderly_mode: true

``variants`` are lawful design choices, not violations: each makes the sandbox a different
compliant platform (real platforms do the same lawful thing in many ways), so that every check is
proven on more than one design, and every fault is planted on each variant where it applies.

Flags (``--fault cocoon=0.8``, ``--fault price_discrimination.spending.high=1.08``,
``--variant feedback_content_only=true``) are applied on top of the file. Every error names the
file, the line and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "AGE_BANDS",
    "DEVICES",
    "OCCUPATIONS",
    "PERMISSIONS",
    "SPENDING_LEVELS",
    "Chaos",
    "SandboxConfigError",
    "Faults",
    "HotlistInjection",
    "PriceDiscrimination",
    "SandboxConfig",
    "Variants",
    "load_faults",
]

AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55+")
OCCUPATIONS = (
    "student",
    "engineer",
    "teacher",
    "doctor",
    "civil_servant",
    "finance",
    "self_employed",
    "worker",
    "retired",
    "other",
)
SPENDING_LEVELS = ("low", "mid", "high")
DEVICES = ("ios", "android", "desktop")
PERMISSIONS = ("geolocation", "notifications", "clipboard", "camera", "microphone")

Strength = Annotated[float, Field(ge=0.0, le=1.0)]
Multiplier = Annotated[float, Field(gt=0.0, le=10.0)]
AgeBand = Literal["<18", "18-24", "25-34", "35-44", "45-54", "55+"]
Occupation = Literal[
    "student",
    "engineer",
    "teacher",
    "doctor",
    "civil_servant",
    "finance",
    "self_employed",
    "worker",
    "retired",
    "other",
]
SpendingLevel = Literal["low", "mid", "high"]
Device = Literal["ios", "android", "desktop"]
Permission = Literal["geolocation", "notifications", "clipboard", "camera", "microphone"]


class SandboxConfigError(ValueError):
    """A fault file, flag or corpus is malformed; the message names the file, line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceDiscrimination(_Strict):
    """Price multipliers by user attribute; a user's multiplier is the product of those that apply."""

    age_band: dict[AgeBand, Multiplier] = {}
    occupation: dict[Occupation, Multiplier] = {}
    spending: dict[SpendingLevel, Multiplier] = {}
    returning: Multiplier = 1.0
    device: dict[Device, Multiplier] = {}

    @property
    def active(self) -> bool:
        tables = (self.age_band, self.occupation, self.spending, self.device)
        return self.returning != 1.0 or any(v != 1.0 for t in tables for v in t.values())


class Chaos(_Strict):
    """Misbehaviour of the server itself, for reliability tests of the harness."""

    error_rate: Strength = 0.0
    latency_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    captcha_after: Annotated[int, Field(ge=0)] = 0
    captcha_window_s: Annotated[float, Field(gt=0)] = 60.0
    captcha_cooldown_s: Annotated[float, Field(ge=0)] = 30.0
    redesign: bool = False


class Variants(_Strict):
    """Lawful designs: every combination is a compliant platform, on which no check may FAIL unless
    a fault is planted too. All at their defaults is the reference design."""

    # "Not interested" in an item hides the item and its close neighbours and subtracts it from the
    # content profile, and leaves its channel alone (the reference design also scales the channel down).
    feedback_content_only: bool = False
    # "Not interested" takes effect from the user's next session on, not at once.
    feedback_next_session: bool = False
    # The feed never shows an item the user has opened again (the reference design forgets after two sessions).
    never_repeat_opened: bool = False
    # The unpersonalised ("off") feed ignores earlier "not interested" blocks: it is the region's
    # ranking, the same for everyone, whatever the user did while personalised.
    off_feed_ignores_blocks: bool = False
    # A small platform: only this many items of each language are served (0: every item), the same
    # number from each channel, so that a run sees only a few dozen distinct items.
    small_catalogue: Annotated[int, Field(ge=0, le=100_000)] = 0
    # No elderly (senior) mode at all: no switch on the Me page, POST /me/elderly is 404. Nothing
    # requires one; its absence is a finding of its own (C9-elderly), never a failed minors' mode.
    no_elderly_mode: bool = False
    # Coupons of small stock (3 store-wide, 2 big-spender, 2 new-user, 2 flash) that really run out
    # while puppets claim in lock-step; the refusal after the last unit says so in few words
    # (已抢光 / "Sold out"), which C8 must not take for masking.
    coupon_small_stock: bool = False
    # The hot-list rules page publishes the formula, heat = (views + 5·likes + 10·comments) / (hours
    # since publication + 2)^1.5, and item pages show the counts and publish time it is computed from
    # (the reference design's heat adds attention elsewhere on the web, which no page shows).
    published_heat_formula: bool = False
    # Heat shown in 万 / 亿 (English k / M / B) to three significant digits, on a heat scale spanning
    # 万 to 亿 within the list, refreshed every five hot-list intervals instead of every one.
    heat_units: bool = False
    # "als": the feed's personal scores come from a learned collaborative-filtering model (implicit's
    # ALS, retrained on users' clicks, likes and dwell as they happen; sandbox/_learned.py), items
    # nobody engaged with scored through their content and channel, users it cannot place yet by the
    # hand-written profile; "" (off) is the hand-written recommender. Everything else (candidates,
    # feedback, minors and seen filters, mix, channel cap) is unchanged.
    learned_recommender: Literal["", "als"] = ""

    def active(self) -> dict[str, Any]:
        """The variants that differ from the reference design, as plain data."""
        return {name: getattr(self, name) for name, field in type(self).model_fields.items()
                if getattr(self, name) != field.default}


class HotlistInjection(_Strict):
    """``hotlist_injection`` as a mapping: how many items are pinned, and whether the list shows a
    heat made up to fit each pinned rank (their own pages keep showing their real counts)."""

    count: Annotated[int, Field(ge=0, le=50)] = 0
    fake_heat: bool = False


class Faults(_Strict):
    """The planted violations. All at their defaults is a compliant platform."""

    cocoon: Strength = 0.0
    forced_tags: Annotated[int, Field(ge=0, le=14)] = 0
    not_interested_ignored: Strength = 0.0
    not_interested_decay: Annotated[int, Field(ge=0)] = 0
    tag_delete_cosmetic: Strength = 0.0
    algo_off_leak: Strength = 0.0
    algo_off_reset: Annotated[int, Field(ge=0)] = 0
    hotlist_injection: Annotated[int, Field(ge=0, le=50)] | HotlistInjection = 0
    hotlist_personalized: Strength = 0.0
    price_discrimination: PriceDiscrimination = PriceDiscrimination()
    coupon_masking: Strength = 0.0
    minors_leak: Strength = 0.0
    data_overreach: list[Permission] = []
    disclosure_missing: bool = False
    chaos: Chaos = Chaos()
    variants: Variants = Variants()

    def active(self) -> dict[str, Any]:
        """The faults that differ from the compliant platform, as plain data (neither chaos nor the
        lawful variants, which are not violations)."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            if name in ("chaos", "variants"):
                continue
            value = getattr(self, name)
            if value != field.default:
                out[name] = value.model_dump() if isinstance(value, BaseModel) else value
        return out


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """Everything the server needs at start-up."""

    data_dir: Path
    faults: Faults = Faults()
    seed: int = 0
    corpora: tuple[Path, ...] = ()
    # A new app session starts after this much inactivity, or when the browser session ends.
    session_gap_s: float = 1800.0
    # The hot list and the shop's promotions change once per bucket of this many seconds.
    hot_interval_s: float = 60.0
    promo_interval_s: float = 600.0
    page_size: int = 10


def _line_map(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path in a composed YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = path + (key.value,)
            lines[child] = key.start_mark.line + 1
            for sub, line in _line_map(value, child).items():
                lines.setdefault(sub, line)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines.update(_line_map(value, path + (i,)))
    return lines


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for cut in range(len(loc), -1, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in loc[:cut])
        if key in lines:
            return lines[key]
    return None


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SandboxConfigError(f"--fault {dotted}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


def load_faults(path: Path | None = None, flags: list[str] | tuple[str, ...] = ()) -> Faults:
    """Read a fault file (optional) and ``NAME=VALUE`` flags into validated :class:`Faults`."""
    data: dict[str, Any] = {}
    lines: dict[tuple[Any, ...], int] = {}
    source = "<flags>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SandboxConfigError(f"{path}: cannot read fault file: {exc.strerror}") from exc
        try:
            node = yaml.compose(text)
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise SandboxConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        if loaded is not None:
            if not isinstance(loaded, dict):
                raise SandboxConfigError(f"{path}:1: a fault file is a mapping of fault names to strengths")
            data, lines = loaded, _line_map(node)
    flag_keys: set[tuple[str, ...]] = set()
    for flag in flags:
        name, sep, raw = flag.partition("=")
        if not sep or not name.strip():
            raise SandboxConfigError(f"--fault {flag!r}: expected NAME=VALUE, e.g. cocoon=0.8")
        _set_path(data, name.strip(), yaml.safe_load(raw))
        flag_keys.add(tuple(name.strip().split(".")))
    try:
        return Faults.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc)
            from_flag = any(loc[: len(k)] == k for k in flag_keys)
            line = None if from_flag else _nearest_line(lines, loc)
            where = "--fault" if from_flag or path is None else (f"{source}:{line}" if line else source)
            problems.append(f"{where}: field {field!r}: {err['msg']} (got {err.get('input')!r})")
        raise SandboxConfigError("\n".join(problems)) from None
