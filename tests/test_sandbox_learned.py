"""The lawful variant learned_recommender: the feed's personal scores from implicit's ALS, retrained on
users' clicks, likes and dwell. It really personalises (collaboratively too), its model is really
trained, it is deterministic given the seed, and the controls and faults act on it as on the
hand-written recommender.

In-process (real routes, real SQLite, built-in content), as test_sandbox_variants.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sandbox_user import SandboxUser, in_process
from test_sandbox_faults import PAGES, channel, share, truth, warm_up

from sandbox._learned import LearnedModel

LEARNED = "variants.learned_recommender=als"


def _model(app) -> LearnedModel:
    learned = app.state.platform.recommender.learned
    assert learned is not None
    return learned


def _reads(app, user: SandboxUser, codes: set[str], sessions: int) -> None:
    """Each session, read and like every item of the feed's first pages that is of one of ``codes``."""
    for _ in range(sessions):
        user.new_session()
        for item_id in user.feed(PAGES):
            if channel(app, item_id) in codes:
                user.read(item_id, like=True)


def _crowd(app, channels: tuple[str, ...] = ("sports", "tech", "finance"), per_channel: int = 2) -> None:
    for k in range(per_channel * len(channels)):
        user = SandboxUser.on(app)
        user.signup(f"crowd{k}")
        _reads(app, user, {channels[k % len(channels)]}, sessions=3)


def test_the_learned_feed_personalises(tmp_path: Path) -> None:
    """A sports fan among other readers is shown more sports than a fresh user, from the model's own
    scores: the model ranks sports above everything else for the fan, and not for the fresh user."""
    app = in_process(tmp_path, LEARNED)
    _crowd(app)
    fan = SandboxUser.on(app)
    fan.signup("fan")
    warm_up(app, fan, "sports")
    fan.new_session()
    fan_ids = fan.feed(PAGES)
    fresh = SandboxUser.on(app)
    fresh.signup("fresh")
    fresh_ids = fresh.feed(PAGES)
    assert share(app, fan_ids, "sports") >= 2 * share(app, fresh_ids, "sports")
    assert share(app, fan_ids, "sports") >= 0.3
    cat = app.state.platform.catalog
    pool = cat.pool("zh")
    scores = _model(app).scores("fan", pool)
    assert scores is not None
    sports = cat.channel_of[pool] == cat.channel_index["sports"]
    assert scores[sports].mean() > scores[~sports].mean() + 3 * scores[~sports].std() / np.sqrt(sports.sum())
    assert _model(app).scores("fresh", pool) is None  # a user the model cannot place: hand-written scores
    assert truth(tmp_path).variants() == {"learned_recommender": "als"}


@pytest.mark.parametrize("learned", [False, True])
def test_collaborative_filtering(tmp_path: Path, learned: bool) -> None:
    """Readers of sports and travel alike, then a fan who reads only sports: the learned feed shows the
    fan travel, which the hand-written profile (sports only) has no reason to."""
    app = in_process(tmp_path, LEARNED if learned else "variants.learned_recommender=''")
    for k in range(4):
        user = SandboxUser.on(app)
        user.signup(f"both{k}")
        _reads(app, user, {"sports", "travel"}, sessions=3)
    fan = SandboxUser.on(app)
    fan.signup("fan")
    _reads(app, fan, {"sports"}, sessions=3)
    ids: list[str] = []
    for _ in range(2):
        fan.new_session()
        ids += fan.feed(PAGES)
    if learned:
        assert share(app, ids, "travel") >= 0.1
    else:
        assert share(app, ids, "travel") <= 0.05


def test_the_model_is_retrained_on_interactions(tmp_path: Path) -> None:
    """No model before anyone engaged; a retrain once enough interactions came in, with new factors
    after more of them; each retrain timed."""
    app = in_process(tmp_path, LEARNED)
    model = _model(app)
    user = SandboxUser.on(app)
    user.signup("reader")
    user.feed(PAGES)
    assert model.version == 0 and model.item_factors is None
    warm_up(app, user, "sports")
    user.feed(1)  # retrains are on request
    assert model.version >= 1
    before, version = model.item_factors.copy(), model.version
    other = SandboxUser.on(app)
    other.signup("other")
    warm_up(app, other, "tech")
    other.feed(1)
    assert model.version > version
    after = model.item_factors
    assert after.shape == before.shape and not np.allclose(after, before)
    assert len(model.retrain_seconds) == model.version and all(s > 0 for s in model.retrain_seconds)


