"""The ShoppingAssistant service: one conversational turn -> a constraint-satisfying, explained bundle.

``turn_stream`` yields typed events, in this order:

1. ``constraints``: ``{"constraints": {...}, "edit": "new|replace|remove|add|...", "summary": "budget £25 ..."}``
2. ``bundle``: ``{"result": BundleResult.to_dict()}`` (explanation still empty, ``timings_ms`` per stage so far)
3. ``token`` (0..n): ``{"text": "piece"}``, the model's explanation one checked sentence at a time: text is
   released only while everything so far passes the grounding check (``SentenceGate``), so no unchecked
   model text ever reaches a shopper; generation stops at the first refused sentence
4. ``done``: ``{"result": ..., "state": ConversationState.to_dict(), "explanation": final text,
   "grounded": bool, "replaced": bool, "problems": [...]}``. ``explanation`` is what the tokens spelled
   (stripped); when ``replaced`` is true no sentence passed (or there was no time), nothing was streamed,
   and ``explanation`` is the deterministic text built from catalog facts.

A request that cannot be served (junk, malformed state, unknown shop) yields one ``error`` event
``{"code", "message", "hint"}``; our own bugs raise. Invariants are checked at the end of every turn.

>>> bot = ShoppingAssistant(config, "demo")                                           # doctest: +SKIP
>>> result, state = bot.turn("hosting a tea party for six, budget £25", shopper="13047")  # doctest: +SKIP
>>> result.total <= 25                                                                 # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from assistant.assemble import Assembly, assemble, excluded_by
from assistant.edits import Edit, parse_edit
from assistant.explain import Facts, SentenceGate, deterministic_explanation, explain_messages, item_reason
from assistant.fusion import fuse, money, rank_scores, scoring_mode
from assistant.parse import clean_message
from assistant.state import TurnPlan, apply_edit, validate_state
from assistant.text import echoable
from assistant.types import BundleLine, BundleResult, Constraints, ConversationState, TurnEvent
from bundlebot.errors import BundlebotError, RequestError
from retrieval.types import Event, Item, ScoredItem

if TYPE_CHECKING:
    from bundlebot.config import AppConfig

log = logging.getLogger(__name__)
DEFAULT_QUERY = "gift"
RANKED_N = 20
HISTORY_N = 5


class InvariantError(AssertionError):
    """A bundle broke a hard rule: a bug in bundlebot, never a shopper's fault."""


