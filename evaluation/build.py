"""Build the generated suites from the shared data sets, using exactly the README's splits.

- ``bundle-intent``: BundleRec bundles of the split; the intent is the request, gold = the bundle's items.
- ``personal-aisle``: Instacart baskets of the split; one case per distinct item of a shopper's basket:
  "I need <aisle>" as that shopper; gold = the product bought, gold category = its aisle.
- ``budget``: Online Retail invoices of the split: a request naming the invoice's themes (its items' most
  common product types), the invoice's real total (catalog unit price x quantity) as the budget.

Builders are pure functions of a ``SourceData``; ``build_suites`` loads the sources and writes JSONL files.

>>> from retrieval.types import Basket, Item, SourceData
>>> src = SourceData("t", [Item("a", "Oat Milk", category=("dairy eggs", "milk"))], [], [],
...                  test=[Basket("o1", ("a",), shopper_id="7")])
>>> [(c.id, c.turns, c.shopper, c.gold_items) for c in personal_aisle_cases(src, "test")]
[('pa-o1-a', ['I need milk'], '7', ['a'])]
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from evaluation.suites import Case, CaseConstraints, Checks, write_suite
from retrieval.types import Basket, Item, SourceData

log = logging.getLogger(__name__)

# Which shared data set each generated suite comes from, and the shop it is evaluated in.
SOURCES = {"bundle-intent": ("bundlerec-food", "bundlerec-food"),
           "personal-aisle": ("instacart", "instacart"),
           "budget": ("online-retail", "demo")}
BUDGET_MAX_SIZE = 8


def _split(src: SourceData, split: str) -> list[Basket]:
    if split not in ("dev", "test"):
        raise ValueError(f"split should be 'dev' or 'test', got {split!r}")
    return src.dev if split == "dev" else src.test


def _dedup(ids: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(ids))


def bundle_intent_cases(src: SourceData, split: str, shop: str = "bundlerec-food",
                        suite: str = "bundle-intent") -> list[Case]:
    """One case per bundle with an intent text; works for any BundleRec-format source."""
    known = {it.id for it in src.items}
    cases = []
    for b in _split(src, split):
        gold = [i for i in _dedup(b.item_ids) if i in known]
        if not b.intent or not b.intent.strip() or not gold:
            continue
        cases.append(Case(id=f"bi-{b.id}", suite=suite, shop=shop, turns=[b.intent.strip()], gold_items=gold,
                          meta={"source": src.name, "split": split, "bundle": b.id}))
    return cases


def aisle_of(item: Item) -> str | None:
    """The finest category level (Instacart: department > aisle)."""
    return item.category[-1] if item.category else None


def personal_aisle_cases(src: SourceData, split: str, shop: str = "instacart") -> list[Case]:
    """One case per distinct item of each basket of the split, asked as its shopper by aisle name."""
    items = {it.id: it for it in src.items}
    cases = []
    for b in _split(src, split):
        for item_id in _dedup(b.item_ids):
            it = items.get(item_id)
            aisle = aisle_of(it) if it else None
            if not aisle or aisle == "missing":
                continue
            cases.append(Case(
                id=f"pa-{b.id}-{item_id}", suite="personal-aisle", shop=shop, shopper=b.shopper_id,
                turns=[f"I need {aisle}"], gold_items=[item_id], gold_categories=[aisle],
                constraints=CaseConstraints(categories=[aisle]),
                meta={"source": src.name, "split": split, "basket": b.id}))
    return cases


def invoice_themes(items: list[Item], n: int = 3) -> list[str]:
    """The invoice's most common product types (ties by name), 'other' left out.

    >>> its = [Item("1", "A", category=("decor", "lights")), Item("2", "B", category=("decor", "lights")),
    ...        Item("3", "C", category=("party", "party supplies")), Item("4", "D", category=("other",))]
    >>> invoice_themes(its)
    ['lights', 'party supplies']
    """
    counts = Counter(it.category[-1] for it in items if it.category and it.category[-1] != "other")
    return [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def budget_request(themes: list[str], size: int, budget: float) -> str:
    """The budget suite's request text.

    >>> budget_request(["lights", "party supplies"], 3, 42.5)
    'I need 3 things for my shop: lights and party supplies. My budget is £42.50.'
    """
    what = _join(themes) if themes else "gifts"
    things = "thing" if size == 1 else "things"
    return f"I need {size} {things} for my shop: {what}. My budget is £{budget:.2f}."


def budget_cases(src: SourceData, split: str, shop: str = "demo") -> list[Case]:
    """One case per invoice of the split; budget = sum of catalog price x quantity over its lines."""
    items = {it.id: it for it in src.items}
    cases = []
    for b in _split(src, split):
        qty = b.quantities or tuple(1 for _ in b.item_ids)
        lines = [(items[i], q) for i, q in zip(b.item_ids, qty, strict=True) if i in items]
        priced = [(it, q) for it, q in lines if it.price is not None]
        if not priced:
            continue
        total = round(sum(it.price * q for it, q in priced), 2)  # type: ignore[operator]
        gold = _dedup(tuple(it.id for it, _ in priced))
        size = min(len(gold), BUDGET_MAX_SIZE)
        themes = invoice_themes([it for it, _ in priced])
        cases.append(Case(
            id=f"bu-{b.id}", suite="budget", shop=shop, shopper=b.shopper_id,
            turns=[budget_request(themes, size, total)], gold_items=gold, gold_categories=themes,
            constraints=CaseConstraints(budget=total, size=size), checks=Checks(max_total=total),
            meta={"source": src.name, "split": split, "invoice": b.id,
                  "unit_total": round(sum(it.price for it, _ in priced), 2)}))  # type: ignore[misc]
    return cases


BUILDERS: dict[str, Callable[[SourceData, str], list[Case]]] = {
    "bundle-intent": bundle_intent_cases, "personal-aisle": personal_aisle_cases, "budget": budget_cases}


def build_suites(data_dir: Path, out_dir: Path, split: str = "test",
                 names: tuple[str, ...] = tuple(BUILDERS)) -> dict[str, tuple[Path, int]]:
    """Write each generated suite to ``out_dir/<name>.jsonl``; returns {name: (path, n cases)}."""
    from retrieval.importers import load_source

    written = {}
    for name in names:
        spec, shop = SOURCES[name]
        src = load_source(spec, data_dir)
        cases = BUILDERS[name](src, split)
        for c in cases:
            c.shop = shop
        path = write_suite(cases, out_dir / f"{name}.jsonl")
        log.info("%s: %d cases (%s split) -> %s", name, len(cases), split, path)
        written[name] = (path, len(cases))
    return written
