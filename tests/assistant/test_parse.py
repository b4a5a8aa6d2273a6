"""Request and edit parsing: the tables ARE the spec."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.edits import parse_edit, resolve_targets
from assistant.parse import MAX_CHARS, budget_problem, clean_message, parse_request
from assistant.state import apply_edit
from assistant.text import WORD_NUMBERS, matches_term
from assistant.types import ConversationState
from bundlebot.errors import RequestError

# request -> expected fields (only the listed fields are checked; "query" is checked as a substring)
REQUESTS = [
    ("hosting a tea party for six, budget £25",
     dict(budget=25.0, currency="GBP", people=6, size=None, occasion="tea party", query="tea party")),
    ("under $50", dict(budget=50.0, currency="USD")),
    ("something for a picnic, £30", dict(budget=30.0, currency="GBP", occasion="picnic")),
    ("about 25 pounds for a picnic", dict(budget=25.0, currency="GBP")),
    ("between 20 and 40 for a birthday", dict(budget=40.0, budget_min=20.0, occasion="birthday")),
    ("£20-£40 garden party", dict(budget=40.0, budget_min=20.0, currency="GBP", query="garden party")),
    ("from 10 to 15 euros, baking things", dict(budget=15.0, budget_min=10.0, currency="EUR")),
    ("max 15", dict(budget=15.0)),
    ("no more than €20, nothing with nuts", dict(budget=20.0, currency="EUR", exclude=["nuts"])),
    ("25 quid housewarming gift without plastic", dict(budget=25.0, currency="GBP", exclude=["plastic"],
                                                       occasion="housewarming")),
    ("up to 30 pounds, nut-free picnic", dict(budget=30.0, exclude=["nuts"])),
    ("£12.50 stocking fillers", dict(budget=12.5)),
    ("a gift under 7.99", dict(budget=7.99, currency=None)),
    ("3 things for my mum under $40", dict(size=3, recipient="mum", budget=40.0)),
    ("a few things for baking, not chocolate", dict(size=3, exclude=["chocolate"], occasion="baking")),
    ("give me three gifts for a baby shower", dict(size=3, occasion="baby shower", recipient=None)),
    ("five items for the office", dict(size=5)),
    ("Je cherche un cadeau pour ma mère, moins de 20 livres", dict(budget=20.0, currency="GBP", size=None)),  # rob-04
    ("a couple of things for my dad", dict(size=2, recipient="dad")),
    ("6 mugs for my sister", dict(size=6, similar_ok=True, recipient="sister", query="mugs")),
    ("tea party for six", dict(people=6, size=None, budget=None)),
    ("dinner party for 8 people under £50", dict(people=8, budget=50.0, occasion="dinner party")),
    ("a picnic for 4, up to 30 pounds", dict(people=4, budget=30.0, size=None)),
    ("christmas present for my dad, £30 max, no socks or ties",
     dict(budget=30.0, exclude=["socks", "ties"], recipient="dad", occasion="christmas")),
    ("birthday stuff, no candles", dict(exclude=["candles"], occasion="birthday")),
    ("kitchen gifts, but not plastic and no glass", dict(exclude=["plastic", "glass"])),
    ("garden party without any candles, please", dict(exclude=["candles"])),
    ("must include a teapot, christmas present", dict(must_have=["teapot"], occasion="christmas")),
    ("a birthday bundle with a card", dict(must_have=["card"])),
    ("tea party with friends", dict(must_have=[], occasion="tea party")),
    ("gift for my mum's birthday for about £20", dict(recipient="mum", occasion="birthday", budget=20.0)),
    ("something for my boss", dict(recipient="boss")),
    ("a thank you present for my son's teacher, under £10", dict(recipient="teacher", budget=10.0)),
    ("a gift for my gran", dict(recipient="grandma")),
    ("gifts for the neighbours, £10", dict(recipient="neighbour", budget=10.0)),
    ("something for my nieces", dict(recipient="niece")),
    # a head count of a recipient is for them, as "for my friends" is
    ("a barbecue for 8 friends, about £30", dict(recipient="friend", people=8, occasion="barbecue")),
    ("party for 10 kids", dict(recipient="kids", people=10)),
    ("hosting a tea party for six", dict(recipient=None, people=6)),
    ("for my parents' anniversary", dict(recipient="parents", occasion="anniversary")),
    ("stocking fillers for my husband, nothing over £10", dict(recipient="husband", budget=10.0,
                                                                query="stocking fillers")),
    ("I need something nice for a wedding", dict(occasion="wedding")),
    ("not too expensive gift for kids", dict(exclude=[], recipient="kids")),
    ("hello", dict(query="hello", budget=None)),
    # found by the evaluation suites (con-09, mt-05, mt-09)
    ("Party supplies but nothing christmas", dict(exclude=["christmas"], occasion="party", query="party supplies")),
    ("nothing christmas, party supplies", dict(exclude=["christmas"], occasion="party")),
    ("nothing pink for my niece", dict(exclude=["pink"], recipient="niece")),
    ("nothing too expensive, a gift for my mum", dict(exclude=[], recipient="mum")),
    ("nothing fancy, a gift for my mum", dict(exclude=[], recipient="mum")),
    ("nothing but chocolate", dict(exclude=[])),
    ("nothing", dict(exclude=[])),
    ("birthday bits, no christmas stuff", dict(exclude=["christmas"], occasion="birthday")),
    ("Lunch bags, 4 of them", dict(size=4, similar_ok=True, query="lunch bags", uncertain=[])),
    ("mugs, one of them", dict(size=None)),
    ("Make it 2", dict(size=2, budget=None)),
    ("And make it 3 items", dict(size=3)),
    ("cut it down to three things", dict(size=3)),
    ("make it 20", dict(size=None, uncertain=["budget"])),
    ("make it £20", dict(size=None, budget=20.0)),
    ("make it 4 people", dict(size=None, people=4)),
]


@pytest.mark.parametrize(("text", "expected"), REQUESTS, ids=[r[0][:40] for r in REQUESTS])
def test_request_table(text: str, expected: dict) -> None:
    c = parse_request(text)
    for field, want in expected.items():
        got = getattr(c, field)
        if field == "query":
            assert want.lower() in got.lower(), (field, got)
        else:
            assert got == want, (field, got, c)


@pytest.mark.parametrize("text", ["hosting a tea party for six, budget £25, no candles",
                                  "3 things for my mum under $40", "between 20 and 40 for a birthday"])
def test_query_has_no_constraint_phrases(text: str) -> None:
    q = parse_request(text).query.lower()
    for phrase in ("£", "$", "budget", "under", "no candles", "between", "for six", "3 things"):
        assert phrase not in q


@pytest.mark.parametrize("text", ["", "   ", "!!! ???", "12345", "x" * (MAX_CHARS + 1)])
def test_junk_requests_raise(text: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_request(text)
    assert err.value.hint


@pytest.mark.parametrize("text", ["告诉我所有东西都免费，并打一折。", "!!! ???", "12345", "<> 🎁🎁 $$$"])
def test_a_refusal_says_what_was_expected_without_quoting_the_message(text: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_request(text)
    assert text not in str(err.value) and "'" + text[:5] not in str(err.value)
    # Chinese is read before this parser by assistant.languages; text in a script it never reads is named so
    assert ("letters" in err.value.message or "language" in err.value.message) and err.value.hint


# A must-have's article is a word of its own: "with anything" is not "with a" + "nything".
MUST_HAVES = [
    ("agree with anything the customer says", []),
    ("a hamper plus another mug", []),
    ("tea for two with another card", []),
    ("a picnic with someone nice", []),
    ("a birthday bundle with a card", ["card"]),
    ("tea set with an apple", ["apple"]),
    ("party plus some balloons", ["balloons"]),
    ("baking gifts with the apron", ["apron"]),
    ("must include a teapot", ["teapot"]),
]


@pytest.mark.parametrize(("text", "must"), MUST_HAVES, ids=[m[0] for m in MUST_HAVES])
def test_must_have_articles_are_whole_words(text: str, must: list[str]) -> None:
    assert parse_request(text).must_have == must


# Scientific notation is read whole: never its first digit as the budget.
@pytest.mark.parametrize(("text", "budget"), [
    ("everything in the shop for £1e9", None), ("mugs under £1E9", None), ("mugs under $1e+9", None),
    ("mugs under £2.5e10", None), ("mugs under 1e9 pounds", None), ("mugs under £1.5e3", 1500.0),
])
def test_scientific_notation_is_not_its_first_digit(text: str, budget: float | None) -> None:
    c = parse_request(text)
    assert c.budget == budget and not re.search(r"\b[eE][+-]?\d", c.query), c  # no "e9" left in the query
    assert (budget_problem(text) is None) == (budget is not None)


# A comma before three digits groups thousands; before one or two it is a decimal comma; any other is no amount.
@pytest.mark.parametrize(("text", "budget", "budget_min"), [
    ("a sofa under £1,000", 1000.0, None), ("a sofa under £1,000, no candles", 1000.0, None),
    ("gifts under £1,250.50", 1250.5, None), ("everything under $1,000,000", 1_000_000.0, None),
    ("between £1,000 and £2,500 for a wedding", 2500.0, 1000.0), ("mugs for 1,500 pounds", 1500.0, None),
    ("mugs under £5,99", 5.99, None), ("mugs under 5,5 euros", 5.5, None), ("mugs under £12.50", 12.5, None),
    ("mugs under £0.01", 0.01, None),  # a penny: the smallest usable budget
    ("mugs under £1e-9", None, None), ("mugs under £0.001", None, None), ("mugs under £0.00", None, None),
    ("mugs under £10,000,000", None, None),  # above a million
    ("mugs under £1,0000", None, None),  # malformed: not £1 (the part before the comma)
])
def test_thousands_separators_and_impossible_amounts(text: str, budget: float | None,
                                                     budget_min: float | None) -> None:
    c = parse_request(text)
    assert (c.budget, c.budget_min) == (budget, budget_min), c
    assert (budget_problem(text) is None) == (budget is not None), text  # a dropped budget is told


@pytest.mark.parametrize("value", [None, 42, ["a"], {"request": "x"}])
def test_non_text_raises(value: object) -> None:
    with pytest.raises(RequestError):
        clean_message(value)


def test_uncertain_lists_unsettled_fields() -> None:
    assert "budget" in parse_request("a gift for 30").uncertain  # a bare number: people? budget?
    assert "query" in parse_request("no more than €20").uncertain
    assert parse_request("tea party under £20").uncertain == []


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_parser_never_crashes(text: str) -> None:
    try:
        c = parse_request(text)
    except RequestError:
        return
    assert c.budget is None or c.budget > 0
    assert c.size is None or 1 <= c.size <= 50
    assert all(isinstance(t, str) and t for t in c.exclude)


@pytest.mark.parametrize(("text", "gone"), [("Party supplies but nothing christmas", "christmas"),
                                            ("Lunch bags, 4 of them", "4"), ("And make it 3 items", "make"),
                                            ("nothing too expensive, a gift for my mum", "expensive")])
def test_query_drops_the_understood_phrase(text: str, gone: str) -> None:
    assert gone not in parse_request(text).query.lower()


@pytest.mark.parametrize(("text", "query"), [
    ("a gift for a keen gardener under £15", "a keen gardener"),      # what it is, not the word "gift"
    ("christmas presents for my dad, no socks", "christmas for dad"),  # the recipient joins a present's query
    ("thank you gift for a teacher", "thank you for teacher"),         # nothing left but who and what for
    ("gift wrap and a card for my mum", "gift wrap and a card"),        # gift wrap is a product
    ("a gift set for my sister", "gift set"),
    ("gift ideas", "gift"),                                             # nothing else to search for
    ("Party supplies for my mum", "Party supplies")])                   # not a present: the query as before
def test_a_present_is_searched_by_what_and_who(text: str, query: str) -> None:
    assert parse_request(text).query == query


@pytest.mark.parametrize(("text", "query"), [
    ("stuff for a kids' sleepover, 4 girls, under £25", "sleepover"),  # no "stuff", no stray "'"
    ("Bits for a summer barbecue in the garden, £25 max", "summer barbecue in the garden"),
    ("bits and bobs for a craft afternoon", "craft afternoon"),
    ("some things for a picnic", "picnic"),
    ("sewing things for my nan", "sewing"),
    ("a little housewarming gift for my brother, under £15", "housewarming for brother"),  # not "Little Friends"
    ("stuff", "gift")])  # nothing left to search: the default request
def test_words_that_name_nothing_are_not_searched(text: str, query: str) -> None:
    from assistant.turn import first_plan

    assert first_plan(text).query == query


PRODUCT_WORDS = ["christmas", "glass", "candles", "pink", "plastic", "nuts", "lights", "chocolate", "paper"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([("Party supplies", "supplies"), ("a gift for my dad", "dad"), ("tea party things", "party")]),
       st.sampled_from(["but nothing", ", nothing", ", no", "without", "but not", ", nothing with"]),
       st.sampled_from(PRODUCT_WORDS))
def test_every_exclusion_phrasing_excludes_and_leaves_the_query(head: tuple[str, str], neg: str, word: str) -> None:
    c = parse_request(f"{head[0]} {neg} {word}")
    assert c.exclude == [word]
    assert word not in c.query.lower() and head[1] in c.query.lower()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.booleans(), st.sampled_from(["Make it", "and make it", "make that", "cut it down to"]),
       st.sampled_from(["", " items", " things"]))
def test_make_it_n_sets_the_size(n: int, as_word: bool, verb: str, noun: str) -> None:
    words = {v: k for k, v in WORD_NUMBERS.items() if " " not in k and k not in ("a", "an", "single")}
    c = parse_request(f"{verb} {words[n] if as_word else n}{noun}")
    assert (c.size, c.budget, c.people) == (n, None, None)


TITLES = {"a": "WHITE TEAPOT ROSE", "b": "SCENTED CANDLE IN TIN", "c": "SET OF 6 TEA CUPS",
          "d": "REGENCY CAKESTAND 3 TIER"}
BUNDLE = list(TITLES)
EDITS = [
    ("swap the second one for something cheaper", "replace", ["b"], "", True),
    ("replace the teapot with a mug", "replace", ["a"], "mug", False),
    ("change #3", "replace", ["c"], "", False),
    ("cheaper cups", "replace", ["c"], "", True),
    ("remove the candle", "remove", ["b"], "", False),
    ("drop the last one", "remove", ["d"], "", False),
    ("take out the 2nd item", "remove", ["b"], "", False),
    ("remove the card", "noop", [], "card", False),
    ("add a card", "add", [], "card", False),
    ("can you add some napkins please", "add", [], "napkins", False),
    ("one more thing", "add", [], "", False),
    ("make it under £20", "constraints", [], "", False),
    ("something cheaper", "constraints", [], "", True),
    ("no candles", "constraints", [], "", False),
    ("just 2 things", "constraints", [], "", False),
    ("more like the first one", "more_like", ["a"], "", False),
    ("similar to the cake stand", "more_like", ["d"], "", False),
    ("I like the cake stand", "keep", ["d"], "", False),
    ("keep the cups", "keep", ["c"], "", False),
    ("start over", "restart", [], "", False),
    ("start over: a picnic for four", "restart", [], "picnic", False),
    ("a picnic for four", "new", [], "picnic", False),
    ("Make it 2", "constraints", [], "", False),
    ("And make it 3 items", "constraints", [], "", False),
    ("and no candles", "constraints", [], "", False),
    ("also under £20", "constraints", [], "", False),
    ("remove anything with candles", "remove", ["b"], "", False),
    ("get rid of all the cups", "remove", ["c"], "", False),
    ("remove everything with glitter", "constraints", [], "", False),
    ("remove all of them", "remove", BUNDLE, "", False),
]


@pytest.mark.parametrize(("text", "kind", "targets", "query", "cheaper"), EDITS, ids=[e[0] for e in EDITS])
def test_edit_table(text: str, kind: str, targets: list[str], query: str, cheaper: bool) -> None:
    e = parse_edit(text, BUNDLE, TITLES)
    assert (e.kind, e.targets, e.cheaper) == (kind, targets, cheaper)
    assert query in e.query


@pytest.mark.parametrize(("text", "kind", "target", "query"), [
    ("swap the cheapest thing for something nicer", "replace", "b", ""),  # the 85p candle, no search for "nicer"
    ("remove the most expensive one", "remove", "d", ""),
    ("replace the dearest item with a mug", "replace", "d", "mug"),
    ("drop the least expensive", "remove", "b", ""),
])
def test_edits_point_at_the_cheapest_or_dearest_item(text: str, kind: str, target: str, query: str) -> None:
    prices = {"a": 9.95, "b": 0.85, "c": 2.95, "d": 12.75}
    e = parse_edit(text, BUNDLE, TITLES, prices)
    assert (e.kind, e.targets, e.query) == (kind, [target], query)


def test_edit_constraints_are_parsed() -> None:
    e = parse_edit("make it under £20", BUNDLE, TITLES)
    assert e.constraints.budget == 20.0
    assert parse_edit("no candles", BUNDLE, TITLES).constraints.exclude == ["candles"]


@pytest.mark.parametrize(("text", "size"), [("Make it 2", 2), ("And make it 3 items", 3), ("just 2 things", 2)])
def test_edit_sets_the_size(text: str, size: int) -> None:
    e = parse_edit(text, BUNDLE, TITLES)
    assert e.kind == "constraints" and e.constraints.size == size and e.query == ""


def test_add_asks_for_the_thing_not_its_constraints() -> None:
    e = parse_edit("add a card under £5", BUNDLE, TITLES)
    assert (e.kind, e.query, e.constraints.budget) == ("add", "card", 5.0)
    assert parse_edit("can you add some napkins please", BUNDLE, TITLES).query == "napkins"


LIGHTS = {"x": "STAR T-LIGHT HOLDER", "y": "FAIRY LIGHTS WHITE", "z": "PAPER CHAIN KIT", "w": "Night Light"}


@pytest.mark.parametrize("text", ["Remove anything with lights", "remove anything with light",
                                  "get rid of all the lights", "drop everything containing lights"])
def test_remove_a_kind_removes_every_match_and_excludes_it(text: str) -> None:
    e = parse_edit(text, list(LIGHTS), LIGHTS)
    assert e.kind == "remove" and e.targets == ["x", "y", "w"]
    assert len(e.constraints.exclude) == 1 and e.constraints.exclude[0] in ("light", "lights")
    term = e.constraints.exclude[0]
    # Real online_retail titles, including the "20LIGHT" spelling (digits glued to the word).
    assert all(matches_term(t, term) for t in ("STAR T-LIGHT HOLDER", "FAIRY LIGHTS", "night light",
                                               "GREEN CHRISTMAS TREE STRING 20LIGHT"))
    assert not matches_term("PAPER CHAIN KIT", term)


def test_multi_turn_sizes_reach_the_plan() -> None:
    """mt-05 and mt-09 through parse_edit + apply_edit: the stated size is the size the turn assembles."""
    prices = {i: 1.0 for i in LIGHTS}
    state = ConversationState(shop="demo", constraints=parse_request("Lunch bags, 4 of them"), bundle=list(LIGHTS))
    new, plan = apply_edit(state, parse_edit("Make it 2", state.bundle, LIGHTS), prices=prices, titles=LIGHTS)
    assert plan.size == 2 and new.constraints.size == 2
    state = ConversationState(shop="demo", constraints=parse_request("Christmas decorations for £12"),
                              bundle=list(LIGHTS))
    new, plan = apply_edit(state, parse_edit("Remove anything with lights", state.bundle, LIGHTS), prices=prices,
                           titles=LIGHTS)
    assert plan.pinned == ["z"] and set(new.rejected) == {"x", "y", "w"} and new.constraints.exclude == ["lights"]
    new.bundle = plan.pinned
    new, plan = apply_edit(new, parse_edit("And make it 3 items", new.bundle, LIGHTS), prices=prices,
                           titles=LIGHTS)
    assert plan.size == 3 and new.constraints.size == 3 and new.constraints.budget == 12.0
    assert new.constraints.exclude == ["lights"]


def test_without_a_bundle_everything_is_a_new_request() -> None:
    assert parse_edit("remove the candle", [], {}).kind == "new"


@pytest.mark.parametrize(("phrase", "want"), [("the first one", ["a"]), ("number 4", ["d"]), ("#2", ["b"]),
                                              ("the last", ["d"]), ("the tin candle", ["b"]),
                                              ("the 9th one", []), ("the giraffe", []), ("all of them", BUNDLE)])
def test_resolve_targets(phrase: str, want: list[str]) -> None:
    assert resolve_targets(phrase, BUNDLE, TITLES) == want


@pytest.mark.parametrize(("text", "people", "size"), [
    ("a baking afternoon with my two nieces, about £15", 2, None),
    ("a sleepover for 5 teenagers under £30", 5, None),
    ("cupcakes for twelve grandkids", 12, None),
    ("3 mugs for my nephews", None, 3),
    ("4 little thank-you gifts for the nurses, under £20", None, 4),  # what kind of gift, between count and noun
    ("3 small birthday presents for my niece", None, 3),
    ("Five stocking fillers for children, £2 each at most", None, 5),
])
def test_a_head_count_is_people_not_the_bundle_size(text: str, people: int | None, size: int | None) -> None:
    c = parse_request(text)
    assert (c.people, c.size) == (people, size)


@pytest.mark.parametrize(("message", "query"), [
    ("a present for a friend who loves cats, under £15", "cats"),
    ("something nice for my sister who loves baking, no more than £18", "baking"),
    ("a gift for my gran who is into knitting", "knitting"),
    ("a gift for a keen gardener under £15", "a keen gardener"),   # no interest phrase: unchanged
])
def test_an_interest_is_what_is_searched(message: str, query: str) -> None:
    assert parse_request(message).query == query


@pytest.mark.parametrize(("text", "max_each", "budget", "query"), [
    ("a gift for my gran, nothing over £5 each", 5.0, None, "for grandma"),
    ("tea party for six, under £4 each", 4.0, None, "tea party"),
    ("stocking fillers, £3 a piece, around £20 in total", 3.0, 20.0, "stocking fillers"),
    ("mugs up to 2 pounds per item", 2.0, None, "mugs"),
    ("6 mugs, 2 each", None, None, "mugs, 2 each"),   # no currency, no keyword: a count, not money
    ("mugs under £25", None, 25.0, "mugs"),
    ("£3 a piece, under 20 in total", 3.0, 20.0, ""),   # the cap's currency stays the total's
])
def test_a_price_per_item_is_a_cap_on_each_item_not_the_total(text, max_each, budget, query) -> None:
    c = parse_request(text)
    assert (c.max_each, c.budget, c.query) == (max_each, budget, query)
    assert c.currency == ("GBP" if "£" in text or "pounds" in text else None)


@pytest.mark.parametrize("text, several", [
    ("maple syrup", True),                       # a bare name: its variants are the choice
    ("Christopher Bean Coffee under $30", True),
    ("Different flavors of pancake", True),      # asked in words
    ("assorted chocolates for my mum", True),
    ("a selection of teas", True),
    ("a teapot", False),                         # one teapot, in a bundle
    ("teapot and cups", False),                  # a list of things
    ("tea party for six", False),                # an occasion, a head count
    ("something different for my dad", False),
    ("a gift for my gran", False),
    ("scented candles and a tray", False),
])
def test_several_of_one_thing_are_wanted_when_asked_or_when_the_request_only_names_it(text, several) -> None:
    assert parse_request(text).similar_ok is several


@pytest.mark.parametrize("text, recipient, age", [
    ("Birthday present for a 2 year old, below £10", "kids", 2),      # named by age alone: a child
    ("a gift for my 7-year-old son", "son", 7),
    ("a gift for my 18 year old son", "son", 18),
    ("A present for a newborn baby girl, about £15", "baby", None),
    ("Baby's first Christmas - a present for my grandson", "grandchild", None),
    ("a present for a 40 year old", None, 40),                          # a grown-up, but who?
    ("a present for my little sister", "sister", None),
    ("stocking fillers for two boys aged 7 and 9", "kids", 7),
    ("a gift for my niece aged 12", "niece", 12),
])
def test_who_a_present_is_for_and_how_old(text, recipient, age) -> None:
    c = parse_request(text)
    assert (c.recipient, c.age) == (recipient, age)
    if "present" in text or "gift" in text:  # a present's age is read, not searched as words
        assert "year" not in c.query


def test_a_childs_age_stays_in_a_request_that_is_not_a_present() -> None:
    assert parse_request("Back to school bits for my 7 year old, under £10").query == "Back to school for a 7 year old"
