"""assistant.modelfiles: fingerprints, and the ONE adapter rule every loader obeys (serving and training).

A tiny random Llama with the real SmolLM2 tokenizer (tests/tiny_lm.py) and a real peft LoRA adapter; the
same directory is also a training checkpoint, so each loader (serving's resolve_adapter and load_generator,
training's load_adapter, merge and resume) is run on the same manifests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from assistant import modelfiles
from bundlebot.config.assistant import GeneratorConfig
from bundlebot.errors import ModelError
from tests.tiny_lm import save_tiny_lm, smollm2_tokenizer_dir

LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj", "up_proj"]}


@pytest.fixture(scope="module")
def tok_dir() -> Path:
    return smollm2_tokenizer_dir()


@pytest.fixture(scope="module")
def tiny_dir(tok_dir, tmp_path_factory) -> Path:
    return save_tiny_lm(tmp_path_factory.mktemp("tiny"), tok_dir, seed=1)


@pytest.fixture(scope="module")
def fp(tiny_dir) -> dict[str, str]:
    return modelfiles.base_model_fingerprint(tiny_dir)


def make_adapter(tiny_dir: Path, out: Path, fingerprint: dict | None) -> Path:
    """A real LoRA adapter dir for ``tiny_dir`` (random B: it really changes the outputs) whose manifest is
    ``fingerprint`` verbatim (None: no manifest)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    get_peft_model(base, LoraConfig(**LORA, init_lora_weights=False)).save_pretrained(out)
    if fingerprint is not None:
        (out / modelfiles.MANIFEST_NAME).write_text(json.dumps(fingerprint))
    return out


def _lora_model(tiny_dir: Path) -> tuple[Any, Any, Any]:
    """(LoRA-wrapped tiny model, optimizer, scheduler) as training builds them."""
    from peft import LoraConfig, get_peft_model

    from finetune.train import load_base

    model = get_peft_model(load_base(tiny_dir)[0], LoraConfig(**LORA))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


def make_artifact(tiny_dir: Path, out: Path, fp: dict[str, str], manifest: dict | None) -> Path:
    """One dir that is both an adapter and a training checkpoint of ``tiny_dir``, then its manifest replaced
    by ``manifest`` (None: removed)."""
    from finetune.train import save_checkpoint

    model, opt, sched = _lora_model(tiny_dir)
    save_checkpoint(out, model, opt, sched, {"step": 2, "epoch": 0, "micro": 4, "train_s": 1.0, "history": []}, fp)
    make_adapter(tiny_dir, out, None)
    path = out / modelfiles.MANIFEST_NAME
    assert json.loads(path.read_text())["base_model_sha256"] == fp["base_model_sha256"]  # the checkpoint's own
    if manifest is None:
        path.unlink()
    else:
        path.write_text(json.dumps(manifest))
    return out


def _serve_resolve(tiny_dir: Path, d: Path, fp: dict, tmp: Path) -> Any:
    return modelfiles.resolve_adapter(str(d), fp)


def _serve_load_generator(tiny_dir: Path, d: Path, fp: dict, tmp: Path) -> Any:
    from assistant.llm import load_generator

    return load_generator(GeneratorConfig(path=str(tiny_dir), adapter=str(d), dtype="float32"), tmp)


def _train_load_adapter(tiny_dir: Path, d: Path, fp: dict, tmp: Path) -> Any:
    from finetune.train import load_base

    return modelfiles.load_adapter(load_base(tiny_dir)[0], d, fp)


def _train_merge(tiny_dir: Path, d: Path, fp: dict, tmp: Path) -> Any:
    from finetune.adapter import merge
    from finetune.train import load_base

    return merge(load_base(tiny_dir)[0], d, fp, tmp / "merged")


def _train_resume(tiny_dir: Path, d: Path, fp: dict, tmp: Path) -> Any:
    from finetune.train import load_checkpoint

    return load_checkpoint(d, *_lora_model(tiny_dir), fp)


LOADERS: dict[str, Callable[[Path, Path, dict, Path], Any]] = {
    "serve-resolve_adapter": _serve_resolve, "serve-load_generator": _serve_load_generator,
    "train-load_adapter": _train_load_adapter, "train-merge": _train_merge, "train-resume": _train_resume,
}
REFUSED = {  # manifest (from the base's fingerprint) -> what the error says
    "no-base-sha256": (lambda fp: {"base_model_id": fp["base_model_id"], "task": "judge"},
                       "does not record base_model_sha256"),
    "no-base-id": (lambda fp: {"base_model_sha256": fp["base_model_sha256"]}, "does not record base_model_id"),
    "wrong-sha256": (lambda fp: {**fp, "base_model_sha256": "0" * 64}, "was trained on base model"),
    "wrong-id": (lambda fp: {**fp, "base_model_id": "some-other-model"}, "'some-other-model'"),
    "no-manifest": (lambda fp: None, "has no bundlebot_manifest.json"),
}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("case", REFUSED)
def test_every_loader_refuses_a_manifest_that_does_not_pin_this_base(loader, case, tiny_dir, fp, tmp_path):
    make_manifest, says = REFUSED[case]
    d = make_artifact(tiny_dir, tmp_path / "artifact", fp, make_manifest(fp))
    with pytest.raises(ModelError, match=says) as err:
        LOADERS[loader](tiny_dir, d, fp, tmp_path)
    assert "bundlebot train" in err.value.hint  # the fix: retrain (or load the right base / no adapter)


