"""The run store: one SQLite file per run (``RUN_DIR/run.sqlite``), the interface of everything after.

Written with sqlite-utils in WAL mode; every call is one transaction (``Database.atomic``), so a crash loses at most
the call in flight, and what a puppet saw is written as soon as it is read from the page.
Artifacts live in ``RUN_DIR/artifacts/`` and are hashed into ``artifacts``.

Schema (times are UTC ISO-8601 strings; ``round`` is the expanded round index):

- ``runs(run_id, campaign_name, campaign_path, campaign_sha256, campaign_yaml, target_url, driver,
  account_prefix, status, created_at, updated_at, algoaudit_version, host)``: one row.
  ``status``: ``running``, ``interrupted``, ``aborted``, ``complete``.
- ``rounds(round, name, phase, started_at, finished_at)``.
- ``puppets(puppet_id, persona_id, group_name, role, replica, username, device, locale, timezone,
  user_agent, viewport, profile_dir)``.
- ``sessions(session_id, puppet_id, round, attempt, status, started_at, finished_at, error)``: one
  browser session of one puppet in one round. ``status``: ``running``, ``complete``,
  ``interrupted`` (the harness stopped), ``failed`` (retried as a new attempt), ``blocked``.
- ``commands(id, session_id, puppet_id, round, step_index, verb, args, status, error, traceback,
  retry, started_at, duration_ms, outcome)``: every step; ``status`` one of ``ok``, ``error``,
  ``timeout``, ``blocked``, ``crashed``, ``missing_control``, ``driver_drift``, ``interrupted``.
- ``items(item_key, platform_item_id, title, author, channel, url, content_sha256, first_seen_at)``.
- ``impressions(id, session_id, puppet_id, round, surface, load, position, item_key, seen_at, dwell_ms)``:
  every card shown; ``load`` numbers the session's page loads (a feed shown twice is shown twice);
  unique on (session_id, surface, load, position).
- ``actions(id, session_id, puppet_id, round, verb, target, args, outcome, message, at)``: clicks,
  likes, feedback, tag deletions, switches, purchases, with the platform's answer.
- ``hotlist_entries(id, session_id, puppet_id, round, load, snapshot_at, rank, item_key, heat_text, heat)``:
  the hot-list log (榜单日志), one snapshot per page load; ``heat`` is the displayed heat as a number
  (``11.8万`` is 118000), ``heat_text`` as displayed. An entry's own page, when the step opened it, is an
  observation of kind ``hot_entry`` (its load and rank, views, likes, comments and publish time as shown
  and parsed).
- ``prices(id, session_id, puppet_id, round, surface, product_id, title, price, price_text, position, seen_at)``.
- ``coupons(id, session_id, puppet_id, round, coupon_id, title, message, claimed, stock_before,
  stock_after, rules, at)``.
- ``observations(id, session_id, puppet_id, round, kind, value, at)``: tags listed, switch states,
  onboarding, disclosures, the identity the platform shows (``whoami``). A ``disclosure`` found
  carries ``archive``: the kind, path and sha256 of its full-page screenshot and HTML.
- ``artifacts(id, session_id, puppet_id, round, command_id, kind, path, sha256, bytes, created_at)``.
- ``permission_requests(id, session_id, puppet_id, round, api, detail, page_url, at)``: every call a
  page's scripts made to a permission-gated API, seen by the init script the harness installs before
  any page script (``_browser.watch_data_collection``). ``api``: ``geolocation``, ``notifications``,
  ``clipboard``, ``camera``, ``microphone``, ``camera+microphone``, ``media`` or ``permissions_query``
  (a probe of a permission's state, not a request); ``detail``: the method called or its constraints.
- ``third_party_requests(id, session_id, puppet_id, round, host, url, resource_type, page_url, at)``:
  every request the puppet's browser sent to a host other than the target's.
- ``events(id, at, puppet_id, round, kind, detail)``: ``captcha``, ``browser_restart``,
  ``contamination``, ``interrupt``, ``resume``, ``retry``.
- ``custody(id, at, command, user, host, algoaudit_version, python, detail)``: chain of custody,
  one row appended by every command that touches the run (``command`` redacted, ``detail`` JSON
  with ``action``); created and written by ``harness/_custody.py``, not by this store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlite_utils

from ._types import PuppetId, SessionId
from .errors import StoreError

__all__ = ["RunStore", "now_iso"]

SCHEMA_VERSION = 1

_TABLES: dict[str, dict[str, Any]] = {
    "runs": {"columns": {"run_id": str, "campaign_name": str, "campaign_path": str, "campaign_sha256": str,
                         "campaign_yaml": str, "target_url": str, "driver": str, "account_prefix": str,
                         "status": str, "created_at": str, "updated_at": str, "algoaudit_version": str,
                         "host": str}, "pk": "run_id"},
    "rounds": {"columns": {"round": int, "name": str, "phase": str, "started_at": str, "finished_at": str},
               "pk": "round"},
    "puppets": {"columns": {"puppet_id": str, "persona_id": str, "group_name": str, "role": str, "replica": int,
                            "username": str, "device": str, "locale": str, "timezone": str, "user_agent": str,
                            "viewport": str, "profile_dir": str}, "pk": "puppet_id"},
    "sessions": {"columns": {"session_id": str, "puppet_id": str, "round": int, "attempt": int, "status": str,
                             "started_at": str, "finished_at": str, "error": str}, "pk": "session_id"},
    "commands": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "step_index": int,
                             "verb": str, "args": str, "status": str, "error": str, "traceback": str,
                             "retry": int, "started_at": str, "duration_ms": float, "outcome": str}, "pk": "id"},
    "items": {"columns": {"item_key": str, "platform_item_id": str, "title": str, "author": str, "channel": str,
                          "url": str, "content_sha256": str, "first_seen_at": str}, "pk": "item_key"},
    "impressions": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "surface": str,
                                "load": int, "position": int, "item_key": str, "seen_at": str, "dwell_ms": float},
                    "pk": "id"},
    "actions": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "verb": str,
                            "target": str, "args": str, "outcome": str, "message": str, "at": str}, "pk": "id"},
    "hotlist_entries": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "load": int,
                                    "snapshot_at": str, "rank": int, "item_key": str, "heat_text": str,
                                    "heat": float}, "pk": "id"},
    "prices": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "surface": str,
                           "product_id": str, "title": str, "price": float, "price_text": str, "position": int,
                           "seen_at": str}, "pk": "id"},
    "coupons": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "coupon_id": str,
                            "title": str, "message": str, "claimed": int, "stock_before": str, "stock_after": str,
                            "rules": str, "at": str}, "pk": "id"},
    "observations": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "kind": str,
                                 "value": str, "at": str}, "pk": "id"},
    "permission_requests": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "api": str,
                                        "detail": str, "page_url": str, "at": str}, "pk": "id"},
    "third_party_requests": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int,
                                         "host": str, "url": str, "resource_type": str, "page_url": str,
                                         "at": str}, "pk": "id"},
    "artifacts": {"columns": {"id": int, "session_id": str, "puppet_id": str, "round": int, "command_id": int,
                              "kind": str, "path": str, "sha256": str, "bytes": int, "created_at": str}, "pk": "id"},
    "events": {"columns": {"id": int, "at": str, "puppet_id": str, "round": int, "kind": str, "detail": str},
               "pk": "id"},
}
_INDEXES = [
    ("impressions", ["session_id", "surface", "load", "position"], True),
    ("impressions", ["puppet_id", "round"], False),
    ("hotlist_entries", ["session_id", "load", "rank"], True),
    ("sessions", ["puppet_id", "round"], False),
    ("commands", ["session_id"], False),
]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def item_key(platform_item_id: str) -> str:
    return hashlib.sha256(platform_item_id.encode("utf-8")).hexdigest()[:16]


class RunStore:
    """A run's database. ``RunStore.open(path)`` on disk, ``RunStore.in_memory()`` for tests."""

    def __init__(self, db: sqlite_utils.Database, path: Path | None):
        self.db = db
        self.path = path
        self._ensure_schema()

    @classmethod
    def open(cls, path: Path) -> RunStore:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite_utils.Database(path)
            db.enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open run database {path}: {exc}") from exc
        return cls(db, path)

    @classmethod
    def in_memory(cls) -> RunStore:
        return cls(sqlite_utils.Database(memory=True), None)

    def close(self) -> None:
        self.db.conn.close()

    def _ensure_schema(self) -> None:
        try:
            with self.db.atomic():
                for name, spec in _TABLES.items():
                    if not self.db[name].exists():
                        self.db[name].create(spec["columns"], pk=spec["pk"])
                for table, cols, unique in _INDEXES:
                    self.db[table].create_index(cols, unique=unique, if_not_exists=True)
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create the run schema: {exc}") from exc

    def _write(self, table: str, rows: list[dict[str, Any]], *, ignore: bool = False, replace: bool = False) -> None:
        if not rows:
            return
        try:
            with self.db.atomic():
                self.db[table].insert_all(rows, ignore=ignore, replace=replace)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write {table}: {exc}") from exc

    # runs, rounds, puppets -----------------------------------------------------------------------

    def create_run(self, **fields: Any) -> None:
        fields.setdefault("status", "running")
        fields.setdefault("created_at", now_iso())
        fields["updated_at"] = fields["created_at"]
        self._write("runs", [fields], replace=True)

    def run(self) -> dict[str, Any]:
        rows = list(self.db["runs"].rows)
        if not rows:
            raise StoreError(f"{self.path}: no run recorded in this database")
        return rows[0]

    def set_run_status(self, status: str) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE runs SET status = ?, updated_at = ?", [status, now_iso()])

    def start_round(self, index: int, name: str, phase: str) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO rounds (round, name, phase, started_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(round) DO NOTHING", [index, name, phase, now_iso()]
            )

    def finish_round(self, index: int) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE rounds SET finished_at = ? WHERE round = ?", [now_iso(), index])

    def add_puppets(self, puppets: list[dict[str, Any]]) -> None:
        self._write("puppets", puppets, replace=True)

    # sessions and commands -----------------------------------------------------------------------

    def start_session(self, session_id: SessionId, puppet_id: PuppetId, round_index: int, attempt: int) -> None:
        self._write("sessions", [{"session_id": session_id, "puppet_id": puppet_id, "round": round_index,
                                  "attempt": attempt, "status": "running", "started_at": now_iso()}])

    def finish_session(self, session_id: SessionId, status: str, error: str | None = None) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE sessions SET status = ?, finished_at = ?, error = ? WHERE session_id = ?",
                            [status, now_iso(), error, session_id])

    def interrupt_running_sessions(self) -> int:
        """Sessions left ``running`` by a harness that died: they become ``interrupted``."""
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE sessions SET status = 'interrupted', finished_at = COALESCE(finished_at, ?),"
                " error = COALESCE(error, 'the harness stopped during this session') WHERE status = 'running'",
                [now_iso()],
            )
        return cur.rowcount

    def completed(self) -> set[tuple[str, int]]:
        return {(r[0], r[1]) for r in self.db.execute(
            "SELECT puppet_id, round FROM sessions WHERE status = 'complete'").fetchall()}

    def attempts(self, puppet_id: PuppetId, round_index: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM sessions WHERE puppet_id = ? AND round = ?",
                               [puppet_id, round_index]).fetchone()[0]

    def record_command(self, **fields: Any) -> int:
        fields["args"] = json.dumps(fields.get("args") or {}, ensure_ascii=False, sort_keys=True)
        if "outcome" in fields and not isinstance(fields["outcome"], str | None):
            fields["outcome"] = json.dumps(fields["outcome"], ensure_ascii=False, default=str)
        try:
            with self.db.atomic():
                return int(self.db["commands"].insert(fields).last_pk)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write commands: {exc}") from exc

    # observations -------------------------------------------------------------------------------

    def add_items(self, items: list[dict[str, Any]]) -> None:
        rows = []
        for it in items:
            text = f"{it['title']}\n{it.get('author', '')}\n{it.get('channel', '')}"
            rows.append({"item_key": item_key(it["item_id"]), "platform_item_id": it["item_id"],
                         "title": it["title"], "author": it.get("author", ""), "channel": it.get("channel", ""),
                         "url": it.get("url", ""), "content_sha256": hashlib.sha256(text.encode()).hexdigest(),
                         "first_seen_at": now_iso()})
        self._write("items", rows, ignore=True)

    def add_impressions(self, where: dict[str, Any], surface: str, cards: list[dict[str, Any]]) -> None:
        """Items and impressions in one transaction; recording the same cards again changes nothing."""
        seen_at = now_iso()
        try:
            with self.db.atomic():
                self.add_items(cards)
                self.db["impressions"].insert_all(
                    [{**where, "surface": surface, "load": c.get("load", 0), "position": c["position"],
                      "item_key": item_key(c["item_id"]), "seen_at": seen_at} for c in cards], ignore=True)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write impressions: {exc}") from exc

    def set_dwell(self, session_id: SessionId, item_id: str, load: int, dwell_ms: float) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE impressions SET dwell_ms = ? WHERE session_id = ? AND item_key = ? AND load = ?",
                            [dwell_ms, session_id, item_key(item_id), load])

    def add_hotlist(self, where: dict[str, Any], entries: list[dict[str, Any]]) -> None:
        at = now_iso()
        with self.db.atomic():
            self.db["hotlist_entries"].insert_all(
                [{**where, "load": e.get("load", 0), "snapshot_at": at, "rank": e["rank"],
                  "item_key": item_key(e["item_id"]), "heat_text": e["heat_text"], "heat": e.get("heat_value")}
                 for e in entries], ignore=True, alter=True)
            # Nested: the snapshot and its impressions (and items) commit together.
            self.add_impressions(where, "hot", [{**e, "position": e["rank"] - 1, "load": e.get("load", 0)}
                                                for e in entries])

    def add_rows(self, table: str, where: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """Rows of ``actions``, ``prices``, ``coupons``, ``observations``, ``permission_requests`` or
        ``third_party_requests`` for one session."""
        if table not in ("actions", "prices", "coupons", "observations", "permission_requests",
                         "third_party_requests"):
            raise StoreError(f"add_rows does not write {table}")
        at_field = {"prices": "seen_at"}.get(table, "at")
        stamped = [{**where, at_field: now_iso(), **r} for r in rows]
        for r in stamped:
            for key in ("args", "value"):
                if key in r and not isinstance(r[key], str | None):
                    r[key] = json.dumps(r[key], ensure_ascii=False, sort_keys=True)
        self._write(table, stamped)

    def add_artifact(self, where: dict[str, Any], kind: str, path: Path, command_id: int | None = None) -> str:
        """Hash a file already written under the run folder; returns its sha256."""
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        relative = str(path.relative_to(self.path.parent)) if self.path and path.is_relative_to(self.path.parent) else str(path)
        self._write("artifacts", [{**where, "command_id": command_id, "kind": kind, "path": relative,
                                   "sha256": digest, "bytes": len(data), "created_at": now_iso()}])
        return digest

    def add_event(self, kind: str, detail: str, puppet_id: str | None = None, round_index: int | None = None) -> None:
        self._write("events", [{"at": now_iso(), "puppet_id": puppet_id, "round": round_index, "kind": kind,
                                "detail": detail}])

    # reading ------------------------------------------------------------------------------------

    def rows(self, table: str, **where: Any) -> list[dict[str, Any]]:
        if table not in _TABLES:
            raise StoreError(f"no table {table!r}; tables: {', '.join(_TABLES)}")
        clause = " AND ".join(f"[{k}] = ?" for k in where) or None
        return list(self.db[table].rows_where(clause, list(where.values()) or None))

    def count(self, table: str) -> int:
        return self.db[table].count
