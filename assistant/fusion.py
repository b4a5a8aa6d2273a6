"""LLM preference scoring and fusion with the reranker.

The top-K reranked candidates are shown to the model as lettered choices (A, B, C ...) together with the
request and the shopper's relevant history; one forward pass gives a probability per letter (the LlamaRec
"verbalizer" idea), so the model can only ever prefer real candidates. Fusion:

    fused = (1 - w) * minmax(reranker score) + w * (p_llm / max p_llm)

over the top-K; candidates below the top-K keep their reranker part only. ``w = 0`` (or fusion off) keeps the
reranker order exactly.

>>> from retrieval.types import Item, ScoredItem
>>> cands = [ScoredItem(Item("a", "TEAPOT"), 0.9), ScoredItem(Item("b", "CAKE STAND"), 0.8)]
>>> [s.item.id for s in fuse(cands, [0.1, 0.9], weight=0.6)]
['b', 'a']
>>> [s.item.id for s in fuse(cands, None, weight=0.5)]
['a', 'b']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from retrieval.types import Event, Item, ScoredItem

log = logging.getLogger(__name__)


def choose_messages(request: str, candidates: Sequence[ScoredItem],
                    history: Sequence[tuple[Item, Event]] = ()) -> list[dict[str, str]]:
    """The shared 'choose' prompt: the request, the lettered candidates and the relevant history."""
    from assistant.prompting import format_candidates, format_history, render

    return render("choose", request=request, candidates=format_candidates(candidates),
                  history=format_history(history), n_choices=len(candidates))


def judge_messages(request: str, candidates: Sequence[ScoredItem],
                   history: Sequence[tuple[Item, Event]] = ()) -> list[list[dict[str, str]]]:
    """The shared pointwise 'judge' prompt, one per candidate (same request and history, the item last)."""
    from assistant.prompting import format_history, item_line, render

    hist = format_history(history)
    return [render("judge", request=request, history=hist, item=item_line(s.item)) for s in candidates]


def scoring_mode(configured: str, generator: Any) -> str:
    """"choice" (one lettered prompt) or "judge" (one yes/no prompt per candidate). "auto" follows what the
    loaded adapter was trained for (``Generator.info["task"]``; the base model alone: "choice")."""
    if configured != "auto":
        return configured
    return str(getattr(generator, "info", {}).get("task") or "choice")


def rank_scores(generator: Any, mode: str, request: str, candidates: Sequence[ScoredItem],
                history: Sequence[tuple[Item, Event]] = ()) -> list[float] | None:
    """The LLM's scores of ``candidates`` in scoring ``mode``; None when the model misbehaves."""
    if mode == "judge":
        return llm_scores(generator, judge_messages(request, candidates, history), len(candidates), judge=True)
    return llm_scores(generator, choose_messages(request, candidates, history), len(candidates))


def llm_scores(generator: Any, messages: Any, n: int, *, judge: bool = False) -> list[float] | None:
    """Probabilities over the n letters from one forward pass (``judge``: ``messages`` is one prompt per
    candidate and each gets P(yes)); None when the model misbehaves."""
    try:
        probs = [float(p) for p in (generator.judge_scores(messages) if judge
                                    else generator.choice_scores(messages, n))]
    except (RuntimeError, ValueError) as exc:  # a model failure is handled, not fatal
        log.warning("LLM %s scoring failed (%s); using the reranker only", "judge" if judge else "choice", exc)
        return None
    if len(probs) != n or not all(math.isfinite(p) and p >= 0 for p in probs) or sum(probs) <= 0:
        log.warning("LLM %s scores malformed (%d values for %d choices); using the reranker only",
                    "judge" if judge else "choice", len(probs), n)
        return None
    return probs


def fuse(candidates: Sequence[ScoredItem], probs: Sequence[float] | None, *, weight: float) -> list[ScoredItem]:
    """Fused ranking (best first). ``probs`` covers the first len(probs) candidates; None = reranker only."""
    if not candidates:
        return []
    scores = [s.score for s in candidates]
    lo, hi = min(scores), max(scores)
    norm = [(x - lo) / (hi - lo) if hi > lo else 1.0 for x in scores]
    top = max(probs) if probs else 0.0
    out = []
    for i, s in enumerate(candidates):
        p = probs[i] / top if probs and i < len(probs) and top > 0 else 0.0
        w = weight if probs else 0.0
        fused = (1.0 - w) * norm[i] + w * p
        bd = dict(s.breakdown)
        bd["rerank"] = s.score
        if probs and i < len(probs):
            bd["llm"] = round(w * p, 6)
            bd["llm_prob"] = round(probs[i], 6)
        out.append(ScoredItem(s.item, round(fused, 6), bd, dict(s.evidence)))
    # stable: ties keep the reranker order
    order = sorted(range(len(out)), key=lambda i: (-out[i].score, i))
    return [out[i] for i in order]
