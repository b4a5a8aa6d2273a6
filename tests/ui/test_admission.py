"""Admission control: short waits queue, long ones are refused at once with the expected wait."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.ui.conftest import LiveServer, auth, keyed_config
from tests.ui.fakes import fake_factory
from ui.admission import Admission
from ui.api import create_app
from ui.security import BusyError


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_expected_wait_counts_rounds_of_slots():
    gate = Admission(max_concurrent=2, max_wait_s=100, turn_s=4.0)

    async def scenario() -> list[float]:
        seen = [gate.expected_wait_s()]
        for _ in range(2):
            await gate.enter()
            seen.append(gate.expected_wait_s())
        waiters = [asyncio.create_task(gate.enter()) for _ in range(3)]
        await asyncio.sleep(0)
        seen.append(gate.expected_wait_s())  # 2 running + 3 waiting: the newcomer is 4th in line
        for _ in range(5):
            gate.leave(4.0)
            await asyncio.sleep(0)
        await asyncio.gather(*waiters)
        return seen

    assert run(scenario()) == [0.0, 0.0, 4.0, 8.0]


def test_refuses_at_once_when_the_wait_passes_the_bound_and_serves_the_queue_in_order():
    gate = Admission(max_concurrent=1, max_wait_s=5.0, turn_s=2.0)
    order: list[int] = []

    async def turn(i: int) -> None:
        await gate.enter()
        order.append(i)
        await asyncio.sleep(0.01)
        gate.leave(2.0)

    async def scenario() -> tuple[int, float]:
        await gate.enter()  # holds the slot
        queued = [asyncio.create_task(turn(i)) for i in range(2)]  # waits of 2 s and 4 s: within 5 s
        await asyncio.sleep(0)
        with pytest.raises(BusyError) as refused:
            await gate.enter()  # 6 s expected: refused without waiting
        gate.leave(2.0)
        await asyncio.gather(*queued)
        return refused.value.status, refused.value.retry_after

    assert run(scenario()) == (429, 6)
    assert order == [0, 1] and gate.running == 0 and gate.waiting == 0


def test_a_wrong_estimate_still_ends_in_busy_not_a_hang():
    gate = Admission(max_concurrent=1, max_wait_s=0.05, turn_s=0.01)  # believes turns are instant

    async def scenario() -> BusyError:
        await gate.enter()
        with pytest.raises(BusyError) as late:
            await gate.enter()  # admitted by the estimate, but the slot never frees within the bound
        return late.value

    err = run(scenario())
    assert err.code == "busy" and err.retry_after >= 1 and gate.waiting == 0 and gate.running == 1


def test_the_average_follows_recent_turns():
    gate = Admission(max_concurrent=1, max_wait_s=60, turn_s=5.0)

    async def scenario() -> float:
        for _ in range(20):
            await gate.enter()
            gate.leave(1.0)
        return gate.turn_s

    assert run(scenario()) == pytest.approx(1.0, abs=0.01)


def test_sixteen_streamed_chats_over_http_end_in_a_bundle_or_a_well_formed_429(tmp_path):
    """Over a real loopback server: no chat is queued into a timeout; the excess is told when to return."""
    cfg = keyed_config(tmp_path, max_concurrent_turns=2, queue_timeout_s=5.0, turn_time_budget_s=30.0)
    app = create_app(cfg, assistant_factory=fake_factory(), ui=False, warm=False)
    body = {"model": "bundlebot", "stream": True, "messages": [{"role": "user", "content": "slow tea £20"}]}

    async def chat(client: httpx.AsyncClient, url: str) -> tuple[int, str | None, list[str]]:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body,
                                 headers=auth("sk-a-secret")) as r:
            lines = [ln async for ln in r.aiter_lines() if ln.startswith(("data: ", "{"))]
            return r.status_code, r.headers.get("retry-after"), lines

    async def load(url: str) -> list[tuple[int, str | None, list[str]]]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(chat(client, url) for _ in range(16)))

    with LiveServer(app) as server:
        results = asyncio.run(load(server.url))
    served = [lines for status, _, lines in results if status == 200]
    refused = [(after, lines) for status, after, lines in results if status == 429]
    assert len(served) + len(refused) == 16, [r[0] for r in results]
    assert len(served) >= 2 and refused  # the two slots plus what fits the 5 s queue; the rest refused
    for lines in served:
        assert lines[-1] == "data: [DONE]" and not any('"error"' in ln for ln in lines), lines[-3:]
    for after, lines in refused:
        assert after is not None and after.isdigit() and int(after) >= 1
        assert json.loads(lines[0])["error"]["code"] == "busy", lines
