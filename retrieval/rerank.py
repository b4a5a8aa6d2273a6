"""The embedding reranker: scores candidates given (request, shopper history, items already chosen).

score = w_rel·relevance + w_lex·lexical + w_fb·feedback + w_aff·affinity + w_comp·complement
        − w_sub·substitute + w_pop·popularity

- relevance:  cosine of the item to the request;
- lexical:    BM25 of the request's words in the item's title/category, in [0, 1] (evidence: which words);
- feedback:   similarity to the centroid of the request's best first hits (pseudo-relevance feedback: a
  request names a kind of thing, its best hits show what that kind looks like in this catalog);
- affinity:   max cosine to the shopper's history items relevant to this request (evidence: which, when);
- complement: max co-purchase association with a chosen or history item (evidence: which);
- substitute: how far the cosine to a chosen item exceeds the threshold, scaled to [0, 1] (four teapots
  are substitutes, not a bundle);
- popularity: log1p(popularity) / log1p(max popularity).

With a shop's learned ranker (``retrieval/ranker.py``) the score is its prediction instead, and each term of
the breakdown holds the contributions of the features reported under it (``features.GROUPS``).

- taste: the shopper's own feedback (``retrieval/feedback.py``: the item's and its kind's value in [-1, 1])
  times ``RerankConfig.taste``, present only when the shopper gave some. It is added after either ranker,
  in the hand scores' units (the learned scores are scaled to them), like the substitute penalty: no
  training row carries live feedback, so the learned model cannot have learned it.

``breakdown`` holds each term's weighted contribution (they sum to ``score``), ``evidence`` the facts behind
them, from which explanations such as "often bought with the teapot" are written. Pure numpy: the complement
term reads one sparse row block for all anchors at once.

>>> import numpy as np
>>> from bundlebot.config.retrieval import RerankConfig
>>> from retrieval.types import Item
>>> q = np.array([1.0, 0.0], dtype=np.float32)
>>> pot, pot2 = Item("pot", "teapot"), Item("pot2", "teapot blue")
>>> v = np.array([1.0, 0.0], dtype=np.float32)
>>> r = Reranker(RerankConfig(popularity=0.0))
>>> [s.item.id for s in r.score(q, [(pot, v)], [], [])], r.score(q, [(pot2, v)], [], [(pot, v)])[0].breakdown
(['pot'], {'relevance': 1.0, 'lexical': 0.0, 'feedback': 0.0, 'affinity': 0.0, 'complement': 0.0, \
'substitute': -0.6, 'popularity': 0.0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bundlebot.config.retrieval import RerankConfig
from retrieval.features import FEATURES, HAND_TERMS, feature_matrix
from retrieval.types import Event, Item, ScoredItem

if TYPE_CHECKING:
    from retrieval.copurchase import CoPurchase
    from retrieval.ranker import LearnedRanker

TERMS = HAND_TERMS
Lexical = Mapping[str, tuple[float, Sequence[str]]]
"""item id -> (lexical score in [0, 1], the request words its text holds)."""
Tuned = tuple[np.ndarray, Mapping[str, np.ndarray]]
"""The request's vector in the shop's fine-tuned embedder, and item id -> that embedder's item vector."""


def _matrix(vectors: Sequence[np.ndarray], dim: int) -> np.ndarray:
    return np.stack(vectors).astype(np.float32) if len(vectors) else np.zeros((0, dim), dtype=np.float32)


