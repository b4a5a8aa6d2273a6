"""History ingest benchmark: bundlebot's history phase against raw Chroma ``add`` of the same rows.

The rows are the demo shop's real ones: UCI Online Retail train events folded into one entry per (shopper,
item) (200,393 for every shopper; ``--rows N`` takes the first shoppers, sorted by id, until N rows). Each
row as Chroma held it until issue #19: an id, the item's 384-dim vector and seven metadata fields. The
vectors are the demo shop's real MiniLM ones when ``--home`` holds an indexed ``demo`` shop, else seeded
random unit vectors (the script says which).

Measured in the same run, each in a fresh folder:

1. raw Chroma: ``collection.add`` of the rows in batches of the client's max batch size;
2. bundlebot: ``retrieval.index._index_history`` on an empty store, from the raw events: the fold into
   entries, the comparison with what is stored, the writes (so it does more than the raw side);
3. bundlebot again with nothing changed (what re-indexing an unchanged shop costs);
4. one shopper's history as a turn reads it: raw Chroma ``get(where=shopper)`` on the raw collection vs
   ``ShopStore.history_query`` (rows + the catalog's vectors), p50 over ``--shoppers`` shoppers.

    .venv/bin/python benchmarks/bench_ingest.py --rows 50000
    .venv/bin/python benchmarks/bench_ingest.py --rows 0 --home ~/.bundlebot   # all 200,393 rows
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks._machine import print_machine  # noqa: E402
from bundlebot.config.retrieval import StoreConfig  # noqa: E402
from bundlebot.paths import default_data_dir  # noqa: E402
from retrieval.history import aggregate_events  # noqa: E402
from retrieval.importers import load_source  # noqa: E402
from retrieval.index import IndexReport, _index_history  # noqa: E402
from retrieval.store import VectorStore, pair_id  # noqa: E402
from retrieval.types import Event, Item  # noqa: E402


def first_shoppers(events: list[Event], rows: int) -> list[Event]:
    """The events of the first shoppers (by id) whose entries reach ``rows`` (0: everyone)."""
    if rows <= 0:
        return events
    per: dict[str, set[str]] = {}
    for e in events:
        per.setdefault(e.shopper_id, set()).add(e.item_id)
    keep, n = set(), 0
    for s in sorted(per):
        if n >= rows:
            break
        keep.add(s)
        n += len(per[s])
    return [e for e in events if e.shopper_id in keep]


def item_vectors(items: list[Item], home: Path | None) -> tuple[np.ndarray, str]:
    if home is not None and (home / "chroma").is_dir():
        shop = VectorStore(StoreConfig(), home / "chroma").shop("demo")
        found = {it.id: v for it, v in shop.get_items([it.id for it in items], with_vectors=True)}
        if len(found) == len(items):
            return np.stack([found[it.id] for it in items]), f"the demo shop's MiniLM vectors ({home})"
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((len(items), 384)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True), "seeded random unit vectors (384-dim)"


def raw_chroma_add(folder: Path, events: list[Event],
                   vec_of: dict[str, np.ndarray]) -> tuple[float, int, object]:
    vs = VectorStore(StoreConfig(), folder)
    collection = vs.collection("raw__history")
    entries = list(aggregate_events(events).values())  # folded before the clock starts: raw gets rows
    ids = [pair_id(e.shopper_id, e.item_id) for e in entries]
    metas = [e.to_metadata() for e in entries]
    vectors = np.stack([vec_of[e.item_id] for e in entries])
    step = vs.max_batch
    t = time.perf_counter()
    for i in range(0, len(entries), step):
        collection.add(ids=ids[i:i + step], embeddings=vectors[i:i + step], metadatas=metas[i:i + step])
    return time.perf_counter() - t, step, collection


def ours(folder: Path, items: list[Item], vectors: np.ndarray, events: list[Event]) -> tuple[float, float, object]:
    shop = VectorStore(StoreConfig(), folder).shop("bench")
    shop.upsert_items(items, vectors)  # the catalog is there before history in `bundlebot index` too
    catalog = {it.id for it in items}
    t = time.perf_counter()
    report = IndexReport("bench", "bench")
    _index_history(shop, events, catalog, report, sync=False, progress=False)
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = IndexReport("bench", "bench")
    _index_history(shop, events, catalog, again, sync=False, progress=False)
    assert again.history_written == 0 and report.history_written == report.history_total
    return first, time.perf_counter() - t, shop


def reads(collection: object, shop: object, shoppers: list[str], query: np.ndarray) -> tuple[float, float]:
    raw_ms, our_ms = [], []
    for s in shoppers:
        t = time.perf_counter()
        collection.get(where={"shopper": s}, include=["metadatas", "embeddings"])
        raw_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        shop.history_query(s, query, 8)
        our_ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(raw_ms), statistics.median(our_ms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000, help="history rows (0: all 200,393)")
    ap.add_argument("--home", type=Path, default=None, help="a home with an indexed demo shop (real vectors)")
    ap.add_argument("--shoppers", type=int, default=200, help="shoppers whose history is read back")
    args = ap.parse_args()
    print_machine()
    src = load_source("online-retail", default_data_dir())
    events = first_shoppers(src.events, args.rows)
    vectors, where = item_vectors(src.items, args.home)
    vec_of = {it.id: v for it, v in zip(src.items, vectors, strict=True)}
    n = len(aggregate_events(events))
    print(f"## history ingest: {n:,} rows from {len(events):,} real events "
          f"({len({e.shopper_id for e in events}):,} shoppers); vectors: {where}\n")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        raw_s, step, collection = raw_chroma_add(Path(tmp) / "raw", events, vec_of)
        first_s, again_s, shop = ours(Path(tmp) / "ours", src.items, vectors, events)
        shoppers = sorted({e.shopper_id for e in events})[:: max(1, len({e.shopper_id for e in events})
                                                                 // args.shoppers)][: args.shoppers]
        raw_ms, our_ms = reads(collection, shop, shoppers, vectors[0])
    print(f"- raw Chroma add (batches of {step:,}): {raw_s:.1f} s = {n / raw_s:,.0f} rows/s")
    print(f"- bundlebot history phase (fold + compare + write): {first_s:.2f} s = {n / first_s:,.0f} rows/s "
          f"= **{raw_s / first_s:.1f}x** raw Chroma add (target >= 10x)")
    print(f"- bundlebot again, nothing changed: {again_s:.2f} s")
    print(f"- one shopper's history read, p50 of {len(shoppers)}: raw Chroma get {raw_ms:.1f} ms, "
          f"bundlebot history_query {our_ms:.1f} ms = {our_ms / raw_ms:.2f}x")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"- load average at the end (1/5/15 min): {load}")


if __name__ == "__main__":
    main()