class ShoppingAssistant:
    """One shop's assistant; the generator is loaded lazily once per process and shared by every turn."""

    def __init__(self, config: AppConfig, shop: str, *, generator: Any = None, retriever: Any = None) -> None:
        self.config = config
        self.shop = shop
        self._generator = generator
        self._retriever = retriever

    @property
    def retriever(self) -> Any:
        if self._retriever is None:
            from retrieval.search import Retriever

            self._retriever = Retriever.open(self.config, self.shop)
        return self._retriever

    @property
    def generator(self) -> Any:
        if self._generator is None:
            from assistant.llm import load_generator  # cached per process: never reloaded per turn

            self._generator = load_generator(self.config.assistant.generator, self.config.home_path)
        return self._generator

    @property
    def currency(self) -> str | None:
        return getattr(self.retriever, "currency", None)

    # ---- public API -----------------------------------------------------------------------------------
    def turn(self, message: str, state: ConversationState | dict | None = None,
             shopper: str | None = None, *, explain: bool | None = None) -> tuple[BundleResult, ConversationState]:
        """Non-streaming convenience: the final result and the new state (errors raise)."""
        done: dict[str, Any] | None = None
        for ev in self.turn_stream(message, state, shopper, explain=explain):
            if ev.type == "error":
                raise ev.exception  # type: ignore[attr-defined]
            if ev.type == "done":
                done = ev.objects  # type: ignore[attr-defined]
        assert done is not None
        return done["result"], done["state"]

    def turn_stream(self, message: str, state: ConversationState | dict | None = None,
                    shopper: str | None = None, *, explain: bool | None = None) -> Iterator[TurnEvent]:
        """Events of one turn (see the module docstring)."""
        try:
            self._warm(explain)
            t0 = time.perf_counter()  # one-time loading is not part of a turn's latency
            yield from self._turn(message, state, shopper, t0, self.config.assistant.explain
                                  if explain is None else explain)
        except BundlebotError as exc:
            ev = TurnEvent("error", exc.to_dict())
            ev.exception = exc  # type: ignore[attr-defined]  # for turn(); data stays plain JSON
            yield ev

    def _warm(self, explain: bool | None) -> None:
        """Open the retriever and load the generator once (they are shared by every later turn)."""
        self.retriever  # noqa: B018
        cfg = self.config.assistant
        if (cfg.fusion and max(cfg.weight_for(True), cfg.weight_for(False)) > 0) or (
                cfg.explain if explain is None else explain):
            self.generator  # noqa: B018

    # ---- the turn -------------------------------------------------------------------------------------
    def _turn(self, message: str, raw_state: Any, shopper: str | None, t0: float,
              explain: bool) -> Iterator[TurnEvent]:
        timings: dict[str, float] = {}
        message = clean_message(message)
        if shopper is not None and (not isinstance(shopper, str) or len(shopper) > 100):
            raise RequestError(f"shopper should be an id of at most 100 characters, got {shopper!r}",
                               hint="pass the shopper id as a string")
        state = validate_state(raw_state, self.shop, self.retriever.item, max_size=self.config.assistant.max_size)
        shopper = shopper if shopper is not None else state.shopper
        state.shopper = shopper
        new_state, plan = self._plan(message, state)
        timings["parse"] = _ms(t0)
        yield TurnEvent("constraints", {"constraints": plan.constraints.to_dict(), "edit": plan.kind,
                                        "summary": summarize(plan.constraints)})
        if plan.kind == "restart" and not plan.query:
            yield from self._finish_empty(new_state, plan, message, timings, t0,
                                          "Okay, starting over. What are you shopping for?")
            return
        result, history = self._bundle(plan, shopper, timings)
        self._check_invariants(result, plan)
        yield TurnEvent("bundle", {"result": result.to_dict()})
        yield from self._explain(result, plan, history, explain, timings, t0)
        new_state.bundle = [ln.id for ln in result.items]
        new_state.turns = (new_state.turns + [{"role": "user", "content": message},
                                              {"role": "assistant", "content": result.explanation}])[-12:]
        result.timings_ms = {**timings, "total": _ms(t0)}
        yield _done(result, new_state)

    def _plan(self, message: str, state: ConversationState) -> tuple[ConversationState, TurnPlan]:
        items = {i: self.retriever.item(i) for i in state.bundle}
        titles = {i: it.title for i, it in items.items() if it}
        edit = parse_edit(message, state.bundle, titles) if state.bundle else None
        if edit is None:
            from assistant.parse import parse_request

            stated = parse_request(message)
            edit = Edit("new", query=stated.query, constraints=stated)
        new_state, plan = apply_edit(state, edit, prices={i: it.price for i, it in items.items() if it},
                                     titles=titles, default_size=self.config.assistant.default_size,
                                     max_size=self.config.assistant.max_size)
        c = plan.constraints
        plan.note = " ".join(filter(None, [plan.note, _budget_note(message, edit.constraints, c, self.currency)]))
        if self.currency and c.currency != self.currency:
            c.currency = self.currency  # the shop's currency: a "$" in a GBP shop still means its prices
        if not plan.query and plan.kind != "restart":
            plan.query = " ".join(filter(None, [c.occasion, *c.must_have])) or DEFAULT_QUERY
        return new_state, plan

    def _bundle(self, plan: TurnPlan, shopper: str | None,
                timings: dict[str, float]) -> tuple[BundleResult, list[tuple[Item, Event]]]:
        t = time.perf_counter()
        cands, pool = self._candidates(plan, shopper)
        history = self._history(shopper, cands, pool)
        timings["retrieve"] = _ms(t)
        t = time.perf_counter()
        ranked = self._rank(plan, cands, history, timings)
        timings["llm_scoring"] = _ms(t)
        t = time.perf_counter()
        pinned = [ScoredItem(it, 1.0, {}, {}) for i in plan.pinned if (it := self.retriever.item(i))]
        asm = assemble(ranked, plan.constraints, size=plan.size, pinned=pinned, rejected=plan.rejected,
                       prefer=plan.prefer, slot_max_price=plan.slot_max_price,
                       rescore=self._rescorer(plan, shopper, pool))
        timings["assemble"] = _ms(t)
        asm.items = _in_slots(asm.items, plan.slots)
        if plan.note:
            asm.message = " ".join(filter(None, [plan.note, asm.message]))
        return self._result(asm, plan, ranked, history), history

    def _candidates(self, plan: TurnPlan, shopper: str | None) -> tuple[list[ScoredItem], Any]:
        """Candidates of every search of the turn, and (with the real Retriever) the turn's pool: the main
        request's vectors, history and feedback centroid plus every search's candidates, so that assembly
        re-ranks after each pick without embedding or querying again."""
        from retrieval.search import Filters

        c = plan.constraints
        filters = Filters(max_price=c.budget, exclude_ids=tuple(plan.rejected))
        # a must-have is searched in the request's context: "card" for a tea party is a greeting card
        context = f" for {c.occasion}" if c.occasion else ""
        searches = [plan.extra_query + context] if plan.extra_query else []
        searches += [m + context for m in c.must_have if m != plan.extra_query] + [plan.query]
        gather = getattr(self.retriever, "gather", None)
        seen: dict[str, ScoredItem] = {}
        pools: list[Any] = []
        for q in searches:
            k = None if q == plan.query else 20
            if gather is None:
                ranked = self.retriever.candidates(q, shopper=shopper, filters=filters, k=k, chosen=plan.pinned)
            else:
                pools.append(gather(q, shopper=shopper, filters=filters, k=k, chosen=plan.pinned))
                ranked = self.retriever.rank(pools[-1], k)
            for s in ranked:
                seen.setdefault(s.item.id, s)
        return list(seen.values()), (pools[-1].merged(pools[:-1]) if pools else None)

    def _history(self, shopper: str | None, cands: list[ScoredItem], pool: Any = None) -> list[tuple[Item, Event]]:
        """The shopper's RELEVANT history (``relevant_history``) for the prompts of this turn."""
        if not shopper:
            return []
        # the pool already holds the relevant history items: no catalog read per matched item
        known = {it.id: it for it, *_ in (pool.history if pool is not None else [])}
        return relevant_history(shopper, cands, list(self.retriever.history(shopper, HISTORY_N)),
                                lambda i: known.get(i) or self.retriever.item(i))

    def _rank(self, plan: TurnPlan, cands: list[ScoredItem], history: list[tuple[Item, Event]],
              timings: dict[str, float]) -> list[ScoredItem]:
        cfg = self.config.assistant
        usable = [s for s in cands if s.item.in_stock and not excluded_by(s.item, plan.constraints.exclude)]
        top = usable[: cfg.llm_candidates]
        probs = None
        weight = cfg.weight_for(bool(history))
        if cfg.fusion and weight > 0 and len(top) >= 2:
            request = plan.extra_query or plan.query
            probs = rank_scores(self.generator, scoring_mode(cfg.llm_scoring, self.generator), request, top, history)
        return fuse(usable, probs, weight=weight)

    def _rescorer(self, plan: TurnPlan, shopper: str | None, turn_pool: Any = None) -> Any:
        rescore = getattr(self.retriever, "rescore", None)
        if rescore is None:
            return None
        # with the turn's pool the Retriever re-ranks in numpy: nothing is embedded or read per pick
        extra = {"pool": turn_pool} if turn_pool is not None else {}

        def run(pool: list[ScoredItem], chosen: list[Item]) -> list[ScoredItem]:
            fresh = {s.item.id: s for s in rescore(pool, plan.query, shopper=shopper, chosen=chosen, **extra)}
            # keep the fused order's scale: add the complement/substitute change the reranker sees
            return [ScoredItem(s.item, s.score + _delta(s, fresh.get(s.item.id)), s.breakdown,
                               {**s.evidence, **(fresh[s.item.id].evidence if s.item.id in fresh else {})})
                    for s in pool]
        return run

    def _result(self, asm: Assembly, plan: TurnPlan, ranked: list[ScoredItem],
                history: list[tuple[Item, Event]]) -> BundleResult:
        c = plan.constraints
        # a reason may only name an item the shopper sees: one in the bundle or in their history
        known = {s.item.id for s in asm.items} | {it.id for it, _ in history}

        def title_of(item_id: str) -> str | None:
            return self._title_of(item_id) if item_id in known else None

        lines = [BundleLine(id=s.item.id, title=s.item.title, price=s.item.price,
                            currency=s.item.currency or c.currency, reason=_asked_for(s.item, c) or
                            item_reason(s, plan.query, title_of),
                            category=s.item.category_path, image_url=s.item.image_url, score=round(s.score, 6),
                            breakdown=dict(s.breakdown)) for s in asm.items]
        return BundleResult(items=lines, total=asm.total, currency=c.currency, constraints=c,
                            ranked=[s.item.id for s in ranked[:RANKED_N]], message=asm.message, unmet=asm.unmet)

    def _title_of(self, item_id: str) -> str | None:
        it = self.retriever.item(item_id)
        return it.title if it else None

    # ---- explanation ----------------------------------------------------------------------------------
    def _explain(self, result: BundleResult, plan: TurnPlan, history: list[tuple[Item, Event]], explain: bool,
                 timings: dict[str, float], t0: float) -> Iterator[TurnEvent]:
        fallback = deterministic_explanation(result.items, result.total, plan.constraints, plan.query,
                                             result.message)
        result.explanation, result.grounded, result.explanation_source = fallback, True, "deterministic"
        if not explain or not result.items:
            return
        t = time.perf_counter()
        deadline = t0 + self.config.assistant.turn_time_budget_s
        messages = explain_messages(plan.query, result.items, result.total, plan.constraints, history)
        gate = SentenceGate(self._facts(result, plan, history))  # only checked sentences reach the shopper
        failure, started = "", False
        try:
            gcfg = self.config.assistant.generator
            for piece in self.generator.stream(messages, gcfg.max_new_tokens, no_repeat_ngram=gcfg.no_repeat_ngram):
                if not started:
                    timings["first_token"], started = _ms(t0), True
                if shown := gate.feed(piece):
                    yield TurnEvent("token", {"text": shown})
                if gate.problems:
                    break  # nothing after a refused sentence can be shown: stop generating
                if time.perf_counter() > deadline:
                    failure = "ran out of time"
                    break
        except RuntimeError as exc:  # model misbehaviour is handled: the deterministic text stands
            log.warning("explanation generation failed: %s", exc)
            failure = f"generation failed: {exc}"
        if not failure and not gate.problems and (rest := gate.finish()):
            yield TurnEvent("token", {"text": rest})
        timings["explain"] = _ms(t)
        result.problems = gate.problems + ([failure] if failure else [])
        if gate.checked:
            result.explanation, result.explanation_source = gate.checked, "model"
        else:
            log.info("explanation replaced by the deterministic one: %s", "; ".join(result.problems))
            result.grounded, result.explanation_source = False, "fallback"

    def _facts(self, result: BundleResult, plan: TurnPlan, history: list[tuple[Item, Event]]) -> Facts:
        from assistant.prompting import format_history

        c = plan.constraints
        chosen = {ln.id for ln in result.items}
        others = [self._title_of(i) or "" for i in result.ranked if i not in chosen]
        context = [plan.query, format_history(history)]
        nums = [float(x) for x in (c.budget_min, c.people, c.size) if x is not None]
        return Facts(titles=[ln.title for ln in result.items], prices=[ln.price for ln in result.items],
                     total=result.total, budget=c.budget, currency=result.currency, context=context,
                     others=[o for o in others if o], numbers=nums)

    def _finish_empty(self, state: ConversationState, plan: TurnPlan, message: str, timings: dict[str, float],
                      t0: float, text: str) -> Iterator[TurnEvent]:
        result = BundleResult(items=[], total=0.0, currency=self.currency, constraints=plan.constraints,
                              explanation=text, message=text)
        yield TurnEvent("bundle", {"result": result.to_dict()})
        result.timings_ms = {**timings, "total": _ms(t0)}
        state.turns = (state.turns + [{"role": "user", "content": message},
                                      {"role": "assistant", "content": text}])[-12:]
        yield _done(result, state)

    # ---- invariants -----------------------------------------------------------------------------------
    def _check_invariants(self, result: BundleResult, plan: TurnPlan) -> None:
        """Hard rules, re-checked against the catalog at the end of every turn (raise = a bug in bundlebot)."""
        c, ids = plan.constraints, [ln.id for ln in result.items]
        if len(set(ids)) != len(ids):
            raise InvariantError(f"duplicate items in the bundle: {ids}")
        for ln in result.items:
            item = self.retriever.item(ln.id)
            if item is None or not item.in_stock:
                raise InvariantError(f"bundle item {ln.id} is not an in-stock item of shop {self.shop}")
            if ln.price != item.price or ln.title != item.title:
                raise InvariantError(f"bundle line {ln.id} does not match the catalog ({ln.price} vs {item.price})")
            if ln.id in plan.rejected or excluded_by(item, c.exclude):
                raise InvariantError(f"bundle item {ln.id} was rejected or excluded")
        prices = [ln.price * ln.quantity for ln in result.items if ln.price is not None]
        if len(prices) == len(ids) and result.total != round(sum(prices), 2):
            raise InvariantError(f"total {result.total} is not the sum of catalog prices {sum(prices)}")
        if c.budget is not None and (result.total is None or result.total > c.budget + 1e-9):
            raise InvariantError(f"total {result.total} exceeds the budget {c.budget}")


