"""`bundlebot ask` (one JSON object, batch JSONL) and `bundlebot chat` (a piped 3-turn conversation)."""

from __future__ import annotations

import json
import re

import pytest
import typer
from typer.testing import CliRunner

from assistant import cli
from assistant.service import ShoppingAssistant
from bundlebot.config import AppConfig
from tests.assistant.fakes import FakeGenerator, FakeRetriever


@pytest.fixture
def app(monkeypatch) -> typer.Typer:
    made = []

    def fake_assistant(config, shop, adapter, fusion):
        cfg = AppConfig()
        if fusion is not None:
            cfg.assistant.fusion = fusion
        b = ShoppingAssistant(cfg, shop, retriever=FakeRetriever(),
                              generator=FakeGenerator("The napkins suit a tea party."))
        made.append(b)
        return b

    monkeypatch.setattr(cli, "_assistant", fake_assistant)
    a = typer.Typer()
    cli.register(a)
    a.made = made  # type: ignore[attr-defined]
    return a


def test_ask_json_is_one_object_with_the_contract(app) -> None:
    # the napkins asked for: the fake model's sentence names them, and only a bundle holding them grounds it
    res = CliRunner().invoke(app, ["ask", "hosting a tea party for six with some napkins, budget £25", "--shop",
                                   "demo", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"items", "total", "currency", "constraints", "explanation", "grounded", "ranked", "timings_ms"} <= set(out)
    assert {"id", "title", "price", "reason"} <= set(out["items"][0])
    assert out["constraints"]["budget"] == 25.0 and out["total"] <= 25.0 and out["currency"] == "GBP"
    assert len(out["ranked"]) <= 20 and out["grounded"] is True


def test_ask_batch_loads_once_and_answers_each_line(app, tmp_path) -> None:
    f = tmp_path / "req.jsonl"
    f.write_text('{"request": "tea party under £10", "shopper": "1"}\n\n{"request": ""}\n{"oops": 1}\n'
                 '{"request": "a picnic, no plastic"}\n')
    res = CliRunner().invoke(app, ["ask", "--batch", str(f), "--no-explain"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == 4 and len(app.made) == 1
    assert rows[0]["total"] <= 10 and rows[1]["error"]["code"] == "bad_request" and "error" in rows[2]
    assert not any("PLASTIC" in it["title"] for it in rows[3]["items"])


def test_ask_human_output_shows_constraints_table_and_explanation(app) -> None:
    res = CliRunner().invoke(app, ["ask", "tea party under £20 with some napkins, no candles"])
    assert res.exit_code == 0
    assert "Understood: budget £20.00" in res.stdout and "total" in res.stdout and "napkins suit" in res.stdout


def test_chat_three_turn_edit_from_stdin(app) -> None:
    turns = "hosting a tea party for six, budget £25\nswap the second one for something cheaper\nadd a card\nquit\n"
    res = CliRunner().invoke(app, ["chat", "--shop", "demo"], input=turns)
    assert res.exit_code == 0, res.output
    assert res.stdout.count("Understood:") == 3 and "Sorry" not in res.stdout
    tables = res.stdout.split("Understood:")[1:]
    assert "CARD" in tables[2] and "CARD" not in tables[0]


@pytest.mark.parametrize("configured", [False, True])
def test_models_prepare_checks_the_embedder_and_prepares_the_generator(configured, tmp_path, monkeypatch) -> None:
    from assistant import modelfiles

    cfg = tmp_path / "bb.toml"
    cfg.write_text('[retrieval.embedder]\nkind = "hash"\n'
                   + ('[assistant.generator]\npath = "/models/mine"\n' if configured else ""))
    monkeypatch.setenv("BUNDLEBOT_HOME", str(tmp_path / "home"))
    prepared = []
    monkeypatch.setattr(modelfiles, "prepare_default_model",
                        lambda home: prepared.append(home) or home / "models" / "smollm2-135m-instruct-abc")
    a = typer.Typer()
    cli.register(a)
    res = CliRunner().invoke(a, ["models", "prepare", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and re.fullmatch(r"embedder  hash-(\d+) ready \(dim \1\)", lines[0]), lines
    if configured:
        assert lines[1] == "generator /models/mine (configured; nothing to convert)" and not prepared
    else:
        assert lines[1] == f"generator SmolLM2-135M-Instruct ready at {tmp_path}/home/models/smollm2-135m-instruct-abc"
    assert lines[2].startswith("done in ") and lines[2].endswith("s")


def test_the_bundlebot_app_has_one_models_group_from_the_assistant_stage() -> None:
    from bundlebot.cli import _register_all, app

    if not any(c.name == "search" for c in app.registered_commands):
        _register_all()
    groups = [g for g in app.registered_groups if g.name == "models"]
    assert len(groups) == 1 and groups[0].typer_instance is cli.models_app
    res = CliRunner().invoke(app, ["models", "--help"])
    assert res.exit_code == 0 and "prepare" in res.stdout


def test_the_table_shows_a_lines_quantity() -> None:
    r = {"items": [{"title": "SET/6 PAPER CUPS", "price": 1.5, "currency": "GBP", "reason": "for eight",
                    "quantity": 2}, {"title": "TEAPOT", "price": 9.0, "currency": "GBP", "reason": "tea"}],
         "total": 12.0, "currency": "GBP", "constraints": {"budget": 20.0}}
    out = cli.format_bundle(r)
    assert "2 x SET/6 PAPER CUPS" in out and "1 x TEAPOT" not in out and "£12.00" in out
