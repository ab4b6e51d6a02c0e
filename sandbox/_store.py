"""The platform's own database: accounts, login tokens, profiles, feedback, tags, orders, coupons.

Every mutation is written through at once, so a restarted server carries on with each account's
state. User state is cached in memory; the server is a single process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import sqlite3
import time
from pathlib import Path

import numpy as np

__all__ = ["Feedback", "PlatformStore", "UserState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    pw_salt BLOB NOT NULL,
    pw_hash BLOB NOT NULL,
    birth_year INTEGER NOT NULL,
    occupation TEXT NOT NULL,
    region TEXT NOT NULL,
    lang TEXT NOT NULL,
    created_at REAL NOT NULL,
    personalized INTEGER NOT NULL DEFAULT 1,
    off_since_session INTEGER,
    minors_mode INTEGER NOT NULL DEFAULT 0,
    minors_pin_hash TEXT,
    elderly_mode INTEGER NOT NULL DEFAULT 0,
    onboarded INTEGER NOT NULL DEFAULT 0,
    session_no INTEGER NOT NULL DEFAULT 0,
    last_seen REAL NOT NULL DEFAULT 0,
    affinity BLOB,
    content BLOB
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (
    user_id INTEGER NOT NULL,
    item INTEGER NOT NULL,
    session_no INTEGER NOT NULL,
    PRIMARY KEY (user_id, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS opened (
    user_id INTEGER NOT NULL,
    item INTEGER NOT NULL,
    PRIMARY KEY (user_id, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS likes (
    user_id INTEGER NOT NULL,
    item INTEGER NOT NULL,
    PRIMARY KEY (user_id, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    item INTEGER NOT NULL,
    reason TEXT NOT NULL,
    session_no INTEGER NOT NULL,
    honoured INTEGER NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    user_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('chosen', 'deleted')),
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    product TEXT NOT NULL,
    price REAL NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS coupon_claims (
    user_id INTEGER NOT NULL,
    coupon TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, coupon)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS item_heat (
    item INTEGER PRIMARY KEY,
    heat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS coupon_stock (
    coupon TEXT PRIMARY KEY,
    remaining INTEGER NOT NULL
);
"""

_SETTINGS = frozenset(
    {"personalized", "off_since_session", "minors_mode", "minors_pin_hash", "elderly_mode", "onboarded", "lang"}
)


@dataclasses.dataclass
class Feedback:
    item: int
    reason: str
    session_no: int
    honoured: bool


@dataclasses.dataclass
class UserState:
    id: int
    username: str
    birth_year: int
    occupation: str
    region: str
    lang: str
    personalized: bool
    off_since_session: int | None
    minors_mode: bool
    minors_pin_hash: str | None
    elderly_mode: bool
    onboarded: bool
    session_no: int
    last_seen: float
    affinity: np.ndarray
    content: np.ndarray
    seen: dict[int, int]  # item -> the last session it was shown in
    likes: set[int]
    opened: set[int]  # items the user opened (clicked), ever
    feedback: list[Feedback]
    chosen_tags: set[str]
    deleted_tags: set[str]
    orders_total: float
    orders_count: int
    coupons: set[str]
    # Position of the next feed card in the current session; not persisted (a restart starts anew).
    feed_position: int = 0

    def age(self, now: float) -> int:
        return time.gmtime(now).tm_year - self.birth_year


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)


def hash_pin(pin: str, user_id: int) -> str:
    return hashlib.sha256(f"{user_id}:{pin}".encode()).hexdigest()


