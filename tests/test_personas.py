"""Personas: the shipped library, the persona model's behaviour, passwords, and the messages a
malformed persona file gets (each must name the file, the line and the field)."""

from __future__ import annotations

import datetime
import json
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

import personas
from personas import (
    Credentials,
    CredentialsError,
    Persona,
    SpecError,
    SpecErrors,
    library,
    library_dir,
    load_persona,
    load_personas,
    load_yaml_model,
    load_yaml_spec,
    persona_schema,
    resolve_password,
)

ZH_CHANNELS = {"科技", "体育", "财经", "娱乐", "游戏", "汽车", "旅游", "美食", "健康", "教育", "军事", "房产", "文化",
               "三农", "国际", "故事", "股票"}
EN_CHANNELS = {"Tech", "Sports", "Finance", "Entertainment", "Game", "Car", "Travel", "Food", "Health", "Education",
               "Military", "House", "Culture", "Agriculture", "World", "Business", "Sci/Tech", "Sport", "Politics"}
THIS_YEAR = datetime.date.today().year

BASE = """\
id: tester
name: 测试员
locale: zh-CN
device: desktop
region: beijing
timezone: Asia/Shanghai
attributes:
  birth_year: 1990
  occupation: engineer
  spending_level: mid
  returning_customer: false
interests:
  - topic: sports
    channels: [体育]
    keywords: [足球, NBA]
  - topic: tech
    channels: [科技]
    keywords: [芯片, 人工智能]
    examples: [国产芯片进入量产阶段]
behaviour:
  read_probability: {interesting: 0.8, other: 0.05}
  dwell_seconds: {interesting: [15, 40], other: [1, 4]}
  like_probability: 0.3
  scroll_pages: 3
  reading_speed_cpm: 500
credentials:
  source: generated
"""


def _edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def _line(text: str, marker: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``marker``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if marker in line)


def _write(directory: Path, text: str, stem: str = "tester") -> Path:
    path = directory / f"{stem}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _tester() -> Persona:
    return load_yaml_model(Path("tester.yaml"), Persona, text=BASE)


# --- the shipped library ---------------------------------------------------------------------------


def test_every_library_persona_loads_and_is_named_by_its_file() -> None:
    files = sorted(library_dir().glob("*.yaml"))
    loaded = library()
    assert sorted(loaded) == sorted(path.stem for path in files)
    for path in files:
        assert load_persona(path).id == path.stem


def test_library_has_both_languages() -> None:
    languages = [persona.language for persona in library().values()]
    assert languages.count("zh") >= 7 and languages.count("en") >= 7
    assert abs(languages.count("zh") - languages.count("en")) <= 1


def test_library_interests_use_platform_channels_and_enough_words() -> None:
    for persona in library().values():
        known = ZH_CHANNELS if persona.language == "zh" else EN_CHANNELS
        for interest in persona.interests:
            where = f"{persona.id}/{interest.topic}"
            assert set(interest.channels) <= known, where
            assert 5 <= len(interest.keywords) <= 12, where
            assert 2 <= len(interest.examples) <= 4, where
        assert persona.credentials.source == "generated", persona.id


def test_library_covers_the_slices_audits_need() -> None:
    personas_ = library().values()
    bands = {persona.age_band(THIS_YEAR) for persona in personas_}
    assert {"<18", "55+"} <= bands
    assert any(not persona.interests for persona in personas_ if persona.language == "zh")
    assert any(not persona.interests for persona in personas_ if persona.language == "en")
    assert {persona.device for persona in personas_} == {"desktop", "iphone", "android"}
    assert {persona.attributes.spending_level for persona in personas_} == {"low", "mid", "high"}


@pytest.mark.parametrize(("first", "second", "differs_in"), [
    ("zh-tech-reader", "zh-tech-reader-android", {"device"}),
    ("en-tech-reader", "en-tech-reader-new", {"returning_customer"}),
])
def test_price_twins_differ_in_one_attribute(first: str, second: str, differs_in: set[str]) -> None:
    loaded = library()
    a, b = loaded[first].model_dump(), loaded[second].model_dump()
    a.update(a.pop("attributes"))
    b.update(b.pop("attributes"))
    assert {key for key in a if a[key] != b[key]} == {"id", "name", *differs_in}


