"""The generator: the ONE module that loads the causal LM for inference (scoring and explanations).

Everything else (the assistant service, evaluation, fine-tuning, the UI) gets a ``Generator`` from
``load_generator`` and never touches ``from_pretrained`` itself.

* Loading. The base model's files (the default SmolLM2-135M-Instruct GGUF converted once into a cached
  model dir), their fingerprint and the adapter check belong to ``assistant.modelfiles``; this module loads
  the resolved dir in float32, applies the LoRA adapter (PEFT) and merges it, then casts to the serving dtype.
* ``dtype="auto"``: CUDA -> bfloat16 (float16 where bf16 is unsupported); CPU -> see ``CPU_AUTO_DTYPE``.
* Scoring. ``choice_scores`` runs ONE forward pass over a prompt that ends in an assistant prefix
  ("Answer:") and reads the next-token distribution over the letter tokens " A", " B", ... (both the
  spaced and the bare spelling, merged), renormalized over the n letters (LlamaRec's verbalizer): the
  model can only ever pick one of the given candidates.
* Streaming. ``stream`` decodes greedily with a KV cache and yields text pieces as soon as they are
  complete characters (a multi-byte character split over tokens is held back until complete).
* Prefix cache. Every prompt is computed as [system message] + [rest]; the system block's KV cache is
  kept (small LRU) and reused by the next prompt with the same system text: across turns, and between
  scoring and explanation. The split is the same on a hit and a miss, so results are bitwise
  deterministic.

Messages are chat messages ``[{"role", "content"}]`` (see ``assistant.prompting.render``). A trailing
``assistant`` message is a PREFIX of the answer: it is appended after the chat template's generation
prompt, without an end-of-turn marker.

>>> gen = load_generator(GeneratorConfig(adapter="none"), home)                     # doctest: +SKIP
>>> gen.choice_scores(render("choose", request="tea party", candidates=lines), 3)  # doctest: +SKIP
[0.52, 0.31, 0.17]
>>> "".join(gen.stream(render("explain", ...), 60))                                # doctest: +SKIP
'The teapot and the cake stand ...'
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant import modelfiles
from assistant.modelfiles import (
    adapter_task,
    base_model_fingerprint,
    load_adapter,
    offline,
    read_manifest,
    resolve_adapter,
    resolve_base,
)
from bundlebot.config.assistant import GeneratorConfig
from bundlebot.errors import ModelError

log = logging.getLogger(__name__)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TASKS = ("score", "explain")
CPU_AUTO_DTYPE = "float32"
"""What ``dtype="auto"`` means on CPU. Measured on the 2-core AMD EPYC dev machine (AVX2 only: no native bf16
matmul), one 906-token 12-candidate choice-scoring pass: float32 3.2-4.6 s, bfloat16 15.3-17.6 s (same run,
load ~1-3), so bf16 is ~4x SLOWER here although its choice argmax agreed 5/5 with fp32 (max |dp| 0.023).
On CPUs with native bf16 (AVX512-BF16 / AMX) set ``generator.dtype = "bfloat16"`` and re-measure with
benchmarks/bench_llm.py. Fine-tuning and its before/after measurement pin float32 explicitly."""

Messages = Sequence[Mapping[str, str]]
_CACHE: dict[tuple, Generator] = {}
_CACHE_LOCK = threading.Lock()


# -------------------------------------------------------------------------------------------- loading


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("generator.device is 'cuda' but torch sees no CUDA device", hint="use device='auto'")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype != "auto":
        return dtype
    if device == "cuda":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return CPU_AUTO_DTYPE


def load_generator(cfg: GeneratorConfig, home: Path, *, task: str = "score") -> Generator:
    """The generator for one task of ``cfg``, loaded once per process (a turn never reloads it).

    ``task="score"`` carries ``cfg.adapter`` (the scoring adapter); ``task="explain"`` carries
    ``cfg.explain_adapter`` (None: the base model), so the yes/no adapter never writes an explanation. Two tasks
    with the same adapter share one loaded model. The runtime is ``resolve_runtime``'s.

    >>> gen = load_generator(GeneratorConfig(adapter="none"), Path("/tmp/bb"))  # doctest: +SKIP
    >>> gen.info["base_id"], gen.info["runtime"]                                 # doctest: +SKIP
    ('smollm2-135m-instruct', 'llamacpp')
    """
    if task not in TASKS:
        raise ValueError(f"task should be one of {TASKS}, got {task!r}")
    device = resolve_device(cfg.device)
    runtime = resolve_runtime(cfg, device)
    spec = cfg.adapter if task == "score" else cfg.explain_adapter
    spec = None if spec is None or spec.lower() in ("", "none") else spec
    # "default" names a different committed adapter per task, so the key holds the folder, not the word
    default = modelfiles.DEFAULT_ADAPTER_DIR if task == "score" else modelfiles.DEFAULT_EXPLAIN_ADAPTER_DIR
    key = (runtime, cfg.path, str(default) if spec == "default" else spec, resolve_dtype(cfg.dtype, device),
           device, cfg.threads, str(Path(home).expanduser()))
    with _CACHE_LOCK:
        if key not in _CACHE:
            load = _load_llamacpp if runtime == "llamacpp" else _load
            _CACHE[key] = load(cfg, spec, Path(home).expanduser(), device, key[3], default)
        gen = _CACHE[key]
    if task == "explain":
        _check_explainer(gen)
    return gen


def resolve_runtime(cfg: GeneratorConfig, device: str) -> str:
    """``generator.runtime``: "auto" is llama.cpp on the CPU when llama-cpp-python is installed and the base
    is a GGUF (the default's case), else transformers (CUDA, a plain model directory)."""
    from assistant import llamacpp

    gguf_base = cfg.path is None or Path(cfg.path).suffix == ".gguf"
    if cfg.runtime == "transformers" or (cfg.runtime == "auto" and not (
            device == "cpu" and gguf_base and llamacpp.available())):
        return "transformers"
    if not gguf_base:
        raise ModelError(f"generator.runtime is 'llamacpp' but generator.path {cfg.path} is not a .gguf file",
                         hint='pass a GGUF, or set generator.runtime = "transformers" (or "auto")')
    if device != "cpu":
        raise ModelError("generator.runtime 'llamacpp' is built for the CPU here",
                         hint='use generator.runtime = "auto" on a GPU (transformers)')
    return "llamacpp"


def _check_explainer(gen: Any) -> None:
    """An explanation is never written by an adapter trained to score (it answers "No" to any prompt)."""
    adapter = gen.info.get("adapter")
    task = read_manifest(Path(adapter)).get("task") if adapter else None
    if task in ("judge", "choice"):
        raise ModelError(f"generator.explain_adapter {adapter} was trained for {task} scoring",
                         hint="leave explain_adapter unset (the base model) or pass an explanation adapter")


def _load_llamacpp(cfg: GeneratorConfig, spec: str | None, home: Path, device: str, dtype: str,
                   default: Path) -> Any:
    """The base GGUF in llama.cpp (+ the adapter converted to a llama.cpp LoRA GGUF); the tokenizer is the
    converted model dir's, so prompts are the transformers runtime's token for token."""
    offline()
    from transformers import AutoTokenizer

    from assistant.llamacpp import LlamaCppGenerator
    from assistant.lora_gguf import convert_adapter
    from assistant.modelfiles import default_gguf_path

    gguf = default_gguf_path() if cfg.path is None else Path(cfg.path).expanduser()
    base = resolve_base(cfg.path, home)
    fp = base_model_fingerprint(base)
    adapter = resolve_adapter(spec, fp, default=default)
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    lora = convert_adapter(adapter, base, home / "models" / "adapters") if adapter is not None else None
    info = {"base_id": fp["base_model_id"], "path": str(gguf), "model_dir": str(base),
            "adapter": str(adapter) if adapter else None, "task": adapter_task(adapter), "dtype": "gguf",
            "device": device}
    gen = LlamaCppGenerator(gguf, tok, lora=lora, threads=cfg.threads, info=info, fingerprint=fp)
    log.info("generator loaded: %s", gen.info)
    return gen


def _load(cfg: GeneratorConfig, spec: str | None, home: Path, device: str, dtype: str,
          default: Path) -> Generator:
    offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    base = resolve_base(cfg.path, home)
    fp = base_model_fingerprint(base)
    adapter = resolve_adapter(spec, fp, default=default)
    try:
        tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the model in {base}: {exc}", hint="check generator.path") from exc
    if adapter is not None:  # applied in float32 and merged: no extra matmuls per token when serving
        model = load_adapter(model, adapter, fp).merge_and_unload()
    model = model.to(device=device, dtype=getattr(torch, dtype)).eval()
    info = {"base_id": fp["base_model_id"], "path": str(base), "adapter": str(adapter) if adapter else None,
            "task": adapter_task(adapter), "dtype": dtype, "device": device, "runtime": "transformers",
            "load_ms": round((time.perf_counter() - t0) * 1000)}
    log.info("generator loaded: %s", info)
    return Generator(model, tok, info=info, fingerprint=fp)


# ------------------------------------------------------------------------------------------ generator


def letter_token_ids(tokenizer: Any, n: int = len(LETTERS)) -> list[list[int]]:
    """Token ids spelling each letter after "Answer:" -- " A" (one token in SmolLM2) and the bare "A".

    >>> letter_token_ids(tok, 2)   # doctest: +SKIP
    [[330, 49], [389, 50]]
    """
    return [_single_token_spellings(tokenizer, (" " + letter, letter), f"the letter {letter!r}",
                                    "use a model whose tokenizer spells capital letters as one token")
            for letter in LETTERS[:n]]


def answer_token_ids(tokenizer: Any, words: Sequence[str] = ("yes", "no")) -> list[list[int]]:
    """Single-token spellings of each answer word after "Answer:": " yes", "yes", " Yes", "Yes".

    >>> answer_token_ids(tok)   # doctest: +SKIP
    [[9805, 10407, 9230, 10539], [787, 4607, 2838, 5230]]
    """
    return [_single_token_spellings(tokenizer, (" " + w, w, " " + w.capitalize(), w.capitalize()),
                                    f"the answer {w!r}",
                                    "use a model whose tokenizer spells yes/no as one token, or scoring 'choice'")
            for w in words]


def _single_token_spellings(tokenizer: Any, spellings: Sequence[str], what: str, hint: str) -> list[int]:
    """The ids of those ``spellings`` that are one token, first-seen order, no repeats (a verbalizer entry:
    the scores of its spellings are merged)."""
    ids = [t[0] for s in spellings if len(t := tokenizer.encode(s, add_special_tokens=False)) == 1]
    if not ids:
        raise ModelError(f"the tokenizer has no single token for {what}", hint=hint)
    return sorted(set(ids), key=ids.index)


def yes_probability(logits: Any, yes_no: Sequence[Sequence[int]]) -> list[float]:
    """P(yes) among {yes, no} from next-token logits of shape (rows, vocab); ``yes_no`` = the spellings of
    each (``answer_token_ids``), merged by logsumexp as the letters are."""
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    yes, no = (torch.logsumexp(logp[:, list(ids)], dim=-1) for ids in yes_no)
    return torch.sigmoid(yes - no).tolist()


class Generator:
    """A loaded causal LM + tokenizer with deterministic scoring and streaming (see the module docstring)."""

    def __init__(self, model: Any, tokenizer: Any, *, info: Mapping[str, Any] | None = None,
                 fingerprint: Mapping[str, str] | None = None, prefix_cache: int = 4) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.info = dict(info or {})
        self.fingerprint = dict(fingerprint or {})
        self.prefix_cache_size = prefix_cache
        """How many system-prompt KV caches to keep; 0 = compute every prompt in one piece."""
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.RLock()  # one forward at a time: torch already uses every core
        self._letters = letter_token_ids(tokenizer)
        self._yes_no = answer_token_ids(tokenizer)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._stop_ids = stop_token_ids(tokenizer, model)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def encode(self, messages: Messages) -> list[int]:
        """Prompt token ids (a trailing assistant message is an answer prefix, left open)."""
        return self._encode(messages)[0]

    def _encode(self, messages: Messages) -> tuple[list[int], int]:
        return encode_messages(self.tokenizer, messages)

    def _forward(self, ids: Sequence[int], cache: Any) -> tuple[Any, Any]:
        import torch

        with self._lock, torch.inference_mode():
            out = self.model(input_ids=torch.tensor([list(ids)], device=self.device),
                             cache=cache, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1].float(), out.cache

    def prefill(self, messages: Messages) -> tuple[Any, Any]:
        """(next-token logits, KV cache) after the prompt; the system block comes from the prefix cache."""
        return self._prefill_ids(*self._encode(messages))

    def _prefill_ids(self, ids: Sequence[int], k: int) -> tuple[Any, Any]:
        """``prefill`` of token ids whose first ``k`` are the system block (0: no reusable prefix)."""
        if not (self.prefix_cache_size and 0 < k < len(ids)):
            return self._forward(ids, None)
        key = tuple(ids[:k])
        with self._lock:
            cached = self._prefixes.get(key)
            if cached is None:
                cached = self._forward(ids[:k], None)[1]
                self._prefixes[key] = cached
                while len(self._prefixes) > self.prefix_cache_size:
                    self._prefixes.popitem(last=False)
            self._prefixes.move_to_end(key)
            cache = copy.deepcopy(cached)  # the decode appends to it; the stored one stays the prefix
        return self._forward(ids[k:], cache)

    def choice_scores(self, messages: Messages, n_choices: int) -> list[float]:
        """Probabilities (summing to 1) of the letters A.. for ``n_choices`` candidates, in one forward.

        >>> gen.choice_scores(render("choose", ...), 3)   # doctest: +SKIP
        [0.61, 0.27, 0.12]
        """
        import torch

        if not 1 <= n_choices <= len(self._letters):
            raise ValueError(f"n_choices should be 1..{len(self._letters)}, got {n_choices}")
        logp = torch.log_softmax(self.prefill(messages)[0], dim=-1)
        per_letter = torch.stack([torch.logsumexp(logp[ids], dim=0) for ids in self._letters[:n_choices]])
        return torch.softmax(per_letter, dim=0).tolist()

    def judge_scores(self, prompts: Sequence[Messages]) -> list[float]:
        """P(yes) among {yes, no} after each prompt (the pointwise ``judge`` prompt, one per candidate).

        The prompts of one request differ only at the end (the item comes last), so the shared token prefix
        runs ONCE (its system block from the prefix cache) and the tails run as one batch over copies of that
        KV cache: left-padded, masked, with their true positions, so each row reads exactly the positions an
        unbatched prompt would (equal up to float rounding; tests/assistant/test_llm.py).

        >>> gen.judge_scores([render("judge", request="tea party", history="(none)", item=line)
        ...                   for line in lines])                                   # doctest: +SKIP
        [0.83, 0.12, 0.55]
        """
        import torch

        if not prompts:
            return []
        encoded = [self._encode(m) for m in prompts]
        seqs = [ids for ids, _ in encoded]
        shared = min(len(os.path.commonprefix(seqs)), min(map(len, seqs)) - 1)  # each row keeps a token
        k = encoded[0][1] if encoded[0][1] < shared else 0
        tails = [s[shared:] for s in seqs]
        width = max(map(len, tails))
        rows = len(tails)
        ids = torch.full((rows, width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((rows, shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        pos = torch.zeros((rows, width), dtype=torch.long)
        for i, t in enumerate(tails):
            ids[i, width - len(t):] = torch.tensor(t)
            mask[i, shared + width - len(t):] = 1
            pos[i, width - len(t):] = torch.arange(shared, shared + len(t))
        with self._lock, torch.inference_mode():
            cache = self._prefill_ids(seqs[0][:shared], k)[1] if shared > 0 else None
            if cache is not None:
                cache.batch_repeat_interleave(rows)
            dev = self.device
            out = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                             cache=cache, use_cache=cache is not None, logits_to_keep=1)
        return yes_probability(out.logits[:, -1], self._yes_no)

    def stream(self, messages: Messages, max_new_tokens: int = 80, *, stop: Sequence[str] | None = None,
               no_repeat_ngram: int = 0) -> Iterator[str]:
        """Greedy decode, yielding text pieces as tokens complete characters; stops on EOS/<|im_end|>, after
        ``max_new_tokens`` tokens, or before the first ``stop`` string (which is not yielded).
        ``no_repeat_ngram`` (n > 0): see ``greedy_ids``."""
        return detokenize(self.tokenizer, self.greedy_ids(messages, max_new_tokens, no_repeat_ngram), stop)

    def greedy_ids(self, messages: Messages, max_new_tokens: int, no_repeat_ngram: int = 0) -> Iterator[int]:
        """The greedy continuation's token ids, lazily (no forward pass runs before the caller asks).

        ``no_repeat_ngram = n > 0``: a token that would repeat an n-gram of the ANSWER so far is skipped for
        the next best one (the prompt is not counted: an item title may be quoted as often as needed). A
        small model's greedy answer otherwise falls into loops ("baking, baking, baking").
        """
        logits, cache = self.prefill(messages)

        def advance(out: list[int]) -> Any:
            nonlocal cache
            logits, cache = self._forward(out[-1:], cache)
            return logits

        def masked(logits: Any, banned: list[int]) -> Any:
            logits = logits.clone()
            logits[banned] = float("-inf")
            return logits

        yield from greedy_steps(logits, advance, masked, max_new_tokens, self._stop_ids, no_repeat_ngram)

    def generate(self, messages: Messages, max_new_tokens: int = 80, *, stop: Sequence[str] | None = None
                 ) -> str:
        """The whole greedy answer as one string (``"".join(stream(...))``)."""
        return "".join(self.stream(messages, max_new_tokens, stop=stop))


def greedy_steps(logits: Any, advance: Any, masked: Any, max_new_tokens: int, stop_ids: set[int],
                 no_repeat_ngram: int = 0) -> Iterator[int]:
    """The greedy decode both runtimes share: from the prompt's next-token ``logits``, yield the best token not
    completing a repeated n-gram of the answer (``masked(logits, banned ids)`` rules those out), stop at a stop
    token or after ``max_new_tokens``; ``advance(answer so far)`` gives the logits after its last token."""
    out: list[int] = []
    for step in range(max_new_tokens):
        if banned := repeated_ngram_ends(out, no_repeat_ngram):
            logits = masked(logits, sorted(banned))
        nxt = int(logits.argmax())
        if nxt in stop_ids:
            return
        out.append(nxt)
        yield nxt
        if step + 1 < max_new_tokens:
            logits = advance(out)


def repeated_ngram_ends(ids: Sequence[int], n: int) -> set[int]:
    """The tokens that would complete an n-gram already in ``ids`` (after its last n-1 tokens).

    >>> repeated_ngram_ends([5, 6, 7, 5, 6], 3), repeated_ngram_ends([5, 6, 7, 5, 6], 0)
    ({7}, set())
    """
    if n <= 0 or len(ids) < n:
        return set()
    tail = tuple(ids[len(ids) - n + 1:])
    return {ids[i + n - 1] for i in range(len(ids) - n + 1) if tuple(ids[i:i + n - 1]) == tail}


def encode_messages(tokenizer: Any, messages: Messages) -> tuple[list[int], int]:
    """(prompt ids, length of the system block: the reusable prefix, 0 when there is none). A trailing
    assistant message is an answer prefix, left open. Every runtime encodes with this one function."""
    msgs = [dict(m) for m in messages]
    prefix = msgs.pop()["content"] if msgs and msgs[-1]["role"] == "assistant" else ""
    ids = tokenizer.encode(tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefix,
                           add_special_tokens=False)
    if not msgs or msgs[0]["role"] != "system" or len(msgs) < 2:
        return ids, 0
    sys_ids = tokenizer.encode(tokenizer.apply_chat_template(msgs[:1], tokenize=False), add_special_tokens=False)
    return ids, len(sys_ids) if ids[: len(sys_ids)] == sys_ids else 0


def stop_token_ids(tokenizer: Any, model: Any = None) -> set[int]:
    """The tokens that end an answer: the tokenizer's (and the model's generation config's) EOS, and the chat
    template's end-of-turn markers."""
    ids = {tokenizer.eos_token_id}
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos])
    vocab = tokenizer.get_vocab()
    ids.update(vocab[s] for s in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>") if s in vocab)
    return {i for i in ids if i is not None}


def detokenize(tokenizer: Any, ids: Iterable[int], stop: Sequence[str] | None = None) -> Iterator[str]:
    """Incremental decoding: the pieces joined equal ``tokenizer.decode(ids)`` (cut before a stop string).

    A byte-level BPE token can end inside a multi-byte character ("£", "🎉"); decoding it alone gives
    "\ufffd", so such a piece waits until the character is complete.
    """
    out: list[int] = []
    text, sent = "", 0
    stop = [s for s in (stop or ()) if s]
    for tid in ids:
        out.append(tid)
        text = tokenizer.decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if text.endswith("\ufffd"):
            continue
        safe, hit = _cut_at_stop(text, stop)
        if len(safe) > sent:
            yield safe[sent:]
            sent = len(safe)
        if hit:
            return
    if len(text) > sent:  # the end: a held-back start of a stop string, or bytes that never completed
        yield text[sent:]


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """(the part of ``text`` safe to emit, whether a stop string was hit). Holds back a tail that could be
    the start of a stop string.

    >>> _cut_at_stop("Hello\\nUs", ["\\nUser:"])
    ('Hello', False)
    >>> _cut_at_stop("Hello\\nUser: hi", ["\\nUser:"])
    ('Hello', True)
    """
    hits = [i for s in stop if (i := text.find(s)) >= 0]
    if hits:
        return text[: min(hits)], True
    hold = max((k for s in stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - hold], False
