"""Recall of the Retriever on held-out bundles: (a) embedding only vs (b) the full Retriever with its default
weights, plus one ablation per reranker term, on DEV and TEST.

- BundleRec food: intent text -> top-10 recall of the bundle's items (reference (a): 0.149 on test).
- Online Retail (the demo shop): a held-out invoice's first item title is the request and that item is chosen;
  top-10 recall of the invoice's other items (a seeded sample of invoices with >= 3 items).

Statistics come from TRAIN baskets only; weights are chosen on DEV (``--grid`` prints a small DEV grid); TEST
is read once, with the defaults.

    .venv/bin/python benchmarks/recall_bundlerec.py              # defaults + ablations, dev and test
    .venv/bin/python benchmarks/recall_bundlerec.py --grid       # + the DEV grid the defaults were chosen on

Both shops are indexed into --home (default /tmp/bundlebot-bench) once; re-runs reuse the vectors.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._machine import print_machine  # noqa: E402
from bundlebot.config import AppConfig  # noqa: E402
from bundlebot.config.retrieval import RerankConfig  # noqa: E402
from retrieval.embeddings import Embedder, make_embedder  # noqa: E402
from retrieval.importers import load_source  # noqa: E402
from retrieval.index import index_source  # noqa: E402
from retrieval.search import CandidatePool, Filters, Retriever  # noqa: E402

K = 10
ALL = Filters(in_stock_only=False)
ABLATIONS = ("lexical", "feedback", "complement", "popularity")
"""Terms whose weight is set to 0 one at a time (feedback also drops the expanded second query)."""


class MemoEmbedder(Embedder):
    """Remembers query vectors: every configuration asks the same requests."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self._memo = inner, inner.name, {}

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.inner.embed_batch(missing), strict=True))
        return np.stack([self._memo[t] for t in texts])


class Task:
    """Held-out cases of one shop: (request, chosen ids, gold ids)."""

    def __init__(self, name: str, ret: Retriever, cases: dict[str, list[tuple[str, tuple[str, ...], set[str]]]]):
        self.name, self.ret, self.cases = name, ret, cases

    def embedding_only(self, split: str) -> float:
        r = self.ret
        return float(np.mean([_recall([it.id for it, _ in r.store.query_items(
            r.embedder.embed(q), K, Filters(in_stock_only=False, exclude_ids=chosen) if chosen else ALL)], gold)
            for q, chosen, gold in self.cases[split]]))

    def pools(self, split: str, cfg: RerankConfig) -> list[CandidatePool]:
        self.ret.reranker.config = self.ret.config.retrieval.rerank = cfg
        return [self.ret.gather(q, filters=ALL, chosen=chosen) for q, chosen, _ in self.cases[split]]

    def ranked(self, split: str, pools: list[CandidatePool], cfg: RerankConfig) -> float:
        self.ret.reranker.config = self.ret.config.retrieval.rerank = cfg
        return float(np.mean([_recall([s.item.id for s in self.ret.rank(p, K)], gold)
                              for p, (_, _, gold) in zip(pools, self.cases[split], strict=True)]))

    def table(self, split: str, base: RerankConfig) -> dict[str, float]:
        pools = self.pools(split, base)
        out = {"(a) embedding only": self.embedding_only(split), "(b) Retriever, defaults": self.ranked(
            split, pools, base)}
        for term in ABLATIONS:
            cfg = replace(base, **{term: 0.0})
            out[f"(b) without {term}"] = self.ranked(split, self.pools(split, cfg) if term == "feedback" else pools,
                                                     cfg)
        self.ret.reranker.config = self.ret.config.retrieval.rerank = base
        return out


def _recall(ranked: list[str], gold: set[str]) -> float:
    return len(gold & set(ranked[:K])) / len(gold)


def bundlerec_task(cfg: AppConfig, embedder: MemoEmbedder) -> Task:
    index_source(cfg, "bundlerec-food", "bundlerec-food", shoppers=set(), embedder=embedder.inner, progress=False)
    data = load_source("bundlerec-food", cfg.data_path)
    cases = {s: [(b.intent, (), set(b.item_ids)) for b in getattr(data, s) if b.intent] for s in ("dev", "test")}
    return Task("BundleRec food: intent -> bundle", Retriever.open(cfg, "bundlerec-food", embedder=embedder), cases)


def retail_task(cfg: AppConfig, embedder: MemoEmbedder, n: int) -> Task:
    index_source(cfg, "online-retail", "demo", shoppers=set(), embedder=embedder.inner, progress=False)
    data = load_source("online-retail", cfg.data_path)
    ret = Retriever.open(cfg, "demo", embedder=embedder)
    titles = {it.id: it.title for it in data.items}
    cases = {}
    for split in ("dev", "test"):
        invoices = [b for b in getattr(data, split) if len(set(b.item_ids) & set(titles)) >= 3]
        picked = random.Random(0).sample(invoices, min(n, len(invoices)))
        cases[split] = [(titles[b.item_ids[0]], (b.item_ids[0],), set(b.item_ids[1:]) & set(titles) - {b.item_ids[0]})
                        for b in picked if b.item_ids[0] in titles]
    return Task("Online Retail: first item of an invoice -> the rest", ret, cases)


def grid(task: Task, base: RerankConfig) -> None:
    """A small DEV grid around the defaults (pools gathered once per feedback setting)."""
    for fb in (0.0, 0.5, 1.0):
        pools = task.pools("dev", replace(base, feedback=fb))
        for lex, comp, hits, pop in itertools.product((0.0, 0.25, 0.5), (0.0, 0.25, 0.5), (0.0, 0.5, 1.0),
                                                      (0.0, 0.05, 0.1)):
            cfg = replace(base, feedback=fb, lexical=lex, complement=comp, complement_hits=hits, popularity=pop)
            print(f"  dev feedback={fb:<4} lexical={lex:<4} complement={comp:<4} hits={hits:<4} "
                  f"popularity={pop:<4} recall@{K}={task.ranked('dev', pools, cfg):.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default="/tmp/bundlebot-bench")
    ap.add_argument("--grid", action="store_true", help="also print the DEV grid")
    ap.add_argument("--retail-cases", type=int, default=300)
    ap.add_argument("--dev-only", action="store_true", help="never touch TEST (while choosing weights)")
    ap.add_argument("--only", choices=("bundlerec", "retail"), default=None)
    args = ap.parse_args()
    print_machine()
    cfg = AppConfig(home=args.home)
    base = cfg.retrieval.rerank
    embedder = MemoEmbedder(make_embedder(cfg.retrieval.embedder))
    tasks = []
    if args.only in (None, "bundlerec"):
        tasks.append(bundlerec_task(cfg, embedder))
    if args.only in (None, "retail"):
        tasks.append(retail_task(cfg, embedder, args.retail_cases))
    for task in tasks:
        t = time.perf_counter()
        embedder.embed_batch([q for s in ("dev", "test") for q, _, _ in task.cases[s]])
        print(f"\n## {task.name}: top-{K} recall ({len(task.cases['dev'])} dev, {len(task.cases['test'])} test)")
        print(f"defaults: {base}")
        if args.grid:
            grid(task, base)
        dev = task.table("dev", base)
        test = {} if args.dev_only else task.table("test", base)
        print("| configuration | dev | test |\n|---|---|---|")
        for name in dev:
            print(f"| {name} | {dev[name]:.3f} | {test[name] if test else float('nan'):.3f} |")
        print(f"({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
