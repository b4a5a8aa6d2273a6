"""The shop's own embedder: fine-tuned on real (request, item) pairs, kept by dev, read by serving."""

from __future__ import annotations

import numpy as np
import pytest

from finetune.embedder import MIN_PAIRS, batches, fit_embedder, steps_for, training_pairs
from finetune.ranker import requests_of
from retrieval.embeddings import read_shop_manifest, shop_embedder, shop_embedder_status
from retrieval.features import FEATURES
from tests.conftest import DEMO_SHOP
from tests.finetune.test_ranker import _home_of_its_own


@pytest.fixture(scope="module")
def tuned_home(demo_config, tmp_path_factory, online_retail):
    """The demo shop's embedder fine-tuned for a few steps on 60 train invoices. Dev is those same requests, so
    a model that learned anything beats the base one and is kept (the real dev split is the fit's business)."""
    from retrieval.store import VectorStore

    cfg = _home_of_its_own(demo_config, tmp_path_factory, "embedder-home")
    cfg.retrieval.embedder_steps = 24  # the default, 0, keeps the base embedder
    store = VectorStore(cfg.retrieval.store, cfg.store_path).shop(DEMO_SHOP)
    reqs = requests_of(online_retail, online_retail.train_baskets, 60, seed=5)
    manifest = fit_embedder(cfg, store, online_retail.items, reqs, reqs[:30], progress=False)
    yield cfg, store, manifest
    store.drop_side("tuned")  # the store is the shared demo shop's: leave it as the other tests expect


def test_the_tuned_embedder_is_kept_and_its_vectors_written(tuned_home, online_retail) -> None:
    cfg, store, m = tuned_home
    assert m["status"] == "tuned", m
    assert m["dev"]["recall@10_tuned"] > m["dev"]["recall@10_base"]
    assert m["pairs"] >= MIN_PAIRS and m["steps"] == 24 and {"torch", "transformers"} <= set(m["versions"])
    assert read_shop_manifest(cfg.home_path, DEMO_SHOP) == m
    assert store.side_ids("tuned") == {it.id for it in online_retail.items}
    assert shop_embedder_status(cfg.home_path, DEMO_SHOP) == ("tuned", None)
    assert shop_embedder(cfg.home_path, DEMO_SHOP, "off") is None
    assert shop_embedder_status(cfg.home_path, DEMO_SHOP, "off")[0] == "base"


def test_serving_reads_the_tuned_embedder(tuned_home, embedder) -> None:
    """The retriever embeds the request twice: its tuned neighbours join the pool and the tuned cosine is a
    feature of its own (it is the base cosine only where the shop has no tuned model)."""
    from retrieval.search import Retriever

    cfg, store, _ = tuned_home
    retriever = Retriever.open(cfg, DEMO_SHOP)
    assert retriever.tuned is not None
    pool = retriever.gather("I need christmas decorations and candles. My budget is £30.", k=20)
    assert pool.tuned_vec is not None and set(pool.tuned_items) >= {it.id for it, _ in pool.candidates}
    tuned_ids = {i for i, _ in store.query_side("tuned", pool.tuned_vec, 20)}
    assert tuned_ids <= {it.id for it, _ in pool.candidates}
    _, x = retriever.features(pool)
    rel, tuned = x[:, FEATURES.index("relevance")], x[:, FEATURES.index("tuned")]
    assert not np.allclose(rel, tuned)
    expected = np.array([pool.tuned_items[it.id] @ pool.tuned_vec for it, _ in pool.candidates], np.float32)
    assert np.allclose(tuned, expected, atol=1e-5)

    base = Retriever.open(cfg, DEMO_SHOP, embedder=embedder)
    base.tuned = None
    plain = base.gather("I need christmas decorations and candles. My budget is £30.", k=20)
    _, x0 = base.features(plain)
    assert plain.tuned_vec is None
    assert np.allclose(x0[:, FEATURES.index("relevance")], x0[:, FEATURES.index("tuned")])


