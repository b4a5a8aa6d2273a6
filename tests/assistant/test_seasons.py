"""Another holiday's stock stays out of a bundle: on the real demo shop, whose best sellers are Christmas lines."""

from __future__ import annotations

import pytest

from assistant import audience
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


@pytest.mark.parametrize(("title", "drops", "keeps", "min_left"), [
    ("Christmas Bauble", "a barn wedding", "a christmas party", MIN_LEFT),  # another holiday's stock
    ("Childrens Cup", "a present for my dad", "a present for my son", audience.MIN_LEFT),  # a child's thing
])
def test_the_pool_keeps_what_a_filter_drops_only_when_little_else_is_left(title, drops, keeps, min_left) -> None:
    out = [ScoredItem(Item(f"x{i}", f"{title} {i}"), 1.0) for i in range(min_left)]
    plain = [ScoredItem(Item(f"p{i}", f"Party Bunting {i}"), 0.5) for i in range(min_left)]
    dropping, keeping = first_plan(drops).constraints, first_plan(keeps).constraints
    assert [s.item.id for s in Pool([*out, *plain]).usable(dropping)] == [s.item.id for s in plain]
    assert len(Pool([*out, *plain]).usable(keeping)) == 2 * min_left
    few = plain[: min_left - 1]
    assert len(Pool([*out, *few]).usable(dropping)) == min_left + len(few)  # too few left: nothing dropped
    assert off_season([], "anything") == [] and audience.for_grown_ups([], dropping) == []


def test_no_christmas_stock_in_a_summer_or_pet_bundle_of_the_demo_shop(demo_bot, demo_retriever) -> None:
    bot = demo_bot
    for request in ("a rustic barn wedding, lanterns and bunting, under £40",
                    "my friend has just got a puppy, something for her and the dog, under £15"):
        r, _ = bot.turn(request)
        assert r.items and all(season_of(demo_retriever.item(ln.id)) is None for ln in r.items), \
            (request, [ln.title for ln in r.items])
    r, _ = bot.turn("christmas decorations for the tree, under £10")
    assert any(season_of(demo_retriever.item(ln.id)) == "christmas" for ln in r.items), [ln.title for ln in r.items]
