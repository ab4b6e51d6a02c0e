"""Calibration scenarios for the feed checks C1–C5 (see ``bench/calibration.py``).

``feed`` runs the ready-made feed audit (``campaigns/feed-audit-{zh,en}.yaml`` without its C2
probes, and with the other persona's puppets as C1's baseline) with the four feed faults at the
same strength: ``cocoon``,
``not_interested_ignored``, ``tag_delete_cosmetic`` and ``algo_off_leak``. ``forced-tags`` runs
C2's probes against ``forced_tags`` = 1, 2, 3 (a count, not a strength), alone, because a puppet
forced to pick tags would no longer be C1's baseline.

The true effects come from the sandbox's ground truth, in each verdict's units, computed from
the true channel of every card served (the audit sees titles and embeddings instead):

- C1: share of the narrow puppets' channel in their last measured feed, minus the baseline's;
- C3: one minus the treated puppets' exposure to what "not interested" in an item promises less
  of over the control puppets', in the last measured round: each puppet's own picks (rejected, or
  picked as the placebo) and the items the platform itself counts as their close neighbours (the
  sandbox's item vectors within its ``NEIGHBOUR_COSINE``);
- C4: the same for the deleted tag's channel, each exposure less the baseline puppets' (another
  persona's) in that round;
- C5: persona dependence as C5 defines it, on true channels: per puppet, the share of its cards
  from its persona's interest channel (the channel its persona's puppets liked most) minus that
  channel's mean share in the other personas' puppets' cards (the mean over puppets is that of
  C5's puppet-by-puppet form); the switched puppets' mean over every card served after they
  switched off, over the still-on puppets' mean from their own reading of the switch in that round
  on (as C5 counts them).
  (Not the share of cards still ranked by the profile, ``reason = 'leak'``: those are the
  profile's best matches, denser in the interest than a personalised feed's mix of personal,
  popular and exploration cards, so a leak of 0.3 of the cards leaves about 0.55 of the dependence.)
- C2: the share of probes the platform let through without a tag.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from pathlib import Path

import numpy as np
import yaml
from _scenario import Scenario

from sandbox._recommender import NEIGHBOUR_COSINE

REPO = Path(__file__).resolve().parent.parent
FEED_FAULTS = ("cocoon", "not_interested_ignored", "tag_delete_cosmetic", "algo_off_leak")


def _feed_campaign(base_url: str, language: str) -> str:
    spec = yaml.safe_load((REPO / "campaigns" / f"feed-audit-{language}.yaml").read_text(encoding="utf-8"))
    spec["target"]["base_url"] = base_url
    spec["target"]["options"] = {**spec["target"].get("options", {}), "dwell_scale": 0.03}
    spec["rounds"] = [r for r in spec["rounds"] if not any(
        isinstance(s, dict) and "onboarding" in s for s in r["steps"])]
    spec["checks"] = [c for c in spec["checks"] if c != "C2"]
    spec["check_groups"].pop("C2", None)
    # Cheaper cells: the other persona's puppets (who do not share the interest) are C1's
    # baseline in place of fresh users, puppets read for 3% of the persona's dwell time (the
    # sandbox's profile learns from clicks and likes; a second of dwell weighs a tenth of a click),
    # and steps get room for a loaded machine.
    spec["groups"] = [g for g in spec["groups"] if g["name"] != "fresh"]
    other = spec["check_groups"]["C5"]["switched"][1]
    spec["check_groups"]["C1"]["baseline"] = [other, f"{other}-on"]
    for r in spec["rounds"]:
        if r.get("groups"):
            r["groups"] = [g for g in r["groups"] if g != "fresh"]
    spec["execution"] = {**spec.get("execution", {}), "concurrency": 5, "step_timeout_s": 400}
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


def _forced_campaign(base_url: str, language: str) -> str:
    spec = yaml.safe_load((REPO / "campaigns" / f"c2-forced-tags-{language}.yaml").read_text(encoding="utf-8"))
    spec["target"]["base_url"] = base_url
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


class _Truth:
    """The ground truth of one cell, read beside the run it was served to."""

    def __init__(self, truth_path: Path, run_dir: Path):
        self.gt = sqlite3.connect(truth_path)
        self.run = sqlite3.connect(run_dir / "run.sqlite")
        self.run.row_factory = sqlite3.Row
        self.spec = yaml.safe_load(self.run.execute("SELECT campaign_yaml FROM runs").fetchone()[0])
        self.user = {r["puppet_id"]: r["username"] for r in self.run.execute("SELECT puppet_id, username FROM puppets")}
        self.group = {r["puppet_id"]: r["group_name"] for r in self.run.execute("SELECT puppet_id, group_name FROM puppets")}
        self.persona = {r["puppet_id"]: r["persona_id"] for r in self.run.execute("SELECT puppet_id, persona_id FROM puppets")}

    def close(self) -> None:
        self.gt.close()
        self.run.close()

    def puppets(self, check: str, part: str) -> list[str]:
        groups = self.spec["check_groups"][check][part]
        return [p for p, g in self.group.items() if g in groups]

    def baseline(self, check: str) -> list[str]:
        """The puppets of the part ``baseline``: the groups named for it, else every persona's that is
        neither the treated puppets' nor the control's."""
        if "baseline" in self.spec["check_groups"][check]:
            return self.puppets(check, "baseline")
        personas = {self.persona[p] for p in self.puppets(check, "treated") + self.puppets(check, "control")}
        return [p for p in self.persona if self.persona[p] not in personas]

    def window(self, round_index: int) -> tuple[float, float]:
        row = self.run.execute("SELECT started_at, finished_at FROM rounds WHERE round = ?", [round_index]).fetchone()
        return tuple(dt.datetime.fromisoformat(t).timestamp() for t in (row["started_at"], row["finished_at"]))

    def cards(self, puppet: str, start: float, end: float) -> list[tuple[str, str, str]]:
        """(item, channel, reason) of the feed cards the platform served the puppet in [start, end]."""
        return self.gt.execute(
            "SELECT item_id, channel, reason FROM impressions WHERE username = ? AND surface = 'feed' "
            "AND ts BETWEEN ? AND ? ORDER BY id", [self.user[puppet], start, end]).fetchall()

    def share(self, puppet: str, round_index: int, channels: set[str]) -> float:
        cards = self.cards(puppet, *self.window(round_index))
        return float(np.mean([c in channels for _, c, _ in cards])) if cards else float("nan")

    def channel_of(self, item_ids: list[str]) -> set[str]:
        marks = ",".join("?" * len(item_ids))
        return {r[0] for r in self.gt.execute(f"SELECT DISTINCT channel FROM impressions WHERE item_id IN ({marks})", item_ids)}

    def liked_channel(self, puppets: list[str]) -> str | None:
        """The channel of the most items these puppets liked (None when they liked nothing)."""
        users = [self.user[p] for p in puppets]
        row = self.gt.execute(
            f"SELECT m.channel FROM engagements e JOIN (SELECT DISTINCT item_id, channel FROM impressions) m "
            f"USING (item_id) WHERE e.kind = 'like' AND e.username IN ({','.join('?' * len(users))}) "
            "GROUP BY m.channel ORDER BY COUNT(*) DESC LIMIT 1", users).fetchone()
        return row[0] if row else None

    def last_round(self, puppets: list[str]) -> int:
        """The last measurement round in which every one of ``puppets`` read a personalised feed."""
        marks = ",".join("?" * len(puppets))
        return self.run.execute(
            f"SELECT m.round FROM impressions m JOIN rounds r USING (round) WHERE r.phase = 'measurement' "
            f"AND m.surface = 'feed' AND m.puppet_id IN ({marks}) AND m.round < COALESCE((SELECT MIN(round) "
            f"FROM actions WHERE verb = 'personalization' AND target = 'off' AND puppet_id IN ({marks})), m.round + 1) "
            f"GROUP BY m.round HAVING COUNT(DISTINCT m.puppet_id) = ? ORDER BY m.round DESC LIMIT 1",
            [*puppets, *puppets, len(puppets)]).fetchone()[0]

    def reduction(self, check: str, channels: set[str], baseline: list[str] | None = None) -> float:
        """1 − treated/control share of ``channels`` in the last round both read; with ``baseline``,
        each less the baseline puppets' share that round (those who read it)."""
        treated, control = self.puppets(check, "treated"), self.puppets(check, "control")
        after = self.last_round(treated + control)
        floor = 0.0
        if baseline is not None:
            floor = float(np.nanmean([self.share(p, after, channels) for p in baseline]))
        kept = np.mean([self.share(p, after, channels) for p in treated]) - floor
        return float(1.0 - kept / (np.mean([self.share(p, after, channels) for p in control]) - floor))


