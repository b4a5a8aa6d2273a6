"""TrainConfig: defaults, the committed default.toml, and validation messages."""

from __future__ import annotations

import pytest

from bundlebot.errors import ConfigError
from bundlebot.paths import PROJECT_ROOT
from finetune.config import DataSettings, LoraSettings, OptimSettings, TrainConfig, load_train_config


def test_default_toml_loads_and_matches_inference_candidates() -> None:
    from bundlebot.config.assistant import AssistantConfig

    cfg = load_train_config(PROJECT_ROOT / "finetune" / "configs" / "default.toml")
    assert cfg.data.candidates == AssistantConfig().llm_candidates  # training sees what inference sees
    assert "lm_head" not in cfg.lora.target_modules and "embed_tokens" not in cfg.lora.target_modules
    assert cfg.train.time_budget_min is not None and cfg.train.time_budget_min <= 60


@pytest.mark.parametrize(("make", "message"), [
    (lambda: LoraSettings(rank=0), "lora.rank should be positive, got 0"),
    (lambda: LoraSettings(dropout=1.0), "lora.dropout should be in [0, 1), got 1.0"),
    (lambda: LoraSettings(target_modules=["q_proj", "lm_head"]), "lora.target_modules"),
    (lambda: DataSettings(sources=["amazon"]), "data.sources should be among"),
    (lambda: DataSettings(candidates=27), "data.candidates should be 2..26, got 27"),
    (lambda: OptimSettings(grad_accum=0), "train.grad_accum should be positive, got 0"),
    (lambda: OptimSettings(lr=0), "train.lr should be positive, got 0"),
    (lambda: OptimSettings(time_budget_min=-1), "train.time_budget_min should be positive"),
    (lambda: OptimSettings(hard_weight=0), "train.hard_weight should be positive, got 0"),
])
def test_invalid_values_say_what_was_expected(make, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        make()


def test_unknown_keys_and_missing_files_are_config_errors(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[lora]\nrnak = 4\n")
    with pytest.raises(ConfigError, match="unknown config key"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_train_config(tmp_path / "missing.toml")
    ok = tmp_path / "ok.toml"
    ok.write_text("[lora]\nrank = 4\n[train]\nmax_steps = 3\n")
    cfg = load_train_config(ok)
    assert (cfg.lora.rank, cfg.train.max_steps, cfg.to_dict()["lora"]["rank"]) == (4, 3, 4)
    assert isinstance(cfg, TrainConfig)


def test_the_committed_adapter_was_trained_with_the_committed_default_config() -> None:
    """`bundlebot train --config finetune/configs/default.toml` reproduces finetune/adapters/default."""
    import json

    from assistant.modelfiles import DEFAULT_ADAPTER_DIR, MANIFEST_NAME
    from bundlebot.configtools import from_dict
    from finetune.config import TrainConfig

    # read as any config file is: a setting added after the adapter was trained takes its default, which
    # must reproduce what that training did (e.g. data.shuffle = false)
    manifest = json.loads((DEFAULT_ADAPTER_DIR / MANIFEST_NAME).read_text())
    trained = from_dict(TrainConfig, manifest["config"]).to_dict()
    cfg = load_train_config(PROJECT_ROOT / "finetune" / "configs" / "default.toml").to_dict()
    for section in ("data", "lora", "train"):
        assert trained[section] == cfg[section], section


def test_the_choice_config_draws_the_default_requests_and_only_changes_the_task() -> None:
    """configs/choice.toml (the lettered adapter of session 4) uses the default config's requests, so the two
    adapters of EVALUATION.md were compared on the same training requests."""
    default = load_train_config(PROJECT_ROOT / "finetune" / "configs" / "default.toml").to_dict()
    choice = load_train_config(PROJECT_ROOT / "finetune" / "configs" / "choice.toml").to_dict()
    assert default["data"]["task"] == "judge" and choice["data"]["task"] == "choice"
    same = {k: v for k, v in choice["data"].items() if k not in ("task", "judge_positives", "judge_negatives")}
    assert {k: default["data"][k] for k in same} == same
    assert default["lora"] == choice["lora"]


def test_the_explain_config_trains_an_explanation_adapter_on_the_demo_shop() -> None:
    """configs/explain.toml: task "explain" (the manifest then says so and the adapter never scores), the
    demo shop's train invoices, and a run that consumes no more examples than are built."""
    cfg = load_train_config(PROJECT_ROOT / "finetune" / "configs" / "explain.toml")
    t = cfg.train
    assert cfg.data.task == "explain" and cfg.data.sources == ["online-retail"] and cfg.out.endswith("explain")
    assert t.max_steps * t.batch_size * t.grad_accum <= cfg.data.explain_examples
    assert t.time_budget_min <= 60  # the whole schedule on one thread: ~28 s a step (EVALUATION.md)
