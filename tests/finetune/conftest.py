"""Fixtures of the fine-tuning tests only: ``judge_examples`` (the builder with ``task = "judge"``). The tiny
model and the real examples they share with the evaluation tests are in tests/conftest.py; ``index_small`` is
re-exported from there for the tests that index the small shop themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import index_small

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


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
