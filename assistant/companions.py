"""Planning the kinds of a bundle: the request's anchor kind and the kinds the shop's baskets buy with it.

A ranked list cut at four is a list, not a bundle: "hosting a tea party" ranks bunting, doilies and teapots,
never the paper cups and plates a party needs, because nothing in the request's words says "cup". The shop's
own train baskets do: the kinds bought with bunting are paper cups, paper plates, garlands, party bags. So:

1. **Anchor**: the request's main kind whose two best items are closest to the request (cosine, the turn's
   own search pool): one kind that says what the request is about. Accessories never anchor.
2. **Companions**: ``Kinds.together(anchor, COMPANIONS_N)``: the kinds in at least 5 % of the anchor's train
   baskets, by lift normalised into [0, 1) (``retrieval/kinds.py``).
3. **A search among the companions' items** (``Filters.only_ids``) with the request itself, so the best
   paper cups *for this request* join the candidates whatever else ranks first.
4. **A bonus** in the ranking: an item of a companion kind gains ``weight x`` its kind's lift score, scaled
   by its own relevance (all of it at the relevance floor of ``turn.relevant_first``, none a margin below):
   a companion kind the baskets suggest but the request does not fit (a Christmas cracker for a picnic) gains
   nothing. Assembly then chooses among them as among any candidates (one per kind, budget, accessories last).

Nothing here is written for a catalog: kinds, lifts and cosines are the shop's own (``bundlebot index``).

>>> from retrieval.types import Item, ScoredItem
>>> cups = ScoredItem(Item("c", "paper cups"), 0.3, {}, {"relevance": 0.5})
>>> far = ScoredItem(Item("x", "christmas cracker"), 0.35, {}, {"relevance": 0.1})
>>> [(s.item.id, s.score) for s in with_companions([far, cups], {"c": 0.5, "x": 0.5}, 0.3, floor=0.4, margin=0.1)]
[('c', 0.45), ('x', 0.35)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from retrieval.types import ScoredItem

COMPANIONS_N = 8
"""Kinds bought with the anchor that the plan considers (``Kinds.together`` best first)."""
COMPANION_K = 10
"""Candidates kept from the search among the companions' items."""
ANCHOR_ITEMS = 2
"""An anchor kind's relevance: the mean cosine of its best this-many items (one lucky title is not a kind)."""


def anchor_kind(kinds: Any, pool: Any) -> str | None:
    """The main kind of the request's search ``pool`` (``retrieval.protocol.Pool``) whose best
    ``ANCHOR_ITEMS`` items are closest to the request; None without kinds or main items."""
    if kinds is None:
        return None
    sims: dict[str, list[float]] = defaultdict(list)
    for it, sim in pool.similarities():
        kind, role = kinds.of(it)
        if role == "main":
            sims[kind].append(sim)
    if not sims:
        return None

    def strength(kind: str) -> tuple[float, str]:
        best = sorted(sims[kind], reverse=True)[:ANCHOR_ITEMS]
        return sum(best) / ANCHOR_ITEMS, kind  # a kind with one item counts half: 0 for the missing one

    return max(sims, key=strength)


def companions(kinds: Any, anchor: str | None) -> dict[str, float]:
    """Kind -> how strongly the shop's train baskets buy it with ``anchor`` (normalised lift in [0, 1))."""
    if kinds is None or anchor is None:
        return {}
    return {k: float(w) for k, w in kinds.together(anchor, COMPANIONS_N) if kinds.role_of(k) == "main"}


def item_weights(kinds: Any, items: Sequence[Any], plan_kinds: dict[str, float]) -> dict[str, float]:
    """Item id -> its kind's companion weight, for the items of a companion kind."""
    if not plan_kinds or kinds is None:
        return {}
    return {it.id: plan_kinds[k] for it in items if (k := kinds.of(it)[0]) in plan_kinds}


def with_companions(ranked: list[ScoredItem], weights: dict[str, float], bonus: float, *, floor: float | None,
                    margin: float) -> list[ScoredItem]:
    """``ranked`` with each companion item's bonus (``bonus`` x its kind's weight x its relevance factor) added
    to its score and its breakdown (``companion``), re-sorted (stable). ``floor``: the relevance at which an
    item gets the whole bonus (None: every item does); ``margin`` below it, none."""
    if not weights or bonus <= 0:
        return ranked
    out = []
    for s in ranked:
        w = weights.get(s.item.id, 0.0)
        rel = s.evidence.get("relevance")
        if floor is not None and rel is not None and margin > 0:
            w *= min(max((float(rel) - (floor - margin)) / margin, 0.0), 1.0)
        if w <= 0:
            out.append(s)
            continue
        add = round(bonus * w, 6)
        out.append(ScoredItem(s.item, round(s.score + add, 6), {**s.breakdown, "companion": add}, s.evidence))
    return sorted(out, key=lambda s: -s.score)  # stable: ties keep the ranked order