def _budget_note(message: str, stated: Constraints, c: Constraints, shop_currency: str | None) -> str:
    """What the shopper must be told about their budget: one that could not be used, or one read in the
    shop's currency although they wrote another (prices are never converted)."""
    from assistant.parse import budget_problem

    if stated.budget is None:
        return budget_problem(message) or ""
    if shop_currency and stated.currency and stated.currency != shop_currency:
        return (f"Prices here are in {shop_currency} and are not converted: the budget of "
                f"{money(stated.budget, stated.currency)} was read as {money(c.budget, shop_currency)}.")
    return ""


def _asked_for(item: Item, c: Constraints) -> str | None:
    from assistant.text import matches_term

    term = next((m for m in c.must_have if matches_term(item.title, m)), None)
    return f"the {term} you asked for" if term else None


def _in_slots(items: list[ScoredItem], slots: list[str]) -> list[ScoredItem]:
    """Keep the previous display order; new items take the places of the items they replace."""
    if not slots:
        return items
    by_id = {s.item.id: s for s in items}
    new = [s for s in items if s.item.id not in slots]
    out = []
    for i in slots:
        if i in by_id:
            out.append(by_id[i])
        elif new:
            out.append(new.pop(0))
    return out + new


def _delta(old: ScoredItem, new: ScoredItem | None) -> float:
    if new is None:
        return 0.0
    return sum(new.breakdown.get(k, 0.0) - old.breakdown.get(k, 0.0) for k in ("complement", "substitute"))