def test_deterministic_given_the_seed(tmp_path: Path) -> None:
    """The same users doing the same things on two fresh platforms are shown the same feeds."""
    feeds = []
    for run in ("a", "b"):
        app = in_process(tmp_path / run, LEARNED)
        _crowd(app, channels=("sports", "tech"), per_channel=1)
        fan = SandboxUser.on(app)
        fan.signup("fan")
        warm_up(app, fan, "sports", sessions=3)
        fan.new_session()
        feeds.append(fan.feed(PAGES))
        assert _model(app).version >= 1
    assert feeds[0] == feeds[1]


@pytest.mark.parametrize("ignored", [0.0, 1.0])
def test_not_interested_in_the_channel(tmp_path: Path, ignored: float) -> None:
    """"Not interested: this channel" removes the channel from the learned feed at once; the fault
    not_interested_ignored keeps it there."""
    app = in_process(tmp_path, LEARNED, f"not_interested_ignored={ignored}")
    _crowd(app, channels=("sports", "tech"), per_channel=1)
    fan = SandboxUser.on(app)
    fan.signup("fan")
    ids = warm_up(app, fan, "sports")
    assert share(app, ids, "sports") >= 0.3
    fan.not_interested(next(i for i in ids if channel(app, i) == "sports"), "channel")
    after: list[str] = fan.feed(PAGES)
    fan.new_session()
    after += fan.feed(PAGES)
    assert _model(app).scores("fan", app.state.platform.catalog.pool("zh")) is not None
    if ignored:
        assert share(app, after, "sports") >= 0.3
    else:
        assert share(app, after, "sports") == 0.0


@pytest.mark.parametrize("leak", [0.0, 1.0])
def test_personalisation_off(tmp_path: Path, leak: float) -> None:
    """Switched off, two users of different interests are shown the region's ranking, the same for
    both; with the fault algo_off_leak the learned profile leaks into it."""
    app = in_process(tmp_path, LEARNED, f"algo_off_leak={leak}")
    feeds = {}
    for name, code in (("sporty", "sports"), ("techie", "tech")):
        user = SandboxUser.on(app)
        user.signup(name)
        warm_up(app, user, code)
        user.set_personalized(False)
        user.new_session()
        feeds[name] = user.feed(PAGES)
    assert _model(app).version >= 1
    reasons = {r["reason"] for r in truth(tmp_path).rows("impressions", personalized=0)}
    if leak:
        assert "leak" in reasons
        assert share(app, feeds["sporty"], "sports") > share(app, feeds["techie"], "sports")
    else:
        assert reasons == {"regional"}
        assert feeds["sporty"] == feeds["techie"]


def test_weights_survive_a_restart(tmp_path: Path) -> None:
    """Weights are written through to learned.sqlite: a model reopened on it trains on the same."""
    vectors = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    channels = np.arange(40) % 4
    first = LearnedModel(vectors, channels, seed=0, path=tmp_path / "learned.sqlite", retrain_every=1)
    for user, items in (("a", (0, 4, 8)), ("b", (4, 8, 12)), ("c", (1, 5))):
        for item in items:
            first.record(user, item, 2.0)
    first.scale("a", 0.5)
    first.retrain()
    scores = first.scores("a", np.arange(40))
    first.close()
    second = LearnedModel(vectors, channels, seed=0, path=tmp_path / "learned.sqlite", retrain_every=1)
    second.retrain()
    assert np.allclose(second.scores("a", np.arange(40)), scores)
    second.close()


@pytest.mark.parametrize("cosmetic", [0.0, 1.0])
def test_deleting_a_tag(tmp_path: Path, cosmetic: float) -> None:
    """Deleting the sports tag takes sports out of the learned profile (the model's score for it
    falls to the others'); the fault tag_delete_cosmetic keeps it there."""
    app = in_process(tmp_path, LEARNED, f"tag_delete_cosmetic={cosmetic}")
    _crowd(app, channels=("sports", "tech"), per_channel=1)
    fan = SandboxUser.on(app)
    fan.signup("fan")
    warm_up(app, fan, "sports")
    assert "sports" in fan.tags()
    fan.delete_tag("sports")
    fan.new_session()
    ids = fan.feed(PAGES)
    cat = app.state.platform.catalog
    pool = cat.pool("zh")
    sports = cat.channel_of[pool] == cat.channel_index["sports"]
    scores = _model(app).scores("fan", pool)
    if cosmetic:
        assert share(app, ids, "sports") >= 0.3
        assert scores is not None and scores[sports].mean() > scores[~sports].mean()
    else:
        assert share(app, ids, "sports") <= 0.15
        # Nothing left to place the fan by (hand-written scores), or nothing left for sports.
        assert scores is None or scores[sports].mean() <= scores[~sports].mean() + 0.01
