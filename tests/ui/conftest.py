"""Fixtures of the ui tests: a two-shop keyed config, TestClients, and a real uvicorn server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bundlebot.config import AppConfig
from bundlebot.config.server import ServerConfig
from tests.ui.fakes import fake_factory
from ui.api import create_app

SECRET = "test-shopper-secret"
KEYS = {"shopa": "sk-a-secret", "shopb": "sk-b-secret"}
WIDGET = {"pk_a": "shopa", "pk_b": "shopb"}
ORIGINS = {"shopa": ["https://a.example"], "shopb": ["https://b.example"]}


def keyed_config(tmp_path, **server: object) -> AppConfig:
    base = dict(api_keys=dict(KEYS), widget_keys=dict(WIDGET), cors_origins=dict(ORIGINS),
                default_shop="shopa", shopper_token_secret=SECRET, rate_limit_per_minute=1000,
                ip_rate_limit_per_minute=1000)
    base.update(server)
    return AppConfig(home=str(tmp_path), server=ServerConfig(**base))  # type: ignore[arg-type]


@pytest.fixture
def config(tmp_path) -> AppConfig:
    return keyed_config(tmp_path)


@pytest.fixture
def client(config) -> Iterator[TestClient]:
    with TestClient(create_app(config, assistant_factory=fake_factory(), ui=False)) as c:
        yield c


def fake_client(tmp_path, **server: object) -> TestClient:
    """A TestClient over the fake service with the keyed config, ``server`` fields overridden."""
    app = create_app(keyed_config(tmp_path, **server), assistant_factory=fake_factory(), ui=False)
    return TestClient(app)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def sse_frames(text: str) -> list[tuple[str | None, str]]:
    """Parse an SSE body strictly: every frame ends with a blank line; returns (event, data)."""
    assert text.endswith("\n\n"), "an SSE body must end with a blank line"
    frames = []
    for block in text[:-2].split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            field, sep, value = line.partition(": ")
            assert sep, f"bad SSE line {line!r}"
            if field == "event":
                event = value
            else:
                assert field == "data", f"unexpected SSE field {field!r}"
                data.append(value)
        frames.append((event, "\n".join(data)))
    return frames
