"""Admission control for turns: queue a turn while its wait is short, refuse it at once when it is not.

Turns are CPU-bound, so a process runs at most ``max_concurrent`` at a time; the rest wait in a queue. A
queue without a bound turns overload into timeouts: every shopper waits, and the last ones wait past any
budget. Instead each newcomer is told its expected wait up front, from how many turns are ahead of it and
how long recent turns took (an exponential moving average, so the estimate follows the machine's load):
when that wait exceeds ``max_wait_s`` the request is refused with 429 ``busy`` and a ``Retry-After`` of
about that wait, and a client can come back when a slot is likely free.

>>> import asyncio
>>> async def demo():
...     gate = Admission(max_concurrent=1, max_wait_s=3.0, turn_s=2.0)
...     await gate.enter()           # a free slot: runs at once
...     waiter = asyncio.create_task(gate.enter())   # one turn ahead: expected wait 2 s, queued
...     await asyncio.sleep(0)
...     try:
...         await gate.enter()       # two ahead: 4 s > 3 s, refused now rather than after waiting
...     except BusyError as exc:
...         print(exc.status, exc.retry_after)
...     gate.leave(1.0)
...     await waiter
>>> asyncio.run(demo())
429 4
"""

from __future__ import annotations

import asyncio
import math

from ui.security import BusyError

SMOOTHING = 0.3
"""Weight of the newest turn's duration in the moving average (about the last five turns count)."""


class Admission:
    """Slots plus a bounded, predicted wait; every method runs on the server's event loop."""

    def __init__(self, max_concurrent: int, max_wait_s: float, *, turn_s: float = 5.0) -> None:
        self.max_concurrent = max(1, int(max_concurrent))
        self.max_wait_s = float(max_wait_s)
        self.turn_s = float(turn_s)
        """Recent turns' mean duration in seconds (the prior until the first turn ends)."""
        self.running = 0
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None

    def expected_wait_s(self) -> float:
        """How long a turn arriving now would wait for a slot: 0 while one is free, otherwise the turns
        ahead of it in slot-sized rounds of ``turn_s`` each."""
        ahead = self.running + self.waiting - self.max_concurrent + 1
        return 0.0 if ahead <= 0 else math.ceil(ahead / self.max_concurrent) * self.turn_s

    @staticmethod
    def _busy(wait_s: float, why: str) -> BusyError:
        retry = max(1, math.ceil(wait_s))
        return BusyError(f"{why}; about {retry} s until a slot is free", retry_after=retry)

    async def enter(self) -> None:
        """Take a slot, waiting at most ``max_wait_s``; BusyError (429) at once when the wait would be
        longer, or when the estimate was wrong and the wait ran past the bound."""
        if self._slots is None:  # created lazily: it must belong to the server's event loop
            self._slots = asyncio.Semaphore(self.max_concurrent)
        wait = self.expected_wait_s()
        if wait > self.max_wait_s:
            raise self._busy(wait, f"{self.running} turns running and {self.waiting} waiting")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.max_wait_s)
        except TimeoutError:
            raise self._busy(self.turn_s, f"no turn slot freed within {self.max_wait_s:g} s") from None
        finally:
            self.waiting -= 1
        self.running += 1

    def leave(self, duration_s: float) -> None:
        """Free a slot that was held ``duration_s`` (a turn cut short still held it that long)."""
        assert self._slots is not None, "leave() without enter()"
        self.running -= 1
        if duration_s > 0:
            self.turn_s += SMOOTHING * (duration_s - self.turn_s)
        self._slots.release()
