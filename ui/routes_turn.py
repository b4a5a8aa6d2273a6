"""Conversation endpoints: a plain JSON turn, its SSE variant, and OpenAI-compatible chat completions.

All three run the same service generator (``ShoppingAssistant.turn_stream``) through ``TurnRunner``; they
differ only in how events are framed.

SSE of ``/api/v1/turn/stream``: ``event: constraints|bundle|token|done|error`` + ``data: {json}``.
``/v1/chat/completions`` with ``stream=true``: ``chat.completion.chunk`` objects; the first content delta
lists the bundle as text, the model's explanation follows token by token, and the final chunk
(``finish_reason: "stop"``) carries extra fields: ``bundle`` (BundleResult), ``explanation`` (the checked
final text), ``grounded``, and ``bundlebot_state`` (send it back as ``bundlebot_state`` for follow-ups).
Only sentences that passed the fact check are streamed; when none did, the deterministic explanation
arrives as one delta before the final chunk. The chunk that first lists the bundle carries ``bundle`` too,
so cards can appear before the explanation. Errors mid-stream arrive as ``data: {"error": {...}}``
before ``data: [DONE]``.

OpenAI's knobs: ``stream_options.include_usage`` adds ``"usage": null`` to every chunk and, after the final
one, a chunk with ``"choices": []`` and the ``usage`` (as OpenAI's API does; not after an error). ``stop``
(up to 4 strings) ends the text, streamed or not, before the first one (``ui.completions.StopCut``); the
turn itself runs to its end, so ``bundle`` and ``bundlebot_state`` are whole. ``n`` > 1 is a 400
``unsupported_parameter``: a turn has one bundle. ``usage`` counts the explanation's tokens
(``ui.schemas.ChatUsage``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from assistant.types import ConversationState, TurnEvent
from bundlebot.errors import RequestError
from ui import deps
from ui.completions import StopCut, Usage
from ui.format import bundle_text
from ui.schemas import ChatCompletion, ChatRequest, ErrorResponse, TurnRequest, TurnResponse
from ui.security import Principal
from ui.web import SSEResponse, error_payload, sse

router = APIRouter()
Who = Annotated[Principal, Depends(deps.principal)]
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
# Every status an API route answers besides 2xx: 400 body not JSON, 401 no/unknown key, 403 wrong key kind or
# origin, 404 unknown id, 413 body too long, 422 invalid input, 429 rate limit or busy, 503 store / model down,
# 504 turn over its time budget, 507 the disk refused a write (full or read-only data home: events, erasure).
# One table, so a new route cannot forget one.
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorResponse}
                                           for s in (400, 401, 403, 404, 413, 422, 429, 503, 504, 507)}
ERRORS[429] = {"model": ErrorResponse, "headers": RETRY_AFTER,
               "description": "`rate_limited` (the key's or IP's request rate) or `busy` (every turn slot is "
                              "taken for longer than a turn may queue), both with Retry-After."}
ERRORS[503] = {"model": ErrorResponse, "headers": RETRY_AFTER,
               "description": "`store_error` (the vector store is unreachable, with Retry-After) or "
                              "`model_error` (a model that cannot load)."}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _sse_content(event: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 of ``text/event-stream``: the schema is that of ONE parsed event (``event``, ``data``)."""
    item = {"type": "object", "required": ["data"],
            "properties": {"event": event, "data": {"type": "string"}}}
    return {200: {"description": description, "content": {"text/event-stream": {"schema": item}}}}


TURN_EVENTS = _sse_content({"enum": ["constraints", "bundle", "token", "done", "error"]},
                           "Typed events; each `data` is one JSON object.")
CHAT_CHUNKS = _sse_content({"const": "message"},
                           "With stream=true: `chat.completion.chunk` objects, then `[DONE]`; with "
                           "stream_options.include_usage, a last chunk with empty `choices` and the `usage`.")


async def _events(request: Request, who: Principal, message: str, state: dict[str, Any] | None,
                  token: str | None, shopper: str | None, usage: Usage | None = None
                  ) -> AsyncIterator[TurnEvent]:
    """Validate everything up front (errors become HTTP statuses), then stream the turn's events."""
    server = request.app.state.config.server
    message = deps.check_message(message, server.max_message_chars)
    shopper = deps.shopper_of(request, who, token, shopper)
    conv = deps.state_of(state, who, shopper, server.max_message_chars)
    runtime = await deps.runtime_of(request, who)
    # ``start`` waits for a slot before the response begins, so "busy" is a real 429 + Retry-After.
    return await request.app.state.runner.start(runtime.assistant, message, conv, shopper,
                                                budget_s=deps.budget_s(request), usage=usage)


async def _collect(events: AsyncIterator[TurnEvent]) -> dict[str, Any]:
    """The whole turn: constraints, the final bundle, explanation, grounded, state (errors raise)."""
    out: dict[str, Any] = {"bundle": {}, "constraints": {}, "text": []}
    async for ev in events:
        if ev.error is not None:
            raise ev.error
        if ev.type == "constraints":
            out["constraints"] = ev.data.get("constraints", {})
        elif ev.type == "bundle":
            out["bundle"] = ev.data.get("result", {})
        elif ev.type == "token":
            out["text"].append(ev.data.get("text", ""))
        elif ev.type == "done":
            out["done"] = ev.data
            out["bundle"] = ev.data.get("result") or out["bundle"]  # the final one holds the explanation
    return out


def _done_fields(collected: dict[str, Any], shop: str) -> tuple[str, bool, dict[str, Any]]:
    done = collected.get("done") or {}
    explanation = done.get("explanation") or "".join(collected["text"])
    state = done.get("state") or ConversationState(shop=shop).to_dict()
    return explanation, bool(done.get("grounded", True)), state


