"""`bundlebot fit`: a shop's learned ranker, fitted on requests built from the shop's own train split.

Requests come from the data's shape, as the evaluation suites build theirs (``retrieval.tasks``), so any
source of the same shape gets a ranker, whatever its domain:

- baskets with an intent (BundleRec bundles): the intent, no shopper; gold = the bundle's items;
- baskets with priced items (invoices): ``budget_invoice`` (themes, size and real total), as their shopper;
- other baskets (orders): "I need <finest category>" per category of the basket, as its shopper; gold = the
  basket's items in that category;
- and, whatever the source, the shop's own live requests (``feedback_requests``): what its shoppers asked,
  labelled by what they liked or put in their cart from the answer.

Where the fit tunes the shop's embedder (``bundlebot fit --embedder``, ``finetune/embedder.py``), that comes
first, on requests from the train baskets the ranker's requests do not come from (``split_for_embedder``), so
the rows carry its cosine (the ``tuned`` feature) as serving will, on requests it never saw.

Each request runs through the turn's own first stages (``assistant.turn.first_plan`` and ``search_pools``,
the history strictly before the basket, as it stood then: ``Retriever.history_as_of``), and every candidate
of every search becomes a row of ``retrieval.features``; the label is whether the basket holds it. Train
requests fit LambdaRank; dev requests (the DEV split, never test) stop it early and are compared with the
hand weights on the same pools, both recorded in the manifest. Too few usable requests: the manifest says
``hand`` and serving keeps the hand weights.

The co-purchase statistics are fitted on the same train baskets, so a train request's complement term
has seen its own basket; the dev split, which they have not, is what chooses the number of trees.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import logging
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bundlebot.config import AppConfig
from finetune.data import accepted
from finetune.embedder import fit_embedder
from finetune.embedder import wanted as embedder_wanted
from retrieval.embeddings import shop_embedder
from retrieval.features import FEATURES
from retrieval.feedback import LiveEvent
from retrieval.ranker import MIN_GROUPS, PARAMS, RankingData, fit, load_ranker, read_manifest, save
from retrieval.tasks import aisle_of, budget_invoice
from retrieval.types import Basket, Event, SourceData

log = logging.getLogger(__name__)

TRAIN_REQUESTS, DEV_REQUESTS = 1500, 300
RECALL_AT = 10
EMBEDDER_KEYS = ("status", "reason", "dev", "pairs", "steps", "wall_s", "reused")
"""What the ranker's manifest repeats of the shop embedder's own (``embedder.json``)."""


@dataclass(frozen=True)
class Request:
    text: str
    shopper: str | None
    before: float | None
    gold: tuple[str, ...]
    basket: Basket


def requests_of(src: SourceData, baskets: list[Basket], limit: int, seed: int = 0) -> list[Request]:
    """At most ``limit`` requests from ``baskets`` (seeded sample), built by the baskets' shape."""
    items = {it.id: it for it in src.items}
    with_intent = any(b.intent for b in baskets)
    out: list[Request] = []
    for b in baskets:
        known = [i for i in dict.fromkeys(b.item_ids) if i in items]
        if not known:
            continue
        if with_intent:
            if b.intent and b.intent.strip():
                out.append(Request(b.intent.strip(), None, None, tuple(known), b))
        elif any(items[i].price is not None for i in known):
            if (inv := budget_invoice(b, items)) is not None:
                out.append(Request(inv.request, b.shopper_id, b.timestamp, tuple(inv.gold), b))
        else:
            by_cat: dict[str, list[str]] = defaultdict(list)
            for i in known:
                if (c := aisle_of(items[i])) and c != "missing":
                    by_cat[c].append(i)
            out += [Request(f"I need {c}", b.shopper_id, b.timestamp, tuple(g), b) for c, g in by_cat.items()]
    out = [r for r in out if accepted(r.text)]
    rng = random.Random(seed)
    return sorted(rng.sample(out, limit), key=lambda r: r.basket.id) if len(out) > limit else out


FEEDBACK_POSITIVE = ("like", "cart", "purchase")
FEEDBACK_REQUESTS = 1500
"""At most this many of the latest live requests join a fit (a bound on its time, like ``TRAIN_REQUESTS``)."""


