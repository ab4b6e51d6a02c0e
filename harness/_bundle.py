"""Evidence bundles: a run folder as one signed archive that anyone can check and no one can quietly change.

A bundle is a zip. Zip rather than tar because it has a central directory: ``verify_bundle``
reads members by name and reports each bad one without unpacking the rest, a duplicated or added
member shows in the directory, and every desktop a regulator uses opens it without extra tools.
Members (flat names, ``/`` as separator)::

    run.sqlite          a consistent copy (SQLite backup API: what is still in the WAL is in it)
    artifacts/...       screenshots and HTML captures
    report/...          the report, when RUN/report/ exists
    campaign/NAME.yaml  the campaign exactly as it ran (runs.campaign_yaml, checked against its hash)
    personas/ID.yaml    the persona files of the campaign's groups (personas_dir first, then the library)
    extra/...           files given with ``include``
    environment.json    algoaudit, Python, platform, Playwright, Chromium and every installed package
    custody.jsonl       the run's custody rows, the bundling itself included
    public_key.pem      the auditor's public key
    manifest.json       sha256 and size of every member above, what was left out and why
    manifest.sig        the raw 64-byte Ed25519 signature of manifest.json's bytes

Never in a bundle: browser profiles (``RUN/profiles``: cookies, storage), ``RUN/secrets/``, and
Playwright traces and HAR files, which record cookies, authorization headers and the password a
puppet typed; the manifest lists them under ``excluded`` with their sha256, so the originals, kept
under the auditor's control, can still be matched to the run. After building, every member's
bytes (and every value in the database copy) are searched for every secret the run used, as
text, JSON-escaped, URL-encoded, HTML-escaped and UTF-16; a single hit deletes the bundle and
raises BundleError naming the member and where the secret comes from, never the secret.

The signature can be checked without algoaudit::

    unzip bundle.zip manifest.json manifest.sig public_key.pem
    openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from ._browser import chromium_path
from ._custody import algoaudit_version, custody_rows, record_custody, run_secrets
from ._keys import (
    key_fingerprint,
    load_private_key,
    load_public_key,
    public_pem,
    sign,
    signature_valid,
)
from ._store import now_iso
from .errors import BundleError, SigningKeyError

__all__ = ["BundleProblem", "BundleReport", "make_bundle", "verify_bundle"]

BUNDLE_FORMAT = "algoaudit-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
_UNLISTED = (MANIFEST, SIGNATURE)
_STORED = (".png", ".jpg", ".jpeg", ".pdf", ".zip", ".gz", ".webp")
_WHY_EXCLUDED = {
    "profiles": "browser profiles hold the puppets' cookies, storage and cache",
    "secrets": "generated passwords",
    "traces": "Playwright traces record cookies, headers and the passwords typed",
    "har": "HAR files record cookies, set-cookie and authorization headers and posted passwords",
}


@dataclasses.dataclass(frozen=True)
class BundleProblem:
    member: str
    problem: str

    def __str__(self) -> str:
        return f"{self.member}: {self.problem}"


@dataclasses.dataclass(frozen=True)
class BundleReport:
    """What ``verify_bundle`` found. ``ok`` when there is no problem; ``offending`` names the members."""

    path: Path
    problems: tuple[BundleProblem, ...]
    members_checked: int
    run_id: str | None
    key_fingerprint: str | None
    key_source: str

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def offending(self) -> list[str]:
        return sorted({p.member for p in self.problems})


# building -----------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def _manifest_bytes(doc: dict[str, Any]) -> bytes:
    # ``self_check`` is no security (anyone can recompute it; the signature is the security): it
    # tells a changed manifest.json from a changed manifest.sig when the signature fails.
    return _canonical({**doc, "self_check": _sha256(_canonical(doc))})


def _run_row(db_path: Path) -> dict[str, Any]:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM runs").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BundleError(f"cannot read the run database {db_path}: {exc}") from exc
    if row is None:
        raise BundleError(f"{db_path} records no run")
    return dict(row)


def _backup(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API, made self-contained (no WAL beside it)."""
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise BundleError(f"cannot copy {source}: {exc}") from exc


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def _persona_files(run: dict[str, Any]) -> dict[str, Path]:
    from personas import library_dir

    from ._campaign import load_campaign

    campaign_path = Path(run["campaign_path"])
    try:
        loaded = load_campaign(campaign_path, text=run["campaign_yaml"])
    except Exception as exc:  # noqa: BLE001 - whatever stops the personas loading stops the bundle
        raise BundleError(f"the campaign's personas do not load: {exc}") from exc
    folders = []
    if loaded.campaign.personas_dir:
        folders.append((campaign_path.parent / loaded.campaign.personas_dir).resolve())
    folders.append(library_dir())
    found: dict[str, Path] = {}
    for persona in sorted({g.persona for g in loaded.campaign.groups}):
        # The campaign's personas_dir overrides the library, as load_campaign does.
        candidates = [sorted(f.rglob(f"{persona}.yaml")) for f in folders]
        match = next((c[0] for c in candidates if c), None)
        if match is None:
            raise BundleError(f"persona {persona!r} of the campaign is in none of {', '.join(map(str, folders))}")
        found[persona] = match
    return found


