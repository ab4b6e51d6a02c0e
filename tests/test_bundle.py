"""Evidence bundles and chain of custody, on a real run: what goes in, what never does, and that any
change to a signed bundle is caught and named."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import start_sandbox
from typer.testing import CliRunner

from harness import (
    BundleError,
    RunStore,
    init_keys,
    make_bundle,
    record_custody,
    run_secrets,
    verify_bundle,
)
from harness._bundle import MANIFEST, PUBLIC_KEY, SIGNATURE
from harness._custody import custody_rows, redact_argv
from harness.cli import app

PASSWORD_ENV = "ALGOAUDIT_TEST_PUPPET_PASSWORD"
# Characters that JSON, URLs and HTML each write differently, so every escaped form is searched.
PASSWORD = 'Pw-"Тест"/<&>+ 9%x'
ALGOAUDIT = Path(sys.executable).with_name("algoaudit")

pytestmark = pytest.mark.e2e

PERSONA = (Path(__file__).resolve().parent.parent / "personas" / "library" / "zh-sports-fan.yaml").read_text(
    encoding="utf-8").replace("id: zh-sports-fan", "id: zh-sports-fan-envpw").replace(
    "credentials:\n  source: generated", f"credentials:\n  source: env\n  env: {PASSWORD_ENV}")

CAMPAIGN = """
name: bundle-tiny
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.01}}}}
personas_dir: personas
groups:
  - {{name: envpw, persona: zh-sports-fan-envpw, replicas: 1, role: treatment}}
  - {{name: generated, persona: zh-sports-fan, replicas: 1, role: control}}
rounds:
  - {{name: read, phase: warmup, steps: [{{read_feed: {{pages: 1, engage: false}}}}]}}
execution: {{concurrency: 2, screenshots: always, html: always}}
"""


@dataclasses.dataclass(frozen=True)
class Bundled:
    run_dir: Path
    bundle: Path
    key_dir: Path
    public_key: Path
    generated_passwords: list[str]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ALGOAUDIT), *args], capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundled]:
    """One real run (two puppets, one round, screenshots and HTML always) through the CLI, bundled
    by the CLI with its report."""
    root = tmp_path_factory.mktemp("bundle")
    # A loaded machine (parallel test runs) can take well over the default 30 s to import the sandbox.
    served = start_sandbox(root / "sandbox", "--hot-interval", "1000000000", timeout_s=180)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_ENV, PASSWORD)
        try:
            (root / "personas").mkdir()
            (root / "personas" / "zh-sports-fan-envpw.yaml").write_text(PERSONA, encoding="utf-8")
            campaign = root / "tiny.yaml"
            campaign.write_text(CAMPAIGN.format(url=served.url), encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
            ran = _cli("run", str(campaign), "--runs", str(root / "runs"), env=env)
            assert ran.returncode == 0, ran.stderr
            (run_dir,) = (root / "runs").iterdir()
            pair = init_keys(root / "keys")
            made = _cli("bundle", str(run_dir), "--out", str(root / "evidence.zip"), "--key-dir", str(root / "keys"),
                        env=env)
            assert made.returncode == 0, made.stderr
            generated = [p.read_text().strip() for p in sorted((run_dir / "secrets").glob("*.secret"))]
            yield Bundled(run_dir, root / "evidence.zip", root / "keys", pair.public_key, generated)
        finally:
            served.stop()


def rewrite(src: Path, dst: Path, *, change: dict[str, Callable[[bytes], bytes]] | None = None,
            drop: tuple[str, ...] = (), add: dict[str, bytes] | None = None) -> Path:
    """A copy of a bundle with members changed, dropped or added, as someone editing it would make."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info)
            if change and info.filename in change:
                data = change[info.filename](data)
            zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:]


def members(bundle: Path) -> list[str]:
    with zipfile.ZipFile(bundle) as zf:
        return zf.namelist()


