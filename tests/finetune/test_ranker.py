"""`bundlebot fit`: requests from the train split's shape, the history as it stood, and a real fit."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from finetune.ranker import (
    EventsAsOf,
    LeaveOut,
    feedback_requests,
    fit_indexed,
    fit_shop,
    request_rows,
    requests_of,
    split_for_embedder,
)
from retrieval.features import FEATURES
from retrieval.feedback import LiveEvent
from retrieval.ranker import load_ranker, read_manifest
from retrieval.types import Basket, Event, Item, SourceData
from tests.conftest import DEMO_SHOP


@pytest.fixture(scope="module")
def bundlerec(data_dir):
    from retrieval.importers import load_source

    return load_source("bundlerec-food", data_dir)


def test_requests_follow_the_shape_of_the_baskets(online_retail, bundlerec) -> None:
    intents = requests_of(bundlerec, bundlerec.train_baskets, 50)
    assert len(intents) == 50 and all(r.shopper is None and r.basket.intent for r in intents)
    invoices = requests_of(online_retail, online_retail.train_baskets, 50)
    assert all(r.text.startswith("I need ") and "My budget is £" in r.text and r.shopper for r in invoices)
    items = [Item("m", "Oat Milk", category=("dairy", "milk")), Item("y", "Yogurt", category=("dairy", "yogurt")),
             Item("s", "Soy Milk", category=("dairy", "milk"))]
    src = SourceData("t", items, [], [Basket("o1", ("m", "y", "s"), shopper_id="7", timestamp=5.0)])
    orders = requests_of(src, src.train_baskets, 10)
    assert sorted((r.text, r.gold) for r in orders) == [("I need milk", ("m", "s")), ("I need yogurt", ("y",))]
    assert requests_of(online_retail, online_retail.train_baskets, 50) == invoices  # seeded


def test_requests_come_only_from_the_baskets_given(online_retail) -> None:
    test_ids = {b.id for b in online_retail.test}
    reqs = requests_of(online_retail, online_retail.train_baskets, 500)
    assert reqs and not {r.basket.id for r in reqs} & test_ids


def test_history_as_of_counts_only_earlier_events() -> None:
    evs = [Event("s", "a", 1.0, quantity=2), Event("s", "a", 3.0, quantity=1), Event("s", "b", 5.0),
           Event("t", "a", 0.5)]
    as_of = EventsAsOf(evs)
    then = as_of("s", 3.0)
    assert set(then) == {"a"} and (then["a"].count, then["a"].quantity, then["a"].timestamp) == (1, 2, 1.0)
    later = as_of("s", 10.0)
    assert (later["a"].count, later["a"].quantity, later["a"].timestamp) == (2, 3, 3.0) and later["b"].count == 1
    assert as_of("nobody", 10.0) is None  # a live shopper: the store's own history before then stands


def test_leave_out_covers_a_bundle_and_its_session(bundlerec) -> None:
    leave = LeaveOut(bundlerec.train_baskets)
    bundle = next(b for b in bundlerec.train_baskets if b.intent and b.shopper_id is not None)
    counts = leave.counts(bundle)
    same = [b for b in bundlerec.train_baskets if (b.shopper_id, b.timestamp) == (bundle.shopper_id, bundle.timestamp)]
    assert len(same) >= 2  # the bundle and the session it was made in
    assert counts == Counter(i for b in same for i in set(b.item_ids))
    items = {it.id: it for it in bundlerec.items}
    assert all(items[i].popularity >= n for i, n in counts.items() if i in items)


def test_live_requests_are_labelled_by_the_latest_verdict_on_each_item() -> None:
    q = "a tea party"
    ev = [LiveEvent("s", "a", "view", 1.0, request="a  Tea party"), LiveEvent("s", "b", "view", 1.0, request=q),
          LiveEvent("s", "a", "like", 2.0, request=q), LiveEvent("s", "b", "like", 3.0, request=q),
          LiveEvent("s", "b", "dislike", 4.0, request=q),  # taken back
          LiveEvent("s", "c", "cart", 5.0, request=q),
          LiveEvent("s", "d", "like", 6.0, scope="bundle", request=q),  # the whole bundle: no label
          LiveEvent("t", "a", "like", 7.0),  # no request sent: no context to learn from
          LiveEvent("t", "zz", "like", 8.0, request="mugs"),  # not in the catalog
          LiveEvent("t", "b", "dislike", 9.0, request="mugs")]  # nothing liked: no gold
    reqs = feedback_requests(ev, {"a", "b", "c", "d"})
    assert [(r.text, r.shopper, r.before, r.gold) for r in reqs] == [("a Tea party", "s", 1.0, ("a", "c"))]
    assert reqs[0].basket.shopper_id == "s" and feedback_requests(ev, {"a", "b", "c", "d"}, limit=0) == []


def _home_of_its_own(demo_config, tmp_path_factory, name: str):
    """The shared demo shop seen from a home of its own: a ranker fitted here must not change what the other
    tests' demo shop ranks with."""
    import copy
    import shutil

    home = tmp_path_factory.mktemp(name)
    for sub in ("models", "embeddings"):
        (home / sub).symlink_to(demo_config.home_path / sub, target_is_directory=True)
    shutil.copytree(demo_config.home_path / "shops" / DEMO_SHOP, home / "shops" / DEMO_SHOP)
    cfg = copy.deepcopy(demo_config)
    cfg.retrieval.store.path = str(demo_config.store_path)  # the same path: the same Chroma client
    cfg.home = str(home)
    return cfg


@pytest.fixture(scope="module")
def own_home(demo_config, tmp_path_factory):
    cfg = _home_of_its_own(demo_config, tmp_path_factory, "ranker-home")
    cfg.retrieval.embedder_steps = 0  # the ranker alone here; tests/finetune/test_embedder.py tunes embedders
    return cfg


