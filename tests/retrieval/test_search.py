"""The Retriever on the real demo shop (online-retail, real MiniLM vectors, real co-purchase stats)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.search import Filters


def test_tea_party_under_five_pounds_is_priced_relevant_and_explained(demo_retriever):
    out = demo_retriever.candidates("tea party", filters=Filters(max_price=5.0), k=10)
    assert len(out) == 10
    assert all(s.item.price is not None and s.item.price <= 5.0 and s.item.in_stock for s in out)
    assert sum("TEA" in s.item.title.upper() for s in out) >= 3
    assert [s.score for s in out] == sorted((s.score for s in out), reverse=True)
    assert all(set(s.breakdown) == {"relevance", "lexical", "feedback", "affinity", "complement", "substitute",
                                    "popularity"} for s in out)
    assert any(set(s.evidence.get("matched_words", ())) & {"tea", "party"} for s in out)
    assert demo_retriever.currency == "GBP" and demo_retriever.stats is not None


@settings(max_examples=8, deadline=None)
@given(query=st.sampled_from(["tea party", "christmas decorations", "lunch bag", "candles", "kids toys"]),
       max_price=st.one_of(st.none(), st.sampled_from([0.5, 2.0, 10.0])),
       not_in=st.lists(st.sampled_from(["kitchen", "christmas", "home", "bags", "party", "toys"]), max_size=2),
       n_exclude=st.integers(0, 5))
def test_every_candidate_is_a_shop_item_that_passes_the_filters(demo_retriever, demo_shoppers, query,
                                                                max_price, not_in, n_exclude):
    top = [s.item.id for s in demo_retriever.candidates(query, k=n_exclude)] if n_exclude else []
    f = Filters(max_price=max_price, categories_not_in=tuple(not_in), exclude_ids=tuple(top))
    out = demo_retriever.candidates(query, shopper=demo_shoppers[0], filters=f, k=30)
    assert all(f.accepts(s.item) for s in out)
    stored = {it.id: it for it in demo_retriever.store.get_items([s.item.id for s in out])}
    assert all(stored.get(s.item.id) == s.item for s in out)


def test_complements_of_a_chosen_item_are_scored_with_evidence(demo_retriever):
    first = demo_retriever.candidates("regency teacup and saucer", k=1)[0].item
    out = demo_retriever.candidates("regency teacup and saucer", k=60, chosen=[first])
    assert any(s.evidence.get("complement_of") == first.id and s.breakdown["complement"] > 0 for s in out)


def test_shopper_history_adds_affinity_with_evidence(demo_retriever, demo_shoppers):
    shopper = demo_shoppers[0]
    hist = demo_retriever.history(shopper)
    assert hist and [e.timestamp for _, e in hist] == sorted((e.timestamp for _, e in hist), reverse=True)
    bought = hist[0][0]
    out = demo_retriever.candidates(bought.title, shopper=shopper, k=10)
    best = next(s for s in out if s.item.id == bought.id)
    assert best.evidence["history_item"] == bought.id and best.breakdown["affinity"] > 0.3
    assert demo_retriever.candidates(bought.title, shopper="no-such-shopper", k=5)[0].breakdown["affinity"] == 0


def test_history_before_hides_items_first_bought_at_or_after_that_time(demo_retriever, demo_shoppers):
    """Training replays an indexed basket as a request: ``history_before`` keeps the basket out of its own
    history (no evidence, no affinity from it), as for a basket the index has never seen."""
    shopper = demo_shoppers[0]
    first = min(demo_retriever.store.shopper_history(shopper), key=lambda e: e.first_ts)
    newest = max(demo_retriever.store.shopper_history(shopper), key=lambda e: e.first_ts)
    title = demo_retriever.item(newest.item_id).title
    assert first.first_ts < newest.first_ts
    seen = demo_retriever.candidates(title, shopper=shopper, k=10)
    assert any(s.evidence.get("history_item") == newest.item_id for s in seen)
    hidden = demo_retriever.candidates(title, shopper=shopper, k=10, history_before=newest.first_ts)
    assert all(s.evidence.get("history_item") != newest.item_id for s in hidden)
    pool = demo_retriever.gather(title, shopper=shopper, history_before=newest.first_ts)
    assert newest.item_id not in {it.id for it, _, _ in pool.history}


def test_rescore_with_a_chosen_item_penalizes_its_substitutes(demo_retriever):
    cands = demo_retriever.candidates("teapot", k=20)
    chosen = cands[0].item
    again = demo_retriever.rescore(cands, "teapot", chosen=[chosen])
    assert chosen.id not in {s.item.id for s in again}
    assert any(s.breakdown["substitute"] < 0 and s.evidence["substitute_of"] == chosen.id for s in again)
    assert demo_retriever.item(chosen.id) == chosen and demo_retriever.item("nope") is None


def test_chosen_items_are_excluded_from_candidates(demo_retriever):
    first = demo_retriever.candidates("jam making set", k=3)
    ids = {s.item.id for s in first}
    out = demo_retriever.candidates("jam making set", k=20, chosen=[s.item for s in first])
    assert not ids & {s.item.id for s in out}


def test_ranking_a_pool_with_chosen_items_reads_nothing_again(demo_retriever, demo_shoppers, monkeypatch):
    """The per-pick path of bundle assembly: after gather(), re-ranking is numpy only, and it agrees with the
    slow path (rescore without the pool) on the complement and substitute terms."""
    pool = demo_retriever.gather("tea party", shopper=demo_shoppers[0])
    first = demo_retriever.rank(pool, 20)
    chosen = [first[0].item, first[3].item]
    slow = {s.item.id: s for s in demo_retriever.rescore(first, "tea party", shopper=demo_shoppers[0],
                                                         chosen=chosen)}

    def boom(*a, **kw):
        raise AssertionError("read again")

    for obj, name in [(demo_retriever.store, "get_items"), (demo_retriever.store, "history_query"),
                      (demo_retriever.store, "query_items_with_vectors"), (demo_retriever.embedder, "embed")]:
        monkeypatch.setattr(obj, name, boom)
    fast = demo_retriever.rescore(first, "tea party", shopper=demo_shoppers[0], chosen=chosen, pool=pool)
    assert {s.item.id for s in fast} == set(slow) and not {c.id for c in chosen} & set(slow)
    for s in fast:
        for term in ("complement", "substitute", "affinity", "relevance"):
            assert s.breakdown[term] == pytest.approx(slow[s.item.id].breakdown[term], abs=1e-5)
    assert any(s.breakdown["complement"] > 0 for s in fast)


def test_vector_hits_are_the_exact_nearest_items_and_warm_reads_the_catalog_once(demo_retriever, monkeypatch):
    """The demo catalog is under store.exact_max_items: its hits are the true top k (Chroma's HNSW found
    ~97 % of them, and not the same ones in every process), ties by id."""
    store = demo_retriever.store
    demo_retriever.warm()
    copy = store.catalog_copy()
    assert len(copy.items) == store.count()
    monkeypatch.setattr(store, "_pages", lambda *a, **kw: (_ for _ in ()).throw(AssertionError("read again")))
    for text in ("tea party", "christmas lights", "baking set", "kids party bags", "garden"):
        q = demo_retriever.embedder.embed(text)
        sims = copy.vectors @ q
        ranked = [copy.items[i] for i in sorted(range(len(sims)),
                                                 key=lambda i: (-round(float(sims[i]), 6), copy.items[i].id))]
        got = store.query_items_with_vectors(q, 60, Filters(in_stock_only=False))
        assert [it.id for it, _, _ in got] == [it.id for it in ranked[:60]]
        f = Filters(max_price=2.0)
        assert [it.id for it, _, _ in store.query_items_with_vectors(q, 60, f)] == \
            [it.id for it in ranked if f.accepts(it)][:60]


def test_history_candidates_put_the_shoppers_own_items_in_the_pool(demo_retriever, demo_shoppers):
    """With ``history_candidates`` the past items most relevant to the request become candidates themselves."""
    from dataclasses import replace

    shopper = demo_shoppers[0]
    query = "something for the kitchen"
    qv = demo_retriever.embedder.embed(query)
    relevant = [it.id for it, _, _ in demo_retriever._relevant_history(shopper, qv) if it.in_stock]
    retrieval = demo_retriever.config.retrieval
    try:
        demo_retriever.config.retrieval = replace(retrieval, history_candidates=0)
        off = {it.id for it, _ in demo_retriever.gather(query, shopper=shopper).candidates}
        demo_retriever.config.retrieval = replace(retrieval, history_candidates=4)
        on = {it.id for it, _ in demo_retriever.gather(query, shopper=shopper).candidates}
    finally:
        demo_retriever.config.retrieval = retrieval
    assert relevant and set(relevant[:4]) <= on and len(on) >= len(off)


def test_indexing_gives_every_item_a_kind_and_a_role(demo_retriever) -> None:
    """The demo shop's kinds come from its index (retrieval/kinds.py fitted on its titles and train baskets)."""
    def kind(title_word: str) -> tuple[str, str]:
        hit = demo_retriever.candidates(title_word, k=5)
        item = next(s.item for s in hit if title_word in s.item.title.lower())
        return demo_retriever.kind(item)

    assert kind("doormat") == ("doormat", "main")
    assert kind("cake stand")[0] == "cake stand"
    assert kind("wrap")[1] == "accessory"
    from retrieval.types import Item

    assert demo_retriever.kind(Item("new", "BLUE SPOTTY DOORMAT"))[0] == "doormat"  # not indexed: named by title


def test_a_bundle_holds_one_item_per_kind(demo_config, demo_retriever) -> None:
    from assistant.service import ShoppingAssistant

    cfg = copy.deepcopy(demo_config)
    cfg.assistant.fusion, cfg.assistant.explain = False, False
    bot = ShoppingAssistant(cfg, "demo", retriever=demo_retriever)
    for request in ("a housewarming present under £20", "a christmas gift for my gran under £15"):
        r, _ = bot.turn(request)
        kinds = [demo_retriever.kind(demo_retriever.item(ln.id)) for ln in r.items]
        assert len({k[0] for k in kinds}) == len(kinds), (request, kinds)
        assert kinds and kinds[0][1] == "main", (request, kinds)
