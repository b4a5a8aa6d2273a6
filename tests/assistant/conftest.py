"""Fixtures of the assistant's tests."""

from __future__ import annotations

import copy

import pytest


@pytest.fixture
def demo_bot(demo_config, demo_retriever):
    """The service on the real demo shop with the model off (no fusion, no explanation): bundles only."""
    from assistant.service import ShoppingAssistant

    cfg = copy.deepcopy(demo_config)
    cfg.assistant.fusion, cfg.assistant.explain = False, False
    return ShoppingAssistant(cfg, "demo", retriever=demo_retriever)
