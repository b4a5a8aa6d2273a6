"""CLI of the retrieval stage: ``bundlebot index`` and ``bundlebot search``.

Each command parses options, calls library code and formats the result.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bundlebot.cli import ConfigOption
from bundlebot.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("index")(index_command)
    app.command("search")(search_command)


def index_command(
    source: Annotated[str, typer.Option(help="online-retail | instacart | bundlerec-food | bundlerec:PATH | "
                                             "FILE (.csv/.jsonl/.parquet)")],
    shop: Annotated[str, typer.Option(help="Shop (tenant) name: lowercase letters, digits, - and _.")],
    sync: Annotated[bool, typer.Option("--sync", help="Also delete items no longer in the source.")] = False,
    mapping: Annotated[str | None, typer.Option(
        help='Column mapping as JSON, e.g. \'{"id": "sku"}\'.')] = None,
    fit: Annotated[bool, typer.Option("--fit/--no-fit", help="Fit the shop's learned ranker afterwards.")] = True,
    config: ConfigOption = None,
) -> None:
    """Index a catalog (and its shopper history) into a shop, then fit its learned ranker.

    Example: bundlebot index --source online-retail --shop demo
    """
    from bundlebot.config import load_config
    from retrieval.index import index_source

    try:
        column_map = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--mapping should be a JSON object, got {mapping!r}",
                          hint='write --mapping \'{"id": "sku", "title": "name"}\'') from exc
    app = load_config(config)
    report = index_source(app, source, shop, sync=sync, mapping=column_map)
    typer.echo(f"shop {shop}: {report.summary()}")
    if report.rejected:
        typer.echo("rejected rows by reason:")
        for reason, n in report.reasons().items():
            typer.echo(f"  {n:>7,}  {reason}")
        for rej in report.rejected[:10]:
            typer.echo(f"  e.g. {rej}")
    if report.failed:
        typer.secho("no valid item: nothing was indexed, the shop is unchanged",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if fit and not mapping:
        # the CLI composes the stages: fitting reads the turn's own planning (assistant), a layer above
        from finetune.cli import fit_summary
        from finetune.ranker import fit_indexed

        typer.echo(fit_summary(shop, fit_indexed(app, shop, source, unless_current=True)))


def search_command(
    query: Annotated[str, typer.Argument(help="What the shopper asks for.")],
    shop: Annotated[str, typer.Option(help="Shop name.")] = "demo",
    shopper: Annotated[str | None, typer.Option(help="Shopper id: adds history affinity.")] = None,
    max_price: Annotated[float | None, typer.Option(help="Only items at or below this price.")] = None,
    k: Annotated[int, typer.Option(help="How many items to print.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Search a shop's catalog: ranked items with price and score breakdown.

    Example: bundlebot search "tea party" --shop demo --max-price 5
    """
    from bundlebot.config import load_config
    from retrieval.search import Filters, Retriever

    if k <= 0:
        raise ConfigError(f"--k should be positive, got {k}")
    retriever = Retriever.open(load_config(config), shop)
    results = retriever.candidates(query, shopper=shopper, filters=Filters(max_price=max_price), k=k)
    if as_json:
        typer.echo(json.dumps([{"id": s.item.id, "title": s.item.title, "price": s.item.price,
                                "score": s.score, "breakdown": s.breakdown} for s in results], indent=2))
        return
    currency = retriever.currency or ""
    typer.echo(f"{'#':>2}  {'id':<10} {'title':<40} {'price':>9}  {'score':>6}  breakdown")
    for rank, s in enumerate(results, 1):
        price = f"{s.item.price:.2f} {currency}".strip() if s.item.price is not None else "-"
        terms = " ".join(f"{t[:4]}={v:+.2f}" for t, v in s.breakdown.items() if v)
        typer.echo(f"{rank:>2}  {s.item.id:<10} {s.item.title[:40]:<40} {price:>9}  {s.score:6.3f}  {terms}")
    if not results:
        typer.echo("no item matches (try a higher --max-price)")
