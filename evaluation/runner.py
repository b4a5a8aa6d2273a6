"""Run suites x variants on the same cases and collect every metric of every (case, variant).

Deterministic: cases are taken in id order (``--limit`` keeps a fixed hash-spread sample, not the first N),
seeds are fixed, the model decodes greedily, and aggregation iterates in sorted order. Only latencies vary.

>>> sample(["a", "b", "c", "d"], 2, key=str)
['c', 'd']
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from assistant.parse import parse_request
from assistant.rules import Kinding
from bundlebot.config import AppConfig
from bundlebot.errors import BundlebotError
from evaluation import metrics as M
from evaluation.checks import AGGREGATION, score
from evaluation.shops import ShopData, ensure_indexed, load_shop, shop_spec
from evaluation.suites import Case
from evaluation.variants import Answer, Variant

log = logging.getLogger(__name__)
T = TypeVar("T")

# Default --limit per generated suite. The LLM variants cost seconds per case on a 2-core CPU (measured in
# EVALUATION.md), so the defaults are fixed samples; --limit 0 runs everything. 0 = all cases.
# The adversarial suite's ~630 cases take ~90 s with the reranker; its default sample bounds the LLM variants' cost.
DEFAULT_LIMITS = {"bundle-intent": 100, "personal-aisle": 200, "budget": 100, "adversarial": 120}


def sample(cases: Sequence[T], limit: int | None, key: Callable[[T], str]) -> list[T]:
    """A fixed subset of ``limit`` items spread over the whole suite (by a hash of the id), in id order."""
    if not limit or limit >= len(cases):
        return sorted(cases, key=key)
    ranked = sorted(cases, key=lambda c: hashlib.sha1(key(c).encode()).hexdigest())[:limit]
    return sorted(ranked, key=key)


def system_prompts() -> list[str]:
    """The system prompts the assistant ships (an answer repeating 8 words in a row of one is a leak)."""
    import yaml

    out = []
    try:
        root = resources.files("assistant") / "prompts"
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.endswith(".yaml"):
                data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
                out.append(str(data.get("system") or ""))
    except (FileNotFoundError, ModuleNotFoundError):
        log.warning("no assistant/prompts found: the system-prompt leak check has nothing to compare")
    return out


@dataclass
class SuiteRun:
    name: str
    cases: list[Case]
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """variant -> one record per case: id, metrics, failures, answer summary."""
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self, variant: str) -> dict[str, dict[str, float | int | None]]:
        """metric -> {value, n}: means over cases where defined, sums for counts, latency percentiles."""
        recs = self.results.get(variant, [])
        out: dict[str, dict[str, float | int | None]] = {}
        for name in sorted(AGGREGATION):
            vals = [r["metrics"].get(name) for r in recs]
            if AGGREGATION[name] == "sum":
                defined = [v for v in vals if v is not None]
                out[name] = {"value": sum(defined), "n": len(defined)}
            else:
                value, n = M.mean(vals)
                out[name] = {"value": value, "n": n}
        lat = [r["metrics"]["latency_ms"] for r in recs]
        out["latency_p50_ms"] = {"value": M.percentile(lat, 50), "n": len(lat)}
        out["latency_p95_ms"] = {"value": M.percentile(lat, 95), "n": len(lat)}
        return out


def _seed() -> None:
    random.seed(0)
    try:
        import numpy as np

        np.random.seed(0)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    import sys

    if "torch" in sys.modules:  # only seed torch if a variant loaded it (importing it costs seconds)
        sys.modules["torch"].manual_seed(0)


def _answer(variant: Variant, case: Case, shop: ShopData) -> Answer:
    _seed()
    t0 = time.perf_counter()
    try:
        ans = variant.answer(case, shop)
    except BundlebotError as exc:  # a refusal is an answer: no bundle, the reason recorded
        ans = Answer(items=[], ranked=[], total=None, message=str(exc), error=None)
        ans.unmet = [exc.code]
    except Exception as exc:  # noqa: BLE001 - a crash is a finding of the evaluation, not of the runner
        log.debug("variant %s crashed on %s", variant.name, case.id, exc_info=True)
        ans = Answer(items=[], ranked=[], total=None, error=f"{type(exc).__name__}: {exc}")
    ans.latency_ms = (time.perf_counter() - t0) * 1000.0
    return ans


NOBODY_DIGITS = "059"
"""The controls of a cross-shopper case: the other shopper's id written as 00000, 55555 and 99999."""


