"""Learned-ranker benchmark: ranking one request's pool, against the raw library doing the same work.

For real dev requests of a fitted shop (``bundlebot fit --shop SHOP`` first), each pool is gathered once, then
timed: ``Retriever.rank`` with the hand weights, ``Retriever.rank`` with the learned ranker (features,
prediction, per-feature contributions, sorting, evidence), and raw LightGBM ``Booster.predict`` (+ a
``pred_contrib`` call) on the same feature matrix, in the same run. Pools are cut to ``--pool`` candidates
(the issue's figure: 100). Also prints the fit's wall time from the shop's manifest.

Where the shop has its own tuned embedder (``finetune/embedder.py``), ``Retriever.gather`` is timed with it and
without it on the same requests, against the raw work it adds: sentence-transformers ``encode`` of the request
and a numpy cosine top-k over the shop's tuned vectors. For requests with a shopper, ``gather`` is also timed with
the shopper's 8 and 20 most relevant past items as anchors and candidates (the default was 8, is 20).

    .venv/bin/python benchmarks/bench_ranker.py --shop demo --requests 50
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataclasses import replace  # noqa: E402

from benchmarks._machine import print_machine  # noqa: E402
from bundlebot.config import load_config  # noqa: E402


def _ms(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) * 1000 / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shop", default="demo")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--pool", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print_machine()

    from assistant.turn import first_plan, search_pools
    from finetune.ranker import requests_of
    from retrieval.importers import load_source
    from retrieval.ranker import read_manifest
    from retrieval.search import Retriever

    cfg = load_config(None)
    learned = Retriever.open(cfg, args.shop)
    if learned.reranker.learned is None:
        sys.exit(f"shop {args.shop} has no learned ranker: run `bundlebot fit --shop {args.shop}` first")
    hand_cfg = copy.deepcopy(cfg)
    hand_cfg.retrieval.ranker = "hand"
    hand = Retriever.open(hand_cfg, args.shop, embedder=learned.embedder)
    src = load_source(learned.store.meta()["source"], cfg.data_path)
    rows = {"hand rank": [], "learned rank": [], "raw predict+contrib": [], "raw predict": []}
    sizes = []
    booster = learned.reranker.learned.booster
    reqs = requests_of(src, src.dev, args.requests, seed=3)
    for req in reqs:
        plan = first_plan(req.text)
        _, pool = search_pools(learned, plan, req.shopper)[-1]
        pool = replace(pool, candidates=pool.candidates[: args.pool])
        sizes.append(len(pool.candidates))
        _, x = learned.features(pool)
        rows["hand rank"].append(_ms(lambda p=pool: hand.rank(p, len(p.candidates)), args.repeat))
        rows["learned rank"].append(_ms(lambda p=pool: learned.rank(p, len(p.candidates)), args.repeat))
        rows["raw predict+contrib"].append(_ms(lambda x=x: (booster.predict(x, num_threads=1),
                                                             booster.predict(x, pred_contrib=True, num_threads=1)),
                                               args.repeat))
        rows["raw predict"].append(_ms(lambda x=x: booster.predict(x, num_threads=1), args.repeat))
    print(f"\nshop {args.shop}: {len(sizes)} dev requests, pool size median {statistics.median(sizes):.0f} "
          f"(cut at {args.pool}), {args.repeat} repeats each")
    base = statistics.median(rows["raw predict+contrib"])
    for name, vals in rows.items():
        p50 = statistics.median(vals)
        p95 = sorted(vals)[int(0.95 * (len(vals) - 1))]
        print(f"  {name:<22} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   x{p50 / base:5.2f} of raw predict+contrib")
    m = read_manifest(cfg.home_path, args.shop) or {}
    _history_cost(learned, reqs, args.repeat)
    if learned.tuned is not None:
        _gather_cost(learned, [r.text for r in reqs], args.repeat)
    print(f"\nfit (manifest): {m.get('wall_s')} s wall, {m.get('train_requests')} train requests, "
          f"{m.get('rounds')} trees; dev recall@10 {m.get('dev')}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _history_cost(retriever, reqs, repeat: int) -> None:
    """A shopper's request gathered with their 8 and their 20 most relevant past items as anchors and
    candidates (``search.HISTORY_K``, ``retrieval.history_candidates``), the same requests in the same run."""
    from retrieval import search

    reqs = [r for r in reqs if r.shopper]
    if not reqs:
        return
    kept, cfg = search.HISTORY_K, retriever.config.retrieval
    rows: dict[int, list[float]] = {8: [], 20: []}
    pools: dict[int, list[int]] = {8: [], 20: []}
    reps = max(1, repeat // 4)
    try:
        for r in reqs:
            for n in rows:
                search.HISTORY_K = n
                retriever.config.retrieval = replace(cfg, history_candidates=n)
                rows[n].append(_ms(lambda r=r: retriever.gather(r.text, shopper=r.shopper), reps))
                pools[n].append(len(retriever.gather(r.text, shopper=r.shopper).candidates))
    finally:
        search.HISTORY_K, retriever.config.retrieval = kept, cfg
    print(f"\ngather with the shopper's history, {len(reqs)} dev requests, {reps} repeats each:")
    for n, vals in rows.items():
        p95 = sorted(vals)[int(0.95 * (len(vals) - 1))]
        print(f"  {n:>2} history items       p50 {statistics.median(vals):7.2f} ms   p95 {p95:7.2f} ms   "
              f"pool median {statistics.median(pools[n]):.0f}")
    print(f"  20 / 8: x{statistics.median(rows[20]) / statistics.median(rows[8]):.2f} p50")


def _gather_cost(retriever, texts: list[str], repeat: int) -> None:
    """One request's candidate gathering with and without the tuned embedder, and the raw work it adds."""
    import numpy as np

    tuned = retriever.tuned
    copy_ = retriever.store.side_copy("tuned")
    model = tuned.model
    vecs = copy_.vectors if copy_ is not None else None
    rows = {"gather, base + tuned": [], "gather, base only": [], "raw encode + cosine top-k": []}
    reps = max(1, repeat // 4)
    for text in texts:
        retriever.tuned = tuned
        rows["gather, base + tuned"].append(_ms(lambda t=text: retriever.gather(t, k=40), reps))
        retriever.tuned = None
        rows["gather, base only"].append(_ms(lambda t=text: retriever.gather(t, k=40), reps))
        if vecs is not None:
            rows["raw encode + cosine top-k"].append(_ms(lambda t=text: np.argsort(-(vecs @ model.encode(
                t, normalize_embeddings=True, show_progress_bar=False)))[:40], reps))
    retriever.tuned = tuned
    print(f"\ngather (k=40), {len(texts)} dev requests, {reps} repeats each:")
    for name, vals in rows.items():
        if vals:
            p50 = statistics.median(vals)
            print(f"  {name:<26} p50 {p50:7.2f} ms   p95 {sorted(vals)[int(0.95 * (len(vals) - 1))]:7.2f} ms")
    if rows["raw encode + cosine top-k"]:
        extra = statistics.median(rows["gather, base + tuned"]) - statistics.median(rows["gather, base only"])
        raw = statistics.median(rows["raw encode + cosine top-k"])
        print(f"  the tuned embedder adds {extra:.2f} ms p50, x{extra / raw:.2f} of the raw encode + cosine top-k")


if __name__ == "__main__":
    main()
