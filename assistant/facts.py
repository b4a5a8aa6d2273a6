"""The facts block of the explanation prompt: what is TRUE of a bundle, stated in words the model can copy.

A small model writes true sentences when the true sentence is in its prompt, so every claim an explanation
may make is computed here and shown as one line: the kinds the bundle covers, how the total uses the budget,
pairs of its items that were bought together (with the count of orders, from the shop's co-purchase
statistics, fitted on TRAIN baskets only), the items the shopper bought before and when, and the most
ordered item. The service (``ShoppingAssistant._facts``), the training data (``finetune.explain_data``) and
the grounding measurement fill it with this one function, so the model is trained on what it is shown.

>>> from assistant.types import BundleLine, Constraints
>>> lines = [BundleLine("t", "White teapot", 12.5, "GBP", ""), BundleLine("m", "Rose mug", 2.5, "GBP", "")]
>>> f = explain_facts(lines, 15.0, Constraints(budget=20.0, occasion="tea party"), "tea party", [],
...                   kind_of={"t": "teapot", "m": "mug"}.get, together=lambda a, b: 312, bought=lambda i: 0)
>>> print("\\n".join(f.statements))
- 2 items, 2 kinds: teapot, mug
- total £15.00 of the £20.00 budget, £5.00 left
- White teapot and Rose mug were bought together in 312 orders
- for: tea party
>>> f.counts, f.kinds
([312], ['teapot', 'mug'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from assistant.explain import Facts, month
from assistant.prompting import display_title, format_history, format_price
from assistant.types import Constraints
from retrieval.types import Event, Item

PAIRS_SHOWN = 2
HISTORY_SHOWN = 2
MIN_TOGETHER = 2
"""A pair seen together once is chance (the co-purchase statistics' own ``min_count``)."""
MIN_ORDERS = 10
"""The most ordered item is named only when it was ordered this often."""
Lookup = Callable[[str], Any]


@dataclass
class Evidence:
    """A bundle's facts as data: rendered as the facts block (``statements``) and, by the training data, as
    explanation targets in varied wording."""

    n: int
    kinds: list[str]
    total: float | None
    budget: float | None
    left: float | None
    currency: str | None
    pairs: list[tuple[str, str, int]] = field(default_factory=list)
    """(title, title, orders holding both), most first."""
    history: list[tuple[str, str, bool]] = field(default_factory=list)
    """(history title, 'May 2011', is it a bundle item itself)."""
    top: tuple[str, int] | None = None
    """The most ordered bundle item and its order count."""
    occasion: str = ""
    named: list[str] | None = None
    """The kinds a sentence may call the items by (``Kinds.nameable``; None: all of ``kinds``)."""


def bundle_evidence(lines: Sequence[Any], total: float | None, c: Constraints,
                    history: Sequence[tuple[Item, Event]], *, kind_of: Lookup = lambda i: None,
                    together: Callable[[str, str], int] | None = None,
                    bought: Callable[[str], int] | None = None,
                    nameable: Callable[[str], bool] | None = None) -> Evidence:
    """``kind_of(item id)`` -> kind or None; ``together(a, b)`` -> orders holding both; ``bought(id)`` ->
    orders holding the item; ``nameable(kind)`` -> whether prose may use it (``shop_lookups`` gives all four
    from a retriever)."""
    currency = (lines[0].currency if lines else None) or c.currency
    left = round(c.budget - total, 2) if c.budget is not None and total is not None else None
    ev = Evidence(len(lines), list(dict.fromkeys(k for ln in lines if (k := kind_of(ln.id)))), total, c.budget,
                  left, currency)
    if nameable is not None:
        ev.named = [k for k in ev.kinds if nameable(k)]
    if together is not None:
        pairs = sorted(((together(a.id, b.id), a, b) for a, b in combinations(lines, 2)), key=lambda p: -p[0])
        ev.pairs = [(display_title(a.title), display_title(b.title), n) for n, a, b in pairs
                    if n >= MIN_TOGETHER][:PAIRS_SHOWN]
    ev.history = _history(lines, history, kind_of)
    if bought is not None and lines:
        n, top = max(((bought(ln.id), ln) for ln in lines), key=lambda p: p[0])
        ev.top = (display_title(top.title), n) if n >= MIN_ORDERS else None
    ev.occasion = ", ".join(filter(None, [c.occasion, c.recipient and f"your {c.recipient}",
                                          c.people and f"{c.people} people"]))
    return ev


def statements(ev: Evidence) -> list[str]:
    """The facts block: one fact a line."""
    price = lambda x: format_price(x, ev.currency)  # noqa: E731
    out = [_size_line(ev.n, ev.kinds)]
    if ev.total is not None:
        out.append(f"total {price(ev.total)}" + (f" of the {price(ev.budget)} budget, {price(ev.left)} left"
                                                 if ev.budget is not None else ""))
    out += [f"{a} and {b} were bought together in {n} orders" for a, b, n in ev.pairs]
    out += [f"you bought the {t}{' before' * again}" + (f" in {when}" if when else "") for t, when, again in ev.history]
    if ev.top:
        out.append(f"{ev.top[0]} is in {ev.top[1]} orders of this shop")
    if ev.occasion:
        out.append(f"for: {ev.occasion}")
    return [f"- {s}" for s in out]


def explain_facts(lines: Sequence[Any], total: float | None, c: Constraints, query: str,
                  history: Sequence[tuple[Item, Event]], others: Sequence[str] = (), **lookups: Any) -> Facts:
    """The check's ``Facts`` of a bundle, with ``statements``: the prompt's facts block (``lookups``: those
    of ``bundle_evidence``)."""
    ev = bundle_evidence(lines, total, c, history, **lookups)
    kind_of = lookups.get("kind_of") or (lambda i: None)
    shown = statements(ev)
    numbers = [float(x) for x in (c.budget_min, c.people, c.size, ev.left) if x is not None]
    counts = [n for *_, n in ev.pairs] + ([ev.top[1]] if ev.top else [])
    return Facts(titles=[ln.title for ln in lines], prices=[ln.price for ln in lines], total=total,
                 budget=c.budget, currency=ev.currency, context=[query, format_history(history), *shown,
                          *(ln.category for ln in lines if getattr(ln, "category", ""))],
                 others=[o for o in others if o], numbers=numbers, kinds=ev.kinds, counts=counts,
                 statements=shown, request=" ".join(filter(None, [query, c.occasion, c.recipient])), evidence=ev,
                 budget_min=c.budget_min, item_kinds=[kind_of(ln.id) for ln in lines],
                 line_totals=[round(ln.price * q, 2) for ln in lines
                              if ln.price is not None and (q := getattr(ln, "quantity", 1)) > 1])


def _size_line(n: int, kinds: list[str]) -> str:
    items = f"{n} item{'s' * (n != 1)}"
    if not kinds:
        return items
    return f"{items}, {len(kinds)} kind{'s' * (len(kinds) != 1)}: {', '.join(kinds)}"


def _history(lines: Sequence[Any], history: Sequence[tuple[Item, Event]],
             kind_of: Lookup) -> list[tuple[str, str, bool]]:
    """Bundle items the shopper bought before, then history items of a kind the bundle holds."""
    ids = {ln.id for ln in lines}
    kinds = {kind_of(ln.id) for ln in lines} - {None}
    again = [(it, ev) for it, ev in history if it.id in ids]
    alike = [(it, ev) for it, ev in history if it.id not in ids and kind_of(it.id) in kinds]
    return [(display_title(it.title), month(ev.timestamp), it.id in ids) for it, ev in (again + alike)[:HISTORY_SHOWN]]


def shop_lookups(retriever: Any) -> dict[str, Any]:
    """``explain_facts``' lookups for a shop: its kinds (``ShopRetriever.kind``) and, when the retriever has
    co-purchase statistics (``Retriever.stats``, fitted on train baskets; a shop without baskets has none),
    the pair and item order counts."""
    def kind_of(item_id: str) -> str | None:
        item = retriever.item(item_id)
        found = retriever.kind(item) if item is not None else None
        return found[0] if found else None

    kinds = retriever.shop_kinds()
    names = {"kind_of": kind_of, **({"nameable": kinds.nameable} if kinds is not None else {})}
    stats = getattr(retriever, "stats", None)
    if stats is None:
        return names
    return {**names, "together": lambda a, b: int(stats.stats(a, b)["count_ab"]), "bought": stats.popularity}
