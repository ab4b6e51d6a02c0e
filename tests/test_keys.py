"""The auditor's signing key: made once, owner-only, never replaced by accident."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from typer.testing import CliRunner

from harness import SigningKeyError, default_key_dir, init_keys
from harness._keys import load_private_key, load_public_key, sign, signature_valid
from harness.cli import app


def test_init_keys_writes_an_ed25519_pair_with_an_owner_only_private_key(tmp_path: Path) -> None:
    pair = init_keys(tmp_path / "keys")
    assert stat.S_IMODE(pair.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.private_key.parent.stat().st_mode) == 0o700
    private = serialization.load_pem_private_key(pair.private_key.read_bytes(), password=None)
    public = serialization.load_pem_public_key(pair.public_key.read_bytes())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    assert private.public_key().public_bytes_raw() == public.public_bytes_raw()
    assert len(pair.fingerprint) == 64

    loaded, same = load_private_key(tmp_path / "keys")
    signature = sign(loaded, b"manifest")
    assert signature_valid(public, signature, b"manifest")
    assert not signature_valid(public, signature, b"manifesT")
    assert same == pair


def test_an_existing_key_is_replaced_only_with_force(tmp_path: Path) -> None:
    first = init_keys(tmp_path)
    with pytest.raises(SigningKeyError, match="--force"):
        init_keys(tmp_path)
    assert load_private_key(tmp_path)[1].fingerprint == first.fingerprint
    second = init_keys(tmp_path, force=True)
    assert second.fingerprint != first.fingerprint
    assert stat.S_IMODE(second.private_key.stat().st_mode) == 0o600


def test_the_default_folder_follows_algoaudit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALGOAUDIT_HOME", str(tmp_path / "home"))
    assert default_key_dir() == tmp_path / "home" / "keys"
    pair = init_keys()
    assert pair.private_key.parent == tmp_path / "home" / "keys"
    monkeypatch.delenv("ALGOAUDIT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_key_dir() == tmp_path / "user" / ".config" / "algoaudit" / "keys"


def test_missing_and_wrong_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="algoaudit keys init"):
        load_private_key(tmp_path / "nowhere")
    with pytest.raises(SigningKeyError, match="not a PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n", "x.pem")


def test_keys_init_command(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "init", "--dir", str(tmp_path / "k")])
    assert made.exit_code == 0, made.output
    fingerprint = load_private_key(tmp_path / "k")[1].fingerprint
    assert fingerprint in made.output
    again = runner.invoke(app, ["keys", "init", "--dir", str(tmp_path / "k")])
    assert again.exit_code == 2
    assert load_private_key(tmp_path / "k")[1].fingerprint == fingerprint
    forced = runner.invoke(app, ["keys", "init", "--dir", str(tmp_path / "k"), "--force"])
    assert forced.exit_code == 0
    assert load_private_key(tmp_path / "k")[1].fingerprint != fingerprint
