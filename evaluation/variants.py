"""The systems compared in one evaluation run, each answering a ``Case`` with an ``Answer``.

Baselines read the case's stated constraints (they cannot read text) and the shop's train data:

- ``popularity``: train popularity, filtered by the constraints (budget, exclusions, named categories).
- ``personal-popularity``: the shopper's own train purchase counts first, then popularity (same filters).
- ``embedding``: top-k of the catalog by cosine to the request (exact, over the cached MiniLM vectors).

bundlebot itself, through ``ShoppingAssistant`` with a config per variant:

- ``reranker``: retrieval core only with the hand-weighted reranker (fusion off, deterministic explanation, no LLM).
- ``learned``: the same with each shop's learned ranker (``bundlebot fit``; a shop without one keeps the hand
  weights, and the report's ranker table says which shops had one). The LLM variants rank as ``learned`` does.
- ``base``: the default model zero-shot with fusion, adapter none.
- ``lora``: with the fine-tuned adapter (``finetune/adapters/default``); skipped with a reason if absent.
- ``llm-only``: the LLM's choice scores alone over the top reranked candidates (fusion weight 1), base model,
  no explanation (the choice is what it measures; explanations are base's and lora's).
- ``llm-only-lora``: the same with the adapter, so the adapter's own contribution is visible.
- ``target``: a running bundlebot over HTTP (``--target URL``).

>>> Answer(items=[("a", 2.0)], ranked=["a"], total=2.0).ids
['a']
"""

from __future__ import annotations

import copy
import json
import logging
import urllib.request
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.modelfiles import DEFAULT_ADAPTER_DIR as ADAPTER_DIR
from bundlebot.config import AppConfig
from bundlebot.errors import RequestError
from evaluation.shops import ShopData
from evaluation.suites import Case
from retrieval.types import Item

log = logging.getLogger(__name__)

RANK_K = 10
BASELINES = ("popularity", "personal-popularity", "embedding")
ASSISTANT = ("reranker", "learned", "base", "lora", "llm-only", "llm-only-lora")
ALL = BASELINES + ASSISTANT


@dataclass
class Answer:
    """What a variant answered to a case's LAST turn (+ the first turn's bundle, for multi-turn checks)."""

    items: list[tuple[str, float | None]]
    """(item id, price shown) of the bundle."""
    ranked: list[str]
    total: float | None
    quantities: dict[str, int] = field(default_factory=dict)
    """Item id -> quantity of its line, where it is not 1."""
    explanation: str = ""
    message: str = ""
    grounded: bool | None = None
    """None = this variant writes no checked explanation."""
    unmet: list[str] = field(default_factory=list)
    stated_budget: float | None = None
    """The budget the variant understood from the text (allowed to appear in the explanation)."""
    first_items: list[str] = field(default_factory=list)
    first_total: float | None = None
    latency_ms: float = 0.0
    error: str | None = None
    control: list[str] = field(default_factory=list)
    """A cross-shopper case's items for the same request naming nobody (evaluation.runner): what the request
    itself brings, so only the difference can be the other shopper's history."""

    @property
    def ids(self) -> list[str]:
        return [i for i, _ in self.items]


class Variant(ABC):
    name: str = "variant"
    uses_llm: bool = False

    def unavailable(self) -> str | None:
        """Why this variant cannot run here (then the report says so), or None."""
        return None

    @abstractmethod
    def answer(self, case: Case, shop: ShopData) -> Answer:
        """Answer the case; exceptions are caught by the runner and recorded as failures."""


def _allowed(it: Item, case: Case) -> bool:
    c = case.constraints
    title = it.title.lower()
    if not it.in_stock or any(t.lower() in title for t in c.exclude):
        return False
    if c.budget is not None and it.price is not None and it.price > c.budget:
        return False
    if c.categories:
        cats = {x.lower() for x in it.category}
        return any(x.lower() in cats for x in c.categories)
    return True


