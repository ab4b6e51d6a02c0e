"""A puppet's password, from wherever its persona says. No message ever contains a password."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

from ._model import Persona
from ._yamlfile import SpecError, read_yaml

__all__ = ["CredentialsError", "resolve_password"]

# Puppet ids name files in generated_dir, so they must not be able to leave it.
_PUPPET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class CredentialsError(SpecError):
    """A password could not be found or created."""


def resolve_password(persona: Persona, puppet_id: str, generated_dir: Path) -> str:
    """The password of ``puppet_id``, a puppet playing ``persona``.

    ``env``: the named environment variable. ``file``: the value at ``key`` (default: the persona id)
    of a YAML mapping. ``generated``: a random token made on first use and kept, readable by the
    owner only, in ``generated_dir / f"{puppet_id}.secret"``, so a puppet keeps its account across runs.
    """
    credentials = persona.credentials
    # The model accepts env only with source env, and file only with source file.
    if credentials.env is not None:
        password = os.environ.get(credentials.env)
        if not password:
            raise CredentialsError(f"environment variable {credentials.env} is not set or empty "
                                   f"(persona {persona.id!r} reads its password from it)", field="credentials.env")
        return password
    if credentials.file is not None:
        return _from_file(credentials.file.expanduser(), credentials.key or persona.id)
    return _generated(generated_dir, puppet_id)


def _from_file(path: Path, key: str) -> str:
    try:
        data, spec = read_yaml(path)
    except SpecError as err:
        raise CredentialsError(err.problem, path=err.path, line=err.line, field=err.field) from None
    if key not in data:
        raise CredentialsError(f"no password under key {key!r}", path=path)
    password = data[key]
    if not isinstance(password, str) or not password:
        # YAML turns unquoted 0123 into 83 and yes into True; refuse rather than guess.
        raise CredentialsError("the password must be a non-empty string; put it in quotes",
                               path=path, line=spec.line_of((key,)), field=key)
    return password


def _generated(directory: Path, puppet_id: str) -> str:
    if not _PUPPET_ID.fullmatch(puppet_id):
        raise CredentialsError(f"puppet id {puppet_id!r} cannot name a file; use letters, digits, '.', '_' and '-'")
    path = directory / f"{puppet_id}.secret"
    try:
        if not path.exists():
            _create_once(path, secrets.token_urlsafe(18))
        password = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialsError(f"cannot keep the generated password: {exc.strerror or exc}", path=path) from None
    if not password:
        raise CredentialsError("the generated password file is empty; delete it to make a new password", path=path)
    return password


def _create_once(path: Path, password: str) -> None:
    """Write ``path`` (mode 0600) unless it exists; safe when two processes race."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written in full under a temporary name, then linked into place: a racing reader never sees a
    # half-written file, and the loser of the race keeps the winner's password.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(password + "\n")
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
