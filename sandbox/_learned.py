"""A learned collaborative-filtering model for the feed: the lawful variant ``learned_recommender``.

Real platforms personalise with learned models, not hand-written profiles. With the variant on, the
feed's personal scores come from ``implicit``'s alternating least squares (ALS, on the CPU), trained
on what users did: each click, second of dwell and like adds the same weight it adds to the
hand-written profile, and every user's weights decay at each of their sessions as the profile does.
Retraining is on request: the first feed page asked for after 50 new interactions, or a tenth of
all so far if that is more, retrains from scratch (seeded; users in username order and items in
catalogue order, so the same interactions give the same model whatever the sign-up order). Between retrains a user's vector is
solved from their current weights against the item factors (ALS's fold-in), so the feed follows a
user's latest reading at once. Items nobody has engaged with yet (cold start: most of the catalogue
on a platform used by a few dozen puppets) get factors from their side features, as hybrid models
do: a ridge regression from the items' content vectors and channels to the factors the model learned
for the others, refitted at each retrain. A user the model cannot place yet (no engagement with an
item it has learned) keeps the hand-written scores. Weights are kept in ``learned.sqlite`` beside the platform's database, so a
restarted server carries on.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import ThreadpoolController

__all__ = ["LearnedModel"]

# The model: small, since the sandbox's users are a few dozen puppets.
FACTORS = 16
ITERATIONS = 10
REGULARIZATION = 1.0
# Confidence per unit of engagement weight (a click is 1, a like 2, a second of dwell 0.1).
ALPHA = 2.0
# Retrain after this many new interactions (clicks, dwell reports, likes), at the next feed request ...
RETRAIN_EVERY = 50
# ... and once the interactions are many, only after this share of them are new: retrains grow
# rarer as they grow dearer (with 15 puppets, every few seconds after a minute), and the schedule
# stays a function of the interactions alone, not of the clock.
RETRAIN_SHARE = 0.1
# Ridge penalty of the map from side features (content vector, channel) to item factors (cold start).
COLD_RIDGE = 1.0
# The content vector's scale among the side features: below the channel's, so that a cold item's
# factors are mostly its channel's and the content (128 noisy dimensions) refines them.
CONTENT_SCALE = 0.3


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


class LearnedModel:
    """Engagement weights per user and item, and the ALS model last trained on them."""

    def __init__(self, item_vectors: np.ndarray, item_channels: np.ndarray, seed: int, path: Path | None = None,
                 retrain_every: int = RETRAIN_EVERY):
        n_items = self.n_items = len(item_vectors)
        # Side features for cold-start items: the content vector and the channel (one-hot).
        onehot = np.zeros((n_items, int(item_channels.max()) + 1), dtype=np.float32)
        onehot[np.arange(n_items), item_channels] = 1.0
        self.item_features = np.hstack([CONTENT_SCALE * item_vectors.astype(np.float32), onehot])
        self.seed = seed
        self.retrain_every = retrain_every
        self._weights: dict[str, dict[int, float]] = {}
        self._pending = 0
        self._total = 0
        self._lock = threading.Lock()
        # The model last trained: factors for its warm items, each item's column in it (-1: cold), and
        # every item's factors (the learned ones, or the content map's for cold items).
        self._model: AlternatingLeastSquares | None = None
        self._column = np.full(n_items, -1, dtype=np.int64)
        self._factors: np.ndarray | None = None
        # Retrains so far and how long each took (seconds), for the sandbox's own tests and benchmarks.
        self.version = 0
        self.retrain_seconds: list[float] = []
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS weights (username TEXT NOT NULL, item INTEGER NOT NULL,"
                " weight REAL NOT NULL, PRIMARY KEY (username, item)) WITHOUT ROWID"
            )
            for username, item, weight in self._db.execute("SELECT username, item, weight FROM weights"):
                if item < n_items:
                    self._weights.setdefault(username, {})[item] = weight
            self._total = sum(map(len, self._weights.values()))
            self._pending = self._total

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    @property
    def item_factors(self) -> np.ndarray | None:
        """Every item's factors in the model last trained (None before the first training)."""
        return self._factors

    def is_warm(self, items: np.ndarray) -> np.ndarray:
        return self._column[items] >= 0

    # interactions -----------------------------------------------------------------------------

    def record(self, username: str, item: int, weight: float) -> None:
        row = self._weights.setdefault(username, {})
        row[item] = row.get(item, 0.0) + weight
        self._pending += 1
        self._total += 1
        if self._db is not None:
            self._db.execute(
                "INSERT INTO weights VALUES (?, ?, ?) ON CONFLICT(username, item)"
                " DO UPDATE SET weight = weight + excluded.weight",
                (username, item, weight),
            )

    def scale(self, username: str, factor: float, items: np.ndarray | None = None) -> None:
        """Multiply a user's weights by ``factor``: all of them (a new session's decay) or those of ``items``."""
        row = self._weights.get(username)
        if not row:
            return
        chosen = None if items is None else set(items.tolist())
        keys = [i for i in row if chosen is None or i in chosen]
        for item in keys:
            row[item] *= factor
        if self._db is not None and keys:
            self._db.executemany(
                "UPDATE weights SET weight = weight * ? WHERE username = ? AND item = ?",
                [(factor, username, i) for i in keys],
            )

    # training and scoring ---------------------------------------------------------------------

    def _matrix(self, users: list[str], items: np.ndarray) -> sp.csr_matrix:
        column = np.full(self.n_items, -1, dtype=np.int64)
        column[items] = np.arange(len(items))
        rows, cols, data = [], [], []
        for r, username in enumerate(users):
            for item, w in self._weights[username].items():
                if w > 0 and column[item] >= 0:
                    rows.append(r)
                    cols.append(column[item])
                    data.append(w * ALPHA)
        return sp.csr_matrix((np.array(data, dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))

    def retrain(self) -> None:
        """Fit a new model on every user's current weights (from scratch, seeded)."""
        started = time.perf_counter()
        users = sorted(u for u, row in self._weights.items() if any(w > 0 for w in row.values()))
        items = np.array(sorted({i for u in users for i, w in self._weights[u].items() if w > 0}), dtype=np.int64)
        self._pending = 0
        if len(users) == 0 or len(items) < 2:
            return
        # Single-threaded BLAS: these matrices are small, and a BLAS thread pool on a busy 2-core
        # machine made a 142-square solve take 0.3 s (implicit also warns, once, without the limit).
        with _blas_controller().limit(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=FACTORS, regularization=REGULARIZATION, iterations=ITERATIONS,
                num_threads=1, random_state=self.seed,
            )
            model.fit(self._matrix(users, items), show_progress=False)
            model.YtY  # noqa: B018 -- computed once here rather than on the first request that folds a user in
            learned = np.asarray(model.item_factors, dtype=np.float32)
            side = self.item_features[items].astype(np.float64)
            ridge = np.linalg.solve(side.T @ side + COLD_RIDGE * np.eye(side.shape[1]), side.T @ learned)
            factors = (self.item_features @ ridge).astype(np.float32)
        factors[items] = learned
        column = np.full(self.n_items, -1, dtype=np.int64)
        column[items] = np.arange(len(items))
        self._model, self._column, self._factors = model, column, factors
        self.version += 1
        self.retrain_seconds.append(time.perf_counter() - started)

    def maybe_retrain(self) -> None:
        due = max(self.retrain_every, RETRAIN_SHARE * self._total)
        if self._pending and self._pending >= due and self._lock.acquire(blocking=False):
            try:
                self.retrain()
            finally:
                self._lock.release()

    def user_vector(self, username: str) -> np.ndarray | None:
        """The user's factors, solved from their current weights on the model's items; None when
        the model knows none of the items the user engaged with (cold start)."""
        return self._user_vector(username, self._model, self._column)

    def _user_vector(self, username: str, model: AlternatingLeastSquares | None, column: np.ndarray):
        row = self._weights.get(username)
        if model is None or not row:
            return None
        cols = [(column[i], w * ALPHA) for i, w in row.items() if w > 0 and column[i] >= 0]
        if not cols:
            return None
        cols.sort()
        indices = np.array([c for c, _ in cols], dtype=np.int32)
        data = np.array([w for _, w in cols], dtype=np.float32)
        user_items = sp.csr_matrix((data, indices, np.array([0, len(cols)], dtype=np.int32)),
                                   shape=(1, model.item_factors.shape[0]))
        return model.recalculate_user(0, user_items)

    def scores(self, username: str, pool: np.ndarray) -> np.ndarray | None:
        """The model's scores of the items in ``pool`` for the user, or None for a user the model
        cannot place yet. Retrains first when due."""
        self.maybe_retrain()
        model, column, factors = self._model, self._column, self._factors
        vector = self._user_vector(username, model, column)
        if vector is None or factors is None:
            return None
        return factors[pool] @ vector
