"""The fine-tuning config: one dataclass per concern, loaded from a TOML file, validated on construction.

>>> cfg = TrainConfig()
>>> cfg.lora.rank, cfg.lora.target_modules[:2], cfg.data.candidates
(8, ['q_proj', 'k_proj'], 12)
>>> LoraSettings(rank=0)
Traceback (most recent call last):
...
bundlebot.errors.ConfigError: lora.rank should be positive, got 0 (fix: use e.g. rank = 8 in [lora])
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundlebot.configtools import from_dict, to_dict
from bundlebot.errors import ConfigError

SOURCES = ("bundlerec-food", "instacart", "online-retail")
# SmolLM2 ties embed_tokens and lm_head: adapting either would also change the other, so LoRA stays on the
# attention and MLP projections.
FORBIDDEN_TARGETS = ("embed_tokens", "lm_head")


@dataclass
class DataSettings:
    """How the supervised examples are built from the TRAIN splits."""

    sources: list[str] = field(default_factory=lambda: list(SOURCES))
    """Data sets to draw from (each is indexed as a shop of the same name, from its train data)."""
    choice_examples: dict[str, int] = field(
        default_factory=lambda: {"bundlerec-food": 260, "instacart": 220, "online-retail": 220})
    """Choice examples per source (request + lettered candidates -> gold letter(s)); with task = "judge" the
    number of requests per source, each split into judge_positives + judge_negatives yes/no examples."""
    explain_examples: int = 80
    """Explanation examples in total (bundle + facts -> templated, fact-only explanation)."""
    explain_no_budget: float = 0.0
    """The share of explanation requests replayed without their budget sentence (drawn per basket), so the
    adapter also sees bundles with no budget to state, as many shoppers' requests are."""
    dev_examples: int = 48
    """Choice examples built from DEV baskets for the eval loss (never trained on)."""
    candidates: int = 12
    """Lettered candidates per prompt; must equal assistant.llm_candidates so training matches inference."""
    max_length: int = 384
    """Examples longer than this many tokens are dropped (and counted in the dataset card)."""
    unretrieved: str = "skip"
    """A request whose candidates hold no gold item: "skip" it (draw another request, so the examples show
    the reranker's real order, as at inference) or "insert" a gold item at a random slot (which teaches the
    model that the reranker's first candidate is rarely right, the opposite of what inference sees)."""
    shuffle: bool = False
    """Letter the TRAIN candidates in a seeded random order (dev keeps the reranker's order, as inference
    does): the model then has to read the items, because the position no longer tells it the answer."""
    task: str = "choice"
    """The scoring prompt trained: "choice" (request + lettered candidates -> gold letter, the ``choose``
    prompt) or "judge" (request + ONE candidate -> " yes"/" no", the ``judge`` prompt; the assistant then
    scores each candidate on its own, ``assistant.llm_scoring = "auto"`` follows the adapter's manifest), or
    "explain" (no scoring examples: the served bundle + its facts -> an explanation, ``finetune.explain_data``;
    the adapter is then an ``explain_adapter``)."""
    judge_positives: int = 2
    """judge: gold candidates of a request turned into "yes" examples (the first ones in reranker order)."""
    judge_negatives: int = 4
    """judge: non-gold candidates of a request turned into "no" examples: half the reranker's highest
    (the near misses the model must learn to overrule), half drawn at random from the rest."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in ("choice", "judge", "explain"):
            raise ConfigError(f'data.task should be "choice", "judge" or "explain", got {self.task!r}')
        if self.judge_positives < 1 or self.judge_negatives < 1:
            raise ConfigError("data.judge_positives and data.judge_negatives should be >= 1",
                              hint="a judge example set needs both a yes and a no")
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise ConfigError(f"data.sources should be among {SOURCES}, got {unknown}",
                              hint="remove the unknown names from [data] sources")
        if not 2 <= self.candidates <= 26:
            raise ConfigError(f"data.candidates should be 2..26, got {self.candidates}",
                              hint="letters A..Z label the candidates")
        if self.unretrieved not in ("skip", "insert"):
            raise ConfigError(f'data.unretrieved should be "skip" or "insert", got {self.unretrieved!r}')
        if self.max_length < 64:
            raise ConfigError(f"data.max_length should be >= 64, got {self.max_length}")
        if not 0.0 <= self.explain_no_budget <= 1.0:
            raise ConfigError(f"data.explain_no_budget should be a share in [0, 1], got {self.explain_no_budget}")
        if any(n < 0 for n in self.choice_examples.values()) or self.explain_examples < 0:
            raise ConfigError("data example counts should be >= 0", hint="fix [data] choice_examples")


@dataclass
class LoraSettings:
    """The LoRA adapter: which projections it adapts and how big it is."""

    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    """Module names to adapt (attention + MLP projections). Never embed_tokens / lm_head (tied in SmolLM2)."""
    layers: list[int] | None = None
    """Adapt only these decoder layers (None = all). Adapting the last few layers only means the backward
    pass stops there: on a CPU this roughly halves a step (the frozen layers run forward only)."""

    def __post_init__(self) -> None:
        if self.rank <= 0:
            raise ConfigError(f"lora.rank should be positive, got {self.rank}", hint="use e.g. rank = 8 in [lora]")
        if self.alpha <= 0:
            raise ConfigError(f"lora.alpha should be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout should be in [0, 1), got {self.dropout}")
        if self.layers is not None and (not self.layers or min(self.layers) < 0):
            raise ConfigError(f"lora.layers should be non-negative layer indices or absent, got {self.layers}")
        bad = [m for m in self.target_modules if m in FORBIDDEN_TARGETS]
        if bad or not self.target_modules:
            raise ConfigError(f"lora.target_modules should name attention/MLP projections, got {self.target_modules}",
                              hint="SmolLM2 ties embed_tokens and lm_head; leave them out")


@dataclass
class OptimSettings:
    """The training loop: optimizer, schedule, evaluation, checkpoints, budget."""

    lr: float = 5e-4
    weight_decay: float = 0.0
    warmup_steps: int = 10
    batch_size: int = 4
    grad_accum: int = 2
    """Optimizer step every batch_size * grad_accum examples (per process)."""
    epochs: int = 1
    max_steps: int | None = None
    """Stop after this many optimizer steps (None = run the epochs)."""
    time_budget_min: float | None = 40.0
    """Stop cleanly (save, evaluate) after this many minutes of training; None = no limit."""
    eval_every: int = 40
    checkpoint_every: int = 40
    max_grad_norm: float = 1.0
    seed: int = 0
    threads: int | None = None
    """torch CPU threads; None = torch's default."""
    hard_weight: float = 1.0
    """Loss weight of a train choice example whose first candidate (the reranker's best) is not a gold item.
    Above 1 it stresses the cases where the model should overrule the reranker, in the reranker's order."""

    def __post_init__(self) -> None:
        if self.hard_weight <= 0:
            raise ConfigError(f"train.hard_weight should be positive, got {self.hard_weight}")
        for name in ("batch_size", "grad_accum", "epochs", "eval_every", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"train.{name} should be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr should be positive, got {self.lr}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"train.max_steps should be positive or absent, got {self.max_steps}")
        if self.time_budget_min is not None and self.time_budget_min <= 0:
            raise ConfigError(f"train.time_budget_min should be positive or absent, got {self.time_budget_min}")


@dataclass
class TrainConfig:
    """Everything `bundlebot train` needs; `finetune/configs/default.toml` reproduces the committed adapter."""

    base: str | None = None
    """Base model: a local model directory or .gguf; None = the default SmolLM2-135M-Instruct."""
    data_out: str | None = None
    """Where build-data writes the examples + dataset card. None = <home>/finetune/data."""
    out: str = "finetune/adapters/default"
    """The adapter directory training writes (relative paths are relative to the project root)."""
    checkpoints: str | None = None
    """Checkpoint folder; None = <home>/finetune/checkpoints."""
    data: DataSettings = field(default_factory=DataSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: OptimSettings = field(default_factory=OptimSettings)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def load_train_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a TrainConfig from TOML (None = built-in defaults), unknown keys rejected."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"training config {p} does not exist",
                              hint="pass e.g. --config finetune/configs/default.toml")
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"training config {p} is not valid TOML: {exc}") from exc
    for key, value in (overrides or {}).items():
        data[key] = value
    return from_dict(TrainConfig, data)