def _feed_truth(truth_path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    t = _Truth(truth_path, run_dir)
    try:
        out: dict[str, float] = {}
        narrow, baseline = t.puppets("C1", "narrow"), t.puppets("C1", "baseline")
        topic = t.liked_channel(narrow)
        last = t.last_round(narrow + baseline)
        if topic:
            out["C1"] = float(np.mean([t.share(p, last, {topic}) for p in narrow])
                              - np.mean([t.share(p, last, {topic}) for p in baseline]))
        out["C3"] = _c3_truth(t, truth_path)
        deleted = {r[0] for r in t.gt.execute("SELECT DISTINCT channel FROM tag_changes WHERE action = 'delete'")}
        out["C4"] = t.reduction("C4", deleted, t.baseline("C4"))
        out["C5"] = _c5_truth(t)
        return out
    finally:
        t.close()


def _c3_truth(t: _Truth, truth_path: Path) -> float:
    """1 − treated/control share of cards that are a puppet's own picks or their close neighbours as
    the platform counts them, in the last round both groups read."""
    meta = dict(t.gt.execute("SELECT key, value FROM meta").fetchall())
    catalog = _catalog(tuple(yaml.safe_load(meta["corpora"]) or ()), int(meta["seed"]))
    own: dict[str, list[int]] = {}
    for puppet, target in t.run.execute(
            "SELECT puppet_id, target FROM actions WHERE verb IN ('not_interested', 'not_interested_sham')"):
        if target in catalog.item_index:
            own.setdefault(puppet, []).append(catalog.item_index[target])
    treated, control = t.puppets("C3", "treated"), t.puppets("C3", "control")
    after = t.last_round(treated + control)

    def share(puppet: str) -> float:
        cards = [catalog.item_index[i] for i, _, _ in t.cards(puppet, *t.window(after)) if i in catalog.item_index]
        if not cards or puppet not in own:
            return float("nan")
        close = (catalog.vectors[cards] @ catalog.vectors[own[puppet]].T) >= NEIGHBOUR_COSINE
        return float(np.mean(close.any(axis=1) | np.isin(cards, own[puppet])))

    return float(1.0 - np.nanmean([share(p) for p in treated]) / np.nanmean([share(p) for p in control]))


@functools.cache
def _catalog(corpora: tuple[str, ...], seed: int):
    from sandbox import load_catalog

    return load_catalog(tuple(Path(c) for c in corpora), seed)


def _c5_truth(t: _Truth) -> float:
    switched, still_on = t.puppets("C5", "switched"), t.puppets("C5", "still_on")
    persona = t.persona
    off = {r["puppet_id"]: (r["round"], dt.datetime.fromisoformat(r["at"]).timestamp()) for r in t.run.execute(
        "SELECT puppet_id, round, MIN(at) AS at FROM actions WHERE verb = 'personalization' AND target = 'off' "
        "GROUP BY puppet_id")}
    interest = {x: t.liked_channel([p for p in switched + still_on if persona[p] == x])
                for x in {persona[p] for p in switched}}
    off_round = min(r for r, _ in off.values())
    read_at = {r["puppet_id"]: dt.datetime.fromisoformat(r["at"]).timestamp() for r in t.run.execute(
        "SELECT puppet_id, MIN(at) AS at FROM observations WHERE kind = 'personalization' AND round >= ? "
        "GROUP BY puppet_id", [off_round])}
    start = t.window(off_round)[0]
    cards = {p: t.cards(p, off[p][1], float("inf")) for p in switched if p in off}
    cards |= {p: t.cards(p, read_at.get(p, start), float("inf")) for p in still_on}

    def dependence(puppets: list[str]) -> float:
        shares = {p: {x: np.mean([c == channel for _, c, _ in cards[p]]) for x, channel in interest.items()}
                  for p in puppets}
        return float(np.mean([shares[p][persona[p]] - np.mean([shares[q][persona[p]] for q in puppets
                                                               if persona[q] != persona[p]]) for p in puppets]))

    return dependence([p for p in switched if p in off]) / dependence(still_on)


def _forced_truth(truth_path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    # The platform's own rule: with forced_tags = k > 0 nobody passes without k tags.
    with sqlite3.connect(truth_path) as gt:
        faults = yaml.safe_load(gt.execute("SELECT value FROM meta WHERE key = 'faults'").fetchone()[0]) or {}
    return {"C2": 0.0 if faults.get("forced_tags", 0) else 1.0}


# The lawful designs the feed checks must hold on (``sandbox`` variants): each is run compliant and
# with the four feed faults at full strength.
FEED_VARIANTS = {"feedback_content_only": "true", "feedback_next_session": "true", "never_repeat_opened": "true",
                 "off_feed_ignores_blocks": "true", "small_catalogue": "80", "learned_recommender": "als"}


def _feed_flags(strength: float, variant: str | None = None) -> list[str]:
    faults = [f for name in FEED_FAULTS for f in ("--fault", f"{name}={strength}")]
    return faults + (["--variant", f"{variant}={FEED_VARIANTS[variant]}"] if variant else [])


SCENARIOS = [
    Scenario(
        name="feed", checks=("C1", "C3", "C4", "C5"), fault=" + ".join(FEED_FAULTS),
        levels=(0.0, 0.3, 0.6, 1.0), flags=_feed_flags, campaign=_feed_campaign, truth=_feed_truth,
    ),
    *(Scenario(
        name=f"feed+{variant}", checks=("C1", "C3", "C4", "C5"), fault=" + ".join(FEED_FAULTS) + f", on {variant}",
        levels=(0.0, 1.0), flags=functools.partial(_feed_flags, variant=variant), campaign=_feed_campaign,
        truth=_feed_truth, variant=variant,
    ) for variant in FEED_VARIANTS),
    Scenario(
        name="forced-tags", checks=("C2",), fault="forced_tags (tags required)", levels=(0, 1, 2, 3),
        flags=lambda k: ["--fault", f"forced_tags={int(k)}"],
        campaign=_forced_campaign, truth=_forced_truth,
    ),
]
