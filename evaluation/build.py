"""Build the generated suites from the shared data sets, using exactly the README's splits.

- ``bundle-intent``: BundleRec bundles of the split; the intent is the request, gold = the bundle's items.
- ``personal-aisle``: Instacart baskets of the split; one case per distinct item of a shopper's basket:
  "I need <aisle>" as that shopper; gold = the product bought, gold category = its aisle.
- ``budget``: Online Retail invoices of the split: a request naming the invoice's themes (its items' most
  common product types), the invoice's real total (catalog unit price x quantity) as the budget.
- ``adversarial``: red-team requests from templates and the Online Retail catalog text, in the robustness
  and demo shops (evaluation/adversarial.py); the same cases whatever the split.

Builders are pure functions of a ``SourceData``; ``build_suites`` loads the sources and writes JSONL files.

>>> from retrieval.types import Basket, Item, SourceData
>>> src = SourceData("t", [Item("a", "Oat Milk", category=("dairy eggs", "milk"))], [], [],
...                  test=[Basket("o1", ("a",), shopper_id="7")])
>>> [(c.id, c.turns, c.shopper, c.gold_items) for c in personal_aisle_cases(src, "test")]
[('pa-o1-a', ['I need milk'], '7', ['a'])]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from evaluation.adversarial import adversarial_cases
from evaluation.suites import ADVERSARIAL, Case, CaseConstraints, Checks, write_suite
from retrieval.tasks import SHOP_OF_SOURCE, basket_aisles, budget_invoice
from retrieval.types import Basket, SourceData

log = logging.getLogger(__name__)

# Which shared data set each generated suite comes from, and the shop it is evaluated in.
SOURCES = {suite: (source, SHOP_OF_SOURCE[source]) for suite, source in
           (("bundle-intent", "bundlerec-food"), ("personal-aisle", "instacart"), ("budget", "online-retail"))}


def _check_split(split: str) -> None:
    if split not in ("dev", "test"):
        raise ValueError(f"split should be 'dev' or 'test', got {split!r}")


def _split(src: SourceData, split: str) -> list[Basket]:
    _check_split(split)
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


def personal_aisle_cases(src: SourceData, split: str, shop: str = "instacart") -> list[Case]:
    """One case per distinct item of each basket of the split, asked as its shopper by aisle name."""
    items = {it.id: it for it in src.items}
    cases = []
    for b in _split(src, split):
        for item_id, aisle in basket_aisles(b, items).items():
            cases.append(Case(
                id=f"pa-{b.id}-{item_id}", suite="personal-aisle", shop=shop, shopper=b.shopper_id,
                turns=[f"I need {aisle}"], gold_items=[item_id], gold_categories=[aisle],
                constraints=CaseConstraints(categories=[aisle]),
                meta={"source": src.name, "split": split, "basket": b.id}))
    return cases


def budget_cases(src: SourceData, split: str, shop: str = "demo") -> list[Case]:
    """One case per invoice of the split; budget = sum of catalog price x quantity over its lines."""
    items = {it.id: it for it in src.items}
    cases = []
    for b in _split(src, split):
        inv = budget_invoice(b, items)
        if inv is None:
            continue
        cases.append(Case(
            id=f"bu-{b.id}", suite="budget", shop=shop, shopper=b.shopper_id,
            turns=[inv.request], gold_items=inv.gold, gold_categories=inv.themes,
            constraints=CaseConstraints(budget=inv.total, size=inv.size), checks=Checks(max_total=inv.total),
            meta={"source": src.name, "split": split, "invoice": b.id, "unit_total": inv.unit_total}))
    return cases


BUILDERS: dict[str, Callable[[SourceData, str], list[Case]]] = {
    "bundle-intent": bundle_intent_cases, "personal-aisle": personal_aisle_cases, "budget": budget_cases}
ADVERSARIAL_SOURCE = "online-retail"
"""The adversarial suite's catalog text; its cases name their own shops (robustness, demo)."""


def build_suites(data_dir: Path, out_dir: Path, split: str = "test",
                 names: tuple[str, ...] = (*BUILDERS, *ADVERSARIAL)) -> dict[str, tuple[Path, int]]:
    """Write each generated suite to ``out_dir/<name>.jsonl``; returns {name: (path, n cases)}."""
    from retrieval.importers import load_source

    _check_split(split)  # before anything loads, and for the adversarial suite too, which reads no split
    written, sources = {}, {}
    for name in names:
        spec = ADVERSARIAL_SOURCE if name in ADVERSARIAL else SOURCES[name][0]
        if spec not in sources:  # budget and adversarial read the same source: load it once
            sources[spec] = load_source(spec, data_dir)
        src = sources[spec]
        if name in ADVERSARIAL:
            cases = adversarial_cases(src, split)
        else:
            cases = BUILDERS[name](src, split)
            for c in cases:
                c.shop = SOURCES[name][1]
        path = write_suite(cases, out_dir / f"{name}.jsonl")
        log.info("%s: %d cases (%s split) -> %s", name, len(cases), split, path)
        written[name] = (path, len(cases))
    return written
