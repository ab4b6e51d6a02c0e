"""Campaign files, the run store's contract (on disk and in memory), and the CLI over both."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness._campaign import load_campaign
from harness._puppet import PuppetSpec
from harness._runner import interleaved
from harness._types import PuppetId
from harness._store import RunStore, item_key
from harness.cli import app
from personas import SpecError, library

GOOD = """\
name: good
target: {driver: sandbox, base_url: "http://127.0.0.1:8765"}
groups:
  - {name: treated, persona: zh-sports-fan, replicas: 2, role: treatment}
  - {name: control, persona: zh-sports-fan, replicas: 2, role: control}
rounds:
  - {name: warm, phase: warmup, repeat: 2, steps: [read_feed]}
  - name: reject
    phase: intervention
    groups: [treated]
    steps: [{not_interested: {topic: sports, count: 3}}]
checks: [C3]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_campaign_expands_into_rounds(tmp_path: Path) -> None:
    loaded = load_campaign(write(tmp_path, GOOD))
    rounds = loaded.campaign.expanded_rounds()
    assert [r.name for r in rounds] == ["warm 1/2", "warm 2/2", "reject"]
    assert rounds[2].groups == ("treated",) and rounds[0].groups == ("treated", "control")
    assert loaded.sha256 == hashlib.sha256(GOOD.encode()).hexdigest()


def test_not_interested_reads_up_to_max_pages_and_log_out_is_a_step(tmp_path: Path) -> None:
    text = GOOD.replace("count: 3", "count: 3, max_pages: 7").replace("steps: [read_feed]", "steps: [log_out, log_in]")
    rounds = load_campaign(write(tmp_path, text)).campaign.rounds
    assert [s.verb for s in rounds[0].steps] == ["log_out", "log_in"]
    assert rounds[1].steps[0].args.model_dump() == {"topic": "sports", "count": 3, "reason": "item", "sham": False,
                                                    "max_pages": 7}
    assert load_campaign(write(tmp_path, GOOD)).campaign.rounds[1].steps[0].args.max_pages == 5


def _spec(group: str, replica: int) -> PuppetSpec:
    return PuppetSpec(PuppetId(f"{group}-{replica}"), library()["zh-sports-fan"], group, "baseline", replica, "u")


def test_a_rounds_puppets_start_in_turns_across_groups() -> None:
    campaign_order = [_spec(g, k) for g, n in (("treated", 3), ("control", 2), ("base", 1)) for k in range(n)]
    assert [p.puppet_id for p in interleaved(campaign_order)] == [
        "treated-0", "control-0", "base-0", "treated-1", "control-1", "treated-2"]
    # Resumed with some sessions done, the rest still alternate; nothing is added.
    left = [p for p in campaign_order if p.puppet_id not in ("treated-0", "control-1")]
    assert [p.puppet_id for p in interleaved(left)] == ["treated-1", "control-0", "base-0", "treated-2"]
    assert interleaved([]) == []


def test_the_elderly_mode_step_sets_or_only_reads(tmp_path: Path) -> None:
    text = GOOD.replace("steps: [read_feed]", "steps: [elderly_mode, {elderly_mode: {enabled: true}}, "
                                              "{elderly_mode: {enabled: null}}]")
    steps = load_campaign(write(tmp_path, text)).campaign.rounds[0].steps
    assert [(s.verb, s.args.model_dump()) for s in steps] == [("elderly_mode", {"enabled": None}),
                                                              ("elderly_mode", {"enabled": True}),
                                                              ("elderly_mode", {"enabled": None})]


