"""CLI of the assistant stage: ``bundlebot ask`` (one request, or a JSONL batch), ``bundlebot chat`` and
``bundlebot models prepare`` (the generator's model files, plus a check of the retrieval embedder).

Each command parses options, builds one ShoppingAssistant (the model is loaded once) and formats events.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bundlebot.cli import ConfigOption
from bundlebot.errors import BundlebotError, RequestError

if TYPE_CHECKING:
    from assistant.service import ShoppingAssistant
    from assistant.types import BundleResult

ShopOption = Annotated[str, typer.Option(help="Shop name.")]
ShopperOption = Annotated[str | None, typer.Option(help="Shopper id: personalizes with their history.")]
AdapterOption = Annotated[str | None, typer.Option(help="LoRA adapter directory, 'default', or 'none'.")]


models_app = typer.Typer(help="Local models: the default generator and embedder, offline.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask_command)
    app.command("chat")(chat_command)
    app.add_typer(models_app, name="models")


@models_app.command("prepare")
def models_prepare_command(config: ConfigOption = None) -> None:
    """Check the default embedder and convert the default generator GGUF once into a cached model dir.

    Example: bundlebot models prepare
    """
    import time

    from assistant.modelfiles import prepare_default_model
    from bundlebot.config import load_config
    from retrieval.embeddings import make_embedder  # the one embedder factory, so the check is what serves

    cfg = load_config(config)
    t0 = time.perf_counter()
    embedder = make_embedder(cfg.retrieval.embedder)
    dim = embedder.embed("tea party").shape[-1]
    typer.echo(f"embedder  {embedder.name} ready (dim {dim})")
    if cfg.assistant.generator.path:
        typer.echo(f"generator {cfg.assistant.generator.path} (configured; nothing to convert)")
    else:
        path = prepare_default_model(cfg.home_path)
        typer.echo(f"generator SmolLM2-135M-Instruct ready at {path}")
    typer.echo(f"done in {time.perf_counter() - t0:.1f}s")


def _assistant(config: Path | None, shop: str, adapter: str | None, fusion: bool | None) -> ShoppingAssistant:
    from assistant.service import ShoppingAssistant
    from bundlebot.config import load_config

    cfg = load_config(config)
    if adapter is not None:
        cfg.assistant.generator.adapter = None if adapter.lower() == "none" else adapter
    if fusion is not None:
        cfg.assistant.fusion = fusion
    return ShoppingAssistant(cfg, shop)


def result_json(result: BundleResult) -> dict[str, Any]:
    """The one-object JSON answer of ``ask --json`` (and of each ``--batch`` line)."""
    c = result.constraints
    return {
        "items": [{"id": ln.id, "title": ln.title, "price": ln.price, "quantity": ln.quantity, "reason": ln.reason}
                  for ln in result.items],
        "total": result.total, "currency": result.currency,
        "constraints": {"budget": c.budget, "size": c.size, "exclude": c.exclude, "budget_min": c.budget_min,
                        "must_have": c.must_have, "occasion": c.occasion, "recipient": c.recipient,
                        "people": c.people, "query": c.query},
        "explanation": result.explanation, "grounded": result.grounded,
        "explanation_source": result.explanation_source, "problems": result.problems,
        "message": result.message, "unmet": result.unmet, "ranked": result.ranked,
        "timings_ms": result.timings_ms,
    }


def ask_command(
    request: Annotated[str | None, typer.Argument(help="What the shopper asks for.")] = None,
    shop: ShopOption = "demo",
    shopper: ShopperOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    batch: Annotated[Path | None, typer.Option(help="JSONL file of {\"request\", \"shopper\"}: one JSON "
                                                    "answer per line, model loaded once.")] = None,
    adapter: AdapterOption = None,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Deterministic explanation only.")] = False,
    fusion: Annotated[bool | None, typer.Option("--fusion/--no-fusion", help="Fuse the LLM's scores of the top "
                                                "candidates into the ranking (default: the config's "
                                                "assistant.fusion, off).")] = None,
    config: ConfigOption = None,
) -> None:
    """Answer one shopping request with a bundle.

    Example: bundlebot ask "hosting a tea party for six, budget £25" --shop demo --shopper 12347 --json
    """
    bot = _assistant(config, shop, adapter, fusion)
    explain = False if no_explain else None
    if batch is not None:
        _run_batch(bot, batch, explain)
        return
    if not request:
        raise RequestError("no request given", hint='bundlebot ask "a tea party for six under £25" --shop demo')
    if as_json:
        result, _ = bot.turn(request, shopper=shopper, explain=explain)
        typer.echo(json.dumps(result_json(result), ensure_ascii=False))
        return
    _print_turn(bot, request, None, shopper, explain)


def _run_batch(bot: ShoppingAssistant, path: Path, explain: bool | None) -> None:
    if not path.is_file():
        raise RequestError(f"batch file {path} does not exist", hint="pass a JSONL file of {\"request\", ...}")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                request, shopper = row["request"], row.get("shopper")
                result, _ = bot.turn(request, shopper=None if shopper is None else str(shopper), explain=explain)
                out = result_json(result)
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                out = {"error": {"code": "bad_request", "message": f"line {n}: {exc!r}"}}
            except BundlebotError as exc:
                out = {"error": exc.to_dict()}
            typer.echo(json.dumps(out, ensure_ascii=False))


def _print_turn(bot: ShoppingAssistant, message: str, state: Any, shopper: str | None,
                explain: bool | None) -> Any:
    """Stream one turn to the terminal; returns the new state (None after an error)."""
    new_state = None
    for ev in bot.turn_stream(message, state, shopper, explain=explain):
        if ev.type == "constraints":
            typer.secho(f"Understood: {ev.data['summary']}", fg=typer.colors.CYAN)
        elif ev.type == "bundle":
            typer.echo(format_bundle(ev.data["result"]))
        elif ev.type == "token":
            typer.echo(ev.data["text"], nl=False)
            sys.stdout.flush()
        elif ev.type == "done":
            d = ev.data
            if d["replaced"]:
                typer.echo("")
                typer.secho("[no model sentence passed the check: " + "; ".join(d["problems"]) + "]",
                            fg=typer.colors.YELLOW)
            if d["replaced"] or d["result"]["explanation_source"] == "deterministic":
                typer.echo(d["explanation"])
            else:
                typer.echo("")
            new_state = d["state"]
        elif ev.type == "error":
            typer.secho(f"Sorry: {ev.data['message']}" + (f" ({ev.data['hint']})" if ev.data.get("hint") else ""),
                        fg=typer.colors.RED)
    return new_state


def format_bundle(r: dict[str, Any]) -> str:
    """The bundle as a small table with reasons and the total against the budget."""
    from assistant.prompting import format_price

    lines = []
    for i, it in enumerate(r["items"], 1):
        qty = it.get("quantity", 1)
        title = (f"{qty} x " if qty > 1 else "") + it["title"]  # the price is per unit; the total counts them all
        lines.append(f"{i:>2}. {title[:42]:<42} {format_price(it['price'], it['currency']):>10}  {it['reason']}")
    budget = r["constraints"].get("budget")
    total = f"    {'total':<42} {format_price(r['total'], r['currency']):>10}"
    if budget is not None:
        total += f"  (budget {format_price(budget, r['currency'])})"
    lines.append(total if r["items"] else "    (no items)")
    if r.get("message"):
        lines.append(f"Note: {r['message']}")
    return "\n".join(lines)


def chat_command(
    shop: ShopOption = "demo",
    shopper: ShopperOption = None,
    adapter: AdapterOption = None,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Deterministic explanation only.")] = False,
    config: ConfigOption = None,
) -> None:
    """Talk to the assistant in the terminal; follow-ups edit the bundle ("swap the second one for something
    cheaper", "remove the candle", "add a card", "start over"). Empty line, 'quit' or Ctrl-D ends.

    Example: bundlebot chat --shop demo --shopper 12347
    """
    bot = _assistant(config, shop, adapter, None)
    explain = False if no_explain else None
    state = None
    typer.echo("What are you shopping for? (empty line or 'quit' to stop)")
    for raw in sys.stdin:
        message = raw.strip()
        if not message or message.lower() in ("quit", "exit", "bye"):
            break
        typer.secho(f"> {message}", fg=typer.colors.GREEN)
        state = _print_turn(bot, message, state, shopper, explain) or state
