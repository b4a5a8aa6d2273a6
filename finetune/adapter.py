"""The adapter directory: weights + adapter_config.json (peft) + bundlebot_manifest.json + dataset card.

The manifest says which base model the adapter was trained on (top-level ``base_model_id`` and
``base_model_sha256`` from ``assistant.llm.base_model_fingerprint``, the keys its loader checks), on which
data (hash), with which config, the final metrics, the wall time and the hardware. An adapter trained on
another base is refused with a clear error, because LoRA deltas only fit the exact weights they were
trained against.

>>> fp = {"base_model_id": "a", "base_model_sha256": "1"}
>>> check_manifest(fp, fp, "x")
>>> check_manifest(fp, {"base_model_id": "a", "base_model_sha256": "2"}, "x")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
bundlebot.errors.ModelError: adapter x was trained on base a (sha256 1...), but the loaded base is a (sha256 2...) ...
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from bundlebot.errors import ModelError

MANIFEST = "bundlebot_manifest.json"
CARD = "dataset_card.md"
DEFAULT_ADAPTER = Path(__file__).resolve().parent / "adapters" / "default"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


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


def read_manifest(adapter_dir: Path) -> dict[str, Any]:
    path = Path(adapter_dir) / MANIFEST
    if not path.is_file():
        raise ModelError(f"adapter {adapter_dir} has no {MANIFEST}",
                         hint="use an adapter written by `bundlebot train` (it records the base model)")
    return json.loads(path.read_text())


def check_manifest(manifest: dict[str, Any], base: dict[str, str], name: str) -> None:
    """Raise ModelError unless the manifest's base model (sha256) is ``base`` (a fingerprint dict)."""
    want_id, want_sha = manifest.get("base_model_id"), str(manifest.get("base_model_sha256"))
    if want_sha != base.get("base_model_sha256"):
        raise ModelError(
            f"adapter {name} was trained on base {want_id} (sha256 {want_sha[:12]}...), "
            f"but the loaded base is {base.get('base_model_id')} (sha256 {base.get('base_model_sha256', '')[:12]}...)",
            hint="load the base model the adapter was trained on, or retrain with "
                 "`bundlebot train --config finetune/configs/default.toml`")


def write_manifest(out: Path, **fields: Any) -> Path:
    """Write bundlebot_manifest.json (keys: base_model_id, base_model_sha256, data, config, metrics, ...)."""
    path = Path(out) / MANIFEST
    path.write_text(json.dumps({"format": 1, **fields}, indent=2, sort_keys=True, default=str) + "\n")
    return path


def load_adapter(model: Any, adapter_dir: Path, base: dict[str, str], *, trainable: bool = False) -> Any:
    """Wrap ``model`` with the adapter after checking it was trained on ``base``."""
    from peft import PeftModel

    check_manifest(read_manifest(adapter_dir), base, str(adapter_dir))
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)


def merge(model: Any, adapter_dir: Path, base: dict[str, str], out: Path, *, atol: float = 1e-4) -> float:
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
