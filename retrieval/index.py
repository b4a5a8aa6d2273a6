"""Index a data source into a shop: catalog vectors, shopper history, co-purchase statistics.

Idempotent and crash-safe by construction:

1. the whole source is read and validated BEFORE any write (a malformed file never touches the index);
2. an item is written only when its stored metadata differs from the source (re-running writes nothing);
3. an item is embedded only when the embedding cache lacks its content hash (re-running embeds nothing);
4. batches are embedded, cached, then upserted, so a run killed half-way leaves a prefix that the next run
   completes into exactly the collection an uninterrupted run makes;
5. history rows are compared with the stored ones and only the differing ones written, a transaction per
   ``HISTORY_BATCH``, so the same holds for the history table.

Example (the real call the CLI makes)::

    report = index_source(load_config(), "online-retail", "demo")
    print(report.summary())   # 3,659 valid, 0 rejected; 3,659 embedded, 0 cached; ...
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from bundlebot.errors import DataError
from bundlebot.paths import check_writable, writing
from retrieval.embeddings import Embedder, EmbeddingCache, embed_with_cache, make_embedder, shop_embedder
from retrieval.faults import crash_point
from retrieval.history import aggregate_rows
from retrieval.ingest import SUFFIXES, Rejection, read_catalog
from retrieval.search import KINDS_FILE, stats_path
from retrieval.store import ShopStore, VectorStore
from retrieval.types import Event, Item, SourceData

if TYPE_CHECKING:
    from bundlebot.config import AppConfig

log = logging.getLogger(__name__)

BATCH = 256
"""Items embedded and upserted per step: small enough that a crash loses little, large enough to be fast."""
HISTORY_BATCH = 20_000
"""History rows per transaction: each is one ``executemany`` (~0.1 s), so the progress bar moves."""


@dataclass
class IndexReport:
    shop: str
    source: str
    valid: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    embedded: int = 0
    cached: int = 0
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    history_written: int = 0
    history_total: int = 0
    history_seconds: float = 0.0
    baskets: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """Nothing valid came in (the CLI exits with code 2)."""
        return self.valid == 0

    def reasons(self) -> dict[str, int]:
        return dict(Counter(r.reason for r in self.rejected).most_common())

    def summary(self) -> str:
        return (f"{self.valid:,} valid, {len(self.rejected):,} rejected; {self.embedded:,} embedded, "
                f"{self.cached:,} cached; {self.written:,} written, {self.unchanged:,} unchanged, "
                f"{self.deleted:,} deleted; history {self.history_written:,} written of "
                f"{self.history_total:,} in {self.history_seconds:.1f} s; {self.baskets:,} train baskets; "
                f"{self.seconds:.1f} s")


def load_for_index(spec: str, data_dir: Path, mapping: dict[str, str] | None = None
                   ) -> tuple[SourceData, list[Rejection]]:
    """Read and validate the whole source (nothing is written yet). Files keep their row rejections."""
    if Path(spec).suffix.lower() in SUFFIXES and not spec.startswith("bundlerec:"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise DataError(f"expected a catalog file at {path}, found nothing",
                            hint="give an existing .csv, .jsonl or .parquet file to --source")
        rep = read_catalog(path, mapping)
        currencies = {it.currency for it in rep.items if it.currency}
        data = SourceData(name=path.stem, items=rep.items, events=[], train_baskets=[],
                          currency=currencies.pop() if len(currencies) == 1 else None)
        return data, rep.rejected
    from retrieval.importers import load_source

    return load_source(spec, data_dir), []


def index_source(config: AppConfig, spec: str, shop: str, *, sync: bool = False, progress: bool = True,
                 mapping: dict[str, str] | None = None, shoppers: Collection[str] | None = None,
                 embedder: Embedder | None = None, data: SourceData | None = None) -> IndexReport:
    """Index ``spec`` into ``shop``. ``shoppers`` restricts the history written (None = everyone);
    ``data`` is the already loaded source (skips reading ``spec`` again)."""
    start = time.perf_counter()
    rejected: list[Rejection] = []
    if data is None:
        data, rejected = load_for_index(spec, config.data_path, mapping)
    report = IndexReport(shop, spec, valid=len(data.items), rejected=rejected,
                         baskets=len(data.train_baskets))
    if report.failed:
        report.seconds = time.perf_counter() - start
        return report  # nothing valid: leave the index exactly as it was
    # an unwritable home is refused now, not at the first write after minutes of embedding
    check_writable(config.home_path, "the index")
    if config.retrieval.store.mode == "embedded":
        check_writable(config.store_path, "the vector store")
    embedder = embedder or make_embedder(config.retrieval.embedder)
    store = VectorStore(config.retrieval.store, config.store_path).shop(shop)
    cache = EmbeddingCache(config.home_path, embedder.name)
    try:
        todo = _index_items(store, data.items, embedder, cache, report, progress)
        if (xl_kind := config.retrieval.multilingual_kind) is not None:
            _index_xl(config, store, data.items, todo, xl_kind, progress)
        _index_tuned(config, store, data.items, todo, progress)
        if sync:
            keep = {it.id for it in data.items}
            stale = [i for i in store.all_item_ids() if i not in keep]
            store.delete_items(stale)
            report.deleted = len(stale)
        events = [e for e in data.events if shoppers is None or e.shopper_id in shoppers]
        _index_history(store, events, {it.id for it in data.items}, report, sync, progress)
    finally:
        cache.close()
    _save_stats(config, shop, data)
    _save_kinds(config, shop, data)
    crash_point("meta")
    store.set_meta({"currency": data.currency, "items": store.count(), "history": store.history_count(),
                    "max_popularity": max((it.popularity for it in data.items), default=0),
                    "source": spec, "embedder": embedder.name, "dim": embedder.dim})
    report.seconds = time.perf_counter() - start
    log.info("indexed %s into %s: %s", spec, shop, report.summary())
    return report


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    off = not progress or os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    return tqdm(total=total, desc=desc, unit="row", unit_scale=True, disable=off, leave=False)


def _wanted_metadata(item: Item) -> dict[str, Any]:
    return {**item.to_metadata(), "item_id": item.id}


def _index_items(store: ShopStore, items: Sequence[Item], embedder: Embedder, cache: EmbeddingCache,
                 report: IndexReport, progress: bool) -> list[Item]:
    """Write changed/new items (embedding only what the cache lacks); returns them."""
    stored = store.item_metadata()
    todo = [it for it in items if stored.get(it.id) != _wanted_metadata(it)]
    report.unchanged = len(items) - len(todo)
    bar = _bar(len(todo), f"index {store.name}", progress)
    for i in range(0, len(todo), BATCH):
        batch = todo[i:i + BATCH]
        texts = {it.content_hash(): it.embedding_text() for it in batch}
        by_hash, new = embed_with_cache(embedder, cache, texts)
        crash_point("embeddings")
        report.embedded += len(new)
        report.cached += sum(1 for it in batch if it.content_hash() not in new)
        store.upsert_items(batch, np.stack([by_hash[it.content_hash()] for it in batch]))
        crash_point("catalog")
        report.written += len(batch)
        bar.update(len(batch))
    bar.close()
    return todo


def _index_side(store: ShopStore, name: str, encoder: Embedder, cache: EmbeddingCache | None,
                items: Sequence[Item], changed: Sequence[Item], progress: bool) -> None:
    """A side vector set (``ShopStore.SIDE_SETS``): the items written now and any the set lacks (a shop indexed
    before the set existed gets it on its next index run); the metadata is rewritten with them, so the set's
    own filters (price, stock) stay the catalog's."""
    have = store.side_ids(name)
    todo = list({it.id: it for it in [*changed, *(it for it in items if it.id not in have)]}.values())
    if not todo:
        return
    bar = _bar(len(todo), f"{store.SIDE_SETS[name]} {store.name}", progress)
    try:
        for i in range(0, len(todo), BATCH):
            batch = todo[i:i + BATCH]
            by_hash, _ = embed_with_cache(encoder, cache, {it.content_hash(): it.embedding_text() for it in batch})
            store.upsert_side(name, batch, np.stack([by_hash[it.content_hash()] for it in batch]))
            bar.update(len(batch))
    finally:
        bar.close()


