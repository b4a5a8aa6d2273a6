"""`bundlebot train`: build the data, train the LoRA adapter, merge it for serving."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_CONFIG = Path("finetune/configs/default.toml")
ConfigArg = Annotated[Path, typer.Option("--config", help="Training config (TOML).")]
AppConfigArg = Annotated[Path | None, typer.Option("--app-config", help="App config TOML (home, data, retrieval).")]

train_app = typer.Typer(help="Fine-tune the generator with LoRA on the train splits.", no_args_is_help=False)


def _cfgs(config: Path, app_config: Path | None) -> tuple:
    from bundlebot.config import load_config
    from finetune.config import load_train_config

    return load_train_config(config), load_config(app_config)


@train_app.callback(invoke_without_command=True)
def train_cmd(ctx: typer.Context, config: ConfigArg = DEFAULT_CONFIG, app_config: AppConfigArg = None,
              resume: Annotated[Path | None, typer.Option("--resume", help="Checkpoint folder to resume.")] = None,
              out: Annotated[Path | None, typer.Option("--out", help="Adapter output dir.")] = None) -> None:
    """Train the adapter (builds the data first if needed).

    Example: bundlebot train --config finetune/configs/default.toml --out /tmp/adapter
    """
    if ctx.invoked_subcommand:
        return
    from finetune.pipeline import run

    cfg, app = _cfgs(config, app_config)
    result = run(cfg, app, resume=resume, out=out)
    typer.echo(f"adapter -> {result.out} ({result.steps} steps, {result.wall_s / 60:.1f} min, "
               f"stopped by {result.stopped_by})")
    typer.echo("dev: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items())))


@train_app.command("build-data")
def build_data_cmd(config: ConfigArg = DEFAULT_CONFIG, app_config: AppConfigArg = None,
                   out: Annotated[Path | None, typer.Option("--out", help="Data output dir.")] = None) -> None:
    """Build the training examples + dataset card from the train splits.

    Example: bundlebot train build-data --out /tmp/ftdata
    """
    from finetune.pipeline import base_model, ensure_data

    cfg, app = _cfgs(config, app_config)
    if out is not None:
        cfg.data_out = str(out)
    model_dir, _ = base_model(cfg, app)
    path = ensure_data(cfg, app, model_dir, rebuild=True)
    typer.echo(f"examples + dataset card -> {path}")


@train_app.command("merge")
def merge_cmd(adapter: Annotated[Path, typer.Argument(help="Adapter directory.")],
              out: Annotated[Path, typer.Option("--out", help="Merged model output dir.")],
              app_config: AppConfigArg = None) -> None:
    """Merge an adapter into its base model for serving (checks the logits are unchanged).

    Example: bundlebot train merge finetune/adapters/default --out /tmp/merged
    """
    from bundlebot.config import load_config
    from finetune.pipeline import merge

    diff = merge(adapter, out, load_config(app_config))
    typer.echo(f"merged -> {out} (max |logit diff| {diff:.2e})")


def fit_command(
    shop: Annotated[str, typer.Option(help="The shop whose ranker to fit (indexed already).")],
    source: Annotated[str | None, typer.Option(help="Its source spec (default: the one it was indexed from).")] = None,
    requests: Annotated[int | None, typer.Option(
        help="Train requests drawn from the train split (default: finetune.ranker.TRAIN_REQUESTS).")] = None,
    embedder: Annotated[bool | None, typer.Option(
        "--embedder/--no-embedder", help="Also fine-tune the shop's embedder (default: when "
        "retrieval.embedder_steps > 0; --embedder: 160 steps unless that is set).")] = None,
    embedder_steps: Annotated[int | None, typer.Option(
        help="Its training steps (default: retrieval.embedder_steps, or 160 with --embedder).")] = None,
    app_config: AppConfigArg = None,
) -> None:
    """Fit the shop's embedder and learned ranker on its own train split (dev decides); serving then uses them.

    Example: bundlebot fit --shop demo  (bundlebot fit --shop demo --embedder: with the shop's own embedder)
    """
    from bundlebot.config import load_config
    from finetune.embedder import EMBEDDER_STEPS
    from finetune.ranker import TRAIN_REQUESTS, fit_indexed

    config = load_config(app_config)
    if embedder_steps is not None:
        if embedder_steps < 0:
            raise typer.BadParameter(f"should be 0 or more, got {embedder_steps}", param_hint="--embedder-steps")
        config.retrieval.embedder_steps = embedder_steps
    if embedder is False:
        config.retrieval.shop_embedder = "off"
    elif embedder:
        config.retrieval.shop_embedder = "auto"
        config.retrieval.embedder_steps = config.retrieval.embedder_steps or EMBEDDER_STEPS
    m = fit_indexed(config, shop, source, train_requests=requests or TRAIN_REQUESTS)
    typer.echo(fit_summary(shop, m))


def embedder_summary(e: dict) -> str:
    """One line on the shop's embedder from the ranker manifest's ``embedder`` entry."""
    if not e:
        return ""
    if e.get("status") != "tuned":
        return f"; base embedder ({e.get('reason')})"
    dev = e.get("dev") or {}
    return (f"; tuned embedder, {e.get('pairs')} pairs, {e.get('steps')} steps, {e.get('wall_s', 0):.0f} s, "
            f"dev recall@10 {dev.get('recall@10_tuned')} (base {dev.get('recall@10_base')})")


def fit_summary(shop: str, m: dict) -> str:
    return _ranker_summary(shop, m) + embedder_summary(m.get("embedder") or {})


def _ranker_summary(shop: str, m: dict) -> str:
    if m.get("reused"):
        return f"shop {shop}: its {m.get('status')} ranker is current (same data, index and features); kept"
    if m.get("status") != "learned":
        return f"shop {shop}: keeps the hand-weighted reranker ({m.get('reason')})"
    dev = m.get("dev", {})
    live = f" ({m['feedback_requests']} from shoppers' feedback)" if m.get("feedback_requests") else ""
    return (f"shop {shop}: learned ranker, {m['train_requests']} train requests{live}, {m['rounds']} trees, "
            f"{m['wall_s']:.0f} s; dev recall@10 {dev.get('recall@10_learned')} "
            f"(hand weights {dev.get('recall@10_hand')}, {dev.get('requests')} requests)")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.command("fit")(fit_command)
