"""What the server holds per shop (the assistant service + its retriever) and how a turn runs in it.

A turn is the service's plain generator, run in a worker thread so the event loop stays free, behind a
per-process slot limit (the model is CPU-bound) and a wall-clock budget: when the budget runs out the
client gets an ``error`` event with code ``turn_timeout`` and the generator is closed at its next event.

>>> import asyncio
>>> from assistant.types import TurnEvent
>>> class Slow:
...     def turn_stream(self, message, state=None, shopper=None):
...         yield TurnEvent("constraints", {})
...         import time; time.sleep(0.5)
...         yield TurnEvent("done", {})
>>> runner = TurnRunner(max_concurrent=1, queue_timeout_s=1.0)
>>> async def types():
...     return [ev.type async for ev in runner.events(Slow(), "hi", None, None, budget_s=0.2)]
>>> asyncio.run(types())
['constraints', 'error']
>>> time.sleep(0.4)  # let the abandoned turn finish before the doctest ends
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from assistant.types import ConversationState, TurnEvent
from bundlebot.config import AppConfig
from bundlebot.errors import BundlebotError, InternalError, TurnTimeoutError
from retrieval.protocol import ShopRetriever
from ui.admission import Admission
from ui.completions import MeteredAssistant, Usage, metering

log = logging.getLogger(__name__)
_END = object()


@dataclass
class ShopRuntime:
    """One shop's live objects. ``assistant`` has ``turn_stream``/``turn``/``warm`` (``ShoppingAssistant``);
    ``retriever`` is a ``retrieval.protocol.ShopRetriever`` (its ``store`` takes events and erasures) — the
    real ones or fakes with the same interface."""

    shop: str
    assistant: Any
    retriever: ShopRetriever

    def warm(self) -> None:
        """Open the store, read the exact search's copy of the catalog and load the model now rather than on
        the first shopper's turn."""
        self.assistant.warm()
        self.retriever.warm()


RuntimeFactory = Callable[[AppConfig, str], ShopRuntime]


def default_factory(config: AppConfig, shop: str) -> ShopRuntime:
    """The real thing: the shop's Retriever over the configured store and a ShoppingAssistant on it (the
    metered one: chat completions report the explanation's tokens)."""
    from retrieval.search import Retriever

    retriever = Retriever.open(config, shop)
    return ShopRuntime(shop, MeteredAssistant(config, shop, retriever=retriever), retriever)


class Runtimes:
    """Per-shop runtimes, built once on first use (thread-safe) and kept for the life of the process."""

    def __init__(self, config: AppConfig, factory: RuntimeFactory | None = None) -> None:
        self.config = config
        self.factory = factory or default_factory
        self._cache: dict[str, ShopRuntime] = {}
        self._lock = threading.Lock()
        self.ready: set[str] = set()
        self.errors: dict[str, str] = {}

    def get(self, shop: str) -> ShopRuntime:
        with self._lock:
            if shop not in self._cache:
                self._cache[shop] = self.factory(self.config, shop)
            return self._cache[shop]

    def warm(self, shop: str) -> None:
        """Build and warm ``shop``; remember the failure for /readyz instead of raising."""
        try:
            self.get(shop).warm()
            self.ready.add(shop)
            self.errors.pop(shop, None)
        except Exception as exc:  # noqa: BLE001 - reported by /readyz, the server keeps running
            log.warning("warming shop %s failed: %s", shop, exc)
            self.errors[shop] = str(exc)


class TurnRunner:
    """Runs turns behind admission control (``ui.admission``: queued while the wait is short, 429 busy
    when it is not) and a per-turn time budget."""

    def __init__(self, max_concurrent: int, queue_timeout_s: float) -> None:
        self.admission = Admission(max_concurrent, queue_timeout_s)

    async def start(self, assistant: Any, message: str, state: ConversationState | None,
                    shopper: str | None, *, budget_s: float, usage: Usage | None = None
                    ) -> AsyncIterator[TurnEvent]:
        """Wait for a slot (BusyError when the wait would pass the queue timeout), start the turn, return
        its events.

        The events end after ``done`` or one ``error`` event; they never raise mid-stream. ``usage``, when
        given, counts the turn's generation (``ui.completions``); it is complete when ``done`` arrives.
        """
        await self.admission.enter()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone (shut down): nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            started = time.monotonic()
            try:
                with metering(usage):  # this thread runs the whole turn: the meter sees only this one
                    for event in assistant.turn_stream(message, state, shopper):
                        put(event)
                        if stop.is_set():
                            break
            except BundlebotError as exc:
                put(TurnEvent.failed(exc))
            except Exception:  # our bug: log it, but the shopper sees a stable code, not a trace
                log.exception("turn failed")
                put(TurnEvent.failed(InternalError("the turn failed unexpectedly")))
            finally:
                put(_END)
                with contextlib.suppress(RuntimeError):  # the slot frees when the work really stops
                    loop.call_soon_threadsafe(self.admission.leave, time.monotonic() - started)

        threading.Thread(target=produce, name="bundlebot-turn", daemon=True).start()
        return _drain(queue, time.monotonic() + budget_s, budget_s, stop)

    async def events(self, assistant: Any, message: str, state: ConversationState | None,
                     shopper: str | None, *, budget_s: float) -> AsyncIterator[TurnEvent]:
        """``start`` as one async generator (for callers that need no 503 before streaming)."""
        async for event in await self.start(assistant, message, state, shopper, budget_s=budget_s):
            yield event


async def _drain(queue: asyncio.Queue[Any], deadline: float, budget_s: float,
                 stop: threading.Event) -> AsyncIterator[TurnEvent]:
    try:
        async for event in _until_end(queue, deadline, budget_s):
            yield event
            if event.type in ("done", "error"):
                return
    finally:  # done, timed out, or the client went away: the producer stops at its next event
        stop.set()


async def _until_end(queue: asyncio.Queue[Any], deadline: float, budget_s: float) -> AsyncIterator[TurnEvent]:
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            err = TurnTimeoutError(f"the turn took longer than its {budget_s:g} s budget",
                                   hint="ask for fewer items or retry when the server is less busy")
            yield TurnEvent.failed(err)
            return
        if item is _END:
            yield TurnEvent.failed(InternalError("the turn ended without a result"))
            return
        yield item
