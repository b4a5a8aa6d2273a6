"""Request and edit parsing: the tables ARE the spec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.edits import parse_edit, resolve_targets
from assistant.parse import MAX_CHARS, clean_message, parse_request
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
    ("I need something nice for a wedding", dict(occasion="wedding")),
    ("not too expensive gift for kids", dict(exclude=[], recipient="kids")),
    ("hello", dict(query="hello", budget=None)),
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
]


@pytest.mark.parametrize(("text", "kind", "targets", "query", "cheaper"), EDITS, ids=[e[0] for e in EDITS])
def test_edit_table(text: str, kind: str, targets: list[str], query: str, cheaper: bool) -> None:
    e = parse_edit(text, BUNDLE, TITLES)
    assert (e.kind, e.targets, e.cheaper) == (kind, targets, cheaper)
    assert query in e.query


def test_edit_constraints_are_parsed() -> None:
    e = parse_edit("make it under £20", BUNDLE, TITLES)
    assert e.constraints.budget == 20.0
    assert parse_edit("no candles", BUNDLE, TITLES).constraints.exclude == ["candles"]


def test_without_a_bundle_everything_is_a_new_request() -> None:
    assert parse_edit("remove the candle", [], {}).kind == "new"


@pytest.mark.parametrize(("phrase", "want"), [("the first one", ["a"]), ("number 4", ["d"]), ("#2", ["b"]),
                                              ("the last", ["d"]), ("the tin candle", ["b"]),
                                              ("the 9th one", []), ("the giraffe", []), ("all of them", BUNDLE)])
def test_resolve_targets(phrase: str, want: list[str]) -> None:
    assert resolve_targets(phrase, BUNDLE, TITLES) == want