def test_schema_file_matches_the_model() -> None:
    shipped = json.loads((Path(personas.__file__).parent / "persona.schema.json").read_text(encoding="utf-8"))
    assert shipped == persona_schema(), (
        "personas/persona.schema.json is stale; regenerate it with "
        "`python -m personas.schema > personas/persona.schema.json`"
    )
    assert persona_schema()["$id"] and persona_schema()["title"]


def test_package_imports_nothing_else_of_the_project() -> None:
    code = "import sys, personas; print(sorted({m.split('.')[0] for m in sys.modules} & {'harness', 'sandbox'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- persona behaviour -------------------------------------------------------------------------------


def test_language_and_age_bands() -> None:
    persona = _tester()
    assert persona.language == "zh"
    assert persona.age(2020) == 30
    expected = {2007: "<18", 2008: "18-24", 2014: "18-24", 2015: "25-34", 2024: "25-34", 2025: "35-44",
                2035: "45-54", 2044: "45-54", 2045: "55+", 2090: "55+"}
    assert {year: persona.age_band(year) for year in expected} == expected


def test_interest_in_matches_channel_or_keyword() -> None:
    persona = _tester()
    assert persona.interest_in("随便一个标题", "体育") == "sports"
    assert persona.interest_in("随便一个标题", "科技") == "tech"
    assert persona.interest_in("湖人赢球 nba 常规赛", None) == "sports"  # keywords ignore case
    assert persona.interest_in("新款芯片发布", "财经") == "tech"
    assert persona.interest_in("足球和人工智能", None) == "sports"  # the first matching interest wins
    assert persona.interest_in("今日天气", "财经") is None
    assert persona.interest_in("今日天气", "体育新闻") is None  # channels match exactly, not as substrings
    english = library()["en-sports-fan"]
    assert english.interest_in("anything", "sports") == "sports"  # channels ignore case
    assert english.interest_in("Late drama in the premier league", None) == "sports"
    assert library()["zh-passive"].interest_in("足球", "体育") is None


def test_reference_texts() -> None:
    persona = _tester()
    assert persona.reference_texts("tech") == ["国产芯片进入量产阶段", "芯片", "人工智能"]
    assert persona.reference_texts() == ["足球", "NBA", "国产芯片进入量产阶段", "芯片", "人工智能"]
    with pytest.raises(KeyError, match="food"):
        persona.reference_texts("food")


# --- passwords ---------------------------------------------------------------------------------------


def _with_credentials(**fields: object) -> Persona:
    return _tester().model_copy(update={"credentials": Credentials.model_validate(fields)})


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    persona = _with_credentials(source="env", env="ALGOAUDIT_TEST_PW")
    monkeypatch.setenv("ALGOAUDIT_TEST_PW", "s3cret-from-env")
    assert resolve_password(persona, "tester-1", tmp_path) == "s3cret-from-env"
    monkeypatch.delenv("ALGOAUDIT_TEST_PW")
    with pytest.raises(CredentialsError, match="ALGOAUDIT_TEST_PW") as caught:
        resolve_password(persona, "tester-1", tmp_path)
    assert caught.value.field == "credentials.env"


def test_password_from_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("tester: pw-default-key\nother: pw-other-key\nnumeric: 123456\n", encoding="utf-8")
    assert resolve_password(_with_credentials(source="file", file=str(secrets)), "p", tmp_path) == "pw-default-key"
    chosen = _with_credentials(source="file", file=str(secrets), key="other")
    assert resolve_password(chosen, "p", tmp_path) == "pw-other-key"

    with pytest.raises(CredentialsError, match="no password under key 'absent'") as caught:
        resolve_password(_with_credentials(source="file", file=str(secrets), key="absent"), "p", tmp_path)
    assert "secrets.yaml" in str(caught.value)

    with pytest.raises(CredentialsError, match=r"secrets.yaml:3: field 'numeric': .*quotes") as caught:
        resolve_password(_with_credentials(source="file", file=str(secrets), key="numeric"), "p", tmp_path)
    assert "123456" not in str(caught.value)

    with pytest.raises(CredentialsError, match="missing.yaml: cannot read file"):
        resolve_password(_with_credentials(source="file", file=str(tmp_path / "missing.yaml")), "p", tmp_path)


