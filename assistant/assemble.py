"""Bundle assembly under whole-bundle constraints.

Hard constraints (never broken, whatever comes in): total <= budget, no excluded / out-of-stock / rejected
item, no item twice, prices known when a budget is set. Soft ones (met when possible, reported in ``unmet``
otherwise): size, must-haves, no near-duplicate substitutes, category diversity, complementarity.

Pinned items, must-haves and each kind the request names whole come first; the rest of the bundle is then
chosen at once as a small exact optimisation over the best candidates (``assistant.optimize``: relevance +
complementarity subject to budget, size, one item per kind, exclusions and quantities). If the solver fails
(no scipy, no optimum within its time limit) the greedy path runs instead: the best candidate that keeps the
bundle feasible, re-ranked after each pick, with a budget reserve (an item is taken only if the cheapest
fill of the remaining slots still fits), then dearer swaps up to a stated lower end (``_fill``).

With the shop's item kinds (``ShopFacts``; rules in ``assistant.rules``), a bundle holds one item per kind
(two doormats are one doormat too many) unless near-duplicates are allowed, and an accessory kind (wrap,
cards, tissue) that the request does not name is only a last add-on once a main item is in: never the gift
itself. A kind the request names in the plural ("cards for a birthday", "4 ornaments") may come several
times; "a teapot and some mugs" is one teapot. The occasion's own words name no kind ("a tea party" asks
for no tea). With a head count ("for six"), packs of a per-person kind come as often as the party needs
(``assistant.quantities``) and the total is the sum of price x quantity.

A stated lower end (``Constraints.budget_min``: "between £20 and £40", or "about £25" read as £20-£25) is
soft, and so is 60 % of a plain budget ("under £30": £18 or more, ``optimize.UNDER_SHARE``): items are
upgraded or swapped for dearer ones to reach it, never above the budget.

>>> from retrieval.types import Item, ScoredItem
>>> cands = [ScoredItem(Item("t", "WHITE TEAPOT", price=12.0), 0.9), ScoredItem(Item("t2", "RED TEAPOT",
...          price=9.0), 0.8), ScoredItem(Item("c", "CAKE STAND", price=8.0), 0.7),
...          ScoredItem(Item("k", "SCENTED CANDLE", price=3.0), 0.6)]
>>> a = assemble(cands, Constraints(budget=20.0, exclude=["candles"]), size=3)
>>> [s.item.id for s in a.items], a.total, a.unmet
(['t', 'c'], 20.0, ['size'])
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.optimize import choose
from assistant.prompting import format_price
from assistant.rules import (
    DIVERSITY_PENALTY,
    EPS,
    VARIANT_WORDS,
    Kinding,
    KindOf,
    ShopFacts,
    clashes,
    head_noun,
    is_substitute,
)
from assistant.text import matches_term, said_back
from assistant.types import Constraints
from retrieval.types import Item, ScoredItem

__all__ = ["VARIANT_WORDS", "Assembly", "KindOf", "ShopFacts", "assemble", "excluded_by", "hard_ok", "head_noun",
           "is_substitute"]

PREFER_BONUS = 0.5
RESCORE_TOP = 30
FILL_FROM = 30
"""Candidates a budget fill may swap in: the best remaining ones (a dearer item far down the list is not
what the shopper asked for)."""
log = logging.getLogger(__name__)

Rescore = Callable[[list[ScoredItem], list[Item]], list[ScoredItem]]


@dataclass
class Assembly:
    items: list[ScoredItem]
    total: float | None
    unmet: list[str] = field(default_factory=list)
    message: str = ""
    quantities: dict[str, int] = field(default_factory=dict)
    """Item id -> units of it in the bundle, where more than one ("for six": six mugs)."""

    def quantity(self, item_id: str) -> int:
        return self.quantities.get(item_id, 1)


def excluded_by(item: Item, terms: Sequence[str]) -> str | None:
    """The first exclusion term the item matches (title, description, category), or None."""
    text = " ".join([item.title, item.description, " ".join(item.category)])
    return next((t for t in terms if matches_term(text, t)), None)


def hard_ok(item: Item, c: Constraints, rejected: set[str]) -> bool:
    """The hard per-item constraints: in stock, not rejected, not excluded, a sane price (known if budgeted),
    at most the price asked per item."""
    if not item.in_stock or item.id in rejected or excluded_by(item, c.exclude):
        return False
    if item.price is None:
        return c.budget is None
    return math.isfinite(item.price) and item.price >= 0 and (c.max_each is None or item.price <= c.max_each)


def _dropped(item: Item, c: Constraints, rejected: set[str]) -> str:
    """Why a kept item left the bundle: the shopper's own words first (they asked for it), then the catalog."""
    if term := excluded_by(item, c.exclude):
        return f"'{item.title}' was taken out, as you asked (no {term})"
    if item.id in rejected:
        return f"'{item.title}' was taken out, as you asked"
    if not item.in_stock:
        return f"'{item.title}' is out of stock now, so it was dropped"
    return f"'{item.title}' no longer fits, so it was dropped"


