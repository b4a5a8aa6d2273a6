"""`bundlebot eval`: run evaluation suites; `bundlebot eval build-suites`: generate the standard suites;
`bundlebot eval llm`: base vs base + adapter as the LLM alone and in the fused order, on the same inputs."""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bundlebot.cli import ConfigOption

DEFAULT_VARIANTS = ["popularity", "personal-popularity", "embedding", "reranker", "learned", "base", "lora",
                    "llm-only"]


def _config(config: Path | None):  # type: ignore[no-untyped-def]
    from bundlebot.config import load_config

    return load_config(config)


def generated_dir(home: Path, split: str) -> Path:
    """Where `build-suites` writes (and `eval` looks for) the generated suites of a split."""
    return home / "eval" / "suites" / split


Suites = Annotated[list[str] | None, typer.Option(
    "--suite", "-s", help="Suite name or .jsonl path; repeat for several; 'standard' = all seven.")]
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
Fit = Annotated[bool, typer.Option("--fit/--no-fit", help="Fit the learned ranker of a shop this run indexes, "
                                                           "as bundlebot index does.")]
Data = Annotated[Path | None, typer.Option(help="Shared data folder (default ../shared/data).")]
SuitesOut = Annotated[Path | None, typer.Option(help="Output folder (default <home>/eval/suites/<split>).")]
LlmSplit = Annotated[str, typer.Option(help="Split of the generated suites' cases: dev (tuning) or test.")]
LlmLimit = Annotated[int, typer.Option(help="Cases per suite (a seeded sample).")]
LlmSuites = Annotated[list[str] | None, typer.Option(
    "--suite", "-s", help="Generated suite to measure; repeat for several; default: bundle-intent, "
    "personal-aisle, budget.")]
LlmOut = Annotated[Path | None, typer.Option(help="Output folder for results.json and report.md "
                                                  "(default <home>/eval/llm-<timestamp>).")]
Adapter = Annotated[Path | None, typer.Option(help="LoRA adapter folder to compare with the base model "
                                                   "(default: the config's generator.adapter).")]
NoBase = Annotated[bool, typer.Option("--no-base", help="Score the adapter only (e.g. a second adapter on "
                                                        "cases whose base scores exist).")]
Scoring = Annotated[str | None, typer.Option(help="How both models score: choice (one lettered prompt) or judge "
                                                  "(one yes/no prompt per candidate); default: assistant.llm_scoring.")]
Weight = Annotated[float | None, typer.Option(
    min=0.0, max=1.0, help="Judge the fused order at this weight (default: assistant.fusion_weight).")]
WeightNoHistory = Annotated[float | None, typer.Option(
    min=0.0, max=1.0, help="The weight for cases without history lines (default: "
    "assistant.fusion_weight_no_history).")]
Cache = Annotated[Path | None, typer.Option(help="Folder for the cases' inputs (the retrieval half): reused when "
                                                 "present, written when not.")]
InputsOnly = Annotated[bool, typer.Option("--prompts-only", help="Only compute the --cache inputs; load no model.")]
Rescore = Annotated[Path | None, typer.Option(metavar="RESULTS.json", help="Instead: judge a saved results.json "
                                              "again at --fusion-weight / --fusion-weight-no-history; no model.")]
Grounding = Annotated[int, typer.Option(metavar="N", help="Instead: explanation grounding, base vs the "
                                                          "explanation adapter, on N demo-shop bundles of --split's "
                                                          "budget requests (0 = off).")]
Seed = Annotated[int, typer.Option(help="Seed of the case sample.")]
Threads = Annotated[int | None, typer.Option(help="torch CPU threads (default: generator.threads, else torch's).")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Evaluate bundlebot on prompt suites against baselines (one report).",
                        invoke_without_command=True, no_args_is_help=False)

    @group.callback()
    def run_eval(ctx: typer.Context, suite: Suites = None, variant: Variants = None, limit: Limit = None,
                 split: Split = "test", target: Target = None, key: Key = None, explain: Explain = None,
                 out: Out = None, plots: Plots = True, fit: Fit = True, config: ConfigOption = None) -> None:
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
        report = run_suites(cfg, names, chosen, limit, split, target, key, explain, out_dir, plots,
                            fit_ranker if fit else None)
        typer.echo(report.read_text())
        typer.echo(f"Wrote {out_dir}/report.md, results.json and plots")

    @group.command("build-suites")
    def build_suites_cmd(data: Data = None, out: SuitesOut = None, split: Split = "test",
                         config: ConfigOption = None) -> None:
        """Generate bundle-intent, personal-aisle and budget from the README splits, and adversarial (red-team
        cases from the Online Retail catalog text; the same for every split).

        Example: bundlebot eval build-suites --split test
        """
        from evaluation.build import build_suites

        cfg = _config(config)
        out_dir = out or generated_dir(cfg.home_path, split)
        for name, (path, n) in build_suites(data or cfg.data_path, out_dir, split).items():
            typer.echo(f"{name}: {n} cases -> {path}")

    group.command("llm")(llm_cmd)
    app.add_typer(group, name="eval")