def assemble(ranked: list[Item], size: int, budget: float | None) -> list[Item]:
    """Greedy bundle: the best-ranked items that still fit the budget, up to ``size``.

    >>> a, b, c = Item("a", "A", price=5.0), Item("b", "B", price=9.0), Item("c", "C", price=3.0)
    >>> [i.id for i in assemble([a, b, c], 2, 10.0)]
    ['a', 'c']
    """
    out: list[Item] = []
    total = 0.0
    for it in ranked:
        price = it.price or 0.0
        if budget is not None and total + price > budget + 1e-9:
            continue
        out.append(it)
        total += price
        if len(out) == size:
            break
    return out


def _baseline_answer(order: list[Item], case: Case, default_size: int) -> Answer:
    size = case.constraints.size or default_size
    bundle = assemble(order[:500], size, case.constraints.budget)
    priced = [it.price for it in bundle if it.price is not None]
    return Answer(items=[(it.id, it.price) for it in bundle], ranked=[it.id for it in order[:RANK_K]],
                  total=round(sum(priced), 2) if priced else None, first_items=[it.id for it in bundle])


class Popularity(Variant):
    name = "popularity"

    def __init__(self, default_size: int) -> None:
        self.default_size = default_size

    def answer(self, case: Case, shop: ShopData) -> Answer:
        order = [it for it in shop.by_popularity(case.constraints.categories) if _allowed(it, case)]
        return _baseline_answer(order, case, self.default_size)


class PersonalPopularity(Popularity):
    name = "personal-popularity"

    def answer(self, case: Case, shop: ShopData) -> Answer:
        counts = shop.shopper_counts.get(case.shopper or "", Counter())
        pool = [it for it in shop.by_popularity(case.constraints.categories) if _allowed(it, case)]
        # Stable sort: the shopper's own count first, global popularity breaks ties (pool is in that order).
        order = sorted(pool, key=lambda it: -counts.get(it.id, 0))
        return _baseline_answer(order, case, self.default_size)


class Embedding(Variant):
    name = "embedding"

    def __init__(self, config: AppConfig, default_size: int) -> None:
        self.config = config
        self.default_size = default_size

    def answer(self, case: Case, shop: ShopData) -> Answer:
        ids, matrix = shop.vectors(self.config)
        from retrieval.embeddings import make_embedder

        q = make_embedder(self.config.retrieval.embedder).embed(" ".join(case.turns))
        sims = matrix @ q
        top = np.argsort(-sims, kind="stable")[:2000]
        order = [it for j in top if _allowed(it := shop.items[ids[j]], case)]
        return _baseline_answer(order, case, self.default_size)


def variant_config(base: AppConfig, name: str, explain: bool) -> AppConfig:
    """The app config of an assistant variant (a deep copy; the base config is never changed)."""
    cfg = copy.deepcopy(base)
    a = cfg.assistant
    # llm-only variants measure the choice alone: their explanation would be base's, at seconds per turn.
    a.explain = explain and name in ("base", "lora")
    a.generator.adapter = "default" if name.endswith("lora") else "none"
    a.fusion = name not in ("reranker", "learned")
    cfg.retrieval.ranker = "hand" if name == "reranker" else "auto"
    if name.startswith("llm-only"):
        a.fusion_weight = a.fusion_weight_no_history = 1.0
    return cfg


