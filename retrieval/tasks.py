"""What the evaluation suites and the training data share: the shop each data set is served in, the requests
a split's baskets become, and making sure a shop is indexed. Both ``evaluation`` and ``finetune`` build on
this module; neither imports the other.

Requests (the same text for a test case and a training example of the same kind of basket):

- an Instacart basket item -> "I need <aisle>" (``aisle_of``, ``basket_aisles``);
- an Online Retail invoice -> its themes, size and real total (``budget_invoice``);
- a BundleRec bundle -> its intent, as written.

>>> from retrieval.types import Basket, Item
>>> items = {"a": Item("a", "FAIRY LIGHTS", category=("decor", "lights"), price=2.5)}
>>> budget_invoice(Basket("i1", ("a",), quantities=(2,)), items).request
'I need 1 thing for my shop: lights. My budget is £5.00.'
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrieval.types import Basket, Item

if TYPE_CHECKING:
    from bundlebot.config import AppConfig

log = logging.getLogger(__name__)

SHOP_OF_SOURCE = {"online-retail": "demo", "instacart": "instacart", "bundlerec-food": "bundlerec-food"}
"""The shop each shared data set is indexed and served in (the demo shop is Online Retail)."""
SOURCE_OF_SHOP = {**{shop: src for src, shop in SHOP_OF_SOURCE.items()}, "online-retail": "online-retail"}
BUDGET_MAX_SIZE = 8
"""The most items a budget request asks for (an invoice may hold hundreds)."""


def aisle_of(item: Item) -> str | None:
    """The finest category level (Instacart: department > aisle)."""
    return item.category[-1] if item.category else None


def basket_aisles(basket: Basket, items: dict[str, Item]) -> dict[str, str]:
    """The basket's distinct known items that have an aisle, with it (Instacart's 'missing' is none)."""
    out = {}
    for i in dict.fromkeys(basket.item_ids):
        aisle = aisle_of(items[i]) if i in items else None
        if aisle and aisle != "missing":
            out[i] = aisle
    return out


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
    """The budget request's text.

    >>> budget_request(["lights", "party supplies"], 3, 42.5)
    'I need 3 things for my shop: lights and party supplies. My budget is £42.50.'
    """
    what = _join(themes) if themes else "gifts"
    things = "thing" if size == 1 else "things"
    return f"I need {size} {things} for my shop: {what}. My budget is £{budget:.2f}."


def without_budget(request: str) -> str:
    """A budget request with its budget sentence taken out: the same need, as a shopper who names no budget.

    >>> without_budget("I need 3 things for my shop: lights and party supplies. My budget is £42.50.")
    'I need 3 things for my shop: lights and party supplies.'
    """
    return re.sub(r"\s*My budget is £[\d.]+\.$", "", request)


@dataclass(frozen=True)
class BudgetInvoice:
    """An invoice as a budget request: its priced items are the gold, their real total the budget."""

    request: str
    gold: list[str]
    total: float
    size: int
    themes: list[str]
    unit_total: float
    """The sum of one of each item (what a bundle of single items could cost)."""


def budget_invoice(basket: Basket, items: dict[str, Item]) -> BudgetInvoice | None:
    """The request of an invoice (None when none of its items has a catalog price)."""
    qty = basket.quantities or tuple(1 for _ in basket.item_ids)
    priced = [(items[i], q) for i, q in zip(basket.item_ids, qty, strict=True)
              if i in items and items[i].price is not None]
    if not priced:
        return None
    total = round(sum(it.price * q for it, q in priced), 2)  # type: ignore[operator]
    gold = list(dict.fromkeys(it.id for it, _ in priced))
    size = min(len(gold), BUDGET_MAX_SIZE)
    themes = invoice_themes([it for it, _ in priced])
    unit_total = round(sum(it.price for it, _ in priced), 2)  # type: ignore[misc]
    return BudgetInvoice(budget_request(themes, size, total), gold, total, size, themes, unit_total)


def indexed_count(config: AppConfig, shop: str) -> int:
    """How many catalog items the shop's index holds (0 if the shop does not exist)."""
    from retrieval.store import VectorStore

    store = VectorStore(config.retrieval.store, config.store_path)
    return store.shop(shop).count() if shop in store.shops() else 0


def ensure_indexed(config: AppConfig, shop: str, spec: str, n_items: int, progress: bool = True) -> float:
    """Index ``spec`` (a ``load_source`` spec) into ``shop`` unless its index already holds all ``n_items``
    catalog items; returns the seconds indexing took (0.0 when the index was there)."""
    if indexed_count(config, shop) >= n_items:
        return 0.0
    from retrieval.index import index_source

    t0 = time.perf_counter()
    log.info("indexing shop %r into %s (once; later runs reuse it)", shop, config.home_path)
    index_source(config, spec, shop, progress=progress)
    return time.perf_counter() - t0