def assemble(candidates: Sequence[ScoredItem], c: Constraints, *, size: int,
             pinned: Sequence[ScoredItem] = (), rejected: Sequence[str] = (), prefer: Sequence[str] = (),
             slot_max_price: float | None = None, slot_min_price: float | None = None,
             rescore: Rescore | None = None,
             known: Callable[[str], bool] | None = None, kind_of: KindOf | None = None,
             asked: str = "", shop: ShopFacts | None = None, optimise: bool = True, grow: int = 0,
             like: Sequence[Item] = (), needs: Sequence[str] = ()) -> Assembly:
    """Pick up to ``size`` items from ``candidates`` (best first) that together satisfy ``c``. The message
    names an exclusion or must-have only when ``known`` says the shop's catalog uses its words. ``asked``:
    the request's own words (an accessory they name is wanted for itself). ``shop``: the shop's kinds, pack
    sizes and co-purchase (default: ``kind_of`` alone). ``optimise``: choose the rest of the bundle as one
    exact optimisation (``_choose``), else greedily; the greedy path also runs when the solver fails. ``grow``:
    items the optimisation may add beyond ``size`` to reach the budget's lower end. ``like``: the items a swap
    replaces; a must-have of their kind comes before one of another ("swap the cups" keeps a cup and saucer).
    ``needs``: a gathering's needs, likeliest first; the optimisation values covering each once."""
    shop = shop or ShopFacts(kind_of=kind_of)
    kinds = Kinding(shop.kind_of, asked, shop.kinds, c.people, c.occasion)
    rej, notes = set(rejected), []
    chosen: list[ScoredItem] = []
    for p in pinned:
        if hard_ok(p.item, c, rej) and p.item.id not in {s.item.id for s in chosen} and _fits(chosen, p.item, c,
                                                                                              kinds):
            chosen.append(p)
        else:
            notes.append(_dropped(p.item, c, rej))
    pool = _pool(candidates, c, rej, {s.item.id for s in chosen}, slot_max_price, set(prefer), slot_min_price)
    unmet = _must_haves(chosen, pool, c, size, kinds, like)
    fixed = {p.item.id for p in pinned} | {s.item.id for s in chosen if any(kinds.names(s.item, t)
                                                                          for t in c.must_have)}
    first = len(chosen)
    _named_kinds(chosen, pool, c, size, kinds)
    picked = choose(chosen[:first], chosen[first:], pool, c, size, kinds, shop, grow, needs) if optimise else None
    if picked is not None:
        chosen = picked
    else:
        chosen, pool = _greedy(chosen, pool, c, size, kinds, rescore, set(prefer))
        chosen = _fill(chosen, pool, c, kinds, fixed)
    total = _total(chosen, kinds)
    if len(chosen) < size:
        unmet.append("size")
    if not chosen:
        unmet = ["nothing"]
    quantities = {s.item.id: q for s in chosen if (q := kinds.quantity(s.item)) != 1}
    return Assembly(chosen, total, unmet, _message(chosen, c, size, unmet, notes, known, kinds), quantities)


def _greedy(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int, kinds: Kinding,
            rescore: Rescore | None, prefer: set[str]) -> tuple[list[ScoredItem], list[ScoredItem]]:
    """The best remaining candidate that keeps the bundle feasible, one at a time, re-ranked after each;
    returns the bundle and what is left of the pool."""
    chosen, pool = list(chosen), [s for s in pool if s.item.id not in {o.item.id for o in chosen}]
    while len(chosen) < size and pool:
        pick = _next(chosen, pool, c, size, kinds)
        if pick is None:
            break
        chosen.append(pick)
        pool = [s for s in pool if s.item.id != pick.item.id]
        if rescore is not None and len(chosen) < size and pool:
            pool = _rescored(pool, chosen, rescore, prefer)
    return chosen, pool


