"""Children's things stay out of a grown-up's present: on the real demo shop, whose titles for "breakfast",
"cup" and "baking" include its children's lines."""

from __future__ import annotations

import copy

import pytest

from assistant.audience import MIN_LEFT, for_children, for_grown_ups, grown_up_request
from assistant.turn import Pool, first_plan
from retrieval.types import Item, ScoredItem


@pytest.mark.parametrize(("request_text", "grown_up"), [
    ("a present for my dad, about £12", True), ("breakfast in bed for my wife on mother's day", True),
    ("my nephew's 18th birthday", True), ("a graduation present for my grandson", True),
    ("a present for my son", False), ("my niece's 7th birthday", False),
    ("a present for my sister and her kids", False), ("baby's first christmas, for my brother's boy", False),
    ("party bag fillers for 15 kids", False), ("a tea party for six", False),
    ("drinks and nibbles with colleagues", True), ("a party for my son and his friends", False)])
def test_which_requests_are_for_a_grown_up(request_text, grown_up) -> None:
    assert grown_up_request(first_plan(request_text).constraints) is grown_up


def test_an_item_is_for_children_by_its_title_or_category() -> None:
    assert for_children(Item("a", "Childs Breakfast Set Dolly Girl"))
    assert for_children(Item("b", "Set Of 20 Kids Cookie Cutters"))
    assert for_children(Item("c", "Children's Apron Dolly Girl"))
    assert for_children(Item("d", "Wooden Blocks", category=("toys", "kids' toys")))
    assert not for_children(Item("e", "Organic Baby Spinach"))  # a grocer's baby leaves are for anyone
    assert not for_children(Item("f", "Kidney Beans"))


def test_the_pool_keeps_childrens_items_only_when_little_else_is_left() -> None:
    kids = [ScoredItem(Item(f"k{i}", f"Childrens Cup {i}"), 1.0) for i in range(MIN_LEFT)]
    plain = [ScoredItem(Item(f"p{i}", f"Red Mug {i}"), 0.5) for i in range(MIN_LEFT)]
    dad, son = first_plan("a present for my dad").constraints, first_plan("a present for my son").constraints
    assert [s.item.id for s in Pool([*kids, *plain]).usable(dad)] == [s.item.id for s in plain]
    assert len(Pool([*kids, *plain]).usable(son)) == 2 * MIN_LEFT
    few = plain[: MIN_LEFT - 1]
    assert len(Pool([*kids, *few]).usable(dad)) == MIN_LEFT + len(few)  # too few left: nothing dropped
    assert for_grown_ups([], dad) == []


def test_no_childrens_things_in_a_grown_ups_present_from_the_demo_shop(demo_config, demo_retriever) -> None:
    from assistant.service import ShoppingAssistant

    cfg = copy.deepcopy(demo_config)
    cfg.assistant.fusion, cfg.assistant.explain = False, False
    bot = ShoppingAssistant(cfg, "demo", retriever=demo_retriever)
    for request in ("breakfast in bed for my wife on mother's day, around £20",
                    "a birthday present for my sister who bakes every weekend, under £15"):
        r, _ = bot.turn(request)
        assert r.items and not any(for_children(demo_retriever.item(ln.id)) for ln in r.items), \
            (request, [ln.title for ln in r.items])
    r, _ = bot.turn("cookie cutters and an apron for the kids, under £15")
    assert any(for_children(demo_retriever.item(ln.id)) for ln in r.items), [ln.title for ln in r.items]
