"""Request-scoped helpers for the routes: who is calling (key + rate limits + origin), which shopper, which
state. Each raises a BundlebotError that the app turns into a JSON error with a stable code."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from assistant.types import ConversationState
from bundlebot.errors import ForbiddenError, RequestError
from ui.runtime import ShopRuntime
from ui.security import Principal, verify_shopper_token
from ui.web import origin_allowed


def principal(request: Request) -> Principal:
    """Authenticate, rate-limit per key and per IP, and check the page origin against the shop's list."""
    st = request.app.state
    server = st.config.server
    ip = request.client.host if request.client else "unknown"
    st.limiter.check(f"ip:{ip}", server.ip_rate_limit_per_minute)
    who = st.keyring.authenticate(request.headers.get("authorization"))
    st.limiter.check(f"key:{who.key_id}", server.rate_limit_per_minute)
    if not origin_allowed(server, who.shop, request.headers.get("origin"), request.headers.get("host", "")):
        raise ForbiddenError(f"origin {request.headers.get('origin')} is not allowed for shop {who.shop!r}",
                             hint="add it to server.cors_origins for this shop")
    return who


def writer(request: Request) -> Principal:
    """Like ``principal`` but only the shop's backend (secret key, or local mode) may pass."""
    who = principal(request)
    if not who.can_write:
        raise ForbiddenError("a widget key cannot change or erase shopper data",
                             hint="call this endpoint from the shop's backend with its secret key")
    return who


def shopper_of(request: Request, who: Principal, token: str | None, shopper: str | None) -> str | None:
    """The shopper this request may act for: from a signed token, or named directly by a trusted key."""
    token = token or request.headers.get("x-bundlebot-shopper-token")
    if token:
        return verify_shopper_token(request.app.state.config.server.shopper_token_secret, token, who.shop)
    if shopper is not None:
        if not who.can_write:
            raise ForbiddenError("a widget key cannot name a shopper directly",
                                 hint="send a shopper_token signed by the shop's backend")
        return shopper
    return None


def state_of(data: dict[str, Any] | None, who: Principal, shopper: str | None,
             max_chars: int) -> ConversationState | None:
    """The client's state, checked: same shop, and the shopper always the authenticated one (a client
    that edits ``state.shopper`` does not become someone else)."""
    if data is None:
        return None
    for name in ("bundle", "pinned", "rejected"):
        value = data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RequestError(f"state.{name} should be a list of item ids, got {value!r:.80}",
                               hint="send back the `state` the server returned")
    if not isinstance(data.get("constraints", {}) or {}, dict) or not isinstance(data.get("turns", []), list):
        raise RequestError("state.constraints should be an object and state.turns a list",
                           hint="send back the `state` the server returned")
    try:
        state = ConversationState.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise RequestError(f"state is malformed: {exc}",
                           hint="send back the `state` the server returned") from exc
    if state.shop != who.shop:
        raise ForbiddenError(f"state belongs to shop {state.shop!r}, the key is for {who.shop!r}")
    state.shopper = shopper
    return state


def check_message(text: str, max_chars: int) -> str:
    text = text.strip()
    if not text:
        raise RequestError("message is empty", hint="send the shopper's text in `message`")
    if len(text) > max_chars:
        raise RequestError(f"message has {len(text)} characters, the limit is {max_chars}",
                           hint="shorten the message")
    return text


async def runtime_of(request: Request, who: Principal) -> ShopRuntime:
    """The shop's runtime (built on first use, off the event loop: it may load a model)."""
    return await run_in_threadpool(request.app.state.runtimes.get, who.shop)


def budget_s(request: Request) -> float:
    """The hard ceiling of one turn. The service's own budget is soft (past it, it stops generating and
    falls back to a checked deterministic text), so by default the ceiling leaves it room to do that."""
    cfg = request.app.state.config
    return cfg.server.turn_time_budget_s or cfg.assistant.turn_time_budget_s * 1.5 + 5.0
