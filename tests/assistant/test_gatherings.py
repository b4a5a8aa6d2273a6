"""A gathering named by its occasion is searched as what it is laid with (assistant/gatherings.py)."""

from __future__ import annotations

from assistant.gatherings import MAX_NEEDS, NEEDS, needs_for
from assistant.parse import OCCASIONS, parse_request
from assistant.text import matches_term
from assistant.turn import first_plan, search_pools


def test_every_gathering_is_an_occasion_the_parser_reads() -> None:
    assert set(NEEDS) <= set(OCCASIONS)
    assert all(len(set(needs)) == len(needs) >= MAX_NEEDS for needs in NEEDS.values())


def test_needs_only_for_a_gathering_without_a_list_of_its_own() -> None:
    known = lambda term: True  # noqa: E731
    assert needs_for(parse_request("hosting a tea party for six, about £25"), known) == list(NEEDS["tea party"][:4])
    assert needs_for(parse_request("bits for a barbecue in the garden, £25 max"), known) == list(NEEDS["barbecue"][:4])
    for said in ("a tea party for six, must have napkins", "a present for my dad", "a gift for my gran",
                 "christmas decorations for the tree", "something for a new home"):
        assert needs_for(parse_request(said), known) == [], said
    assert needs_for(parse_request("a picnic for four"), lambda term: term in ("cutlery", "cup")) == ["cutlery", "cup"]


def test_a_tea_party_in_the_demo_shop_is_laid_with_what_a_tea_party_needs(demo_bot, demo_retriever) -> None:
    bot = demo_bot
    request = "hosting a tea party for six, about £25"
    plan = first_plan(request)
    plan.ideas = needs_for(plan.constraints, demo_retriever.lexicon.knows)
    assert len(plan.ideas) == MAX_NEEDS
    found = search_pools(demo_retriever, plan, None)
    assert [f.idea for f in found][:MAX_NEEDS] == plan.ideas
    r, _ = bot.turn(request)
    assert r.items and r.total <= 25
    laid = [ln.title for ln in r.items if any(matches_term(ln.title, need) for need in plan.ideas)]
    assert len(laid) >= 2, [ln.title for ln in r.items]


def test_a_needs_candidates_are_of_its_kind_not_things_for_it(demo_retriever) -> None:
    # "Set Of 4 Napkin Charms" names napkins, but a napkin charm is no napkin; a present's idea keeps it
    kinds = demo_retriever.shop_kinds()
    plan = first_plan("a barbecue for 10 friends, under £40")
    plan.ideas, plan.ideas_are_kinds = ["napkin"], True
    need = search_pools(demo_retriever, plan, None)[0]
    assert need.idea == "napkin" and need.of_kind
    got = need.ranked(demo_retriever)
    assert got and all(matches_term(s.item.title, "napkin") for s in got)
    assert not any(kinds.of(s.item)[0] == "napkin charm" for s in got), [s.item.title for s in got]
    everything = [s.item for s in demo_retriever.rank(need.pool, None) if matches_term(s.item.title, "napkin")]
    assert any(kinds.of(it)[0] == "napkin charm" for it in everything)  # there were charms to leave out


def test_swapping_the_cups_of_a_tea_party_gives_a_cheaper_cup(demo_bot, demo_retriever, online_retail) -> None:
    bot = demo_bot
    from assistant.rules import Kinding
    from assistant.types import ConversationState

    by_title = {it.title: it for it in online_retail.items}
    bundle = [by_title[t] for t in ("Green Regency Teacup And Saucer", "Regency Teapot Roses",
                                    "Red Retrospot Cake Stand", "Set/6 Red Spotty Paper Plates")]
    state = ConversationState(shop="demo", constraints=first_plan("hosting a tea party for six, about £25").constraints,
                              bundle=[it.id for it in bundle])
    swapped, _ = bot.turn("swap the cups for cheaper ones", state)
    new = [ln for ln in swapped.items if ln.id not in state.bundle]
    assert len(new) == 1 and new[0].price < bundle[0].price, [ln.title for ln in swapped.items]
    assert bundle[0].id not in {ln.id for ln in swapped.items}
    # one of what the shopper named, not a title that merely mentions it ("Kneeling Pad Cup Of Tea")
    assert Kinding(demo_retriever.kind).names(demo_retriever.item(new[0].id), "cups"), new[0].title
