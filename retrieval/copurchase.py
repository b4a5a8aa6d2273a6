"""Co-purchase statistics from TRAIN baskets: which items are bought together (complements, not look-alikes).

An item x basket incidence matrix X (scipy.sparse) gives co-occurrence counts C = X Xᵀ. From the counts of a,
b and (a, b) in N baskets, one association measure is normalized into [0, 1]:

- ``npmi``:   PMI / -log p(a,b), clipped at 0 (1 = always together, 0 = independent or less);
- ``lift``:   1 - 1/lift, clipped at 0 (lift 2 -> 0.5, lift 10 -> 0.9);
- ``pmi``:    PMI / log N, clipped at 0;
- ``cosine``: c_ab / sqrt(c_a c_b).

Pairs seen together fewer than ``min_count`` times count as unseen (one shared basket is mostly noise).
The same measure between categories (a category is "in" a basket when one of its items is) is the fallback
for items with no item-level evidence: their complements are the popular items of the most associated other
categories, always scored below ``FALLBACK_WEIGHT`` and below every item-level complement in the same list.

>>> from retrieval.types import Basket, Item
>>> items = [Item(id=i, title=i, category=(c,)) for i, c in
...          [("teapot", "tea"), ("cups", "table"), ("biscuits", "food"), ("kettle", "tea")]]
>>> bs = [Basket(id=str(n), item_ids=ids) for n, ids in enumerate(
...       [("teapot", "cups"), ("teapot", "cups", "biscuits"), ("cups", "biscuits"), ("biscuits",)])]
>>> st = CoPurchase.fit(bs, items, measure="lift", min_count=1)
>>> st.stats("teapot", "cups")["lift"], round(st.association("teapot", "cups"), 3)
(1.3333333333333333, 0.25)
>>> st.complements("kettle", 2)   # never bought: "tea" goes with "table" (lift 4/3), not "food" (2/3)
[('cups', 0.07425)]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bundlebot.errors import ConfigError, DataError
from bundlebot.paths import writing
from retrieval.types import Basket, Item

log = logging.getLogger(__name__)

MEASURES = ("npmi", "lift", "pmi", "cosine")
DEFAULT_MEASURE = "cosine"
"""Best hit@10 on BundleRec food and Online Retail dev baskets (benchmarks/copurchase_measures.py)."""
FALLBACK_WEIGHT = 0.3
"""Ceiling of category-fallback scores: an item-level complement outranks a category guess."""
CATEGORY_DEPTH = 3
"""Category paths are cut to this depth for the fallback ((dept, aisle); BundleRec's root > a > b)."""
_TOP_PER_CATEGORY = 30
_FALLBACK_DECAY = 0.9


def _normalize(measure: str, c_ab: np.ndarray, c_a: np.ndarray, c_b: np.ndarray, n: int) -> np.ndarray:
    """The chosen measure in [0, 1] for arrays of pair counts (all counts > 0)."""
    c_ab, c_a, c_b = (np.asarray(x, dtype=np.float64) for x in (c_ab, c_a, c_b))
    lift = c_ab * n / (c_a * c_b)
    if measure == "lift":
        out = 1.0 - 1.0 / lift
    elif measure == "pmi":
        out = np.log(lift) / math.log(max(n, 2))
    elif measure == "npmi":
        p_ab = c_ab / n
        # p(a,b) = 1 (every basket holds both) makes -log p = 0: that pair is perfectly associated.
        denom = -np.log(p_ab)
        out = np.where(denom > 0, np.log(lift) / np.where(denom > 0, denom, 1.0), 1.0)
    elif measure == "cosine":
        out = c_ab / np.sqrt(c_a * c_b)
    else:
        raise ConfigError(f"co-purchase measure should be one of {MEASURES}, got {measure!r}")
    return np.clip(out, 0.0, 1.0)


def _incidence(groups: Iterable[Iterable[int]], n_rows: int) -> sp.csr_matrix:
    """Binary rows x baskets matrix from, per basket, the row indices it holds."""
    rows: list[int] = []
    cols: list[int] = []
    n_cols = 0
    for col, members in enumerate(groups):
        uniq = set(members)
        rows.extend(uniq)
        cols.extend([col] * len(uniq))
        n_cols = col + 1
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols))