def _pool(candidates: Sequence[ScoredItem], c: Constraints, rej: set[str], taken: set[str],
          slot_max_price: float | None, prefer: set[str], slot_min_price: float | None = None) -> list[ScoredItem]:
    seen, out = set(taken), []
    for s in candidates:
        it = s.item
        if it.id in seen or not hard_ok(it, c, rej):
            continue
        if slot_max_price is not None and (it.price is None or it.price >= slot_max_price):
            continue
        if slot_min_price is not None and (it.price is None or it.price <= slot_min_price):
            continue
        seen.add(it.id)
        out.append(ScoredItem(it, s.score + (PREFER_BONUS if it.id in prefer else 0.0), s.breakdown, s.evidence))
    out.sort(key=lambda s: -s.score)
    return out


def _rescored(pool: list[ScoredItem], chosen: list[ScoredItem], rescore: Rescore,
              prefer: set[str]) -> list[ScoredItem]:
    # only the head of the pool can still be picked in practice; rescoring all of it costs latency
    head, tail = pool[:RESCORE_TOP], pool[RESCORE_TOP:]
    by_id = {s.item.id: s for s in head}
    fresh = [s for s in rescore(head, [s.item for s in chosen]) if s.item.id in by_id]
    # rescoring only re-orders the same candidates; the hard filtering above stays valid
    out = [ScoredItem(by_id[s.item.id].item, s.score + (PREFER_BONUS if s.item.id in prefer else 0.0),
                      s.breakdown, s.evidence) for s in fresh]
    out.sort(key=lambda s: -s.score)
    return out + tail


def _fits(chosen: list[ScoredItem], item: Item, c: Constraints, kinds: Kinding, reserve: float = 0.0) -> bool:
    if c.budget is None:
        return True
    if item.price is None:
        return False
    return sum(kinds.cost(s.item) for s in chosen) + kinds.cost(item) + reserve <= c.budget + EPS


def _reserve(pool: list[ScoredItem], skip: str, slots: int, kinds: Kinding) -> float:
    costs = sorted(kinds.cost(s.item) for s in pool if s.item.id != skip and s.item.price is not None)
    return sum(costs[:max(slots, 0)])


def _must_haves(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int,
                kinds: Kinding, like: Sequence[Item] = ()) -> list[str]:
    unmet = []
    for term in c.must_have:
        if any(kinds.names(s.item, term) for s in chosen):
            continue
        if len(chosen) >= size:
            unmet.append("must_have")
            continue
        hits = [s for s in pool if kinds.names(s.item, term) and _fits(chosen, s.item, c, kinds)]
        hit = next((s for s in hits if any(kinds.same(s.item, old) for old in like)), hits[0] if hits else None)
        hit = hit or next((s for s in pool if matches_term(s.item.description, term)
                           and _fits(chosen, s.item, c, kinds)), None)  # a description names it too
        if hit is None:
            unmet.append("must_have")
            continue
        chosen.append(hit)
        pool.remove(hit)
    return list(dict.fromkeys(unmet))


def _named_kinds(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int,
                 kinds: Kinding) -> None:
    """Each kind the request names whole ("a teapot and some mugs": teapot, mug) gets its best candidate
    first, in the order of their best scores: a ranking that prefers a tea set's company to the teapot asked
    for still gives the teapot. In place; soft (what does not fit is left to the greedy picks)."""
    best: dict[str, ScoredItem] = {}
    for s in pool:
        k = kinds.of(s.item)
        if k is not None and k[0] not in best and kinds.names_whole(k[0]):
            best[k[0]] = s
    best = {k: s for k, s in best.items() if not any(kinds.said_within(k, other) for other in best)}
    for _, s in sorted(best.items(), key=lambda kv: -kv[1].score):
        if len(chosen) >= size or any(kinds.same(s.item, o.item) for o in chosen):
            continue
        if _fits(chosen, s.item, c, kinds, _reserve(pool, s.item.id, size - len(chosen) - 1, kinds)):
            chosen.append(s)
            pool.remove(s)


