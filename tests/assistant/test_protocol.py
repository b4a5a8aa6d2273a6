"""The real Retriever and every fake implement the whole ``ShopRetriever`` protocol, with its signatures, so
the fast tests run the production turn path (no fallback branch for a retriever that lacks a method)."""

from __future__ import annotations

import inspect

import pytest

from retrieval.protocol import Pool, ShopRetriever
from retrieval.search import CandidatePool, Retriever
from tests.assistant.fakes import FakePool, FakeRetriever
from tests.ui.fakes import FakeRetriever as UIFakeRetriever

MEMBERS = [n for n in dir(ShopRetriever) if not n.startswith("_") and callable(getattr(ShopRetriever, n))]


def _params(fn) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", [Retriever, FakeRetriever, UIFakeRetriever])
def test_every_retriever_has_every_method_with_the_protocols_parameters(cls) -> None:
    assert {"gather", "rank", "rescore", "candidates", "item", "history", "warm"} <= set(MEMBERS)
    for name in MEMBERS:
        assert _params(getattr(cls, name)) == _params(getattr(ShopRetriever, name)), (cls.__name__, name)


def test_the_fakes_are_instances_of_the_protocol() -> None:
    assert isinstance(FakeRetriever(), ShopRetriever) and isinstance(UIFakeRetriever("shopa"), ShopRetriever)
    pool = FakeRetriever().gather("tea", shopper=None)
    assert isinstance(pool, Pool) and isinstance(pool, FakePool)
    assert callable(CandidatePool.merged) and "history" in CandidatePool.__dataclass_fields__


def test_the_real_retriever_is_an_instance_of_the_protocol(demo_retriever) -> None:
    assert isinstance(demo_retriever, ShopRetriever)
    assert isinstance(demo_retriever.gather("teapot", shopper=None), Pool)