class PlatformStore:
    def __init__(self, path: Path, n_channels: int, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._n_channels = n_channels
        self._dim = dim
        self._users: dict[int, UserState] = {}

    def close(self) -> None:
        self._db.close()

    # accounts ---------------------------------------------------------------------------------

    def create_user(
        self, username: str, password: str, birth_year: int, occupation: str, region: str, lang: str
    ) -> int | None:
        """The new user's id, or None when the name is taken."""
        salt = secrets.token_bytes(16)
        try:
            cur = self._db.execute(
                "INSERT INTO users (username, pw_salt, pw_hash, birth_year, occupation, region, lang, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (username, salt, _hash_password(password, salt), birth_year, occupation, region, lang, time.time()),
            )
        except sqlite3.IntegrityError:
            return None
        return int(cur.lastrowid)

    def check_password(self, username: str, password: str) -> int | None:
        row = self._db.execute("SELECT id, pw_salt, pw_hash FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            return None
        return row[0] if hmac.compare_digest(_hash_password(password, row[1]), row[2]) else None

    def issue_token(self, user_id: int) -> str:
        token = secrets.token_urlsafe(32)
        self._db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (token, user_id, time.time()))
        return token

    def revoke_token(self, token: str) -> None:
        self._db.execute("DELETE FROM tokens WHERE token = ?", (token,))

    def user_for_token(self, token: str) -> UserState | None:
        row = self._db.execute("SELECT user_id FROM tokens WHERE token = ?", (token,)).fetchone()
        return self.user(row[0]) if row else None

    def user(self, user_id: int) -> UserState | None:
        if user_id in self._users:
            return self._users[user_id]
        row = self._db.execute(
            "SELECT id, username, birth_year, occupation, region, lang, personalized, off_since_session,"
            " minors_mode, minors_pin_hash, elderly_mode, onboarded, session_no, last_seen, affinity, content"
            " FROM users WHERE id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        q = self._db.execute
        tags = q("SELECT channel, state FROM tags WHERE user_id = ?", (user_id,)).fetchall()
        total, count = q("SELECT COALESCE(SUM(price), 0), COUNT(*) FROM orders WHERE user_id = ?", (user_id,)).fetchone()
        state = UserState(
            id=row[0], username=row[1], birth_year=row[2], occupation=row[3], region=row[4], lang=row[5],
            personalized=bool(row[6]), off_since_session=row[7], minors_mode=bool(row[8]),
            minors_pin_hash=row[9], elderly_mode=bool(row[10]), onboarded=bool(row[11]),
            session_no=row[12], last_seen=row[13],
            affinity=np.frombuffer(row[14], dtype=np.float64).copy() if row[14] else np.zeros(self._n_channels),
            content=np.frombuffer(row[15], dtype=np.float32).copy() if row[15] else np.zeros(self._dim, np.float32),
            seen=dict(q("SELECT item, session_no FROM seen WHERE user_id = ?", (user_id,)).fetchall()),
            likes={r[0] for r in q("SELECT item FROM likes WHERE user_id = ?", (user_id,))},
            opened={r[0] for r in q("SELECT item FROM opened WHERE user_id = ?", (user_id,))},
            feedback=[
                Feedback(r[0], r[1], r[2], bool(r[3]))
                for r in q("SELECT item, reason, session_no, honoured FROM feedback WHERE user_id = ? ORDER BY id",
                           (user_id,))
            ],
            chosen_tags={c for c, s in tags if s == "chosen"},
            deleted_tags={c for c, s in tags if s == "deleted"},
            orders_total=float(total),
            orders_count=int(count),
            coupons={r[0] for r in q("SELECT coupon FROM coupon_claims WHERE user_id = ?", (user_id,))},
        )
        self._users[user_id] = state
        return state

    # mutations --------------------------------------------------------------------------------

    def save_settings(self, user: UserState, **fields: object) -> None:
        unknown = set(fields) - _SETTINGS
        if unknown:
            raise KeyError(f"not a user setting: {sorted(unknown)}")
        for key, value in fields.items():
            setattr(user, key, value)
        cols = ", ".join(f"{k} = ?" for k in fields)
        values = [int(v) if isinstance(v, bool) else v for v in fields.values()]
        self._db.execute(f"UPDATE users SET {cols} WHERE id = ?", (*values, user.id))

    def touch(self, user: UserState, now: float, new_session: bool) -> None:
        user.last_seen = now
        if new_session:
            user.session_no += 1
            user.feed_position = 0
        self._db.execute(
            "UPDATE users SET last_seen = ?, session_no = ? WHERE id = ?", (now, user.session_no, user.id)
        )

    def save_profile(self, user: UserState) -> None:
        self._db.execute(
            "UPDATE users SET affinity = ?, content = ? WHERE id = ?",
            (user.affinity.astype(np.float64).tobytes(), user.content.astype(np.float32).tobytes(), user.id),
        )

    def add_seen(self, user: UserState, items: list[int]) -> None:
        user.seen.update(dict.fromkeys(items, user.session_no))
        self._db.executemany(
            "INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", [(user.id, i, user.session_no) for i in items]
        )

    def add_opened(self, user: UserState, item: int) -> None:
        user.opened.add(item)
        self._db.execute("INSERT OR IGNORE INTO opened VALUES (?, ?)", (user.id, item))

    def set_like(self, user: UserState, item: int, liked: bool) -> None:
        if liked:
            user.likes.add(item)
            self._db.execute("INSERT OR IGNORE INTO likes VALUES (?, ?)", (user.id, item))
        else:
            user.likes.discard(item)
            self._db.execute("DELETE FROM likes WHERE user_id = ? AND item = ?", (user.id, item))

    def add_feedback(self, user: UserState, fb: Feedback, now: float) -> None:
        user.feedback.append(fb)
        self._db.execute(
            "INSERT INTO feedback (user_id, item, reason, session_no, honoured, ts) VALUES (?, ?, ?, ?, ?, ?)",
            (user.id, fb.item, fb.reason, fb.session_no, int(fb.honoured), now),
        )

    def set_tag(self, user: UserState, channel: str, state: str, now: float) -> None:
        (user.chosen_tags if state == "chosen" else user.deleted_tags).add(channel)
        (user.deleted_tags if state == "chosen" else user.chosen_tags).discard(channel)
        self._db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?, ?)", (user.id, channel, state, now))

    def add_order(self, user: UserState, product: str, price: float, now: float) -> int:
        cur = self._db.execute(
            "INSERT INTO orders (user_id, product, price, ts) VALUES (?, ?, ?, ?)", (user.id, product, price, now)
        )
        user.orders_total += price
        user.orders_count += 1
        return int(cur.lastrowid)

    def load_heat(self, n_items: int) -> np.ndarray:
        heat = np.zeros(n_items)
        for item, value in self._db.execute("SELECT item, heat FROM item_heat"):
            if item < n_items:
                heat[item] = value
        return heat

    def add_heat(self, item: int, amount: float) -> None:
        self._db.execute(
            "INSERT INTO item_heat VALUES (?, ?) ON CONFLICT(item) DO UPDATE SET heat = heat + excluded.heat",
            (item, amount),
        )

    def coupon_remaining(self, coupon: str, initial: int) -> int:
        self._db.execute("INSERT OR IGNORE INTO coupon_stock VALUES (?, ?)", (coupon, initial))
        return int(self._db.execute("SELECT remaining FROM coupon_stock WHERE coupon = ?", (coupon,)).fetchone()[0])

    def take_coupon(self, user: UserState, coupon: str, now: float) -> bool:
        """Atomically take one from stock and record the claim; False when stock ran out."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "UPDATE coupon_stock SET remaining = remaining - 1 WHERE coupon = ? AND remaining > 0", (coupon,)
            )
            if cur.rowcount == 0:
                return False
            self._db.execute("INSERT INTO coupon_claims VALUES (?, ?, ?)", (user.id, coupon, now))
        user.coupons.add(coupon)
        return True
