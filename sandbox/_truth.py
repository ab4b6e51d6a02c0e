"""Ground truth: what the platform really did, for the evaluation of audits (never for the audit).

The server writes ``ground_truth.sqlite`` in its data folder, which no route serves. Tables:

- ``meta(key, value)``: seed, corpora, start time, the active faults as JSON (``faults``).
- ``sessions(ts, user_id, username, session_no, cause)``: each app session; cause is
  ``login``, ``new_visit`` (browser session ended) or ``idle`` (gap longer than the session gap).
- ``impressions(id, ts, user_id, username, session_no, surface, page, position, item_id,
  channel, reason, personalized, minors_mode)``: every item card served. ``surface`` is ``feed``
  or ``hot``; ``reason`` says why the item is there: ``personal``, ``popular``, ``explore``,
  ``leak`` (profile-ranked although personalisation is off), ``regional`` (the unpersonalised feed),
  ``heat`` (hot list rank earned by heat), ``injected`` (hot list rank not earned).
- ``engagements(ts, user_id, username, session_no, item_id, kind, value)``: click, dwell (ms), like, unlike.
- ``feedback(ts, user_id, username, session_no, item_id, reason, honoured, expires_after_session)``.
- ``tag_changes(ts, user_id, username, session_no, channel, action, weight_before, weight_after, cosmetic)``.
- ``switches(ts, user_id, username, session_no, setting, value, cause)``: cause ``user`` or ``reset``.
- ``hotlist(ts, bucket, user_id, username, rank, item_id, heat_true, heat_shown, injected, personalized)``.
- ``prices(ts, user_id, username, product_id, surface, base_price, promo, multiplier, shown_price, factors)``.
- ``coupons(ts, user_id, username, coupon_id, outcome, message, true_reason, remaining)``.
- ``permissions(ts, user_id, username, page, requested)``: permissions the page's script asked for.
- ``chaos(ts, user_id, path, kind)``: injected ``error``, ``latency`` and ``captcha`` events.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

__all__ = ["GroundTruth", "TruthWriter"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    ts REAL, user_id INTEGER, username TEXT, session_no INTEGER, cause TEXT);
CREATE TABLE IF NOT EXISTS impressions (
    id INTEGER PRIMARY KEY, ts REAL, user_id INTEGER, username TEXT, session_no INTEGER,
    surface TEXT, page INTEGER, position INTEGER, item_id TEXT, channel TEXT, reason TEXT,
    personalized INTEGER, minors_mode INTEGER);
CREATE INDEX IF NOT EXISTS impressions_user ON impressions (username, session_no);
CREATE TABLE IF NOT EXISTS engagements (
    ts REAL, user_id INTEGER, username TEXT, session_no INTEGER, item_id TEXT, kind TEXT, value REAL);
CREATE TABLE IF NOT EXISTS feedback (
    ts REAL, user_id INTEGER, username TEXT, session_no INTEGER, item_id TEXT, reason TEXT,
    honoured INTEGER, expires_after_session INTEGER);
CREATE TABLE IF NOT EXISTS tag_changes (
    ts REAL, user_id INTEGER, username TEXT, session_no INTEGER, channel TEXT, action TEXT,
    weight_before REAL, weight_after REAL, cosmetic INTEGER);
CREATE TABLE IF NOT EXISTS switches (
    ts REAL, user_id INTEGER, username TEXT, session_no INTEGER, setting TEXT, value INTEGER, cause TEXT);
CREATE TABLE IF NOT EXISTS hotlist (
    ts REAL, bucket INTEGER, user_id INTEGER, username TEXT, rank INTEGER, item_id TEXT,
    heat_true REAL, heat_shown REAL, injected INTEGER, personalized INTEGER);
CREATE TABLE IF NOT EXISTS prices (
    ts REAL, user_id INTEGER, username TEXT, product_id TEXT, surface TEXT, base_price REAL,
    promo REAL, multiplier REAL, shown_price REAL, factors TEXT);
CREATE TABLE IF NOT EXISTS coupons (
    ts REAL, user_id INTEGER, username TEXT, coupon_id TEXT, outcome TEXT, message TEXT,
    true_reason TEXT, remaining INTEGER);
CREATE TABLE IF NOT EXISTS permissions (
    ts REAL, user_id INTEGER, username TEXT, page TEXT, requested TEXT);
CREATE TABLE IF NOT EXISTS chaos (ts REAL, user_id INTEGER, path TEXT, kind TEXT);
"""

_TABLES = (
    "sessions", "impressions", "engagements", "feedback", "tag_changes", "switches",
    "hotlist", "prices", "coupons", "permissions", "chaos",
)


class TruthWriter:
    """Appends ground-truth rows; one transaction per call keeps a crash from losing a request's rows."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._columns = {
            t: [r[1] for r in self._db.execute(f"PRAGMA table_info({t})") if r[1] != "id"] for t in _TABLES
        }

    def set_meta(self, **values: Any) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in values.items()],
        )

    def log(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        cols = self._columns[table]
        now = time.time()
        values = [tuple(now if c == "ts" and c not in r else r.get(c) for c in cols) for r in rows]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self._db.execute("BEGIN")
        self._db.executemany(sql, values)
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class GroundTruth:
    """Read-only access to a sandbox's ground truth, for evaluations and tests.

    >>> truth = GroundTruth("sandbox-data/ground_truth.sqlite")   # doctest: +SKIP
    >>> truth.rows("impressions", username="alice", surface="feed")  # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():
            path = path / "ground_truth.sqlite"
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self._db.row_factory = sqlite3.Row

    def faults(self) -> dict[str, Any]:
        return self._meta_json("faults")

    def variants(self) -> dict[str, Any]:
        """The lawful design variants the platform ran with (empty: the reference design)."""
        return self._meta_json("variants")

    def _meta_json(self, key: str) -> dict[str, Any]:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else {}

    def rows(self, table: str, order_by: str = "rowid", **where: Any) -> list[dict[str, Any]]:
        if table not in _TABLES:
            raise ValueError(f"no ground-truth table {table!r}; tables: {', '.join(_TABLES)}")
        cols = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")} | {"rowid"}
        for name in [*where, order_by]:
            if name not in cols:
                raise ValueError(f"{table} has no column {name!r}")
        clause = " AND ".join(f"{k} = ?" for k in where) or "1"
        sql = f"SELECT * FROM {table} WHERE {clause} ORDER BY {order_by}"
        return [dict(r) for r in self._db.execute(sql, tuple(where.values()))]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> GroundTruth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
