"""The training data builder on the REAL BundleRec food splits, through a real Chroma index + Retriever."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundlebot.errors import DataError
from finetune.data import LETTERS, Target, check_splits, insert_gold, letters_of


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def food():
    from bundlebot.paths import default_data_dir
    from retrieval.importers import load_source

    return load_source("bundlerec-food", default_data_dir())


@pytest.fixture(scope="module")
def food_retriever(ft_app_config):
    """The small BundleRec food shop's Retriever (indexed here, so a test does not depend on another
    having run first; a second indexing finds everything unchanged)."""
    from retrieval.search import Retriever
    from tests.finetune.conftest import index_small

    index_small(ft_app_config, "bundlerec-food")
    return Retriever.open(ft_app_config, "bundlerec-food")


def test_choice_targets_are_letters_of_listed_candidates(real_examples) -> None:
    out, info = real_examples
    rows = _rows(out / "train.jsonl") + _rows(out / "dev.jsonl")
    choices = [r for r in rows if r["kind"] == "choice"]
    assert len(choices) == info["counts"]["train/bundlerec-food/choice"] + info["counts"]["dev/bundlerec-food/choice"]
    for r in choices:
        assert 2 <= r["n_choices"] == len(r["candidates"]) == len(set(r["candidates"])) <= 12
        assert r["gold_letters"] and all(g in LETTERS[: r["n_choices"]] for g in r["gold_letters"])
        assert [r["candidates"][LETTERS.index(g)] for g in r["gold_letters"]] == r["gold_items"]
        assert r["messages"][-1] == {"role": "assistant", "content": "Answer:"}  # the live scoring prefix
        assert r["inserted_at"] == -1  # unretrieved = "skip": the gold was among the live candidates
        listed = r["messages"][1]["content"]
        assert f"{LETTERS[r['n_choices'] - 1]}. " in listed and f"\n{LETTERS[r['n_choices']]}. " not in listed


def test_examples_come_from_train_baskets_and_dev_only_from_dev(real_examples, food) -> None:
    out, _ = real_examples
    train_ids, dev_ids = {b.id for b in food.train_baskets}, {b.id for b in food.dev}
    test_ids = {b.id for b in food.test}
    train, dev = _rows(out / "train.jsonl"), _rows(out / "dev.jsonl")
    assert train and dev
    assert all(r["basket_id"] in train_ids and r["split"] == "train" for r in train)
    assert all(r["basket_id"] in dev_ids and r["split"] == "dev" for r in dev)
    assert not ({r["basket_id"] for r in train + dev} & test_ids)


def test_explanations_state_only_bundle_facts(real_examples, food) -> None:
    import re

    catalog = {it.id: it.title for it in food.items}
    out, info = real_examples
    exps = [r for r in _rows(out / "train.jsonl") if r["kind"] == "explain"]
    assert len(exps) == info["counts"]["train/bundlerec-food/explain"] >= 1
    for r in exps:
        prompt = "\n".join(m["content"] for m in r["messages"])
        block = prompt.split("<bundle>\n")[1].split("</bundle>")[0]  # the system text names <bundle> too
        titles = [line[2:].split(" — ")[0] for line in block.strip().splitlines()]
        assert len(titles) == len(r["bundle"]) >= 1
        # the target names exactly the bundle's items, by their catalog titles (the prompt may shorten them)
        assert all(catalog[i] in r["target"] for i in r["bundle"])
        # every number the target states is a catalog fact of the bundle (prices, totals, counts, titles)
        facts = prompt + " ".join(catalog[i] for i in r["bundle"]) + f" {len(r['bundle'])}"
        assert set(re.findall(r"\d+(?:\.\d+)?", r["target"])) <= set(re.findall(r"\d+(?:\.\d+)?", facts))


def test_dataset_card_has_counts_lengths_and_hashes(real_examples) -> None:
    out, info = real_examples
    card = (out / "dataset_card.md").read_text()
    for needle in ("train/bundlerec-food/choice", "p50", "bundlerec_food/bundle_item.csv",
                   "assistant/prompts/choose.yaml", "skipped, the next request drawn instead"):
        assert needle in card
    assert info["token_lengths"]["max"] <= 1024


def test_builder_never_touches_test_rows(food_retriever, small_train_config, food) -> None:
    """The test split is replaced by a list that fails on any read; building must not notice."""
    from dataclasses import replace

    from finetune.data import source_examples

    class Forbidden(list):
        def _boom(self, *a, **k):
            raise AssertionError("the training data builder read the test split")

        __iter__ = __getitem__ = __len__ = __contains__ = __bool__ = _boom

    guarded = replace(food, test=Forbidden())
    rows = list(source_examples("bundlerec-food", guarded, food_retriever, small_train_config, random.Random(1)))
    assert rows and {r["split"] for r in rows} == {"train", "dev"}


def test_unretrieved_requests_are_skipped_or_get_an_inserted_gold(food_retriever, small_train_config, food) -> None:
    """The same seeded requests: "skip" passes over those whose candidates hold no gold, "insert" keeps them
    with a gold item put in; both yield the configured number of choice examples."""
    from collections import Counter
    from dataclasses import replace

    from finetune.data import source_examples

    cfg = replace(small_train_config, data=replace(small_train_config.data, explain_examples=0))
    skipped: Counter[str] = Counter()
    skip = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(3), skipped))
    cfg = replace(cfg, data=replace(cfg.data, unretrieved="insert"))
    insert = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(3)))
    for rows in (skip, insert):
        assert Counter(r["split"] for r in rows) == {"train": 10, "dev": 4}
    assert all(r["inserted_at"] == -1 and set(r["gold_items"]) for r in skip)
    assert skipped["bundlerec-food/train"] > 0  # the hash embedder misses often: the rule was exercised
    inserted = [r for r in insert if r["inserted_at"] >= 0]
    assert inserted and all(r["candidates"][r["inserted_at"]] in r["gold_items"] for r in inserted)
    # the same draw order: the first request is the same one either way when it had a retrieved gold
    assert insert[0]["basket_id"] == skip[0]["basket_id"] or insert[0]["inserted_at"] >= 0


def test_shuffled_train_letters_keep_the_candidates_and_golds(food_retriever, small_train_config, food) -> None:
    """shuffle = true: the same requests and candidates, lettered in a seeded random order (train only); the
    gold letters still name the gold items, and dev keeps the reranker's order."""
    from dataclasses import replace

    from finetune.data import source_examples

    cfg = replace(small_train_config, data=replace(small_train_config.data, explain_examples=0))
    plain = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(5)))
    cfg = replace(cfg, data=replace(cfg.data, shuffle=True))
    mixed = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(5)))
    assert [r["basket_id"] for r in plain] == [r["basket_id"] for r in mixed]
    for a, b in zip(plain, mixed, strict=True):
        assert sorted(a["candidates"]) == sorted(b["candidates"]) and sorted(a["gold_items"]) == sorted(b["gold_items"])
        assert [b["candidates"][LETTERS.index(g)] for g in b["gold_letters"]] == b["gold_items"]
        assert (a == b) if a["split"] == "dev" else True
    train = [(a, b) for a, b in zip(plain, mixed, strict=True) if a["split"] == "train"]
    assert sum(a["candidates"] != b["candidates"] for a, b in train) >= len(train) - 1


