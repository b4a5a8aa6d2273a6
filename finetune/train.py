"""LoRA training with peft + accelerate: the same code runs on CPU, one GPU, or ``accelerate launch``.

Deterministic and resumable: the example order of each epoch is a seeded permutation, a checkpoint holds
the adapter weights, optimizer, scheduler, step and RNG states (and a manifest with the base fingerprint,
checked by the adapter rule of ``assistant.modelfiles`` on resume), and resuming skips the batches already
seen, so a resumed run reproduces an uninterrupted one. Training stops at ``max_steps``, after the epochs,
or when the time budget is spent (recorded in the manifest as ``stopped_by``).

Example (a tiny model; see tests/finetune for runnable versions)::

    result = train(cfg, model_dir=Path("tiny"), data_dir=Path("data"), out=Path("adapter"),
                   base=base_model_fingerprint(Path("tiny")))
    result.metrics["dev_loss"], result.steps
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.modelfiles import check_adapter, file_sha256, write_manifest
from bundlebot.errors import DataError
from finetune.adapter import CARD, hardware
from finetune.config import TrainConfig
from finetune.encode import batch_loss, choice_hits, collate, encode_example

log = logging.getLogger(__name__)
STATE = "trainer_state.pt"
ADAPTER_README = """# bundlebot LoRA adapter

A PEFT LoRA adapter for the base model `{base}`, trained by `bundlebot train` ({steps} optimizer steps).

- `bundlebot_manifest.json`: base model id + sha256 (the loader refuses another base), data hash, training
  config, dev metrics (base and adapter), wall time, hardware, the loss history.
- `dataset_card.md`: what the training examples are, how they were derived, counts, token lengths, input hashes.
- Reproduce: `bundlebot train --config finetune/configs/{config}.toml`; merge for serving:
  `bundlebot train merge <this dir> --out DIR`.
"""


@dataclass
class TrainResult:
    out: Path
    steps: int
    metrics: dict[str, float]
    wall_s: float
    stopped_by: str
    history: list[dict[str, float]] = field(default_factory=list)
    model: Any = None
    """The trained peft model (unwrapped), for callers that continue in-process (tests, merging)."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"expected training examples at {path}, found nothing",
                        hint="run `bundlebot train build-data` first (or `bundlebot train`, which builds it)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_base(model_dir: Path, threads: int | None = None) -> tuple[Any, Any]:
    """float32 causal LM + tokenizer from a local directory (training is done in full precision)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    return model, tok


def wrap_lora(model: Any, cfg: TrainConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lcfg = LoraConfig(r=cfg.lora.rank, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=list(cfg.lora.target_modules), task_type="CAUSAL_LM", bias="none",
                      layers_to_transform=list(cfg.lora.layers) if cfg.lora.layers is not None else None)
    return get_peft_model(model, lcfg)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of one epoch: a permutation that depends only on (seed, epoch).

    >>> epoch_order(5, 0, 0) == epoch_order(5, 0, 0), sorted(epoch_order(5, 0, 1))
    (True, [0, 1, 2, 3, 4])
    """
    order = list(range(n))
    random.Random(seed * 1000 + epoch).shuffle(order)
    return order


def _schedule(cfg: TrainConfig, total: int) -> Any:
    warm = cfg.train.warmup_steps

    def factor(step: int) -> float:  # linear warmup, cosine decay to 10%
        if step < warm:
            return (step + 1) / warm
        frac = (step - warm) / max(1, total - warm)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    return factor


def evaluate(model: Any, rows: list[dict], pad: int, batch_size: int) -> dict[str, float]:
    """Mean loss and choice accuracy (argmax letter is a gold; judge: argmax of yes/no is right) over encoded
    dev examples."""
    import torch

    model.eval()
    losses, hits = [], []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            batch = collate(rows[i:i + batch_size], pad)
            _, stats = batch_loss(model, batch)
            losses += stats["per_row"].tolist()
            hits += choice_hits(stats, [r["options"] for r in rows[i:i + batch_size]])
    model.train()
    return {"dev_loss": sum(losses) / max(1, len(losses)), "dev_choice_acc": sum(hits) / max(1, len(hits)),
            "dev_n": float(len(losses))}


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(path: Path, model: Any, opt: Any, sched: Any, progress: dict[str, Any],
                    base: dict[str, str]) -> Path:
    """Everything an exact resume needs; the base weights are not copied (only the adapter), so the manifest
    records which base they belong to, as an adapter's does."""
    import torch
    from peft import get_peft_model_state_dict

    path.mkdir(parents=True, exist_ok=True)
    write_manifest(path, base, kind="checkpoint", step=progress["step"])
    torch.save({"adapter": get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "progress": progress, "rng": _rng_state()}, path / STATE)
    return path


