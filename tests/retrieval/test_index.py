"""Indexing: idempotent, embeds only what changed, crash-safe, never damaged by a bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest

import retrieval.index as index_mod
from bundlebot.config import AppConfig
from bundlebot.config.retrieval import EmbedderConfig, RetrievalConfig
from retrieval.index import index_source
from retrieval.store import ShopStore, VectorStore

HEADER = "id,title,category,price,in_stock\n"


def rows(n: int, start: int = 0, price: float = 2.0) -> str:
    return "".join(f"p{i},Product {i} mug,kitchen > mugs,{price + i / 100:.2f},true\n" for i in range(start, n))


def make_config(tmp_path, name="home") -> AppConfig:
    return AppConfig(home=str(tmp_path / name), retrieval=RetrievalConfig(embedder=EmbedderConfig(kind="hash")))


def snapshot(config: AppConfig, shop: str) -> dict:
    s = VectorStore(config.retrieval.store, config.store_path).shop(shop)
    got = s.catalog.get(include=["metadatas", "embeddings"])
    return {i: (m, np.asarray(v)) for i, m, v in zip(got["ids"], got["metadatas"], got["embeddings"], strict=True)}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k][0] == b[k][0]
        np.testing.assert_allclose(a[k][1], b[k][1], atol=1e-6)


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "cat.csv"
    path.write_text(HEADER + rows(40))
    return path


def test_rerun_changes_nothing_and_embeds_nothing(tmp_path, catalog):
    cfg = make_config(tmp_path)
    first = index_source(cfg, str(catalog), "shop", progress=False)
    assert (first.valid, first.embedded, first.written) == (40, 40, 40)
    before = snapshot(cfg, "shop")
    again = index_source(cfg, str(catalog), "shop", progress=False)
    assert (again.embedded, again.written, again.unchanged) == (0, 0, 40)
    assert_same(before, snapshot(cfg, "shop"))


def test_price_change_rewrites_metadata_without_re_embedding(tmp_path, catalog):
    cfg = make_config(tmp_path)
    index_source(cfg, str(catalog), "shop", progress=False)
    catalog.write_text(HEADER + rows(40, price=3.0))
    rep = index_source(cfg, str(catalog), "shop", progress=False)
    assert (rep.embedded, rep.cached, rep.written) == (0, 40, 40)
    assert snapshot(cfg, "shop")["p0"][0]["price"] == 3.0


def test_sync_deletes_items_no_longer_in_the_source(tmp_path, catalog):
    cfg = make_config(tmp_path)
    index_source(cfg, str(catalog), "shop", progress=False)
    catalog.write_text(HEADER + rows(30))
    assert index_source(cfg, str(catalog), "shop", progress=False).deleted == 0  # without --sync: kept
    rep = index_source(cfg, str(catalog), "shop", sync=True, progress=False)
    assert rep.deleted == 10 and sorted(snapshot(cfg, "shop")) == sorted(f"p{i}" for i in range(30))


def test_bad_rows_are_reported_and_nothing_indexed_is_lost(tmp_path, catalog):
    cfg = make_config(tmp_path)
    index_source(cfg, str(catalog), "shop", progress=False)
    before = snapshot(cfg, "shop")
    junk = tmp_path / "junk.csv"
    junk.write_text(HEADER + ",no id,x,1,true\np1,,x,1,true\np2,Mug,x,-3,true\n")
    rep = index_source(cfg, str(junk), "shop", sync=True, progress=False)
    assert rep.failed and rep.valid == 0 and len(rep.rejected) == 3
    assert {(r.line, r.file) for r in rep.rejected} == {(2, str(junk)), (3, str(junk)), (4, str(junk))}
    assert_same(before, snapshot(cfg, "shop"))  # even with --sync, a failed file deletes nothing
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(HEADER + "new1,New mug,kitchen,1.5,true\np3,Mug,kitchen,abc,true\n")
    rep = index_source(cfg, str(mixed), "shop", progress=False)
    assert rep.valid == 1 and [r.line for r in rep.rejected] == [3] and "price" in rep.rejected[0].reason
    after = snapshot(cfg, "shop")
    assert "new1" in after and after["p3"][0] == before["p3"][0]


def test_a_run_killed_half_way_then_rerun_equals_an_uninterrupted_run(tmp_path, catalog, monkeypatch):
    monkeypatch.setattr(index_mod, "BATCH", 8)
    clean = make_config(tmp_path, "clean")
    index_source(clean, str(catalog), "shop", progress=False)
    crashed = make_config(tmp_path, "crashed")
    calls = {"n": 0}
    original = ShopStore.upsert_items

    def dying_upsert(self, items, vectors):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed half-way")
        original(self, items, vectors)

    monkeypatch.setattr(ShopStore, "upsert_items", dying_upsert)
    with pytest.raises(KeyboardInterrupt):
        index_source(crashed, str(catalog), "shop", progress=False)
    assert len(snapshot(crashed, "shop")) == 16  # two batches made it
    monkeypatch.setattr(ShopStore, "upsert_items", original)
    rep = index_source(crashed, str(catalog), "shop", progress=False)
    assert rep.written == 24 and rep.embedded == 24 - 8  # the third batch was embedded+cached before dying
    assert_same(snapshot(clean, "shop"), snapshot(crashed, "shop"))


def test_jsonl_with_mapping(tmp_path):
    path = tmp_path / "cat.jsonl"
    path.write_text("\n".join(json.dumps({"sku": f"s{i}", "name": f"Napkins {i}", "cost": 1 + i})
                              for i in range(5)))
    cfg = make_config(tmp_path)
    rep = index_source(cfg, str(path), "shop", progress=False, mapping={"id": "sku", "title": "name",
                                                                        "price": "cost"})
    assert rep.valid == 5 and snapshot(cfg, "shop")["s2"][0]["price"] == 3.0


# ---- shopper history ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shoppers_source(online_retail):
    """Real online-retail train events of 60 shoppers, with the catalog items they touch and 40 others."""
    from retrieval.types import SourceData

    shoppers = sorted({e.shopper_id for e in online_retail.events})[:60]
    events = [e for e in online_retail.events if e.shopper_id in set(shoppers)]
    used = {e.item_id for e in events}
    items = [it for it in online_retail.items if it.id in used] + \
        [it for it in online_retail.items if it.id not in used][:40]
    return SourceData("shoppers", items, events, [], currency="GBP")


def history_rows(cfg: AppConfig, shop: str) -> list[tuple]:
    return sorted(VectorStore(cfg.retrieval.store, cfg.store_path).shop(shop).history.rows())


def test_history_is_every_shoppers_fold_and_a_rerun_writes_nothing(tmp_path, shoppers_source):
    from retrieval.history import aggregate_events

    cfg = make_config(tmp_path)
    first = index_source(cfg, "shoppers", "shop", progress=False, data=shoppers_source)
    expected = sorted(e.row() for e in aggregate_events(shoppers_source.events).values())
    assert first.history_written == first.history_total == len(expected) > 1000
    assert history_rows(cfg, "shop") == expected
    again = index_source(cfg, "shoppers", "shop", progress=False, data=shoppers_source)
    assert (again.history_written, again.history_total, again.written) == (0, len(expected), 0)
    assert again.history_seconds < 5 and history_rows(cfg, "shop") == expected


def test_history_of_items_no_longer_sold_goes_with_sync_only(tmp_path, shoppers_source):
    from dataclasses import replace

    cfg = make_config(tmp_path)
    index_source(cfg, "shoppers", "shop", progress=False, data=shoppers_source)
    before = history_rows(cfg, "shop")
    gone = {e.item_id for e in shoppers_source.events[:50]}
    fewer = replace(shoppers_source, items=[it for it in shoppers_source.items if it.id not in gone])
    index_source(cfg, "shoppers", "shop", progress=False, data=fewer)
    assert history_rows(cfg, "shop") == before
    index_source(cfg, "shoppers", "shop", progress=False, data=fewer, sync=True)
    assert history_rows(cfg, "shop") == [r for r in before if r[1] not in gone] != before


def test_history_killed_half_way_then_rerun_equals_an_uninterrupted_run(tmp_path, shoppers_source, monkeypatch):
    from retrieval.history import HistoryTable

    monkeypatch.setattr(index_mod, "HISTORY_BATCH", 300)
    clean = make_config(tmp_path, "clean")
    index_source(clean, "shoppers", "shop", progress=False, data=shoppers_source)
    crashed = make_config(tmp_path, "crashed")
    calls = {"n": 0}
    original = HistoryTable.put

    def dying_put(self, rows, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed half-way")
        original(self, rows, **kw)

    monkeypatch.setattr(HistoryTable, "put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        index_source(crashed, "shoppers", "shop", progress=False, data=shoppers_source)
    assert len(history_rows(crashed, "shop")) == 600  # two transactions made it, the third left nothing
    monkeypatch.setattr(HistoryTable, "put", original)
    rep = index_source(crashed, "shoppers", "shop", progress=False, data=shoppers_source)
    assert rep.history_written == rep.history_total - 600
    assert history_rows(crashed, "shop") == history_rows(clean, "shop")