def llm_cmd(split: LlmSplit = "dev", limit: LlmLimit = 80, out: LlmOut = None, adapter: Adapter = None,
            no_base: NoBase = False, suite: LlmSuites = None, scoring: Scoring = None, fusion_weight: Weight = None,
            fusion_weight_no_history: WeightNoHistory = None, cache: Cache = None, prompts_only: InputsOnly = False,
            rescore: Rescore = None, grounding: Grounding = 0, seed: Seed = 0, threads: Threads = None,
            config: ConfigOption = None) -> None:
    """The LLM alone and in the service's fused order, base vs base + adapter on the same inputs.

    Example: bundlebot eval llm --split dev --limit 80 --cache /tmp/cases --out /tmp/llm-dev
    """
    import json

    from evaluation import llm_choice as lc

    if scoring not in (None, "choice", "judge"):
        raise typer.BadParameter(f"--scoring should be choice or judge, got {scoring!r}")
    cfg = _config(config)
    suites = tuple(suite or lc.SUITES)
    if prompts_only:
        if cache is None:
            raise typer.BadParameter("--prompts-only needs --cache")
        _cache_inputs(cfg, suites, split, limit, seed, cache)
        return
    at = lc.weights(cfg, fusion_weight, fusion_weight_no_history)
    model = adapter or _configured_adapter(cfg)
    if rescore is not None:
        report = lc.rescore(json.loads(rescore.read_text()), at)
    elif grounding:
        report = lc.grounding(cfg, model, lc.grounding_requests(grounding, split, seed, cfg), threads=threads)
    else:
        report = lc.measure(cfg, split, limit, model, seed=seed, suites=suites, threads=threads, cache=cache, at=at,
                            base=not no_base, scoring=scoring)
    out_dir = out or cfg.home_path / "eval" / time.strftime("llm-%Y%m%d-%H%M%S")
    typer.echo(lc.write({**report, "meta": _meta()}, out_dir).read_text())
    typer.echo(f"Wrote {out_dir}/report.md and results.json")


def _cache_inputs(cfg, suites: tuple[str, ...], split: str, limit: int, seed: int,  # type: ignore[no-untyped-def]
                  cache: Path) -> None:
    from evaluation.llm_cases import suite_inputs

    for name in suites:
        n = len(suite_inputs(cfg, name, split, limit, seed, cfg.assistant.llm_candidates, cache))
        typer.echo(f"{name}: {n} cases cached in {cache}")


def _configured_adapter(cfg) -> Path | None:  # type: ignore[no-untyped-def]
    """The config's ``generator.adapter`` as a folder ("default": the committed one; none: the base alone)."""
    from assistant.modelfiles import DEFAULT_ADAPTER_DIR

    spec = cfg.assistant.generator.adapter
    if spec in (None, "", "none"):
        return None
    return DEFAULT_ADAPTER_DIR if spec == "default" else Path(spec).expanduser()


def _meta() -> dict[str, str]:
    """Who made a report, when and where: the head of every report."""
    return {"command": " ".join(shlex.quote(a) for a in ["bundlebot", *sys.argv[1:]]),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}"}


def _rankers(cfg, shops: list[str]) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Each shop's learned-ranker manifest in brief: status, dev figures, feature importances."""
    from retrieval.ranker import read_manifest

    out = {}
    for shop in shops:
        m = read_manifest(cfg.home_path, shop) or {"status": "hand", "reason": "not fitted (bundlebot fit)"}
        out[shop] = {k: m[k] for k in ("status", "reason", "dev", "importance", "train_requests", "rounds",
                                       "wall_s") if k in m}
    return out


def fit_ranker(cfg, shop: str, spec: str, progress: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Fit the ranker of a shop the run has just indexed. The CLI composes the stages, as ``bundlebot index``
    does: evaluation never imports finetune itself."""
    from finetune.ranker import fit_indexed

    fit_indexed(cfg, shop, spec, progress=progress, unless_current=True)


def run_suites(cfg, names: list[str], variants: list[str], limit: int | None, split: str,  # type: ignore[no-untyped-def]
               target: str | None, key: str | None, explain: bool | None, out_dir: Path,
               with_plots: bool = True, fit: Callable[..., Any] | None = None) -> Path:
    """The CLI's library entry point (the tests use it too): run, write the report, return its path."""
    from evaluation import report
    from evaluation.runner import Runner, load_cases
    from evaluation.suites import resolve_suite
    from evaluation.variants import make_variants

    progress = os.environ.get("TQDM_DISABLE", "") in ("", "0")
    runner = Runner(cfg, progress, fit)
    by_explain: dict[bool, list] = {}  # variant objects keep their loaded services across suites
    runs = []
    t0 = time.perf_counter()

    def meta() -> dict:
        return {**_meta(), "split": split, "limit": limit, "variants": variants,
                "index_seconds": runner.index_seconds, "wall_seconds": round(time.perf_counter() - t0, 1),
                "rankers": _rankers(cfg, sorted(runner.shops))}
    for name in names:
        path = resolve_suite(name, generated_dir(cfg.home_path, split))
        cases = load_cases(path, limit, path.stem)
        # Explanations cost a generation per case; only suites whose checks read the text need them.
        needs_text = any(c.checks.grounded or len(c.turns) > 1 or c.suite == "robustness" for c in cases)
        ex = needs_text if explain is None else explain
        if ex not in by_explain:
            by_explain[ex] = make_variants(variants, cfg, ex, target, key)
        runs.append(runner.run(path.stem, cases, by_explain[ex]))
        if len(runs) < len(names):  # a long run cut short still leaves the suites it finished
            report.write(runs, {**meta(), "partial": f"{len(runs)} of {len(names)} suites"}, out_dir, False)
    return report.write(runs, meta(), out_dir, with_plots)
