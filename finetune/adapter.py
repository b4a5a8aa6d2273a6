"""What only training adds to an adapter directory: the dataset card, the hardware record, and merging.

Reading, writing and checking the manifest, and loading an adapter onto a model, belong to
``assistant.modelfiles`` (the one rule serving and training share: the manifest must record the base
model's id and sha256, and both must match the base it is loaded onto).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assistant.modelfiles import load_adapter
from bundlebot.errors import ModelError

CARD = "dataset_card.md"


def hardware() -> dict[str, Any]:
    """What the training ran on (CPU model, cores, torch, CUDA devices)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda_devices": cuda, "platform": platform.platform()}


def merge(model: Any, adapter_dir: Path, base: Mapping[str, str], out: Path, *, atol: float = 1e-4) -> float:
    """Merge the adapter into the base weights, check logits match the unmerged model, save to ``out``.

    Returns the max absolute logit difference on a probe prompt; raises ModelError above ``atol``.
    """
    import torch

    peft_model = load_adapter(model, adapter_dir, base).eval()
    probe = torch.arange(3, 40).unsqueeze(0)
    with torch.no_grad():
        before = peft_model(input_ids=probe).logits
        merged = peft_model.merge_and_unload()
        after = merged(input_ids=probe).logits
    diff = float((before - after).abs().max())
    if not torch.allclose(before, after, atol=atol, rtol=1e-4):
        raise ModelError(f"merged model differs from base+adapter: max |logit diff| {diff:.2e} > {atol}",
                         hint="serve base + adapter unmerged (generator.adapter) instead")
    merged.save_pretrained(str(out))
    return diff
