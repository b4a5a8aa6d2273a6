"""The Chroma store: the SAME tests run against the embedded client and a real `chroma run` server."""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundlebot.config.retrieval import StoreConfig
from bundlebot.errors import RequestError, StoreError
from retrieval.embeddings import HashEmbedder
from retrieval.search import Filters
from retrieval.store import HistoryEntry, VectorStore
from retrieval.types import Event, Item

EMB = HashEmbedder(dim=32)
CATALOG = [
    Item("t1", "white teapot", category=("kitchen", "tea"), price=12.5, currency="GBP", popularity=5),
    Item("t2", "blue teapot", category=("kitchen", "tea"), price=4.0, currency="GBP", in_stock=False),
    Item("c1", "tea cups set", category=("kitchen", "cups"), price=3.25, currency="GBP", brand="Acme",
         attributes={"colour": "red"}),
    Item("b1", "butter biscuits", category=("food", "biscuits"), price=1.5, currency="GBP"),
    Item("h1", "garden hose", category=("garden",), price=None, description="twenty metres"),
    Item("n1", "paper napkins", category=("party", "tableware"), price=0.85, currency="GBP"),
]


def vecs(items):
    return EMB.embed_batch([it.embedding_text() for it in items])


@pytest.fixture
def shop(store_config, tmp_path):
    store = VectorStore(store_config, tmp_path / "chroma")
    s = store.shop("t" + uuid.uuid4().hex[:10])  # unique: the server is shared by the whole session
    s.upsert_items(CATALOG, vecs(CATALOG))
    return s


def test_items_round_trip_and_count(shop):
    assert shop.count() == len(CATALOG)
    assert shop.get_items(["c1", "zz", "h1"]) == [CATALOG[2], CATALOG[4]]
    (item, vec), = shop.get_items(["t1"], with_vectors=True)
    np.testing.assert_allclose(vec, vecs([CATALOG[0]])[0], atol=1e-6)
    assert sorted(shop.all_item_ids()) == sorted(it.id for it in CATALOG)


def test_no_embedding_function_is_ever_attached(shop):
    # Chroma would instantiate its ONNX default embedder (and download it) if a collection had one.
    assert shop.catalog._embedding_function is None
    names = {c if isinstance(c, str) else c.name for c in shop.vs.client.list_collections()}
    assert f"{shop.name}__catalog" in names and f"{shop.name}__history" not in names  # history is a table


def test_query_returns_similarity_and_respects_k(shop):
    out = shop.query_items(EMB.embed(CATALOG[0].embedding_text()), k=2, filters=Filters(in_stock_only=False))
    assert [it.id for it, _ in out][0] == "t1" and len(out) == 2
    assert out[0][1] == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(max_price=st.one_of(st.none(), st.sampled_from([0.5, 1.5, 4.0, 100.0])), in_stock=st.booleans(),
       cat_in=st.lists(st.sampled_from(["kitchen", "tea", "food", "garden", "party"]), max_size=2),
       cat_out=st.lists(st.sampled_from(["kitchen", "cups", "food", "garden"]), max_size=2),
       exclude=st.lists(st.sampled_from([it.id for it in CATALOG]), max_size=3),
       only=st.lists(st.sampled_from([it.id for it in CATALOG]), max_size=4))
def test_filtered_query_equals_the_python_rule(shop, max_price, in_stock, cat_in, cat_out, exclude, only):
    f = Filters(max_price, in_stock, tuple(cat_in), tuple(cat_out), tuple(exclude), tuple(only))
    got = {it.id for it, _ in shop.query_items(EMB.embed("teapot"), k=50, filters=f)}
    assert got == {it.id for it in CATALOG if f.accepts(it)}


def test_filtered_query_equals_the_python_rule_on_chromas_own_search_too(shop, store_config):
    # exact_max_items = 0: Chroma answers (a collection this small is searched brute force, so exactly)
    shop.vs.config = replace(store_config, exact_max_items=0)
    for f in [Filters(), Filters(max_price=4.0), Filters(in_stock_only=False, categories_in=("kitchen",)),
              Filters(categories_not_in=("food",), exclude_ids=("t1",)),
              Filters(in_stock_only=False, only_ids=tuple(it.id for it in CATALOG[:3]))]:
        got = [(it.id, round(sim, 5)) for it, sim in shop.query_items(EMB.embed("tea for two"), k=50, filters=f)]
        shop.vs.config = store_config
        exact = [(it.id, round(sim, 5)) for it, sim in shop.query_items(EMB.embed("tea for two"), k=50, filters=f)]
        shop.vs.config = replace(store_config, exact_max_items=0)
        assert got == exact and {i for i, _ in got} == {it.id for it in CATALOG if f.accepts(it)}


