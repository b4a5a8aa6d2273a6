"""Co-purchase statistics on hand-computed baskets, the category fallback, persistence, invariants."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlebot.errors import ConfigError, DataError
from bundlebot.paths import default_data_dir
from retrieval.copurchase import FALLBACK_WEIGHT, MEASURES, CoPurchase
from retrieval.importers import load_source
from retrieval.types import Basket, Item

# a, d, e are "tea" things (e never bought), b "cups", c "food", f "garden" (never bought).
ITEMS = [Item(id=i, title=i, category=(c,)) for i, c in
         [("a", "tea"), ("b", "cups"), ("c", "food"), ("d", "tea"), ("e", "tea"), ("f", "garden")]]
# N = 5 baskets. Counts a=3 b=3 c=3 d=1; pairs ab=2 bc=2 ac=1 ad=1.
BASKETS = [Basket(id=str(n), item_ids=ids) for n, ids in enumerate(
    [("a", "b"), ("a", "b", "c"), ("b", "c"), ("c",), ("a", "d", "a")])]


def fit(measure: str = "lift", min_count: int = 1) -> CoPurchase:
    return CoPurchase.fit(BASKETS, ITEMS, measure=measure, min_count=min_count)


def test_raw_counts_and_measures_match_hand_computation() -> None:
    s = fit().stats("a", "b")
    assert (s["count_a"], s["count_b"], s["count_ab"], s["n"]) == (3, 3, 2, 5)
    assert s["lift"] == pytest.approx(10 / 9)
    assert s["npmi"] == pytest.approx(math.log(10 / 9) / math.log(5 / 2))
    assert s["cosine"] == pytest.approx(2 / 3)
    assert fit().popularity("a") == 3  # "a" twice in one basket counts once
    assert fit().popularity("e") == 0 and fit().popularity("nope") == 0


@pytest.mark.parametrize(("measure", "ab", "ad"), [
    ("lift", 1 - 9 / 10, 1 - 3 / 5),
    ("npmi", math.log(10 / 9) / math.log(5 / 2), math.log(5 / 3) / math.log(5)),
    ("pmi", math.log(10 / 9) / math.log(5), math.log(5 / 3) / math.log(5)),
    ("cosine", 2 / 3, 1 / math.sqrt(3)),
])
def test_normalized_association(measure: str, ab: float, ad: float) -> None:
    st_ = fit(measure)
    assert st_.association("a", "b") == pytest.approx(ab)
    assert st_.association("b", "a") == pytest.approx(ab)
    assert st_.association("a", "d") == pytest.approx(ad)
    if measure != "cosine":  # a and c co-occur less than chance (lift 5/9): no association
        assert st_.association("a", "c", fallback=False) == 0.0


def test_min_count_drops_single_co_occurrences() -> None:
    st_ = fit("lift", min_count=2)
    assert st_.association("a", "d", fallback=False) == 0.0
    assert st_.association("a", "d") == 0.0  # same category: no fallback association (likely substitutes)
    assert st_.association("a", "b") == pytest.approx(0.1)


def test_complements_rank_and_exclude_the_item() -> None:
    st_ = fit("lift")
    out = st_.complements("a", 5)
    assert [i for i, _ in out][:2] == ["d", "b"]
    assert out[0][1] == pytest.approx(0.4) and out[1][1] == pytest.approx(0.1)
    assert "a" not in [i for i, _ in out]
    assert [s for _, s in out] == sorted((s for _, s in out), reverse=True)
    assert all(s < FALLBACK_WEIGHT for _, s in out[2:])  # the rest (if any) comes from the fallback


def test_never_bought_item_gets_complements_from_its_category() -> None:
    st_ = fit("lift")
    # tea ~ cups at category level (lift 10/9 -> 0.1), tea ~ food below chance: the popular cup, scored low.
    assert st_.complements("e", 5) == [("b", pytest.approx(0.99 * FALLBACK_WEIGHT * 0.1))]
    assert st_.complements("unknown-id", 5, category=("tea",)) == st_.complements("e", 5)
    assert st_.complements("unknown-id", 5) == []
    assert st_.complements("f", 5) == []  # garden was never bought: nothing to go on
    assert st_.association("e", "b") == pytest.approx(FALLBACK_WEIGHT * 0.1)


def test_own_category_fallback_is_opt_in() -> None:
    st_ = CoPurchase.fit(BASKETS, ITEMS, measure="lift", min_count=1, own_category_weight=1.0)
    out = st_.complements("e", 5)
    # own category "tea" counts as associated 1.0: its most bought items a (3 baskets), d (1), then cups.
    assert [i for i, _ in out] == ["a", "d", "b"]
    assert out[0][1] == pytest.approx(0.99 * FALLBACK_WEIGHT) and out[1][1] == pytest.approx(out[0][1] * 0.9)
    with pytest.raises(ConfigError, match="own_category_weight"):
        CoPurchase.fit(BASKETS, ITEMS, own_category_weight=2.0)


def test_fallback_scores_stay_below_item_level_ones() -> None:
    st_ = fit("lift")
    out = st_.complements("d", 3)
    assert out[0] == ("a", pytest.approx(0.4))
    assert out[1][0] == "b" and out[1][1] < out[0][1]


def test_complements_of_set_average_members() -> None:
    st_ = fit("cosine")
    out = dict(st_.complements_of_set(["a", "c"], 5))
    assert "a" not in out and "c" not in out
    assert out["b"] == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_save_load_round_trip(tmp_path: Path) -> None:
    st_ = fit("npmi", min_count=1)
    st_.save(tmp_path / "stats")
    back = CoPurchase.load(tmp_path / "stats")
    ids = [it.id for it in ITEMS]
    assert (back.measure, back.min_count, back.n_baskets) == ("npmi", 1, 5)
    for a in ids:
        assert back.complements(a, 10) == st_.complements(a, 10)
        assert back.popularity(a) == st_.popularity(a)
        assert [back.association(a, b) for b in ids] == [st_.association(a, b) for b in ids]
    with pytest.raises(DataError, match="co-purchase statistics"):
        CoPurchase.load(tmp_path / "missing")


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="measure"):
        CoPurchase.fit(BASKETS, ITEMS, measure="jaccard")
    with pytest.raises(ConfigError, match="min_count"):
        CoPurchase.fit(BASKETS, ITEMS, min_count=0)


baskets_st = st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4), min_size=1, max_size=15)


@settings(max_examples=40, deadline=None)
@given(baskets_st, st.sampled_from(MEASURES), st.integers(1, 2))
def test_invariants(raw: list[list[str]], measure: str, min_count: int) -> None:
    baskets = [Basket(id=str(n), item_ids=tuple(ids)) for n, ids in enumerate(raw)]
    st_ = CoPurchase.fit(baskets, ITEMS, measure=measure, min_count=min_count)
    again = CoPurchase.fit(baskets, ITEMS, measure=measure, min_count=min_count)
    for it in ITEMS:
        out = st_.complements(it.id, 4)
        assert out == again.complements(it.id, 4)  # deterministic
        assert it.id not in [i for i, _ in out] and len(out) <= 4
        assert len({i for i, _ in out}) == len(out)
        assert [s for _, s in out] == sorted((s for _, s in out), reverse=True)
        for other in ITEMS:
            v = st_.association(it.id, other.id)
            assert 0.0 <= v <= 1.0 and v == st_.association(other.id, it.id)


def test_real_bundlerec_train_stats_agree_with_item_popularity() -> None:
    src = load_source("bundlerec-food", default_data_dir())
    st_ = CoPurchase.fit(src.train_baskets, src.items)
    assert all(st_.popularity(it.id) == it.popularity for it in src.items)
    test_only = {i for b in src.test for i in b.item_ids} - {i for b in src.train_baskets for i in b.item_ids}
    assert test_only and all(st_.popularity(i) == 0 for i in test_only)  # held-out data never counted
    some = next(iter(sorted(test_only)))
    assert st_.complements(some, 5)  # ... yet a never-bought item still gets (category) complements