def load_checkpoint(path: Path, model: Any, opt: Any, sched: Any, base: dict[str, str]) -> dict[str, Any]:
    """Restore a checkpoint onto ``model`` (the LoRA-wrapped ``base``): refused unless it was saved from it."""
    import torch
    from peft import set_peft_model_state_dict

    file = Path(path) / STATE if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise DataError(f"expected a checkpoint ({STATE}) at {path}, found nothing",
                        hint="pass a folder written by a previous run under <home>/finetune/checkpoints")
    check_adapter(file.parent, base)
    state = torch.load(file, weights_only=False)
    set_peft_model_state_dict(model, state["adapter"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"])
    return state["progress"]


@dataclass
class _Run:
    """The mutable state of one training run (kept together so the loop's helpers stay small)."""

    cfg: TrainConfig
    acc: Any
    model: Any
    opt: Any
    sched: Any
    rows: list[dict]
    dev_rows: list[dict]
    pad: int
    total: int
    ckpt_dir: Path
    progress: dict[str, Any]
    base: dict[str, str] = field(default_factory=dict)
    """The base model's fingerprint, recorded in each checkpoint's manifest."""
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self.progress["train_s"] + time.monotonic() - self.started

    def out_of_time(self) -> bool:
        budget = self.cfg.train.time_budget_min
        return budget is not None and self.elapsed() > budget * 60


def _micro_batches(run: _Run, epoch: int) -> list[list[int]]:
    """This process's micro-batches of one epoch (global batch j*nproc + rank)."""
    bs = run.cfg.train.batch_size
    order = epoch_order(len(run.rows), run.cfg.train.seed, epoch)
    batches = [order[i:i + bs] for i in range(0, len(order), bs)]
    nproc, rank = run.acc.num_processes, run.acc.process_index
    return [batches[j] for j in range(rank, len(batches), nproc)]


def _optimizer_step(run: _Run, losses: list[float]) -> None:
    params = [p for p in run.model.parameters() if p.requires_grad]
    run.acc.clip_grad_norm_(params, run.cfg.train.max_grad_norm)
    run.opt.step()
    run.sched.step()
    run.opt.zero_grad(set_to_none=True)
    run.progress["step"] += 1
    entry = {"step": run.progress["step"], "loss": sum(losses) / max(1, len(losses)),
             "lr": run.sched.get_last_lr()[0], "elapsed_s": round(run.elapsed(), 1)}
    run.progress["history"].append(entry)


def _after_step(run: _Run, bar: Any) -> None:
    step, cfg = run.progress["step"], run.cfg.train
    bar.update(1)
    bar.set_postfix(loss=f"{run.progress['history'][-1]['loss']:.3f}")
    if step % cfg.eval_every == 0 and run.acc.is_main_process:
        metrics = evaluate(run.model, run.dev_rows, run.pad, cfg.batch_size)
        run.progress["history"][-1].update(metrics)
        log.info("step %d: %s", step, metrics)
    if step % cfg.checkpoint_every == 0 and run.acc.is_main_process:
        run.progress["train_s"], run.started = run.elapsed(), time.monotonic()
        save_checkpoint(run.ckpt_dir / f"step-{step:05d}", run.acc.unwrap_model(run.model), run.opt,
                        run.sched, run.progress, run.base)


def _run_epochs(run: _Run, bar: Any) -> str:
    cfg = run.cfg.train
    for epoch in range(run.progress["epoch"], cfg.epochs):
        micro = _micro_batches(run, epoch)
        losses: list[float] = []
        for j in range(run.progress["micro"], len(micro)):
            batch = collate([run.rows[i] for i in micro[j]], run.pad)
            batch = {k: v.to(run.acc.device) if hasattr(v, "to") else v for k, v in batch.items()}
            loss, _ = batch_loss(run.model, batch)
            run.acc.backward(loss / cfg.grad_accum)
            losses.append(float(loss.detach()))
            run.progress["micro"] = j + 1
            if (j + 1) % cfg.grad_accum and j + 1 < len(micro):
                continue
            _optimizer_step(run, losses)
            losses = []
            if run.progress["micro"] == len(micro):  # the epoch is done: a checkpoint resumes in the next one
                run.progress["epoch"], run.progress["micro"] = epoch + 1, 0
            _after_step(run, bar)
            if run.progress["step"] >= run.total:
                return "max_steps" if cfg.max_steps else "epochs"
            if run.out_of_time():
                return "time_budget"
        run.progress["epoch"], run.progress["micro"] = epoch + 1, 0
    return "epochs"


def _setup(cfg: TrainConfig, model_dir: Path, data_dir: Path, ckpt_dir: Path) -> _Run:
    import torch
    from accelerate import Accelerator

    acc = Accelerator()
    seed_all(cfg.train.seed)
    model, tok = load_base(model_dir, cfg.train.threads)
    model = wrap_lora(model, cfg)
    train_ex, dev_ex = read_jsonl(data_dir / "train.jsonl"), read_jsonl(data_dir / "dev.jsonl")
    rows = [encode_example(tok, e) for e in train_ex]
    for row, e in zip(rows, train_ex, strict=True):  # dev rows keep weight 1: the dev loss stays comparable
        row["weight"] = cfg.train.hard_weight if e["kind"] == "choice" and not e.get("first_is_gold", True) else 1.0
    dev_rows = [encode_example(tok, e) for e in dev_ex]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    batches = math.ceil(len(rows) / cfg.train.batch_size)
    per_epoch = math.ceil(math.ceil(batches / acc.num_processes) / cfg.train.grad_accum)
    total = per_epoch * cfg.train.epochs
    if cfg.train.max_steps:
        total = min(total, cfg.train.max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(cfg, total))
    model, opt = acc.prepare(model, opt)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    progress = {"step": 0, "epoch": 0, "micro": 0, "train_s": 0.0, "history": []}
    return _Run(cfg, acc, model, opt, sched, rows, dev_rows, pad, total, ckpt_dir, progress)


def train(cfg: TrainConfig, *, model_dir: Path, data_dir: Path, out: Path, base: dict[str, str],
          checkpoints: Path | None = None, resume: Path | None = None, progress: bool = True) -> TrainResult:
    """Train a LoRA adapter on ``data_dir/{train,dev}.jsonl``; write it with its manifest to ``out``."""
    from tqdm.auto import tqdm

    run = _setup(cfg, Path(model_dir), Path(data_dir), Path(checkpoints or Path(out) / "checkpoints"))
    run.base = dict(base)
    base_metrics = {}
    if resume is not None:
        run.progress = load_checkpoint(resume, run.acc.unwrap_model(run.model), run.opt, run.sched, base)
        base_metrics = run.progress.get("base_metrics", {})
    elif run.acc.is_main_process and run.dev_rows:  # the zero-shot base on the same dev examples
        with run.acc.unwrap_model(run.model).disable_adapter():
            base_metrics = evaluate(run.model, run.dev_rows, run.pad, cfg.train.batch_size)
        run.progress["base_metrics"] = base_metrics
    run.model.train()
    bar = tqdm(total=run.total, initial=run.progress["step"], desc="train", unit="step",
               disable=not (progress and run.acc.is_main_process))
    stopped_by = _run_epochs(run, bar) if run.progress["step"] < run.total else "max_steps"
    bar.close()
    metrics = evaluate(run.model, run.dev_rows, run.pad, cfg.train.batch_size)
    metrics.update({f"base_{k}": v for k, v in base_metrics.items()})
    wall = run.elapsed()
    if run.acc.is_main_process:
        _write_adapter(run, Path(out), Path(data_dir), base, metrics, wall, stopped_by)
    return TrainResult(Path(out), run.progress["step"], metrics, wall, stopped_by, run.progress["history"],
                       run.acc.unwrap_model(run.model))


def _write_adapter(run: _Run, out: Path, data_dir: Path, base: dict[str, str], metrics: dict[str, float],
                   wall: float, stopped_by: str) -> None:
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    run.acc.unwrap_model(run.model).save_pretrained(str(out))
    # peft writes a boilerplate model card; ours points at the facts instead
    config = "explain" if run.cfg.data.task == "explain" else "default"
    (out / "README.md").write_text(ADAPTER_README.format(base=base.get("base_model_id"), steps=run.progress["step"],
                                                         config=config))
    card = data_dir / CARD
    if card.is_file():
        shutil.copyfile(card, out / CARD)
    info = data_dir / "data_info.json"
    data = json.loads(info.read_text()) if info.is_file() else {}
    data["examples_sha256"] = file_sha256(data_dir / "train.jsonl")
    write_manifest(out, base, task=run.cfg.data.task, data=data, config=run.cfg.to_dict(), metrics=metrics,
                   wall_s=round(wall, 1), steps=run.progress["step"], stopped_by=stopped_by,
                   hardware=hardware(), history=run.progress["history"])
