"""`bundlebot index` and `bundlebot search` through the real typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bundlebot.cli import _register_all, app


@pytest.fixture(scope="module")
def runner():
    if not any(c.name == "search" for c in app.registered_commands):
        _register_all()
    return CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    cfg = tmp_path / "bb.toml"
    cfg.write_text('[retrieval.embedder]\nkind = "hash"\n')
    monkeypatch.setenv("BUNDLEBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BUNDLEBOT_CONFIG", str(cfg))
    return tmp_path


def test_index_then_search_json_and_table(runner, env):
    cat = env / "cat.csv"
    cat.write_text("id,title,price\na1,Red teapot,9.5\na2,Teapot cosy,3.0\na3,Garden hose,20\nbad,,1\n")
    res = runner.invoke(app, ["index", "--source", str(cat), "--shop", "mini"])
    assert res.exit_code == 0, res.output
    assert "3 valid, 1 rejected" in res.output and "missing title" in res.output
    res = runner.invoke(app, ["search", "teapot", "--shop", "mini", "--max-price", "5", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["id"] for r in rows] == ["a2"] and set(rows[0]) == {"id", "title", "price", "score", "breakdown"}
    res = runner.invoke(app, ["search", "teapot", "--shop", "mini", "--k", "2"])
    assert res.exit_code == 0 and "Red teapot" in res.output and "rele=" in res.output


def test_index_of_a_file_with_no_valid_row_exits_2(runner, env):
    cat = env / "bad.csv"
    cat.write_text("id,title,price\n,x,1\ny,,2\n")
    res = runner.invoke(app, ["index", "--source", str(cat), "--shop", "mini"])
    assert res.exit_code == 2 and "nothing was indexed" in res.output


def test_help_shows_an_example(runner):
    assert "bundlebot search" in runner.invoke(app, ["search", "--help"]).output
    assert "bundlebot index --source" in runner.invoke(app, ["index", "--help"]).output