class Reranker:
    """Weighted-sum reranker; weights come from ``RerankConfig``."""

    def __init__(self, config: RerankConfig, stats: CoPurchase | None = None,
                 max_popularity: int = 0, learned: LearnedRanker | None = None) -> None:
        self.config = config
        self.stats = stats
        self.max_popularity = max_popularity
        self.learned = learned
        """The shop's fitted ranker (``retrieval/ranker.py``); None: the hand weights below."""
        self._item_cat: np.ndarray | None = None

    def score(self, query_vec: np.ndarray, candidates: Sequence[tuple[Item, np.ndarray]],
              history: Sequence[tuple[Item, np.ndarray, Event]] = (),
              chosen: Sequence[tuple[Item, np.ndarray]] = (),
              anchors: Sequence[str] = (), *, lexical: Lexical | None = None,
              feedback_vec: np.ndarray | None = None, query: str = "",
              budget: float | None = None, taste: Mapping[str, float] | None = None,
              tuned: Tuned | None = None) -> list[ScoredItem]:
        """Score and sort candidates (best first); chosen items are never returned.

        ``anchors`` are further item ids whose complements count (e.g. the request's top vector hits);
        ``lexical`` the request's word matches per item id; ``feedback_vec`` the centroid of the first hits;
        ``query`` and ``budget`` are read by the learned ranker only (``retrieval/features.py``); ``taste``
        the shopper's feedback value per item id (the ``taste`` term); ``tuned`` the request's vector in the
        shop's fine-tuned embedder and the candidates' vectors there (the learned ranker's ``tuned`` feature).
        """
        pool = self._terms(query_vec, candidates, history, chosen, anchors, lexical, feedback_vec, tuned)
        if pool is None:
            return []
        candidates, terms, (aff, aff_idx, sub, sub_idx, comp, comp_of) = pool
        if self.learned is not None:
            x = feature_matrix(query, [it for it, _ in candidates], terms, history, budget)
            rows = self.learned.breakdowns(x, substitute=-self.config.substitute_penalty * terms["substitute"])
        else:
            rows = self._hand(candidates, terms, history)
        times = {it.id: max(1, int(ev.quantity)) for it, _, ev in history}
        out = []
        for i, (item, _) in enumerate(candidates):
            breakdown = rows[i]
            if taste:
                breakdown["taste"] = round(self.config.taste * float(taste.get(item.id, 0.0)), 6)
            evidence = self._evidence(i, history, aff, aff_idx, chosen, sub, sub_idx, comp, comp_of)
            evidence["relevance"] = round(float(terms["relevance"][i]), 4)  # the cosine, unweighted
            if item.id in times and (self.learned is not None or self.config.repeat > 0):
                evidence["times_bought"] = times[item.id]
            if taste and taste.get(item.id):
                evidence["taste"] = round(float(taste[item.id]), 4)  # the shopper's own value, unweighted
            if terms["lexical"][i] > 0 and lexical is not None:
                evidence["matched_words"] = list(lexical[item.id][1])
            out.append(ScoredItem(item, round(sum(breakdown.values()), 6), breakdown, evidence))
        out.sort(key=lambda s: (-s.score, s.item.id))
        return out

    def features(self, query_vec: np.ndarray, candidates: Sequence[tuple[Item, np.ndarray]],
                 history: Sequence[tuple[Item, np.ndarray, Event]] = (),
                 chosen: Sequence[tuple[Item, np.ndarray]] = (), anchors: Sequence[str] = (), *,
                 lexical: Lexical | None = None, feedback_vec: np.ndarray | None = None, query: str = "",
                 budget: float | None = None, tuned: Tuned | None = None) -> tuple[list[Item], np.ndarray]:
        """The candidates (chosen ones left out) and their ``FEATURES`` rows, as ``score`` would compute them."""
        pool = self._terms(query_vec, candidates, history, chosen, anchors, lexical, feedback_vec, tuned)
        if pool is None:
            return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
        items = [it for it, _ in pool[0]]
        return items, feature_matrix(query, items, pool[1], history, budget)

    def _terms(self, query_vec: np.ndarray, candidates: Sequence[tuple[Item, np.ndarray]],
               history: Sequence[tuple[Item, np.ndarray, Event]], chosen: Sequence[tuple[Item, np.ndarray]],
               anchors: Sequence[str], lexical: Lexical | None, feedback_vec: np.ndarray | None,
               tuned: Tuned | None = None) -> Any:
        """(candidates, the unweighted terms, what the evidence is read from), or None without candidates."""
        chosen_ids = {it.id for it, _ in chosen}
        candidates = [(it, v) for it, v in candidates if it.id not in chosen_ids]
        if not candidates:
            return None
        dim = int(np.asarray(query_vec).shape[-1])
        cand = _matrix([v for _, v in candidates], dim)
        rel = cand @ np.asarray(query_vec, dtype=np.float32)
        aff, aff_idx = self._max_sim(cand, _matrix([v for _, v, _ in history], dim))
        sub_sim, sub_idx = self._max_sim(cand, _matrix([v for _, v in chosen], dim))
        thr = self.config.substitute_threshold
        sub = np.clip((sub_sim - thr) / max(1e-6, 1.0 - thr), 0.0, 1.0) if len(chosen) else sub_sim * 0
        anchor_w = self._anchor_weights(candidates, rel, history, chosen, anchors, self.config.complement_hits)
        comp, comp_of = self._complements([it.id for it, _ in candidates], anchor_w)
        lex = np.array([(lexical or {}).get(it.id, (0.0, ()))[0] for it, _ in candidates], dtype=np.float32)
        fb = cand @ feedback_vec.astype(np.float32) if feedback_vec is not None else rel * 0
        terms = {"relevance": rel, "lexical": lex, "feedback": np.clip(fb, 0.0, 1.0),
                 "affinity": np.clip(aff, 0.0, 1.0), "complement": comp, "substitute": sub,
                 "popularity": self._popularity([it for it, _ in candidates])}
        if tuned is not None:
            tq, tvecs = tuned
            terms["tuned"] = np.array([float(tvecs[it.id] @ tq) if it.id in tvecs else rel[i]
                                       for i, (it, _) in enumerate(candidates)], dtype=np.float32)
        return candidates, terms, (aff, aff_idx, sub, sub_idx, comp, comp_of)

    def _hand(self, candidates: Sequence[tuple[Item, np.ndarray]], terms: dict[str, np.ndarray],
              history: Sequence[tuple[Item, np.ndarray, Event]]) -> list[dict[str, float]]:
        """Each candidate's weighted terms (the repeat-purchase bonus counted under affinity)."""
        weights = self._weights()
        repeat = self._repeat([it.id for it, _ in candidates], history) if self.config.repeat > 0 else None
        rows = []
        for i in range(len(candidates)):
            breakdown = {t: round(float(weights[t] * terms[t][i]), 6) for t in TERMS}
            if repeat is not None and repeat[i][0] > 0:
                breakdown["affinity"] = round(breakdown["affinity"] + self.config.repeat * repeat[i][0], 6)
            rows.append(breakdown)
        return rows

    def _weights(self) -> dict[str, float]:
        c = self.config
        return {"relevance": c.relevance, "lexical": c.lexical, "feedback": c.feedback, "affinity": c.affinity,
                "complement": c.complement, "substitute": -c.substitute_penalty, "popularity": c.popularity}

    def feedback_centroid(self, query_vec: np.ndarray, candidates: Sequence[tuple[Item, np.ndarray]],
                          lexical: Lexical | None = None) -> np.ndarray | None:
        """Mean vector of the ``feedback_k`` best candidates by relevance + lexical (None when off)."""
        k = self.config.feedback_k
        if self.config.feedback <= 0 or k <= 0 or not candidates:
            return None
        cand = _matrix([v for _, v in candidates], int(np.asarray(query_vec).shape[-1]))
        first = self.config.relevance * (cand @ np.asarray(query_vec, dtype=np.float32))
        first += self.config.lexical * np.array([(lexical or {}).get(it.id, (0.0, ()))[0]
                                                 for it, _ in candidates], dtype=np.float32)
        top = np.argsort(-first, kind="stable")[:k]
        return cand[top].mean(axis=0)

    @staticmethod
    def _repeat(ids: Sequence[str], history: Sequence[tuple[Item, np.ndarray, Event]]) -> list[tuple[float, int]]:
        """(bonus in [0, 1], times bought) per candidate: log1p(times) / log1p(10) for the shopper's past items."""
        times = {it.id: max(1, int(ev.quantity)) for it, _, ev in history}
        return [(min(1.0, math.log1p(times[i]) / math.log1p(10)), times[i]) if i in times else (0.0, 0)
                for i in ids]

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
                        anchors: Sequence[str], hits_weight: float = 1.0) -> dict[str, tuple[float, bool]]:
        """anchor id -> (weight, use category fallback). Chosen and history items count fully, with the
        category fallback (an item never bought still has complements); a request's top hits count
        ``hits_weight`` times their relevance share, with item-level evidence only (their fallback is noise)."""
        out: dict[str, tuple[float, bool]] = {}
        rel_by_id = {it.id: float(r) for (it, _), r in zip(candidates, rel, strict=True)}
        top = max([rel_by_id.get(a, 0.0) for a in anchors] + [1e-6])
        for a in anchors:
            out[a] = (hits_weight * max(0.0, rel_by_id.get(a, top)) / top, False)
        for it, *_ in list(chosen) + list(history):
            out[it.id] = (1.0, True)
        return out

    def _complements(self, cand_ids: list[str],
                     anchors: dict[str, tuple[float, bool]]) -> tuple[np.ndarray, list[str | None]]:
        """Per candidate, the best weighted association with an anchor (as ``CoPurchase.association``)."""
        scores = np.zeros(len(cand_ids), dtype=np.float32)
        which: list[str | None] = [None] * len(cand_ids)
        st = self.stats
        live = [(a, w, fb) for a, (w, fb) in anchors.items() if w > 0 and st is not None and a in st.index]
        if st is None or not live:
            return scores, which
        cidx = np.array([st.index.get(c, -1) for c in cand_ids])
        cols = np.flatnonzero(cidx >= 0)
        if not len(cols):
            return scores, which
        aidx = np.array([st.index[a] for a, _, _ in live])
        assoc = st.assoc[aidx][:, cidx[cols]].toarray()  # (anchors, known candidates), one sparse slice
        fallback = np.array([fb for _, _, fb in live])
        if fallback.any():
            assoc = np.where((assoc > 0) | ~fallback[:, None], assoc, self._category_fallback(aidx, cidx[cols]))
        assoc[aidx[:, None] == cidx[cols][None, :]] = 0.0  # an item is not its own complement
        weighted = np.array([w for _, w, _ in live], dtype=np.float64)[:, None] * assoc
        best = weighted.argmax(axis=0)  # the first anchor reaching the maximum, like a strict `>` scan
        vals = weighted[best, np.arange(len(cols))]
        scores[cols] = vals
        for j in np.flatnonzero(vals > 0):
            which[int(cols[j])] = live[int(best[j])][0]
        return np.clip(scores, 0.0, 1.0), which

    def _category_fallback(self, aidx: np.ndarray, cidx: np.ndarray) -> np.ndarray:
        """FALLBACK_WEIGHT x category association (0 within one category or for an unknown category)."""
        from retrieval.copurchase import FALLBACK_WEIGHT

        st = self.stats
        assert st is not None
        if self._item_cat is None:
            self._item_cat = np.array([st.cat_index.get(c, -1) for c in st.item_category], dtype=np.int64)
        ca, cc = self._item_cat[aidx], self._item_cat[cidx]
        vals = st.cat_assoc[np.ix_(np.maximum(ca, 0), np.maximum(cc, 0))].astype(np.float64)
        ok = (ca[:, None] >= 0) & (cc[None, :] >= 0) & (ca[:, None] != cc[None, :])
        return np.where(ok, FALLBACK_WEIGHT * vals, 0.0)

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