def test_password_file_path_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "pw.yaml").write_text("tester: from-home\n", encoding="utf-8")
    assert resolve_password(_with_credentials(source="file", file="~/pw.yaml"), "p", tmp_path) == "from-home"


def test_generated_password_is_created_once_and_private(tmp_path: Path) -> None:
    persona = _tester()
    store = tmp_path / "secrets"
    first = resolve_password(persona, "tester-1", store)
    path = store / "tester-1.secret"
    assert len(first) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_password(persona, "tester-1", store) == first
    assert resolve_password(persona, "tester-2", store) != first
    assert sorted(p.name for p in store.iterdir()) == ["tester-1.secret", "tester-2.secret"]


def test_generated_password_refuses_unsafe_puppet_ids(tmp_path: Path) -> None:
    for puppet_id in ("../escape", "", ".hidden", "a/b", "name\n"):
        with pytest.raises(CredentialsError, match="cannot name a file"):
            resolve_password(_tester(), puppet_id, tmp_path)


@pytest.mark.parametrize(("fields", "message"), [
    ({"source": "env"}, "'env' is required"),
    ({"source": "file"}, "'file' is required"),
    ({"source": "generated", "env": "PW"}, "'env' is only read when source is 'env'"),
    ({"source": "env", "env": "PW", "key": "k"}, "'key' is only read when source is 'file'"),
])
def test_credentials_fields_must_fit_the_source(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Credentials.model_validate(fields)


# --- mistakes in persona files -------------------------------------------------------------------------

# (case, text, line marker, field, message fragment). The marker finds the expected line in the text.
MISTAKES = [
    ("unknown top-level key", _edit("region: beijing\n", "region: beijing\nregoin: north\n"), "regoin:",
     "regoin", "unknown field; expected one of: id, name, description, locale, device, region, timezone"),
    ("unknown nested key", _edit("  occupation: engineer\n", "  occupation: engineer\n  income: 9000\n"),
     "income:", "attributes.income",
     "unknown field; expected one of: birth_year, occupation, spending_level, returning_customer"),
    ("wrong type", _edit("scroll_pages: 3", "scroll_pages: many"), "scroll_pages:",
     "behaviour.scroll_pages", "must be a whole number (got 'many')"),
    ("scalar instead of list", _edit("keywords: [芯片, 人工智能]", "keywords: 芯片"), "keywords: 芯片",
     "interests.1.keywords", "must be a list (got '芯片')"),
    ("probability above 1", _edit("like_probability: 0.3", "like_probability: 1.5"), "like_probability:",
     "behaviour.like_probability", "must be <= 1 (got 1.5)"),
    ("negative probability", _edit("{interesting: 0.8,", "{interesting: -0.1,"), "read_probability:",
     "behaviour.read_probability.interesting", "must be >= 0 (got -0.1)"),
    ("bad locale", _edit("locale: zh-CN", "locale: fr-FR"), "locale:", "locale",
     "must be one of: zh-CN, en-US (got 'fr-FR')"),
    ("bad device", _edit("device: desktop", "device: ipad"), "device:", "device",
     "must be one of: desktop, iphone, android (got 'ipad')"),
    ("bad region", _edit("region: beijing", "region: tokyo"), "region:", "region",
     "must be one of: beijing, shanghai, guangdong"),
    ("bad timezone", _edit("timezone: Asia/Shanghai", "timezone: Asia/Atlantis"), "timezone:", "timezone",
     "unknown time zone 'Asia/Atlantis'"),
    ("missing nested field", _edit("  like_probability: 0.3\n", ""), "behaviour:",
     "behaviour.like_probability", "required field is missing"),
    ("missing top-level field", _edit("region: beijing\n", ""), "id: tester", "region",
     "required field is missing"),
    ("dwell low above high", _edit("interesting: [15, 40]", "interesting: [40, 15]"), "dwell_seconds:",
     "behaviour.dwell_seconds.interesting", "the low end 40 is above the high end 15"),
    ("dwell not a pair", _edit("other: [1, 4]", "other: [1, 4, 9]"), "dwell_seconds:",
     "behaviour.dwell_seconds.other", "must have at most 2 items (got 3)"),
    ("env source without env", _edit("source: generated", "source: env"), "credentials:", "credentials",
     "source is 'env', so 'env' is required"),
    ("env name not a variable name", _edit("source: generated", "source: env\n  env: my password"), "env: my",
     "credentials.env", "must match the pattern"),
    ("birth year in the future", _edit("birth_year: 1990", f"birth_year: {THIS_YEAR + 1}"), "birth_year:",
     "attributes.birth_year", f"must be <= {THIS_YEAR}"),
    ("id not matching file name", _edit("id: tester", "id: someone-else"), "id:", "id",
     "must equal the file name 'tester' (got 'someone-else')"),
    ("malformed id", _edit("id: tester", "id: Tester_1"), "id:", "id", "must match the pattern"),
    ("interest recognising nothing", _edit("    channels: [体育]\n    keywords: [足球, NBA]\n", ""), "topic: sports",
     "interests.0", "needs at least one channel or keyword"),
    ("repeated topic", _edit("topic: tech", "topic: sports"), "interests:", "interests",
     "topic 'sports' appears twice"),
    ("empty text", _edit("name: 测试员", "name: '  '"), "name:", "name", "must not be empty"),
]


@pytest.mark.parametrize(("text", "marker", "field", "fragment"),
                         [case[1:] for case in MISTAKES], ids=[case[0] for case in MISTAKES])
def test_mistake_is_reported_with_file_line_and_field(
    tmp_path: Path, text: str, marker: str, field: str, fragment: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_persona(path)
    err = caught.value
    assert type(err) is SpecError, str(err)  # one mistake, one problem
    line = _line(text, marker)
    assert (err.path, err.line, err.field) == (path, line, field)
    assert str(err).startswith(f"{path}:{line}: field '{field}': "), str(err)
    assert fragment in err.problem, str(err)


UNCLOSED = _edit("scroll_pages: 3", "scroll_pages: [3")
BAD_INDENT = _edit("  source: generated", "  source: generated\n   bad: indent: here")
TWO_DOCUMENTS = BASE + "---\nid: second\n"


@pytest.mark.parametrize(("text", "line", "fragment"), [
    (UNCLOSED, _line(UNCLOSED, "reading_speed_cpm"),
     f"invalid YAML: while parsing a flow sequence at line {_line(UNCLOSED, 'scroll_pages')}, expected ',' or ']'"),
    (BAD_INDENT, _line(BAD_INDENT, "bad: indent"), "invalid YAML: mapping values are not allowed here"),
    (TWO_DOCUMENTS, _line(TWO_DOCUMENTS, "---"), "invalid YAML: expected a single document in the stream at line 1"),
    ("", 1, "file is empty"),
    ("# only a comment\n\n", 1, "file is empty"),
    ("- id: tester\n- id: other\n", 1, "the top level must be a mapping of fields, not a list"),
    ("# a note\njust words\n", 2, "the top level must be a mapping of fields, not a single value"),
    ("id: tester\nname: \x07\n", 2, "invalid YAML: control character U+0007 is not allowed"),
], ids=["unclosed list", "bad indentation", "two documents", "empty", "only comments", "top-level list",
        "top-level scalar", "control character"])
def test_unparseable_file_is_reported_with_file_and_line(tmp_path: Path, text: str, line: int,
                                                         fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_persona(path)
    assert str(caught.value).startswith(f"{path}:{line}: {fragment}"), str(caught.value)


def test_duplicate_key_is_reported_at_its_second_occurrence(tmp_path: Path) -> None:
    text = _edit("  scroll_pages: 3\n", "  scroll_pages: 3\n  like_probability: 0.9\n")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_persona(path)
    line = _line(text, "like_probability: 0.9")
    assert str(caught.value) == (
        f"{path}:{line}: field 'behaviour.like_probability': duplicate key (first on line {line - 2})"
    )


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"absent\.yaml: cannot read file"):
        load_persona(tmp_path / "absent.yaml")
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1\.yaml: not UTF-8 text"):
        load_persona(tmp_path / "latin1.yaml")


def test_several_mistakes_are_reported_together_in_line_order(tmp_path: Path) -> None:
    text = _edit("device: desktop", "device: ipad").replace("like_probability: 0.3", "like_probability: 2")
    text = text.replace("locale: zh-CN", "locale: xx")
    path = _write(tmp_path, text)
    with pytest.raises(SpecErrors) as caught:
        load_persona(path)
    err = caught.value
    assert [(e.line, e.field) for e in err.errors] == [
        (3, "locale"), (4, "device"), (_line(text, "like_probability"), "behaviour.like_probability")]
    assert str(err).splitlines() == [str(e) for e in err.errors]
    assert err.path == path
    copy = pickle.loads(pickle.dumps(err))  # errors cross process boundaries in the harness
    assert str(copy) == str(err) and copy.errors[0].line == 3


def test_load_personas_rejects_duplicate_ids_naming_both_files(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "en").mkdir()
    first = _write(tmp_path / "en", BASE)
    second = _write(tmp_path / "zh", BASE)
    with pytest.raises(SpecError) as caught:
        load_personas(tmp_path)
    assert str(caught.value) == f"{second}:1: field 'id': duplicate id 'tester', also used by {first}"


def test_load_personas_reports_every_bad_file(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    _write(tmp_path, _edit("id: tester", "id: broken-a").replace("device: desktop", "device: tv"), "broken-a")
    _write(tmp_path, "", "broken-b")
    with pytest.raises(SpecErrors) as caught:
        load_personas(tmp_path)
    assert [(e.path.name, e.field) for e in caught.value.errors if e.path] == [
        ("broken-a.yaml", "device"), ("broken-b.yaml", None)]
    assert sorted(load_personas(tmp_path / "none")) == []


# --- the generic loader, for other file kinds -------------------------------------------------------------


class _Run(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    persona: str
    repeats: int = 1


class _Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    runs: list[_Run]


def test_load_yaml_model_works_for_any_model_and_text() -> None:
    text = "name: demo\nruns:\n  - persona: zh-sports-fan\n  - persona: en-tech-reader\n    repeats: x\n"
    with pytest.raises(SpecError) as caught:
        load_yaml_model(Path("campaign.yaml"), _Campaign, text=text)
    assert str(caught.value) == "campaign.yaml:5: field 'runs.1.repeats': must be a whole number (got 'x')"

    campaign, spec = load_yaml_spec(Path("campaign.yaml"), _Campaign, text=text.replace("x", "2"))
    assert campaign.runs[1].repeats == 2
    # Checks the model cannot make (here: an unknown persona) still point at the line.
    assert str(spec.error(("runs", 1, "persona"), "unknown persona")) == (
        "campaign.yaml:4: field 'runs.1.persona': unknown persona")
    assert spec.line_of(("runs", 0, "repeats")) == 3  # absent: its enclosing item's line


def test_spec_error_leaves_out_missing_parts() -> None:
    assert str(SpecError("bad")) == "bad"
    assert str(SpecError("bad", path=Path("f.yaml"))) == "f.yaml: bad"
    assert str(SpecError("bad", line=3, field="a.b")) == "line 3: field 'a.b': bad"
    assert str(SpecError("bad", path=Path("f.yaml"), line=3, field="a")) == "f.yaml:3: field 'a': bad"
    assert isinstance(SpecError("bad"), ValueError)