def test_a_later_default_fit_keeps_the_shops_opt_in(tuned_home, online_retail) -> None:
    """`bundlebot index` refits with the default config (embedder_steps = 0): the shop's tuned embedder is
    reused, not dropped, because its manifest records the opt-in."""
    import copy

    cfg, store, first = tuned_home
    default = copy.deepcopy(cfg)
    default.retrieval.embedder_steps = 0
    assert first["opted_steps"] == 24 and steps_for(default, DEMO_SHOP) == 24
    reqs = requests_of(online_retail, online_retail.train_baskets, 60, seed=5)
    m = fit_embedder(default, store, online_retail.items, reqs, reqs[:30], progress=False, unless_current=True)
    assert m["reused"] and m["status"] == "tuned" and store.side_ids("tuned")
    off = copy.deepcopy(default)
    off.retrieval.shop_embedder = "off"
    assert steps_for(off, DEMO_SHOP) == 0


def test_opting_out_is_remembered(demo_config, tmp_path_factory) -> None:
    """--no-embedder writes a manifest without the opt-in: the next default fit keeps the base embedder."""
    import json

    cfg = _home_of_its_own(demo_config, tmp_path_factory, "optout-home")
    cfg.retrieval.embedder_steps = 0
    path = cfg.home_path / "shops" / "s" / "embedder.json"
    path.parent.mkdir(parents=True)
    assert steps_for(cfg, "s") == 0  # no manifest: the default, the base embedder
    path.write_text(json.dumps({"status": "base", "reason": "retrieval.shop_embedder is off"}))
    assert steps_for(cfg, "s") == 0
    path.write_text(json.dumps({"status": "base", "opted_steps": 40, "reason": "did not beat the base on dev"}))
    assert steps_for(cfg, "s") == 40  # opted in and rejected by dev: tried again on new data
    cfg.retrieval.embedder_steps = 7
    assert steps_for(cfg, "s") == 7  # the config says so: it wins


def test_too_few_pairs_or_a_hash_embedder_keep_the_base(tuned_home, online_retail) -> None:
    """Run last among the tuned home's tests: a refit that keeps the base embedder drops the old tuned set."""
    import copy

    cfg, store, _ = tuned_home
    few = requests_of(online_retail, online_retail.train_baskets, 2, seed=9)
    m = fit_embedder(cfg, store, online_retail.items, few, few, progress=False)
    assert m["status"] == "base" and "pairs" in m["reason"]
    assert store.side_ids("tuned") == set() and shop_embedder(cfg.home_path, DEMO_SHOP) is None
    assert shop_embedder_status(cfg.home_path, DEMO_SHOP)[1] == m["reason"]
    hashed = copy.deepcopy(cfg)
    hashed.retrieval.embedder.kind = "hash"
    m = fit_embedder(hashed, store, online_retail.items, few, few, progress=False)
    assert m["status"] == "base" and "not a sentence-transformers model" in m["reason"]


def test_pairs_and_batches() -> None:
    from retrieval.types import Item

    class R:
        def __init__(self, text, gold):
            self.text, self.gold = text, gold

    items = {"a": Item("a", "Teapot"), "b": Item("b", "Cup")}
    pairs = training_pairs(items, [R("tea", ("a", "b", "zz")), R("tea", ("a",))])
    assert pairs == [("tea", "Teapot"), ("tea", "Cup")]  # unknown items dropped, each pair once
    for batch in batches([(f"q{i % 3}", f"d{i}") for i in range(12)], steps=5, size=4, seed=1):
        assert len({q for q, _ in batch}) == len(batch) and len({d for _, d in batch}) == len(batch)


@pytest.mark.parametrize(("args", "mode", "steps"), [([], "auto", 0), (["--embedder"], "auto", 160),
                                                     (["--embedder", "--embedder-steps", "7"], "auto", 7),
                                                     (["--no-embedder"], "off", 0)])
def test_fit_cli_opts_in_to_the_embedder(monkeypatch, args, mode, steps) -> None:
    """A plain fit passes the default on (the shop's recorded choice, ``steps_for``); --embedder tunes one,
    --no-embedder turns it off."""
    import typer
    from typer.testing import CliRunner

    import finetune.ranker
    from finetune import cli

    seen = {}
    monkeypatch.setattr(finetune.ranker, "fit_indexed", lambda config, *a, **k: seen.update(
        mode=config.retrieval.shop_embedder, steps=config.retrieval.embedder_steps) or {"status": "hand"})
    group = typer.Typer()
    cli.register(group)
    res = CliRunner().invoke(group, ["fit", "--shop", "demo", *args])
    assert res.exit_code == 0, res.output
    assert seen == {"mode": mode, "steps": steps}
