"""A fast fake of the assistant service and retriever with the real interfaces (for speed only; the real
service runs in test_real_service.py). Each shop gets its own catalog, so cross-shop leaks are visible."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from assistant.types import BundleLine, BundleResult, Constraints, ConversationState, TurnEvent
from bundlebot.config import AppConfig
from bundlebot.errors import RequestError
from retrieval.types import Event, Item
from tests.assistant import fakes as assistant_fakes
from ui.runtime import ShopRuntime

XSS = '<img src=x onerror="window.__pwned=1">'


def catalog(shop: str) -> list[Item]:
    names = ["TEAPOT", "CAKE STAND", "NAPKINS", "BUNTING", "CANDLE", "MUG SET"]
    return [Item(id=f"{shop}-{i}", title=f"{shop.upper()} {n}", price=2.0 + i, currency="GBP",
                 category=("home",)) for i, n in enumerate(names)]


class FakeRetriever(assistant_fakes.FakeRetriever):
    """The assistant tests' fake retriever over this shop's catalog, its history kept by ``FakeStore``."""

    def __init__(self, shop: str) -> None:
        super().__init__(catalog(shop))

    def history(self, shopper: str, n: int | None = None) -> list[tuple[Item, Event]]:
        h = [(self.items[e.item_id], e) for e in self.store.events if e.shopper_id == shopper]
        return h[:n] if n else h


class FakeAssistant:
    """Budget from '£N', size from 'N items'; 'remove #N' edits the state; 'boom' fails, 'slow' sleeps."""

    def __init__(self, shop: str, retriever: FakeRetriever, delay_s: float = 0.0) -> None:
        self.shop, self.retriever, self.delay_s = shop, retriever, delay_s
        self.calls: list[tuple[str, str | None]] = []

    def warm(self) -> None:
        self.retriever.warm()

    def turn_stream(self, message: str, state: ConversationState | None = None,
                    shopper: str | None = None) -> Iterator[TurnEvent]:
        self.calls.append((message, shopper))
        if "boom" in message:
            raise RuntimeError("internal detail that must not leak")
        if "junk" in message:  # the real service reports a shopper's mistake as an error event
            yield TurnEvent.failed(RequestError("message has no shopping request", hint="say what you need"))
            return
        state = state or ConversationState(shop=self.shop, shopper=shopper)
        c = self._constraints(message, state)
        yield TurnEvent("constraints", {"constraints": c.to_dict(), "edit": "new", "summary": ""})
        ids = self._choose(message, state, c)
        lines = [self._line(self.retriever.items[i], shopper) for i in ids]
        total = round(sum(ln.price or 0 for ln in lines), 2)
        expl = f"A bundle of {len(lines)} for your request. {XSS if 'xss' in message else ''}".strip()
        result = BundleResult(items=lines, total=total, currency="GBP", constraints=c, explanation=expl)
        yield TurnEvent("bundle", {"result": result.to_dict()})
        for word in re.findall(r"\S+\s*", expl):
            if "slow" in message:
                time.sleep(0.3)
            time.sleep(self.delay_s)
            yield TurnEvent("token", {"text": word})
        state.constraints, state.bundle, state.shopper = c, ids, shopper
        state.turns = (state.turns + [{"role": "user", "content": message},
                                      {"role": "assistant", "content": expl}])[-10:]
        yield TurnEvent.finished(result, state, explanation=expl, grounded=True, replaced=False, problems=[])

    def turn(self, message: str, state: ConversationState | None = None,
             shopper: str | None = None) -> tuple[BundleResult, ConversationState]:
        events = list(self.turn_stream(message, state, shopper))
        b, done = events[1].data["result"], events[-1].data
        lines = [BundleLine(**ln) for ln in b["items"]]
        res = BundleResult(lines, b["total"], b["currency"], Constraints.from_dict(b["constraints"]),
                           explanation=done["explanation"])
        return res, ConversationState.from_dict(done["state"])

    def _constraints(self, message: str, state: ConversationState) -> Constraints:
        c = Constraints(query=message)
        if m := re.search(r"£\s*(\d+)", message):
            c.budget = float(m.group(1))
        elif state.constraints.budget is not None:
            c.budget = state.constraints.budget
        if m := re.search(r"(\d+)\s+items", message):
            c.size = int(m.group(1))
        return c

    def _choose(self, message: str, state: ConversationState, c: Constraints) -> list[str]:
        if m := re.search(r"remove #(\d+)", message):
            drop = int(m.group(1)) - 1
            return [i for k, i in enumerate(state.bundle) if k != drop]
        ids, total = [], 0.0
        for it in self.retriever.items.values():
            if len(ids) >= (c.size or 3):
                break
            if c.budget is None or total + (it.price or 0) <= c.budget:
                ids.append(it.id)
                total += it.price or 0
        return ids

    def _line(self, it: Item, shopper: str | None) -> BundleLine:
        bought = any(e.item_id == it.id and e.shopper_id == shopper for e in self.retriever.store.events)
        reason = "you bought it before" if shopper and bought else "fits the party"
        return BundleLine(id=it.id, title=it.title, price=it.price, currency="GBP", reason=reason)


def fake_factory(delay_s: float = 0.0):
    def factory(config: AppConfig, shop: str) -> ShopRuntime:
        retriever = FakeRetriever(shop)
        return ShopRuntime(shop, FakeAssistant(shop, retriever, delay_s), retriever)
    return factory
