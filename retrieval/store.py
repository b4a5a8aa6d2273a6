"""The store of a shop: its catalog in Chroma, its shopper history beside it. The ONLY module that imports chromadb.

Each shop is a tenant with one collection, ``<shop>__catalog``, and one history table; nothing crosses
shops. Collections are created with NO embedding function and cosine space: bundlebot always passes its own
vectors, so Chroma's default ONNX embedder is never instantiated or downloaded.

History holds one row per (shopper, item) pair: the count, quantity and first/last time, in SQLite
(``retrieval/history.py`` says why: a row's vector is its item's vector, which the catalog holds).
"S's purchases most relevant to this request" reads the shopper's rows and scores them with the catalog's
vectors of their items; "most recent / most frequent" is one read; deleting a shopper is one ``DELETE``.
A shop indexed when history was a Chroma collection (``<shop>__history``) has it moved into its table the
first time it is opened.

>>> import tempfile
>>> from bundlebot.config.retrieval import StoreConfig
>>> shop = VectorStore(StoreConfig(), Path(tempfile.mkdtemp())).shop("demo")
>>> shop.upsert_items([Item(id="1", title="teapot", price=9.5)], np.array([[1.0, 0.0]], dtype=np.float32))
>>> [(it.id, round(sim, 3)) for it, sim in shop.query_items(np.array([1.0, 0.0]), k=5)]
[('1', 1.0)]
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bundlebot.config.retrieval import StoreConfig
from bundlebot.errors import BundlebotError, StoreError
from bundlebot.paths import disk_error, disk_refused
from retrieval.history import HistoryEntry, HistoryTable, history_path, read_entries
from retrieval.types import Event, Item

if TYPE_CHECKING:
    from retrieval.search import Filters

log = logging.getLogger(__name__)

SHOP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,48}[a-z0-9]$|^[a-z0-9]$")
PAGE = 5000


def validate_shop_name(name: str) -> str:
    """Shop names become collection names, so they are kept simple.

    >>> validate_shop_name("demo-shop_2")
    'demo-shop_2'
    """
    if not isinstance(name, str) or not SHOP_NAME.match(name) or "__" in name:
        raise StoreError(f"shop name should be lowercase letters, digits, '-' or '_' (no '__'), got {name!r}",
                         hint="use a name such as 'demo' or 'tea-shop'")
    return name


@contextmanager
def _wrap(what: str, config: StoreConfig, path: Path | None = None) -> Iterator[None]:
    """Turn chromadb/transport exceptions into StoreError with a hint saying how to fix it (DiskError when
    the store's disk refused a write: rebuilding would then lose the live history, so it is never the fix)."""
    try:
        yield
    except BundlebotError:
        raise
    except Exception as exc:
        if disk_refused(exc):
            where = path if config.mode == "embedded" and path else f"the Chroma server's --path on {config.host}"
            raise disk_error(exc, f"the vector store ({what})", where) from exc
        text = f"{type(exc).__name__}: {exc}"
        if config.mode == "http" and any(s in text.lower() for s in ("connect", "refused", "timed out")):
            hint = (f"start the server with `chroma run --path DIR --host {config.host} "
                    f"--port {config.port}` or set retrieval.store.mode = 'embedded'")
        else:
            hint = ("check retrieval.store settings; delete the store folder to rebuild it with "
                    "`bundlebot index`")
        raise StoreError(f"vector store failed to {what}: {text}", hint=hint) from exc


class VectorStore:
    """One Chroma client: embedded ``PersistentClient(path)`` or ``HttpClient`` to a `chroma run` server."""

    def __init__(self, config: StoreConfig, path: Path) -> None:
        import chromadb
        from chromadb.config import Settings

        self.config = config
        self.path = Path(path)
        settings = Settings(anonymized_telemetry=False)
        with _wrap("connect", config, self.path):
            if config.mode == "embedded":
                self.path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            else:
                self.client = chromadb.HttpClient(host=config.host, port=config.port, ssl=config.ssl,
                                                  headers=dict(config.headers), settings=settings)
                self.client.heartbeat()
            self.max_batch = int(self.client.get_max_batch_size())

    def shop(self, name: str) -> ShopStore:
        return ShopStore(self, validate_shop_name(name))

    def shops(self) -> list[str]:
        return sorted({n.split("__")[0] for n in self.collection_names() if n.endswith("__catalog")})

    def collection_names(self) -> list[str]:
        with _wrap("list collections", self.config, self.path):
            return [c if isinstance(c, str) else c.name for c in self.client.list_collections()]

    def collection(self, name: str, create: bool = True) -> Any:
        with _wrap(f"open collection {name}", self.config, self.path):
            if create:
                # embedding_function=None: Chroma must never embed (no ONNX download); cosine space.
                return self.client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
            return self.client.get_collection(name, embedding_function=None)


def pair_id(shopper: str, item_id: str) -> str:
    return hashlib.sha1(f"{shopper}|{item_id}".encode()).hexdigest()[:20]


LEGACY = "legacy_history_adopted"
"""History table info key: the shop's old Chroma history collection, if any, has been moved in."""

REVISION = "bundlebot_revision"
"""Catalog collection metadata key: a new token on every catalog write, so an exact-search copy of the
vectors knows it is stale, whichever process wrote."""


def nearest_first(sims: np.ndarray, ids: Sequence[str], k: int) -> np.ndarray:
    """Indices of the ``k`` best rows: cosine rounded to 1e-6 (so float noise cannot reorder), ties by id.
    The one order of every exact search (catalog and history)."""
    rounded = np.round(np.asarray(sims, dtype=np.float64), 6)
    ids = np.asarray(ids, dtype=str)
    rows = np.arange(len(rounded))
    if len(rows) > k:  # keep everything tied with the k-th best, then order exactly
        rows = rows[rounded >= np.partition(rounded, len(rows) - k)[len(rows) - k]]
    return rows[np.lexsort((ids[rows], -rounded[rows]))[:k]]


@dataclass(frozen=True)
class CatalogCopy:
    """Every catalog item with its vector and filter columns, for exact search (``StoreConfig.exact_max_items``)."""

    revision: str | None
    items: list[Item]
    vectors: np.ndarray
    ids: np.ndarray
    in_stock: np.ndarray
    price: np.ndarray
    cat0: np.ndarray
    cat1: np.ndarray

    @classmethod
    def of(cls, revision: str | None, pairs: Sequence[tuple[Item, np.ndarray]]) -> CatalogCopy:
        items = [it for it, _ in pairs]
        vectors = np.stack([v for _, v in pairs]).astype(np.float32) if pairs else np.zeros((0, 0), np.float32)
        return cls(revision, items, vectors, np.array([it.id for it in items], dtype=str),
                   np.array([it.in_stock for it in items], dtype=bool),
                   np.array([np.nan if it.price is None else it.price for it in items], dtype=np.float64),
                   np.array([it.category[0] if it.category else "" for it in items], dtype=str),
                   np.array([it.category[1] if len(it.category) > 1 else "" for it in items], dtype=str))

    def top(self, vector: np.ndarray, k: int, filters: Filters | None) -> list[tuple[Item, np.ndarray, float]]:
        """The k most similar items passing ``filters`` (``nearest_first``)."""
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        idx = np.flatnonzero(filters.mask(self.ids, self.in_stock, self.price, self.cat0, self.cat1)) \
            if filters is not None else np.arange(len(self.items))
        if not len(idx) or k <= 0:
            return []
        return [(self.items[i], self.vectors[i].copy(), float(sims[i]))
                for i in idx[nearest_first(sims[idx], self.ids[idx], k)]]

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Each item id's row in ``vectors``."""
        return {item_id: i for i, item_id in enumerate(self.ids.tolist())}


class ShopStore:
    """One shop's catalog collection and history table."""

    def __init__(self, store: VectorStore, name: str) -> None:
        self.vs = store
        self.name = name
        self.catalog = store.collection(f"{name}__catalog")
        self.history = HistoryTable(history_path(store.path, name))
        self._copy: CatalogCopy | None = None
        self._copy_lock = threading.Lock()
        self._side: dict[str, Any] = {}  # name -> collection; False: the shop has no such set
        self._side_copies: dict[str, CatalogCopy] = {}
        if self.history.info(LEGACY) is None:
            self._adopt_legacy_history()

    def _wrap(self, what: str) -> Any:
        return _wrap(f"{what} (shop {self.name})", self.vs.config, self.vs.path)

    def _batches(self, n: int) -> Iterator[slice]:
        step = max(1, min(self.vs.max_batch, PAGE))
        for i in range(0, n, step):
            yield slice(i, min(n, i + step))

    # ---- catalog ----------------------------------------------------------------------------------------
    def upsert_items(self, items: Sequence[Item], vectors: np.ndarray) -> None:
        if len(items) != len(vectors):
            raise StoreError(f"upsert_items needs one vector per item, got {len(items)} items, "
                             f"{len(vectors)} vectors")
        self._upsert(self.catalog, items, vectors, "upsert items")
        self._touch()

    def _upsert(self, collection: Any, items: Sequence[Item], vectors: np.ndarray, what: str) -> None:
        """Items with their vectors and metadata into ``collection``, a batch at a time."""
        for sl in self._batches(len(items)):
            batch = items[sl]
            with self._wrap(what):
                collection.upsert(ids=[it.id for it in batch], embeddings=np.asarray(vectors[sl], dtype=np.float32),
                                  metadatas=[{**it.to_metadata(), "item_id": it.id} for it in batch])

    def get_items(self, ids: Sequence[str], with_vectors: bool = False) -> list[Any]:
        """Items for ids in the given order (unknown ids skipped); with vectors: list of (Item, vector)."""
        if not ids:
            return []
        include = ["metadatas", "embeddings"] if with_vectors else ["metadatas"]
        found: dict[str, Any] = {}
        for sl in self._batches(len(ids)):
            with self._wrap("get items"):
                res = self.catalog.get(ids=list(ids[sl]), include=include)
            for i, item_id in enumerate(res["ids"]):
                item = Item.from_metadata(item_id, res["metadatas"][i])
                found[item_id] = (item, np.asarray(res["embeddings"][i], dtype=np.float32)) \
                    if with_vectors else item
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def item_metadata(self) -> dict[str, dict[str, Any]]:
        """Every item's stored metadata by id (what idempotent indexing compares against)."""
        out: dict[str, dict[str, Any]] = {}
        for page in self._pages(self.catalog, ["metadatas"]):
            out.update(zip(page["ids"], page["metadatas"], strict=True))
        return out

    def all_item_ids(self) -> list[str]:
        return [i for page in self._pages(self.catalog, []) for i in page["ids"]]

    def _pages(self, collection: Any, include: list[str], where: dict | None = None) -> Iterator[dict]:
        offset = 0
        while True:
            with self._wrap("read collection"):
                page = collection.get(include=include, limit=PAGE, offset=offset, where=where)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def query_items(self, vector: np.ndarray, k: int,
                    filters: Filters | None = None) -> list[tuple[Item, float]]:
        """The k items most similar to ``vector`` that pass ``filters``, as (Item, cosine similarity)."""
        return [(it, sim) for it, _, sim in self.query_items_with_vectors(vector, k, filters)]

    def query_items_with_vectors(self, vector: np.ndarray, k: int,
                                 filters: Filters | None = None) -> list[tuple[Item, np.ndarray, float]]:
        """(Item, vector, cosine) of the k most similar items passing ``filters``, best first: exact for
        catalogs up to ``exact_max_items`` (see ``CatalogCopy``), else Chroma's approximate HNSW search."""
        n = self.count()
        if n == 0 or k <= 0:
            return []
        if self._exact(n):
            return self.catalog_copy(n).top(vector, k, filters)
        with self._wrap("query items"):
            res = self.catalog.query(query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=min(k, n),
                                     where=filters.where() if filters is not None else None,
                                     include=["metadatas", "distances", "embeddings"])
        out = []
        for i, item_id in enumerate(res["ids"][0]):
            item = Item.from_metadata(item_id, res["metadatas"][0][i])
            vec = np.asarray(res["embeddings"][0][i], dtype=np.float32)
            out.append((item, vec, 1.0 - float(res["distances"][0][i])))  # cosine distance = 1 - cos
        return out

    # ---- side vector sets: the same items in another embedder's space --------------------------------
    SIDE_SETS = {"xl": "multilingual", "tuned": "shop-tuned"}
    """``xl``: the multilingual encoder's vectors (retrieval/multilingual.py); ``tuned``: the shop's own
    fine-tuned embedder's (finetune/embedder.py). Each is ``<shop>__catalog_<name>`` in Chroma."""

    def side_collection(self, name: str, create: bool = False) -> Any | None:
        """The shop's items in the ``name`` vector set; None for a shop that has none."""
        if name not in self.SIDE_SETS:
            raise StoreError(f"unknown vector set {name!r}; expected one of {', '.join(self.SIDE_SETS)}")
        if self._side.get(name) is None or (create and self._side[name] is False):
            full = f"{self.name}__catalog_{name}"
            exists = create or full in self.vs.collection_names()
            self._side[name] = self.vs.collection(full) if exists else False
        return self._side[name] or None

    def upsert_side(self, name: str, items: Sequence[Item], vectors: np.ndarray) -> None:
        self._upsert(self.side_collection(name, create=True), items, vectors,
                     f"upsert {self.SIDE_SETS[name]} vectors")
        self._touch()  # every process's exact copy of the set is re-read

    def side_copy(self, name: str) -> CatalogCopy | None:
        """The exact-search copy of a side set (as ``catalog_copy``), None when the catalog is too large for
        exact search or the shop has no such set."""
        coll = self.side_collection(name)
        if coll is None or not self._exact(self.count()):
            return None
        revision = self._meta_raw().get(REVISION)
        with self._copy_lock:
            copy = self._side_copies.get(name)
            if copy is None or copy.revision != revision:
                copy = self._side_copies[name] = self._read_copy(coll, revision)
            return copy

    def side_ids(self, name: str) -> set[str]:
        coll = self.side_collection(name)
        return set() if coll is None else {i for page in self._pages(coll, []) for i in page["ids"]}

    def drop_side(self, name: str) -> None:
        """Delete the whole set (a refitted embedder's vectors replace every old one)."""
        if self.side_collection(name) is not None:
            with self._wrap(f"delete {self.SIDE_SETS[name]} vectors"):
                self.vs.client.delete_collection(f"{self.name}__catalog_{name}")
            self._touch()
        self._side[name] = False

    def query_side(self, name: str, vector: np.ndarray, k: int,
                   filters: Filters | None = None) -> list[tuple[str, float]]:
        """(item id, cosine) of the k items nearest ``vector`` in the ``name`` set, best first."""
        coll = self.side_collection(name)
        if coll is None or k <= 0:
            return []
        if (copy := self.side_copy(name)) is not None:
            return [(it.id, sim) for it, _, sim in copy.top(vector, k, filters)]
        with self._wrap(f"query {self.SIDE_SETS[name]} vectors"):
            n = int(coll.count())
            if not n:
                return []
            res = coll.query(query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=min(k, n),
                             where=filters.where() if filters is not None else None, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def side_vectors(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors of ``ids`` in the ``name`` set (ids it lacks are left out)."""
        coll = self.side_collection(name)
        out: dict[str, np.ndarray] = {}
        if coll is None or not ids:
            return out
        if (copy := self.side_copy(name)) is not None:
            rows = copy.row_of
            return {i: copy.vectors[rows[i]] for i in ids if i in rows}
        for sl in self._batches(len(ids)):
            with self._wrap(f"read {self.SIDE_SETS[name]} vectors"):
                res = coll.get(ids=list(ids[sl]), include=["embeddings"])
            out.update((i, np.asarray(v, dtype=np.float32)) for i, v in zip(res["ids"], res["embeddings"],
                                                                                strict=True))
        return out

    def _exact(self, count: int) -> bool:
        return count <= self.vs.config.exact_max_items

    def warm(self) -> None:
        """Read now what the first query would: the exact search's copy of the catalog, if it uses one."""
        n = self.count()
        if n and self._exact(n):
            self.catalog_copy(n)

    def catalog_copy(self, count: int | None = None) -> CatalogCopy:
        """The exact-search copy of the catalog, re-read when another write changed the collection."""
        revision = self._meta_raw().get(REVISION)
        count = self.count() if count is None else count
        with self._copy_lock:
            copy = self._copy
            if copy is None or copy.revision != revision or len(copy.items) != count:
                copy = self._copy = self._read_copy(self.catalog, revision)
            return copy

    def _read_copy(self, coll: Any, revision: str | None) -> CatalogCopy:
        pairs = [(Item.from_metadata(i, m), np.asarray(v, dtype=np.float32))
                 for page in self._pages(coll, ["metadatas", "embeddings"])
                 for i, m, v in zip(page["ids"], page["metadatas"], page["embeddings"], strict=True)]
        return CatalogCopy.of(revision, pairs)

    def _touch(self) -> None:
        """Mark the catalog changed (a new revision token) for every process's exact-search copy."""
        self._write_meta({REVISION: uuid.uuid4().hex})

    def _meta_raw(self) -> dict[str, Any]:
        """The catalog collection's metadata as stored now (this client's collection object may be stale)."""
        return dict(self.vs.collection(f"{self.name}__catalog", create=False).metadata or {})

    def _write_meta(self, values: dict[str, Any]) -> None:
        merged = {**self._meta_raw(), **values}
        with self._wrap("write shop metadata"):
            self.catalog.modify(metadata=merged)

    def delete_items(self, ids: Sequence[str]) -> None:
        sides = [c for n in self.SIDE_SETS if (c := self.side_collection(n)) is not None]
        for sl in self._batches(len(ids)):
            with self._wrap("delete items"):
                self.catalog.delete(ids=list(ids[sl]))
                for side in sides:
                    side.delete(ids=list(ids[sl]))
        self._touch()

    def count(self) -> int:
        with self._wrap("count items"):
            return int(self.catalog.count())

    # ---- history ----------------------------------------------------------------------------------------
    def put_history(self, entries: Sequence[HistoryEntry], vectors: np.ndarray | None = None) -> None:
        """Write aggregated entries as they are (idempotent: what bulk indexing uses). ``vectors``, when a
        caller has them, must be one per entry; rows take their vectors from the catalog."""
        _one_per(entries, vectors, "put_history", "entries")
        self.history.put([e.row() for e in entries])

    def add_events(self, events: Sequence[Event], vectors: np.ndarray | None = None) -> None:
        """Add live events, merging into existing (shopper, item) entries (``HistoryTable.add``). Every
        event is checked first: nothing is written when one is invalid."""
        _one_per(events, vectors, "add_events", "events")
        self.history.add(events)

    def history_metadata(self) -> dict[str, dict[str, Any]]:
        """Every stored entry's fields by ``pair_id`` (damaged rows included, as stored)."""
        return {pair_id(r[0], r[1]): dict(zip(("shopper", "item_id", "count", "qty", "first_ts", "ts", "kind"),
                                              r, strict=True))
                for r in self.history.rows()}

    def delete_history(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete the entries of these (shopper, item id) pairs."""
        self.history.delete(keys)

    def history_query(self, shopper: str, vector: np.ndarray, k: int,
                      before: float | None = None) -> list[tuple[HistoryEntry, float]]:
        """The shopper's k history entries most similar to ``vector`` (with ``before``: items first bought
        before that timestamp), scored exactly with the catalog's vectors of their items; an entry whose
        item has left the catalog has no vector and is not returned."""
        entries = self.history.entries(str(shopper), before) if k > 0 else []
        found = self._vectors_of([e.item_id for e in entries])
        entries = [e for e in entries if e.item_id in found]
        if not entries:
            return []
        sims = np.stack([found[e.item_id] for e in entries]) @ np.asarray(vector, dtype=np.float32)
        return [(entries[i], float(sims[i])) for i in nearest_first(sims, [e.item_id for e in entries], k)]

    def _vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The catalog's vectors of these items (from the exact-search copy when the shop has one)."""
        n = self.count() if ids else 0
        if n and self._exact(n):
            copy = self.catalog_copy(n)
            return {i: copy.vectors[copy.row_of[i]] for i in ids if i in copy.row_of}
        return {it.id: v for it, v in self.get_items(ids, with_vectors=True)}

    def shopper_history(self, shopper: str) -> list[HistoryEntry]:
        """Every entry of one shopper (one read), most recent first."""
        return sorted(self.history.entries(str(shopper)), key=lambda e: (-e.last_ts, e.item_id))

    def recent_items(self, shopper: str, n: int) -> list[HistoryEntry]:
        return self.shopper_history(shopper)[:n]

    def frequent_items(self, shopper: str, n: int) -> list[HistoryEntry]:
        entries = self.shopper_history(shopper)
        return sorted(entries, key=lambda e: (-e.count, -e.quantity, -e.last_ts, e.item_id))[:n]

    @cached_property
    def feedback(self) -> Any:
        """The shop's live feedback log (``retrieval/feedback.FeedbackLog``), beside the history."""
        from retrieval.feedback import FeedbackLog, feedback_path

        return FeedbackLog(feedback_path(self.vs.path, self.name))

    def delete_shopper(self, shopper: str) -> None:
        """Forget everything about one shopper: their feedback log rows and their history rows."""
        self.feedback.delete_shopper(str(shopper))
        self.history.delete_shopper(str(shopper))

    def history_count(self) -> int:
        return self.history.count()

    def _adopt_legacy_history(self) -> None:
        """Move the ``<shop>__history`` collection of an older index into the table, then drop it. Rows the
        table has already win (a move killed half-way, then live events), so a rerun loses nothing."""
        from chromadb.errors import NotFoundError

        name = f"{self.name}__history"
        with self._wrap("open the old history"):
            try:
                legacy = self.vs.client.get_collection(name, embedding_function=None)
            except NotFoundError:
                legacy = None
        if legacy is not None:
            rows = [e.row() for page in self._pages(legacy, ["metadatas"]) for e in read_entries(page["metadatas"])]
            self.history.put(rows, keep_existing=True)
            log.info("shop %s: moved %d history entries from Chroma into %s", self.name, len(rows),
                     self.history.path)
            with suppress(NotFoundError), self._wrap("drop the old history"):
                self.vs.client.delete_collection(name)
        self.history.set_info(LEGACY, "1")

    # ---- shop metadata (currency, counts) lives in the catalog collection's metadata ---------------------
    def meta(self) -> dict[str, Any]:
        raw = self._meta_raw().get("bundlebot")
        return json.loads(raw) if raw else {}

    def set_meta(self, values: dict[str, Any]) -> None:
        self._write_meta({"bundlebot": json.dumps({**self.meta(), **values}, sort_keys=True)})


def _one_per(rows: Sequence[Any], vectors: np.ndarray | None, what: str, name: str) -> None:
    if vectors is not None and len(vectors) != len(rows):
        raise StoreError(f"{what} needs one vector per {name[:-1]} when given, got {len(rows)} {name}, "
                         f"{len(vectors)} vectors")
