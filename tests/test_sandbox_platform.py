"""The sandbox's configuration, chaos, persistence, determinism and session counting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sandbox_user import SandboxUser, in_process

from sandbox import GroundTruth, SandboxConfigError, load_catalog, load_faults


# fault files ----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "faults.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_fault_file_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, """
cocoon: 0.8
not_interested_decay: 3
price_discrimination:
  spending: {high: 1.08}
  returning: 1.05
data_overreach: [geolocation]
chaos:
  error_rate: 0.1
""")
    faults = load_faults(path, ["cocoon=0.5", "price_discrimination.device.ios=1.02"])
    assert faults.cocoon == 0.5
    assert faults.price_discrimination.spending == {"high": 1.08}
    assert faults.price_discrimination.device == {"ios": 1.02}
    assert faults.chaos.error_rate == 0.1
    assert set(faults.active()) == {"cocoon", "not_interested_decay", "price_discrimination", "data_overreach"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cocoon: 0.5\ncocon: 0.2\n", ["faults.yaml:2", "'cocon'", "Extra inputs"]),
        ("cocoon: 1.5\n", ["faults.yaml:1", "'cocoon'", "less than or equal to 1"]),
        ("cocoon: 0.1\nprice_discrimination:\n  spending:\n    rich: 1.1\n", ["faults.yaml:4", "price_discrimination.spending.rich"]),
        ("chaos:\n  error_rate: lots\n", ["faults.yaml:2", "chaos.error_rate"]),
        ("data_overreach: [geolocation, telepathy]\n", ["faults.yaml:1", "data_overreach.1"]),
        ("cocoon: [0.5\n", ["faults.yaml:", "not valid YAML"]),
        ("- cocoon\n", ["faults.yaml:1", "mapping"]),
    ],
)
def test_fault_file_errors_name_file_line_and_field(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(SandboxConfigError) as err:
        load_faults(write(tmp_path, text))
    for fragment in expected:
        assert fragment in str(err.value)


def test_fault_flag_errors(tmp_path: Path) -> None:
    with pytest.raises(SandboxConfigError, match="NAME=VALUE"):
        load_faults(None, ["cocoon"])
    with pytest.raises(SandboxConfigError, match=r"--fault: field 'minors_leak'"):
        load_faults(None, ["minors_leak=2"])
    with pytest.raises(SandboxConfigError, match="cannot read"):
        load_faults(tmp_path / "missing.yaml")


def test_corpus_errors_name_file_and_line(tmp_path: Path) -> None:
    bad_json = write(tmp_path, '{"id": "a", "title": "x", "category": "tech"}\n{oops\n', "bad.jsonl")
    with pytest.raises(SandboxConfigError, match=r"bad\.jsonl:2: not valid JSON"):
        load_catalog([bad_json])
    no_title = write(tmp_path, '{"id": "a", "category": "tech"}\n', "notitle.jsonl")
    with pytest.raises(SandboxConfigError, match=r"notitle\.jsonl:1: field 'title'"):
        load_catalog([no_title])


def test_corpus_rows_become_items_and_products(tmp_path: Path) -> None:
    rows = [
        {"id": "n1", "category": "news_sports", "category_zh": "体育", "title": "国足客场两球不敌对手", "keywords": ["国足"]},
        {"id": "n2", "category": "news_stock", "category_zh": "股票", "title": "沪指收涨", "keywords": []},
        {"id": "e1", "category": "sci_tech", "title": "A new chip arrives", "description": "Faster and cooler."},
        {"id": "p1", "title": "纯棉四件套", "brief": "柔软", "category": "居家", "price": 299.0},
    ]
    path = write(tmp_path, "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "mix.jsonl")
    catalog = load_catalog([path])
    assert [i.channel for i in catalog.items] == ["sports", "finance", "tech"]
    assert [i.lang for i in catalog.items] == ["zh", "zh", "en"]
    assert catalog.items[2].summary == "Faster and cooler."
    assert [p.id for p in catalog.products] == ["p1"]
    assert catalog.channels[catalog.channel_index["finance"]].minors_unsuitable


# chaos ----------------------------------------------------------------------------------------


def test_injected_errors(tmp_path: Path) -> None:
    app = in_process(tmp_path, "chaos.error_rate=1.0")
    user = SandboxUser.on(app)
    assert user.client.get("/login").status_code == 503
    assert user.client.get("/healthz").status_code == 200
    assert GroundTruth(tmp_path).rows("chaos")[0]["kind"] == "error"


def test_latency_is_added(tmp_path: Path) -> None:
    app = in_process(tmp_path, "chaos.latency_ms=200")
    user = SandboxUser.on(app)
    started = time.perf_counter()
    user.client.get("/login")
    # A lower bound only: the sleep guarantees it, however loaded the machine is.
    assert time.perf_counter() - started >= 0.2


def test_captcha_wall_after_rapid_actions(tmp_path: Path) -> None:
    app = in_process(tmp_path, "chaos.captcha_after=8", "chaos.captcha_cooldown_s=3600")
    user = SandboxUser.on(app)
    user.signup("hasty")
    codes = [user.client.get("/hot") for _ in range(10)]
    assert any("安全验证" in r.text for r in codes)
    assert user.client.post("/api/like", json={"item": "x"}).status_code == 429
    assert "captcha" in {r["kind"] for r in GroundTruth(tmp_path).rows("chaos")}


def test_redesign_changes_classes_structure_and_wording(tmp_path: Path) -> None:
    plain = SandboxUser.on(in_process(tmp_path / "a"))
    plain.signup("plain")
    redesigned = SandboxUser.on(in_process(tmp_path / "b", "chaos.redesign=true"))
    redesigned.signup("fresh")
    before, after = plain.client.get("/").text, redesigned.client.get("/").text
    assert 'class="card"' in before and 'class="card"' not in after
    assert "<article" in before and "<article" not in after
    assert "不感兴趣" in before and "减少此类推荐" in after and "不感兴趣" not in after
    css = redesigned.client.get("/static/app.css").text
    assert ".card " not in css and ".card{" not in css


# persistence, determinism, sessions -----------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = in_process(tmp_path)
    user = SandboxUser.on(first)
    user.signup("durable", tags=("sports", "tech"))
    user.delete_tag("tech")
    user.set_personalized(False)
    user.claim("all30")
    user.feed(2)
    first.state.platform.close()

    second = in_process(tmp_path)
    again = SandboxUser.on(second)
    assert again.client.post("/login", data={"username": "durable", "password": "secret-pw"}).url.path == "/"
    assert again.tags() == ["sports"]
    assert not again.personalized_shown_on()
    assert "已领取" in again.client.get("/shop/coupons").text
    state = second.state.platform.store.user(1)
    logged = {r["item_id"] for r in GroundTruth(tmp_path).rows("impressions", username="durable")}
    assert {second.state.platform.catalog.items[i].id for i in state.seen} == logged


def test_same_seed_same_feed(tmp_path: Path) -> None:
    feeds = []
    for run, seed in enumerate((7, 7, 8)):
        user = SandboxUser.on(in_process(tmp_path / str(run), seed=seed))
        user.signup("twin", tags=("food",))
        feeds.append(user.feed(3))
    assert feeds[0] == feeds[1]
    assert feeds[0] != feeds[2]


def test_sessions_start_at_login_new_visit_and_idle(tmp_path: Path) -> None:
    app = in_process(tmp_path)
    user = SandboxUser.on(app)
    user.signup("visitor")
    user.feed()
    user.new_session()
    user.feed()
    user.feed()
    idle = SandboxUser.on(in_process(tmp_path / "idle", session_gap_s=0.0))
    idle.signup("sleepy")
    idle.feed()
    causes = [r["cause"] for r in GroundTruth(tmp_path).rows("sessions", username="visitor")]
    assert causes == ["login", "new_visit"]
    assert "idle" in {r["cause"] for r in GroundTruth(tmp_path / "idle").rows("sessions")}


def test_impressions_match_what_the_pages_showed(tmp_path: Path) -> None:
    app = in_process(tmp_path)
    user = SandboxUser.on(app)
    shown = user.cards(user.signup("counter").text) + user.feed(4)
    logged = GroundTruth(tmp_path).rows("impressions", username="counter", surface="feed")
    assert [r["item_id"] for r in logged] == shown
    assert [r["position"] for r in logged] == list(range(len(shown)))
    assert len(set(shown)) == len(shown)


def test_english_ui_shows_english_content(tmp_path: Path) -> None:
    app = in_process(tmp_path)
    user = SandboxUser.on(app)
    user.signup("reader_en", lang="en")
    page = user.client.get("/").text
    assert "Not interested" in page and "For you" in page
    cat = app.state.platform.catalog
    assert {cat.items[cat.item_index[i]].lang for i in user.feed(2)} == {"en"}


def test_bad_api_input_is_a_clear_400(tmp_path: Path) -> None:
    user = SandboxUser.on(in_process(tmp_path))
    user.signup("sloppy")
    item = user.feed()[0]
    r = user.client.post("/api/feedback", json={"item": item, "reason": "bored"})
    assert r.status_code == 400 and "reason must be one of" in r.json()["message"]
    assert user.client.post("/api/dwell", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert user.client.post("/api/like", json={"item": "no-such-item"}).status_code == 404
    anonymous = SandboxUser.on(user.client.app)
    assert anonymous.client.get("/feed/more?page=2").status_code == 401
    assert anonymous.client.get("/me").url.path == "/login"
