"""Embedders: the real packaged MiniLM, the hash fake, the content-hash cache."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlebot.config.retrieval import EmbedderConfig
from bundlebot.errors import ModelError
from retrieval.embeddings import (
    EmbeddingCache,
    HashEmbedder,
    SentenceTransformerEmbedder,
    embed_with_cache,
    make_embedder,
)


def test_minilm_vectors_are_normalized_and_semantic(embedder):
    v = embedder.embed_batch(["white ceramic teapot", "teapot for tea", "garden hose 20m"])
    assert v.shape == (3, 384) and v.dtype == np.float32 and embedder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    np.testing.assert_allclose(embedder.embed("white ceramic teapot"), v[0], atol=1e-5)


def test_make_embedder_shares_one_instance_per_process(embedder):
    assert make_embedder(EmbedderConfig()) is embedder
    assert make_embedder(EmbedderConfig(kind="hash")) is make_embedder(EmbedderConfig(kind="hash"))


def test_missing_or_wrong_folder_is_a_model_error_with_hint(tmp_path):
    with pytest.raises(ModelError, match="does not exist") as err:
        SentenceTransformerEmbedder(tmp_path / "nope")
    assert err.value.hint and "sentence-transformers" in err.value.hint
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="modules.json missing"):
        SentenceTransformerEmbedder(tmp_path)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_hash_embedder_is_deterministic_and_unit_length(texts):
    emb = HashEmbedder(dim=32)
    a, b = emb.embed_batch(texts), HashEmbedder(dim=32).embed_batch(texts)
    assert a.shape == (len(texts), 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=16)
        self.seen: list[str] = []

    def embed_batch(self, texts):
        self.seen += list(texts)
        return super().embed_batch(texts)


def test_cache_persists_and_only_missing_hashes_are_embedded(tmp_path):
    emb = CountingEmbedder()
    cache = EmbeddingCache(tmp_path, emb.name)
    vecs, new = embed_with_cache(emb, cache, {"h1": "red cup", "h2": "blue cup"})
    assert new == {"h1", "h2"} and emb.seen == ["red cup", "blue cup"]
    cache.close()
    reopened = EmbeddingCache(tmp_path, emb.name)  # a new process sees the same vectors
    vecs2, new2 = embed_with_cache(emb, reopened, {"h1": "red cup", "h3": "green cup"})
    assert new2 == {"h3"} and emb.seen[-1] == "green cup" and len(emb.seen) == 3
    np.testing.assert_array_equal(vecs["h1"], vecs2["h1"])
    assert len(reopened) == 3 and reopened.path == tmp_path / "embeddings" / "hash-16.sqlite"