def test_a_fresh_bundle_verifies_and_holds_the_evidence(bundled: Bundled) -> None:
    report = verify_bundle(bundled.bundle, public_key=bundled.public_key)
    assert report.ok, report.problems
    names = members(bundled.bundle)
    assert report.members_checked == len(names) - 2  # all but manifest.json and manifest.sig
    assert report.run_id == bundled.run_dir.name
    for name in ("run.sqlite", "environment.json", "custody.jsonl", PUBLIC_KEY, MANIFEST, SIGNATURE,
                 "campaign/tiny.yaml", "personas/zh-sports-fan.yaml", "personas/zh-sports-fan-envpw.yaml",
                 "report/report.html"):
        assert name in names
    shots = sorted(p.relative_to(bundled.run_dir).as_posix() for p in (bundled.run_dir / "artifacts").iterdir())
    assert shots and any(s.endswith(".png") for s in shots) and any(s.endswith(".html") for s in shots)
    assert set(shots) <= set(names)

    with zipfile.ZipFile(bundled.bundle) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        environment = json.loads(zf.read("environment.json"))
        custody = [json.loads(line) for line in zf.read("custody.jsonl").decode().splitlines()]
        copy = bundled.bundle.parent / "copy.sqlite"
        copy.write_bytes(zf.read("run.sqlite"))
    assert set(manifest["members"]) == set(names) - {MANIFEST, SIGNATURE}
    assert manifest["secrets_checked"] == {"count": 2, "sources": [
        f"${PASSWORD_ENV} (persona zh-sports-fan-envpw)", "secrets/generated-0.secret"]}
    assert {e["path"] for e in manifest["excluded"]} >= {"profiles/", "secrets/"}
    assert environment["chromium"]["version"] and environment["playwright"] and "cryptography" in environment["packages"]
    # The database copy holds what the WAL held: every impression, and the custody of the bundling itself.
    with sqlite3.connect(copy) as db, sqlite3.connect(bundled.run_dir / "run.sqlite") as live:
        assert db.execute("SELECT COUNT(*) FROM impressions").fetchone()[0] > 0
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT COUNT(*) FROM impressions").fetchone() == live.execute(
            "SELECT COUNT(*) FROM impressions").fetchone()
    actions = [row["detail"]["action"] for row in custody]
    assert actions == ["run", "bundle"]
    assert custody[0]["command"].startswith("algoaudit run ")
    assert custody[1]["command"].startswith("algoaudit bundle ") and "--key-dir" in custody[1]["command"]
    assert all(row["user"] and row["host"] and row["algoaudit_version"] and row["python"] for row in custody)


def test_no_secret_profile_or_password_is_in_the_bundle(bundled: Bundled) -> None:
    assert (bundled.run_dir / "profiles").is_dir() and (bundled.run_dir / "secrets").is_dir()
    names = members(bundled.bundle)
    assert not [n for n in names if n.startswith(("profiles/", "secrets/", "traces/", "har/"))]
    secrets = [PASSWORD, *bundled.generated_passwords]
    assert len(bundled.generated_passwords) == 1
    forms = {f for s in secrets for f in (s, json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1])}
    raw = bundled.bundle.read_bytes()
    with zipfile.ZipFile(bundled.bundle) as zf:
        contents = {info.filename: zf.read(info) for info in zf.infolist()}
    for form in forms:
        needle = form.encode("utf-8")
        assert needle not in raw
        assert not [name for name, data in contents.items() if needle in data]


@pytest.mark.parametrize("kind", ["database", "screenshot", "html capture", "report", "manifest", "signature",
                                  "custody", "environment", "campaign", "persona", "public key"])
def test_one_flipped_byte_names_its_member(bundled: Bundled, tmp_path: Path, kind: str) -> None:
    names = members(bundled.bundle)
    member = {
        "database": "run.sqlite",
        "screenshot": next(n for n in names if n.startswith("artifacts/") and n.endswith(".png")),
        "html capture": next(n for n in names if n.startswith("artifacts/") and n.endswith(".html")),
        "report": "report/report.html",
        "manifest": MANIFEST,
        "signature": SIGNATURE,
        "custody": "custody.jsonl",
        "environment": "environment.json",
        "campaign": "campaign/tiny.yaml",
        "persona": "personas/zh-sports-fan-envpw.yaml",
        "public key": PUBLIC_KEY,
    }[kind]
    tampered = rewrite(bundled.bundle, tmp_path / "tampered.zip", change={member: flip})
    report = verify_bundle(tampered)
    assert not report.ok
    assert report.offending == [member], report.problems


def test_a_byte_flipped_inside_the_archive_file_names_its_member(bundled: Bundled, tmp_path: Path) -> None:
    data = bytearray(bundled.bundle.read_bytes())
    with zipfile.ZipFile(bundled.bundle) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".png"))
    # Local header: 30 bytes, then the name and the extra field, then the member's (stored) data.
    name_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0x01
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    assert verify_bundle(damaged).offending == [info.filename]


