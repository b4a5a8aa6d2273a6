"""The one server: the widget/OpenAI-compatible HTTP API, `/widget.js`, a demo shop page and the Gradio UI.

>>> from bundlebot.config import AppConfig
>>> app = create_app(AppConfig(), ui=False)
>>> sorted(p for p in app.openapi()["paths"] if p.startswith("/api"))[:2]
['/api/v1/events', '/api/v1/items/{item_id}']
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

import bundlebot
from bundlebot.config import AppConfig
from bundlebot.errors import BundlebotError, NotFoundError, RequestError
from retrieval.embeddings import shop_embedder_status
from retrieval.ranker import ranker_status
from ui import routes_data, routes_turn
from ui.runtime import RuntimeFactory, Runtimes, TurnRunner
from ui.schemas import Ready
from ui.security import InvalidJSONError, KeyRing, RateLimiter
from ui.web import API_PREFIXES, BodyTooLarge, SecurityMiddleware, error_response

log = logging.getLogger(__name__)

DESCRIPTION = """bundlebot answers a shopping request with a bundle of real catalog items.

* `Authorization: Bearer KEY`: a shop's secret key (backend) or its public widget key (browser).
* Shopper identity comes only from a `shopper_token` signed by the shop's backend
  (`ui.security.sign_shopper_token(secret, shop, shopper_id, ttl_s)`), or from `shopper` with the secret key.
* Errors: `{"error": {"code", "message", "hint"}}` with a stable `code`. `Retry-After` (seconds) comes with
  every error that waiting fixes: 429 `rate_limited` (until the key's or IP's next token), 429 `busy` (every
  turn slot is taken for longer than a turn may queue: the expected wait) and 503 `store_error` (5 s: the
  server reconnects to the store by itself once it is back). An error inside an
  already started stream arrives as an `error` event instead (no header can follow a 200). 507 `disk_error`:
  the server's disk refused a write (full or read-only); nothing stored before was changed, and an operator
  has to free space, so it carries no `Retry-After`.
"""


def create_app(config: AppConfig, *, assistant_factory: RuntimeFactory | None = None,
               ui: bool | None = None, warm: bool = True) -> FastAPI:
    """Build the app. ``assistant_factory(config, shop) -> ShopRuntime`` (default: the real service on the
    configured store); ``ui`` mounts Gradio at ``/`` (default ``config.server.ui``); ``warm`` loads the
    default shop in the background at startup so /readyz turns ready without a first shopper paying."""
    runtimes = Runtimes(config, assistant_factory)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            threading.Thread(target=runtimes.warm, args=(config.server.default_shop,), daemon=True).start()
        yield

    app = FastAPI(title="bundlebot", version=bundlebot.__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.config = config
    app.state.keyring = KeyRing(config.server)
    app.state.limiter = RateLimiter()
    app.state.runtimes = runtimes
    app.state.runner = TurnRunner(config.server.max_concurrent_turns, config.server.queue_timeout_s)
    app.add_middleware(SecurityMiddleware, server=config.server)
    _install_error_handlers(app)
    _install_basic_routes(app)
    app.include_router(routes_turn.router)
    app.include_router(routes_data.router)
    _install_api_fallback(app)  # before Gradio's mount at "/", which would answer every other path
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    if config.server.ui if ui is None else ui:
        from ui.gradio_app import mount

        mount(app, config, runtimes)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BundlebotError)
    async def bundlebot_error(_: Request, exc: BundlebotError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            hint = "send Content-Type: application/json with a JSON body"
            return error_response(InvalidJSONError("request body is not valid JSON", hint=hint))
        first = errs[0] if errs else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(RequestError(f"{where or 'body'}: {first.get('msg', 'invalid')}",
                                           hint="see the schema at /docs"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):
            return error_response(exc.error)
        err = BundlebotError(str(exc.detail))
        err.code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        err.status = exc.status_code
        # keep the exception's own headers: Starlette's 405 carries the Allow list (RFC 9110 requires it)
        return error_response(err, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        err = BundlebotError("internal error")
        err.code = "internal_error"
        return error_response(err)


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _install_api_fallback(app: FastAPI) -> None:
    """Unknown API paths and wrong methods get the JSON error envelope (404 / 405 + Allow), like every
    other API error, instead of whatever the UI mounted at ``/`` would answer."""
    routes = list(app.routes)  # the real ones: the fallbacks are added below

    async def fallback(request: Request) -> JSONResponse:
        path = request.url.path
        allowed = [m for m in ALL_METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL
                                                 for r in routes)]
        if allowed:
            err = BundlebotError(f"{request.method} is not allowed on {path}",
                                 hint=f"use {', '.join(allowed)}")
            err.code, err.status = "method_not_allowed", 405
            return error_response(err, {"Allow": ", ".join(allowed)})
        return error_response(NotFoundError(f"no API endpoint {path}", hint="see the endpoints at /docs"))

    for prefix in API_PREFIXES:
        app.add_api_route(prefix + "{rest:path}", fallback, methods=ALL_METHODS, include_in_schema=False)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated spec plus the bearer-key security every /api and /v1 endpoint enforces."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    spec.setdefault("components", {})["securitySchemes"] = {
        "bearerKey": {"type": "http", "scheme": "bearer",
                      "description": "A shop's secret key (backend) or public widget key (browser)."}}
    for path, ops in spec.get("paths", {}).items():
        for op in ops.values():
            if path.startswith(API_PREFIXES):
                op["security"] = [{"bearerKey": []}]
            _errors_as_json(op)
    app.openapi_schema = spec
    return spec


def _errors_as_json(op: dict[str, Any]) -> None:
    """FastAPI documents a route's extra responses in the route's own media type, so an SSE route's errors
    would read ``text/event-stream``; every error leaves as the JSON envelope (``error_response``)."""
    for status, response in op.get("responses", {}).items():
        content = response.get("content", {})
        if status[:1] in "45" and "text/event-stream" in content:
            content["application/json"] = content.pop("text/event-stream")


def _static(name: str) -> str:
    return resources.files("ui").joinpath("static", name).read_text(encoding="utf-8")


def _install_basic_routes(app: FastAPI) -> None:
    config: AppConfig = app.state.config

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], response_model=Ready, responses={503: {"model": Ready}})
    async def readyz() -> JSONResponse:
        """The default shop's model and store are loaded (503 until then)."""
        rt: Runtimes = app.state.runtimes
        shop = config.server.default_shop
        body: dict[str, Any] = {"ready": shop in rt.ready, "shop": shop}
        body["ranker"], note = ranker_status(config.home_path, shop, config.retrieval.ranker)
        if note:
            body["ranker_note"] = note
        body["embedder"], note = shop_embedder_status(config.home_path, shop, config.retrieval.shop_embedder)
        if note:
            body["embedder_note"] = note
        if shop in rt.errors:
            body["error"] = rt.errors[shop]
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        return Response(_static("widget.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"})

    @app.get("/demo-shop", include_in_schema=False)
    async def demo_shop() -> HTMLResponse:
        """A small shop page embedding the widget with the default shop's widget key (if any)."""
        key = next((k for k, s in config.server.widget_keys.items() if s == config.server.default_shop),
                   "pk_demo")
        html = _static("demo-shop.html").replace('data-key="pk_demo"', f'data-key="{escape(key)}"')
        return HTMLResponse(html, headers={"X-Frame-Options": "DENY"})


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers (``uvicorn --factory ui.api:app_from_env``): config from
    $BUNDLEBOT_CONFIG and the environment, like every other entry point."""
    from bundlebot.config import load_config

    return create_app(load_config())
