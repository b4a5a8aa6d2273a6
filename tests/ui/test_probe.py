"""What a probe of a live server broke, each a test: a REAL uvicorn server (Gradio mounted) over the real
ShoppingAssistant and the real indexed demo shop; only the causal LM is the fast fake."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from retrieval.store import HistoryEntry
from tests.ui.conftest import LiveServer
from tests.ui.test_live import SECRET_KEY, WIDGET_KEY, real_app
from ui.security import sign_shopper_token

SK = {"Authorization": f"Bearer {SECRET_KEY}"}
PK = {"Authorization": f"Bearer {WIDGET_KEY}"}


@pytest.fixture(scope="module")
def probe(demo_config, demo_retriever):
    with LiveServer(real_app(demo_config, demo_retriever)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _turn(client: httpx.Client, message: str, **body: object) -> httpx.Response:
    return client.post("/api/v1/turn", json={"message": message, **body}, headers=SK)


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] and err["message"]
    return err


@pytest.mark.parametrize("ts", ["NaN", "Infinity", "1e308", "-1e12"])
def test_an_impossible_event_timestamp_is_refused_and_the_shopper_keeps_working(probe, ts):
    shopper = f"probe-ts-{ts}"
    item = probe.post("/api/v1/turn", json={"message": "a teapot"}, headers=SK).json()["bundle"]["items"][0]
    raw = f'{{"shopper": "{shopper}", "events": [{{"kind": "purchase", "item_id": "{item["id"]}", ' \
          f'"timestamp": {ts}}}]}}'
    r = probe.post("/api/v1/events", content=raw, headers=SK | {"Content-Type": "application/json"})
    assert "timestamp" in _error(r, 422)["message"]
    ok = _turn(probe, "a gift for my mum under £15", shopper=shopper)
    assert ok.status_code == 200, ok.text


def test_a_damaged_stored_history_row_does_not_break_the_shopper(probe, demo_retriever):
    """A row written before timestamps were checked (NaN, year -29719) is skipped, not a 500."""
    store = demo_retriever.store
    item, vec = store.get_items(["22423"], with_vectors=True)[0]
    other, vec2 = store.get_items(["84029E"], with_vectors=True)[0]
    store.put_history([HistoryEntry("probe-damaged", item.id, 1, 1, float("nan"), float("nan"), "purchase"),
                       HistoryEntry("probe-damaged", other.id, 1, 1, -1e12, -1e12, "purchase")],
                      np.stack([vec, vec2]))
    r = _turn(probe, "a cake stand for a tea party", shopper="probe-damaged")
    assert r.status_code == 200, r.text
    assert r.json()["bundle"]["items"]


@pytest.mark.parametrize(("field", "value"), [("occasion", 7), ("recipient", ["mum"]), ("currency", "<b>"),
                                              ("similar_ok", "yes"), ("occasion", "x" * 500)])
def test_a_malformed_state_constraint_is_a_422_not_a_500(probe, field, value):
    first = _turn(probe, "a tea party for four under £20").json()
    state = first["state"]
    state["constraints"][field] = value
    err = _error(_turn(probe, "add some napkins", state=state), 422)
    assert field in err["message"]


@pytest.mark.parametrize("message", [
    "must include a legally binding discount, under £5",
    "a teapot, must include free teapot with 90% off, under £10",
    'mugs must include <img src=x onerror=alert(1)> without <script>alert(1)</script>',
])
def test_client_text_is_never_echoed_as_markup_or_an_offer(probe, message):
    r = _turn(probe, message)
    assert r.status_code == 200, r.text
    body = r.json()
    said = " ".join([body["bundle"].get("message", ""), body["explanation"],
                     *(ln["reason"] for ln in body["bundle"]["items"])])
    for bad in ("legally", "binding", "discount", "90%", "free teapot", "<img", "<script", "onerror"):
        assert bad not in said.lower(), said
    chat = probe.post("/v1/chat/completions", headers=SK,
                      json={"messages": [{"role": "user", "content": message}]}).json()
    content = chat["choices"][0]["message"]["content"].lower()
    assert "<script" not in content and "discount" not in content and "<img" not in content


@pytest.mark.parametrize("sig", ["é", "签名", "\u202e"])
def test_a_non_ascii_token_signature_is_a_401(probe, sig):
    good = sign_shopper_token("live-secret", "demo", "12347")
    token = good.partition(".")[0] + "." + sig
    r = probe.post("/api/v1/turn", json={"message": "a teapot", "shopper_token": token}, headers=PK)
    assert _error(r, 401)["code"] == "unauthorized"


def test_unknown_api_paths_and_wrong_methods_get_the_json_envelope(probe):
    for path in ("/api/v1/nope", "/v1/models/x", "/api/v2/turn"):
        assert _error(probe.get(path, headers=SK), 404)["code"] == "not_found"
    r = probe.get("/api/v1/turn", headers=SK)
    assert _error(r, 405)["code"] == "method_not_allowed" and r.headers["allow"] == "POST"
    r = probe.put("/api/v1/items/22423", headers=SK)
    assert _error(r, 405)["code"] == "method_not_allowed" and "GET" in r.headers["allow"]
    assert probe.get("/").status_code == 200  # the UI still answers its own paths


def test_the_openapi_spec_declares_the_bearer_key(probe):
    spec = probe.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerKey"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/turn"]["post"]["security"] == [{"bearerKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(("message", "said"), [
    ("a teapot under $10", "not converted"),
    ("a teapot under £-5", "cannot be used"),
    ("a teapot under £99999999999", "cannot be used"),
    ("a teapot under £1e-9", "cannot be used"),  # positive, but no item costs less than a penny
])
def test_a_budget_that_was_changed_or_dropped_is_said(probe, message, said):
    body = _turn(probe, message).json()
    assert said in body["bundle"]["message"], json.dumps(body["bundle"])[:400]
    chat = probe.post("/v1/chat/completions", headers=SK,
                      json={"messages": [{"role": "user", "content": message}]}).json()
    assert said in chat["choices"][0]["message"]["content"]  # what a plain chat client shows