def _chromium() -> dict[str, str | None]:
    path = chromium_path()
    if path is None:
        return {"path": None, "version": None}
    try:
        answer = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
        found = answer.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired) as exc:
        found = f"unknown ({type(exc).__name__})"
    return {"path": path, "version": found}


def _environment(run: dict[str, Any]) -> dict[str, Any]:
    packages = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name] = dist.version
    try:
        playwright = version("playwright")
    except PackageNotFoundError:
        playwright = None
    return {
        "algoaudit": algoaudit_version(),
        "python": sys.version,
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "playwright": playwright,
        "chromium": _chromium(),
        "packages": dict(sorted(packages.items(), key=lambda kv: kv[0].lower())),
        "run_recorded": {"algoaudit_version": run.get("algoaudit_version"), "host": run.get("host")},
        "bundled_at": now_iso(),
    }


def _custody_jsonl(db_copy: Path) -> bytes:
    lines = []
    for row in custody_rows(db_copy):
        try:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else None
        except json.JSONDecodeError:
            pass  # kept as the text it is
        lines.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _excluded(run_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in ("profiles", "secrets"):
        if (run_dir / name).exists():
            out.append({"path": f"{name}/", "reason": _WHY_EXCLUDED[name]})
    for name in ("traces", "har"):
        for path in _files(run_dir / name):
            data = path.read_bytes()
            out.append({"path": path.relative_to(run_dir).as_posix(), "sha256": _sha256(data), "bytes": len(data),
                        "reason": _WHY_EXCLUDED[name]})
    known = {"run.sqlite", "artifacts", "report", *_WHY_EXCLUDED}
    for path in sorted(run_dir.iterdir()):
        if path.name in known:
            continue
        if path.name in ("run.sqlite-wal", "run.sqlite-shm"):
            out.append({"path": path.name, "reason": "SQLite's write-ahead log; its contents are in run.sqlite"})
        else:
            out.append({"path": path.name + ("/" if path.is_dir() else ""),
                        "reason": "not part of the evidence format"})
    return out


def _needles(secrets: dict[str, str]) -> list[tuple[bytes, str]]:
    """Each secret in the forms it could take inside a member, with where it comes from."""
    needles: set[tuple[bytes, str]] = set()
    for value, origin in secrets.items():
        forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
                 quote(value, safe=""), quote_plus(value), html.escape(value), html.escape(value, quote=False)}
        for form in forms:
            if form:
                needles.add((form.encode("utf-8"), origin))
        needles.add((value.encode("utf-16-le"), origin))
        needles.add((value.encode("utf-16-be"), origin))
    return sorted(needles)


def _hits(name: str, data: bytes, needles: Sequence[tuple[bytes, str]]) -> Iterator[str]:
    for needle, origin in needles:
        if needle in data or needle in name.encode("utf-8"):
            yield f"{name} contains the secret from {origin}"


