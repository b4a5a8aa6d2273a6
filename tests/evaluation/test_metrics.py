"""Metrics on hand-computed examples, plus properties that must always hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluation import metrics as M
from evaluation.variants import assemble
from retrieval.types import Item


def test_recall_at_k_hand_computed() -> None:
    ranked = ["a", "b", "c", "d", "e", "f"]
    gold = ["b", "f", "z", "y"]  # b at rank 2, f at rank 6, z/y never
    assert M.recall_at_k(ranked, gold, 1) == 0.0
    assert M.recall_at_k(ranked, gold, 5) == 0.25
    assert M.recall_at_k(ranked, gold, 10) == 0.5
    assert M.recall_at_k(ranked, [], 10) is None


def test_hit_at_k_hand_computed() -> None:
    assert M.hit_at_k(["x", "g", "y"], ["g"], 1) == 0.0
    assert M.hit_at_k(["x", "g", "y"], ["g"], 2) == 1.0
    assert M.hit_at_k([], ["g"], 5) == 0.0
    assert M.hit_at_k(["g"], [], 5) is None


def test_bundle_prf_hand_computed() -> None:
    # 2 of 3 chosen are gold; 2 of 5 gold chosen: p=2/3, r=2/5, f1=2pr/(p+r)=0.5
    p, r, f1 = M.bundle_prf(["a", "b", "x"], ["a", "b", "c", "d", "e"])
    assert (p, r) == (pytest.approx(2 / 3), pytest.approx(0.4))
    assert f1 == pytest.approx(0.5)
    assert M.bundle_prf([], ["a"]) == (0.0, 0.0, 0.0)
    assert M.bundle_prf(["a"], []) is None


def test_budget_metrics() -> None:
    assert M.within_budget(24.99, 25.0) == 1.0
    assert M.within_budget(25.004, 25.0) == 1.0  # float noise below half a penny is not a violation
    assert M.within_budget(25.01, 25.0) == 0.0
    assert M.within_budget(30.0, None) is None
    assert M.total_budget_ratio(12.5, 25.0) == 0.5
    assert M.total_budget_ratio(None, 25.0) == 0.0


def test_invalid_items_and_invented_prices() -> None:
    catalog = {"a": 2.5, "b": 3.0, "c": None}
    assert M.invalid_items(["a", "zz", "c", "yy"], catalog) == 2
    # shown price of b differs (1), explanation: £2.50 backed, £5.50 = total allowed, £9.99 invented (1)
    lines = [("a", 2.5), ("b", 4.0)]
    assert M.invented_prices(lines, catalog, "Tea £2.50, all for £5.50, worth £9.99", allowed=[5.5]) == 2
    assert M.invented_prices([("a", 2.5)], catalog, "for 6 people, 3 items", allowed=[]) == 0
    assert M.money_amounts("€3,50 and 12 GBP and 7.25") == [3.5, 12.0, 7.25]
    # sizes in product titles are not prices (found in a real run: "Loose Tea, 3.53 Ounce Tin")
    assert M.money_amounts("Loose Tea, 3.53 Ounce Tin, Nuts 2.50 lbs, 1.63 Ounces (Pack of 6)") == []


def test_system_leak() -> None:
    secret = "You are bundlebot, a shopping assistant. Only recommend items from the numbered catalog list."
    assert M.system_leak("Here: only recommend items from the numbered catalog list, ok", [secret])
    assert not M.system_leak("I recommend items from the catalog: a teapot.", [secret])
    assert not M.system_leak("anything", [])


def test_percentile_and_mean() -> None:
    xs = [100.0, 10.0, 40.0, 20.0, 30.0]  # sorted 10 20 30 40 100
    assert M.percentile(xs, 50) == 30.0
    assert M.percentile(xs, 95) == pytest.approx(88.0)  # 40 + 0.8 * 60
    assert M.percentile([], 50) is None
    assert M.mean([None, None]) == (None, 0)
    assert M.mean([1.0, 0.0, None, 1.0]) == (pytest.approx(2 / 3), 3)


prices = st.lists(st.floats(min_value=0.0, max_value=100.0, allow_nan=False), min_size=0, max_size=30)


@given(prices, st.floats(min_value=0.01, max_value=200.0), st.integers(min_value=1, max_value=10))
def test_greedy_baseline_bundle_never_exceeds_budget(ps: list[float], budget: float, size: int) -> None:
    items = [Item(str(i), f"item {i}", price=p) for i, p in enumerate(ps)]
    bundle = assemble(items, size, budget)
    assert sum(it.price for it in bundle) <= budget + 1e-9
    assert len(bundle) <= size
    assert M.within_budget(sum(it.price for it in bundle), budget) == 1.0


@given(st.lists(st.sampled_from("abcdefgh"), unique=True), st.lists(st.sampled_from("abcdefgh"), min_size=1,
                                                                     unique=True), st.integers(1, 10))
def test_recall_is_monotone_in_k_and_bounded(ranked: list[str], gold: list[str], k: int) -> None:
    r_k, r_k1 = M.recall_at_k(ranked, gold, k), M.recall_at_k(ranked, gold, k + 1)
    assert 0.0 <= r_k <= r_k1 <= 1.0
    assert M.hit_at_k(ranked, gold, k) == (1.0 if r_k > 0 else 0.0)


def test_refusal_hint_example_is_not_an_invented_price() -> None:
    """Real case bi-bundle:110 (intent text "500"): the refusal's usage hint quotes "£25" as an example."""
    from evaluation.checks import score
    from evaluation.suites import Case
    from evaluation.variants import Answer

    case = Case.model_validate({"id": "bi", "suite": "s", "shop": "x", "turns": ["500"], "gold_items": ["a"]})
    hint = ("the message '500' has no words (fix: describe what you are shopping for, "
            "e.g. 'a tea party for six under £25')")
    m, _ = score(case, Answer(items=[], ranked=[], total=None, message=hint, unmet=["bad_request"]), {}, [])
    assert m["invented_prices"] == 0
    claim = "Everything here is £3 (fix: nothing)"
    m, why = score(case, Answer(items=[], ranked=[], total=None, message=claim), {}, [])
    assert m["invented_prices"] == 1, why
