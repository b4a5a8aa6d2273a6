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
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from assistant import turn
from assistant.assemble import excluded_by
from assistant.explain import Facts, SentenceGate, deterministic_explanation, explain_messages
from assistant.languages import messages
from assistant.parse import OCCASIONS, RECIPIENTS, clean_message
from assistant.prompting import format_price
from assistant.state import TurnPlan, validate_state
from assistant.text import echoable
from assistant.types import BundleResult, Constraints, ConversationState, TurnEvent
from assistant.wording import summary
from bundlebot.errors import BundlebotError, RequestError
from retrieval.protocol import ShopRetriever
from retrieval.types import Event, Item

if TYPE_CHECKING:
    from bundlebot.config import AppConfig

log = logging.getLogger(__name__)
PARSER_WORDS = frozenset(OCCASIONS) | frozenset(RECIPIENTS.values())
"""What ``parse_request`` can name as an occasion or recipient: bundlebot's words, not the client's."""


class InvariantError(AssertionError):
    """A bundle broke a hard rule: a bug in bundlebot, never a shopper's fault."""


class ShoppingAssistant:
    """One shop's assistant; the generator is loaded lazily once per process and shared by every turn."""

    def __init__(self, config: AppConfig, shop: str, *, generator: Any = None, writer: Any = None,
                 retriever: ShopRetriever | None = None) -> None:
        """``generator`` scores candidates and ``writer`` writes explanations; each is loaded from the config
        on first use (``load_generator``'s tasks: the scoring adapter, and the base model or an explanation
        adapter). A ``generator`` passed without a ``writer`` does both (a test's model, or the grounding
        measurement's base-vs-adapter comparison)."""
        self.config = config
        self.shop = shop
        self._generator = generator
        self._writer = writer if writer is not None else generator
        self._retriever = retriever

    @property
    def retriever(self) -> ShopRetriever:
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
    def writer(self) -> Any:
        """The model that writes explanations: never the scoring adapter (a yes/no model answers "No")."""
        if self._writer is None:
            from assistant.llm import load_generator

            self._writer = load_generator(self.config.assistant.generator, self.config.home_path, task="explain")
        return self._writer

    @property
    def currency(self) -> str | None:
        return self.retriever.currency

    def _knows(self, term: str) -> bool:
        """Does the shop's catalog use every word of ``term`` (may a message name it back)? The lexicon is
        fitted on first use, so only a turn with a term to name pays for it."""
        return self.retriever.lexicon.knows(term)

    # ---- public API -----------------------------------------------------------------------------------
    def turn(self, message: str, state: ConversationState | dict | None = None,
             shopper: str | None = None, *, explain: bool | None = None) -> tuple[BundleResult, ConversationState]:
        """Non-streaming convenience: the final result and the new state (errors raise)."""
        for ev in self.turn_stream(message, state, shopper, explain=explain):
            if ev.error is not None:
                raise ev.error
            if ev.result is not None and ev.state is not None:
                return ev.result, ev.state
        raise AssertionError("a turn ended without a done or error event")

    def turn_stream(self, message: str, state: ConversationState | dict | None = None,
                    shopper: str | None = None, *, explain: bool | None = None) -> Iterator[TurnEvent]:
        """Events of one turn (see the module docstring)."""
        try:
            self._warm(explain)
            t0 = time.perf_counter()  # one-time loading is not part of a turn's latency
            yield from self._turn(message, state, shopper, t0, self.config.assistant.explain
                                  if explain is None else explain)
        except BundlebotError as exc:
            yield TurnEvent.failed(messages.localized_error(exc, _language_of(message, state)))

    def warm(self) -> None:
        """Load now what the first turn would: the retriever (and its catalog copy) and the generator."""
        self._warm(None)
        self.retriever.warm()

    def _warm(self, explain: bool | None) -> None:
        """Open the retriever and load the generator once (they are shared by every later turn)."""
        self.retriever  # noqa: B018
        cfg = self.config.assistant
        if cfg.fusion and max(cfg.weight_for(True), cfg.weight_for(False)) > 0:
            self.generator  # noqa: B018
        if cfg.explain if explain is None else explain:
            self.writer  # noqa: B018

    # ---- the turn -------------------------------------------------------------------------------------
    def _turn(self, message: str, raw_state: Any, shopper: str | None, t0: float,
              explain: bool) -> Iterator[TurnEvent]:
        timings: dict[str, float] = {}
        message = clean_message(message, any_script=True)
        if shopper is not None and (not isinstance(shopper, str) or len(shopper) > 100):
            raise RequestError(f"shopper should be an id of at most 100 characters, got {shopper!r}",
                               hint="pass the shopper id as a string")
        state = validate_state(raw_state, self.shop, self.retriever.item, max_size=self.config.assistant.max_size)
        shopper = shopper if shopper is not None else state.shopper
        state.shopper = shopper
        new_state, plan = turn.plan_turn(message, state, self.retriever, self.config.assistant)
        timings["parse"] = _ms(t0)
        local = messages.translated(plan.lang)
        yield TurnEvent("constraints", {"constraints": plan.constraints.to_dict(), "edit": plan.kind,
                                        "language": plan.lang,
                                        "summary": messages.summarize(plan.lang, plan.constraints) if local
                                        else summarize(plan.constraints, self._knows)})
        if plan.kind == "restart" and not plan.query:
            yield from self._finish_empty(new_state, plan, message, timings, t0,
                                          messages.text(plan.lang, "start_over") if local else
                                          "Okay, starting over. What are you shopping for?")
            return
        result, history = self._bundle(plan, shopper, timings)
        self._check_invariants(result, plan)
        result.language = plan.lang
        if local:  # the generator writes no French or Chinese worth showing: checked templates only
            result.message = " ".join(filter(None, [*(messages.text(plan.lang, k, **v) for k, v in plan.note_keys),
                                                    messages.bundle_message(plan.lang, result.unmet,
                                                                            plan.constraints, len(result.items),
                                                                            plan.size)]))
            explain = False
        yield TurnEvent("bundle", {"result": result.to_dict()})
        yield from self._explain(result, plan, history, explain, timings, t0)
        new_state.bundle = [ln.id for ln in result.items]
        new_state.turns = (new_state.turns + [{"role": "user", "content": message},
                                              {"role": "assistant", "content": result.explanation}])[-12:]
        result.timings_ms = {**timings, "total": _ms(t0)}
        yield _done(result, new_state)

    def _bundle(self, plan: TurnPlan, shopper: str | None,
                timings: dict[str, float]) -> tuple[BundleResult, list[tuple[Item, Event]]]:
        t = time.perf_counter()
        pool = turn.gather(self.retriever, plan, shopper)
        timings["retrieve"] = _ms(t)
        t = time.perf_counter()
        scores = turn.score(lambda: self.generator, self.config.assistant, plan, pool)
        timings["llm_scoring"] = _ms(t)
        t = time.perf_counter()
        result = turn.build(self.retriever, plan, pool, scores, shopper)
        timings["assemble"] = _ms(t)
        return result, pool.history

    def _title_of(self, item_id: str) -> str | None:
        it = self.retriever.item(item_id)
        return it.title if it else None

    # ---- explanation ----------------------------------------------------------------------------------
    def _explain(self, result: BundleResult, plan: TurnPlan, history: list[tuple[Item, Event]], explain: bool,
                 timings: dict[str, float], t0: float) -> Iterator[TurnEvent]:
        facts = self._facts(result, plan, history) if result.items else None
        result.explanation, result.grounded, result.explanation_source = self._plain(result, plan, facts), True, \
            "deterministic"
        if not explain or facts is None:
            return
        t = time.perf_counter()
        deadline = t0 + self.config.assistant.turn_time_budget_s
        messages = explain_messages(plan.query, result.items, facts.statements, plan.constraints.currency)
        gate = SentenceGate(facts)  # only checked sentences reach the shopper
        failure, started = "", False
        try:
            gcfg = self.config.assistant.generator
            for piece in self.writer.stream(messages, gcfg.max_new_tokens, no_repeat_ngram=gcfg.no_repeat_ngram):
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
        if not failure and (rest := gate.finish()):  # finish() releases nothing after a refusal
            yield TurnEvent("token", {"text": rest})
        timings["explain"] = _ms(t)
        result.problems = gate.problems + ([failure] if failure else [])
        if gate.checked:
            result.explanation, result.explanation_source = gate.checked, "model"
        else:
            log.info("explanation replaced by the deterministic one: %s", "; ".join(result.problems))
            result.grounded, result.explanation_source = False, "fallback"

    @staticmethod
    def _plain(result: BundleResult, plan: TurnPlan, facts: Facts | None) -> str:
        """What the shopper reads when no model text is shown: the bundle's facts in a sentence each
        (``assistant.wording``); the item-by-item text where the shop has no kinds to name."""
        if messages.translated(plan.lang):
            text = messages.explanation(facts.evidence, plan.lang) if facts is not None else ""
            joined = ("" if plan.lang == "zh" else " ").join(filter(None, [text, result.message]))
            return joined or messages.bundle_message(plan.lang, ["nothing"], plan.constraints, 0, plan.size)
        if facts is None or not facts.evidence.kinds:
            return deterministic_explanation(result.items, result.total, plan.constraints, plan.query,
                                             result.message)
        text = summary(facts.evidence, [ln.id for ln in result.items])
        return f"{text} {result.message}" if result.message else text

    def _facts(self, result: BundleResult, plan: TurnPlan, history: list[tuple[Item, Event]]) -> Facts:
        """What the explanation may state (the prompt's facts block) and what the check allows."""
        from assistant.facts import explain_facts, shop_lookups

        chosen = {ln.id for ln in result.items}
        others = [self._title_of(i) or "" for i in result.ranked if i not in chosen]
        return explain_facts(result.items, result.total, plan.constraints, plan.query, history, others,
                             **shop_lookups(self.retriever))

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
            if c.max_each is not None and ln.price is not None and ln.price > c.max_each + 1e-9:
                raise InvariantError(f"bundle item {ln.id} costs {ln.price}, over the {c.max_each} each asked")
        prices = [ln.price * ln.quantity for ln in result.items if ln.price is not None]
        if len(prices) == len(ids) and result.total != round(sum(prices), 2):
            raise InvariantError(f"total {result.total} is not the sum of catalog prices {sum(prices)}")
        if c.budget is not None and (result.total is None or result.total > c.budget + 1e-9):
            raise InvariantError(f"total {result.total} exceeds the budget {c.budget}")