def test_exact_search_orders_ties_by_id_and_follows_writes_from_another_client(shop, store_config, tmp_path):
    twins = [Item(f"z{i}", "same words") for i in (3, 1, 2)]  # identical vectors: a tie broken by id
    shop.upsert_items(twins, vecs(twins))
    q = EMB.embed("same words")
    assert [it.id for it, _ in shop.query_items(q, k=2)] == ["z1", "z2"]
    # another client (another process in production) writes; this client's copy must not serve stale rows
    other = VectorStore(store_config, tmp_path / "chroma").shop(shop.name)
    other.delete_items(["z1"])
    other.upsert_items([Item("z0", "same words", price=2.0)], vecs([Item("z0", "same words")]))
    assert [it.id for it, _ in shop.query_items(q, k=3)] == ["z0", "z2", "z3"]
    assert shop.query_items(q, k=1)[0][0].price == 2.0
    shop.set_meta({"items": 8})  # shop metadata and the revision token live side by side
    assert shop.meta() == {"items": 8} and [it.id for it, _ in shop.query_items(q, k=1)] == ["z0"]


def test_shops_are_tenants(shop, store_config, tmp_path):
    other = VectorStore(store_config, tmp_path / "chroma").shop("o" + uuid.uuid4().hex[:10])
    other.upsert_items([Item("x1", "teapot from elsewhere")], vecs([Item("x1", "teapot from elsewhere")]))
    assert [it.id for it, _ in other.query_items(EMB.embed("teapot"), 10)] == ["x1"]
    assert "x1" not in shop.all_item_ids() and other.get_items(["t1"]) == []


def test_upsert_respects_the_max_batch_size(shop):
    shop.vs.max_batch = 4
    seen = []
    original = shop.catalog.upsert
    shop.catalog.upsert = lambda **kw: (seen.append(len(kw["ids"])), original(**kw))
    items = [Item(f"m{i}", f"mug {i}") for i in range(10)]
    shop.upsert_items(items, vecs(items))
    assert seen == [4, 4, 2] and shop.count() == len(CATALOG) + 10


def test_delete_items_and_shop_metadata(shop):
    shop.delete_items(["t1", "t2"])
    assert shop.count() == len(CATALOG) - 2 and shop.get_items(["t1"]) == []
    shop.set_meta({"currency": "GBP", "items": 4})
    shop.set_meta({"history": 0})
    assert shop.meta() == {"currency": "GBP", "items": 4, "history": 0}


def test_history_queries_and_delete_shopper(shop):
    by_id = {it.id: it for it in CATALOG}
    events = [Event("s1", "t1", 100.0), Event("s1", "t1", 300.0, quantity=2), Event("s1", "b1", 200.0),
              Event("s1", "n1", 50.0), Event("s2", "c1", 400.0)]
    shop.add_events(events, vecs([by_id[e.item_id] for e in events]))
    shop.add_events([Event("s1", "n1", 60.0)], vecs([by_id["n1"]]))  # merges into the existing entry
    assert shop.history_count() == 4
    (best, sim), *_ = shop.history_query("s1", EMB.embed("white teapot"), k=3)
    assert best.item_id == "t1" and best.count == 2 and best.quantity == 3 and best.last_ts == 300.0
    assert {e.shopper_id for e, _ in shop.history_query("s1", EMB.embed("cups"), k=10)} == {"s1"}
    assert [e.item_id for e in shop.recent_items("s1", 2)] == ["t1", "b1"]
    assert [(e.item_id, e.count) for e in shop.frequent_items("s1", 2)] == [("t1", 2), ("n1", 2)]
    # before: only items first bought before the time (t1 at 100 and 300 counts as bought before 250)
    before = {e.item_id for e, _ in shop.history_query("s1", EMB.embed("cups"), k=10, before=150.0)}
    assert before == {"t1", "n1"}
    assert {e.item_id for e, _ in shop.history_query("s1", EMB.embed("cups"), k=10, before=50.0)} == set()
    shop.delete_shopper("s1")
    assert shop.shopper_history("s1") == [] and [e.item_id for e in shop.recent_items("s2", 5)] == ["c1"]


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), 1e308, -1e12])
def test_an_impossible_timestamp_is_refused_and_nothing_is_written(shop, ts):
    shop.add_events([Event("s1", "t1", 100.0)], vecs([CATALOG[0]]))
    with pytest.raises(RequestError, match="timestamp"):
        shop.add_events([Event("s1", "c1", 200.0), Event("s1", "t1", ts)], vecs([CATALOG[2], CATALOG[0]]))
    assert [(e.item_id, e.count, e.last_ts) for e in shop.shopper_history("s1")] == [("t1", 1, 100.0)]