def feedback_requests(events: list[LiveEvent], known: set[str], limit: int = FEEDBACK_REQUESTS) -> list[Request]:
    """Training requests from the shop's feedback log (events oldest first): one per (shopper, request text)
    the widget or UI sent with its events, gold = the items whose latest verdict of their own is a like, a
    cart addition or a purchase (a dislike or a removal after a like takes it back; a verdict on the whole
    bundle says too little about one item to be a label). The request's history is the shopper's before its
    first event, and its pools carry no taste (``Retriever.gather`` ignores taste for a replay), so a like
    never labels the row it also moved."""
    groups: dict[tuple[str, str], list[LiveEvent]] = defaultdict(list)
    for e in events:
        if e.request.strip() and e.item_id in known:
            groups[(e.shopper_id, " ".join(e.request.split()).casefold())].append(e)
    out: list[Request] = []
    for (shopper, _), evs in groups.items():
        text = " ".join(evs[0].request.split())  # the request as first worded
        verdict: dict[str, str] = {}
        for e in evs:
            if e.scope == "item" and e.kind != "view":
                verdict[e.item_id] = e.kind
        gold = tuple(i for i, k in verdict.items() if k in FEEDBACK_POSITIVE)
        if gold and accepted(text):
            first = min(e.timestamp for e in evs)
            out.append(Request(text, shopper, first, gold,
                               Basket(f"feedback:{shopper}:{first}", gold, shopper_id=shopper, timestamp=first)))
    return sorted(out, key=lambda r: (r.before or 0.0, r.basket.id))[-limit:] if limit else []


class EventsAsOf:
    """``Retriever.history_as_of`` from a source's train events: each shopper's aggregates before a time.
    A shopper the source does not know (a live one, whose history the store holds) gets None: the store's
    own history before that time stands."""

    def __init__(self, events: list[Event]) -> None:
        self.by_shopper: dict[str, list[Event]] = defaultdict(list)
        for e in events:
            self.by_shopper[e.shopper_id].append(e)
        for evs in self.by_shopper.values():
            evs.sort(key=lambda e: e.timestamp)
        self.times = {s: [e.timestamp for e in evs] for s, evs in self.by_shopper.items()}
        self._cache: dict[tuple[str, float], dict[str, Event]] = {}

    def __call__(self, shopper: str, before: float) -> Mapping[str, Event] | None:
        if shopper not in self.by_shopper:
            return None
        key = (shopper, before)
        if key not in self._cache:
            evs = self.by_shopper[shopper][: bisect.bisect_left(self.times[shopper], before)]
            agg: dict[str, Event] = {}
            for e in evs:
                p = agg.get(e.item_id)
                agg[e.item_id] = Event(shopper, e.item_id, e.timestamp, e.kind,
                                       e.quantity + (p.quantity if p else 0), count=1 + (p.count if p else 0))
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = agg
        return self._cache[key]


class LeaveOut:
    """A train basket's share of the item popularity its own request sees: the popularity counts come from
    the train baskets, so without this a replayed basket's items are popular because it was bought (on
    BundleRec, where a bundle and its session are both train baskets, the model learned "popular means gold"
    and fell below the hand weights on dev). Every train basket of the same shopper and moment counts as the
    same purchase."""

    def __init__(self, train: list[Basket]) -> None:
        self.same: dict[tuple[str | None, float | None], Counter[str]] = defaultdict(Counter)
        for b in train:
            self.same[(b.shopper_id, b.timestamp)].update(set(b.item_ids))

    def counts(self, b: Basket) -> Counter[str]:
        return self.same.get((b.shopper_id, b.timestamp), Counter()) if b.shopper_id is not None \
            else Counter(set(b.item_ids))


def _leave_out(x: np.ndarray, items: list[Any], leave: Counter[str], top: int) -> None:
    col = FEATURES.index("popularity")
    for j, it in enumerate(items):
        if leave.get(it.id) and top > 0:
            x[j, col] = math.log1p(max(0, it.popularity - leave[it.id])) / math.log1p(top)


