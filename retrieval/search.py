"""The Retriever: request (+ shopper, + items already chosen) -> reranked catalog candidates.

A vector query with metadata filters finds items like the request; a second query with the request moved
towards its best first hits (pseudo-relevance feedback) finds what the plain one ranked just too low;
the shopper's past items most relevant to the request join it ("I need milk" finds THEIR milk), and
co-purchase complements of the top hits and of that history widen the set (all filtered the same way); the
reranker orders them. ``gather`` does all the reading once per request and returns a
``CandidatePool`` holding every vector; ``rank``/``rescore(pool=...)`` re-rank it in numpy (bundle assembly
re-ranks after each pick). Every returned item comes from the shop's own collection and passes the filters.

>>> f = Filters(max_price=5.0, categories_not_in=("garden",), exclude_ids=("22423",))
>>> f.where()["$and"][0]
{'in_stock': True}
>>> f.accepts(Item(id="1", title="cup", price=2.5, category=("kitchen",)))
True
>>> f.accepts(Item(id="2", title="mug", price=None))   # no price cannot satisfy a price cap
False
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.embeddings import Embedder, make_embedder, shop_embedder
from retrieval.lexical import Lexicon, item_text
from retrieval.multilingual import GLOSSARY_FILE, Glossary, multilingual_encoder
from retrieval.rerank import Reranker
from retrieval.store import HistoryEntry, ShopStore, VectorStore
from retrieval.types import Event, Item, ScoredItem, Taste

if TYPE_CHECKING:
    from bundlebot.config import AppConfig
    from retrieval.copurchase import CoPurchase
    from retrieval.ranker import LearnedRanker

log = logging.getLogger(__name__)

HISTORY_K = 20
"""How many history entries (most relevant to the request) act as affinity/complement anchors, and the most
that ``retrieval.history_candidates`` can make candidates."""
EXPAND_FROM = 5
"""How many top vector hits seed the complement expansion."""
FOREIGN_CENTROID = 5
"""The multilingual hits whose (shop-embedder) vectors make a foreign request's vector."""
FOREIGN_WEIGHT = 0.8
"""Their centroid's share of that vector; the rest is the English the request was read into."""


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
    only_ids: tuple[str, ...] = ()
    """Keep only these items (empty: no such limit): a search among the items of some kinds."""

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
        if self.only_ids:
            clauses.append({"item_id": {"$in": list(self.only_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def mask(self, ids: np.ndarray, in_stock: np.ndarray, price: np.ndarray, cat0: np.ndarray,
             cat1: np.ndarray) -> np.ndarray:
        """The same rule over arrays, one row per item (``price`` NaN where there is none): the exact search."""
        ok = np.ones(len(ids), dtype=bool)
        if self.in_stock_only:
            ok &= in_stock
        if self.max_price is not None:
            ok &= np.nan_to_num(price, nan=np.inf) <= float(self.max_price)
        if self.categories_in:
            ok &= np.isin(cat0, self.categories_in) | np.isin(cat1, self.categories_in)
        if self.categories_not_in:
            ok &= ~(np.isin(cat0, self.categories_not_in) | np.isin(cat1, self.categories_not_in))
        if self.exclude_ids:
            ok &= ~np.isin(ids, list(self.exclude_ids))
        if self.only_ids:
            ok &= np.isin(ids, list(self.only_ids))
        return ok

    def accepts(self, item: Item) -> bool:
        """The same rule in Python (for complements fetched by id, and for tests)."""
        cats = set(item.category[:2])
        return ((not self.in_stock_only or item.in_stock)
                and (self.max_price is None or (item.price is not None and item.price <= self.max_price))
                and (not self.categories_in or bool(cats & set(self.categories_in)))
                and not (cats & set(self.categories_not_in))
                and item.id not in self.exclude_ids and (not self.only_ids or item.id in self.only_ids))


ChosenLike = Item | str


@dataclass
class CandidatePool:
    """One request's candidates before ranking, with everything ranking needs (vectors, history, lexical
    matches, the feedback centroid), so a caller can re-rank as often as it likes without querying again."""

    query_vec: np.ndarray
    candidates: list[tuple[Item, np.ndarray]]
    history: list[tuple[Item, np.ndarray, Event]]
    chosen: list[tuple[Item, np.ndarray]]
    anchors: list[str]
    query: str = ""
    lexical: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    feedback_vec: np.ndarray | None = None
    budget: float | None = None
    """The request's price cap (a feature of the learned ranker: price against budget)."""
    taste: dict[str, float] = field(default_factory=dict)
    """The shopper's own feedback per candidate id (``Taste.value``, nonzero only), added by the reranker."""
    tuned_vec: np.ndarray | None = None
    """The request in the shop's fine-tuned embedder (None: the shop has none)."""
    tuned_items: dict[str, np.ndarray] = field(default_factory=dict)
    """The candidates' vectors in that embedder, by id."""

    @property
    def tuned(self) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        return None if self.tuned_vec is None else (self.tuned_vec, self.tuned_items)

    def vectors(self) -> dict[str, tuple[Item, np.ndarray]]:
        """Every item this pool holds a vector for (candidates and chosen), by id."""
        return {it.id: (it, v) for it, v in [*self.candidates, *self.chosen]}

    def similarities(self) -> list[tuple[Item, float]]:
        """Each candidate with its cosine to the request."""
        if not self.candidates:
            return []
        sims = np.stack([v for _, v in self.candidates]) @ np.asarray(self.query_vec, dtype=np.float32)
        return [(it, float(x)) for (it, _), x in zip(self.candidates, sims, strict=True)]

    def merged(self, others: Sequence[CandidatePool]) -> CandidatePool:
        """This pool (its request, history, centroid) with the candidates of ``others`` added."""
        pairs = {it.id: (it, v) for it, v in self.candidates}
        for p in others:
            for it, v in p.candidates:
                pairs.setdefault(it.id, (it, v))
        return replace(self, candidates=list(pairs.values()),
                       lexical={**{k: v for p in others for k, v in p.lexical.items()}, **self.lexical},
                       taste={**{k: v for p in others for k, v in p.taste.items()}, **self.taste},
                       tuned_items={**{k: v for p in others for k, v in p.tuned_items.items()}, **self.tuned_items})


class Retriever:
    """Candidates for a request in one shop. Open with ``Retriever.open(config, shop)``."""

    def __init__(self, config: AppConfig, shop: ShopStore, embedder: Embedder,
                 stats: CoPurchase | None, learned: LearnedRanker | None = None,
                 tuned: Embedder | None = None) -> None:
        self.config = config
        self.store = shop
        self.embedder = embedder
        self.tuned = tuned
        """The shop's fine-tuned embedder (``finetune/embedder.py``): its nearest items join the candidates and
        its cosine is a ranker feature; None: the base embedder alone."""
        self.stats = stats
        meta = shop.meta()
        self.currency: str | None = meta.get("currency")
        self.reranker = Reranker(config.retrieval.rerank, stats, int(meta.get("max_popularity", 0)), learned)
        self._lexicon: Lexicon | None = None
        self._kinds: Any = False  # False: not read yet; then a Kinds, or None when the shop has none
        self._glossary: Any = False
        self.history_as_of: HistoryAsOf | None = None
        """Set by training only: a replayed basket's history as it stood then (see ``HistoryAsOf``)."""

    @classmethod
    def open(cls, config: AppConfig, shop: str, embedder: Embedder | None = None) -> Retriever:
        store = VectorStore(config.retrieval.store, config.store_path).shop(shop)
        embedder = embedder or make_embedder(config.retrieval.embedder)
        return cls(config, store, embedder, load_stats(config, shop), learned_ranker(config, shop),
                   shop_embedder(config.home_path, shop, config.retrieval.shop_embedder))

    # ---- lookups ----------------------------------------------------------------------------------------
    def warm(self) -> None:
        """Read now what the first request would (``ShopStore.warm``)."""
        self.store.warm()

    def item(self, item_id: str) -> Item | None:
        found = self.store.get_items([item_id])
        return found[0] if found else None

    def history(self, shopper: str, n: int | None = None) -> list[tuple[Item, Event]]:
        """The shopper's history, most recent first, as (Item, Event) (Event = the latest, with totals)."""
        entries = self.store.shopper_history(shopper)[:n] if n else self.store.shopper_history(shopper)
        items = {it.id: it for it in self.store.get_items([e.item_id for e in entries])}
        return [(items[e.item_id], e.to_event()) for e in entries if e.item_id in items]

    @property
    def lexicon(self) -> Lexicon:
        """Word document frequencies of the shop's catalog, read once per Retriever (on first use)."""
        if self._lexicon is None:
            self._lexicon = Lexicon.fit(_meta_text(m) for m in self.store.item_metadata().values())
        return self._lexicon

    def kind(self, item: Item) -> tuple[str, str] | None:
        """(kind, role) of an item (``retrieval/kinds.py``), None for a shop indexed without kinds."""
        kinds = self.shop_kinds()
        return kinds.of(item) if kinds is not None else None

    def shop_kinds(self) -> Any:
        """The shop's ``Kinds`` (read once), None for a shop indexed without kinds."""
        if self._kinds is False:
            path = stats_path(self.config, self.store.name) / KINDS_FILE
            from retrieval.kinds import Kinds

            self._kinds = Kinds.load(path) if path.is_file() else None
        return self._kinds

    def glossary(self) -> Any:
        """The shop's English vocabulary in the multilingual encoder (``retrieval/multilingual.py``, read
        once), None for a shop indexed without it or with ``retrieval.multilingual = "off"``."""
        if self._glossary is False:
            kind = self.config.retrieval.multilingual_kind
            path = stats_path(self.config, self.store.name) / GLOSSARY_FILE
            self._glossary = None
            if kind is not None and path.is_file():
                self._glossary = Glossary.load(path, multilingual_encoder(kind))
        return self._glossary

    def _foreign_hits(self, foreign: str, k: int, filters: Filters) -> list[tuple[Item, np.ndarray, float]]:
        """Items nearest the untranslated words of a request in the multilingual set, with their vectors in
        the shop's own embedder (the rest of the pipeline reads those)."""
        kind = self.config.retrieval.multilingual_kind
        if not foreign or kind is None:
            return []
        hits = self.store.query_side("xl", multilingual_encoder(kind).embed(foreign), k, filters)
        pairs = {it.id: (it, v) for it, v in self.store.get_items([i for i, _ in hits], with_vectors=True)}
        return [(*pairs[i], sim) for i, sim in hits if i in pairs]

    def associations(self, item_ids: Sequence[str]) -> np.ndarray:
        """Pairwise co-purchase association of ``item_ids`` (item level only: one sparse slice)."""
        out = np.zeros((len(item_ids), len(item_ids)))
        st = self.stats
        if st is None:
            return out
        rows = [n for n, i in enumerate(item_ids) if i in st.index]
        idx = np.array([st.index[item_ids[n]] for n in rows], dtype=np.int64)
        if len(idx) > 1:
            sub = st.assoc[idx][:, idx].toarray()
            sub = np.maximum(sub, sub.T)
            np.fill_diagonal(sub, 0.0)
            out[np.ix_(rows, rows)] = np.clip(sub, 0.0, 1.0)
        return out

    def taste(self, shopper: str | None) -> Taste:
        """What the shopper's own likes, dislikes and removals say (``retrieval/feedback.py``), read now:
        an event recorded a moment ago counts in the very next turn."""
        if not shopper:
            return Taste()
        from retrieval.feedback import READ_LAST, taste_of

        events = self.store.feedback.events(str(shopper), last=READ_LAST)
        if not events:
            return Taste()
        items = {it.id: it for it in self.store.get_items(sorted({e.item_id for e in events}))}

        def kind_of(item_id: str) -> str | None:
            found = self.kind(items[item_id]) if item_id in items else None
            return found[0] if found else None

        return taste_of(events, kind_of)

    # ---- retrieval --------------------------------------------------------------------------------------
    def candidates(self, query: str, *, shopper: str | None = None, filters: Filters = Filters(),
                   k: int | None = None, chosen: Sequence[ChosenLike] = (),
                   history_before: float | None = None, foreign: str = "") -> list[ScoredItem]:
        """Reranked candidates for ``query``, best first, at most ``k`` (default: config candidates)."""
        return self.rank(self.gather(query, shopper=shopper, filters=filters, k=k, chosen=chosen,
                                     history_before=history_before, foreign=foreign), k)

    def gather(self, query: str, *, shopper: str | None = None, filters: Filters = Filters(),
               k: int | None = None, chosen: Sequence[ChosenLike] = (),
               history_before: float | None = None, foreign: str = "") -> CandidatePool:
        """Everything the reranker needs for one request: vector hits, hits of the feedback-expanded request,
        complements, relevant history, chosen items, all with vectors (embedded and read once).

        ``foreign``: words of a non-English request that no word of the shop translates (assistant/languages).
        They are searched in the multilingual vector set; the request's vector becomes mostly the centroid
        of what they found, so the English stages (cosine, history, complements) read them too.

        ``history_before`` (a timestamp) limits the history to items first bought before it: training
        replays an indexed basket as a request, and the basket itself must not be its own history.

        The shopper's own feedback (``taste``) holds for a live turn only (a replay is of a time before
        it): disliked items are filtered out like excluded ones, the others' values go to the reranker."""
        k = max(k or 0, self.config.retrieval.candidates)
        qv = self.embedder.embed(query)
        chosen_pairs = self._with_vectors(chosen)
        chosen_ids = tuple(it.id for it, _ in chosen_pairs)
        taste = self.taste(shopper) if history_before is None else Taste()
        if chosen_ids or taste.disliked:
            filters = replace(filters, exclude_ids=tuple(sorted(set(filters.exclude_ids) | set(chosen_ids)
                                                                | taste.disliked)))
        foreign_hits = self._foreign_hits(foreign, k, filters)
        if foreign_hits:
            top = foreign_hits[:FOREIGN_CENTROID]
            centroid = np.sum([max(sim, 0.0) * v for _, v, sim in top], axis=0)
            mixed = FOREIGN_WEIGHT * centroid / max(np.linalg.norm(centroid), 1e-12) + (1 - FOREIGN_WEIGHT) * qv
            qv = (mixed / max(np.linalg.norm(mixed), 1e-12)).astype(np.float32)
        hits = [(it, v) for it, v, _ in self.store.query_items_with_vectors(qv, k, filters)]
        found = {it.id for it, _ in hits}
        hits += [(it, v) for it, v, _ in foreign_hits if it.id not in found]
        tuned_vec, tuned_hits = self._tuned_hits(query, k, filters)
        found = {it.id for it, _ in hits}
        hits += [(it, v) for it, v in self.store.get_items([i for i in tuned_hits if i not in found],
                                                            with_vectors=True)]
        pool: dict[str, tuple[Item, np.ndarray]] = {it.id: (it, v) for it, v in hits}
        lexical = self._lexical(query, [it for it, _ in hits])
        feedback = self.reranker.feedback_centroid(qv, hits, lexical)
        if feedback is not None:  # the expanded request finds what the plain one ranked just too low
            expanded = qv + self.config.retrieval.rerank.feedback * feedback
            more = self.store.query_items_with_vectors(expanded / np.linalg.norm(expanded), k, filters)
            pool.update((it.id, (it, v)) for it, v, _ in more if it.id not in pool)
        history = self._relevant_history(shopper, qv, history_before)
        for it, vec, _ in history[: self.config.retrieval.history_candidates]:  # "I need milk": THEIR milk
            if it.id not in pool and filters.accepts(it):  # the filters exclude chosen items already
                pool[it.id] = (it, vec)
        top_hits = [it.id for it, _ in hits[:EXPAND_FROM]]
        anchors = top_hits + list(chosen_ids) + [it.id for it, _, _ in history]
        for item, vec in self._complements(anchors, filters, exclude=set(pool)):
            pool[item.id] = (item, vec)
        lexical.update(self._lexical(query, [it for it, _ in pool.values() if it.id not in lexical]))
        return CandidatePool(qv, list(pool.values()), history, chosen_pairs, top_hits, query, lexical, feedback,
                             filters.max_price, self._taste_values(taste, [it for it, _ in pool.values()]),
                             tuned_vec, self._tuned_vectors(tuned_vec, tuned_hits, [*pool, *chosen_ids]))

    def _tuned_hits(self, query: str, k: int, filters: Filters) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """The request in the shop's tuned embedder and its nearest items there (id -> tuned vector)."""
        if self.tuned is None:
            return None, {}
        tv = self.tuned.embed(query)
        ids = [i for i, _ in self.store.query_side("tuned", tv, k, filters)]
        return tv, self.store.side_vectors("tuned", ids)

    def _tuned_vectors(self, tuned_vec: np.ndarray | None, have: dict[str, np.ndarray],
                       ids: Sequence[str]) -> dict[str, np.ndarray]:
        if tuned_vec is None:
            return {}
        missing = [i for i in dict.fromkeys(ids) if i not in have]
        return {**have, **self.store.side_vectors("tuned", missing)}

    def _taste_values(self, taste: Taste, items: Sequence[Item]) -> dict[str, float]:
        if not (taste.items or taste.kinds):
            return {}
        kinds = {it.id: (k[0] if (k := self.kind(it)) else None) for it in items} if taste.kinds else {}
        values = {it.id: taste.value(it.id, kinds.get(it.id)) for it in items}
        return {i: v for i, v in values.items() if v}

    def features(self, pool: CandidatePool) -> tuple[list[Item], np.ndarray]:
        """Every candidate of a gathered pool with its learned-ranker features (what training rows hold)."""
        return self.reranker.features(pool.query_vec, pool.candidates, pool.history, pool.chosen, pool.anchors,
                                      lexical=pool.lexical, feedback_vec=pool.feedback_vec, query=pool.query,
                                      budget=pool.budget, tuned=pool.tuned)

    def rank(self, pool: CandidatePool, k: int | None = None, *,
             chosen: Sequence[ChosenLike] = ()) -> list[ScoredItem]:
        """Rerank a gathered pool, best first; ``chosen`` adds items already picked (pure numpy when the pool
        holds their vectors, as it does for its own candidates)."""
        k = k or self.config.retrieval.candidates
        return self._score(pool, pool.candidates, chosen)[:k]

    def rescore(self, candidates: Sequence[ScoredItem | Item], query: str, *, shopper: str | None = None,
                chosen: Sequence[ChosenLike] = (), pool: CandidatePool | None = None) -> list[ScoredItem]:
        """Rerank given candidates again, now knowing which items are already chosen. With the ``pool`` they
        came from, nothing is embedded or read again (the per-pick path of bundle assembly)."""
        items = [c.item if isinstance(c, ScoredItem) else c for c in candidates]
        if pool is None:
            qv = self.embedder.embed(query)
            pairs = self.store.get_items([it.id for it in items], with_vectors=True)
            tv = self.tuned.embed(query) if self.tuned is not None else None
            pool = CandidatePool(qv, pairs, self._relevant_history(shopper, qv), [], [], query,
                                 self._lexical(query, [it for it, _ in pairs]), tuned_vec=tv,
                                 tuned_items=self._tuned_vectors(tv, {}, [it.id for it in items]))
        # as before the pool existed: complements of the chosen items and history, not of the request's hits
        return self._score(pool, self._pairs(pool, [it.id for it in items]), chosen, anchors=())

    def _score(self, pool: CandidatePool, cands: Sequence[tuple[Item, np.ndarray]],
               chosen: Sequence[ChosenLike], anchors: Sequence[str] | None = None) -> list[ScoredItem]:
        extra = self._pairs(pool, [c if isinstance(c, str) else c.id for c in chosen])
        picked = list({it.id: (it, v) for it, v in [*pool.chosen, *extra]}.values())
        anchors = pool.anchors if anchors is None else anchors
        return self.reranker.score(pool.query_vec, cands, pool.history, picked, anchors=anchors,
                                   lexical=pool.lexical, feedback_vec=pool.feedback_vec, query=pool.query,
                                   budget=pool.budget, taste=pool.taste, tuned=pool.tuned)

    def _pairs(self, pool: CandidatePool, ids: Sequence[str]) -> list[tuple[Item, np.ndarray]]:
        """(Item, vector) for ids, from the pool where it has them, else read from the store."""
        have = pool.vectors()
        missing = [i for i in ids if i not in have]
        if missing:
            have.update((it.id, (it, v)) for it, v in self.store.get_items(missing, with_vectors=True))
        return [have[i] for i in ids if i in have]

    def _lexical(self, query: str, items: Sequence[Item]) -> dict[str, tuple[float, tuple[str, ...]]]:
        if self.config.retrieval.rerank.lexical <= 0 and self.config.retrieval.rerank.feedback <= 0:
            return {}
        texts = [item_text(it) for it in items]
        scores = self.lexicon.scores(query, texts)
        return {it.id: (s, tuple(self.lexicon.matched(query, t)) if s > 0 else ())
                for it, t, s in zip(items, texts, scores, strict=True)}

    def _with_vectors(self, chosen: Sequence[ChosenLike]) -> list[tuple[Item, np.ndarray]]:
        ids = [c if isinstance(c, str) else c.id for c in chosen]
        return self.store.get_items(ids, with_vectors=True) if ids else []

    def _relevant_history(self, shopper: str | None, qv: np.ndarray,
                          before: float | None = None) -> list[tuple[Item, np.ndarray, Event]]:
        if shopper is None:
            return []
        entries: list[tuple[HistoryEntry, float]] = self.store.history_query(str(shopper), qv, HISTORY_K, before)
        pairs = self.store.get_items([e.item_id for e, _ in entries], with_vectors=True)
        by_id = {it.id: (it, v) for it, v in pairs}
        events = {e.item_id: e.to_event() for e, _ in entries}
        if before is not None and self.history_as_of is not None \
                and (then := self.history_as_of(str(shopper), before)) is not None:
            events = {i: then[i] for i in events if i in then}
        return [(*by_id[e.item_id], events[e.item_id]) for e, _ in entries
                if e.item_id in by_id and e.item_id in events]

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


class HistoryAsOf(Protocol):
    """A shopper's history as it stood at ``before``: item id -> the aggregate of their events before it.

    The store keeps one aggregate per (shopper, item) over all train events; ``history_before`` drops items
    first bought later, but an earlier item's count and last purchase still include the replayed basket and
    what came after it. Training sets this from the source's events, so its rows see what a shopper's turn
    at that moment would have seen; None for a shopper it does not know (the store's rows before then stand)."""

    def __call__(self, shopper: str, before: float) -> Mapping[str, Event] | None: ...


def learned_ranker(config: AppConfig, shop: str) -> LearnedRanker | None:
    """The ranker ``config.retrieval.ranker`` asks for: None means the hand weights."""
    mode = config.retrieval.ranker
    if mode == "hand":
        return None
    from retrieval.ranker import load_ranker

    ranker = load_ranker(config.home_path, shop)
    if ranker is None and mode == "learned":
        from bundlebot.errors import NotFoundError

        raise NotFoundError(f"shop {shop!r} has no learned ranker", hint=f"fit one: bundlebot fit --shop {shop}")
    return ranker


KINDS_FILE = "kinds.json"


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


def _meta_text(meta: dict[str, Any]) -> str:
    """The lexical text of an item from its stored metadata (as ``lexical.item_text``)."""
    return " ".join([str(meta.get("title", "")), *json.loads(meta.get("category") or "[]")[-2:]])
