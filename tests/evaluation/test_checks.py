"""The occasion checks (needs, avoid, budget use, counts) and their slot matching, one by one: each passes
the answer a shopper would take and fails the one they would not."""

from __future__ import annotations

from typing import Any

import pytest

from evaluation.checks import CHECK_TYPES, fills, score, units, words_of
from evaluation.suites import Case, Slot
from evaluation.variants import Answer

CATALOG = {  # id: (title, price, kind)
    "pot": ("Regency Teapot Roses", 9.95, "teapot"),
    "cups": ("Set/6 Red Spotty Paper Cups", 0.65, "paper cup"),
    "mug": ("Spotty Tea Mug", 1.25, "mug"),
    "egg": ("Soldiers Egg Cup", 1.25, "cup"),
    "plates": ("Set/6 Posies Paper Plates", 0.85, "paper plate"),
    "stand": ("Regency Cakestand 3 Tier", 12.75, "cake stand"),
    "wrap": ("Wrap Carousel", 0.42, "wrap"),
    "card": ("Tea Party Birthday Card", 0.42, "card"),
    "holder": ("Card Holder Love Bird Small", 4.15, "card"),
    "xmas": ("Set Of 20 Vintage Christmas Napkins", 0.85, "napkin"),
}
DRINK = {"name": "something to drink from", "kinds": ["mug", "paper cup"], "words": ["cup", "teacup"],
         "unless": ["egg cup"]}
WRAPPING = {"name": "wrapping and cards", "kinds": ["wrap"], "words": ["wrap", "card"], "unless": ["card holder"]}


def _case(turn: str = "tea party", **checks: Any) -> Case:
    return Case.model_validate({"id": "t", "suite": "occasions", "shop": "demo", "turns": [turn],
                                "constraints": {"budget": 30}, "checks": checks})


def _score(case: Case, ids: list[str], quantities: dict[str, int] | None = None,
           total: float | None = None) -> tuple[dict[str, Any], list[str]]:
    items = [(i, CATALOG[i][1]) for i in ids]
    if total is None:
        total = round(sum(p * (quantities or {}).get(i, 1) for i, p in items), 2)
    ans = Answer(items=items, ranked=ids, total=total, quantities=quantities or {})
    prices = {i: p for i, (_, p, _) in CATALOG.items()}
    titles = {i: t for i, (t, _, _) in CATALOG.items()}
    kinds = {i: k for i, (_, _, k) in CATALOG.items()}
    return score(case, ans, prices, [], titles, kinds)


def test_words_are_whole_singular_and_phrases_consecutive() -> None:
    assert words_of("Regency Teacup And Saucer") == ["regency", "teacup", "and", "saucer"]
    assert fills(Slot(name="s", words=["teacups"]), "Regency Teacup And Saucer", None)  # plural or not
    assert not fills(Slot(name="s", words=["tea"]), "Regency Teapot Roses", None)  # whole words only
    assert fills(Slot(name="s", words=["cake stand"]), "Cake Stand Lace White", None)
    assert not fills(Slot(name="s", words=["cake stand"]), "Cake Tin And Stand", None)  # not consecutive
    assert fills(Slot(name="s", words=["t-light"]), "Set Of 6 T-lights Santa", None)


def test_a_slot_is_filled_by_kind_or_word_unless_excluded() -> None:
    drink = Slot.model_validate(DRINK)
    assert fills(drink, "Spotty Tea Mug", "mug")  # by kind
    assert fills(drink, "Pink Regency Teacup And Saucer", "saucer")  # by word
    assert not fills(drink, "Soldiers Egg Cup", "cup")  # the word matches, unless says no
    assert not fills(drink, "Regency Teapot Roses", "teapot")
    anything_but_wrap = Slot(name="a present", unless=["wrap", "card"])  # no kinds, no words: any other item
    assert fills(anything_but_wrap, "Regency Teapot Roses", "teapot")
    assert not fills(anything_but_wrap, "Wrap Carousel", "wrap")


