"""Every HTTP endpoint through TestClient with the fast fake service: happy paths, auth, shop isolation,
CORS, rate limits, malformed and oversized input, SSE framing, time budget."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from tests.ui.conftest import SECRET, auth, fake_client, keyed_config, sse_frames
from tests.ui.fakes import fake_factory
from ui.api import create_app
from ui.security import sign_shopper_token

A, B, PA = auth("sk-a-secret"), auth("sk-b-secret"), auth("pk_a")


def test_health_ready_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + 30  # the shop warms in a background thread at startup: ready once it has
    while (ready := client.get("/readyz")).status_code == 503 and time.monotonic() < deadline:
        assert ready.json()["ready"] is False and "error" not in ready.json(), ready.json()
        time.sleep(0.05)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    # the fake shop was never fitted: it ranks with the hand weights, and says how to change that
    assert ready.json()["ranker"] == "hand" and "bundlebot fit --shop" in ready.json()["ranker_note"]
    spec = client.get("/openapi.json").json()
    for path in ("/v1/chat/completions", "/api/v1/turn", "/api/v1/turn/stream", "/api/v1/events",
                 "/api/v1/shoppers/{shopper_id}", "/api/v1/items/{item_id}"):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_readyz_is_503_while_the_shop_fails_to_load(tmp_path):
    def broken(config, shop):
        raise RuntimeError("store unreachable")
    with TestClient(create_app(keyed_config(tmp_path), assistant_factory=broken, ui=False)) as c:
        deadline = time.monotonic() + 30  # the shop loads in a background thread: the error arrives with it
        while True:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["ready"] is False
            if "error" in r.json() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert "store unreachable" in r.json()["error"]


def test_turn_json_round_trip_with_state(client):
    r = client.post("/api/v1/turn", json={"message": "tea party £10"}, headers=A)
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [ln["id"] for ln in body["bundle"]["items"]]
    assert ids and all(i.startswith("shopa-") for i in ids) and body["bundle"]["total"] <= 10
    assert body["constraints"]["budget"] == 10.0 and body["explanation"]
    r2 = client.post("/api/v1/turn", json={"message": "remove #1", "state": body["state"]}, headers=A)
    assert [ln["id"] for ln in r2.json()["bundle"]["items"]] == ids[1:]


def test_turn_stream_sse_framing_and_order(client):
    r = client.post("/api/v1/turn/stream", json={"message": "tea party £10"}, headers=A)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    frames = sse_frames(r.text)
    types = [e for e, _ in frames]
    assert types[:2] == ["constraints", "bundle"] and types[-1] == "done"
    assert set(types[2:-1]) == {"token"}
    data = [json.loads(d) for _, d in frames]
    assert "".join(d["text"] for d in data[2:-1]) == data[-1]["explanation"]


def test_chat_completions_non_stream_and_stream(client):
    body = {"model": "bundlebot", "messages": [{"role": "user", "content": "tea party £10"}]}
    r = client.post("/v1/chat/completions", json=body, headers=A).json()
    assert r["object"] == "chat.completion" and r["choices"][0]["finish_reason"] == "stop"
    msg = r["choices"][0]["message"]
    assert msg["role"] == "assistant" and msg["bundle"]["items"] and "SHOPA TEAPOT" in msg["content"]
    assert r["bundlebot_state"]["bundle"] == [ln["id"] for ln in msg["bundle"]["items"]]
    s = client.post("/v1/chat/completions", json=body | {"stream": True}, headers=A)
    frames = sse_frames(s.text)
    assert frames[-1] == (None, "[DONE]") and all(e is None for e, _ in frames)
    chunks = [json.loads(d) for _, d in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["bundle"]["items"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.startswith("Bundle: 3 items") and text.endswith(chunks[-1]["explanation"])


def test_chat_completions_follow_up_uses_state(client):
    first = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "tea £10"}]},
                        headers=A).json()
    msgs = [{"role": "user", "content": "tea £10"}, first["choices"][0]["message"],
            {"role": "user", "content": "remove #2"}]
    second = client.post("/v1/chat/completions", json={"messages": msgs, "bundlebot_state": first[
        "bundlebot_state"]}, headers=A).json()
    before = first["bundlebot_state"]["bundle"]
    assert second["bundlebot_state"]["bundle"] == [before[0]] + before[2:]


def test_items_events_delete_for_own_shop(client):
    assert client.get("/api/v1/items/shopa-1", headers=A).json()["title"] == "SHOPA CAKE STAND"
    assert client.get("/api/v1/items/shopa-1", headers=PA).status_code == 200  # widgets may read items
    ev = {"shopper": "17850", "events": [{"kind": "purchase", "item_id": "shopa-2", "quantity": 2}]}
    assert client.post("/api/v1/events", json=ev, headers=A).json()["added"] == 1
    store = client.app.state.runtimes.get("shopa").retriever.store
    assert [(e.shopper_id, e.item_id, e.quantity) for e in store.events] == [("17850", "shopa-2", 2)]
    assert client.delete("/api/v1/shoppers/17850", headers=A).json()["deleted"] is True
    assert store.events == []


def test_events_on_a_full_or_read_only_store_are_a_clear_507(client, tmp_path):
    from bundlebot.config.retrieval import StoreConfig
    from retrieval.store import _wrap

    store = client.app.state.runtimes.get("shopa").retriever.store
    ev = {"shopper": "17850", "events": [{"kind": "cart", "item_id": "shopa-2"}]}
    assert client.post("/api/v1/events", json=ev, headers=A).status_code == 200
    for refusal in ("(code: 13) database or disk is full", "(code: 8) attempt to write a readonly database"):
        def refused(events, vectors, refusal=refusal):  # what embedded Chroma raises, through the real wrapper
            with _wrap("write history", StoreConfig(), tmp_path / "chroma"):
                raise RuntimeError(f"Query error: Database error: error returned from database: {refusal}")
        store.add_events = refused
        r = client.post("/api/v1/events", json={**ev, "shopper": "s2"}, headers=A)
        err = r.json()["error"]
        assert r.status_code == 507 and err["code"] == "disk_error", r.text
        assert ("free space" if "full" in refusal else "writable") in err["hint"]
        assert "retry-after" not in r.headers and "Traceback" not in r.text  # waiting does not free a disk
    assert [e.shopper_id for e in store.events] == ["17850"]  # what was stored is still there


def test_unknown_item_is_404_and_event_for_unknown_item_is_refused(client):
    r = client.get("/api/v1/items/nope", headers=A)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    ev = {"shopper": "1", "events": [{"kind": "view", "item_id": "nope"}]}
    assert client.post("/api/v1/events", json=ev, headers=A).status_code == 404


def test_shop_a_cannot_read_or_write_shop_b(client):
    assert client.get("/api/v1/items/shopb-1", headers=A).status_code == 404
    assert client.get("/api/v1/items/shopb-1", headers=B).status_code == 200
    ev = {"shopper": "7", "events": [{"kind": "purchase", "item_id": "shopb-1"}]}
    assert client.post("/api/v1/events", json=ev, headers=A).status_code == 404
    assert client.post("/api/v1/events", json=ev, headers=B).status_code == 200
    client.delete("/api/v1/shoppers/7", headers=A)  # erases shop A's shopper 7 only
    assert len(client.app.state.runtimes.get("shopb").retriever.store.events) == 1
    b_state = client.post("/api/v1/turn", json={"message": "tea"}, headers=B).json()["state"]
    r = client.post("/api/v1/turn", json={"message": "tea", "state": b_state}, headers=A)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    b_token = sign_shopper_token(SECRET, "shopb", "7", 60)
    r = client.post("/api/v1/turn", json={"message": "tea", "shopper_token": b_token}, headers=A)
    assert r.status_code == 403
    turn = client.post("/api/v1/turn", json={"message": "tea"}, headers=A).json()
    assert all(ln["id"].startswith("shopa-") for ln in turn["bundle"]["items"])


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "sk-a-secret"},
                                     {"Authorization": "Basic c2stYQ=="}])
@pytest.mark.parametrize("method,path,body", [
    ("post", "/api/v1/turn", {"message": "tea"}), ("post", "/api/v1/turn/stream", {"message": "tea"}),
    ("post", "/v1/chat/completions", {"messages": [{"role": "user", "content": "tea"}]}),
    ("post", "/api/v1/events", {"shopper": "1", "events": [{"kind": "view", "item_id": "shopa-1"}]}),
    ("delete", "/api/v1/shoppers/1", None), ("get", "/api/v1/items/shopa-1", None)])
def test_every_endpoint_needs_a_key(client, headers, method, path, body):
    kwargs = {"json": body} if body is not None else {}
    r = client.request(method.upper(), path, headers=headers, **kwargs)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_widget_key_limits(client):
    r = client.delete("/api/v1/shoppers/1", headers=PA)
    assert r.status_code == 403
    r = client.post("/api/v1/turn", json={"message": "tea", "shopper": "17850"}, headers=PA)
    assert r.status_code == 403  # a browser cannot claim a shopper id
    tok = sign_shopper_token(SECRET, "shopa", "17850", 60)
    ev = {"shopper_token": tok, "events": [{"kind": "purchase", "item_id": "shopa-1"}]}
    assert client.post("/api/v1/events", json=ev, headers=PA).status_code == 403
    ev["events"][0]["kind"] = "cart"
    assert client.post("/api/v1/events", json=ev, headers=PA).status_code == 200
    r = client.post("/api/v1/turn", json={"message": "tea", "shopper_token": tok}, headers=PA)
    assert r.status_code == 200
    assert client.app.state.runtimes.get("shopa").assistant.calls[-1] == ("tea", "17850")


def test_state_cannot_smuggle_a_shopper(client):
    state = client.post("/api/v1/turn", json={"message": "tea"}, headers=PA).json()["state"]
    state["shopper"] = "victim"
    client.post("/api/v1/turn", json={"message": "tea", "state": state}, headers=PA)
    assert client.app.state.runtimes.get("shopa").assistant.calls[-1] == ("tea", None)


@pytest.mark.parametrize("make", [
    lambda: sign_shopper_token(SECRET, "shopa", "1", 1, now=0),           # expired
    lambda: sign_shopper_token("wrong", "shopa", "1", 60),               # forged
    lambda: sign_shopper_token(SECRET, "shopa", "1", 60)[:-3] + "AAA",    # tampered
])
def test_bad_shopper_tokens_are_401(client, make):
    headers = PA | {"X-Bundlebot-Shopper-Token": make()}
    r = client.post("/api/v1/turn", json={"message": "tea"}, headers=headers)
    assert r.status_code == 401


def test_cors_preflight_allowed_and_refused(client):
    pre = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization,content-type"}
    ok = client.options("/api/v1/turn/stream", headers=pre | {"Origin": "https://a.example"})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://a.example"
    assert "authorization" in ok.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in ok.headers
    bad = client.options("/api/v1/turn/stream", headers=pre | {"Origin": "https://evil.example"})
    assert bad.status_code == 403 and "access-control-allow-origin" not in bad.headers
    r = client.post("/api/v1/turn", json={"message": "tea"}, headers=PA | {"Origin": "https://a.example"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-allow-origin"] != "*"
    # an origin allowed for shop B is refused with shop A's key, and an unknown origin never runs a turn
    r = client.post("/api/v1/turn", json={"message": "tea"}, headers=PA | {"Origin": "https://b.example"})
    assert r.status_code == 403
    calls = len(client.app.state.runtimes.get("shopa").assistant.calls)
    r = client.post("/api/v1/turn", json={"message": "tea"}, headers=PA | {"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "cors_refused"
    assert len(client.app.state.runtimes.get("shopa").assistant.calls) == calls


def test_same_origin_page_needs_no_cors_entry(client):
    r = client.post("/api/v1/turn", json={"message": "tea"}, headers=PA | {"Origin": "http://testserver"})
    assert r.status_code == 200


def test_rate_limits_per_key_and_per_ip(tmp_path):
    with fake_client(tmp_path, rate_limit_per_minute=3) as c:
        codes = [c.get("/api/v1/items/shopa-1", headers=A).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/api/v1/items/shopa-1", headers=A)
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) == 20
        assert c.get("/api/v1/items/shopb-1", headers=B).status_code == 200  # another key, own bucket
    with fake_client(tmp_path, ip_rate_limit_per_minute=2) as c:
        codes = [c.get(f"/api/v1/items/{shop}-1", headers=h).status_code
                 for shop, h in (("shopa", A), ("shopb", B), ("shopb", B))]
        assert codes == [200, 200, 429]  # the same client IP, whatever the key


def test_malformed_json_and_schema_errors(client):
    r = client.post("/api/v1/turn", content=b"{not json", headers=A | {"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = client.post("/api/v1/turn", json={"msg": "tea"}, headers=A)
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_request"
    bad_state = {"shop": "shopa", "bundle": 5}
    r = client.post("/api/v1/turn", json={"message": "tea", "state": bad_state}, headers=A)
    assert r.status_code == 422 and "state.bundle" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"messages": []}, headers=A)
    assert r.status_code == 422


def test_too_long_message_is_422_and_big_body_413(client):
    r = client.post("/api/v1/turn", json={"message": "x" * 2001}, headers=A)
    assert r.status_code == 422 and "2001 characters" in r.json()["error"]["message"]
    r = client.post("/api/v1/turn", json={"message": "tea", "state": {"pad": "x" * 70_000}}, headers=A)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunked():  # no Content-Length: the limit is counted while reading
        yield b'{"message": "tea", "pad": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'
    r = client.post("/api/v1/turn", content=chunked(), headers=A | {"Content-Type": "application/json"})
    assert r.status_code == 413


def test_errors_never_leak_internals(client):
    r = client.post("/api/v1/turn", json={"message": "boom"}, headers=A)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "internal detail" not in r.text and "Traceback" not in r.text
    r = client.post("/api/v1/turn", json={"message": "junk"}, headers=A)
    assert r.status_code == 422 and r.json()["error"]["hint"] == "say what you need"
    s = client.post("/api/v1/turn/stream", json={"message": "boom"}, headers=A)
    assert sse_frames(s.text)[-1][0] == "error" and "internal detail" not in s.text
    c = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "junk"}],
                                                   "stream": True}, headers=A)
    frames = sse_frames(c.text)
    assert json.loads(frames[-2][1])["error"]["code"] == "bad_request" and frames[-1][1] == "[DONE]"
    assert client.get("/api/v1/nothing-here", headers=A).json()["error"]["code"] == "not_found"


def test_busy_is_429_with_retry_after_at_once(tmp_path):
    with fake_client(tmp_path, max_concurrent_turns=1, queue_timeout_s=0.2) as c:
        slow = threading.Thread(target=c.post, args=("/api/v1/turn",),
                                kwargs={"json": {"message": "slow tea"}, "headers": A})
        slow.start()  # holds the only slot for about 2 s (one 0.3 s sleep per word)
        calls = c.app.state.runtimes.get("shopa").assistant.calls
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        r = c.post("/api/v1/turn", json={"message": "tea"}, headers=A)
        refused_after = time.monotonic() - t0
        slow.join()
        assert r.status_code == 429 and r.json()["error"]["code"] == "busy", r.text
        # the expected wait (one turn ahead, 5 s before any turn has ended) is past the 0.2 s bound: refused
        # without queueing, and told when to come back
        assert refused_after < 0.2 and r.headers["retry-after"] == "5"
        assert c.post("/api/v1/turn", json={"message": "tea"}, headers=A).status_code == 200  # slot free again
        assert 1.0 < c.app.state.runner.admission.turn_s < 5.0  # the slow turn's ~2 s pulled the average down


def test_spec_declares_retry_after_where_it_is_sent(client):
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for status in ("429", "503"):
                if status in op["responses"] and path.startswith(("/api/", "/v1/")):
                    assert "Retry-After" in op["responses"][status].get("headers", {}), (path, status)


def test_turn_time_budget(tmp_path):
    with fake_client(tmp_path, turn_time_budget_s=0.5) as c:
        r = c.post("/api/v1/turn/stream", json={"message": "slow tea"}, headers=A)
        frames = sse_frames(r.text)
        assert frames[-1][0] == "error" and json.loads(frames[-1][1])["code"] == "turn_timeout"
        r = c.post("/api/v1/turn", json={"message": "slow tea"}, headers=A)
        assert r.status_code == 504 and r.json()["error"]["code"] == "turn_timeout"


def test_open_local_mode_needs_no_key(tmp_path):
    from bundlebot.config import AppConfig

    app = create_app(AppConfig(home=str(tmp_path)), assistant_factory=fake_factory(), ui=False)
    with TestClient(app) as c:
        r = c.post("/api/v1/turn", json={"message": "tea"})
        assert r.status_code == 200 and r.json()["bundle"]["items"][0]["id"].startswith("demo-")
        # but a random web page may not drive a loopback server from the shopper's browser
        r = c.post("/api/v1/turn", json={"message": "tea"}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403


def test_widget_and_demo_page_are_served(client):
    js = client.get("/widget.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "innerHTML" not in js.text and "bundlebot:add-to-cart" in js.text
    page = client.get("/demo-shop").text
    assert 'src="/widget.js"' in page and 'data-key="pk_a"' in page
