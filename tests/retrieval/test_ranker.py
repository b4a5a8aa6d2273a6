"""The learned ranker: fitting, saving and loading, its breakdowns, and the reranker serving with it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bundlebot.config.retrieval import RerankConfig
from bundlebot.errors import DataError
from retrieval.features import FEATURES
from retrieval.ranker import (
    MANIFEST_FILE,
    RankingData,
    fit,
    load_ranker,
    ranker_dir,
    ranker_status,
    read_manifest,
    save,
)
from retrieval.rerank import Reranker
from retrieval.types import Item

LEX, SUB = FEATURES.index("lexical"), FEATURES.index("substitute")


def _groups(n_groups: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Requests of 30 candidates whose bought items are the ones with the highest ``lexical``, while
    ``relevance`` is noise: a ranker that learns the data must beat ordering by relevance."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(n_groups):
        x = rng.random((30, len(FEATURES))).astype(np.float32)
        x[:, SUB] = 0.0  # as in every training pool: nothing is chosen yet
        y = (x[:, LEX] > np.sort(x[:, LEX])[-4]).astype(np.int32)
        parts.append((x, y, x[:, 0].copy()))
    return parts


def _top_hit_rate(scores: list[np.ndarray], parts) -> float:
    return float(np.mean([p[1][int(np.argmax(s))] for s, p in zip(scores, parts, strict=True)]))


@pytest.fixture(scope="module")
def fitted():
    train, dev = RankingData.stack(_groups(200, 0)), RankingData.stack(_groups(60, 1))
    return fit(train, dev)


def test_fit_learns_what_the_labels_follow(fitted) -> None:
    ranker, info = fitted
    held_out = _groups(50, 2)
    learned = [ranker.predict(x) for x, _, _ in held_out]
    by_relevance = [x[:, 0] for x, _, _ in held_out]
    assert _top_hit_rate(learned, held_out) > 0.9 > 0.4 > _top_hit_rate(by_relevance, held_out)
    assert max(info["importance"], key=info["importance"].get) == "lexical"
    assert info["status"] == "learned" and info["features"] == list(FEATURES) and info["rounds"] >= 1


def test_breakdowns_sum_to_the_score_and_carry_the_substitute_penalty(fitted) -> None:
    ranker, _ = fitted
    x = _groups(1, 3)[0][0]
    penalty = np.linspace(0.0, -0.6, len(x))
    rows = ranker.breakdowns(x, substitute=penalty)
    expected = ranker.predict(x) + penalty
    # each contribution is rounded to 6 decimals: their sum may differ from the score by ~1e-5
    assert [sum(r.values()) for r in rows] == pytest.approx([float(v) for v in expected], abs=1e-4)
    assert set(rows[0]) >= {"relevance", "lexical", "affinity", "substitute", "price", "base"}
    assert rows[-1]["substitute"] == pytest.approx(-0.6)


def test_rows_without_a_bought_item_are_dropped() -> None:
    parts = _groups(3, 4)
    parts[1] = (parts[1][0], np.zeros(30, dtype=np.int32), parts[1][2])
    assert RankingData.stack(parts).groups == [30, 30]
    assert RankingData.stack([parts[1]]).groups == []


def test_save_load_round_trip_and_status(tmp_path, fitted) -> None:
    ranker, info = fitted
    assert load_ranker(tmp_path, "shop") is None
    assert ranker_status(tmp_path, "shop")[0] == "hand" and "bundlebot fit" in ranker_status(tmp_path, "shop")[1]
    save(tmp_path, "shop", ranker, info)
    loaded = load_ranker(tmp_path, "shop")
    x = _groups(1, 5)[0][0]
    np.testing.assert_allclose(loaded.predict(x), ranker.predict(x), rtol=1e-6)
    assert ranker_status(tmp_path, "shop") == ("learned", None)
    assert ranker_status(tmp_path, "shop", "hand")[0] == "hand"
    save(tmp_path, "other", None, {"status": "hand", "reason": "12 train requests"})
    assert load_ranker(tmp_path, "other") is None
    assert ranker_status(tmp_path, "other") == ("hand", "12 train requests")
    assert not (ranker_dir(tmp_path, "other") / "model.txt").exists()


def test_a_ranker_fitted_on_other_features_is_refused(tmp_path, fitted) -> None:
    ranker, info = fitted
    save(tmp_path, "shop", ranker, {**info, "features": list(FEATURES)[:-1]})
    with pytest.raises(DataError, match="other features"):
        load_ranker(tmp_path, "shop")
    (ranker_dir(tmp_path, "shop") / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        read_manifest(tmp_path, "shop")
    assert ranker_status(tmp_path, "shop")[0] == "hand"


def test_the_reranker_ranks_by_the_learned_model(fitted) -> None:
    ranker, _ = fitted
    q = np.array([1.0, 0.0], dtype=np.float32)
    near = np.array([0.9, np.sqrt(1 - 0.81)], dtype=np.float32)
    far = np.array([0.2, np.sqrt(1 - 0.04)], dtype=np.float32)
    items = [Item("a", "blue teapot", category=("kitchen", "teapots"), price=10.0),
             Item("b", "red teapot", category=("kitchen", "teapots"), price=12.0)]
    # item b matches the request's words (lexical), item a only its vector: the model follows lexical
    lexical = {"a": (0.0, ()), "b": (0.9, ("teapot",))}
    hand = Reranker(RerankConfig()).score(q, [(items[0], near), (items[1], far)], lexical=lexical)
    learned = Reranker(RerankConfig(), learned=ranker).score(q, [(items[0], near), (items[1], far)],
                                                             lexical=lexical, query="red teapot", budget=20.0)
    assert [s.item.id for s in hand] == ["a", "b"]
    assert [s.item.id for s in learned] == ["b", "a"]
    for s in learned:
        assert s.score == pytest.approx(sum(s.breakdown.values()), abs=1e-5)
        assert s.evidence.get("matched_words", []) == (["teapot"] if s.item.id == "b" else [])


def test_manifest_is_json_with_what_a_reader_needs(tmp_path, fitted) -> None:
    ranker, info = fitted
    save(tmp_path, "shop", ranker, {**info, "shop": "shop", "data_sha256": "x"})
    m = json.loads((ranker_dir(tmp_path, "shop") / MANIFEST_FILE).read_text())
    assert {"features", "library", "rounds", "scale", "importance", "fit_s", "monotone"} <= set(m)
    assert m["library"].startswith("lightgbm ")