def test_a_slot_that_names_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="every item would fill it"):
        Slot(name="anything")


@pytest.mark.parametrize(("title", "n"), [
    ("Set/6 Red Spotty Paper Cups", 6), ("Pack Of 20 Skull Paper Napkins", 20), ("S/4 Valentine Heart Box", 4),
    ("Set Of 72 Green Paper Doilies", 72), ("Funky Flower Picnic Bag For 4", 4), ("16 Piece Cutlery Set", 16),
    ("200 Bendy Skull Straws", 200), ("Pack Of Six Led Tea Lights", 6), ("3 Tier Cake Tin", 1),
    ("3 Hook Hanger Magic Garden", 1), ("Spotty Tea Mug", 1),
])
def test_units_read_from_the_title(title: str, n: int) -> None:
    assert units(title) == n


def test_needs_pass_when_every_slot_is_filled_and_fail_naming_the_one_missing() -> None:
    case = _case(needs=[DRINK, {"name": "something to serve on", "kinds": ["paper plate", "cake stand"]}])
    m, why = _score(case, ["pot", "mug", "stand"])
    assert m["check:needs"] == 1.0 and not why
    m, why = _score(case, ["pot", "egg", "stand"])  # an egg cup is not something to drink tea from
    assert m["check:needs"] == 0.0 and why == ["need 'something to drink from': no item"]
    assert m["checks_passed"] == 0.0


def test_needs_at_least_counts_the_items_filling_the_slot() -> None:
    case = _case(needs=[{**DRINK, "at_least": 2}])
    assert _score(case, ["mug", "cups"])[0]["check:needs"] == 1.0
    m, why = _score(case, ["mug", "pot"])
    assert m["check:needs"] == 0.0 and why == ["need 'something to drink from': 1 < 2 items"]


def test_avoid_allows_at_most_the_stated_number() -> None:
    case = _case(avoid=[{**WRAPPING, "at_most": 1}, {"name": "christmas", "words": ["christmas"]}])
    m, why = _score(case, ["pot", "wrap", "holder"])  # one wrap; a card holder is not a card
    assert m["check:avoid"] == 1.0 and not why
    m, why = _score(case, ["pot", "wrap", "card"])
    assert m["check:avoid"] == 0.0 and why == ["avoid 'wrapping and cards': ['wrap', 'card'] (at most 1)"]
    m, why = _score(case, ["pot", "xmas"])
    assert m["check:avoid"] == 0.0 and "avoid 'christmas'" in why[0]


def test_budget_use_is_the_share_of_the_budget_reached() -> None:
    case = _case(budget_use=0.7)  # budget 30: at least 21
    assert _score(case, ["pot", "stand"])[0]["check:budget_use"] == 1.0  # 22.70
    m, why = _score(case, ["pot", "mug"])  # 11.20
    assert m["check:budget_use"] == 0.0
    assert why == ["budget use 0.37 < 0.70 (total 11.20 of 30.00)"]
    assert _score(case, [], total=None)[0]["check:budget_use"] == 0.0  # nothing bought uses nothing


def test_budget_use_needs_a_budget() -> None:
    with pytest.raises(ValueError, match="budget_use needs a budget"):
        Case.model_validate({"id": "t", "suite": "s", "shop": "demo", "turns": ["tea"],
                             "checks": {"budget_use": 0.5}})


def test_covers_counts_quantity_times_the_units_in_the_title() -> None:
    case = _case(needs=[{**DRINK, "covers": 6}])
    assert _score(case, ["cups"])[0]["check:count"] == 1.0  # one Set/6
    assert _score(case, ["mug"], {"mug": 6})[0]["check:count"] == 1.0  # six mugs
    assert _score(case, ["mug", "cups"], {"mug": 2})[0]["check:count"] == 1.0  # 2 + 6
    m, why = _score(case, ["mug", "pot"])
    assert m["check:count"] == 0.0 and m["check:needs"] == 1.0  # a mug is there, but one mug for six
    assert why == ["need 'something to drink from' covers 1 < 6 (items ['mug'])"]