def _database_hits(db_copy: Path, secrets: dict[str, str]) -> Iterator[str]:
    """Values stored in overflow pages are split by page pointers: search the values, not just the bytes."""
    db = sqlite3.connect(f"file:{db_copy}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, str):
                        text = value
                    elif isinstance(value, bytes):
                        text = value.decode("utf-8", errors="replace")
                    else:
                        continue
                    for secret, origin in secrets.items():
                        if secret in text:
                            yield f"run.sqlite (table {table}) contains the secret from {origin}"
    finally:
        db.close()


def _add(zf: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...],
         members: dict[str, dict[str, Any]] | None) -> None:
    if members is not None and name in members:
        raise BundleError(f"two bundle members would be named {name}")
    info = zipfile.ZipInfo(name, date_time=stamp[:6])
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED if name.lower().endswith(_STORED) else zipfile.ZIP_DEFLATED
    zf.writestr(info, data)
    if members is not None:
        members[name] = {"sha256": _sha256(data), "bytes": len(data)}


def _extra(include: Iterable[Path]) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for item in include:
        item = Path(item)
        if item.is_dir():
            out.extend((f"extra/{item.name}/{p.relative_to(item).as_posix()}", p) for p in _files(item))
        elif item.is_file():
            out.append((f"extra/{item.name}", item))
        else:
            raise BundleError(f"cannot include {item}: no such file or folder")
    return out


def make_bundle(run_dir: Path, out: Path | None = None, *, key_dir: Path | None = None,
                include: Sequence[Path] = ()) -> Path:
    """Write the run's evidence bundle (default: ``RUN_DIR.bundle.zip`` beside the run folder), signed
    with the auditor's key in ``key_dir`` (default: ``default_key_dir()``); returns its path.

    Raises BundleError when the run cannot be bundled, when one of the run's secrets cannot be read
    (so cannot be shown absent) or when one would end up in the bundle; SigningKeyError without a key.
    """
    run_dir = Path(run_dir)
    db_path = run_dir / "run.sqlite"
    if not db_path.is_file():
        raise BundleError(f"{run_dir} is not a run folder: no run.sqlite")
    out = Path(out) if out is not None else run_dir.parent / f"{run_dir.name}.bundle.zip"
    private_key, pair = load_private_key(key_dir)
    secrets = run_secrets(run_dir, strict=True)
    needles = _needles(secrets)
    run = _run_row(db_path)
    if _sha256(run["campaign_yaml"].encode("utf-8")) != run["campaign_sha256"]:
        raise BundleError(f"{db_path}: the stored campaign does not match its hash")
    personas = _persona_files(run)
    extra = _extra(include)
    record_custody(run_dir, "bundle", detail={"out": str(out), "key_fingerprint": pair.fingerprint,
                                              "include": [str(p) for p in include]})

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    os.close(handle)
    partial = Path(partial_name)
    try:
        with tempfile.TemporaryDirectory(prefix="algoaudit-bundle-") as scratch:
            db_copy = Path(scratch) / "run.sqlite"
            _backup(db_path, db_copy)
            leaks = list(_database_hits(db_copy, secrets))
            if leaks:
                raise BundleError("refusing to bundle: " + "; ".join(sorted(set(leaks))))
            created = now_iso()
            stamp = tuple(int(x) for x in (created[0:4], created[5:7], created[8:10], created[11:13],
                                           created[14:16], created[17:19]))
            members: dict[str, dict[str, Any]] = {}
            campaign_name = Path(run["campaign_path"]).name or f"{run['campaign_name']}.yaml"
            with zipfile.ZipFile(partial, "w") as zf:
                _add(zf, "run.sqlite", db_copy.read_bytes(), stamp, members)
                for folder in ("artifacts", "report"):
                    for path in _files(run_dir / folder):
                        _add(zf, path.relative_to(run_dir).as_posix(), path.read_bytes(), stamp, members)
                _add(zf, f"campaign/{campaign_name}", run["campaign_yaml"].encode("utf-8"), stamp, members)
                for persona, path in personas.items():
                    _add(zf, f"personas/{persona}.yaml", path.read_bytes(), stamp, members)
                for name, path in extra:
                    _add(zf, name, path.read_bytes(), stamp, members)
                _add(zf, "environment.json", _canonical(_environment(run)), stamp, members)
                _add(zf, "custody.jsonl", _custody_jsonl(db_copy), stamp, members)
                _add(zf, PUBLIC_KEY, public_pem(private_key.public_key()), stamp, members)
                manifest = _manifest_bytes({
                    "format": BUNDLE_FORMAT,
                    "created_at": created,
                    "run_id": run["run_id"],
                    "campaign_name": run["campaign_name"],
                    "campaign_sha256": run["campaign_sha256"],
                    "run_status": run["status"],
                    "algoaudit_version": algoaudit_version(),
                    "key_fingerprint": pair.fingerprint,
                    "signature": f"{SIGNATURE}: raw Ed25519 signature of the bytes of {MANIFEST}",
                    "members": dict(sorted(members.items())),
                    "excluded": _excluded(run_dir),
                    "secrets_checked": {"count": len(secrets), "sources": sorted(set(secrets.values()))},
                    "personas": {p: str(path) for p, path in personas.items()},
                })
                _add(zf, MANIFEST, manifest, stamp, None)
                _add(zf, SIGNATURE, sign(private_key, manifest), stamp, None)
        _final_checks(partial, needles, public_pem(private_key.public_key()))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def _final_checks(path: Path, needles: Sequence[tuple[bytes, str]], public_key: bytes) -> None:
    """Read back what was written: no secret in any member, and the bundle verifies."""
    leaks: list[str] = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            leaks.extend(_hits(info.filename, zf.read(info), needles))
    if leaks:
        raise BundleError("refusing to ship a secret: " + "; ".join(sorted(set(leaks))))
    report = _verify(path, public_key, "the signing key")
    if not report.ok:
        raise BundleError("the bundle just written does not verify: " + "; ".join(map(str, report.problems)))


