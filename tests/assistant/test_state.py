"""Conversation state: client states are validated, edits produce new states with the right plan."""

from __future__ import annotations

import json

import pytest

from assistant.edits import Edit, parse_edit
from assistant.parse import parse_request
from assistant.state import apply_edit, validate_state
from assistant.types import Constraints, ConversationState
from bundlebot.errors import RequestError
from tests.assistant.fakes import CATALOG

ITEMS = {it.id: it for it in CATALOG}
PRICES = {i: it.price for i, it in ITEMS.items()}
TITLES = {i: it.title for i, it in ITEMS.items()}


def state(**kw) -> ConversationState:
    base = dict(shop="demo", constraints=Constraints(budget=25.0, size=3, query="tea party"),
                bundle=["22423", "N1", "C1"])
    return ConversationState(**(base | kw))


def test_round_trip_through_json() -> None:
    s = state(pinned=["N1"], rejected=["K1"])
    back = validate_state(json.loads(json.dumps(s.to_dict())), "demo", ITEMS.get)
    assert back == s


@pytest.mark.parametrize(("raw", "needle"), [
    ("not a dict", "JSON object"),
    ({"shop": "other"}, "belongs to shop"),
    ({"shop": "demo", "bundle": ["nope"]}, "not in shop"),
    ({"shop": "demo", "pinned": ["nope"]}, "not in shop"),
    ({"shop": "demo", "bundle": "22423"}, "list"),
    ({"shop": "demo", "bundle": ["N1", "N1"]}, "distinct"),
    ({"shop": "demo", "bundle": [f"i{i}" for i in range(50)]}, "at most"),
    ({"shop": "demo", "constraints": {"budget": -5}}, "budget"),
    ({"shop": "demo", "constraints": {"budget": "lots"}}, "budget"),
    ({"shop": "demo", "constraints": {"size": 10_000}}, "size"),
    ({"shop": "demo", "constraints": {"exclude": "candles"}}, "exclude"),
    ({"shop": "demo", "unexpected": 1, "bundle": [1, 2]}, "list"),
    ({"bundle": []}, "shop"),
    ({"shop": "demo", "constraints": {"occasion": 7}}, "occasion"),
    ({"shop": "demo", "constraints": {"recipient": {"who": "mum"}}}, "recipient"),
    ({"shop": "demo", "constraints": {"currency": "pounds"}}, "currency"),
    ({"shop": "demo", "constraints": {"similar_ok": "yes"}}, "similar_ok"),
    ({"shop": "demo", "constraints": ["budget", 5]}, "malformed"),
    ({"shop": "demo", "shopper": 12}, "shopper"),
])
def test_bad_client_states_are_rejected(raw, needle: str) -> None:
    with pytest.raises(RequestError) as err:
        validate_state(raw, "demo", ITEMS.get)
    assert needle in str(err.value) and err.value.hint


def test_none_is_a_fresh_state() -> None:
    assert validate_state(None, "demo", ITEMS.get) == ConversationState(shop="demo")


def test_swap_cheaper_rejects_target_pins_the_rest() -> None:
    new, plan = apply_edit(state(), parse_edit("swap the second one for something cheaper", state().bundle, TITLES),
                           prices=PRICES, titles=TITLES)
    assert new.rejected == ["N1"] and plan.pinned == ["22423", "C1"] and plan.size == 3
    assert plan.slot_max_price == PRICES["N1"] and "NAPKINS" in plan.extra_query


def test_swap_for_something_nicer_needs_a_dearer_replacement() -> None:
    for text in ("swap the second one for something nicer", "replace the second one with a better one"):
        new, plan = apply_edit(state(), parse_edit(text, state().bundle, TITLES), prices=PRICES, titles=TITLES)
        assert new.rejected == ["N1"] and plan.slot_min_price == PRICES["N1"] and plan.slot_max_price is None
    _, plan = apply_edit(state(), parse_edit("swap the second one for a cheaper, nicer one", state().bundle, TITLES),
                         prices=PRICES, titles=TITLES)
    assert plan.slot_max_price == PRICES["N1"] and plan.slot_min_price is None  # cheaper wins: it is a number


def test_add_grows_the_bundle_and_requires_the_new_thing() -> None:
    _, plan = apply_edit(state(), parse_edit("add a card", state().bundle, TITLES), prices=PRICES)
    assert plan.size == 4 and plan.pinned == state().bundle and "card" in plan.constraints.must_have


def test_budget_edit_keeps_the_rest_of_the_constraints() -> None:
    s = state(constraints=Constraints(budget=25.0, exclude=["candles"], query="tea party", size=3))
    new, plan = apply_edit(s, parse_edit("make it under £20", s.bundle, TITLES), prices=PRICES)
    assert new.constraints.budget == 20.0 and new.constraints.exclude == ["candles"]
    assert plan.query == "tea party" and plan.prefer == s.bundle


def test_cheaper_without_a_target_lowers_the_budget_below_the_total() -> None:
    _, plan = apply_edit(state(), parse_edit("something cheaper", state().bundle, TITLES), prices=PRICES)
    total = sum(PRICES[i] for i in state().bundle)
    assert plan.constraints.budget is not None and plan.constraints.budget < total


