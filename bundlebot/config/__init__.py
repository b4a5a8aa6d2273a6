"""The one app config: a dataclass per stage, composed here, loaded once at the entry point.

Sources, later wins: built-in defaults < TOML file (``--config`` or ``BUNDLEBOT_CONFIG``) < environment
(``BUNDLEBOT_HOME``, ``BUNDLEBOT_DATA``, ``BUNDLEBOT_API_KEYS``, ``BUNDLEBOT_SHOPPER_SECRET``).
Nothing reads config at import time; the config object is passed down explicitly.

>>> cfg = AppConfig()
>>> cfg.retrieval.store.mode, cfg.server.port
('embedded', 7860)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundlebot.config.assistant import AssistantConfig
from bundlebot.config.retrieval import RetrievalConfig
from bundlebot.config.server import ServerConfig
from bundlebot.configtools import from_dict
from bundlebot.errors import ConfigError
from bundlebot.paths import default_data_dir, default_home


@dataclass
class AppConfig:
    home: str | None = None
    """Everything bundlebot writes (indexes, model cache, statistics). None = $BUNDLEBOT_HOME or ~/.bundlebot."""
    data_dir: str | None = None
    """The shared data sets. None = $BUNDLEBOT_DATA or ../shared/data next to the project."""
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    assistant: AssistantConfig = field(default_factory=AssistantConfig)
    server: ServerConfig = field(default_factory=ServerConfig)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser() if self.home else default_home()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def store_path(self) -> Path:
        p = self.retrieval.store.path
        return Path(p).expanduser() if p else self.home_path / "chroma"


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> AppConfig:
    """Load the app config from a TOML file (optional) and the environment."""
    data: dict[str, Any] = {}
    path = path or os.environ.get("BUNDLEBOT_CONFIG")
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist", hint="pass an existing TOML file to --config")
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    _merge(data, overrides or {})
    cfg = from_dict(AppConfig, data)
    _apply_env(cfg)
    return cfg


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def _apply_env(cfg: AppConfig) -> None:
    if os.environ.get("BUNDLEBOT_HOME"):
        cfg.home = os.environ["BUNDLEBOT_HOME"]
    if os.environ.get("BUNDLEBOT_DATA"):
        cfg.data_dir = os.environ["BUNDLEBOT_DATA"]
    keys = os.environ.get("BUNDLEBOT_API_KEYS", "").strip()
    if keys:
        cfg.server.api_keys.update(parse_api_keys(keys))
    if os.environ.get("BUNDLEBOT_SHOPPER_SECRET"):
        cfg.server.shopper_token_secret = os.environ["BUNDLEBOT_SHOPPER_SECRET"]


def parse_api_keys(text: str) -> dict[str, str]:
    """Parse ``shop:key,shop:key``.

    >>> parse_api_keys("demo:k1, other:k2")
    {'demo': 'k1', 'other': 'k2'}
    """
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        shop, sep, key = pair.partition(":")
        if not sep or not shop or not key:
            raise ConfigError(f"BUNDLEBOT_API_KEYS entry {pair!r} is not shop:key",
                              hint="write BUNDLEBOT_API_KEYS=demo:SECRET1,othershop:SECRET2")
        out[shop] = key
    return out