class AssistantVariant(Variant):
    """bundlebot in process: one ShoppingAssistant per shop; a conversation is replayed turn by turn."""

    def __init__(self, name: str, base: AppConfig, explain: bool) -> None:
        self.name = name
        self.uses_llm = name not in ("reranker", "learned")
        self.config = variant_config(base, name, explain)
        self._services: dict[str, Any] = {}

    def unavailable(self) -> str | None:
        if self.name.endswith("lora") and not (ADAPTER_DIR / "adapter_config.json").is_file():
            return f"no fine-tuned adapter at {ADAPTER_DIR} (run `bundlebot train` first)"
        return None

    def _service(self, shop: str) -> Any:
        if shop not in self._services:
            from assistant.service import ShoppingAssistant

            # the service loads its scorer and writer by the config's tasks (cached per process, shared by shops)
            self._services[shop] = ShoppingAssistant(self.config, shop)
        return self._services[shop]

    def answer(self, case: Case, shop: ShopData) -> Answer:
        svc = self._service(case.shop)
        state, first = None, None
        for message in case.turns:
            result, state = svc.turn(message, state, shopper=case.shopper)
            first = first or result
        return from_result(result.to_dict(), first.to_dict())


def from_result(res: dict[str, Any], first: dict[str, Any]) -> Answer:
    """An Answer from a ``BundleResult.to_dict()`` (in process, or a JSON body over HTTP)."""
    cons = res.get("constraints") or {}
    return Answer(items=[(str(x["id"]), x.get("price")) for x in res.get("items", [])],
                  quantities={str(x["id"]): int(x["quantity"]) for x in res.get("items", [])
                              if x.get("quantity", 1) != 1},
                  ranked=[str(i) for i in res.get("ranked", [])], total=res.get("total"),
                  explanation=res.get("explanation") or "", message=res.get("message") or "",
                  grounded=bool(res.get("grounded", True)), unmet=list(res.get("unmet", [])),
                  stated_budget=cons.get("budget"),
                  first_items=[str(x["id"]) for x in first.get("items", [])],
                  first_total=first.get("total"))


class Target(Variant):
    """A running bundlebot over its HTTP API: ``POST <url>/api/v1/turn`` with {message, state, shopper?}.

    The shop is the one the API key belongs to (ui/schemas.py ``TurnRequest``); the answer is
    ``TurnResponse`` {bundle, constraints, explanation, grounded, state}. Sending ``shopper`` needs the shop's
    secret key; a 4xx answer is recorded as a refusal (no bundle), like a ``BundlebotError`` in process.
    """

    name = "target"
    uses_llm = True

    def __init__(self, url: str, key: str | None, timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/") + "/api/v1/turn"
        self.key = key
        self.timeout_s = timeout_s

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (user-given URL)
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RequestError(f"{self.url} answered HTTP {exc.code}: {exc.read()[:300]!r}",
                               hint="check --target and the API key (--key or $BUNDLEBOT_EVAL_KEY)") from None

    def answer(self, case: Case, shop: ShopData) -> Answer:
        state, first, res = None, None, {}
        for message in case.turns:
            body: dict[str, Any] = {"message": message, "state": state}
            if case.shopper:
                body["shopper"] = case.shopper
            out = self._post(body)
            res = dict(out.get("bundle") or {})
            res.setdefault("constraints", out.get("constraints") or {})
            res["explanation"] = out.get("explanation", res.get("explanation", ""))
            res["grounded"] = out.get("grounded", res.get("grounded", True))
            state = out.get("state")
            first = first or res
        return from_result(res, first or {})


def make_variants(names: list[str], config: AppConfig, explain: bool, target: str | None = None,
                  key: str | None = None) -> list[Variant]:
    """Variants by name, in the order given (the report keeps this order)."""
    size = config.assistant.default_size
    out: list[Variant] = []
    for n in names:
        match n:
            case "popularity":
                out.append(Popularity(size))
            case "personal-popularity":
                out.append(PersonalPopularity(size))
            case "embedding":
                out.append(Embedding(config, size))
            case "target":
                if not target:
                    raise RequestError("variant 'target' needs --target URL", hint="pass --target http://host:port")
                out.append(Target(target, key))
            case _ if n in ASSISTANT:
                out.append(AssistantVariant(n, config, explain))
            case _:
                names_ok = ", ".join((*ALL, "target"))
                raise RequestError(f"unknown variant {n!r}", hint=f"use one of: {names_ok}")
    return out

