"""The whole stack with the REAL default generator (SmolLM2-135M-Instruct): one turn through the HTTP API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.ui.test_live import SECRET_KEY, real_app


@pytest.mark.slow
def test_real_model_turn_through_the_api(demo_config, demo_retriever):
    from assistant.modelfiles import DEFAULT_EXPLAIN_ADAPTER_DIR
    from assistant.service import ShoppingAssistant

    real = ShoppingAssistant(demo_config, "demo", retriever=demo_retriever)
    # the real ones: the scoring adapter scores, the explanation adapter writes
    generator, writer = real.generator, real.writer
    assert writer.info["adapter"] == str(DEFAULT_EXPLAIN_ADAPTER_DIR) != generator.info["adapter"]
    app = real_app(demo_config, demo_retriever, generator=generator, writer=writer, turn_time_budget_s=120.0)
    with TestClient(app) as client:
        r = client.post("/api/v1/turn", json={"message": "hosting a tea party for six, about £25"},
                        headers={"Authorization": f"Bearer {SECRET_KEY}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["bundle"]["items"] and body["bundle"]["total"] <= 25.0
    assert body["explanation"] and body["state"]["bundle"] == [ln["id"] for ln in body["bundle"]["items"]]
