"""The history table answers exactly as the Chroma history collection did, on real data.

``ChromaHistory`` is the history as ``retrieval/store.py`` kept it until issue #19 (commit cd36cea): one
Chroma record per (shopper, item), its vector the item's, queried with ``where`` filters. It stays here as the
reference. The real data: the train events of the session demo shop's shoppers (UCI Online Retail) with
the shop's real MiniLM item vectors. Two tables are compared with it: the demo shop's own, written by
``index_source`` (the bulk path: ``aggregate_rows``), and one moved over from a reference collection when its
shop is first opened (a shop indexed before the change).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlebot.config.retrieval import StoreConfig
from retrieval.history import HistoryEntry, aggregate_events, aggregate_rows, read_entries, read_entry
from retrieval.store import PAGE, VectorStore, nearest_first, pair_id
from retrieval.types import Event

REQUESTS = ("tea party for my mum", "christmas decorations", "a birthday present for a child")


class ChromaHistory:
    """The reference: the old store's history methods, verbatim but for the class around them."""

    def __init__(self, collection: Any) -> None:
        self.history = collection

    def put_history(self, entries: list[HistoryEntry], vectors: np.ndarray) -> None:
        for i in range(0, len(entries), PAGE):
            batch = entries[i:i + PAGE]
            self.history.upsert(ids=[pair_id(e.shopper_id, e.item_id) for e in batch],
                                embeddings=np.asarray(vectors[i:i + PAGE], dtype=np.float32),
                                metadatas=[e.to_metadata() for e in batch])

    def history_query(self, shopper: str, vector: np.ndarray, k: int,
                      before: float | None = None) -> list[tuple[HistoryEntry, float]]:
        where: dict[str, Any] = {"shopper": str(shopper)}
        if before is not None:
            where = {"$and": [where, {"first_ts": {"$lt": float(before)}}]}
        res = self.history.get(where=where, include=["metadatas", "embeddings"])
        if not res["ids"] or k <= 0:
            return []
        readable = [(e, v) for m, v in zip(res["metadatas"], res["embeddings"], strict=True)
                    if (e := read_entry(m)) is not None]
        entries = [e for e, _ in readable]
        sims = np.asarray([v for _, v in readable], dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        return [(entries[i], float(sims[i])) for i in nearest_first(sims, [e.item_id for e in entries], k)]

    def shopper_history(self, shopper: str) -> list[HistoryEntry]:
        res = self.history.get(where={"shopper": str(shopper)}, include=["metadatas"])
        return sorted(read_entries(res["metadatas"]), key=lambda e: (-e.last_ts, e.item_id))

    def recent_items(self, shopper: str, n: int) -> list[HistoryEntry]:
        return self.shopper_history(shopper)[:n]

    def frequent_items(self, shopper: str, n: int) -> list[HistoryEntry]:
        entries = self.shopper_history(shopper)
        return sorted(entries, key=lambda e: (-e.count, -e.quantity, -e.last_ts, e.item_id))[:n]

    def history_count(self) -> int:
        return int(self.history.count())


def questions(store: Any, shopper: str, requests: dict[str, np.ndarray], items: dict[str, np.ndarray]) -> dict:
    """Everything a turn asks of a shopper's history, with the times and k a turn or training would use."""
    own = store.shopper_history(shopper)
    firsts = sorted(e.first_ts for e in own) or [0.0]
    mine = items[own[-1].item_id] if own else next(iter(items.values()))
    asks = [(mine, 8, None), (mine, 1000, None), (requests[REQUESTS[0]], 8, firsts[len(firsts) // 2]),
            (requests[REQUESTS[1]], 3, firsts[0]), (requests[REQUESTS[2]], 8, firsts[-1] + 1), (mine, 0, None)]
    return {"history": own, "recent": store.recent_items(shopper, 5), "frequent": store.frequent_items(shopper, 5),
            "queries": [store.history_query(shopper, q, k, before) for q, k, before in asks]}


def assert_same(got: dict, expected: dict) -> None:
    """The same entries in the same order; similarities equal but for float32 rounding (a product of the
    same vectors in another row order of the matrix may differ in its last bit)."""
    assert {k: v for k, v in got.items() if k != "queries"} == {k: v for k, v in expected.items() if k != "queries"}
    for mine, theirs in zip(got["queries"], expected["queries"], strict=True):
        assert [e for e, _ in mine] == [e for e, _ in theirs]
        np.testing.assert_allclose([s for _, s in mine], [s for _, s in theirs], rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def real(demo_retriever, demo_shoppers, online_retail, tmp_path_factory) -> dict:
    """The reference collection of the demo shoppers' real events and its answers, taken before a shop
    named after it is opened (which moves it into that shop's table)."""
    demo = demo_retriever.store
    mine = set(demo_shoppers)
    events = [e for e in online_retail.events if e.shopper_id in mine]
    pairs = demo.get_items(sorted({e.item_id for e in events}), with_vectors=True)
    items = {it.id: v for it, v in pairs}
    entries = [e for e in aggregate_events(events).values() if e.item_id in items]
    vs = VectorStore(StoreConfig(), tmp_path_factory.mktemp("parity") / "chroma")
    old = ChromaHistory(vs.collection("moved__history"))
    old.put_history(entries, np.stack([items[e.item_id] for e in entries]))
    requests = {r: demo_retriever.embedder.embed(r) for r in REQUESTS}
    answers = {s: questions(old, s, requests, items) for s in demo_shoppers}
    count = old.history_count()
    moved = vs.shop("moved")
    moved.upsert_items([it for it, _ in pairs], np.stack([v for _, v in pairs]))
    return {"answers": answers, "count": count, "demo": demo, "moved": moved, "vs": vs,
            "requests": requests, "items": items, "entries": entries}


def test_the_reference_holds_real_history(real):
    answers = real["answers"]
    assert real["count"] == len(real["entries"]) > 3000 and len(answers) == 150
    assert sum(bool(a["queries"][2]) for a in answers.values()) > 50  # 'before' cuts some, not all
    assert any(e.count > 1 for a in answers.values() for e in a["history"])


@pytest.mark.parametrize("which", ["demo", "moved"])
def test_every_answer_is_the_reference_answer(real, which):
    store = real[which]
    if which == "moved":  # the session's demo shop also holds what other test modules add to it
        assert store.history_count() == real["count"]
    for shopper, expected in real["answers"].items():
        assert_same(questions(store, shopper, real["requests"], real["items"]), expected)


def test_the_old_collection_is_moved_once_and_later_events_are_kept(real):
    moved = real["moved"]
    assert "moved__history" not in {c.name for c in real["vs"].client.list_collections()}
    shopper = next(iter(real["answers"]))
    item = real["answers"][shopper]["history"][0]
    moved.add_events([Event(shopper, item.item_id, item.last_ts + 10, "view")])
    again = real["vs"].shop("moved")  # a second open finds nothing to move and keeps the new event
    assert again.shopper_history(shopper)[0] == HistoryEntry(
        shopper, item.item_id, item.count + 1, item.quantity + 1, item.first_ts, item.last_ts + 10, "view")
    moved.put_history([item])  # as it was, for the other tests


def test_delete_shopper_forgets_only_that_shopper(real):
    moved = real["moved"]
    gone, kept = list(real["answers"])[:10], list(real["answers"])[10:40]
    n_gone = sum(len(real["answers"][s]["history"]) for s in gone)
    restore = [e for s in gone for e in moved.shopper_history(s)]
    for s in gone:
        moved.delete_shopper(s)
    try:
        assert moved.history_count() == real["count"] - n_gone
        for s in gone:
            assert moved.shopper_history(s) == [] and moved.history_query(s, real["requests"][REQUESTS[0]], 8) == []
        for s in kept:
            assert_same(questions(moved, s, real["requests"], real["items"]), real["answers"][s])
    finally:
        moved.put_history(restore)


def test_bulk_rows_are_the_event_fold_on_all_real_events(online_retail):
    rows = aggregate_rows(online_retail.events)
    assert rows == [e.row() for e in aggregate_events(online_retail.events).values()] and len(rows) > 100_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from("xyz"), st.sampled_from([1.0, 2.0, 2.0, 3.0]),
                          st.sampled_from(["purchase", "cart", "view"]), st.integers(1, 3)), max_size=30))
def test_bulk_rows_are_the_event_fold(events):
    """Ties of the latest time included: the kind is the last event's, in input order, at that time."""
    evs = [Event(s, i, t, k, q) for s, i, t, k, q in events]
    assert aggregate_rows(evs) == [e.row() for e in aggregate_events(evs).values()]


def test_processes_adding_events_to_one_entry_all_count(tmp_path):
    """Each writer takes the lock before reading the entry it merges into, so no increment is lost."""
    stores = [VectorStore(StoreConfig(), tmp_path / "chroma").shop("busy") for _ in range(3)]

    def add(store: Any, n: int) -> None:
        for i in range(n):
            store.add_events([Event("s1", "x1", 1.6e9 + i, "view")])

    threads = [threading.Thread(target=add, args=(s, 40)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (entry,) = stores[0].shopper_history("s1")
    assert entry.count == 120 and entry.quantity == 120
