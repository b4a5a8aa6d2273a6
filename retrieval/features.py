"""The learned ranker's features: what the reranker knows about each candidate, as one numeric row.

The same function serves a shopper's turn and builds the ranker's training rows (``finetune/ranker.py``), so
the model is fitted on exactly what it is later asked about. Every column is a pure function of one request's
candidate pool: the hand reranker's terms, unweighted, plus what they leave out:

- ``relevance_gap`` / ``lexical_gap``: the term minus its best value in the pool (a request whose best match
  scores 0.4 is not one whose best scores 0.8: the gap means the same in both);
- ``tuned`` / ``tuned_gap``: the cosine in the shop's own fine-tuned embedder (``finetune/embedder.py``) and
  its gap; the base cosine where the shop has none (or the item no tuned vector), so a ranker means the same
  with or without one;
- ``category_match``: share of the request's words that name the item's finest category ("I need milk");
- ``category_share``: share of the pool's ten most relevant items in the item's finest category (the
  category the request most likely means, even when no word names it);
- ``bought``, ``bought_share``, ``recency``, ``history_size``: the shopper's own record of the item among
  their history relevant to the request: log1p(baskets), share of the purchases in its category, 1 / (1 +
  rank by last purchase), log1p(entries) (a property of the shopper, so trees can condition on it);
- ``price_to_budget``, ``log_price``: NaN where there is no price or no budget (LightGBM learns a direction
  for missing values instead of treating them as 0).

``substitute`` is zero whenever nothing is chosen yet, which is how every training pool looks; the ranker
therefore gets it from the hand reranker at assembly time (``ranker.LearnedRanker``), not from data.
The shopper's own likes and dislikes (``retrieval/feedback.py``) are no column either, for the same reason:
no training row has live feedback (a replayed basket is of a time before it), so ``Reranker.score`` adds
them as the ``taste`` term after the prediction.

>>> from retrieval.types import Event, Item
>>> milk, tea = Item("m", "Oat Milk", category=("dairy", "milk"), price=2.0), Item("t", "Green Tea", price=3.0)
>>> terms = {t: np.zeros(2, dtype=np.float32) for t in HAND_TERMS}
>>> terms["relevance"] = np.array([0.6, 0.2], dtype=np.float32)
>>> x = feature_matrix("I need milk", [milk, tea], terms, [(milk, None, Event("s", "m", 5.0, count=3))], 4.0)
>>> row = lambda i: {f: round(float(v), 3) for f, v in zip(FEATURES, x[i])}
>>> row(0)["category_match"], row(0)["bought"], row(1)["bought"]
(1.0, 1.386, 0.0)
>>> row(1)["price_to_budget"], row(1)["relevance_gap"], row(0)["category_share"]
(0.75, -0.4, 0.5)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.lexical import terms as words_of
from retrieval.types import Event, Item

HAND_TERMS = ("relevance", "lexical", "feedback", "affinity", "complement", "substitute", "popularity")
FEATURES = (*HAND_TERMS, "relevance_gap", "lexical_gap", "tuned", "tuned_gap", "category_match", "category_share",
            "bought", "bought_share", "recency", "history_size", "price_to_budget", "log_price")
MONOTONE = {"relevance": 1, "lexical": 1, "tuned": 1, "complement": 1, "category_match": 1, "bought": 1}
"""Directions that are obviously right: more of these never makes an item a worse answer."""
GROUPS = {"relevance": ("relevance", "relevance_gap", "tuned", "tuned_gap"),
          "lexical": ("lexical", "lexical_gap", "category_match", "category_share"),
          "feedback": ("feedback",), "affinity": ("affinity", "bought", "bought_share", "recency", "history_size"),
          "complement": ("complement",), "substitute": ("substitute",), "popularity": ("popularity",),
          "price": ("price_to_budget", "log_price")}
"""Which breakdown term a feature's contribution is reported under (explanations read these terms)."""
TOP_FOR_CATEGORY = 10


def _finest(item: Item) -> str:
    return item.category[-1].lower() if item.category else ""


def feature_matrix(query: str, items: Sequence[Item], terms: dict[str, np.ndarray],
                   history: Sequence[tuple[Item, Any, Event]], budget: float | None) -> np.ndarray:
    """(len(items), len(FEATURES)) float32: the columns of ``FEATURES`` for one pool."""
    n = len(items)
    x = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return x
    col = {f: i for i, f in enumerate(FEATURES)}
    for t in HAND_TERMS:
        x[:, col[t]] = terms[t]
    rel, lex = terms["relevance"], terms["lexical"]
    x[:, col["relevance_gap"]] = rel - rel.max()
    x[:, col["lexical_gap"]] = lex - lex.max()
    tuned = terms.get("tuned", rel)
    x[:, col["tuned"]] = tuned
    x[:, col["tuned_gap"]] = tuned - tuned.max()
    cats = [_finest(it) for it in items]
    asked = set(words_of(query))
    for i, c in enumerate(cats):
        cw = set(words_of(c))
        x[i, col["category_match"]] = len(cw & asked) / len(cw) if cw else 0.0
    top = [cats[i] for i in np.argsort(-rel, kind="stable")[:TOP_FOR_CATEGORY]]
    share = {c: top.count(c) / len(top) for c in set(top) if c}
    x[:, col["category_share"]] = [share.get(c, 0.0) for c in cats]
    _personal(x, col, items, cats, history)
    for i, it in enumerate(items):
        p = it.price
        x[i, col["log_price"]] = math.log1p(p) if p is not None and p >= 0 else np.nan
        x[i, col["price_to_budget"]] = p / budget if p is not None and budget else np.nan
    return x


def _personal(x: np.ndarray, col: dict[str, int], items: Sequence[Item], cats: list[str],
              history: Sequence[tuple[Item, Any, Event]]) -> None:
    x[:, col["history_size"]] = math.log1p(len(history))
    if not history:
        return
    bought = {it.id: max(1, int(ev.count)) for it, _, ev in history}
    by_cat: dict[str, int] = defaultdict(int)
    for it, _, ev in history:
        by_cat[_finest(it)] += max(1, int(ev.count))
    order = sorted(history, key=lambda h: (-h[2].timestamp, h[0].id))
    rank = {it.id: r for r, (it, _, _) in enumerate(order)}
    for i, it in enumerate(items):
        if it.id in bought:
            x[i, col["bought"]] = math.log1p(bought[it.id])
            x[i, col["bought_share"]] = bought[it.id] / max(1, by_cat[cats[i]])
            x[i, col["recency"]] = 1.0 / (1.0 + rank[it.id])