def test_data_unretrieved_setting_is_validated() -> None:
    from bundlebot.errors import ConfigError
    from finetune.config import DataSettings

    with pytest.raises(ConfigError, match="unretrieved"):
        DataSettings(unretrieved="drop")


def test_check_splits_rejects_a_basket_from_another_split(food) -> None:
    b = food.test[0]
    with pytest.raises(DataError, match="is not a train basket"):
        check_splits(food, [Target("bundlerec-food", b, "x", list(b.item_ids), "train")])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(st.sampled_from("abcdefghijklmnop"), min_size=1, max_size=12, unique=True),
       gold=st.sets(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=4),
       seed=st.integers(0, 10_000))
def test_insert_gold_keeps_size_and_order_and_always_lists_a_gold(ids, gold, seed) -> None:
    out, slot = insert_gold(ids, gold, random.Random(seed))
    assert len(out) == len(ids) and len(set(out)) == len(out)
    assert set(out) & gold and letters_of(out, gold)
    if slot < 0:
        assert out == ids
    else:
        assert out[:slot] + out[slot + 1:] == ids[:-1] and out[slot] in gold


def test_judge_examples_split_the_same_requests_into_one_candidate_prompts(food_retriever, small_train_config,
                                                                           food) -> None:
    """task = "judge": the same seeded requests as the choice build; each becomes yes prompts for its first
    gold candidates and no prompts for the reranker's near misses plus random other candidates, every item
    one of the request's live candidates, in the live judge prompt, with no letters."""
    from collections import defaultdict
    from dataclasses import replace

    from finetune.data import source_examples

    cfg = replace(small_train_config, data=replace(small_train_config.data, explain_examples=0))
    choice = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(7)))
    cfg = replace(cfg, data=replace(cfg.data, task="judge", judge_positives=2, judge_negatives=4))
    judged = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(7)))
    assert list(dict.fromkeys(r["basket_id"] for r in judged)) == [r["basket_id"] for r in choice]
    by_basket = defaultdict(list)
    for r in judged:
        by_basket[r["basket_id"]].append(r)
    for ex in choice:
        rows = by_basket[ex["basket_id"]]
        assert {r["kind"] for r in rows} == {"judge"} and {r["split"] for r in rows} == {ex["split"]}
        yes = [r["item"] for r in rows if r["label"] == "yes"]
        no = [r for r in rows if r["label"] == "no"]
        assert yes == [i for i in ex["candidates"] if i in ex["gold_items"]][:2]
        assert all(ex["candidates"][r["rank"]] == r["item"] and r["item"] not in ex["gold_items"] for r in no)
        non_gold = [i for i, c in enumerate(ex["candidates"]) if c not in ex["gold_items"]]
        assert [r["rank"] for r in no][:2] == non_gold[:2] and len(no) == min(4, len(non_gold))
        for r in rows:
            user = r["messages"][1]["content"]
            assert user.startswith(f"Shopper's request: {ex['query']}") and "A. " not in user
            assert r["messages"][-1] == {"role": "assistant", "content": "Answer:"}
    again = list(source_examples("bundlerec-food", food, food_retriever, cfg, random.Random(7)))
    assert again == judged  # the random negatives have their own seed per basket


def test_data_task_settings_are_validated() -> None:
    from bundlebot.errors import ConfigError
    from finetune.config import DataSettings

    with pytest.raises(ConfigError, match="task"):
        DataSettings(task="pairwise")
    with pytest.raises(ConfigError, match="judge_negatives"):
        DataSettings(task="judge", judge_negatives=0)