def _nobody(case: Case, digit: str = "0") -> Case:
    """The cross-shopper case with the other shopper's id replaced by one nobody has: an item both answers
    hold comes from the request's words or the asker's own history, not from the other shopper's. The digits
    of an id move the request's vector a little, so a near tie among the request's own items can go either
    way: the control is every item of the answers to several such ids (``NOBODY_DIGITS``)."""
    victim = str(case.meta["victim"])
    return case.model_copy(update={"turns": [t.replace(victim, digit * len(victim)) for t in case.turns]})


def _asks_for_several(case: Case) -> bool | Callable[[str], bool]:
    """True when the case's request asks for several of one thing, as the parser reads it; else which kinds
    it names in the plural ("cake stands"), as assembly reads it (a junk request asks for nothing)."""
    text = case.turns[0] if case.turns else ""
    try:
        c = parse_request(text)
    except BundlebotError:
        return False
    if c.similar_ok:
        return True
    kinds = Kinding(asked=text, occasion=c.occasion)
    return lambda kind: kinds.named(kind, plural=True)


def _record(case: Case, ans: Answer, shop: ShopData, secrets: list[str]) -> dict[str, Any]:
    titles = {i: shop.items[i].title for i in ans.ids if i in shop.items}
    metrics, why = score(case, ans, shop.prices(), secrets, titles, shop.facts.kind if shop.facts else None)
    if shop.facts is not None and not ans.error:
        several = _asks_for_several(case)
        metrics.update(shop.facts.metrics(ans.ids, case.meta.get("split"), several))
    return {"id": case.id, "metrics": metrics, "failures": why,
            "answer": {"items": ans.ids, "ranked": ans.ranked[:10], "total": ans.total, "unmet": ans.unmet,
                       "explanation": ans.explanation[:2000], "message": ans.message[:500]}}


class Runner:
    """Holds the shops (loaded once per run) and runs suites with a progress bar."""

    def __init__(self, config: AppConfig, progress: bool = True,
                 fit: Callable[[AppConfig, str, str, bool], Any] | None = None) -> None:
        """``fit(config, shop, source spec, progress)`` runs after the runner indexes a shop
        (``cli.fit_ranker``): a shop indexed without its ranker would make the variant ``learned`` the hand
        weights."""
        self.config = config
        self.progress = progress
        self.fit = fit
        self.shops: dict[str, ShopData] = {}
        self.index_seconds: dict[str, float] = {}
        self.secrets = system_prompts()
        self._prices: dict[str, dict[str, float | None]] = {}

    def shop(self, name: str, index: bool = True) -> ShopData:
        if name not in self.shops:
            self.shops[name] = load_shop(self.config, name)
        if index and name not in self.index_seconds:
            n = len(self.shops[name].items)
            seconds = ensure_indexed(self.config, name, n, self.progress)
            if seconds and self.fit is not None:
                t0 = time.perf_counter()
                self.fit(self.config, name, shop_spec(self.config, name), self.progress)
                seconds += time.perf_counter() - t0
            self.index_seconds[name] = seconds
        return self.shops[name]

    def run(self, name: str, cases: list[Case], variants: list[Variant]) -> SuiteRun:
        from tqdm.auto import tqdm

        run = SuiteRun(name, cases)
        active = []
        for v in variants:
            if reason := v.unavailable():
                run.skipped[v.name] = reason
            else:
                active.append(v)
        # The baselines read the catalog truth only; bundlebot's variants need the shop's index.
        index = any(v.name not in ("popularity", "personal-popularity", "target") for v in active)
        for shop in sorted({c.shop for c in cases}):
            self.shop(shop, index)
        bar = tqdm(total=len(cases) * len(active), desc=f"eval {name}", unit="answer",
                   disable=not self.progress)
        for v in active:
            t0 = time.perf_counter()
            recs = []
            for case in cases:
                shop = self.shops[case.shop]
                ans = _answer(v, case, shop)
                if case.meta.get("victim") and not ans.error:
                    ans.control = sorted({i for d in NOBODY_DIGITS for i in _answer(v, _nobody(case, d), shop).ids})
                recs.append(_record(case, ans, shop, self.secrets))
                bar.update(1)
            run.results[v.name] = recs
            run.seconds[v.name] = time.perf_counter() - t0
        bar.close()
        return run


def limit_for(suite: str, limit: int | None) -> int | None:
    """The case limit: the one given, else the suite's default (0 or None = all)."""
    return limit if limit is not None else DEFAULT_LIMITS.get(suite)


def load_cases(path: Path, limit: int | None, suite_name: str) -> list[Case]:
    from evaluation.suites import load_suite

    return sample(load_suite(path), limit_for(suite_name, limit), key=lambda c: c.id)