def _language_of(message: object, state: object) -> str:
    """The language a refusal is written in: the message's, else the conversation's (an empty message has
    none of its own)."""
    from assistant.languages import detect

    previous = state.language if isinstance(state, ConversationState) else (
        state.get("language") if isinstance(state, dict) else None)
    previous = previous if isinstance(previous, str) else None
    try:
        return detect(message, previous) if isinstance(message, str) else previous or "en"
    except Exception:  # noqa: BLE001 - the refusal itself must never fail
        return "en"


def _done(result: BundleResult, state: ConversationState) -> TurnEvent:
    return TurnEvent.finished(result, state, explanation=result.explanation, grounded=result.grounded,
                              replaced=result.explanation_source == "fallback", problems=result.problems)


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000.0, 2)


def summarize(c: Constraints, known: Callable[[str], bool] | None = None) -> str:
    """Parsed constraints for display: 'budget £25.00 · 6 people · occasion: tea party · no candles'.

    Client text is named only when it is ``echoable`` and ``known`` (the shop's catalog uses every word of
    it, ``Lexicon.knows``); an exclusion or must-have that is not is counted, so the shopper still sees it
    was understood. Occasions and recipients the parser itself names (``parse.OCCASIONS``/``RECIPIENTS``)
    are its own words. Without ``known`` no client term is named.

    >>> c = Constraints(budget=5.0, currency="GBP", exclude=["candles", "takesies backsies"], query="tea")
    >>> summarize(c, known={"candles", "tea"}.__contains__)
    'budget £5.00 · no candles · 1 other exclusion · looking for: tea'
    """
    def named(term: str) -> bool:
        return echoable(term) and known is not None and known(term.strip())

    parts = []
    if c.budget is not None:
        lo = f"{format_price(c.budget_min, c.currency)}–" if c.budget_min is not None else ""
        parts.append(f"budget {lo}{format_price(c.budget, c.currency)}")
    if c.max_each is not None:
        parts.append(f"at most {format_price(c.max_each, c.currency)} each")
    if c.size:
        parts.append(f"{c.size} items")
    if c.people:
        parts.append(f"{c.people} people")
    for name in ("occasion", "recipient"):
        if (v := getattr(c, name)) and (v in PARSER_WORDS or named(v)):
            parts.append(f"{name}: {v}")
    for terms, say, what in ((c.exclude, "no {}", "exclusion"), (c.must_have, "must include {}", "must-have")):
        shown = [say.format(t) for t in terms if named(t)]
        if hidden := len(terms) - len(shown):
            shown.append(f"{hidden} {'other ' if shown else ''}{what}{'s' if hidden > 1 else ''}")
        parts += shown
    if c.query and named(c.query):
        parts.append(f"looking for: {c.query}")
    return " · ".join(parts) or "no constraints"
