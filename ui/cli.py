"""CLI of the ui stage: ``bundlebot serve`` (UI + API in one server) and ``bundlebot shopper-token``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from bundlebot.cli import ConfigOption


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
    app.command("shopper-token")(token_command)


def serve_command(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1; non-loopback needs "
                                                  "API keys).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 7860).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (>1 needs the Chroma server "
                                                     "store).")] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the Gradio chat UI, the widget API, /widget.js and /docs.

    Example: bundlebot serve --port 7860   (then open http://127.0.0.1:7860, or /demo-shop for the widget)
    """
    import uvicorn

    from bundlebot.config import load_config
    from ui.security import check_bind

    cfg = load_config(config)
    host, port = host or cfg.server.host, port or cfg.server.port
    workers = workers or cfg.server.workers
    check_bind(cfg.server, host, workers, cfg.retrieval.store.mode)
    typer.echo(f"bundlebot: UI http://{host}:{port}/  widget demo /demo-shop  API docs /docs")
    if workers == 1:
        from ui.api import create_app

        uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning")
        return
    if config:  # each worker process loads the same config from the environment
        os.environ["BUNDLEBOT_CONFIG"] = str(Path(config).resolve())
    uvicorn.run("ui.api:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


def token_command(
    shop: Annotated[str, typer.Option(help="The shop the token is for.")],
    shopper: Annotated[str, typer.Option(help="The shopper id (as in the shop's history).")],
    ttl: Annotated[int, typer.Option(help="Seconds until it expires.")] = 900,
    config: ConfigOption = None,
) -> None:
    """Print a signed shopper token (what a shop's backend would hand its page), for testing.

    Example: BUNDLEBOT_SHOPPER_SECRET=s3cret bundlebot shopper-token --shop demo --shopper 12347
    """
    from bundlebot.config import load_config
    from bundlebot.errors import ConfigError
    from ui.security import sign_shopper_token

    secret = load_config(config).server.shopper_token_secret
    if not secret:
        raise ConfigError("no shopper secret configured", hint="set BUNDLEBOT_SHOPPER_SECRET")
    typer.echo(sign_shopper_token(secret, shop, shopper, ttl))