def request_rows(retriever: Any, req: Request, leave: Counter[str] | None = None) -> tuple[np.ndarray, ...]:
    """(features, labels, hand scores) of every candidate a first turn with this request would rank (the
    retriever ranks with the hand weights); ``leave``: popularity counts the request's own basket gave."""
    from assistant.turn import first_plan, search_pools

    plan = first_plan(req.text, known=retriever.lexicon.knows)
    seen: dict[str, tuple[np.ndarray, float]] = {}
    for found in search_pools(retriever, plan, req.shopper, history_before=req.before if req.shopper else None):
        pool = found.pool
        items, x = retriever.features(pool)
        if leave:
            _leave_out(x, items, leave, max([retriever.reranker.max_popularity, *(it.popularity for it in items)]))
        hand = {s.item.id: s.score for s in retriever.rank(pool, len(pool.candidates))}
        for it, row in zip(items, x, strict=True):
            seen.setdefault(it.id, (row, hand[it.id]))
    if not seen:
        return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0, np.int32), np.zeros(0)
    gold = set(req.gold)
    y = np.array([1 if i in gold else 0 for i in seen], dtype=np.int32)
    return np.stack([r for r, _ in seen.values()]), y, np.array([h for _, h in seen.values()])


def _rows(retriever: Any, reqs: list[Request], label: str, progress: bool,
          leave: LeaveOut | None = None) -> tuple[RankingData, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    from tqdm import tqdm

    parts = [request_rows(retriever, r, leave.counts(r.basket) if leave else None)
             for r in tqdm(reqs, desc=f"ranker {label}", unit="request", disable=not progress)]
    return RankingData.stack(parts), parts


def recall_at(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], scores: list[np.ndarray],
              gold_sizes: list[int], k: int = RECALL_AT) -> float:
    """Mean recall@k of the given per-request scores (the gold not in the pool counts as missed)."""
    vals = []
    for (_, y, _), s, n in zip(parts, scores, gold_sizes, strict=True):
        if n:
            top = np.argsort(-s, kind="stable")[:k]
            vals.append(float(y[top].sum()) / min(n, k))
    return round(float(np.mean(vals)), 4) if vals else 0.0


def split_for_embedder(src: SourceData, ranker_reqs: list[Request], limit: int) -> tuple[list[Request], list[Request]]:
    """(the ranker's requests, the embedder's): the embedder learns from train baskets the ranker's requests do
    not come from. An embedder fitted on the ranker's own requests knows their gold items, so its cosine would
    look more telling on the ranker's train rows than it is on a new request, and the trees would trust it too
    much. Where too few baskets are left (a small train split), the ranker's requests are halved between them."""
    used = {r.basket.id for r in ranker_reqs}
    rest = requests_of(src, [b for b in src.train_baskets if b.id not in used], limit, seed=3)
    if len(rest) >= len(ranker_reqs) // 2:
        return ranker_reqs, rest
    half = {b for n, b in enumerate(sorted(used)) if n % 2}
    return [r for r in ranker_reqs if r.basket.id not in half], [r for r in ranker_reqs if r.basket.id in half]


def _hash(reqs: list[Request], more: Any = None) -> str:
    h = hashlib.sha256(json.dumps(more, sort_keys=True, default=str).encode())
    for r in reqs:
        h.update(f"{r.basket.id}|{r.text}|{r.shopper}|{r.before}|{','.join(r.gold)}\n".encode())
    return h.hexdigest()[:16]


