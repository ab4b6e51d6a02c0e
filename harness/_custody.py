"""Chain of custody: who did what to a run folder, when, where and with which version.

Every ``algoaudit`` command that touches a run folder calls ``record_custody`` once, which appends
a row to the ``custody`` table of the run's ``run.sqlite``::

    custody(id, at, command, user, host, algoaudit_version, python, detail)

``at`` is UTC ISO-8601; ``command`` the command line with anything secret-looking redacted (values
of options and ``NAME=VALUE`` pairs whose name says password, secret, token, API key, authorization,
cookie or credential; passwords in URLs; and every secret value the run itself used); ``detail`` JSON,
with at least ``action`` (``run``, ``resume``, ``analyze``, ``report``, ``bundle``) and ``cwd``.
Rows are only ever appended. The bundle carries them as ``custody.jsonl``.

``run_secrets`` lists the secret values a run used (generated passwords in ``RUN/secrets/``,
passwords from the environment or a file as its personas say), so that custody rows and
evidence bundles can be checked to hold none of them.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import re
import shlex
import sqlite3
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from ._store import now_iso
from .errors import BundleError, StoreError

__all__ = ["CUSTODY_COLUMNS", "custody_rows", "record_custody", "redact_argv", "run_secrets"]

CUSTODY_COLUMNS = ("id", "at", "command", "user", "host", "algoaudit_version", "python", "detail")
_CREATE = ("CREATE TABLE IF NOT EXISTS custody (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
           "command TEXT NOT NULL, user TEXT, host TEXT, algoaudit_version TEXT, python TEXT, detail TEXT)")
REDACTED = "***"
_SECRET_NAME = r"[\w.-]*(?:pass(?:word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|authorization|auth[-_]?token|bearer|cookie|credential)[\w.-]*"
_SECRET_OPTION = re.compile(rf"(?i)^--?{_SECRET_NAME}$")
_SECRET_OPTION_EQ = re.compile(rf"(?i)^(--?{_SECRET_NAME}=).*$", re.DOTALL)
_SECRET_PAIR = re.compile(rf"(?i)((?:^|[?&;,\s]){_SECRET_NAME}[=:])[^&;,\s]+")
_URL_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+(@)")


def algoaudit_version() -> str:
    try:
        return version("algoaudit")
    except PackageNotFoundError:
        return "unknown"


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        # A container user without a passwd entry still has a uid.
        return f"uid {os.getuid()}"


def _program(argv0: str) -> str:
    """What was run, without the folder it lives in: ``python -m harness.cli`` is algoaudit, and
    ``python -m pytest`` is pytest rather than ``__main__.py``."""
    path = Path(argv0)
    if path.name == "cli.py" and path.parent.name == "harness":
        return "algoaudit"
    if path.name == "__main__.py":
        return path.parent.name
    return path.name


def redact_argv(argv: Sequence[str], secrets: Iterable[str] = ()) -> list[str]:
    """``argv`` with secret-looking values and every one of ``secrets`` replaced by ``***``."""
    known = sorted({s for s in secrets if s}, key=len, reverse=True)
    out: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if _SECRET_OPTION.match(token):
            hide_next = True
            out.append(token)
            continue
        token = _SECRET_OPTION_EQ.sub(rf"\g<1>{REDACTED}", token)
        token = _SECRET_PAIR.sub(rf"\g<1>{REDACTED}", token)
        token = _URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<2>", token)
        for secret in known:
            token = token.replace(secret, REDACTED)
        out.append(token)
    return out


def _redact_value(value: Any, known: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {k: _redact_value(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, known) for v in value]
    return value


def record_custody(run_dir: Path, action: str, *, detail: Mapping[str, Any] | None = None,
                   argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Append one custody row for ``action`` on ``run_dir``; returns it.

    ``argv`` defaults to ``sys.argv``. Returns None, writing nothing, when the folder holds no run
    database: there is nothing in custody, and the command itself reports the missing run.
    """
    path = Path(run_dir) / "run.sqlite"
    if not path.is_file():
        return None
    known = sorted(run_secrets(Path(run_dir), strict=False), key=len, reverse=True)
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = _program(argv[0])
    row = {
        "at": now_iso(),
        "command": shlex.join(redact_argv(argv, known)),
        "user": _user(),
        "host": platform.node(),
        "algoaudit_version": algoaudit_version(),
        "python": platform.python_version(),
        "detail": json.dumps(_redact_value({"action": action, "cwd": os.getcwd(), **(detail or {})}, known),
                             ensure_ascii=False, sort_keys=True, default=str),
    }
    try:
        with sqlite3.connect(path, timeout=30) as db:
            db.execute(_CREATE)
            cursor = db.execute(f"INSERT INTO custody ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                list(row.values()))
            row = {"id": cursor.lastrowid, **row}
        db.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot record custody in {path}: {exc}") from exc
    return row


def custody_rows(db_path: Path) -> list[dict[str, Any]]:
    """The custody rows of a run database, oldest first (none when the table does not exist yet)."""
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {db_path}: {exc}") from exc
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'custody'").fetchone() is None:
            return []
        cursor = db.execute(f"SELECT {', '.join(CUSTODY_COLUMNS)} FROM custody ORDER BY id")
        return [dict(zip(CUSTODY_COLUMNS, r, strict=True)) for r in cursor.fetchall()]
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read custody from {db_path}: {exc}") from exc
    finally:
        db.close()


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def run_secrets(run_dir: Path, *, strict: bool = True) -> dict[str, str]:
    """Every secret value the run used, mapped to where it comes from (never the value itself).

    Generated passwords (every file under ``RUN/secrets/``), and for each persona the campaign
    uses: the password in its environment variable, or every string in its password file.
    ``strict``: raise BundleError when one of them cannot be read now (an environment variable
    that is not set, a password file that is gone, a campaign whose personas no longer load),
    since a secret that cannot be read cannot be shown to be absent.
    """
    found: dict[str, str] = {}
    run_dir = Path(run_dir)
    folder = run_dir / "secrets"
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            # Stripped, as personas.resolve_password reads it.
            value = path.read_text(encoding="utf-8", errors="replace").strip()
            if value:
                found.setdefault(value, f"secrets/{path.relative_to(folder)}")

    problems: list[str] = []
    for persona in _campaign_personas(run_dir, problems):
        credentials = persona.credentials
        if credentials.env is not None:
            value = os.environ.get(credentials.env)
            if value:
                found.setdefault(value, f"${credentials.env} (persona {persona.id})")
            else:
                problems.append(f"persona {persona.id} reads its password from ${credentials.env}, which is not set")
        elif credentials.file is not None:
            path = credentials.file.expanduser()
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                problems.append(f"persona {persona.id} reads its password from {path}, which cannot be read ({exc})")
                continue
            for value in _strings(data):
                if value:
                    found.setdefault(value, f"{path} (persona {persona.id})")
    if strict and problems:
        raise BundleError("cannot collect the run's secrets, so cannot show that none is shipped: "
                          + "; ".join(problems))
    return found


def _campaign_personas(run_dir: Path, problems: list[str]) -> list[Any]:
    from ._campaign import load_campaign

    try:
        db = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT campaign_path, campaign_yaml FROM runs").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        problems.append(f"the run database cannot be read ({exc})")
        return []
    if row is None:
        problems.append("the run database records no run")
        return []
    try:
        loaded = load_campaign(Path(row[0]), text=row[1])
    except Exception as exc:  # noqa: BLE001 - any failure to load means the personas are unknown
        problems.append(f"the campaign's personas do not load ({type(exc).__name__}: {exc})")
        return []
    used = {g.persona for g in loaded.campaign.groups}
    return [loaded.personas[p] for p in sorted(used) if p in loaded.personas]
