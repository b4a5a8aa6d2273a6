"""The `bundlebot` command line: one typer app; each stage registers its own subcommands.

Subcommands are a few lines each that call library code. Heavy imports (torch, chromadb, transformers)
happen inside the commands, so `bundlebot --help` is instant.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from bundlebot.errors import BundlebotError

app = typer.Typer(
    name="bundlebot",
    help="A conversational shopping assistant that answers with bundles of real catalog items.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML config file (default: $BUNDLEBOT_CONFIG or built-ins).")
]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings; no progress bars.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "chromadb", "urllib3", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if quiet:
        import os

        os.environ["TQDM_DISABLE"] = "1"


STAGE_COMMANDS = ("retrieval.cli", "assistant.cli", "ui.cli", "evaluation.cli", "finetune.cli")
"""Each stage's CLI module (with ``register(app)``), in ``--help`` order. The entry point is the one place
that composes the stages; it names them here and loads them on start, so the core imports none of them."""


def _register_all() -> None:
    import importlib

    for module in STAGE_COMMANDS:  # a missing stage is a broken install: fail, never skip a command
        importlib.import_module(module).register(app)


def main() -> None:
    _register_all()
    try:
        app()
    except BundlebotError as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