@pytest.fixture(scope="module")
def fitted_demo(own_home, online_retail):
    """The demo shop's ranker fitted on a small sample of its train invoices (real MiniLM, real Chroma); the
    shop's embedder is not fine-tuned here (tests/finetune/test_embedder.py does that)."""
    manifest = fit_shop(own_home, DEMO_SHOP, online_retail, train_requests=120, dev_requests=40, progress=False)
    return own_home, manifest


def test_fit_writes_a_ranker_that_serving_loads(fitted_demo) -> None:
    cfg, m = fitted_demo
    assert m["status"] == "learned", m
    assert m["features"] == list(FEATURES) and m["train_requests"] >= 50 and m["rounds"] >= 1
    assert set(m["dev"]) == {"recall@10_learned", "recall@10_hand", "requests"}
    assert m["embedder"]["status"] == "base" and "embedder_steps is 0" in m["embedder"]["reason"]
    assert read_manifest(cfg.home_path, DEMO_SHOP) == m
    from retrieval.search import Retriever

    retriever = Retriever.open(cfg, DEMO_SHOP)
    assert retriever.reranker.learned is not None
    ranked = retriever.candidates("christmas lights", k=10)
    assert ranked and all("base" in s.breakdown for s in ranked)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
    cfg.retrieval.ranker = "hand"
    try:
        assert Retriever.open(cfg, DEMO_SHOP).reranker.learned is None
    finally:
        cfg.retrieval.ranker = "auto"


def test_training_rows_are_the_serving_features(fitted_demo, online_retail) -> None:
    """A request's rows are what the retriever computes for the turn's pools, labelled by the basket."""
    from retrieval.search import Retriever

    cfg, _ = fitted_demo
    cfg.retrieval.ranker = "hand"
    try:
        retriever = Retriever.open(cfg, DEMO_SHOP)
    finally:
        cfg.retrieval.ranker = "auto"
    req = requests_of(online_retail, online_retail.dev, 5)[0]
    x, y, hand = request_rows(retriever, req)
    assert x.shape == (len(y), len(FEATURES)) and len(hand) == len(y)
    assert np.isin(y, (0, 1)).all()
    assert not np.isnan(x[:, FEATURES.index("relevance")]).any()


def test_a_shop_without_baskets_keeps_the_hand_weights(own_home) -> None:
    items = [Item("x", "Mug", price=2.0)]
    m = fit_shop(own_home, "nobaskets", SourceData("csv", items, [], []), progress=False)
    assert m["status"] == "hand" and "no train baskets" in m["reason"]
    assert load_ranker(own_home.home_path, "nobaskets") is None


def test_fitting_an_unknown_shop_says_how(own_home) -> None:
    from bundlebot.errors import NotFoundError

    with pytest.raises(NotFoundError, match="not indexed"):
        fit_indexed(own_home, "no-such-shop")


def test_an_unchanged_shop_keeps_its_ranker(fitted_demo, online_retail) -> None:
    from retrieval.ranker import MODEL_FILE, ranker_dir

    cfg, m = fitted_demo
    model = ranker_dir(cfg.home_path, DEMO_SHOP) / MODEL_FILE
    before = model.stat().st_mtime_ns
    again = fit_shop(cfg, DEMO_SHOP, online_retail, train_requests=120, dev_requests=40, progress=False,
                     unless_current=True)
    assert again["reused"] and again["data_sha256"] == m["data_sha256"] and model.stat().st_mtime_ns == before
    other = fit_shop(cfg, DEMO_SHOP, online_retail, train_requests=110, dev_requests=40, progress=False,
                     unless_current=True)  # other requests: refitted
    assert "reused" not in other and other["data_sha256"] != m["data_sha256"]


def test_a_shop_learns_from_its_shoppers_feedback_alone(demo_config, demo_retriever, online_retail,
                                                         tmp_path_factory) -> None:
    """No train baskets at all: the requests shoppers made and the items they liked or carted are the data."""
    from retrieval.feedback import record

    cfg = _home_of_its_own(demo_config, tmp_path_factory, "feedback-home")
    shopper = "fit-feedback-shopper"
    items = sorted((it for it in online_retail.items if it.price and len(it.title.split()) >= 3),
                   key=lambda it: it.id)[:: 50][:70]
    events = [LiveEvent(shopper, it.id, "like" if n % 2 else "cart", 1.7e9 + n,
                        request=" ".join(it.title.lower().split()[:3])) for n, it in enumerate(items)]
    record(demo_retriever.store, events)
    try:
        m = fit_shop(cfg, DEMO_SHOP, SourceData("online-retail", online_retail.items, [], []), progress=False)
    finally:
        demo_retriever.store.delete_shopper(shopper)
    assert m["status"] == "learned", m
    assert m["feedback_requests"] == len(items) and m["train_requests"] >= 50
    assert load_ranker(cfg.home_path, DEMO_SHOP) is not None
    assert demo_retriever.store.feedback.events(shopper) == []


def test_the_embedder_learns_from_baskets_the_ranker_does_not(online_retail) -> None:
    import dataclasses

    ranker = requests_of(online_retail, online_retail.train_baskets, 100, seed=1)
    kept, emb = split_for_embedder(online_retail, ranker, 100)
    assert kept == ranker and len(emb) == 100
    assert not {r.basket.id for r in emb} & {r.basket.id for r in ranker}
    small = dataclasses.replace(online_retail, train_baskets=[r.basket for r in ranker])  # nothing left over
    kept, emb = split_for_embedder(small, ranker, 100)
    assert len(kept) + len(emb) == len(ranker) and abs(len(kept) - len(emb)) <= 1
    assert not {r.basket.id for r in kept} & {r.basket.id for r in emb}
