"""Children's things stay out of a grown-up's present: on the real demo shop, whose titles for "breakfast",
"cup" and "baking" include its children's lines."""

from __future__ import annotations

import pytest

from assistant.audience import for_children, grown_up_request
from assistant.turn import first_plan
from retrieval.types import Item


@pytest.mark.parametrize(("request_text", "grown_up"), [
    ("a present for my dad, about £12", True), ("breakfast in bed for my wife on mother's day", True),
    ("my nephew's 18th birthday", True), ("a graduation present for my grandson", True),
    ("a present for my son", False), ("my niece's 7th birthday", False),
    ("a present for my sister and her kids", False), ("baby's first christmas, for my brother's boy", False),
    ("party bag fillers for 15 kids", False), ("a tea party for six", False),
    ("drinks and nibbles with colleagues", True), ("a barbecue for 8 friends, about £30", True),
    ("a party for my son and his friends", False)])
def test_which_requests_are_for_a_grown_up(request_text, grown_up) -> None:
    assert grown_up_request(first_plan(request_text).constraints) is grown_up


def test_an_item_is_for_children_by_its_title_or_category() -> None:
    assert for_children(Item("a", "Childs Breakfast Set Dolly Girl"))
    assert for_children(Item("b", "Set Of 20 Kids Cookie Cutters"))
    assert for_children(Item("c", "Children's Apron Dolly Girl"))
    assert for_children(Item("d", "Wooden Blocks", category=("toys", "kids' toys")))
    assert not for_children(Item("e", "Organic Baby Spinach"))  # a grocer's baby leaves are for anyone
    assert not for_children(Item("f", "Kidney Beans"))


def test_no_childrens_things_in_a_grown_ups_present_from_the_demo_shop(demo_bot, demo_retriever) -> None:
    bot = demo_bot
    for request in ("breakfast in bed for my wife on mother's day, around £20",
                    "a birthday present for my sister who bakes every weekend, under £15"):
        r, _ = bot.turn(request)
        assert r.items and not any(for_children(demo_retriever.item(ln.id)) for ln in r.items), \
            (request, [ln.title for ln in r.items])
    r, _ = bot.turn("cookie cutters and an apron for the kids, under £15")
    assert any(for_children(demo_retriever.item(ln.id)) for ln in r.items), [ln.title for ln in r.items]