# (what is wrong, the changed text, the line it must name, fragments the message must hold)
MISTAKES = [
    ("unknown top-level key", GOOD + "colour: red\n", 13, ["colour"]),
    ("unknown step", GOOD.replace("steps: [read_feed]", "steps: [read_fed]"), 7, ["rounds.0.steps.0", "read_fed"]),
    ("bad step argument", GOOD.replace("count: 3", "count: 0"), 11, ["not_interested.count"]),
    ("unknown persona", GOOD.replace("persona: zh-sports-fan, replicas: 2, role: control", "persona: zh-nobody, replicas: 2, role: control"), 5, ["groups.1.persona", "zh-nobody"]),
    ("unknown group in a round", GOOD.replace("groups: [treated]", "groups: [treatd]"), 10, ["rounds.1.groups", "treatd"]),
    ("duplicate group names", GOOD.replace("name: control, persona", "name: treated, persona"), 3, ["groups", "treated"]),
    ("missing base_url", GOOD.replace(', base_url: "http://127.0.0.1:8765"', ""), 2, ["target.base_url"]),
    ("malformed base_url", GOOD.replace("http://127.0.0.1:8765", "127.0.0.1:8765"), 2, ["target.base_url"]),
    ("unknown check", GOOD.replace("checks: [C3]", "checks: [C13]"), 12, ["checks.0"]),
    ("zero replicas", GOOD.replace("replicas: 2, role: treatment", "replicas: 0, role: treatment"), 4, ["groups.0.replicas"]),
    ("bad role", GOOD.replace("role: control", "role: placebo"), 5, ["groups.1.role", "placebo"]),
    ("invalid YAML", GOOD.replace("rounds:", "rounds: [\n"), None, ["campaign.yaml"]),
    ("the YAML 'on' trap", GOOD.replace("steps: [read_feed]", "steps: [{personalization: {on: false}}]"), 7, ["rounds.0.steps.0", "enabled"]),
    ("elderly mode takes no PIN", GOOD.replace("steps: [read_feed]", "steps: [{elderly_mode: {enabled: true, pin: '1234'}}]"), 7,
     ["rounds.0.steps.0", "elderly_mode.pin"]),
    ("no rounds", GOOD.split("rounds:")[0] + "rounds: []\n", 6, ["rounds"]),
    ("unknown group in check_groups", GOOD + "check_groups:\n  C3: {treated: [treated], control: [contrl]}\n", 13,
     ["check_groups", "contrl"]),
    ("check_groups for an unknown check", GOOD + "check_groups:\n  C99: {treated: [treated]}\n", 14, ["check_groups", "C99"]),
    ("no feed page to read", GOOD.replace("count: 3", "count: 3, max_pages: 0"), 11,
     ["rounds.1.steps.0", "not_interested.max_pages"]),
    ("log_out takes nothing", GOOD.replace("steps: [read_feed]", "steps: [{log_out: {everywhere: true}}]"), 7,
     ["rounds.0.steps.0", "log_out.everywhere"]),
]


