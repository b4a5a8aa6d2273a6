"""What item kinds each catalog gets (retrieval/kinds.py): counts, the most common kinds, the accessories.

Per source: items, kinds, kinds with >= 3 items and the share of items in them, the share of items whose kind
is only their category, items with a pack size, fit time, the 20 most common kinds, the accessory kinds with
their evidence, and what is bought with a few common kinds. Kinds are fitted on TRAIN baskets only.

    .venv/bin/python benchmarks/kinds_report.py                 # all three data sets
    .venv/bin/python benchmarks/kinds_report.py online-retail
"""

from __future__ import annotations

import sys
import time

from bundlebot.paths import default_data_dir
from retrieval.importers import load_source
from retrieval.kinds import MIN_ITEMS, Kinds, share_from_category

SOURCES = ("online-retail", "instacart", "bundlerec-food")


def report(spec: str) -> None:
    src = load_source(spec, default_data_dir())
    start = time.perf_counter()
    kinds = Kinds.fit(src.items, src.train_baskets)
    took = time.perf_counter() - start
    counts = kinds.counts()
    big = {k: n for k, n in counts.items() if n >= MIN_ITEMS}
    packs = sum(kinds.pack_size(it.id) > 1 for it in src.items)
    print(f"## {spec}")
    print(f"- items {len(src.items)}, train baskets {len(src.train_baskets)}, fit {took:.1f} s")
    print(f"- kinds {len(counts)}; with >= {MIN_ITEMS} items {len(big)} holding "
          f"{sum(big.values()) / len(src.items):.1%} of items; kind = category for "
          f"{share_from_category(kinds):.1%}; pack size > 1 for {packs} items")
    print("- top 20: " + ", ".join(f"{k} ({n})" for k, n in counts.most_common(20)))
    acc = kinds.accessories()
    print(f"- accessories ({len(acc)}):")
    for k in acc:
        s = kinds.stats[k]
        print(f"  - {k}: {s['items']} items, {s['priced_baskets']} baskets, price x{s['rel_price']:.2f} of the "
              f"rest, dearest x{s['top_ratio']:.2f} of chance, best partner lift {s['partner_lift']:.1f}")
    for k, _ in counts.most_common(3):
        print(f"- bought with {k}: " + ", ".join(f"{o} {s:.2f}" for o, s in kinds.together(k, 6)))
    print()


def main(argv: list[str]) -> None:
    for spec in argv or SOURCES:
        report(spec)


if __name__ == "__main__":
    main(sys.argv[1:])