def fit_shop(config: AppConfig, shop: str, src: SourceData, *, train_requests: int = TRAIN_REQUESTS,
             dev_requests: int = DEV_REQUESTS, progress: bool = True, unless_current: bool = False) -> dict[str, Any]:
    """Fit and save the shop's ranker (or record why it keeps the hand weights); returns the manifest.
    ``unless_current``: keep a ranker fitted on the same requests, index and features (re-indexing an unchanged
    shop does not refit it)."""
    from retrieval.search import HISTORY_K, Retriever

    t0 = time.perf_counter()
    cfg = copy.deepcopy(config)
    cfg.retrieval.ranker = "hand"  # the features do not depend on a model; reading none is faster
    retriever = Retriever.open(cfg, shop)
    live = feedback_requests(retriever.store.feedback.events(), {it.id for it in src.items})
    if not src.train_baskets and not live:
        return _keep_hand(config, shop, {"shop": shop, "source": src.name, "features": list(FEATURES)},
                          "the source has no train baskets and the shop no feedback to learn from", t0)
    retriever.history_as_of = EventsAsOf(src.events)
    train_reqs = requests_of(src, src.train_baskets, train_requests, seed=1) + live
    dev_reqs = requests_of(src, src.dev, dev_requests, seed=2)
    emb_reqs: list[Request] = []
    if embedder_wanted(config, shop):
        train_reqs, emb_reqs = split_for_embedder(src, train_reqs, train_requests)
    emb = fit_embedder(config, retriever.store, src.items, emb_reqs, dev_reqs, progress=progress,
                       unless_current=unless_current)
    retriever.tuned = shop_embedder(config.home_path, shop, config.retrieval.shop_embedder)
    meta = retriever.store.meta()
    pools = [config.retrieval.candidates, config.retrieval.complements, config.retrieval.history_candidates,
             HISTORY_K]  # what shapes the pools the rows come from: a change refits on the next index
    digest = _hash(train_reqs + dev_reqs, [meta.get("items"), meta.get("history"), list(FEATURES), PARAMS,
                                           emb.get("status"), emb.get("data_sha256"), pools])
    if unless_current and (old := read_manifest(config.home_path, shop)) and old.get("data_sha256") == digest \
            and (old.get("status") != "learned" or load_ranker(config.home_path, shop) is not None):
        log.info("shop %s: the ranker is current (same requests, index and features); not refitted", shop)
        return {**old, "reused": True}
    manifest: dict[str, Any] = {"shop": shop, "source": src.name, "data_sha256": digest,
                                "features": list(FEATURES), "feedback_requests": len(live),
                                "embedder": {k: emb[k] for k in EMBEDDER_KEYS if k in emb}}
    train, _ = _rows(retriever, train_reqs, "train", progress, LeaveOut(src.train_baskets))
    dev, dev_parts = _rows(retriever, dev_reqs, "dev", progress)
    if len(train.groups) < MIN_GROUPS:
        return _keep_hand(config, shop, manifest, f"{len(train.groups)} train requests found a bought item "
                                                  f"among their candidates (at least {MIN_GROUPS} are needed)", t0)
    ranker, info = fit(train, dev)
    manifest.update(info)
    sizes = [len(r.gold) for r in dev_reqs]
    learned = [ranker.booster.predict(x, num_threads=1) if len(x) else np.zeros(0) for x, _, _ in dev_parts]
    manifest["dev"] = {f"recall@{RECALL_AT}_learned": recall_at(dev_parts, learned, sizes),
                       f"recall@{RECALL_AT}_hand": recall_at(dev_parts, [h for _, _, h in dev_parts], sizes),
                       "requests": len(dev_reqs)}
    manifest["wall_s"] = round(time.perf_counter() - t0, 1)
    save(config.home_path, shop, ranker, manifest)
    log.info("shop %s: learned ranker, dev %s", shop, manifest["dev"])
    return manifest


def _keep_hand(config: AppConfig, shop: str, manifest: dict[str, Any], reason: str, t0: float) -> dict[str, Any]:
    manifest.update(status="hand", reason=reason, wall_s=round(time.perf_counter() - t0, 1))
    save(config.home_path, shop, None, manifest)
    log.warning("shop %s keeps the hand-weighted reranker: %s", shop, reason)
    return manifest


def fit_indexed(config: AppConfig, shop: str, source: str | None = None, *, progress: bool = True,
                **kwargs: Any) -> dict[str, Any]:
    """``fit_shop`` for an indexed shop, reading the source it was indexed from (or ``source``)."""
    from bundlebot.errors import NotFoundError
    from retrieval.importers import load_source
    from retrieval.store import VectorStore

    store = VectorStore(config.retrieval.store, config.store_path)
    if shop not in store.shops():
        raise NotFoundError(f"shop {shop!r} is not indexed", hint=f"index it first: bundlebot index --shop {shop} "
                                                                  "--source ...")
    spec = source or store.shop(shop).meta().get("source")
    if not spec:
        raise NotFoundError(f"shop {shop!r} does not record its source", hint="pass --source")
    return fit_shop(config, shop, load_source(spec, config.data_path), progress=progress, **kwargs)
