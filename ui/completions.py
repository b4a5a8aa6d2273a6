"""What ``/v1/chat/completions`` adds to a turn: stop sequences and the token usage of the explanation.

Usage. ``MeteredAssistant`` is the ``ShoppingAssistant`` whose writer (the explanation's model) counts, for the
turn being metered on the current thread (``metering``), the explanation prompt's token ids and every token the model
generated for it (those the grounding check held back included: the model did produce them). Turns run
through ``ui.runtime.TurnRunner``, which holds one thread for the whole turn, so a thread-local meter sees
exactly one turn; anything else (the Gradio UI) runs unmetered and counts nothing. The candidates' LLM
scoring passes are not counted.

>>> cut = StopCut(["END", "\\n\\n"])
>>> [cut.feed(t) for t in ("tea E", "N", "D, cake")], cut.finish(), cut.hit
(['tea ', '', ''], '', True)
>>> StopCut(["is abc", "a"]).cut("this abc")  # the stop complete first wins, as when streaming
'this '
>>> StopCut([]).cut("unchanged")
'unchanged'
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.llm import detokenize
from assistant.service import ShoppingAssistant

_local = threading.local()


@dataclass
class Usage:
    """One turn's explanation tokens. ``generated``: a model wrote (tried to write) the explanation."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    generated: bool = False

    def counts(self, explanation: str, tokenizer: Any | None) -> dict[str, int]:
        """OpenAI's ``usage``. When no model generated, the (deterministic) explanation is counted with the
        generator's tokenizer if one is loaded, and nothing was read as a prompt; with none loaded, zeros."""
        prompt, completion = self.prompt_tokens, self.completion_tokens
        if not self.generated:
            prompt = 0
            completion = len(tokenizer.encode(explanation, add_special_tokens=False)) \
                if tokenizer is not None and explanation else 0
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@contextlib.contextmanager
def metering(usage: Usage | None) -> Iterator[None]:
    """Count the generation of the turn run inside the block (on this thread) into ``usage``."""
    before = getattr(_local, "usage", None)
    _local.usage = usage
    try:
        yield
    finally:
        _local.usage = before


class MeteredGenerator:
    """A ``Generator`` whose ``stream`` counts into the current thread's meter; everything else delegates."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def stream(self, messages: Sequence[dict[str, str]], max_new_tokens: int = 80, *,
               stop: Sequence[str] | None = None, no_repeat_ngram: int = 0) -> Iterator[str]:
        usage: Usage | None = getattr(_local, "usage", None)
        if usage is None:
            return self.inner.stream(messages, max_new_tokens, stop=stop, no_repeat_ngram=no_repeat_ngram)
        usage.generated = True
        usage.prompt_tokens += len(self.inner.encode(messages))  # the ids the prefill reads
        # Generator.stream is exactly this composition; going through the ids is what lets them be counted.
        ids = self.inner.greedy_ids(messages, max_new_tokens, no_repeat_ngram)
        return detokenize(self.inner.tokenizer, _counted(ids, usage), stop)


def _counted(ids: Iterable[int], usage: Usage) -> Iterator[int]:
    for tid in ids:
        usage.completion_tokens += 1
        yield tid


class MeteredAssistant(ShoppingAssistant):
    """The service with a ``MeteredGenerator`` (given, or loaded lazily as the service does)."""

    def __init__(self, config: Any, shop: str, *, generator: Any = None, writer: Any = None,
                 retriever: Any = None) -> None:
        writer = writer if writer is not None else generator
        super().__init__(config, shop, generator=generator,
                         writer=MeteredGenerator(writer) if writer is not None else None, retriever=retriever)

    @property
    def writer(self) -> Any:
        gen = super().writer
        if not isinstance(gen, MeteredGenerator):  # the service has just loaded it
            gen = self._writer = MeteredGenerator(gen)
        return gen

    @property
    def loaded_tokenizer(self) -> Any | None:
        """The writer's tokenizer when the model is loaded (never loads it only to count)."""
        return getattr(self._writer, "tokenizer", None)


class StopCut:
    """Text streamed up to (not including) the first stop sequence; a tail that may begin one is held back
    until it is known. "First" is the stop that is complete earliest, so streamed and whole text agree."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = [s for s in stop if s]
        self.hit = False
        self._held = ""

    def feed(self, text: str) -> str:
        if self.hit:
            return ""
        text = self._held + text
        ends = [(i + len(s), i) for s in self.stop if (i := text.find(s)) >= 0]
        if ends:
            self.hit, self._held = True, ""
            return text[: min(ends)[1]]
        hold = max((k for s in self.stop for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        self._held = text[len(text) - hold:]
        return text[: len(text) - hold]

    def finish(self) -> str:
        """The held-back tail: no stop followed it."""
        rest, self._held = self._held, ""
        return rest

    def cut(self, text: str) -> str:
        """``text`` cut as a fresh stream of it would be."""
        fresh = StopCut(self.stop)
        return fresh.feed(text) + fresh.finish()