def test_item_counts_are_a_count_check() -> None:
    case = _case(min_items=4, max_items=4)
    assert _score(case, ["pot", "mug", "stand", "plates"])[0]["check:count"] == 1.0
    m, why = _score(case, ["pot", "mug"])
    assert m["check:count"] == 0.0 and why == ["2 items < min_items 4"]
    m, why = _score(case, ["pot", "mug", "stand", "plates", "cups"])
    assert m["check:count"] == 0.0 and why == ["5 items > max_items 4"]


def test_a_check_the_case_does_not_state_is_not_counted() -> None:
    m, why = _score(_case(), ["pot"])
    assert all(m[f"check:{t}"] is None for t in CHECK_TYPES) and not why


def test_a_crash_fails_every_check_the_case_states() -> None:
    case = _case(needs=[DRINK], budget_use=0.5)
    m, why = score(case, Answer(items=[], ranked=[], total=None, error="boom"), {}, [])
    assert m["check:needs"] == 0.0 and m["check:budget_use"] == 0.0
    assert m.get("check:avoid") is None and why == ["error: boom"]


def test_the_runner_scores_with_the_shops_kinds_and_the_answers_quantities() -> None:
    from evaluation.bundles import BundleFacts
    from evaluation.runner import _record
    from evaluation.shops import ShopData
    from evaluation.variants import from_result
    from retrieval.types import Item

    shop = ShopData.from_items("demo", [Item(i, t, price=p) for i, (t, p, _) in CATALOG.items()])
    shop.facts = BundleFacts({i: k for i, (_, _, k) in CATALOG.items()}, {k: "main" for *_, k in CATALOG.values()})
    case = _case(needs=[{"name": "a teapot", "kinds": ["teapot"]}, {**DRINK, "covers": 6}])
    res = {"items": [{"id": "pot", "price": 9.95}, {"id": "mug", "price": 1.25, "quantity": 6}], "total": 17.45}
    ans = from_result(res, res)  # a BundleResult's lines carry their quantity
    assert ans.quantities == {"mug": 6}
    rec = _record(case, ans, shop, [])
    assert rec["metrics"]["check:needs"] == 1.0 and rec["metrics"]["check:count"] == 1.0, rec["failures"]
    res["items"][1]["quantity"] = 1
    rec = _record(case, from_result(res, res), shop, [])
    assert rec["metrics"]["check:count"] == 0.0


def test_the_report_splits_a_suite_by_its_cases_split_and_wording() -> None:
    from evaluation.report import report_md
    from evaluation.runner import SuiteRun

    cases = [_case().model_copy(update={"id": f"c{n}", "meta": {"split": s, "wording": w}})
             for n, (s, w) in enumerate([("dev", "about"), ("test", "about"), ("test", "under")])]
    recs = [{"id": c.id, "failures": [] if n else ["x"], "answer": {"items": []},
             "metrics": {"checks_passed": float(n > 0), "check:needs": float(n > 0), "total/budget": 0.5 + n / 10,
                         "latency_ms": 1.0}} for n, c in enumerate(cases)]
    run = SuiteRun("occasions", cases, {"learned": recs}, seconds={"learned": 1.0})
    text = report_md([run], {})
    assert "### By split" in text and "### By wording" in text
    assert "| dev | learned | 1 | 0.000 (1) | 0.000 (1) |" in text
    assert "| test | learned | 2 | 1 (2) | 1 (2) |" in text
    assert "| about | learned | 2 | 0.500 (2) | 0.500 (2) | – (0) | – (0) | – (0) | 0.550 |" in text
    assert "| check:needs |" in text  # the occasions table shows each check type
