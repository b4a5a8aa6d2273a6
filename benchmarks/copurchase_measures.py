"""Which co-purchase measure finds real complements? Prints a hit-rate table per measure and min_count.

For each DEV bundle (BundleRec food) or DEV invoice (Online Retail, first 500) and each of its items:
are the other items of the same bundle among the item's top-10 complements? ``hit@10`` = at least one is,
``recall@10`` = the share that is; both are averaged over (basket, item) cases. Statistics are fitted on
TRAIN baskets only. ``fallback`` = share of cases whose list needed the category fallback.

    .venv/bin/python benchmarks/copurchase_measures.py            # both data sets
    .venv/bin/python benchmarks/copurchase_measures.py bundlerec-food
"""

from __future__ import annotations

import platform
import sys
import time

from bundlebot.paths import default_data_dir
from retrieval.copurchase import FALLBACK_WEIGHT, MEASURES, CoPurchase
from retrieval.importers import load_source
from retrieval.types import Basket

K = 10


def evaluate(stats: CoPurchase, held_out: list[Basket]) -> tuple[float, float, float, int]:
    hits = recall = fell_back = 0.0
    cases = 0
    for basket in held_out:
        members = [i for i in dict.fromkeys(basket.item_ids) if i in stats.index]
        if len(members) < 2:
            continue
        for item in members:
            others = set(members) - {item}
            top = stats.complements(item, K)
            found = others & {i for i, _ in top}
            hits += bool(found)
            recall += len(found) / len(others)
            fell_back += any(s < FALLBACK_WEIGHT and stats.association(item, i, fallback=False) == 0
                             for i, s in top)
            cases += 1
    return hits / cases, recall / cases, fell_back / cases, cases


def main(specs: list[str]) -> None:
    machine = platform.processor() or platform.machine()
    print(f"# {platform.platform()}, {machine}, Python {platform.python_version()}")
    for spec in specs:
        src = load_source(spec, default_data_dir())
        held_out = src.dev[:500]
        print(f"\n## {spec}: {len(src.train_baskets):,} train baskets, {len(held_out)} dev baskets, k={K}")
        print("| measure | min_count | hit@10 | recall@10 | uses fallback | cases | fit s |")
        print("|---|---|---|---|---|---|---|")
        for min_count in (1, 2):
            for measure in MEASURES:
                t0 = time.perf_counter()
                stats = CoPurchase.fit(src.train_baskets, src.items, measure=measure, min_count=min_count)
                fit_s = time.perf_counter() - t0
                hit, rec, fb, n = evaluate(stats, held_out)
                print(f"| {measure} | {min_count} | {hit:.3f} | {rec:.3f} | {fb:.2f} | {n} | {fit_s:.2f} |")
        stats = CoPurchase.fit(src.train_baskets, src.items, measure="cosine", own_category_weight=1.0)
        hit, rec, fb, n = evaluate(stats, held_out)
        print(f"| cosine, own-category fallback 1.0 | 2 | {hit:.3f} | {rec:.3f} | {fb:.2f} | {n} | - |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["bundlerec-food", "online-retail"])
