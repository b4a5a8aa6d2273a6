"""The embedding reranker: scores candidates given (request, shopper history, items already chosen).

score = w_rel·relevance + w_aff·affinity + w_comp·complement − w_sub·substitute + w_pop·popularity

- relevance:  cosine of the item to the request;
- affinity:   max cosine to the shopper's history items relevant to this request (evidence: which, when);
- complement: max co-purchase association with a chosen or history item (evidence: which);
- substitute: how far the cosine to a chosen item exceeds the threshold, scaled to [0, 1] (four teapots
  are substitutes, not a bundle);
- popularity: log1p(popularity) / log1p(max popularity).

``breakdown`` holds each term's weighted contribution (they sum to ``score``), ``evidence`` the facts behind
them, from which explanations such as "often bought with the teapot" are written. Pure numpy.

>>> import numpy as np
>>> from retrieval.config import RerankConfig
>>> from retrieval.types import Item
>>> q = np.array([1.0, 0.0], dtype=np.float32)
>>> pot, pot2 = Item("pot", "teapot"), Item("pot2", "teapot blue")
>>> v = np.array([1.0, 0.0], dtype=np.float32)
>>> r = Reranker(RerankConfig(popularity=0.0))
>>> [s.item.id for s in r.score(q, [(pot, v)], [], [])], r.score(q, [(pot2, v)], [], [(pot, v)])[0].breakdown
(['pot'], {'relevance': 1.0, 'affinity': 0.0, 'complement': 0.0, 'substitute': -0.6, 'popularity': 0.0})
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.config import RerankConfig
from retrieval.types import Event, Item, ScoredItem

if TYPE_CHECKING:
    from retrieval.copurchase import CoPurchase

TERMS = ("relevance", "affinity", "complement", "substitute", "popularity")


def _matrix(vectors: Sequence[np.ndarray], dim: int) -> np.ndarray:
    return np.stack(vectors).astype(np.float32) if len(vectors) else np.zeros((0, dim), dtype=np.float32)


class Reranker:
    """Weighted-sum reranker; weights come from ``RerankConfig``."""

    def __init__(self, config: RerankConfig, stats: CoPurchase | None = None,
                 max_popularity: int = 0) -> None:
        self.config = config
        self.stats = stats
        self.max_popularity = max_popularity

    def score(self, query_vec: np.ndarray, candidates: Sequence[tuple[Item, np.ndarray]],
              history: Sequence[tuple[Item, np.ndarray, Event]] = (),
              chosen: Sequence[tuple[Item, np.ndarray]] = (),
              anchors: Sequence[str] = ()) -> list[ScoredItem]:
        """Score and sort candidates (best first); chosen items are never returned.

        ``anchors`` are further item ids whose complements count (e.g. the request's top vector hits).
        """
        chosen_ids = {it.id for it, _ in chosen}
        candidates = [(it, v) for it, v in candidates if it.id not in chosen_ids]
        if not candidates:
            return []
        dim = int(np.asarray(query_vec).shape[-1])
        cand = _matrix([v for _, v in candidates], dim)
        rel = cand @ np.asarray(query_vec, dtype=np.float32)
        aff, aff_idx = self._max_sim(cand, _matrix([v for _, v, _ in history], dim))
        sub_sim, sub_idx = self._max_sim(cand, _matrix([v for _, v in chosen], dim))
        thr = self.config.substitute_threshold
        sub = np.clip((sub_sim - thr) / max(1e-6, 1.0 - thr), 0.0, 1.0) if len(chosen) else sub_sim * 0
        comp, comp_of = self._complements([it.id for it, _ in candidates],
                                          self._anchor_weights(candidates, rel, history, chosen, anchors))
        pop = self._popularity([it for it, _ in candidates])
        terms = {"relevance": rel, "affinity": np.clip(aff, 0.0, 1.0), "complement": comp,
                 "substitute": sub, "popularity": pop}
        weights = self._weights()
        out = []
        for i, (item, _) in enumerate(candidates):
            breakdown = {t: round(float(weights[t] * terms[t][i]), 6) for t in TERMS}
            evidence = self._evidence(i, history, aff, aff_idx, chosen, sub, sub_idx, comp, comp_of)
            out.append(ScoredItem(item, round(sum(breakdown.values()), 6), breakdown, evidence))
        out.sort(key=lambda s: (-s.score, s.item.id))
        return out

    def _weights(self) -> dict[str, float]:
        c = self.config
        return {"relevance": c.relevance, "affinity": c.affinity, "complement": c.complement,
                "substitute": -c.substitute_penalty, "popularity": c.popularity}

    @staticmethod
    def _max_sim(cand: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(others) == 0:
            return np.zeros(len(cand), dtype=np.float32), np.full(len(cand), -1)
        sims = cand @ others.T
        idx = sims.argmax(axis=1)
        return sims[np.arange(len(cand)), idx], idx

    @staticmethod
    def _anchor_weights(candidates: Sequence[tuple[Item, np.ndarray]], rel: np.ndarray,
                        history: Sequence[tuple[Item, np.ndarray, Event]], chosen: Sequence[tuple[Item, np.ndarray]],
                        anchors: Sequence[str]) -> dict[str, tuple[float, bool]]:
        """anchor id -> (weight, use category fallback). Chosen and history items count fully, with the
        category fallback (an item never bought still has complements); a request's top hits count in
        proportion to their relevance and only with item-level evidence (their fallback is mostly noise)."""
        out: dict[str, tuple[float, bool]] = {}
        rel_by_id = {it.id: float(r) for (it, _), r in zip(candidates, rel, strict=True)}
        top = max([rel_by_id.get(a, 0.0) for a in anchors] + [1e-6])
        for a in anchors:
            out[a] = (max(0.0, rel_by_id.get(a, top)) / top, False)
        for it, *_ in list(chosen) + list(history):
            out[it.id] = (1.0, True)
        return out

    def _complements(self, cand_ids: list[str],
                     anchors: dict[str, tuple[float, bool]]) -> tuple[np.ndarray, list[str | None]]:
        scores = np.zeros(len(cand_ids), dtype=np.float32)
        which: list[str | None] = [None] * len(cand_ids)
        if self.stats is None or not anchors:
            return scores, which
        for i, cid in enumerate(cand_ids):
            for a, (weight, fallback) in anchors.items():
                if a == cid or weight <= 0:
                    continue  # an item is not its own complement
                s = weight * float(self.stats.association(a, cid, fallback=fallback))
                if s > scores[i]:
                    scores[i], which[i] = s, a
        return np.clip(scores, 0.0, 1.0), which

    def _popularity(self, items: list[Item]) -> np.ndarray:
        top = max([self.max_popularity] + [it.popularity for it in items])
        if top <= 0:
            return np.zeros(len(items), dtype=np.float32)
        return np.array([math.log1p(it.popularity) / math.log1p(top) for it in items], dtype=np.float32)

    @staticmethod
    def _evidence(i: int, history: Sequence[tuple[Item, np.ndarray, Event]], aff: np.ndarray,
                  aff_idx: np.ndarray, chosen: Sequence[tuple[Item, np.ndarray]], sub: np.ndarray,
                  sub_idx: np.ndarray, comp: np.ndarray, comp_of: list[str | None]) -> dict[str, Any]:
        ev: dict[str, Any] = {}
        if len(history) and aff_idx[i] >= 0:
            h_item, _, h_event = history[int(aff_idx[i])]
            ev.update(history_item=h_item.id, history_title=h_item.title, history_ts=h_event.timestamp,
                      history_similarity=round(float(aff[i]), 4))
        if comp_of[i] is not None:
            ev.update(complement_of=comp_of[i], complement_association=round(float(comp[i]), 4))
        if len(chosen) and sub[i] > 0:
            ev["substitute_of"] = chosen[int(sub_idx[i])][0].id
        return ev