@pytest.mark.parametrize(("what", "text", "line", "fragments"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_campaign_mistakes_name_file_line_and_field(tmp_path: Path, what: str, text: str, line: int | None,
                                                    fragments: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        load_campaign(write(tmp_path, text))
    message = str(err.value)
    assert "campaign.yaml" in message
    if line is not None:
        assert f"campaign.yaml:{line}:" in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunStore:
    made = RunStore.open(tmp_path / "run.sqlite") if request.param == "file" else RunStore.in_memory()
    made.create_run(run_id="r1", campaign_name="c", account_prefix="a")
    yield made
    made.close()


def test_store_impressions_are_idempotent_per_load(store: RunStore) -> None:
    where = {"session_id": "s1", "puppet_id": "p1", "round": 0}
    cards = [{"item_id": f"i{k}", "title": f"t{k}", "position": k, "load": 1} for k in range(3)]
    store.add_impressions(where, "feed", cards)
    store.add_impressions(where, "feed", cards[:2])
    store.add_impressions(where, "feed", [{**c, "load": 2} for c in cards])
    assert store.count("impressions") == 6
    assert store.count("items") == 3
    store.set_dwell("s1", "i1", 2, 1500.0)
    assert [r["dwell_ms"] for r in store.rows("impressions", load=2, position=1)] == [1500.0]
    assert store.rows("items", platform_item_id="i0")[0]["item_key"] == item_key("i0")


def test_store_sessions_resume_bookkeeping(store: RunStore) -> None:
    store.start_session("p1-r0-a1", "p1", 0, 1)
    store.start_session("p2-r0-a1", "p2", 0, 1)
    store.finish_session("p1-r0-a1", "complete")
    assert store.completed() == {("p1", 0)}
    assert store.interrupt_running_sessions() == 1
    assert store.rows("sessions", session_id="p2-r0-a1")[0]["status"] == "interrupted"
    assert store.attempts("p2", 0) == 1


def test_store_rows_and_commands(store: RunStore) -> None:
    where = {"session_id": "s", "puppet_id": "p", "round": 1}
    store.add_rows("observations", where, [{"kind": "tags", "value": ["体育", "科技"]}])
    assert store.rows("observations")[0]["value"] == '["体育", "科技"]'
    cid = store.record_command(session_id="s", puppet_id="p", round=1, step_index=0, verb="read_feed",
                               args={"pages": 2}, status="ok", outcome={"cards": 20})
    row = store.rows("commands", id=cid)[0]
    assert row["args"] == '{"pages": 2}' and row["outcome"] == '{"cards": 20}'
    store.add_hotlist(where, [{"rank": 1, "item_id": "h1", "title": "t", "url": "/item/h1", "heat_text": "1万", "load": 3}])
    store.add_hotlist(where, [{"rank": 1, "item_id": "h1", "title": "t", "url": "/item/h1", "heat_text": "1万", "load": 3}])
    assert store.count("hotlist_entries") == 1 and store.rows("impressions", surface="hot")[0]["position"] == 0
    with pytest.raises(Exception, match="no table"):
        store.rows("nope")


def test_artifacts_are_hashed(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path / "run" / "run.sqlite")
    shot = tmp_path / "run" / "artifacts" / "a.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"\x89PNG fake but hashed")
    digest = store.add_artifact({"session_id": "s", "puppet_id": "p", "round": 0}, "screenshot", shot)
    row = store.rows("artifacts")[0]
    assert row["sha256"] == digest == hashlib.sha256(shot.read_bytes()).hexdigest()
    assert row["path"] == "artifacts/a.png" and row["bytes"] == shot.stat().st_size
    store.close()


runner = CliRunner()


def test_cli_campaign_validate(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["campaign", "validate", str(write(tmp_path, GOOD))])
    assert ok.exit_code == 0 and "4 puppets" in ok.output and "3 rounds" in ok.output
    bad = runner.invoke(app, ["campaign", "validate", str(write(tmp_path, GOOD.replace("count: 3", "count: 0")))])
    assert bad.exit_code == 2 and "not_interested.count" in bad.output


def test_cli_init_writes_a_campaign_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    made = runner.invoke(app, ["init", str(target), "--persona", "en-sports-fan"])
    assert made.exit_code == 0, made.output
    assert load_campaign(target).campaign.groups[0].persona == "en-sports-fan"
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 2


def test_cli_personas(tmp_path: Path) -> None:
    listed = runner.invoke(app, ["personas", "list"])
    assert listed.exit_code == 0 and "zh-sports-fan" in listed.output
    shown = runner.invoke(app, ["personas", "show", "zh-sports-fan"])
    assert shown.exit_code == 0 and "体育" in shown.output
    bad = tmp_path / "broken.yaml"
    bad.write_text("id: broken\nlocale: fr-FR\n", encoding="utf-8")
    checked = runner.invoke(app, ["personas", "validate", str(bad)])
    assert checked.exit_code == 2 and "broken.yaml:2" in checked.output


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "campaigns").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_campaigns_validate(path: Path) -> None:
    loaded = load_campaign(path)
    assert loaded.campaign.target.driver in ("sandbox", "sandbox-declarative")