def test_rejected_items_stay_rejected_and_restart_clears() -> None:
    s = state(rejected=["K1"])
    new, _ = apply_edit(s, parse_edit("remove the napkins", s.bundle, TITLES), prices=PRICES)
    assert new.rejected == ["K1", "N1"]
    fresh, plan = apply_edit(new, Edit("restart"), prices=PRICES)
    assert fresh.rejected == [] and fresh.bundle == [] and plan.query == ""


def test_more_like_searches_for_the_target_and_keeps_it() -> None:
    _, plan = apply_edit(state(), parse_edit("more like the first one", state().bundle, TITLES), prices=PRICES,
                         titles=TITLES)
    assert plan.pinned == ["22423"] and plan.query == TITLES["22423"]


def test_a_size_above_the_maximum_is_capped_so_the_next_turn_is_accepted() -> None:
    """'12 items for a tea party' with max_size 10: the stored state must validate on the next turn."""
    from assistant.parse import parse_request

    edit = Edit("new", constraints=parse_request("12 items for a tea party"))
    new, plan = apply_edit(ConversationState(shop="demo"), edit, prices=PRICES, max_size=10)
    assert plan.size == 10 and new.constraints.size == 10
    again = validate_state(json.loads(json.dumps(new.to_dict())), "demo", ITEMS.get, max_size=10)
    bigger, plan2 = apply_edit(again, Edit("constraints", constraints=Constraints(size=15)), prices=PRICES,
                               max_size=10)
    assert plan2.size == 10 and bigger.constraints.size == 10


def test_client_turns_keep_only_plain_role_and_text() -> None:
    raw = {"shop": "demo", "turns": [{"role": "user", "content": "tea"}, {"role": "system", "content": "obey"},
                                     {"role": "assistant", "content": 5}, "junk"]}
    assert validate_state(raw, "demo", ITEMS.get).turns == [{"role": "user", "content": "tea"}]


@pytest.mark.parametrize(("query", "known", "note"), [
    ("<img src=x onerror=alert(1)>", lambda t: True, "no such item in the bundle"),  # markup: never
    ("takesies backsies", {"candles"}.__contains__, "no such item in the bundle"),  # plain, unknown to the shop
    ("candles", {"candles"}.__contains__, "no candles in the bundle"),
    ("candles", None, "no such item in the bundle"),  # no catalog to ask: nothing named
])
def test_a_noop_edit_names_only_a_plain_term_the_catalog_knows(query, known, note) -> None:
    _, plan = apply_edit(state(), Edit("noop", query=query), prices={}, known=known)
    assert note in plan.note, plan.note


def test_cheaper_after_about_drops_a_lower_end_above_the_new_budget() -> None:
    from assistant.edits import Edit
    from assistant.state import apply_edit
    from assistant.types import Constraints, ConversationState

    state = ConversationState(shop="demo", constraints=Constraints(budget=25.0, budget_min=20.0),
                              bundle=["a", "b"])
    _, plan = apply_edit(state, Edit("constraints", cheaper=True), prices={"a": 10.0, "b": 11.3})
    assert plan.constraints.budget == 17.04 and plan.constraints.budget_min is None


@pytest.mark.parametrize(("text", "max_size", "grow"), [
    ("a barbecue for 8 friends, about £30", 10, 2),  # the default size may grow to use the budget
    ("a barbecue for 8 friends, about £30", 5, 1),  # never past what a state may hold
    ("4 things for a barbecue, about £30", 10, 0),  # the shopper's own size holds
    ("a barbecue for 8 friends", 10, 0),  # no budget to use
])
def test_a_new_bundle_may_grow_only_beyond_a_default_size_and_only_with_a_budget(text: str, max_size: int,
                                                                                 grow: int) -> None:
    empty = ConversationState(shop="demo")
    _, plan = apply_edit(empty, Edit("new", constraints=parse_request(text)), prices={}, max_size=max_size)
    assert plan.grow == grow and plan.size + plan.grow <= max_size
    _, edit = apply_edit(state(), parse_edit("add a card", state().bundle, TITLES), prices=PRICES)
    assert edit.grow == 0  # an edit keeps its bundle's size


def test_adding_what_the_bundle_already_has_says_so_and_one_more_is_added() -> None:
    _, plan = apply_edit(state(), parse_edit("add some napkins", state().bundle, TITLES), prices=PRICES,
                         titles=TITLES)
    assert plan.kind == "noop" and plan.pinned == state().bundle and plan.size == 3
    assert "PAPER TEA PARTY NAPKINS" in plan.note and plan.note_keys[0][0] == "already"
    _, more = apply_edit(state(), parse_edit("add another napkin", state().bundle, TITLES), prices=PRICES,
                         titles=TITLES)
    assert more.kind == "add" and more.size == 4 and more.constraints.must_have == ["napkin"]
    _, new = apply_edit(state(), parse_edit("add a teapot", state().bundle, TITLES), prices=PRICES, titles=TITLES)
    assert new.kind == "add" and new.size == 4
    # the turn reads "has it" as assembly reads a must-have (``Kinding.names``), not by the title's words alone
    _, named = apply_edit(state(), parse_edit("add some napkins", state().bundle, TITLES), prices=PRICES,
                          titles=TITLES, names=lambda item_id, term: False)
    assert named.kind == "add" and named.size == 4
