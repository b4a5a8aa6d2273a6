"""The Retriever: request (+ shopper, + items already chosen) -> reranked catalog candidates.

A vector query with metadata filters finds items like the request; co-purchase complements of the top hits
and of the shopper's relevant history widen the set (filtered the same way); the reranker orders them.
Every returned item comes from the shop's own collection and passes the filters.

>>> f = Filters(max_price=5.0, categories_not_in=("garden",), exclude_ids=("22423",))
>>> f.where()["$and"][0]
{'in_stock': True}
>>> f.accepts(Item(id="1", title="cup", price=2.5, category=("kitchen",)))
True
>>> f.accepts(Item(id="2", title="mug", price=None))   # no price cannot satisfy a price cap
False
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.embeddings import Embedder, make_embedder
from retrieval.rerank import Reranker
from retrieval.store import HistoryEntry, ShopStore, VectorStore
from retrieval.types import Event, Item, ScoredItem

if TYPE_CHECKING:
    from bundlebot.config import AppConfig
    from retrieval.copurchase import CoPurchase

log = logging.getLogger(__name__)

HISTORY_K = 8
"""How many history entries (most relevant to the request) act as affinity/complement anchors."""
EXPAND_FROM = 5
"""How many top vector hits seed the complement expansion."""


@dataclass(frozen=True)
class Filters:
    """Metadata filters the assistant applies to every candidate."""

    max_price: float | None = None
    in_stock_only: bool = True
    categories_in: tuple[str, ...] = ()
    """Keep items whose top-level or second-level category is one of these."""
    categories_not_in: tuple[str, ...] = ()
    """Drop items whose top-level or second-level category is one of these."""
    exclude_ids: tuple[str, ...] = ()

    def where(self) -> dict[str, Any] | None:
        """The Chroma ``where`` clause (None when nothing filters)."""
        clauses: list[dict[str, Any]] = []
        if self.in_stock_only:
            clauses.append({"in_stock": True})
        if self.max_price is not None:
            clauses += [{"has_price": True}, {"price": {"$lte": float(self.max_price)}}]
        if self.categories_in:
            cats = list(self.categories_in)
            clauses.append({"$or": [{"cat0": {"$in": cats}}, {"cat1": {"$in": cats}}]})
        if self.categories_not_in:
            cats = list(self.categories_not_in)
            clauses += [{"cat0": {"$nin": cats}}, {"cat1": {"$nin": cats}}]
        if self.exclude_ids:
            clauses.append({"item_id": {"$nin": list(self.exclude_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, item: Item) -> bool:
        """The same rule in Python (for complements fetched by id, and for tests)."""
        cats = set(item.category[:2])
        return ((not self.in_stock_only or item.in_stock)
                and (self.max_price is None or (item.price is not None and item.price <= self.max_price))
                and (not self.categories_in or bool(cats & set(self.categories_in)))
                and not (cats & set(self.categories_not_in))
                and item.id not in self.exclude_ids)


ChosenLike = Item | str


@dataclass
class CandidatePool:
    """One request's candidates before ranking (lets callers re-rank without querying again)."""

    query_vec: np.ndarray
    candidates: list[tuple[Item, np.ndarray]]
    history: list[tuple[Item, np.ndarray, Event]]
    chosen: list[tuple[Item, np.ndarray]]
    anchors: list[str]