def test_damaged_history_rows_are_skipped_by_every_reader(shop):
    """Rows written before timestamps were checked must not break the shopper's later turns."""
    shop.put_history([HistoryEntry("s9", "t1", 1, 1, float("nan"), float("nan"), "purchase"),
                      HistoryEntry("s9", "c1", 1, 1, -1e12, -1e12, "purchase"),
                      HistoryEntry("s9", "b1", 2, 2, 100.0, 200.0, "purchase")], vecs(CATALOG[:3]))
    with shop.history._write("a broken row") as db:  # and one missing fields, as a foreign writer might leave
        db.execute("INSERT INTO history (shopper, item_id, count) VALUES ('s9', 'h1', 1)")
    assert [e.item_id for e in shop.shopper_history("s9")] == ["b1"]
    assert [e.item_id for e, _ in shop.history_query("s9", EMB.embed("teapot"), k=5)] == ["b1"]
    shop.add_events([Event("s9", "t1", 300.0)], vecs([CATALOG[0]]))  # overwrites the damaged entry
    assert sorted(e.item_id for e in shop.shopper_history("s9")) == ["b1", "t1"]


def test_history_takes_its_vectors_from_the_catalog(shop):
    shop.add_events([Event("s1", "t1", 100.0), Event("s1", "h1", 200.0)])
    shop.upsert_items([CATALOG[4]], vecs([CATALOG[0]]))  # h1 re-embedded: its history row follows
    assert [(e.item_id, round(sim, 5)) for e, sim in shop.history_query("s1", vecs([CATALOG[0]])[0], k=5)] \
        == [("h1", 1.0), ("t1", 1.0)]
    shop.delete_items(["t1"])  # an item gone from the catalog has no vector: its entry is not an answer
    assert [e.item_id for e, _ in shop.history_query("s1", vecs([CATALOG[0]])[0], k=5)] == ["h1"]
    assert [e.item_id for e in shop.shopper_history("s1")] == ["h1", "t1"]  # but the history still has it


def test_history_of_an_older_index_moves_out_of_chroma_when_its_shop_opens(store_config, tmp_path):
    name = "o" + uuid.uuid4().hex[:10]
    store = VectorStore(store_config, tmp_path / "chroma")
    entries = [HistoryEntry("s1", "t1", 2, 3, 100.0, 300.0, "purchase"),
               HistoryEntry("s2", "c1", 1, 1, 5.0, 5.0, "view")]
    old = store.collection(f"{name}__history")  # as the store wrote it before the history table
    old.upsert(ids=["a", "b", "broken"], embeddings=vecs([CATALOG[0], CATALOG[2], CATALOG[3]]),
               metadatas=[*(e.to_metadata() for e in entries), {"shopper": "s9"}])
    shop = store.shop(name)
    assert [shop.shopper_history(s) for s in ("s1", "s2", "s9")] == [[entries[0]], [entries[1]], []]
    assert f"{name}__history" not in {c if isinstance(c, str) else c.name for c in store.client.list_collections()}
    shop.add_events([Event("s2", "c1", 9.0)])
    assert store.shop(name).shopper_history("s2")[0].count == 2  # opened again: nothing moved over it


@pytest.mark.parametrize("name", ["Demo", "a b", "", "x__y", "-a", "ü"])
def test_bad_shop_names_are_rejected(tmp_path, name):
    with pytest.raises(StoreError, match="shop name"):
        VectorStore(StoreConfig(), tmp_path).shop(name)


def test_unreachable_server_says_how_to_start_one(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError) as err:
        VectorStore(StoreConfig(mode="http", port=port), tmp_path)
    assert "chroma run" in err.value.hint
