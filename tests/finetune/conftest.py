"""Fixtures for the fine-tuning tests: a tiny random Llama with the REAL SmolLM2 tokenizer (tests/tiny_lm.py),
saved to disk, and a handful of REAL training examples from the builder (BundleRec food train bundles through
a real Chroma index, the real Retriever and the shared prompt files; the fast hash embedder stands in for
MiniLM so indexing takes seconds).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def smol_tokenizer_dir() -> Path:
    from tests.tiny_lm import smollm2_tokenizer_dir

    return smollm2_tokenizer_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer_dir: Path) -> Path:
    from tests.tiny_lm import save_tiny_lm

    return save_tiny_lm(tmp_path_factory.mktemp("tiny-llama"), smol_tokenizer_dir, seed=0)


@pytest.fixture(scope="session")
def ft_app_config(tmp_path_factory: pytest.TempPathFactory):
    """A fresh data home with the fast hash embedder (a real Chroma store, the real shared data)."""
    from bundlebot.config import AppConfig
    from retrieval.config import EmbedderConfig, RetrievalConfig

    home = tmp_path_factory.mktemp("bb-home")
    return AppConfig(home=str(home), retrieval=RetrievalConfig(embedder=EmbedderConfig(kind="hash")))


def index_small(app, shop: str) -> None:
    """Index a shop from the train data (BundleRec food only: its 3.8k items index in seconds)."""
    from retrieval.index import index_source

    assert shop == "bundlerec-food", "the fine-tuning tests index only the small BundleRec food shop"
    index_source(app, "bundlerec-food", shop, progress=False, shoppers=())  # bundle intents need no history


@pytest.fixture(scope="session")
def small_train_config():
    from finetune.config import DataSettings, OptimSettings, TrainConfig

    data = DataSettings(sources=["bundlerec-food"], choice_examples={"bundlerec-food": 10}, explain_examples=3,
                        dev_examples=4, max_length=1024, seed=0)
    opt = OptimSettings(lr=5e-3, batch_size=2, grad_accum=2, epochs=1, warmup_steps=1, eval_every=2,
                        checkpoint_every=2, time_budget_min=None)
    return TrainConfig(data=data, train=opt)


@pytest.fixture(scope="session")
def real_examples(tmp_path_factory, ft_app_config, small_train_config, smol_tokenizer_dir) -> tuple[Path, dict]:
    """Real examples from the builder: BundleRec food TRAIN bundles through the real Retriever + prompts."""
    from transformers import AutoTokenizer

    from finetune.data import build_dataset

    out = tmp_path_factory.mktemp("ft-data")
    tok = AutoTokenizer.from_pretrained(smol_tokenizer_dir)
    info = build_dataset(small_train_config, ft_app_config, out, tok, progress=False, ensure_index=index_small)
    return out, info


@pytest.fixture(scope="session")
def judge_examples(tmp_path_factory, ft_app_config, small_train_config, smol_tokenizer_dir) -> tuple[Path, dict]:
    """The same builder with ``task = "judge"``: one yes/no prompt per (request, candidate)."""
    from dataclasses import replace

    from transformers import AutoTokenizer

    from finetune.data import build_dataset

    cfg = replace(small_train_config, data=replace(small_train_config.data, task="judge",
                                                   choice_examples={"bundlerec-food": 4}))
    out = tmp_path_factory.mktemp("ft-judge-data")
    tok = AutoTokenizer.from_pretrained(smol_tokenizer_dir)
    info = build_dataset(cfg, ft_app_config, out, tok, progress=False, ensure_index=index_small)
    return out, info