def _index_xl(config: AppConfig, store: ShopStore, items: Sequence[Item], changed: Sequence[Item], kind: str,
              progress: bool) -> None:
    from retrieval.multilingual import multilingual_encoder

    encoder = multilingual_encoder(kind)
    cache = EmbeddingCache(config.home_path, encoder.name)
    try:
        _index_side(store, "xl", encoder, cache, items, changed, progress)
    finally:
        cache.close()


def _index_tuned(config: AppConfig, store: ShopStore, items: Sequence[Item], changed: Sequence[Item],
                 progress: bool) -> None:
    """The shop's fine-tuned embedder's set, where a fit kept one (no cache: a refit changes every vector,
    and the fit rewrites the whole set)."""
    tuned = shop_embedder(config.home_path, store.name, config.retrieval.shop_embedder)
    if tuned is not None:
        _index_side(store, "tuned", tuned, None, items, changed, progress)


def _index_history(store: ShopStore, events: Sequence[Event], catalog: set[str], report: IndexReport,
                   sync: bool, progress: bool) -> None:
    """Write the entries (of catalog items) that differ from the stored rows; with ``sync``, delete the
    rows the source no longer has. A row needs no vector: history reads its item's from the catalog."""
    start = time.perf_counter()
    wanted = [r for r in aggregate_rows(events) if r[1] in catalog]
    report.history_total = len(wanted)
    stored = store.history.rows()
    have = set(stored)
    todo = [r for r in wanted if r not in have]
    bar = _bar(len(todo), f"history {store.name}", progress)
    for i in range(0, len(todo), HISTORY_BATCH):
        batch = todo[i:i + HISTORY_BATCH]
        store.history.put(batch)
        crash_point("history")
        bar.update(len(batch))
    bar.close()
    report.history_written = len(todo)
    if sync:
        keep = {r[:2] for r in wanted}
        store.delete_history([r[:2] for r in stored if r[:2] not in keep])
    report.history_seconds = time.perf_counter() - start


def _save_kinds(config: AppConfig, shop: str, data: SourceData) -> None:
    """Every item's kind and each kind's role (retrieval/kinds.py), next to the co-purchase statistics."""
    from retrieval.kinds import Kinds

    kinds, folder = Kinds.fit(data.items, data.train_baskets), stats_path(config, shop)
    with writing("item kinds", folder):
        kinds.save(folder / KINDS_FILE)
    if (xl_kind := config.retrieval.multilingual_kind) is not None:
        from retrieval.multilingual import GLOSSARY_FILE, Glossary, multilingual_encoder, vocabulary

        words = vocabulary(kinds.counts(), (it.title for it in data.items))
        Glossary.fit(words, multilingual_encoder(xl_kind)).save(folder / GLOSSARY_FILE)


def _save_stats(config: AppConfig, shop: str, data: SourceData) -> None:
    if not data.train_baskets:
        return
    from retrieval.copurchase import CoPurchase

    CoPurchase.fit(data.train_baskets, data.items).save(stats_path(config, shop))