def _next(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int,
          kinds: Kinding | None = None) -> ScoredItem | None:
    """The best remaining candidate that keeps the bundle feasible; None when nothing fits any more. An
    accessory that waits is considered only when no other candidate fits and a main item is already in."""
    kinds = kinds or Kinding()
    waiting = {s.item.id for s in pool if kinds.waits(s.item)}
    pick = _best(chosen, pool, c, size, kinds, skip=waiting)
    if pick is None and waiting and any(not kinds.waits(s.item) for s in chosen):
        pick = _best(chosen, pool, c, size, kinds, skip=set())
    return pick


def _best(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int, kinds: Kinding,
          skip: set[str]) -> ScoredItem | None:
    slots = size - len(chosen) - 1
    best, best_score, fallback = None, -math.inf, None
    for s in pool:
        if s.item.id in skip:
            continue
        if clashes(s, chosen, c, kinds):
            continue
        if not _fits(chosen, s.item, c, kinds):
            continue
        fallback = fallback or s
        if not _fits(chosen, s.item, c, kinds, _reserve(pool, s.item.id, slots, kinds)):
            continue
        cats = [o.item.category[-1] for o in chosen if o.item.category]
        score = s.score - DIVERSITY_PENALTY * (cats.count(s.item.category[-1]) if s.item.category else 0)
        if score > best_score:
            best, best_score = s, score
    return best or fallback


def _fill(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, kinds: Kinding,
          fixed: set[str]) -> list[ScoredItem]:
    """Swap items for dearer ones until the total reaches ``c.budget_min`` ("about £25": at least £20), never
    above the budget and never breaking a rule the picks kept. Each swap takes, from the best ``FILL_FROM``
    remaining candidates, one of the same kind first (an upgrade), then the one that loses least score; pinned
    and must-have items stay."""
    if c.budget_min is None or c.budget is None or not chosen:
        return chosen
    chosen = list(chosen)
    for _ in range(2 * len(chosen)):
        total = sum(kinds.cost(s.item) for s in chosen)
        if total >= c.budget_min - EPS:
            break
        best: tuple[tuple[bool, float, float], int, ScoredItem] | None = None
        taken = {s.item.id for s in chosen}
        for j, out in enumerate(chosen):
            if out.item.id in fixed or out.item.price is None:
                continue
            others = chosen[:j] + chosen[j + 1:]
            for s in pool[:FILL_FROM]:
                gain = kinds.cost(s.item) - kinds.cost(out.item)
                if s.item.id in taken or s.item.price is None or gain <= EPS or total + gain > c.budget + EPS:
                    continue
                if clashes(s, others, c, kinds):
                    continue
                if kinds.waits(s.item) and not kinds.waits(out.item):
                    continue  # a main item is never traded for an accessory
                key = (kinds.same(s.item, out.item), s.score - out.score, gain)
                if best is None or key > best[0]:
                    best = (key, j, s)
        if best is None:
            break
        chosen[best[1]] = best[2]
    return chosen


def _total(chosen: list[ScoredItem], kinds: Kinding) -> float | None:
    """Sum of price x quantity; None when a price is unknown."""
    if any(s.item.price is None for s in chosen):
        return None
    return round(sum(kinds.cost(s.item) for s in chosen), 2)


def _message(chosen: list[ScoredItem], c: Constraints, size: int, unmet: list[str], notes: list[str],
             known: Callable[[str], bool] | None, kinds: Kinding) -> str:
    parts = list(notes)
    limits = []
    if c.budget is not None:
        limits.append(f"within {format_price(c.budget, c.currency)}")
    if c.exclude:
        limits.append("without " + said_back(c.exclude, "you excluded", known))
    where = (" " + " and ".join(limits)) if limits else ""
    if "nothing" in unmet:
        return " ".join(parts + [f"Nothing in the catalog fits{where}; try a higher budget or fewer limits."])
    if "size" in unmet:
        n = len(chosen)  # the shopper's count is theirs to hear back; the default size is not a request
        parts.append(f"Only {n} of the {size} items asked for fit{where}." if c.size is not None
                     else f"Only {n} thing{'s' * (n != 1)} {'fit' if n != 1 else 'fits'}{where}.")
    if "must_have" in unmet:
        missing = [t for t in c.must_have if not any(kinds.names(s.item, t) for s in chosen)]
        parts.append(f"Could not include {said_back(missing, known=known)}{where}.")
    return " ".join(parts)
