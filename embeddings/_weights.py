"""Fingerprints of model weights files."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def file_sha256(path: Path) -> str:
    """sha256 of one file, as ``sha256sum`` prints it; hashed once per process (weights do not change under us)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def files_sha256(root: Path, files: list[Path]) -> str:
    """One sha256 for several files: the hash of their ``sha256sum``-style manifest, sorted by path under ``root``.

    Reproducible from a shell: ``sha256sum FILES | LC_ALL=C sort -k2 | sha256sum`` run inside ``root``.
    """
    entries = sorted((f.relative_to(root).as_posix(), file_sha256(f.resolve())) for f in files)
    manifest = "".join(f"{digest}  {name}\n" for name, digest in entries)
    return hashlib.sha256(manifest.encode()).hexdigest()
