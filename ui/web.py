"""HTTP plumbing shared by the routes: JSON errors with stable codes, SSE framing, CORS and body limits.

Every error leaves as ``{"error": {"code", "message", "hint"?, "type"}}`` (the OpenAI client reads
``error.message``), with ``Retry-After`` when waiting helps (429 rate limits and ``busy``, 503 ``store_error``).

>>> sse("bundle", {"items": []})
'event: bundle\\ndata: {"items": []}\\n\\n'
>>> same_origin("http://127.0.0.1:7860", "127.0.0.1:7860"), same_origin("https://evil.example", "a:1")
(True, False)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from bundlebot.config.server import ServerConfig
from bundlebot.errors import BundlebotError, PayloadTooLargeError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIXES = ("/api/", "/v1/")
ALLOW_HEADERS = "authorization, content-type, x-bundlebot-shopper-token"
ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"


def error_payload(exc: BundlebotError) -> dict[str, Any]:
    body = exc.to_dict()
    body["type"] = exc.code
    return {"error": body}


def error_response(exc: BundlebotError, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if exc.retry_after is not None:  # rate limits, a busy server, an unreachable store
        headers["Retry-After"] = str(int(exc.retry_after))
    return JSONResponse(error_payload(exc), status_code=exc.status, headers=headers)


def sse(event: str | None, data: Any) -> str:
    """One Server-Sent Event; ``data`` is JSON on one line (so a newline can never break the framing)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


class SSEResponse(StreamingResponse):
    """A Server-Sent Events stream. As a route's ``response_class`` it makes the spec declare
    ``text/event-stream`` (a plain StreamingResponse leaves FastAPI's default ``application/json``)."""

    media_type = "text/event-stream"


def same_origin(origin: str, host_header: str) -> bool:
    """True when the page's origin is this server (the demo shop page, the Gradio UI)."""
    try:
        return bool(origin) and urlsplit(origin).netloc.lower() == host_header.lower()
    except ValueError:
        return False


def origin_allowed(server: ServerConfig, shop: str, origin: str | None, host_header: str) -> bool:
    """May a browser page at ``origin`` call the API for ``shop``? No Origin = not a browser: yes."""
    if not origin or same_origin(origin, host_header):
        return True
    return origin in server.cors_origins.get(shop, [])


class SecurityMiddleware:
    """CORS (per-shop allow-list; preflight answers the union of all shops' lists, the route then checks
    the key's own shop) and the request body limit, for the API paths only (Gradio guards its own)."""

    def __init__(self, app: ASGIApp, server: ServerConfig) -> None:
        self.app = app
        self.server = server
        self.allowed = {o for origins in server.cors_origins.values() for o in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIXES):
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin, host = headers.get("origin", ""), headers.get("host", "")
        cross = bool(origin) and not same_origin(origin, host)
        if cross and origin not in self.allowed:
            exc = BundlebotError(f"origin {origin} is not allowed to call this API",
                                 hint="add it to server.cors_origins for your shop")
            exc.code, exc.status = "cors_refused", 403
            return await error_response(exc)(scope, receive, send)
        extra = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin"),
                 (b"access-control-expose-headers", b"Retry-After")] if cross else []  # the widget's retry
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            return await self._preflight(extra)(scope, receive, send)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.server.max_body_bytes:
            return await error_response(self._too_large(int(length)), _dict(extra))(scope, receive, send)
        await self._call_limited(scope, receive, send, extra)

    def _preflight(self, extra: list[tuple[bytes, bytes]]) -> Response:
        headers = _dict(extra) | {"Access-Control-Allow-Methods": ALLOW_METHODS,
                                  "Access-Control-Allow-Headers": ALLOW_HEADERS,
                                  "Access-Control-Max-Age": "600"}
        return Response(status_code=204, headers=headers)

    def _too_large(self, size: int | str) -> PayloadTooLargeError:
        limit = self.server.max_body_bytes
        return PayloadTooLargeError(f"request body is {size} bytes, the limit is {limit}",
                                    hint="send a shorter message or state")

    async def _call_limited(self, scope: Scope, receive: Receive, send: Send,
                            extra: list[tuple[bytes, bytes]]) -> None:
        seen, started = 0, False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.server.max_body_bytes:  # chunked bodies have no Content-Length to check
                raise BodyTooLarge(self._too_large(f"more than {seen}"))
            return msg

        async def send_with_cors(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
                msg["headers"] = list(msg.get("headers", [])) + extra
            await send(msg)

        try:
            await self.app(scope, limited_receive, send_with_cors)
        except BodyTooLarge as exc:  # raised outside a route (a route's reader is answered by the app)
            if started:
                raise
            await error_response(exc.error, _dict(extra))(scope, receive, send)


class BodyTooLarge(StarletteHTTPException):
    """Raised while reading a too-long body; an HTTPException so FastAPI's body parser lets it through."""

    def __init__(self, error: PayloadTooLargeError) -> None:
        super().__init__(status_code=413, detail=error.message)
        self.error = error


def _dict(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in pairs}
