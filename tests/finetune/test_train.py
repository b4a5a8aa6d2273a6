"""LoRA training on a tiny random Llama with the real SmolLM2 tokenizer and real builder examples."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from assistant import modelfiles
from bundlebot.errors import ModelError
from finetune.adapter import CARD, merge
from finetune.encode import batch_loss, collate, encode_example, letter_ids, prompt_ids
from finetune.train import evaluate, load_base, read_jsonl, train


def _fingerprint(model_dir: Path) -> dict[str, str]:
    return modelfiles.base_model_fingerprint(model_dir)


def _cfg(base_cfg, **train_kw):
    return replace(base_cfg, train=replace(base_cfg.train, **train_kw))


def _train_loss(model_dir: Path, data: Path, model=None) -> float:
    """Mean loss of the tiny model (or ``model``) over the TRAIN examples."""
    base, tok = load_base(model_dir)
    exs = read_jsonl(data / "train.jsonl")
    rows = [encode_example(tok, e) for e in exs]
    return evaluate(model or base, rows, tok.pad_token_id, 4)["dev_loss"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, real_examples, small_train_config):
    data, _ = real_examples
    out = tmp_path_factory.mktemp("adapter")
    cfg = _cfg(small_train_config, epochs=3, max_steps=6, eval_every=3)
    result = train(cfg, model_dir=tiny_model_dir, data_dir=data, out=out, base=_fingerprint(tiny_model_dir),
                   checkpoints=out / "ckpt", progress=False)
    return cfg, result


def test_prompt_encoding_and_letters_match_the_live_generator(tiny_model_dir, real_examples) -> None:
    from assistant.llm import Generator, letter_token_ids

    model, tok = load_base(tiny_model_dir)
    gen = Generator(model, tok)
    for ex in read_jsonl(real_examples[0] / "train.jsonl")[:4]:
        assert prompt_ids(tok, ex["messages"]) == gen.encode(ex["messages"])
    assert letter_ids(tok) == letter_token_ids(tok)


def test_padded_batch_loss_equals_the_single_prompt_letter_scores(tiny_model_dir, real_examples) -> None:
    model, tok = load_base(tiny_model_dir)
    exs = [e for e in read_jsonl(real_examples[0] / "train.jsonl") if e["kind"] == "choice"][:3]
    rows = [encode_example(tok, e) for e in exs]
    assert len({len(r["input_ids"]) for r in rows}) > 1  # really padded
    with torch.no_grad():
        _, stats = batch_loss(model, collate(rows, tok.pad_token_id))
        for i, (ex, row) in enumerate(zip(exs, rows, strict=True)):
            logp = torch.log_softmax(model(input_ids=torch.tensor([row["input_ids"][:-1]])).logits[0, -1], -1)
            want = -torch.stack([torch.logsumexp(logp[ids], 0) for ids in row["gold"]]).mean()
            assert torch.allclose(stats["per_row"][i], want, atol=1e-4), ex["gold_letters"]


def test_hard_examples_weigh_more_in_the_training_loss_only(tiny_model_dir, real_examples, small_train_config,
                                                           tmp_path) -> None:
    """``train.hard_weight`` scales the loss of a train choice example whose first candidate is not gold; the
    per-row (dev) losses stay unweighted."""
    from finetune.train import _setup

    model, tok = load_base(tiny_model_dir)
    exs = [e for e in read_jsonl(real_examples[0] / "train.jsonl") if e["kind"] == "choice"][:2]
    rows = [encode_example(tok, e) for e in exs]
    with torch.no_grad():
        plain, stats = batch_loss(model, collate(rows, tok.pad_token_id))
        rows[1]["weight"] = 3.0
        weighted, again = batch_loss(model, collate(rows, tok.pad_token_id))
    assert torch.allclose(plain, stats["per_row"].mean())
    assert torch.allclose(weighted, (stats["per_row"][0] + 3.0 * stats["per_row"][1]) / 2)
    assert torch.equal(again["per_row"], stats["per_row"])
    run = _setup(_cfg(small_train_config, hard_weight=2.5), tiny_model_dir, real_examples[0], tmp_path / "ckpt")
    train_ex = read_jsonl(real_examples[0] / "train.jsonl")
    hard = [e["kind"] == "choice" and not e["first_is_gold"] for e in train_ex]
    assert any(hard) and not all(hard)
    assert [r["weight"] for r in run.rows] == [2.5 if h else 1.0 for h in hard]
    assert all("weight" not in r for r in run.dev_rows)
    for e in train_ex:
        if e["kind"] == "choice":
            assert e["first_is_gold"] == (e["candidates"][0] in e["gold_items"])


def test_training_lowers_the_loss_on_real_examples(trained, tiny_model_dir, real_examples) -> None:
    cfg, result = trained
    before = _train_loss(tiny_model_dir, real_examples[0])
    after = _train_loss(tiny_model_dir, real_examples[0], result.model.eval())
    assert result.steps == 6 and result.stopped_by == "max_steps"
    assert after < before - 0.05, (before, after)
    assert [h["step"] for h in result.history] == list(range(1, 7))
    assert "dev_loss" in result.history[2] and "base_dev_loss" in result.metrics


def test_saved_adapter_loads_to_identical_logits_and_has_a_manifest(trained, tiny_model_dir) -> None:
    cfg, result = trained
    files = {p.name for p in result.out.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", modelfiles.MANIFEST_NAME, CARD} <= files
    manifest = json.loads((result.out / modelfiles.MANIFEST_NAME).read_text())
    fp = _fingerprint(tiny_model_dir)
    assert {k: manifest[k] for k in modelfiles.FINGERPRINT_KEYS} == fp
    assert manifest["config"]["lora"]["rank"] == cfg.lora.rank and manifest["hardware"]["cores"]
    assert manifest["data"]["examples_sha256"] and "dev_loss" in manifest["metrics"] and manifest["wall_s"] > 0
    assert modelfiles.resolve_adapter(str(result.out), fp) == result.out  # the assistant's loader accepts it
    base, _ = load_base(tiny_model_dir)
    loaded = modelfiles.load_adapter(base, result.out, fp).eval()
    ids = torch.arange(5, 60).unsqueeze(0)
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, result.model.eval()(input_ids=ids).logits, atol=1e-6)


def test_an_adapter_for_another_base_is_refused(trained, tmp_path, smol_tokenizer_dir) -> None:
    """Training and serving refuse it with the same words (one rule: assistant.modelfiles)."""
    from tests.tiny_lm import save_tiny_lm

    _, result = trained
    other = save_tiny_lm(tmp_path / "other", smol_tokenizer_dir, seed=1)
    fp = _fingerprint(other)
    base, _ = load_base(other)
    says = "was trained on base model .* but the loaded base model is"
    with pytest.raises(ModelError, match=says):
        modelfiles.load_adapter(base, result.out, fp)
    with pytest.raises(ModelError, match=says):
        modelfiles.resolve_adapter(str(result.out), fp)


def test_a_resume_onto_another_base_is_refused(trained, real_examples, tmp_path, smol_tokenizer_dir) -> None:
    from tests.tiny_lm import save_tiny_lm

    cfg, full = trained
    other = save_tiny_lm(tmp_path / "other", smol_tokenizer_dir, seed=1)
    with pytest.raises(ModelError, match="was trained on base model") as err:
        train(cfg, model_dir=other, data_dir=real_examples[0], out=tmp_path / "resumed", base=_fingerprint(other),
              checkpoints=tmp_path / "ckpt", resume=full.out / "ckpt" / "step-00002", progress=False)
    assert "bundlebot train" in err.value.hint


def test_resume_from_a_checkpoint_continues_identically(trained, tiny_model_dir, real_examples, tmp_path) -> None:
    cfg, full = trained
    fp = _fingerprint(tiny_model_dir)
    ckpt = full.out / "ckpt" / "step-00002"  # mid-epoch: the resume must skip seen batches
    assert (ckpt / "trainer_state.pt").is_file()
    resumed = train(cfg, model_dir=tiny_model_dir, data_dir=real_examples[0], out=tmp_path / "resumed", base=fp,
                    checkpoints=tmp_path / "ckpt", resume=ckpt, progress=False)
    assert resumed.steps == full.steps
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history], abs=1e-6)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    lora = [k for k in a if "lora_" in k]
    assert lora and all(torch.allclose(a[k], b[k], atol=1e-7) for k in lora)


def test_merge_keeps_the_logits(trained, tiny_model_dir, tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    _, result = trained
    base, _ = load_base(tiny_model_dir)
    diff = merge(base, result.out, _fingerprint(tiny_model_dir), tmp_path / "merged")
    assert diff < 1e-4
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    ids = torch.arange(3, 40).unsqueeze(0)
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, result.model.eval()(input_ids=ids).logits, atol=1e-4)


def test_judge_rows_are_trained_on_the_yes_no_slot_the_assistant_reads(tiny_model_dir, judge_examples,
                                                                        small_train_config, tmp_path) -> None:
    """A judge example's loss is -log P(its answer, spellings merged) after the live judge prompt; its dev
    accuracy compares yes against no; a few steps lower the loss; the manifest says task "judge", so the
    assistant (``llm_scoring = "auto"``) scores with the judge prompt."""
    from dataclasses import replace

    from assistant.llm import Generator, answer_token_ids

    data, info = judge_examples
    model, tok = load_base(tiny_model_dir)
    exs = [e for e in read_jsonl(data / "train.jsonl") if e["kind"] == "judge"]
    assert {e["label"] for e in exs} == {"yes", "no"} and info["counts"]["train/bundlerec-food/judge"] == len(exs)
    rows = [encode_example(tok, e) for e in exs[:4]]
    assert all(r["options"] == answer_token_ids(tok) for r in rows)
    gen = Generator(model, tok)
    with torch.no_grad():
        _, stats = batch_loss(model, collate(rows, tok.pad_token_id))
        p_yes = gen.judge_scores([e["messages"] for e in exs[:4]])
        for i, (ex, row) in enumerate(zip(exs[:4], rows, strict=True)):
            logp = torch.log_softmax(model(input_ids=torch.tensor([row["input_ids"][:-1]])).logits[0, -1], -1)
            right = answer_token_ids(tok)[0 if ex["label"] == "yes" else 1]
            assert torch.allclose(stats["per_row"][i], -torch.logsumexp(logp[right], 0), atol=1e-4)
    acc = evaluate(model, rows, tok.pad_token_id, 2)["dev_choice_acc"]
    assert acc == sum((p > 0.5) == (e["label"] == "yes") for p, e in zip(p_yes, exs[:4], strict=True)) / 4
    cfg = replace(_cfg(small_train_config, epochs=2, max_steps=6, eval_every=100),
                  data=replace(small_train_config.data, task="judge"))
    result = train(cfg, model_dir=tiny_model_dir, data_dir=data, out=tmp_path / "judge", base=_fingerprint(
        tiny_model_dir), checkpoints=tmp_path / "ckpt", progress=False)
    assert _train_loss(tiny_model_dir, data, result.model.eval()) < _train_loss(tiny_model_dir, data) - 0.05
    assert json.loads((result.out / modelfiles.MANIFEST_NAME).read_text())["task"] == "judge"
    assert modelfiles.adapter_task(result.out) == "judge"
