"""The persona file format: who a sock puppet is (the attributes a platform may price or profile by)
and how it behaves in a feed (what it reads, for how long, what it likes)."""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AGE_BANDS",
    "EXPECTED_ID",
    "Attributes",
    "Behaviour",
    "Credentials",
    "DwellRange",
    "DwellSeconds",
    "Interest",
    "Persona",
    "ProbabilityPair",
]

AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55+")
# Validation-context key: the id a persona must have (its file name), set by the loader.
EXPECTED_ID = "expected_id"

Locale = Literal["zh-CN", "en-US"]
Device = Literal["desktop", "iphone", "android"]
Region = Literal[
    "beijing", "shanghai", "guangdong", "zhejiang", "jiangsu", "sichuan",
    "hubei", "shandong", "henan", "fujian", "shaanxi", "liaoning",
]
Occupation = Literal[
    "student", "engineer", "teacher", "doctor", "civil_servant",
    "finance", "self_employed", "worker", "retired", "other",
]
SpendingLevel = Literal["low", "mid", "high"]
CredentialSource = Literal["generated", "env", "file"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Probability = Annotated[float, Field(ge=0, le=1)]
Seconds = Annotated[float, Field(ge=0)]


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    low, high = pair
    if low > high:
        raise ValueError(f"the low end {low:g} is above the high end {high:g}; write [low, high]")
    return pair


def _not_future(year: int) -> int:
    # Checked here rather than with Field(le=...) so that the JSON schema does not change every January.
    this_year = datetime.date.today().year
    if year > this_year:
        raise ValueError(f"must be <= {this_year}, the current year (got {year})")
    return year


def _known_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai") from None
    return name


DwellRange = Annotated[tuple[Seconds, Seconds], AfterValidator(_ordered)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProbabilityPair(_Frozen):
    """A probability for items the persona finds interesting and one for all other items."""

    interesting: Probability
    other: Probability


class DwellSeconds(_Frozen):
    """How long an opened item is read: seconds drawn uniformly from [low, high]."""

    interesting: DwellRange = Field(description="[low, high] seconds for interesting items")
    other: DwellRange = Field(description="[low, high] seconds for other items")


class Attributes(_Frozen):
    """What a platform may profile or price by; price checks compare personas that differ in one of these."""

    birth_year: Annotated[int, Field(ge=1920), AfterValidator(_not_future)]
    occupation: Occupation
    spending_level: SpendingLevel
    returning_customer: bool


class Interest(_Frozen):
    """A topic the persona seeks out, and how it recognises items about it."""

    topic: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="short id, e.g. sports")
    channels: tuple[Text, ...] = Field(
        default=(), description="channel names as the platform shows them; matched exactly, ignoring case")
    keywords: tuple[Text, ...] = Field(
        default=(), description="matched as substrings of an item's title, ignoring case")
    examples: tuple[Text, ...] = Field(
        default=(), description="example texts on the topic, the audits' embedding reference")

    @model_validator(mode="after")
    def _recognisable(self) -> Interest:
        if not self.channels and not self.keywords:
            raise ValueError("an interest needs at least one channel or keyword to recognise items by")
        return self

    def matches(self, title: str, channel: str | None = None) -> bool:
        """Whether an item with this title, in this channel, is about the topic."""
        if channel is not None and channel.casefold() in {name.casefold() for name in self.channels}:
            return True
        folded = title.casefold()
        return any(keyword.casefold() in folded for keyword in self.keywords)


class Behaviour(_Frozen):
    """How the persona acts in a feed."""

    read_probability: ProbabilityPair = Field(description="chance to open an item seen in the feed")
    dwell_seconds: DwellSeconds
    like_probability: Probability = Field(description="chance to like an interesting item it read")
    scroll_pages: int = Field(ge=1, le=50, description="feed pages per session")
    reading_speed_cpm: int = Field(
        ge=50, le=5000, description="characters per minute; a longer title takes longer to skim")


_NEEDS = {
    "env": "the name of the environment variable holding the password",
    "file": "the path of a YAML file mapping keys to passwords",
}


class Credentials(_Frozen):
    """Where the puppet's password comes from. Passwords are never stored in a persona or a run."""

    source: CredentialSource = "generated"
    env: str | None = Field(
        default=None, pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding the password; required iff source is env")
    file: Path | None = Field(
        default=None, description="YAML mapping of keys to passwords (~ expanded); required iff source is file")
    key: Text | None = Field(default=None, description="key inside that file; default: the persona id")

    @model_validator(mode="after")
    def _fits_source(self) -> Credentials:
        for name, used_by in (("env", "env"), ("file", "file"), ("key", "file")):
            if getattr(self, name) is not None and self.source != used_by:
                raise ValueError(f"{name!r} is only read when source is {used_by!r} (source is {self.source!r})")
        if self.source != "generated" and getattr(self, self.source) is None:
            raise ValueError(f"source is {self.source!r}, so {self.source!r} is required: {_NEEDS[self.source]}")
        return self


class Persona(_Frozen):
    """A sock puppet's identity and behaviour, as written in one persona file."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="equals the file name without .yaml")
    name: Text = Field(description="display name")
    description: Text | None = None
    locale: Locale
    device: Device = Field(description="the harness maps it to a browser fingerprint")
    region: Region
    timezone: Annotated[str, AfterValidator(_known_timezone)] = Field(description="IANA time zone")
    attributes: Attributes
    interests: tuple[Interest, ...] = Field(default=(), description="may be empty: a passive persona")
    behaviour: Behaviour
    credentials: Credentials = Field(default_factory=Credentials)

    @field_validator("id")
    @classmethod
    def _matches_file_name(cls, value: str, info: ValidationInfo) -> str:
        expected = (info.context or {}).get(EXPECTED_ID)
        if expected is not None and value != expected:
            raise ValueError(f"must equal the file name {expected!r} (got {value!r})")
        return value

    @field_validator("interests")
    @classmethod
    def _distinct_topics(cls, interests: tuple[Interest, ...]) -> tuple[Interest, ...]:
        seen: set[str] = set()
        for interest in interests:
            if interest.topic in seen:
                raise ValueError(f"topic {interest.topic!r} appears twice")
            seen.add(interest.topic)
        return interests

    @property
    def language(self) -> str:
        """"zh" or "en"."""
        return self.locale.split("-")[0]

    def age(self, year: int) -> int:
        """The age the persona reaches in ``year``."""
        return year - self.attributes.birth_year

    def age_band(self, year: int) -> str:
        """One of AGE_BANDS: <18, 18-24, 25-34, 35-44, 45-54, 55+."""
        age = self.age(year)
        for band, upper in zip(AGE_BANDS, (18, 25, 35, 45, 55)):
            if age < upper:
                return band
        return AGE_BANDS[-1]

    def interest_in(self, title: str, channel: str | None = None) -> str | None:
        """The topic of the first interest the item matches, or None.

        Deliberately simple: this is how a puppet decides what to read; the audits measure exposure
        with embeddings, not with this.
        """
        return next((interest.topic for interest in self.interests if interest.matches(title, channel)), None)

    def reference_texts(self, topic: str | None = None) -> list[str]:
        """Examples then keywords of the interest ``topic``, or of every interest."""
        chosen = [interest for interest in self.interests if topic is None or interest.topic == topic]
        if topic is not None and not chosen:
            known = ", ".join(interest.topic for interest in self.interests) or "none"
            raise KeyError(f"persona {self.id!r} has no interest {topic!r} (it has: {known})")
        return [text for interest in chosen for text in (*interest.examples, *interest.keywords)]
