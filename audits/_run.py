"""A run as the audits read it: straight from the run database, whose schema is the interface
(audits never import the harness)."""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Run", "RunTables", "open_run"]


@dataclasses.dataclass(frozen=True)
class Puppet:
    puppet_id: str
    persona_id: str
    group: str
    role: str
    replica: int


class Run:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.db = sqlite3.connect(run_dir / "run.sqlite")
        self.db.row_factory = sqlite3.Row
        info = dict(self.db.execute("SELECT campaign_yaml FROM runs").fetchone())
        self.campaign: dict[str, Any] = yaml.safe_load(info["campaign_yaml"]) or {}
        self.puppets = {
            r["puppet_id"]: Puppet(r["puppet_id"], r["persona_id"], r["group_name"], r["role"], r["replica"])
            for r in self.db.execute("SELECT * FROM puppets ORDER BY group_name, replica")
        }
        self.phases = {r["round"]: r["phase"] for r in self.db.execute("SELECT round, phase FROM rounds")}

    def close(self) -> None:
        self.db.close()

    def threshold(self, key: str, default: float) -> float:
        return float((self.campaign.get("thresholds") or {}).get(key, default))

    @functools.cached_property
    def _items(self) -> dict[str, dict[str, Any]]:
        return {r["item_key"]: dict(r) for r in self.db.execute("SELECT * FROM items")}

    def items(self) -> dict[str, dict[str, Any]]:
        """Every item seen, by item key: platform id, title, channel as the platform showed it."""
        return self._items

    def labels(self, field: str) -> set[str]:
        """The distinct labels (``channel`` or ``author``) the platform showed on the cards seen."""
        return {item[field] for item in self._items.values() if item[field]}

    def labels_tell_apart(self, field: str) -> bool:
        """Whether the cards' labels can be direct evidence: at least two distinct ones were shown (a
        platform that files every card under one name tells nothing by it)."""
        return len(self.labels(field)) >= 2

    @functools.cached_property
    def item_key_of(self) -> dict[str, str]:
        """Platform item id -> item key (actions name items by the platform's id)."""
        return {v["platform_item_id"]: k for k, v in self._items.items()}

    @functools.cache  # noqa: B019 - one Run per analysis; every feed check reads the same feed
    def feed(self) -> dict[tuple[str, int], list[str]]:
        """(puppet, round) -> the item keys of every feed card shown in complete sessions, duplicates kept."""
        out: dict[tuple[str, int], list[str]] = collections.defaultdict(list)
        for r in self.db.execute(
                "SELECT m.puppet_id, m.round, m.item_key FROM impressions m JOIN sessions s USING (session_id) "
                "WHERE m.surface = 'feed' AND s.status = 'complete' ORDER BY m.session_id, m.load, m.position"):
            out[(r["puppet_id"], r["round"])].append(r["item_key"])
        return out

    def feed_impressions(self, puppet_id: str) -> list[dict[str, Any]]:
        """One puppet's feed cards in complete sessions, in the order shown, with round and time."""
        return [dict(r) for r in self.db.execute(
            "SELECT m.round, m.seen_at, m.item_key FROM impressions m JOIN sessions s USING (session_id) "
            "WHERE m.puppet_id = ? AND m.surface = 'feed' AND s.status = 'complete' "
            "ORDER BY m.session_id, m.load, m.position", [puppet_id])]

    def observations(self, kind: str) -> list[dict[str, Any]]:
        """Observations of one kind, ``value`` decoded from JSON, in the order recorded."""
        rows = [dict(r) for r in self.db.execute("SELECT * FROM observations WHERE kind = ? ORDER BY id", [kind])]
        for row in rows:
            row["value"] = _decoded(row["value"])
        return rows

    def personalised_rounds(self, puppet_ids: list[str]) -> list[int]:
        """The rounds before any of these puppets switched personalisation off: what they read later
        is not a personalised feed, whatever the check measures."""
        mine = set(puppet_ids)
        off = [a["round"] for a in self.actions("personalization") if a["target"] == "off" and a["puppet_id"] in mine]
        return [r for r in sorted(self.phases) if not off or r < min(off)]

    def actions(self, verb: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM actions WHERE verb = ? ORDER BY id", [verb])]

    def evidence_for(self, verb: str) -> list[str]:
        """Artifacts of the steps that did ``verb``: path and sha256, for the verdict's evidence."""
        rows = self.db.execute(
            "SELECT a.path, a.sha256 FROM artifacts a JOIN commands c ON c.id = a.command_id WHERE c.verb = ?",
            [verb]).fetchall()
        return [f"{r['path']} sha256:{r['sha256']}" for r in rows]

    def write(self, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]],
              replace_where: dict[str, Any]) -> None:
        """Replace the rows matching ``replace_where`` (all rows when empty) of an analysis table, in
        one transaction: analysing again rewrites, never appends."""
        quoted = ", ".join(f'"{c}"' for c in columns)
        with self.db:
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({quoted})")
            # A run analysed by an older version: add the columns it lacks.
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column not in have:
                    self.db.execute(f'ALTER TABLE {table} ADD COLUMN "{column}"')
            clause = " AND ".join(f'"{k}" = ?' for k in replace_where) or "1"
            self.db.execute(f"DELETE FROM {table} WHERE {clause}", list(replace_where.values()))
            if not rows:
                return
            self.db.executemany(
                f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' * len(columns))})",
                [[v if not isinstance(v, dict | list) else json.dumps(v) for v in r.values()] for r in rows])


class RunTables:
    """The run database read tolerantly, for reports and diffs of runs made by any version: a
    missing table or column reads as nothing."""

    def __init__(self, run_dir: Path):
        path = run_dir / "run.sqlite"
        if not path.exists():
            raise FileNotFoundError(f"{run_dir} holds no run.sqlite")
        self.db = sqlite3.connect(path)
        self.db.row_factory = sqlite3.Row
        self.tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def close(self) -> None:
        self.db.close()

    def rows(self, table: str, sql: str | None = None, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if table not in self.tables:
            return []
        try:
            return [dict(r) for r in self.db.execute(sql or f'SELECT * FROM "{table}"', list(params))]
        except sqlite3.OperationalError:
            # A run written or analysed by another version may lack a column the query names.
            return []


def _decoded(value: str | None) -> Any:
    # Structured values are stored as JSON, plain strings (an account name) as themselves.
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return value


def open_run(run_dir: Path) -> Run:
    if not (run_dir / "run.sqlite").exists():
        raise FileNotFoundError(f"{run_dir} holds no run.sqlite")
    return Run(run_dir)
