"""Explanation examples (data.task = "explain"): the served bundle, its facts block, targets that state them."""

from __future__ import annotations

import random
import re

import pytest

from assistant.explain import check_explanation, sentences
from assistant.facts import Evidence, bundle_evidence, explain_facts
from assistant.types import BundleLine, Constraints
from bundlebot.config import AppConfig
from finetune.data import Target
from finetune.explain_data import explain_example, write_target
from retrieval.copurchase import CoPurchase
from retrieval.types import Basket, Event
from tests.assistant.fakes import CATALOG, FakeRetriever

KINDS = {"22423": "cake stand", "22720": "cake tin", "T1": "teapot", "T2": "teapot", "C1": "cup", "N1": "napkin",
         "K1": "candle", "K2": "candle holder", "W1": "cake", "G1": "card", "S1": "spoon", "P1": "plate",
         "M1": "mug", "M2": "mug"}
BASKETS = [Basket(str(n), ids) for n, ids in enumerate(
    [("T1", "C1", "N1")] * 5 + [("22423", "N1")] * 3 + [("M1", "M2"), ("G1", "N1"), ("T1", "C1")])]


class ShopWithStats(FakeRetriever):
    """The fake shop with kinds and REAL co-purchase statistics (``Retriever.stats``) from a few baskets."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.stats = CoPurchase.fit(BASKETS, CATALOG, min_count=1)

    def kind(self, item):
        return (KINDS[item.id], "main") if item.id in KINDS else None


def line(item_id: str) -> BundleLine:
    it = next(i for i in CATALOG if i.id == item_id)
    return BundleLine(it.id, it.title, it.price, it.currency, "")


def rich() -> tuple[list[BundleLine], Constraints, list]:
    lines = [line("T1"), line("C1"), line("N1")]
    history = [(next(i for i in CATALOG if i.id == "T2"), Event("s1", "T2", 1304380800.0))]
    return lines, Constraints(budget=25.0, currency="GBP", occasion="tea party"), history


def test_targets_state_the_facts_in_varied_wording_and_pass_the_strict_check() -> None:
    lines, c, history = rich()
    shop = ShopWithStats()
    lookups = {"kind_of": lambda i: KINDS.get(i), "together": lambda a, b: int(shop.stats.stats(a, b)["count_ab"]),
               "bought": shop.stats.popularity}
    facts = explain_facts(lines, 18.75, c, "tea party", history, **lookups)
    ev = bundle_evidence(lines, 18.75, c, history, **lookups)
    assert ev.pairs[0][2] == 6 and ("Teapot red retrospot", "May 2011", False) not in ev.history
    targets = {write_target(ev, random.Random(seed)) for seed in range(40)}
    assert len({t.split(".")[0] for t in targets}) >= 4  # openings vary
    assert len(targets) >= 15
    for t in targets:
        assert 2 <= len(sentences(t)) <= 3, t
        assert check_explanation(t, facts) == [], t
        assert "£18.75" in t  # every target says how the budget is used
    assert any("6 orders" in t for t in targets) and any("May 2011" in t for t in targets)


def test_a_target_without_budget_or_evidence_still_has_two_supported_sentences() -> None:
    ev = Evidence(2, ["mug"], 2.9, None, None, "GBP")
    t = write_target(ev, random.Random(0))
    facts = explain_facts([line("M1"), line("M2")], 2.9, Constraints(currency="GBP"), "mugs", [],
                          kind_of=lambda i: "mug")
    assert len(sentences(t)) == 2 and "£2.90" in t and check_explanation(t, facts) == []


@pytest.mark.parametrize("shopper", ["s1", None])
def test_the_example_is_the_served_bundle_with_the_service_prompt(shopper) -> None:
    """explain_example replays the request through the turn the service runs: same bundle, same prompt."""
    from assistant.service import ShoppingAssistant
    from tests.assistant.fakes import FakeGenerator

    history = {"s1": [(next(i for i in CATALOG if i.id == "T2"), Event("s1", "T2", 1304380800.0))]}
    shop = ShopWithStats(history=history)
    request = "a tea party for six, budget £25"
    t = Target("online-retail", Basket("b9", ("T1",), shopper, 1.4e9 if shopper else None), request, ["T1"],
               "train", history.get(shopper or "", []))
    app = AppConfig()
    app.assistant.fusion = False
    ex, why = explain_example(t, shop, app, seed=0)
    assert ex is not None, why
    gen = FakeGenerator(text="Done.")
    result, _ = ShoppingAssistant(app, "demo", retriever=shop, generator=gen).turn(request, shopper=shopper,
                                                                                  explain=True)
    assert ex["bundle"] == [ln.id for ln in result.items]
    assert ex["messages"] == gen.streamed[0]  # the service's own prompt, facts block and all
    assert "Facts:" in ex["messages"][1]["content"]
    assert "bought together in" in ex["messages"][1]["content"]
    user = ex["messages"][1]["content"]
    assert "(bought 2011-05-03)" not in user  # the history reaches the prompt only as facts, so it stays short
    # a past purchase is a fact when the bundle holds its kind (the teapot the shopper bought in May 2011;
    # "before" when it is that very teapot)
    teapot = any(KINDS.get(i) == "teapot" for i in ex["bundle"])
    said = re.search(r"you bought the Teapot blue polkadot (before )?in May 2011", user) is not None
    assert said == (shopper is not None and teapot)
    assert ex["kind"] == "explain" and ex["target"] and ex["split"] == "train"


def test_a_no_budget_share_replays_the_request_without_its_budget_sentence() -> None:
    from retrieval.tasks import budget_request

    request = budget_request(["teapots & tea sets"], 2, 25.0)
    app = AppConfig()
    app.assistant.fusion = False
    made = {}
    for share in (0.0, 1.0):
        t = Target("online-retail", Basket("b7", ("T1",), None, None), request, ["T1"], "train", [])
        ex, why = explain_example(t, ShopWithStats(), app, seed=0, no_budget=share)
        assert ex is not None, why
        made[share] = ex
    assert "£25.00" in made[0.0]["messages"][1]["content"] and "budget" in made[0.0]["target"]
    assert "My budget" not in made[1.0]["messages"][1]["content"] and "budget" not in made[1.0]["target"]