@router.post("/api/v1/turn", response_model=TurnResponse, responses=ERRORS, tags=["chat"])
async def turn(body: TurnRequest, request: Request, who: Who) -> TurnResponse:
    """One turn as plain JSON: message + state in, bundle + explanation + new state out."""
    events = await _events(request, who, body.message, body.state, body.shopper_token, body.shopper)
    got = await _collect(events)
    explanation, grounded, state = _done_fields(got, who.shop)
    constraints = got["constraints"] or got["bundle"].get("constraints", {})
    return TurnResponse(bundle=got["bundle"], constraints=constraints, explanation=explanation,
                        grounded=grounded, state=state)


@router.post("/api/v1/turn/stream", response_class=SSEResponse, responses=ERRORS | TURN_EVENTS, tags=["chat"])
async def turn_stream(body: TurnRequest, request: Request, who: Who) -> SSEResponse:
    """The same turn as Server-Sent Events: constraints, bundle, token..., done (or error)."""
    events = await _events(request, who, body.message, body.state, body.shopper_token, body.shopper)

    async def frames() -> AsyncIterator[str]:
        async for ev in events:
            yield sse(ev.type, ev.data)

    return SSEResponse(frames(), headers=SSE_HEADERS)


class UnsupportedParameterError(RequestError):
    """An OpenAI parameter the server cannot honour: refused, so a client never reads a different answer
    than it asked for."""

    code = "unsupported_parameter"
    status = 400


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERRORS | CHAT_CHUNKS,
             tags=["openai"])
async def chat_completions(body: ChatRequest, request: Request, who: Who) -> Any:
    """OpenAI-compatible chat: the last user message is the turn; `bundlebot_state` carries the bundle."""
    if body.n is not None and body.n > 1:
        raise UnsupportedParameterError(f"n={body.n} asks for {body.n} answers; only n=1 is supported",
                                        hint="omit n (or send n=1) and ask again for another bundle")
    state = body.bundlebot_state
    if state is None and len(body.messages) > 1:  # no state: keep prior turns as context only
        keep = request.app.state.config.server.max_history_messages
        turns = [{"role": m.role, "content": m.text()} for m in body.messages[:-1]
                 if m.role in ("user", "assistant")][-keep:]
        state = ConversationState(shop=who.shop, turns=turns).to_dict()
    usage = Usage()
    events = await _events(request, who, body.last_user_text(), state, body.shopper_token, None, usage)
    assistant = (await deps.runtime_of(request, who)).assistant  # built by _events: no waiting here

    def counts(explanation: str) -> dict[str, int]:
        return usage.counts(explanation, getattr(assistant, "loaded_tokenizer", None))

    meta = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": body.model}
    frame = Framer(meta, StopCut(body.stops()), body.include_usage())
    if body.stream:
        return SSEResponse(_chunks(events, frame, who.shop, counts), headers=SSE_HEADERS)
    got = await _collect(events)
    explanation, _, new_state = _done_fields(got, who.shop)
    content = frame.cut.cut(bundle_text(got["bundle"]) + ("\n\n" + explanation if explanation else ""))
    message = {"role": "assistant", "content": content, "bundle": got["bundle"]}
    return {**meta, "object": "chat.completion", "bundlebot_state": new_state,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": counts(explanation)}


@dataclass
class Framer:
    """Frames one streamed completion: its chunks (with ``usage: null`` when the usage chunk will follow),
    and the stop sequences every content delta passes through."""

    meta: dict[str, Any]
    cut: StopCut
    include_usage: bool

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        obj = {**self.meta, "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        if self.include_usage:
            obj["usage"] = None
        return sse(None, obj)

    def content(self, text: str, **extra: Any) -> Iterator[str]:
        """A content delta of what ``text`` adds before any stop (none when that is nothing, unless
        ``extra`` must go out)."""
        shown = self.cut.feed(text)
        if shown or extra:
            yield self.chunk({"content": shown}, **extra)

    def usage(self, counts: dict[str, int]) -> str:
        return sse(None, {**self.meta, "object": "chat.completion.chunk", "choices": [], "usage": counts})


async def _chunks(events: AsyncIterator[TurnEvent], frame: Framer, shop: str,
                  counts: Callable[[str], dict[str, int]]) -> AsyncIterator[str]:
    yield frame.chunk({"role": "assistant", "content": ""})
    bundle: dict[str, Any] = {}
    listing = ""
    async for ev in events:
        if ev.type == "bundle":
            bundle = ev.data.get("result", {})
            listing = bundle_text(bundle) + "\n\n"
            for out in frame.content(listing, bundle=bundle):
                yield out
        elif ev.type == "token":
            for out in frame.content(ev.data.get("text", "")):
                yield out
        elif ev.type == "done":
            for out in _final(ev.data, frame, bundle, listing, shop):
                yield out
            if frame.include_usage:
                yield frame.usage(counts(ev.data.get("explanation", "")))
        elif ev.error is not None:
            yield sse(None, error_payload(ev.error))
    yield sse(None, "[DONE]")


def _final(done: dict[str, Any], frame: Framer, bundle: dict[str, Any], listing: str, shop: str) -> Iterator[str]:
    explanation = done.get("explanation", "")
    if done.get("replaced"):  # no model sentence passed the check: nothing was streamed
        yield from frame.content(explanation)
    if rest := frame.cut.finish():
        yield frame.chunk({"content": rest})
    state = done.get("state") or ConversationState(shop=shop).to_dict()
    # ``explanation`` is what the streamed text holds of it: a client may show it instead of the deltas
    shown = frame.cut.cut(listing + explanation)[len(listing):]
    yield frame.chunk({}, "stop", bundle=done.get("result") or bundle, bundlebot_state=state,
                      explanation=shown, grounded=bool(done.get("grounded")))
