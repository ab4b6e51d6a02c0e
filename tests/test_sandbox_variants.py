"""Every lawful design variant against the reference design, judged from the ground truth and from
what a user sees: each is compliant, and different from the reference in the way it claims.

In-process (real routes, real SQLite, built-in content), as test_sandbox_faults.py; the checks are
proven on the variants end to end in test_audit_feed_variants.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox_user import SandboxUser, in_process
from test_sandbox_faults import PAGES, channel, share, truth, warm_up

from sandbox._recommender import NEIGHBOUR_COSINE


def _index(app, item_id: str) -> int:
    return app.state.platform.catalog.item_index[item_id]


def _near(app, ids: list[str], rejected: list[str]) -> int:
    """How many of ``ids`` are the rejected items or their close neighbours, as the platform hides them."""
    vectors = app.state.platform.catalog.vectors
    shown = vectors[[_index(app, i) for i in ids]]
    refs = vectors[[_index(app, i) for i in rejected]]
    return int(((shown @ refs.T) >= NEIGHBOUR_COSINE).any(axis=1).sum())


def _reject(app, user: SandboxUser, ids: list[str], code: str, reason: str = "item", n: int = 3) -> list[str]:
    rejected = [i for i in ids if channel(app, i) == code][:n]
    assert len(rejected) == n
    for item_id in rejected:
        user.not_interested(item_id, reason)
    return rejected


@pytest.mark.parametrize("content_only", [False, True])
def test_content_only_feedback_leaves_the_channel(tmp_path: Path, content_only: bool) -> None:
    """"Not interested" in three sports items: both designs hide them and their close neighbours; the
    reference design also scales sports down, the content-only one leaves sports in the feed."""
    app = in_process(tmp_path, f"variants.feedback_content_only={str(content_only).lower()}")
    user = SandboxUser.on(app)
    user.signup("picky")
    before_ids = warm_up(app, user, "sports")
    before = share(app, before_ids, "sports")
    rejected = _reject(app, user, before_ids, "sports")
    after_ids: list[str] = []
    for _ in range(2):
        user.new_session()
        after_ids += user.feed(PAGES)
    assert _near(app, after_ids, rejected) == 0
    after = share(app, after_ids, "sports")
    if content_only:
        assert after >= 0.7 * before
        assert truth(tmp_path).variants() == {"feedback_content_only": True}
    else:
        assert after <= 0.5 * before
        assert truth(tmp_path).variants() == {}


@pytest.mark.parametrize("next_session", [False, True])
def test_feedback_from_the_next_session_on(tmp_path: Path, next_session: bool) -> None:
    """Rejected sports items' neighbours stay possible for the rest of the session where feedback applies
    from the next session on, and are gone from then on in both designs."""
    app = in_process(tmp_path, f"variants.feedback_next_session={str(next_session).lower()}")
    user = SandboxUser.on(app)
    user.signup("patient")
    before_ids = warm_up(app, user, "sports")
    before = share(app, before_ids, "sports")
    _reject(app, user, before_ids, "sports", reason="channel")
    same_session = share(app, user.feed(PAGES), "sports")
    user.new_session()
    next_ids = user.feed(PAGES)
    assert share(app, next_ids, "sports") == 0.0
    if next_session:
        assert same_session >= 0.5 * before
    else:
        assert same_session == 0.0


@pytest.mark.parametrize("never", [False, True])
def test_feeds_that_never_repeat_opened_items(tmp_path: Path, never: bool) -> None:
    """Items a user opened come back after two sessions on the reference design (on a catalogue small
    enough for it), never on the variant."""
    app = in_process(tmp_path, f"variants.never_repeat_opened={str(never).lower()}")
    user = SandboxUser.on(app)
    user.signup("reader")
    opened: set[str] = set()
    repeats = 0
    for _ in range(8):
        user.new_session()
        ids = user.feed(PAGES)
        repeats += sum(i in opened for i in ids)
        for item_id in ids:
            if channel(app, item_id) == "sports":
                user.read(item_id)
                opened.add(item_id)
    assert opened
    if never:
        assert repeats == 0
    else:
        assert repeats > 0


@pytest.mark.parametrize("ignores", [False, True])
def test_an_off_feed_that_ignores_earlier_blocks(tmp_path: Path, ignores: bool) -> None:
    """A user who blocked sports, then switched personalisation off: the reference design's off feed
    still leaves sports out (the user's block), the variant's is the region's ranking as everyone's."""
    app = in_process(tmp_path, f"variants.off_feed_ignores_blocks={str(ignores).lower()}")
    feeds = {}
    for name, blocks in (("blocker", True), ("plain", False)):
        user = SandboxUser.on(app)
        user.signup(name)
        ids = warm_up(app, user, "sports")
        if blocks:
            _reject(app, user, ids, "sports", reason="channel", n=1)
        user.set_personalized(False)
        user.new_session()
        feeds[name] = user.feed(PAGES)
    assert share(app, feeds["plain"], "sports") > 0
    reasons = {r["reason"] for r in truth(tmp_path).rows("impressions", username="blocker", personalized=0)}
    assert reasons == {"regional"}
    if ignores:
        assert feeds["blocker"] == feeds["plain"]
    else:
        assert share(app, feeds["blocker"], "sports") == 0.0
        assert feeds["blocker"] != feeds["plain"]


def test_variants_are_not_faults() -> None:
    """Variants are lawful: a platform with every variant on and no fault reports no active fault."""
    from sandbox import load_faults

    faults = load_faults(None, ["variants.feedback_content_only=true", "variants.never_repeat_opened=true"])
    assert faults.active() == {}
    assert faults.variants.active() == {"feedback_content_only": True, "never_repeat_opened": True}


@pytest.mark.parametrize("size", [0, 60])
def test_a_small_catalogue_serves_a_few_dozen_items(tmp_path: Path, size: int) -> None:
    """A platform of 60 items a language: eight sessions of three pages see at most those, every
    channel among them; the reference design serves its whole catalogue."""
    app = in_process(tmp_path, f"variants.small_catalogue={size}")
    user = SandboxUser.on(app)
    user.signup("browser")
    seen: set[str] = set()
    for _ in range(8):
        user.new_session()
        seen |= set(user.feed(PAGES))
    channels = {channel(app, i) for i in seen}
    if size:
        assert len(seen) <= size and len(channels) == len(app.state.platform.catalog.channels)
    else:
        assert len(seen) > 60
