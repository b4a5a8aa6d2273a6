"""Bundle assembly under whole-bundle constraints.

Hard constraints (never broken, whatever comes in): total <= budget, no excluded / out-of-stock / rejected
item, no item twice, prices known when a budget is set. Soft ones (met when possible, reported in ``unmet``
otherwise): size, must-haves, no near-duplicate substitutes, category diversity, complementarity.

Greedy over the fused ranking, with a budget reserve: an item is taken only if the cheapest possible fill of
the remaining slots still fits, so one expensive first pick cannot starve the rest of the bundle.

With the shop's item kinds (``kind_of``: retrieval/kinds.py), a bundle holds one item per kind (two doormats
are one doormat too many) unless near-duplicates are allowed, and an accessory kind (wrap, cards, tissue) that
the request does not name is only a last add-on once a main item is in: never the gift itself. A kind the
request names in the plural ("cards for a birthday", "4 ornaments") may come several times; "a teapot and
some mugs" is one teapot.

A stated lower end (``Constraints.budget_min``: "between £20 and £40", or "about £25" read as £20-£25) is
soft: when the picks fall short, items are swapped for dearer ones (``_fill``) until it is reached.

>>> from retrieval.types import Item, ScoredItem
>>> cands = [ScoredItem(Item("t", "WHITE TEAPOT", price=12.0), 0.9), ScoredItem(Item("t2", "RED TEAPOT",
...          price=9.0), 0.8), ScoredItem(Item("c", "CAKE STAND", price=8.0), 0.7),
...          ScoredItem(Item("k", "SCENTED CANDLE", price=3.0), 0.6)]
>>> a = assemble(cands, Constraints(budget=20.0, exclude=["candles"]), size=3)
>>> [s.item.id for s in a.items], a.total, a.unmet
(['t', 'c'], 20.0, ['size'])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.prompting import format_price
from assistant.text import content_stems, jaccard, matches_term, said_back
from assistant.types import Constraints
from retrieval.types import Item, ScoredItem

# Words that describe a variant, not a kind of product: "TEAPOT RED RETROSPOT" is a teapot.
_VARIANT_WORDS_TEXT = (
    "red blue pink green white black ivory cream gold silver yellow orange purple grey gray brown "
    "natural retrospot polkadot spotty spot dot vintage regency rose floral flower design assorted "
    "colour colours style new classic heart hearts paisley gingham stripe stripes tin tiny jumbo single "
    "double "
)
VARIANT_WORDS = frozenset(_VARIANT_WORDS_TEXT.split())
PREFER_BONUS = 0.5
DIVERSITY_PENALTY = 0.15
RESCORE_TOP = 30
FILL_FROM = 30
"""Candidates a budget fill may swap in: the best remaining ones (a dearer item far down the list is not
what the shopper asked for)."""
EPS = 1e-9

Rescore = Callable[[list[ScoredItem], list[Item]], list[ScoredItem]]
KindOf = Callable[[Item], "tuple[str, str] | None"]
"""An item's (kind, role), role "main" or "accessory"; None where the shop has no kinds."""


@dataclass
class Assembly:
    items: list[ScoredItem]
    total: float | None
    unmet: list[str] = field(default_factory=list)
    message: str = ""


def excluded_by(item: Item, terms: Sequence[str]) -> str | None:
    """The first exclusion term the item matches (title, description, category), or None."""
    text = " ".join([item.title, item.description, " ".join(item.category)])
    return next((t for t in terms if matches_term(text, t)), None)


def head_noun(title: str) -> str | None:
    """The kind of product: the last content word that is not a colour/pattern. 'TEAPOT RED RETROSPOT' -> teapot."""
    words = [w for w in _ordered_stems(title) if w not in VARIANT_WORDS and w.isalpha() and len(w) > 2]
    return words[-1] if words else None


def _ordered_stems(title: str) -> list[str]:
    from assistant.text import STOPWORDS, stem, tokens

    return [stem(t) for t in tokens(title) if t not in STOPWORDS]


def is_substitute(a: Item, b: Item) -> bool:
    """Near-duplicates: mostly the same words once colours/patterns are set aside ('TEAPOT RED RETROSPOT' and
    'TEAPOT BLUE POLKADOT': four teapots are not a bundle). The reranker's embedding signal
    (evidence ``substitute_of``) is used on top of this, in ``assemble``."""
    sa, sb = content_stems(a.title) - VARIANT_WORDS, content_stems(b.title) - VARIANT_WORDS
    return jaccard(sa, sb) >= 0.5 or (bool(sa) and sa == sb)