class Retriever:
    """Candidates for a request in one shop. Open with ``Retriever.open(config, shop)``."""

    def __init__(self, config: AppConfig, shop: ShopStore, embedder: Embedder,
                 stats: CoPurchase | None) -> None:
        self.config = config
        self.store = shop
        self.embedder = embedder
        self.stats = stats
        meta = shop.meta()
        self.currency: str | None = meta.get("currency")
        self.reranker = Reranker(config.retrieval.rerank, stats, int(meta.get("max_popularity", 0)))

    @classmethod
    def open(cls, config: AppConfig, shop: str, embedder: Embedder | None = None) -> Retriever:
        store = VectorStore(config.retrieval.store, config.store_path).shop(shop)
        embedder = embedder or make_embedder(config.retrieval.embedder)
        return cls(config, store, embedder, load_stats(config, shop))

    # ---- lookups ----------------------------------------------------------------------------------------
    def item(self, item_id: str) -> Item | None:
        found = self.store.get_items([item_id])
        return found[0] if found else None

    def history(self, shopper: str, n: int | None = None) -> list[tuple[Item, Event]]:
        """The shopper's history, most recent first, as (Item, Event) (Event = the latest, with totals)."""
        entries = self.store.shopper_history(shopper)[:n] if n else self.store.shopper_history(shopper)
        items = {it.id: it for it in self.store.get_items([e.item_id for e in entries])}
        return [(items[e.item_id], e.to_event()) for e in entries if e.item_id in items]

    # ---- retrieval --------------------------------------------------------------------------------------
    def candidates(self, query: str, *, shopper: str | None = None, filters: Filters = Filters(),
                   k: int | None = None, chosen: Sequence[ChosenLike] = ()) -> list[ScoredItem]:
        """Reranked candidates for ``query``, best first, at most ``k`` (default: config candidates)."""
        return self.rank(self.gather(query, shopper=shopper, filters=filters, k=k, chosen=chosen), k)

    def gather(self, query: str, *, shopper: str | None = None, filters: Filters = Filters(),
               k: int | None = None, chosen: Sequence[ChosenLike] = ()) -> CandidatePool:
        """Everything the reranker needs for one request (vector hits + complements, history, chosen)."""
        k = k or self.config.retrieval.candidates
        qv = self.embedder.embed(query)
        chosen_pairs = self._with_vectors(chosen)
        chosen_ids = tuple(it.id for it, _ in chosen_pairs)
        if chosen_ids:
            filters = Filters(filters.max_price, filters.in_stock_only, filters.categories_in,
                              filters.categories_not_in, tuple(set(filters.exclude_ids) | set(chosen_ids)))
        hits = self.store.query_items_with_vectors(qv, max(k, self.config.retrieval.candidates), filters)
        pool: dict[str, tuple[Item, np.ndarray]] = {it.id: (it, v) for it, v, _ in hits}
        history = self._relevant_history(shopper, qv)
        anchors = [it.id for it, _, _ in hits[:EXPAND_FROM]] + list(chosen_ids)
        anchors += [it.id for it, _, _ in history]
        for item, vec in self._complements(anchors, filters, exclude=set(pool)):
            pool[item.id] = (item, vec)
        top_hits = [it.id for it, _, _ in hits[:EXPAND_FROM]]
        return CandidatePool(qv, list(pool.values()), history, chosen_pairs, top_hits)

    def rank(self, pool: CandidatePool, k: int | None = None) -> list[ScoredItem]:
        """Rerank a gathered pool with the current reranker weights, best first."""
        k = k or self.config.retrieval.candidates
        return self.reranker.score(pool.query_vec, pool.candidates, pool.history, pool.chosen,
                                   anchors=pool.anchors)[:k]

    def rescore(self, candidates: Sequence[ScoredItem | Item], query: str, *, shopper: str | None = None,
                chosen: Sequence[ChosenLike] = ()) -> list[ScoredItem]:
        """Rerank given candidates again, now knowing which items are already chosen."""
        qv = self.embedder.embed(query)
        items = [c.item if isinstance(c, ScoredItem) else c for c in candidates]
        pairs = self.store.get_items([it.id for it in items], with_vectors=True)
        return self.reranker.score(qv, pairs, self._relevant_history(shopper, qv), self._with_vectors(chosen))

    def _with_vectors(self, chosen: Sequence[ChosenLike]) -> list[tuple[Item, np.ndarray]]:
        ids = [c if isinstance(c, str) else c.id for c in chosen]
        return self.store.get_items(ids, with_vectors=True) if ids else []

    def _relevant_history(self, shopper: str | None, qv: np.ndarray) -> list[tuple[Item, np.ndarray, Event]]:
        if shopper is None:
            return []
        entries: list[tuple[HistoryEntry, float]] = self.store.history_query(str(shopper), qv, HISTORY_K)
        pairs = self.store.get_items([e.item_id for e, _ in entries], with_vectors=True)
        by_id = {it.id: (it, v) for it, v in pairs}
        return [(*by_id[e.item_id], e.to_event()) for e, _ in entries if e.item_id in by_id]

    def _complements(self, anchors: list[str], filters: Filters,
                     exclude: set[str]) -> list[tuple[Item, np.ndarray]]:
        if self.stats is None or not anchors:
            return []
        wanted: dict[str, float] = {}
        per_anchor = max(2, self.config.retrieval.complements // max(1, len(set(anchors))))
        for a in dict.fromkeys(anchors):
            for cid, s in self.stats.complements(a, per_anchor):
                if cid not in exclude and s > wanted.get(cid, -1.0):
                    wanted[cid] = s
        best = sorted(wanted, key=lambda c: -wanted[c])[: self.config.retrieval.complements * 2]
        found = self.store.get_items(best, with_vectors=True)
        return [(it, v) for it, v in found if filters.accepts(it)][: self.config.retrieval.complements]


def stats_path(config: AppConfig, shop: str) -> Path:
    """Folder of the shop's co-purchase statistics (CoPurchase.save writes copurchase.npz/.json there)."""
    return config.home_path / "shops" / shop


def load_stats(config: AppConfig, shop: str) -> CoPurchase | None:
    """The shop's co-purchase statistics, or None when the shop has no baskets."""
    path = stats_path(config, shop)
    if not (path / "copurchase.json").is_file():
        return None
    from retrieval.copurchase import CoPurchase

    return CoPurchase.load(path)