@pytest.mark.parametrize("loader", LOADERS)
def test_every_loader_accepts_a_manifest_with_this_base_id_and_sha256(loader, tiny_dir, fp, tmp_path):
    d = make_artifact(tiny_dir, tmp_path / "artifact", fp, {**fp, "task": "judge", "format": 1})
    got = LOADERS[loader](tiny_dir, d, fp, tmp_path)
    assert got is not None
    if loader == "serve-load_generator":
        assert got.info["adapter"] == str(d) and got.info["task"] == "judge"
    if loader == "train-merge":
        assert got < 1e-4 and (tmp_path / "merged" / "config.json").is_file()
    if loader == "train-resume":
        assert got["step"] == 2 and got["micro"] == 4


def test_a_default_adapter_without_base_sha256_is_skipped_and_logged(tiny_dir, fp, tmp_path, monkeypatch, caplog):
    adapter = make_adapter(tiny_dir, tmp_path / "lora", {"base_model_id": fp["base_model_id"]})
    monkeypatch.setattr(modelfiles, "DEFAULT_ADAPTER_DIR", adapter)
    with caplog.at_level(logging.WARNING, logger="assistant.modelfiles"):
        assert modelfiles.resolve_adapter("default", fp) is None
    assert "does not record base_model_sha256" in caplog.text


def test_a_default_adapter_for_another_base_is_skipped_and_logged(tiny_dir, fp, tmp_path, monkeypatch, caplog):
    other = {"base_model_id": "some-other-model", "base_model_sha256": "0" * 64}
    monkeypatch.setattr(modelfiles, "DEFAULT_ADAPTER_DIR", make_adapter(tiny_dir, tmp_path / "lora", other))
    with caplog.at_level(logging.WARNING, logger="assistant.modelfiles"):
        assert modelfiles.resolve_adapter("default", fp) is None
    assert "some-other-model" in caplog.text
    assert modelfiles.resolve_adapter("none", {}) is None and modelfiles.resolve_adapter(None, {}) is None


def test_a_missing_adapter_dir_raises(tmp_path):
    with pytest.raises(ModelError, match="adapter_config.json"):
        modelfiles.resolve_adapter(str(tmp_path / "nope"), {})


def test_the_committed_default_adapter_pins_the_default_base_and_loads_by_default():
    manifest = modelfiles.read_manifest(modelfiles.DEFAULT_ADAPTER_DIR)
    fp = modelfiles.base_model_fingerprint(modelfiles.default_gguf_path())
    assert {k: manifest[k] for k in modelfiles.FINGERPRINT_KEYS} == fp
    assert modelfiles.resolve_adapter("default", fp) == modelfiles.DEFAULT_ADAPTER_DIR
    assert GeneratorConfig().adapter == "default" and modelfiles.adapter_task(modelfiles.DEFAULT_ADAPTER_DIR) == "judge"


def test_the_committed_explanation_adapter_pins_the_default_base_and_writes_by_default():
    path = modelfiles.DEFAULT_EXPLAIN_ADAPTER_DIR
    manifest = modelfiles.read_manifest(path)
    fp = modelfiles.base_model_fingerprint(modelfiles.default_gguf_path())
    assert {k: manifest[k] for k in modelfiles.FINGERPRINT_KEYS} == fp and manifest["task"] == "explain"
    assert modelfiles.resolve_adapter("default", fp, default=path) == path
    assert GeneratorConfig().explain_adapter == "default"


def test_written_manifests_always_pin_the_base(fp, tmp_path):
    path = modelfiles.write_manifest(tmp_path, fp, task="judge", metrics={"dev_loss": 0.5})
    manifest = json.loads(path.read_text())
    assert manifest["format"] == 1 and manifest["task"] == "judge"
    assert modelfiles.manifest_problem(manifest, fp, "x") is None
    with pytest.raises(ValueError, match="base_model_sha256"):
        modelfiles.write_manifest(tmp_path, {"base_model_id": "tiny"}, task="judge")


def test_fingerprint_of_a_dir_follows_its_weights(tiny_dir, tok_dir, tmp_path):
    fp = modelfiles.base_model_fingerprint(tiny_dir)
    assert fp == modelfiles.base_model_fingerprint(tiny_dir) and len(fp["base_model_sha256"]) == 64
    other = save_tiny_lm(tmp_path / tiny_dir.name, tok_dir, seed=2)
    assert modelfiles.base_model_fingerprint(other)["base_model_sha256"] != fp["base_model_sha256"]


def test_file_sha256_is_the_plain_sha256(tmp_path):
    import hashlib

    f = tmp_path / "x.bin"
    f.write_bytes(b"bundlebot" * 1000)
    assert modelfiles.file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_the_manifest_task_says_which_prompt_the_adapter_scores_with(tmp_path):
    assert modelfiles.adapter_task(None) == "choice"
    assert modelfiles.adapter_task(tmp_path) == "choice"  # no manifest (an adapter from before the field)
    (tmp_path / modelfiles.MANIFEST_NAME).write_text(json.dumps({"base_model_id": "x", "task": "judge"}))
    assert modelfiles.adapter_task(tmp_path) == "judge"


@pytest.mark.parametrize("setting", ["generator.path", "base (training config)"])
def test_a_wrong_base_path_names_its_setting(setting, tmp_path):
    with pytest.raises(ModelError, match="should be a local causal-LM directory") as err:
        modelfiles.resolve_base(str(tmp_path / "nope"), tmp_path, setting=setting)
    assert str(err.value).startswith(setting) and setting in err.value.hint
