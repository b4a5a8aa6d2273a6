"""`bundlebot eval`: run evaluation suites; `bundlebot eval build-suites`: generate the standard suites."""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from bundlebot.cli import ConfigOption

DEFAULT_VARIANTS = ["popularity", "personal-popularity", "embedding", "reranker", "base", "lora", "llm-only"]


def _config(config: Path | None):  # type: ignore[no-untyped-def]
    from bundlebot.config import load_config

    return load_config(config)


def generated_dir(home: Path, split: str) -> Path:
    """Where `build-suites` writes (and `eval` looks for) the generated suites of a split."""
    return home / "eval" / "suites" / split


Suites = Annotated[list[str] | None, typer.Option(
    "--suite", "-s", help="Suite name or .jsonl path; repeat for several; 'standard' = all six.")]
Variants = Annotated[list[str] | None, typer.Option(
    "--variant", help="Variant(s) to compare; default: " + ", ".join(DEFAULT_VARIANTS)
    + " (also: llm-only-lora, target).")]
Limit = Annotated[int | None, typer.Option(
    help="Cases per suite (a fixed spread sample); default: the suite's default, 0 = all.")]
Split = Annotated[str, typer.Option(help="Generated suites of this split: test (reported) or dev (tuning).")]
Target = Annotated[str | None, typer.Option(help="URL of a running bundlebot; adds the variant 'target'.")]
Key = Annotated[str | None, typer.Option(help="API key for --target (default $BUNDLEBOT_EVAL_KEY).")]
Explain = Annotated[bool | None, typer.Option(
    "--explain/--no-explain", help="Generate explanations (default: for suites whose checks read them).")]
Out = Annotated[Path | None, typer.Option(help="Output folder (default <home>/eval/<timestamp>).")]
Plots = Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")]
Data = Annotated[Path | None, typer.Option(help="Shared data folder (default ../shared/data).")]
SuitesOut = Annotated[Path | None, typer.Option(help="Output folder (default <home>/eval/suites/<split>).")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Evaluate bundlebot on prompt suites against baselines (one report).",
                        invoke_without_command=True, no_args_is_help=False)

    @group.callback()
    def run_eval(ctx: typer.Context, suite: Suites = None, variant: Variants = None, limit: Limit = None,
                 split: Split = "test", target: Target = None, key: Key = None, explain: Explain = None,
                 out: Out = None, plots: Plots = True, config: ConfigOption = None) -> None:
        """Run suites x variants on the same cases; write report.md, results.json and plots.

        Example: bundlebot eval --suite bundle-intent --variant embedding --variant reranker --limit 50
        """
        if ctx.invoked_subcommand is not None:
            return
        if not suite:
            typer.echo(ctx.get_help())
            raise typer.Exit(0)
        from evaluation.suites import STANDARD

        cfg = _config(config)
        names = [s for x in suite for s in (STANDARD if x == "standard" else (x,))]
        chosen = list(variant or DEFAULT_VARIANTS)
        if target and "target" not in chosen:
            chosen.append("target")
        out_dir = out or cfg.home_path / "eval" / time.strftime("%Y%m%d-%H%M%S")
        key = key or os.environ.get("BUNDLEBOT_EVAL_KEY")
        report = run_suites(cfg, names, chosen, limit, split, target, key, explain, out_dir, plots)
        typer.echo(report.read_text())
        typer.echo(f"Wrote {out_dir}/report.md, results.json and plots")

    @group.command("build-suites")
    def build_suites_cmd(data: Data = None, out: SuitesOut = None, split: Split = "test",
                         config: ConfigOption = None) -> None:
        """Generate bundle-intent, personal-aisle and budget from the README splits.

        Example: bundlebot eval build-suites --split test
        """
        from evaluation.build import build_suites

        cfg = _config(config)
        out_dir = out or generated_dir(cfg.home_path, split)
        for name, (path, n) in build_suites(data or cfg.data_path, out_dir, split).items():
            typer.echo(f"{name}: {n} cases -> {path}")

    app.add_typer(group, name="eval")


def run_suites(cfg, names: list[str], variants: list[str], limit: int | None, split: str,  # type: ignore[no-untyped-def]
               target: str | None, key: str | None, explain: bool | None, out_dir: Path,
               with_plots: bool = True) -> Path:
    """The CLI's library entry point (the tests use it too): run, write the report, return its path."""
    from evaluation import report
    from evaluation.runner import Runner, load_cases
    from evaluation.suites import resolve_suite
    from evaluation.variants import make_variants

    progress = os.environ.get("TQDM_DISABLE", "") in ("", "0")
    runner = Runner(cfg, progress)
    by_explain: dict[bool, list] = {}  # variant objects keep their loaded services across suites
    runs = []
    t0 = time.perf_counter()
    for name in names:
        path = resolve_suite(name, generated_dir(cfg.home_path, split))
        cases = load_cases(path, limit, path.stem)
        # Explanations cost a generation per case; only suites whose checks read the text need them.
        needs_text = any(c.checks.grounded or len(c.turns) > 1 or c.suite == "robustness" for c in cases)
        ex = needs_text if explain is None else explain
        if ex not in by_explain:
            by_explain[ex] = make_variants(variants, cfg, ex, target, key)
        runs.append(runner.run(path.stem, cases, by_explain[ex]))
    meta = {"command": " ".join(shlex.quote(a) for a in ["bundlebot", *sys.argv[1:]]), "split": split,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"), "limit": limit, "variants": variants,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
            "index_seconds": runner.index_seconds, "wall_seconds": round(time.perf_counter() - t0, 1)}
    return report.write(runs, meta, out_dir, with_plots)