def _done(result: BundleResult, state: ConversationState) -> TurnEvent:
    ev = TurnEvent("done", {"result": result.to_dict(), "state": state.to_dict(),
                            "explanation": result.explanation, "grounded": result.grounded,
                            "replaced": result.explanation_source == "fallback", "problems": result.problems})
    ev.objects = {"result": result, "state": state}  # type: ignore[attr-defined]  # data stays plain JSON
    return ev


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000.0, 2)


def summarize(c: Constraints) -> str:
    """Parsed constraints for display: 'budget £25.00 · 6 people · occasion: tea party · no candles'."""
    parts = []
    if c.budget is not None:
        lo = f"{money(c.budget_min, c.currency)}–" if c.budget_min is not None else ""
        parts.append(f"budget {lo}{money(c.budget, c.currency)}")
    if c.size:
        parts.append(f"{c.size} items")
    if c.people:
        parts.append(f"{c.people} people")
    # client text is shown back only when it is plain words that promise nothing (echoable)
    for name in ("occasion", "recipient"):
        if getattr(c, name) and echoable(getattr(c, name)):
            parts.append(f"{name}: {getattr(c, name)}")
    parts += [f"no {x}" for x in c.exclude if echoable(x)] + [f"must include {m}" for m in c.must_have
                                                               if echoable(m)]
    if c.query and echoable(c.query):
        parts.append(f"looking for: {c.query}")
    return " · ".join(parts) or "no constraints"


def relevant_history(shopper: str, cands: Sequence[ScoredItem], recent: Sequence[tuple[Item, Event]],
                     lookup: Callable[[str], Item | None], n: int = HISTORY_N) -> list[tuple[Item, Event]]:
    """The history lines of the prompts: items the reranker matched to the top 20 candidates (their
    ``history_item`` evidence), then the ``recent`` ones, at most ``n``. Shared by the service, the training
    data and ``finetune.measure``, so the model is trained and measured on the history it is served."""
    out: dict[str, tuple[Item, Event]] = {}
    for s in cands[:20]:
        hid = s.evidence.get("history_item")
        if hid and str(hid) not in out and (it := lookup(str(hid))) is not None:
            out[str(hid)] = (it, Event(shopper, it.id, float(s.evidence.get("history_ts") or 0.0)))
    for it, ev in recent:
        out.setdefault(it.id, (it, ev))
    return list(out.values())[:n]
