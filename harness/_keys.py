"""The auditor's signing key: an Ed25519 key pair that signs evidence bundles.

``init_keys`` makes it once (``algoaudit keys init``); the private key is a PKCS#8 PEM readable
by its owner only (0600, in a 0700 folder), the public key a SubjectPublicKeyInfo PEM to hand to
whoever verifies the bundles. The private key is not encrypted: protect the folder (or keep it on
a token and point ``--key-dir`` at it); a passphrase prompt would break unattended runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import SigningKeyError

__all__ = ["PRIVATE_KEY_NAME", "PUBLIC_KEY_NAME", "KeyPair", "default_key_dir", "init_keys", "key_fingerprint",
           "load_private_key", "load_public_key", "sign", "signature_valid"]

PRIVATE_KEY_NAME = "auditor_ed25519.pem"
PUBLIC_KEY_NAME = "auditor_ed25519.pub.pem"


@dataclasses.dataclass(frozen=True)
class KeyPair:
    """Where a key pair lives; ``fingerprint`` is the sha256 of the public key's DER bytes."""

    private_key: Path
    public_key: Path
    fingerprint: str


def default_key_dir() -> Path:
    """``$ALGOAUDIT_HOME/keys``, else ``~/.config/algoaudit/keys``."""
    home = os.environ.get("ALGOAUDIT_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".config" / "algoaudit"
    return base / "keys"


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # The file gets its final mode before it holds a byte, and appears whole or not at all.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def init_keys(directory: Path | None = None, *, force: bool = False) -> KeyPair:
    """Make the auditor's Ed25519 key pair in ``directory`` (default: ``default_key_dir()``).

    Refuses to replace an existing key unless ``force``: bundles signed with the old key could
    then no longer be tied to a key the auditor still holds.
    """
    folder = Path(directory) if directory is not None else default_key_dir()
    private_path, public_path = folder / PRIVATE_KEY_NAME, folder / PUBLIC_KEY_NAME
    existing = [p for p in (private_path, public_path) if p.exists()]
    if existing and not force:
        raise SigningKeyError(f"{existing[0]} exists; an existing auditor key is never replaced without --force")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
        _write_atomically(private_path, private_pem, 0o600)
        _write_atomically(public_path, public_pem(key.public_key()), 0o644)
    except OSError as exc:
        raise SigningKeyError(f"cannot write the key pair in {folder}: {exc.strerror or exc}") from exc
    return KeyPair(private_path, public_path, key_fingerprint(key.public_key()))


def load_private_key(directory: Path | None = None) -> tuple[Ed25519PrivateKey, KeyPair]:
    """The private key in ``directory`` (default: ``default_key_dir()``), with where it lives."""
    folder = Path(directory) if directory is not None else default_key_dir()
    path = folder / PRIVATE_KEY_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"no auditor key in {folder}; make one with: algoaudit keys init --dir {folder}") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key, KeyPair(path, folder / PUBLIC_KEY_NAME, key_fingerprint(key.public_key()))


def load_public_key(data: bytes, origin: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes; ``origin`` names them in errors."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{origin} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{origin} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def signature_valid(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