def test_added_and_removed_members_are_named(bundled: Bundled, tmp_path: Path) -> None:
    added = verify_bundle(rewrite(bundled.bundle, tmp_path / "added.zip", add={"artifacts/extra.png": b"\x89PNG"}))
    assert added.offending == ["artifacts/extra.png"]
    assert "not in the manifest" in str(added.problems[0])
    shot = next(n for n in members(bundled.bundle) if n.endswith(".png"))
    removed = verify_bundle(rewrite(bundled.bundle, tmp_path / "removed.zip", drop=(shot,)))
    assert removed.offending == [shot]
    assert "missing" in str(removed.problems[0])
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile allows it, with a warning; tools differ on which copy they show
        doubled = verify_bundle(rewrite(bundled.bundle, tmp_path / "doubled.zip", add={shot: b"another picture"}))
    assert shot in doubled.offending and "2 times" in str(doubled.problems)


def test_a_bundle_resigned_with_another_key_fails_against_the_auditors_key(bundled: Bundled, tmp_path: Path) -> None:
    other = init_keys(tmp_path / "other")
    copy = tmp_path / "run"
    shutil.copytree(bundled.run_dir, copy, ignore=shutil.ignore_patterns("profiles"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_ENV, PASSWORD)
        forged = make_bundle(copy, tmp_path / "forged.zip", key_dir=tmp_path / "other")
    assert verify_bundle(forged).ok  # consistent in itself ...
    pinned = verify_bundle(forged, public_key=bundled.public_key)  # ... but not signed by the auditor
    assert set(pinned.offending) == {PUBLIC_KEY, SIGNATURE}
    assert pinned.key_fingerprint != other.fingerprint


def test_bundle_verify_command_exits_1_naming_each_failing_member(bundled: Bundled, tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["bundle", "verify", str(bundled.bundle), "--public-key", str(bundled.public_key)])
    assert good.exit_code == 0, good.output
    assert "ok" in good.stdout
    tampered = rewrite(bundled.bundle, tmp_path / "t.zip", change={"custody.jsonl": flip, "environment.json": flip})
    bad = runner.invoke(app, ["bundle", "verify", str(tampered)])
    assert bad.exit_code == 1
    assert "custody.jsonl" in bad.stderr and "environment.json" in bad.stderr
    assert runner.invoke(app, ["bundle", "verify", str(tmp_path / "t.zip"), "--public-key",
                               str(tmp_path / "none.pem")]).exit_code == 2
    assert runner.invoke(app, ["bundle", "verify", str(tmp_path / "none.zip")]).exit_code == 2


@pytest.fixture
def run_copy(bundled: Bundled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the run to damage; the password variable set as when it ran."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    copy = tmp_path / "runs" / bundled.run_dir.name
    shutil.copytree(bundled.run_dir, copy, ignore=shutil.ignore_patterns("profiles"))
    return copy


def test_a_password_in_a_capture_stops_the_bundle(run_copy: Path, bundled: Bundled, tmp_path: Path) -> None:
    (run_copy / "artifacts" / "leak.html").write_text(f"<input value='{PASSWORD}'>", encoding="utf-8")
    out = tmp_path / "leaky.zip"
    with pytest.raises(BundleError) as caught:
        make_bundle(run_copy, out, key_dir=bundled.key_dir)
    message = str(caught.value)
    assert "artifacts/leak.html" in message and PASSWORD_ENV in message
    assert PASSWORD not in message
    assert not out.exists() and not list(tmp_path.glob(".leaky.zip.*"))


def test_a_password_in_the_database_stops_the_bundle(run_copy: Path, bundled: Bundled, tmp_path: Path) -> None:
    generated = bundled.generated_passwords[0]
    with sqlite3.connect(run_copy / "run.sqlite") as db:
        # Long enough to spill into overflow pages, where page pointers split it in the file's bytes.
        db.execute("INSERT INTO events (at, kind, detail) VALUES ('now', 'note', ?)", ["x" * 5000 + generated])
    with pytest.raises(BundleError, match=r"run.sqlite \(table events\).*secrets/generated-0.secret"):
        make_bundle(run_copy, tmp_path / "leaky.zip", key_dir=bundled.key_dir)


def test_an_unreadable_secret_stops_the_bundle(run_copy: Path, bundled: Bundled, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(BundleError, match=f"{PASSWORD_ENV}, which is not set"):
        make_bundle(run_copy, tmp_path / "x.zip", key_dir=bundled.key_dir)


def test_custody_rows_are_appended_with_secrets_redacted(run_copy: Path) -> None:
    before = custody_rows(run_copy / "run.sqlite")
    row = record_custody(run_copy, "analyze", detail={"note": f"typed {PASSWORD}"},
                         argv=["/usr/bin/algoaudit", "analyze", str(run_copy), "--password", "hunter2",
                               f"--cache={PASSWORD}", "https://auditor:s3cret@example.org/x?token=abc"])
    assert row is not None
    after = custody_rows(run_copy / "run.sqlite")
    assert after[:-1] == before and after[-1]["id"] == row["id"]
    command = after[-1]["command"]
    assert command.startswith("algoaudit analyze ")
    for secret in ("hunter2", PASSWORD, "s3cret", "abc"):
        assert secret not in command
    assert PASSWORD not in after[-1]["detail"]
    assert json.loads(after[-1]["detail"])["action"] == "analyze"
    assert record_custody(run_copy.parent / "not-a-run", "analyze") is None


def test_run_secrets_reads_every_password_in_a_persona_password_file(tmp_path: Path) -> None:
    passwords = tmp_path / "passwords.yaml"
    passwords.write_text("zh-sports-fan-file: 'from-the-file-1'\nother: 'from-the-file-2'\n", encoding="utf-8")
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "zh-sports-fan-file.yaml").write_text(
        PERSONA.replace("zh-sports-fan-envpw", "zh-sports-fan-file").replace(
            f"source: env\n  env: {PASSWORD_ENV}", f"source: file\n  file: {passwords}"), encoding="utf-8")
    text = CAMPAIGN.format(url="http://127.0.0.1:9").replace("zh-sports-fan-envpw", "zh-sports-fan-file")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    store = RunStore.open(run_dir / "run.sqlite")
    store.create_run(run_id="r", campaign_name="bundle-tiny", campaign_path=str(tmp_path / "c.yaml"),
                     campaign_sha256="-", campaign_yaml=text, target_url="http://127.0.0.1:9", driver="sandbox",
                     account_prefix="t", algoaudit_version="0", host="h")
    store.close()
    (run_dir / "secrets").mkdir()
    (run_dir / "secrets" / "generated-0.secret").write_text("generated-one\n", encoding="utf-8")
    found = run_secrets(run_dir)
    assert found == {"from-the-file-1": f"{passwords} (persona zh-sports-fan-file)",
                     "from-the-file-2": f"{passwords} (persona zh-sports-fan-file)",
                     "generated-one": "secrets/generated-0.secret"}
    passwords.unlink()
    with pytest.raises(BundleError, match="cannot be read"):
        run_secrets(run_dir)
    assert set(run_secrets(run_dir, strict=False)) == {"generated-one"}


def test_redaction_leaves_ordinary_arguments_alone() -> None:
    argv = ["algoaudit", "bundle", "runs/x", "--key-dir", "keys", "--fault", "not_interested_ignored=1.0",
            "--api-key", "k1", "DB_PASSWORD=p2", "--author", "me"]
    assert redact_argv(argv) == ["algoaudit", "bundle", "runs/x", "--key-dir", "keys", "--fault",
                                 "not_interested_ignored=1.0", "--api-key", "***", "DB_PASSWORD=***", "--author", "me"]


def test_bundle_command_refuses_a_folder_without_a_run(tmp_path: Path, bundled: Bundled) -> None:
    result = CliRunner().invoke(app, ["bundle", str(tmp_path), "--key-dir", str(bundled.key_dir)])
    assert result.exit_code == 2
    assert "no run.sqlite" in result.stderr


def test_include_adds_files_under_extra(run_copy: Path, bundled: Bundled, tmp_path: Path) -> None:
    note = tmp_path / "inspection-note.txt"
    note.write_text("inspected on site", encoding="utf-8")
    bundle = make_bundle(run_copy, tmp_path / "with-note.zip", key_dir=bundled.key_dir, include=[note])
    assert "extra/inspection-note.txt" in members(bundle)
    assert verify_bundle(bundle, public_key=bundled.public_key).ok
