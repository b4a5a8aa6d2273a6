"""Another holiday's stock stays out of a bundle: on the real demo shop, whose best sellers are Christmas lines."""

from __future__ import annotations

import copy

import pytest

from assistant.seasons import MIN_LEFT, off_season, season_of, seasons_named
from assistant.turn import Pool, first_plan
from retrieval.types import Item, ScoredItem


@pytest.mark.parametrize(("request_text", "named"), [
    ("a secret santa present, £5 max", {"christmas"}), ("stocking fillers for my husband", {"christmas"}),
    ("an easter egg hunt", {"easter"}), ("a spooky party for the kids", {"halloween"}),
    ("something for valentine's day", {"valentine"}), ("a summer barn wedding", set()),
    ("a gift for my gran", set())])
def test_the_holidays_a_request_names(request_text, named) -> None:
    assert seasons_named(request_text) == named


def test_an_item_is_seasonal_by_its_title_or_category() -> None:
    assert season_of(Item("a", "Jumbo Bag 50's Christmas")) == "christmas"
    assert season_of(Item("b", "Wooden Star", category=("decor", "christmas decorations"))) == "christmas"
    assert season_of(Item("c", "Easter Tin Chicks")) == "easter"
    assert season_of(Item("d", "Pearl Crystal Pumpkin T-light Holder")) is None  # a pumpkin is not Halloween's
    assert season_of(Item("e", "Heart Of Wicker")) is None


def test_the_pool_keeps_off_season_items_only_when_little_else_is_left() -> None:
    xmas = [ScoredItem(Item(f"x{i}", f"Christmas Bauble {i}"), 1.0) for i in range(MIN_LEFT)]
    plain = [ScoredItem(Item(f"p{i}", f"Party Bunting {i}"), 0.5) for i in range(MIN_LEFT)]
    wedding, christmas = first_plan("a barn wedding").constraints, first_plan("a christmas party").constraints
    assert [s.item.id for s in Pool([*xmas, *plain]).usable(wedding)] == [s.item.id for s in plain]
    assert len(Pool([*xmas, *plain]).usable(christmas)) == 2 * MIN_LEFT
    few = plain[: MIN_LEFT - 1]
    assert len(Pool([*xmas, *few]).usable(wedding)) == MIN_LEFT + len(few)  # too few left: nothing dropped
    assert off_season([], "anything") == []


def test_no_christmas_stock_in_a_summer_or_pet_bundle_of_the_demo_shop(demo_config, demo_retriever) -> None:
    from assistant.service import ShoppingAssistant

    cfg = copy.deepcopy(demo_config)
    cfg.assistant.fusion, cfg.assistant.explain = False, False
    bot = ShoppingAssistant(cfg, "demo", retriever=demo_retriever)
    for request in ("a rustic barn wedding, lanterns and bunting, under £40",
                    "my friend has just got a puppy, something for her and the dog, under £15"):
        r, _ = bot.turn(request)
        assert r.items and all(season_of(demo_retriever.item(ln.id)) is None for ln in r.items), \
            (request, [ln.title for ln in r.items])
    r, _ = bot.turn("christmas decorations for the tree, under £10")
    assert any(season_of(demo_retriever.item(ln.id)) == "christmas" for ln in r.items), [ln.title for ln in r.items]
