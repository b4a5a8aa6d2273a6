"""A peft LoRA adapter as a llama.cpp LoRA GGUF, so the fast runtime serves exactly what peft trained.

llama.cpp applies one tensor pair per adapted base weight, ``blk.<i>.<tensor>.weight.lora_a`` (rank x in) and
``.lora_b`` (out x rank), scaled by ``adapter.lora.alpha / rank``: peft's ``lora_alpha / r``. The base GGUF
stores the q and k projections with their rows permuted into llama.cpp's rope layout (``permute`` below, as
llama.cpp's convert_hf_to_gguf.py does), so the rows of B are permuted the same way; A is unchanged.

Only plain LoRA on a llama-architecture base converts (no DoRA, rsLoRA, per-module ranks or alphas, biases,
embeddings, ``modules_to_save``); anything else is refused with a reason, and ``generator.runtime =
"transformers"`` serves it. The converted file is cached under ``<home>/models/adapters/`` by the adapter
weights' sha256 (written to a temporary file and renamed, so a killed conversion leaves nothing half-written).

>>> permute(np.arange(8).reshape(8, 1), n_head=2, n_head_kv=2).ravel().tolist()
[0, 2, 1, 3, 4, 6, 5, 7]
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from bundlebot.errors import ModelError

LLAMA_TENSORS = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                 "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
"""peft module path (under ``model.layers.<i>.``) -> llama.cpp tensor name (under ``blk.<i>.``)."""
_NAME = re.compile(r"^(?:base_model\.model\.)?model\.layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")


def permute(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """Rows of a q/k projection (or of its LoRA B) in llama.cpp's rope layout (convert_hf_to_gguf's rule)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def unsupported(adapter_config: dict, base_config: dict) -> str | None:
    """Why an adapter cannot be served by llama.cpp (None: it can)."""
    if base_config.get("model_type") != "llama":
        return f"the base model is {base_config.get('model_type')!r}, the converter knows llama only"
    if adapter_config.get("peft_type") != "LORA":
        return f"peft_type {adapter_config.get('peft_type')!r} is not LoRA"
    for key in ("use_dora", "use_rslora", "modules_to_save", "rank_pattern", "alpha_pattern",
                "trainable_token_indices"):
        if adapter_config.get(key):
            return f"adapter_config.json sets {key}, which llama.cpp's LoRA does not apply"
    if adapter_config.get("bias", "none") != "none" or adapter_config.get("lora_bias"):
        return "the adapter trains biases, which llama.cpp's LoRA does not apply"
    return None


def lora_tensors(weights: dict[str, np.ndarray], base_config: dict) -> dict[str, np.ndarray]:
    """peft's ``lora_A``/``lora_B`` weights -> llama.cpp's ``lora_a``/``lora_b`` tensors (float32)."""
    n_head, n_kv = base_config["num_attention_heads"], base_config.get("num_key_value_heads")
    out: dict[str, np.ndarray] = {}
    for name, w in weights.items():
        m = _NAME.match(name)
        if m is None or m.group(2) not in LLAMA_TENSORS:
            raise ModelError(f"adapter tensor {name} has no llama.cpp counterpart",
                             hint='serve this adapter with generator.runtime = "transformers"')
        layer, module, half = m.groups()
        w = np.ascontiguousarray(w, dtype=np.float32)
        if half == "B" and module == "self_attn.q_proj":
            w = permute(w, n_head, n_head)
        elif half == "B" and module == "self_attn.k_proj":
            w = permute(w, n_head, n_kv)
        out[f"blk.{layer}.{LLAMA_TENSORS[module]}.weight.lora_{half.lower()}"] = np.ascontiguousarray(w)
    return out


def convert_adapter(adapter_dir: Path, base_dir: Path, out_dir: Path) -> Path:
    """The llama.cpp GGUF of a peft adapter (converted once; cached by the weights' sha256)."""
    import gguf
    from safetensors.numpy import load_file

    from assistant.modelfiles import file_sha256

    weights_file = adapter_dir / "adapter_model.safetensors"
    if not weights_file.is_file():
        raise ModelError(f"no adapter_model.safetensors in {adapter_dir}", hint="pass a peft adapter directory")
    adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text())
    base_config = json.loads((base_dir / "config.json").read_text())
    if why := unsupported(adapter_config, base_config):
        raise ModelError(f"llama.cpp cannot serve the adapter {adapter_dir}: {why}",
                         hint='set generator.runtime = "transformers"')
    target = Path(out_dir) / f"{adapter_dir.name}-{file_sha256(weights_file)[:12]}.lora.gguf"
    if target.is_file():
        return target
    tensors = lora_tensors(load_file(str(weights_file)), base_config)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        writer = gguf.GGUFWriter(str(tmp), "llama")
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(adapter_config["lora_alpha"]))
        for name, tensor in sorted(tensors.items()):
            writer.add_tensor(name, tensor)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.rename(target)  # atomic: the cached file is complete or absent
    finally:
        tmp.unlink(missing_ok=True)
    return target