def hard_ok(item: Item, c: Constraints, rejected: set[str]) -> bool:
    """The hard per-item constraints: in stock, not rejected, not excluded, a sane price (known if budgeted)."""
    if not item.in_stock or item.id in rejected or excluded_by(item, c.exclude):
        return False
    if item.price is None:
        return c.budget is None
    return math.isfinite(item.price) and item.price >= 0


def assemble(candidates: Sequence[ScoredItem], c: Constraints, *, size: int,
             pinned: Sequence[ScoredItem] = (), rejected: Sequence[str] = (), prefer: Sequence[str] = (),
             slot_max_price: float | None = None, rescore: Rescore | None = None,
             known: Callable[[str], bool] | None = None, kind_of: KindOf | None = None,
             asked: str = "") -> Assembly:
    """Pick up to ``size`` items from ``candidates`` (best first) that together satisfy ``c``. The message
    names an exclusion or must-have only when ``known`` says the shop's catalog uses its words. ``asked``:
    the request's own words (an accessory they name is wanted for itself)."""
    rej, notes = set(rejected), []
    chosen: list[ScoredItem] = []
    for p in pinned:
        if hard_ok(p.item, c, rej) and p.item.id not in {s.item.id for s in chosen} and _fits(chosen, p.item, c):
            chosen.append(p)
        else:
            notes.append(f"'{p.item.title}' no longer fits, so it was dropped")
    pool = _pool(candidates, c, rej, {s.item.id for s in chosen}, slot_max_price, set(prefer))
    unmet = _must_haves(chosen, pool, c, size)
    kinds = Kinding(kind_of, asked)
    _named_kinds(chosen, pool, c, size, kinds)
    while len(chosen) < size and pool:
        pick = _next(chosen, pool, c, size, kinds)
        if pick is None:
            break
        chosen.append(pick)
        pool = [s for s in pool if s.item.id != pick.item.id]
        if rescore is not None and len(chosen) < size and pool:
            pool = _rescored(pool, chosen, rescore, set(prefer))
    fixed = {p.item.id for p in pinned} | {s.item.id for s in chosen if any(matches_term(s.item.title, t)
                                                                          for t in c.must_have)}
    chosen = _fill(chosen, pool, c, kinds, fixed)
    total = _total(chosen)
    if len(chosen) < size:
        unmet.append("size")
    if not chosen:
        unmet = ["nothing"]
    return Assembly(chosen, total, unmet, _message(chosen, c, size, unmet, notes, known))


def _pool(candidates: Sequence[ScoredItem], c: Constraints, rej: set[str], taken: set[str],
          slot_max_price: float | None, prefer: set[str]) -> list[ScoredItem]:
    seen, out = set(taken), []
    for s in candidates:
        it = s.item
        if it.id in seen or not hard_ok(it, c, rej):
            continue
        if slot_max_price is not None and (it.price is None or it.price >= slot_max_price):
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


def _fits(chosen: list[ScoredItem], item: Item, c: Constraints, reserve: float = 0.0) -> bool:
    if c.budget is None:
        return True
    if item.price is None:
        return False
    return sum(s.item.price or 0.0 for s in chosen) + item.price + reserve <= c.budget + EPS


def _reserve(pool: list[ScoredItem], skip: str, slots: int) -> float:
    prices = sorted(s.item.price for s in pool if s.item.id != skip and s.item.price is not None)
    return sum(prices[:max(slots, 0)])


def _must_haves(chosen: list[ScoredItem], pool: list[ScoredItem], c: Constraints, size: int) -> list[str]:
    unmet = []
    for term in c.must_have:
        if any(matches_term(s.item.title, term) for s in chosen):
            continue
        if len(chosen) >= size:
            unmet.append("must_have")
            continue
        hit = next((s for s in pool if matches_term(" ".join([s.item.title, s.item.description]), term)
                    and _fits(chosen, s.item, c)), None)
        if hit is None:
            unmet.append("must_have")
            continue
        chosen.append(hit)
        pool.remove(hit)
    return list(dict.fromkeys(unmet))


