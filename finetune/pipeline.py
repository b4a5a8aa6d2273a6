"""The steps `bundlebot train` runs: resolve the base model, build (or reuse) the data, train, merge.

>>> from finetune.config import TrainConfig
>>> from bundlebot.config import AppConfig
>>> data_dir(TrainConfig(), AppConfig(home="/tmp/bb")).as_posix()
'/tmp/bb/finetune/data'
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bundlebot.paths import PROJECT_ROOT
from finetune.config import TrainConfig

log = logging.getLogger(__name__)


def data_dir(cfg: TrainConfig, app: Any) -> Path:
    return Path(cfg.data_out).expanduser() if cfg.data_out else app.home_path / "finetune" / "data"


def checkpoint_dir(cfg: TrainConfig, app: Any) -> Path:
    return Path(cfg.checkpoints).expanduser() if cfg.checkpoints else app.home_path / "finetune" / "checkpoints"


def out_dir(cfg: TrainConfig, out: Path | None = None) -> Path:
    p = Path(out) if out else Path(cfg.out)
    return p if p.is_absolute() else PROJECT_ROOT / p


def base_model(cfg: TrainConfig, app: Any) -> tuple[Path, dict[str, str]]:
    """(model directory, fingerprint) of the base: the converted default SmolLM2, a .gguf, or a directory."""
    from assistant.modelfiles import base_model_fingerprint, resolve_base

    path = resolve_base(cfg.base, app.home_path, setting="base (training config)")
    return path, base_model_fingerprint(path)


def ensure_data(cfg: TrainConfig, app: Any, model_dir: Path, *, rebuild: bool = False,
                progress: bool = True) -> Path:
    """Build the examples unless ``data_dir`` already holds ones built with the same data config + inputs."""
    from transformers import AutoTokenizer

    from finetune.data import build_dataset, input_hashes

    out = data_dir(cfg, app)
    info_path = out / "data_info.json"
    if info_path.is_file() and not rebuild:
        info = json.loads(info_path.read_text())
        same = (info.get("data_config") == cfg.to_dict()["data"]
                and info.get("inputs_sha256") == input_hashes(app.data_path, cfg.data.sources, cfg.data.task))
        if same and (out / "train.jsonl").is_file():
            log.info("reusing the training data in %s", out)
            return out
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    build_dataset(cfg, app, out, tok, progress=progress)
    return out


def run(cfg: TrainConfig, app: Any, *, resume: Path | None = None, out: Path | None = None,
        progress: bool = True) -> Any:
    """Everything `bundlebot train` does; returns the TrainResult."""
    from finetune.train import train

    model_dir, fp = base_model(cfg, app)
    data = ensure_data(cfg, app, model_dir, progress=progress)
    return train(cfg, model_dir=model_dir, data_dir=data, out=out_dir(cfg, out), base=fp,
                 checkpoints=checkpoint_dir(cfg, app), resume=resume, progress=progress)


def merge(adapter: Path, out: Path, app: Any, base: str | None = None) -> float:
    """Merge ``adapter`` into its base and save a plain model to ``out`` (logits checked equal first)."""
    from finetune.adapter import merge as merge_into
    from finetune.train import load_base

    model_dir, fp = base_model(TrainConfig(base=base), app)
    model, tok = load_base(model_dir)
    diff = merge_into(model, adapter, fp, out)
    tok.save_pretrained(str(out))
    return diff
