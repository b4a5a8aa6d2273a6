"""BundleRec food: intent text -> top-10 recall of the bundle's items, (a) embedding only vs (b) the Retriever
(embedding + co-purchase complements + reranker). Statistics come from TRAIN baskets only; reranker weights
are tuned on the DEV bundles only, then applied once to TEST. Reference (a): 0.149 (shared/data/README.md).

    .venv/bin/python benchmarks/recall_bundlerec.py            # index (cached vectors) + tune + test
    .venv/bin/python benchmarks/recall_bundlerec.py --no-tune  # config default weights only

The shop is indexed into --home (default /tmp/bundlebot-bench) once; re-runs reuse the vectors.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._machine import print_machine  # noqa: E402
from bundlebot.config import AppConfig  # noqa: E402
from retrieval.config import RerankConfig  # noqa: E402
from retrieval.embeddings import Embedder, make_embedder  # noqa: E402
from retrieval.importers import load_source  # noqa: E402
from retrieval.index import index_source  # noqa: E402
from retrieval.search import CandidatePool, Filters, Retriever  # noqa: E402
from retrieval.types import Basket  # noqa: E402

SHOP = "bundlerec-food"
K = 10


class MemoEmbedder(Embedder):
    """Remembers query vectors: the tuning grid asks the same intents many times."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self._memo = inner, inner.name, {}

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.inner.embed_batch(missing), strict=True))
        return np.stack([self._memo[t] for t in texts])


def recall(ranked: list[str], bundle: Basket) -> float:
    truth = set(bundle.item_ids)
    return len(truth & set(ranked[:K])) / len(truth)


def embedding_only(ret: Retriever, bundles: list[Basket]) -> float:
    f = Filters(in_stock_only=False)
    return float(np.mean([recall([it.id for it, _ in ret.store.query_items(ret.embedder.embed(b.intent), K, f)],
                                 b) for b in bundles]))


def pools(ret: Retriever, bundles: list[Basket]) -> list[CandidatePool]:
    """Vector hits + complements per intent, gathered once (the same pools are re-ranked per weight set)."""
    f = Filters(in_stock_only=False)
    return [ret.gather(b.intent, filters=f) for b in bundles]


def with_reranker(ret: Retriever, bundles: list[Basket], gathered: list[CandidatePool],
                  cfg: RerankConfig) -> float:
    ret.reranker.config = cfg
    return float(np.mean([recall([s.item.id for s in ret.rank(p, K)], b)
                          for b, p in zip(bundles, gathered, strict=True)]))


def tune(ret: Retriever, dev: list[Basket]) -> tuple[RerankConfig, float]:
    """Small grid on DEV only (the test split never influences a weight)."""
    best, best_r = RerankConfig(), -1.0
    gathered = pools(ret, dev)
    for comp, pop in itertools.product((0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0), (0.0, 0.05, 0.1, 0.2)):
        cfg = replace(RerankConfig(), complement=comp, popularity=pop)
        r = with_reranker(ret, dev, gathered, cfg)
        print(f"  dev complement={comp:<5} popularity={pop:<5} recall@10={r:.3f}")
        if r > best_r:
            best, best_r = cfg, r
    return best, best_r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default="/tmp/bundlebot-bench")
    ap.add_argument("--no-tune", action="store_true")
    args = ap.parse_args()
    print_machine()
    cfg = AppConfig(home=args.home)
    embedder = MemoEmbedder(make_embedder(cfg.retrieval.embedder))
    t = time.perf_counter()
    rep = index_source(cfg, "bundlerec-food", SHOP, shoppers=set(), embedder=embedder.inner, progress=False)
    print(f"indexed: {rep.summary()} ({time.perf_counter() - t:.0f} s)")
    data = load_source("bundlerec-food", cfg.data_path)
    ret = Retriever.open(cfg, SHOP, embedder=embedder)
    test = [b for b in data.test if b.intent]
    dev = [b for b in data.dev if b.intent]
    embedder.embed_batch([b.intent for b in test + dev])  # one batched encode, then memo hits
    print(f"\n## BundleRec food, intent -> top-{K} recall ({len(test)} test, {len(dev)} dev bundles "
          "with intents)")
    a = embedding_only(ret, test)
    print(f"(a) embedding only, test: {a:.3f}   (reference 0.149)")
    test_pools = pools(ret, test)
    default = with_reranker(ret, test, test_pools, RerankConfig())
    print(f"(b) Retriever with default RerankConfig, test: {default:.3f}")
    if not args.no_tune:
        best, dev_r = tune(ret, dev)
        print(f"best on dev: complement={best.complement} popularity={best.popularity} (dev {dev_r:.3f})")
        tuned = with_reranker(ret, test, test_pools, best)
        print(f"(b) Retriever with dev-tuned weights, test: {tuned:.3f}")


if __name__ == "__main__":
    main()