def _association_matrix(cooc: sp.csr_matrix, counts: np.ndarray, n: int, measure: str,
                        min_count: int) -> sp.csr_matrix:
    """Normalized association of every pair seen together >= min_count times (diagonal dropped)."""
    coo = sp.triu(cooc, k=1).tocoo()
    keep = coo.data >= min_count
    r, c, d = coo.row[keep], coo.col[keep], coo.data[keep]
    vals = _normalize(measure, d, counts[r], counts[c], n)
    pos = vals > 0
    r, c, vals = r[pos], c[pos], vals[pos].astype(np.float32)
    upper = sp.csr_matrix((vals, (r, c)), shape=cooc.shape)
    return (upper + upper.T).tocsr()


def _top(scores: np.ndarray, candidates: np.ndarray, k: int) -> list[int]:
    """Indices of the k best candidates: highest score, ties by index (deterministic)."""
    order = np.lexsort((candidates, -scores))
    return [int(candidates[i]) for i in order[:k]]


class CoPurchase:
    """Item-item and category-category association from baskets. Build with ``CoPurchase.fit``."""

    def __init__(self, item_ids: Sequence[str], item_category: Sequence[str], counts: np.ndarray,
                 assoc: sp.csr_matrix, cat_names: Sequence[str], cat_assoc: np.ndarray, n_baskets: int,
                 measure: str, min_count: int, cooc: sp.csr_matrix, own_category_weight: float = 0.0) -> None:
        self.item_ids = list(item_ids)
        self.index = {i: n for n, i in enumerate(self.item_ids)}
        self.item_category = list(item_category)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.assoc = assoc.tocsr()
        self.cooc = cooc.tocsr()
        self.cat_names = list(cat_names)
        self.cat_index = {c: n for n, c in enumerate(self.cat_names)}
        self.cat_assoc = np.asarray(cat_assoc, dtype=np.float32)
        self.n_baskets = int(n_baskets)
        self.measure = measure
        self.min_count = int(min_count)
        self.own_category_weight = float(own_category_weight)
        self._cat_top = self._top_per_category()

    # --- building ---------------------------------------------------------------------------------------

    @classmethod
    def fit(cls, baskets: Sequence[Basket], items: Sequence[Item], measure: str = DEFAULT_MEASURE,
            min_count: int = 2, category_depth: int = CATEGORY_DEPTH,
            own_category_weight: float = 0.0) -> CoPurchase:
        """Count co-purchases of catalog ``items`` in ``baskets`` (TRAIN baskets only: never held-out ones).

        Basket entries that are not catalog items are ignored; an item twice in a basket counts once.
        ``own_category_weight`` lets the fallback also offer popular items of the item's OWN category (as if
        associated this much): 0 by default, since those are mostly substitutes; on BundleRec food, whose
        intent bundles are often one category ("Seaweed"), 1.0 raised dev hit@10 from 0.036 to 0.053.
        """
        if measure not in MEASURES:
            raise ConfigError(f"co-purchase measure should be one of {MEASURES}, got {measure!r}",
                              hint="use cosine (the measured best), npmi, lift or pmi")
        if min_count < 1:
            raise ConfigError(f"min_count should be >= 1, got {min_count}")
        if not 0.0 <= own_category_weight <= 1.0:
            raise ConfigError(f"own_category_weight should be in [0, 1], got {own_category_weight}")
        ids = list(dict.fromkeys(it.id for it in items))
        index = {i: n for n, i in enumerate(ids)}
        cat_of = {it.id: " > ".join(it.category[:category_depth]) for it in items}
        item_cat = [cat_of[i] for i in ids]
        member_rows = [[index[i] for i in b.item_ids if i in index] for b in baskets]
        x = _incidence(member_rows, len(ids))
        cooc = (x @ x.T).tocsr()
        counts = np.asarray(x.sum(axis=1)).ravel().astype(np.int64)
        n = max(len(baskets), 1)
        assoc = _association_matrix(cooc, counts, n, measure, min_count)
        cat_names = sorted({c for c in item_cat if c})
        cat_idx = {c: k for k, c in enumerate(cat_names)}
        cat_rows = [[cat_idx[item_cat[r]] for r in rows if item_cat[r]] for rows in member_rows]
        xc = _incidence(cat_rows, len(cat_names))
        ccooc = (xc @ xc.T).tocsr()
        ccounts = np.asarray(xc.sum(axis=1)).ravel()
        cat_assoc = _association_matrix(ccooc, ccounts, n, measure, min_count).toarray()
        log.info("co-purchase: %d baskets, %d items (%d bought), %d pairs, measure=%s", len(baskets),
                 len(ids), int((counts > 0).sum()), assoc.nnz // 2, measure)
        return cls(ids, item_cat, counts, assoc, cat_names, cat_assoc, n, measure, min_count, cooc,
                   own_category_weight)

    def _top_per_category(self) -> dict[int, np.ndarray]:
        """Per category, its most bought items (most baskets first, ties by index)."""
        cats = np.array([self.cat_index.get(c, -1) for c in self.item_category], dtype=np.int64)
        order = np.lexsort((np.arange(len(cats)), -self.counts, cats))
        tops: dict[int, np.ndarray] = {}
        for c in range(len(self.cat_names)):
            members = order[cats[order] == c]
            tops[c] = members[self.counts[members] > 0][:_TOP_PER_CATEGORY]
        return tops

    # --- queries ----------------------------------------------------------------------------------------

    def popularity(self, item_id: str) -> int:
        """How many fitted baskets hold the item (0 when unknown)."""
        n = self.index.get(item_id)
        return 0 if n is None else int(self.counts[n])

    def stats(self, a: str, b: str) -> dict[str, float]:
        """Raw evidence for a pair: counts and every measure, unnormalized (lift, pmi, npmi, cosine)."""
        ia, ib = self.index.get(a), self.index.get(b)
        c_a = self.popularity(a)
        c_b = self.popularity(b)
        c_ab = int(self.cooc[ia, ib]) if ia is not None and ib is not None else 0
        out: dict[str, float] = {"count_a": c_a, "count_b": c_b, "count_ab": c_ab, "n": self.n_baskets}
        if c_ab:
            n = self.n_baskets
            lift = c_ab * n / (c_a * c_b)
            out.update(lift=lift, pmi=math.log(lift), cosine=c_ab / math.sqrt(c_a * c_b),
                       npmi=math.log(lift) / -math.log(c_ab / n) if c_ab < n else 1.0)
        return out

    def category_association(self, cat_a: str, cat_b: str) -> float:
        """Association of two (depth-cut) category paths; 0 for the same or an unknown category."""
        ia, ib = self.cat_index.get(cat_a), self.cat_index.get(cat_b)
        if ia is None or ib is None or ia == ib:
            return 0.0
        return float(self.cat_assoc[ia, ib])

    def association(self, a: str, b: str, *, fallback: bool = True) -> float:
        """Normalized association in [0, 1]. Pairs without item-level evidence get the category-level value
        times ``FALLBACK_WEIGHT`` (0 for two items of the same category: likely substitutes)."""
        ia, ib = self.index.get(a), self.index.get(b)
        if ia is None or ib is None or ia == ib:
            return 0.0
        value = float(self.assoc[ia, ib])
        if value > 0 or not fallback:
            return value
        return FALLBACK_WEIGHT * self.category_association(self.item_category[ia], self.item_category[ib])

    def complements(self, item_id: str, k: int = 10, *, category: Sequence[str] | None = None,
                    depth: int = CATEGORY_DEPTH) -> list[tuple[str, float]]:
        """Top-k items bought with ``item_id`` (never itself), best first. Short lists are filled from the
        category fallback; ``category`` names the category of an item the statistics never saw."""
        return self.complements_of_set([item_id], k, categories=[category] if category else None, depth=depth)

    def complements_of_set(self, item_ids: Sequence[str], k: int = 10, *,
                           categories: Sequence[Sequence[str]] | None = None,
                           depth: int = CATEGORY_DEPTH) -> list[tuple[str, float]]:
        """Top-k complements of a set (mean association with its members), none of the members."""
        known = [self.index[i] for i in item_ids if i in self.index]
        exclude = set(known)
        scores = np.zeros(len(self.item_ids), dtype=np.float64)
        if known:
            scores = np.asarray(self.assoc[known].mean(axis=0)).ravel()
        cand = np.flatnonzero(scores > 0)
        cand = cand[~np.isin(cand, list(exclude))]
        picked = _top(scores[cand], cand, k)
        out = [(self.item_ids[i], float(scores[i])) for i in picked]
        if len(out) < k:
            cats = {self.item_category[i] for i in known}
            cats |= {" > ".join(list(c)[:depth]) for c in categories or () if c}
            cap = min([FALLBACK_WEIGHT] + [s for _, s in out])
            taken = exclude | set(picked)
            out += self._category_fill(sorted(cats), k - len(out), taken, cap)
        return out

    def _category_fill(self, cats: Sequence[str], n: int, taken: set[int],
                       cap: float) -> list[tuple[str, float]]:
        """Popular items of the categories most associated with ``cats`` (not ``cats`` themselves)."""
        own = [self.cat_index[c] for c in cats if c in self.cat_index]
        if not own or n <= 0:
            return []
        cat_scores = self.cat_assoc[own].mean(axis=0)
        cat_scores[own] = self.own_category_weight
        cand_items: list[int] = []
        cand_scores: list[float] = []
        for c in np.flatnonzero(cat_scores > 0):
            for rank, i in enumerate(self._cat_top[int(c)]):
                if int(i) not in taken:
                    cand_items.append(int(i))
                    cand_scores.append(0.99 * cap * float(cat_scores[c]) * _FALLBACK_DECAY ** rank)
        if not cand_items:
            return []
        items = np.array(cand_items)
        best = _top(np.array(cand_scores), items, n)
        score_of = dict(zip(cand_items, cand_scores, strict=True))
        return [(self.item_ids[i], score_of[i]) for i in best]

    # --- persistence ------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``path/copurchase.npz`` (matrices, counts) and ``path/copurchase.json`` (ids, settings).

        Each file is written under a temporary name and renamed into place, and both carry the same token:
        a process killed between the two renames leaves a pair that ``load`` refuses, never a mix. A write the
        disk refuses (full, read-only) is a DiskError before any rename: the stored pair stays as it was."""
        from retrieval.faults import crash_point

        folder = Path(path)
        a, c = self.assoc.tocsr(), self.cooc.tocsr()
        token = hashlib.sha256(json.dumps(self.item_ids).encode() + a.data.tobytes() + c.data.tobytes()).hexdigest()
        meta = {"version": 1, "token": token, "measure": self.measure, "min_count": self.min_count,
                "n_baskets": self.n_baskets, "item_ids": self.item_ids, "item_category": self.item_category,
                "cat_names": self.cat_names, "own_category_weight": self.own_category_weight}
        tmps = (folder / "copurchase.npz.tmp", folder / "copurchase.json.tmp")
        with writing("co-purchase statistics", folder, discard=tmps):
            folder.mkdir(parents=True, exist_ok=True)
            with open(tmps[0], "wb") as f:
                np.savez_compressed(f, counts=self.counts, cat_assoc=self.cat_assoc, token=np.array(token),
                                    a_data=a.data, a_indices=a.indices, a_indptr=a.indptr,
                                    c_data=c.data, c_indices=c.indices, c_indptr=c.indptr)
            tmps[1].write_text(json.dumps(meta), encoding="utf-8")
        os.replace(folder / "copurchase.npz.tmp", folder / "copurchase.npz")
        crash_point("copurchase")
        os.replace(folder / "copurchase.json.tmp", folder / "copurchase.json")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> CoPurchase:
        folder = Path(path)
        try:
            meta = json.loads((folder / "copurchase.json").read_text(encoding="utf-8"))
            arrays = np.load(folder / "copurchase.npz")
            if meta.get("token") is not None and str(arrays["token"]) != meta["token"]:
                raise ValueError("copurchase.npz and copurchase.json come from different runs")
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"expected co-purchase statistics in {folder}, could not read them: {exc}",
                            hint="re-run `bundlebot index` for this shop to rebuild them") from exc
        n = len(meta["item_ids"])
        assoc = sp.csr_matrix((arrays["a_data"], arrays["a_indices"], arrays["a_indptr"]), shape=(n, n))
        cooc = sp.csr_matrix((arrays["c_data"], arrays["c_indices"], arrays["c_indptr"]), shape=(n, n))
        return cls(meta["item_ids"], meta["item_category"], arrays["counts"], assoc, meta["cat_names"],
                   arrays["cat_assoc"], meta["n_baskets"], meta["measure"], meta["min_count"], cooc,
                   meta.get("own_category_weight", 0.0))
