"""A present named only by its recipient is searched as what such a present usually is (assistant/gifts.py)."""

from __future__ import annotations

import pytest

from assistant.gifts import IDEAS, MAX_IDEAS, ideas_for
from assistant.parse import RECIPIENTS, parse_request
from assistant.text import matches_term
from assistant.turn import first_plan, search_pools, searches


def test_every_recipient_the_parser_reads_has_ideas() -> None:
    assert set(RECIPIENTS.values()) <= set(IDEAS)
    assert all(len(set(ideas)) == len(ideas) >= MAX_IDEAS for ideas in IDEAS.values())


def test_ideas_only_when_the_request_names_nothing_but_the_recipient_and_occasion() -> None:
    known = lambda term: True  # noqa: E731
    assert ideas_for(parse_request("a gift for my gran under £15"), known) == list(IDEAS["grandma"][:MAX_IDEAS])
    assert ideas_for(parse_request("a birthday present for my sister"), known) == list(IDEAS["sister"][:MAX_IDEAS])
    assert ideas_for(parse_request("a present for my dad, nothing over £15"), known)
    assert ideas_for(parse_request("Mothers day present for my mum"), known) == list(IDEAS["mum"][:MAX_IDEAS])
    for said in ("a mug for my dad", "a present for my sister who bakes", "a gift for a keen gardener",
                 "a present for my dad, must include a teapot", "a tea party for six", "a picnic for my friends",
                 "a dinner party for the neighbours"):
        assert ideas_for(parse_request(said), known) == [], said
    assert ideas_for(parse_request("a present for my dad"), lambda term: term == "torch") == ["torch"]
    assert ideas_for(parse_request("a get well soon present for my mum"), known) == list(IDEAS["mum"][:MAX_IDEAS])


def test_an_age_says_how_old_not_what_the_present_is() -> None:
    known = lambda term: True  # noqa: E731
    assert ideas_for(parse_request("a present for my dad's 70th birthday"), known) == list(IDEAS["dad"][:MAX_IDEAS])
    assert ideas_for(parse_request("my niece's 5th birthday"), known) == list(IDEAS["niece"][:MAX_IDEAS])
    assert "toy" not in ideas_for(parse_request("a 21st birthday present for my son"), known)
    assert ideas_for(parse_request("gifts for the neighbours"), known) == list(IDEAS["neighbour"][:MAX_IDEAS])


def test_the_ideas_are_searched_before_the_request_itself() -> None:
    plan = first_plan("a christmas gift for my gran")
    plan.ideas = ["teapot", "cushion"]
    assert searches(plan) == ["teapot for christmas", "cushion for christmas", plan.query]


def test_a_gift_for_a_gran_in_the_demo_shop_is_made_of_those_ideas(demo_bot, demo_retriever) -> None:
    bot = demo_bot
    r, state = bot.turn("a gift for my gran under £15")
    ideas = ideas_for(parse_request("a gift for my gran under £15"), demo_retriever.lexicon.knows)
    assert ideas and r.items and r.total <= 15
    words = {w for idea in ideas for w in idea.split()} | {"tea"}
    assert sum(any(w in ln.title.lower() for w in words) for ln in r.items) >= 2, [ln.title for ln in r.items]
    cheaper, _ = bot.turn("cheaper please", state)  # an edit keeps the plan: still a present for a gran
    assert cheaper.items and any(any(w in ln.title.lower() for w in words) for ln in cheaper.items)


def test_an_ideas_candidates_are_items_that_name_it(demo_retriever) -> None:
    # a search for "mug" also finds the shop's cups: a mug and a cup are two of one present
    plan = first_plan("a birthday present for my dad")
    plan.ideas = ["mug", "torch"]
    found = search_pools(demo_retriever, plan, None)
    assert [f.idea for f in found] == ["mug", "torch", None]
    everything = demo_retriever.rank(found[0].pool, None)
    assert any(not matches_term(s.item.title, "mug") for s in everything)  # the search finds other things too
    for f in found[:2]:
        ranked = f.ranked(demo_retriever)
        assert ranked and all(matches_term(s.item.title, f.idea) for s in ranked), [s.item.title for s in ranked]
    assert any(not matches_term(s.item.title, "mug") for s in found[-1].ranked(demo_retriever))


@pytest.mark.parametrize("text, first", [
    ("Birthday present for a 2 year old", "toy"),
    ("A present for a newborn baby girl", "soft toy"),   # "girl" says who, not what
    ("a gift for my 18 year old son", "mug"),            # a grown-up's present, by the stated age
    ("a wedding present for my son", "mug"),              # a grown-up's occasion
])
def test_a_present_named_by_who_and_how_old_gets_their_ideas(text, first) -> None:
    assert ideas_for(parse_request(text), lambda term: True)[0] == first
