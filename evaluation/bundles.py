"""Is an answer a bundle or a list? Per answer, from the shop's item kinds and its held-out baskets:

- ``kind_diversity``: the share of the bundle's items whose kind no other item of it has (two doormats and a
  mug: 1/3); None for an empty bundle;
- ``kind_diversity_unasked``: the same, unless multiples were asked: an item of a kind the request names in
  the plural ("cake stands") counts as unique, and a request for several of one thing (``assistant.parse``:
  "6 mugs", "different flavours of tea", a bare "maple syrup") has None, its repeats being what it asked;
- ``accessory_share``: the share of items whose kind is an accessory (wrap, cards, tissue: retrieval/kinds.py);
- ``cobought``: the share of the bundle's item pairs that some held-out basket holds together (do people buy
  these together?); None with fewer than two items. The baskets are the split the case does NOT come from
  (dev for a test case, test for a dev case), so a case's own basket never counts for it.

Kinds are fitted as ``bundlebot index`` fits them (``Kinds.fit(items, train_baskets)``), so every variant,
baselines included, is measured with the same kinds.

>>> from retrieval.types import Basket, Item, SourceData
>>> items = [Item("a", "RED DOORMAT"), Item("b", "BLUE DOORMAT"), Item("c", "HOME MUG")]
>>> facts = BundleFacts.fit(SourceData("t", items, [], [], dev=[Basket("d", ("a", "c"))]))
>>> m = facts.metrics(["a", "b", "c"], "test")
>>> round(m["kind_diversity"], 3), m["accessory_share"], round(m["cobought"], 3)
(0.333, 0.0, 0.333)
>>> facts.metrics(["a", "b", "c"], "test", several_asked=True)["kind_diversity_unasked"] is None  # "6 doormats"
True
>>> facts.metrics(["a", "b", "c"], "test", several_asked=lambda kind: kind == "doormat")["kind_diversity_unasked"]
1.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from retrieval.types import Basket, SourceData

METRICS = ("kind_diversity", "kind_diversity_unasked", "accessory_share", "cobought")


def _baskets_of(baskets: Sequence[Basket]) -> dict[str, set[int]]:
    """item id -> the baskets holding it (an inverted index: all pairs of big invoices would not fit)."""
    out: dict[str, set[int]] = {}
    for n, b in enumerate(baskets):
        for i in set(b.item_ids):
            out.setdefault(i, set()).add(n)
    return out


@dataclass
class BundleFacts:
    kind: dict[str, str]
    role: dict[str, str]
    baskets: dict[str, dict[str, set[int]]] = field(default_factory=dict)
    """split -> item id -> the split's baskets holding it."""

    @classmethod
    def fit(cls, src: SourceData) -> BundleFacts:
        from retrieval.kinds import Kinds

        kinds = Kinds.fit(src.items, src.train_baskets)
        kind = {it.id: kinds.kind_of(it.id) for it in src.items}
        role = {k: kinds.role_of(k) for k in set(kind.values())}
        return cls(kind, role, {"dev": _baskets_of(src.dev), "test": _baskets_of(src.test)})

    def metrics(self, ids: Sequence[str], split: str | None,
                several_asked: bool | Callable[[str], bool] = False) -> dict[str, Any]:
        """``several_asked``: whether the request asks for several of one thing, or which kinds it asks for
        several of (a predicate over kinds)."""
        known = [i for i in ids if i in self.kind]
        if not known:
            return dict.fromkeys(METRICS)
        counts = Counter(self.kind[i] for i in known)
        asked = several_asked if callable(several_asked) else (lambda kind: False)
        out: dict[str, Any] = {
            "kind_diversity": sum(counts[self.kind[i]] == 1 for i in known) / len(known),
            "kind_diversity_unasked": None if several_asked is True else
            sum(counts[k] == 1 or asked(k) for k in (self.kind[i] for i in known)) / len(known),
            "accessory_share": sum(self.role[self.kind[i]] == "accessory" for i in known) / len(known),
            "cobought": None}
        held = self.baskets.get("test" if split == "dev" else "dev", {})
        ps = list(combinations(sorted(set(known)), 2))
        if ps:
            out["cobought"] = sum(bool(held.get(a, set()) & held.get(b, set())) for a, b in ps) / len(ps)
        return out
