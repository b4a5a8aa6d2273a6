"""The reranker's terms, evidence and ordering on hand-made vectors and real co-purchase statistics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlebot.config.retrieval import RerankConfig
from retrieval.copurchase import CoPurchase
from retrieval.rerank import Reranker
from retrieval.types import Basket, Event, Item


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


TEAPOT = Item("teapot", "teapot", category=("tea",), popularity=10)
TEAPOT2 = Item("teapot2", "blue teapot", category=("tea",), popularity=1)
CUPS = Item("cups", "cups", category=("table",), popularity=30)
HOSE = Item("hose", "garden hose", category=("garden",), popularity=0)
VEC = {"teapot": unit(1, 0.1, 0), "teapot2": unit(1, 0.12, 0), "cups": unit(0.6, 0.8, 0),
       "hose": unit(0, 0, 1)}


@pytest.fixture(scope="module")
def stats() -> CoPurchase:
    baskets = [Basket(str(n), ids) for n, ids in enumerate(
        [("teapot", "cups"), ("teapot", "cups"), ("cups", "teapot2"), ("hose",), ("hose", "cups"),
         ("cups",)])]
    return CoPurchase.fit(baskets, [TEAPOT, TEAPOT2, CUPS, HOSE], min_count=1)


def pairs(*items: Item):
    return [(it, VEC[it.id]) for it in items]


def test_relevance_orders_by_cosine_without_other_signals():
    r = Reranker(RerankConfig(popularity=0.0))
    out = r.score(unit(1, 0, 0), pairs(HOSE, CUPS, TEAPOT))
    assert [s.item.id for s in out] == ["teapot", "cups", "hose"]
    assert out[0].breakdown["relevance"] == pytest.approx(float(VEC["teapot"] @ unit(1, 0, 0)), abs=1e-5)


def test_complement_and_substitute_terms_with_evidence(stats):
    r = Reranker(RerankConfig(), stats)
    out = {s.item.id: s for s in r.score(unit(1, 0, 0), pairs(TEAPOT2, CUPS), chosen=pairs(TEAPOT))}
    assert out["cups"].breakdown["complement"] > 0 and out["cups"].evidence["complement_of"] == "teapot"
    assert out["teapot2"].breakdown["substitute"] < 0 and out["teapot2"].evidence["substitute_of"] == "teapot"
    assert out["cups"].breakdown["substitute"] == 0


def test_affinity_names_the_history_item_and_time():
    ev = Event("s1", "teapot", 1_300_000_000.0)
    out = Reranker(RerankConfig()).score(unit(0, 1, 0), pairs(TEAPOT2, HOSE),
                                         history=[(TEAPOT, VEC["teapot"], ev)])
    best = out[0]
    assert best.item.id == "teapot2" and best.evidence["history_item"] == "teapot"
    assert best.evidence["history_ts"] == 1_300_000_000.0 and best.breakdown["affinity"] > 0.3


def test_chosen_items_are_never_returned_and_popularity_is_log_scaled():
    out = Reranker(RerankConfig(relevance=0, popularity=1.0)).score(
        unit(1, 0, 0), pairs(TEAPOT, CUPS, HOSE), chosen=pairs(TEAPOT))
    assert [s.item.id for s in out] == ["cups", "hose"]
    assert out[0].breakdown["popularity"] == pytest.approx(1.0) and out[1].breakdown["popularity"] == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 2), min_size=5, max_size=5), st.integers(0, 3))
def test_breakdown_sums_to_score_and_output_is_sorted(weights, n_chosen):
    cfg = RerankConfig(*weights)
    items = [TEAPOT, TEAPOT2, CUPS, HOSE]
    chosen, rest = pairs(*items[:n_chosen]), pairs(*items[n_chosen:])
    out = Reranker(cfg).score(unit(1, 1, 0), rest, chosen=chosen)
    assert len(out) == len(rest)
    for s in out:
        assert s.score == pytest.approx(sum(s.breakdown.values()), abs=1e-4)
    assert [s.score for s in out] == sorted((s.score for s in out), reverse=True)


def _loop_complements(stats: CoPurchase, cand_ids, anchors):
    """The reference: CoPurchase.association per (anchor, candidate) pair, best anchor first met."""
    out = []
    for cid in cand_ids:
        best, which = 0.0, None
        for a, (w, fb) in anchors.items():
            s = w * stats.association(a, cid, fallback=fb) if a != cid and w > 0 else 0.0
            if s > best:
                best, which = s, a
        out.append((best, which))
    return out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=4), min_size=3, max_size=12),
       st.dictionaries(st.sampled_from("abcdefghz"), st.tuples(st.floats(0, 1), st.booleans()), max_size=4),
       st.lists(st.sampled_from("abcdefghz"), min_size=1, max_size=8, unique=True))
def test_vectorised_complements_equal_the_per_pair_association(baskets, anchors, cand_ids):
    items = [Item(i, i, category=("c" + str("abcdefgh".index(i) % 3),)) for i in "abcdefgh"]
    stats = CoPurchase.fit([Basket(str(n), tuple(b)) for n, b in enumerate(baskets)], items, min_count=1)
    scores, which = Reranker(RerankConfig(), stats)._complements(cand_ids, anchors)
    expected = _loop_complements(stats, cand_ids, anchors)
    assert scores.tolist() == pytest.approx([min(1.0, s) for s, _ in expected], abs=1e-6)
    assert which == [w for _, w in expected]


def test_lexical_term_lifts_items_naming_the_request_and_says_which_words():
    r = Reranker(RerankConfig(popularity=0.0, lexical=0.5))
    lexical = {"teapot2": (0.8, ("blue",)), "cups": (0.0, ())}
    out = r.score(unit(1, 0, 0), pairs(TEAPOT2, CUPS), lexical=lexical)
    best = out[0]
    assert best.item.id == "teapot2" and best.breakdown["lexical"] == pytest.approx(0.4)
    assert best.evidence["matched_words"] == ["blue"] and "matched_words" not in out[1].evidence


def test_feedback_centroid_is_the_mean_of_the_best_first_hits_and_scores_their_neighbours():
    r = Reranker(RerankConfig(popularity=0.0, feedback=1.0, feedback_k=2, lexical=0.0))
    cands = pairs(TEAPOT, TEAPOT2, CUPS, HOSE)
    centroid = r.feedback_centroid(unit(1, 0, 0), cands)
    assert np.allclose(centroid, (VEC["teapot"] + VEC["teapot2"]) / 2)
    out = {s.item.id: s for s in r.score(unit(1, 0, 0), cands, feedback_vec=centroid)}
    assert out["cups"].breakdown["feedback"] > out["hose"].breakdown["feedback"] == 0
    assert Reranker(RerankConfig(feedback=0.0)).feedback_centroid(unit(1, 0, 0), cands) is None


def test_repeat_bonus_lifts_what_the_shopper_bought_often_and_counts_it():
    """With ``repeat`` the shopper's 3-times teapot2 beats the closer-to-the-query teapot; 0 turns it off."""
    hist = [(TEAPOT2, VEC["teapot2"], Event("s1", "teapot2", 1.0, quantity=3))]
    base = Reranker(RerankConfig(popularity=0.0, affinity=0.0, repeat=0.0)).score(unit(1, 0, 0), pairs(TEAPOT, TEAPOT2),
                                                                       history=hist)
    assert base[0].item.id == "teapot" and "times_bought" not in base[1].evidence
    out = Reranker(RerankConfig(popularity=0.0, affinity=0.0, repeat=0.5)).score(
        unit(1, 0, 0), pairs(TEAPOT, TEAPOT2), history=hist)
    assert out[0].item.id == "teapot2" and out[0].evidence["times_bought"] == 3
    bonus = 0.5 * np.log1p(3) / np.log1p(10)
    assert out[0].breakdown["affinity"] == pytest.approx(bonus, abs=1e-5)
    assert out[0].score == pytest.approx(sum(out[0].breakdown.values()), abs=1e-5)