def _same_word(kind_word: str, asked: str) -> bool:
    """One word starts the other ("wrapping" - "wrap"), both at least three letters long."""
    return min(len(kind_word), len(asked)) >= 3 and (asked.startswith(kind_word) or kind_word.startswith(asked))


@dataclass
class Kinding:
    """The kind rules of one assembly: which kinds are taken, which candidates wait as accessories."""

    kind_of: KindOf | None = None
    asked: str = ""

    def __post_init__(self) -> None:
        from assistant.text import stem, tokens

        self._asked = content_stems(self.asked)
        # "mugs", "cards": several are wanted; "a teapot" is one teapot
        self._plural = {stem(t) for t in tokens(self.asked) if stem(t) != t.lower()}

    def of(self, item: Item) -> tuple[str, str] | None:
        return self.kind_of(item) if self.kind_of is not None else None

    def named(self, kind: str, plural: bool = False) -> bool:
        """Whether the request names the kind: a word of it starts the other's ("wrapping" - "wrap");
        ``plural``: and names it in the plural ("mugs")."""
        asked = self._plural if plural else self._asked
        return any(_same_word(w, a) for w in content_stems(kind) for a in asked)

    def names_whole(self, kind: str) -> bool:
        """Every word of the kind is in the request ("a tea set" names "tea set"; "tea party" does not)."""
        words = content_stems(kind)
        return bool(words) and all(any(_same_word(w, a) for a in self._asked) for w in words)

    def waits(self, item: Item) -> bool:
        """An accessory the request does not name: picked only after a main item."""
        k = self.of(item)
        return k is not None and k[1] == "accessory" and not self.named(k[0])

    def same(self, a: Item, b: Item) -> bool:
        ka, kb = self.of(a), self.of(b)
        return ka is not None and kb is not None and ka[0] == kb[0]

    def taken(self, item: Item, chosen: list[ScoredItem]) -> bool:
        """A kind already in the bundle, unless the request names that kind in the plural ("4 ornaments")."""
        k = self.of(item)
        if k is None or self.named(k[0], plural=True):
            return False
        return any((o := self.of(s.item)) is not None and o[0] == k[0] for s in chosen)


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
    for _, s in sorted(best.items(), key=lambda kv: -kv[1].score):
        if len(chosen) >= size or any(kinds.same(s.item, o.item) for o in chosen):
            continue
        if _fits(chosen, s.item, c, _reserve(pool, s.item.id, size - len(chosen) - 1)):
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
        if not c.similar_ok and (s.evidence.get("substitute_of") in {o.item.id for o in chosen}
                                 or any(is_substitute(s.item, o.item) for o in chosen)
                                 or kinds.taken(s.item, chosen)):
            continue
        if not _fits(chosen, s.item, c):
            continue
        fallback = fallback or s
        if not _fits(chosen, s.item, c, _reserve(pool, s.item.id, slots)):
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
        total = sum(s.item.price or 0.0 for s in chosen)
        if total >= c.budget_min - EPS:
            break
        best: tuple[tuple[bool, float, float], int, ScoredItem] | None = None
        taken = {s.item.id for s in chosen}
        for j, out in enumerate(chosen):
            if out.item.id in fixed or out.item.price is None:
                continue
            others = chosen[:j] + chosen[j + 1:]
            for s in pool[:FILL_FROM]:
                gain = (s.item.price or 0.0) - out.item.price
                if s.item.id in taken or s.item.price is None or gain <= EPS or total + gain > c.budget + EPS:
                    continue
                if not c.similar_ok and (s.evidence.get("substitute_of") in {o.item.id for o in others}
                                         or any(is_substitute(s.item, o.item) for o in others)
                                         or kinds.taken(s.item, others)):
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


def _total(chosen: list[ScoredItem]) -> float | None:
    prices = [s.item.price for s in chosen]
    if not prices or any(p is None for p in prices):
        return None if prices else 0.0
    return round(sum(p for p in prices if p is not None), 2)


def _message(chosen: list[ScoredItem], c: Constraints, size: int, unmet: list[str], notes: list[str],
             known: Callable[[str], bool] | None) -> str:
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
        parts.append(f"Only {len(chosen)} of the {size} items asked for fit{where}.")
    if "must_have" in unmet:
        missing = [t for t in c.must_have if not any(matches_term(s.item.title, t) for s in chosen)]
        parts.append(f"Could not include {said_back(missing, known=known)}{where}.")
    return " ".join(parts)
