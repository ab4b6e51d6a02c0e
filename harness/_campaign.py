"""Campaign files: who runs (groups of puppets), against what (the target), and when (the rounds).

A campaign is YAML::

    name: not-interested-zh
    target: {driver: sandbox, base_url: "http://127.0.0.1:8765"}
    groups:
      - {name: treated, persona: zh-sports-fan, replicas: 3, role: treatment}
      - {name: control, persona: zh-sports-fan, replicas: 3, role: control}
    rounds:
      - {name: warm-up, phase: warmup, repeat: 3, steps: [read_feed]}
      - name: reject
        phase: intervention
        groups: [treated]
        steps: [{not_interested: {topic: sports, count: 3}}]
      - {name: measure, phase: measurement, repeat: 3, steps: [{read_feed: {engage: false}}]}
    checks: [C3]

Each round is one browser session per puppet of its groups, run in lock-step: a round starts
when the previous one has finished for every puppet. ``group_steps: {GROUP: [steps]}`` gives some
of a round's groups steps of their own, so that groups a check compares (treated puppets and
their placebo controls) act in the same round, their sessions interleaved in one batch. Errors name the file, the line and the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from personas import Persona, SpecError, library, load_personas, load_yaml_model

__all__ = ["CHECK_IDS", "STEP_ARGS", "Campaign", "ExpandedRound", "Group", "Round", "Step", "load_campaign"]

CheckId = Literal["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12"]
CHECK_IDS: tuple[str, ...] = get_args(CheckId)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OnboardingArgs(_Strict):
    choose: list[str] | Literal["interests"] = "interests"


class ReadFeedArgs(_Strict):
    pages: int | None = Field(default=None, ge=1, le=50)
    engage: bool = True


class NotInterestedArgs(_Strict):
    topic: str | None = None
    count: int = Field(default=3, ge=1, le=50)
    reason: Literal["item", "channel", "author"] = "item"
    # A control's placebo: pick the items the same way and press nothing (recorded as not_interested_sham).
    sham: bool = False
    # Feed pages to read, one page load each, looking for ``count`` items of the topic; what is
    # still missing after them is the step's shortfall.
    max_pages: int = Field(default=5, ge=1, le=50)


class NoArgs(_Strict):
    pass


class HotListArgs(_Strict):
    # Open the first N entries' own pages after the snapshot and record their public counts
    # (observations of kind hot_entry, linked to the snapshot by its page load and the rank).
    open_entries: int = Field(default=0, ge=0, le=100)


class DeleteTagArgs(_Strict):
    tag: str | None = None
    topic: str | None = None

    @model_validator(mode="after")
    def _one(self) -> DeleteTagArgs:
        if (self.tag is None) == (self.topic is None):
            raise ValueError("give exactly one of 'tag' (as the platform shows it) or 'topic' (a persona interest)")
        return self


# "enabled", not "on": YAML 1.1 reads the key `on` as the boolean true.
class PersonalizationArgs(_Strict):
    enabled: bool | None = None


class MinorsModeArgs(_Strict):
    enabled: bool
    pin: str = Field(default="1234", pattern=r"^\d{4}$")


class ElderlyModeArgs(_Strict):
    enabled: bool | None = None  # None: only look for the switch and read it


class ViewProductsArgs(_Strict):
    limit: int = Field(default=20, ge=1, le=200)


class ProductPriceArgs(_Strict):
    product: str


class BuyArgs(_Strict):
    product: str | None = None
    strategy: Literal["cheapest", "priciest"] = "cheapest"
    count: int = Field(default=1, ge=1, le=50)
    until_spent: float | None = Field(default=None, gt=0)


class ClaimCouponArgs(_Strict):
    coupon: str


STEP_ARGS: dict[str, type[BaseModel]] = {
    "onboarding": OnboardingArgs,
    "read_feed": ReadFeedArgs,
    "not_interested": NotInterestedArgs,
    "list_tags": NoArgs,
    "delete_tag": DeleteTagArgs,
    "personalization": PersonalizationArgs,
    "minors_mode": MinorsModeArgs,
    "elderly_mode": ElderlyModeArgs,
    "hot_list": HotListArgs,
    "view_products": ViewProductsArgs,
    "product_price": ProductPriceArgs,
    "buy": BuyArgs,
    "claim_coupon": ClaimCouponArgs,
    "disclosures": NoArgs,
    "log_out": NoArgs,
    "log_in": NoArgs,
}


class Step(_Strict):
    """One verb with its arguments; written ``read_feed`` or ``{read_feed: {pages: 2}}``."""

    verb: str
    args: BaseModel

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> dict[str, Any]:
        if isinstance(raw, str):
            verb, args = raw, {}
        elif isinstance(raw, dict) and len(raw) == 1:
            verb, args = next(iter(raw.items()))
            args = {} if args is None else args
        else:
            raise ValueError("a step is a verb (read_feed) or a mapping with one verb ({read_feed: {pages: 2}})")
        if verb not in STEP_ARGS:
            raise ValueError(f"unknown step {verb!r}; steps: {', '.join(STEP_ARGS)}")
        if not isinstance(args, dict):
            raise ValueError(f"the arguments of {verb} must be a mapping")
        if any(isinstance(k, bool) for k in args):
            raise ValueError(f"{verb}: YAML reads the keys on/off/yes/no as true/false; write 'enabled: true'")
        try:
            parsed = STEP_ARGS[verb].model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{verb}.{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(problems) from None
        return {"verb": verb, "args": parsed}


class Target(_Strict):
    driver: str = "sandbox"
    base_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    options: dict[str, Any] = {}


class Accounts(_Strict):
    prefix: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9]{0,11}$")


class Group(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    persona: str
    replicas: int = Field(default=2, ge=1, le=100)
    role: Literal["treatment", "control", "baseline"] = "baseline"

    @field_validator("persona")
    @classmethod
    def _known_persona(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("personas")
        if known is not None and value not in known:
            raise ValueError(f"unknown persona {value!r}; known: {', '.join(sorted(known))}")
        return value


class Round(_Strict):
    name: str
    phase: Literal["warmup", "intervention", "measurement"] = "measurement"
    repeat: int = Field(default=1, ge=1, le=100)
    groups: list[str] | None = None
    steps: list[Step] = Field(min_length=1)
    # Other steps for some of the round's groups (``{control: [{not_interested: {sham: true}}]}``):
    # groups a check compares act in one round, so their sessions start interleaved in one batch
    # instead of one group a round after the other, on a platform that has moved meanwhile.
    group_steps: dict[str, Annotated[list[Step], Field(min_length=1)]] = {}

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        known = (info.context or {}).get("group_names")
        if value is not None and known is not None:
            unknown = [g for g in value if g not in known]
            if unknown:
                raise ValueError(f"unknown group {unknown[0]!r}; groups: {', '.join(known)}")
        return value

    @model_validator(mode="after")
    def _group_steps_in_round(self, info: ValidationInfo) -> Round:
        playing = self.groups or (info.context or {}).get("group_names")
        unknown = [g for g in self.group_steps if playing is not None and g not in playing]
        if unknown:
            raise ValueError(f"group_steps names {unknown[0]!r}, which does not play this round; its groups: "
                             f"{', '.join(playing)}")
        return self


class Execution(_Strict):
    concurrency: int = Field(default=3, ge=1, le=64)
    pause_between_rounds_s: float = Field(default=0.0, ge=0)
    step_timeout_s: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    failure_budget: int = Field(default=10, ge=1)
    captcha_pause_s: float = Field(default=30.0, ge=0)
    screenshots: Literal["on_error", "always", "never"] = "on_error"
    html: Literal["on_error", "always", "never"] = "on_error"
    trace: bool = False
    har: bool = False
    headless: bool = True


class Campaign(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    target: Target
    accounts: Accounts = Accounts()
    personas_dir: str | None = None
    groups: list[Group] = Field(min_length=1)
    rounds: list[Round] = Field(min_length=1)
    execution: Execution = Execution()
    checks: list[CheckId] = []
    thresholds: dict[str, float] = {}
    # Which groups play which part in a check (``C1: {narrow: [fans], baseline: [fresh]}``); a check
    # that is not named here takes its groups by role. The parts each check reads are in its docs.
    check_groups: dict[CheckId, dict[str, list[str]]] = {}

    @field_validator("check_groups")
    @classmethod
    def _known_check_groups(cls, value: dict[str, dict[str, list[str]]],
                            info: ValidationInfo) -> dict[str, dict[str, list[str]]]:
        known = (info.context or {}).get("group_names")
        for part in value.values():
            for names in part.values():
                unknown = [g for g in names if known is not None and g not in known]
                if unknown:
                    raise ValueError(f"unknown group {unknown[0]!r}; groups: {', '.join(known)}")
        return value

    @field_validator("groups")
    @classmethod
    def _unique_groups(cls, value: list[Group]) -> list[Group]:
        names = [g.name for g in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"group names must be unique; repeated: {', '.join(dupes)}")
        return value

    def expanded_rounds(self) -> list[ExpandedRound]:
        out: list[ExpandedRound] = []
        every = tuple(g.name for g in self.groups)
        for spec in self.rounds:
            for k in range(spec.repeat):
                name = spec.name if spec.repeat == 1 else f"{spec.name} {k + 1}/{spec.repeat}"
                out.append(ExpandedRound(len(out), name, spec.phase, tuple(spec.groups or every), tuple(spec.steps),
                                         tuple((g, tuple(steps)) for g, steps in spec.group_steps.items())))
        return out


@dataclasses.dataclass(frozen=True)
class ExpandedRound:
    index: int
    name: str
    phase: str
    groups: tuple[str, ...]
    steps: tuple[Step, ...]
    group_steps: tuple[tuple[str, tuple[Step, ...]], ...] = ()

    def steps_for(self, group: str) -> tuple[Step, ...]:
        """The steps this round's sessions of ``group`` take."""
        return dict(self.group_steps).get(group, self.steps)


@dataclasses.dataclass(frozen=True)
class LoadedCampaign:
    campaign: Campaign
    path: Path
    text: str
    sha256: str
    personas: dict[str, Persona]


def _personas_for(path: Path, raw: Any) -> dict[str, Persona]:
    found = dict(library())
    folder = raw.get("personas_dir") if isinstance(raw, dict) else None
    if isinstance(folder, str):
        found.update(load_personas((path.parent / folder).resolve()))
    return found


def load_campaign(path: Path, text: str | None = None) -> LoadedCampaign:
    """Read and validate a campaign file (or its ``text``, as stored in a run); personas come from
    the library and ``personas_dir``, relative to the file."""
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"cannot read the campaign: {exc.strerror}", path=Path(path)) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raw = None  # load_yaml_model reports the syntax error with its line
    personas = _personas_for(Path(path), raw)
    group_names = [g.get("name") for g in raw.get("groups") or [] if isinstance(g, dict)] if isinstance(raw, dict) else None
    campaign = load_yaml_model(Path(path), Campaign, text=text,
                               context={"personas": personas, "group_names": group_names})
    return LoadedCampaign(campaign, Path(path), text, hashlib.sha256(text.encode()).hexdigest(), personas)