# verifying ----------------------------------------------------------------------------------------


def _manifest_problem(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid JSON ({exc}): changed since it was signed"
    if not isinstance(doc, dict) or "self_check" not in doc or not isinstance(doc.get("members"), dict):
        return None, "not an algoaudit bundle manifest: changed since it was signed"
    check = doc.pop("self_check")
    if _canonical({**doc, "self_check": check}) != data or _sha256(_canonical(doc)) != check:
        return doc, "changed since it was signed (its content does not match its self-check)"
    return doc, None


def verify_bundle(path: Path, *, public_key: Path | None = None) -> BundleReport:
    """Check a bundle: the signature of manifest.json, every member's sha256 and size, and that no
    member was added or removed. ``public_key``: the auditor's public key PEM to require; without
    it the bundle's own public_key.pem is used, which shows integrity but not who signed.

    Problems are reported, each naming its member; raises only when there is no file at ``path``
    (BundleError) or ``public_key`` cannot be read (SigningKeyError).
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"no bundle at {path}")
    if public_key is None:
        return _verify(path, None, f"{PUBLIC_KEY} in the bundle")
    try:
        pinned = Path(public_key).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the public key {public_key}: {exc.strerror or exc}") from exc
    load_public_key(pinned, str(public_key))
    return _verify(path, pinned, str(public_key))


def _same_key(embedded: bytes, pinned: bytes) -> bool:
    # The same key may be written with other line endings or headers: compare keys, not text.
    try:
        return key_fingerprint(load_public_key(embedded, PUBLIC_KEY)) == key_fingerprint(
            load_public_key(pinned, "the given key"))
    except SigningKeyError:
        return False


def _verify(path: Path, pinned: bytes | None, key_source: str) -> BundleReport:
    problems: list[BundleProblem] = []

    def report(checked: int = 0, run_id: str | None = None, fingerprint: str | None = None) -> BundleReport:
        return BundleReport(path, tuple(problems), checked, run_id, fingerprint, key_source)

    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        problems.append(BundleProblem(path.name, f"not a readable zip archive ({exc})"))
        return report()
    with zf:
        counts = Counter(i.filename for i in zf.infolist())
        for name, n in sorted(counts.items()):
            if n > 1:
                problems.append(BundleProblem(name, f"appears {n} times in the archive"))

        def read(name: str) -> bytes | None:
            try:
                return zf.read(name)
            except KeyError:
                problems.append(BundleProblem(name, "missing"))
            except (zipfile.BadZipFile, zlib.error, OSError) as exc:
                problems.append(BundleProblem(name, f"cannot be read ({exc})"))
            return None

        manifest_bytes = read(MANIFEST)
        signature = read(SIGNATURE)
        doc, manifest_problem = (None, None) if manifest_bytes is None else _manifest_problem(manifest_bytes)
        if manifest_problem:
            problems.append(BundleProblem(MANIFEST, manifest_problem))
        trusted = doc is not None and manifest_problem is None

        # Members against the manifest, only when the manifest is the one written: a changed one
        # would blame members that are intact.
        checked = 0
        embedded_intact = True
        if trusted:
            listed: dict[str, Any] = doc["members"]
            for name in sorted(set(counts) - set(listed) - set(_UNLISTED)):
                problems.append(BundleProblem(name, "not in the manifest: added after signing"))
            for name, expected in listed.items():
                if not isinstance(expected, dict):
                    problems.append(BundleProblem(MANIFEST, f"its entry for {name} is not a sha256 and size"))
                    continue
                data = read(name)
                if data is None:
                    embedded_intact = embedded_intact and name != PUBLIC_KEY
                    continue
                checked += 1
                if len(data) != expected.get("bytes") or _sha256(data) != expected.get("sha256"):
                    problems.append(BundleProblem(name, f"changed: sha256 {_sha256(data)[:16]}…, {len(data)} bytes; "
                                                        f"signed {str(expected.get('sha256'))[:16]}…, "
                                                        f"{expected.get('bytes')} bytes"))
                    embedded_intact = embedded_intact and name != PUBLIC_KEY

        key_bytes = pinned
        if key_bytes is None:
            key_bytes = read(PUBLIC_KEY) if PUBLIC_KEY in counts else None
            if key_bytes is None and PUBLIC_KEY not in counts:
                problems.append(BundleProblem(PUBLIC_KEY, "missing; give the auditor's key with --public-key"))
        elif PUBLIC_KEY in counts:
            embedded = read(PUBLIC_KEY)
            if embedded is not None and not _same_key(embedded, pinned):
                problems.append(BundleProblem(PUBLIC_KEY, f"not the key given ({key_source}): signed by someone else"))
        fingerprint = None
        key = None
        if key_bytes is not None:
            try:
                key = load_public_key(key_bytes, key_source)
                fingerprint = key_fingerprint(key)
            except SigningKeyError as exc:
                if not any(p.member == PUBLIC_KEY for p in problems):
                    problems.append(BundleProblem(PUBLIC_KEY, str(exc)))
        if signature is not None and len(signature) != 64:
            problems.append(BundleProblem(SIGNATURE, f"not a 64-byte Ed25519 signature ({len(signature)} bytes)"))
        elif signature is not None and key is not None and manifest_bytes is not None and trusted:
            if not signature_valid(key, signature, manifest_bytes):
                if pinned is None and not embedded_intact:
                    # Already named as changed; a changed key explains the failing signature.
                    problems.append(BundleProblem(PUBLIC_KEY, "changed, so the signature cannot be checked with it"))
                else:
                    problems.append(BundleProblem(SIGNATURE, f"does not verify {MANIFEST} under key {fingerprint}"))
            elif doc.get("key_fingerprint") != fingerprint:
                problems.append(BundleProblem(MANIFEST, "names another key than the one that signed it"))
        return report(checked, doc.get("run_id") if doc else None, fingerprint)
