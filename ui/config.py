"""Configuration of the server: bind address, API keys, CORS, limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from bundlebot.errors import ConfigError


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    workers: int = 1
    """Uvicorn workers; more than 1 needs the Chroma server store (the embedded store is not process-safe)."""
    default_shop: str = "demo"
    api_keys: dict[str, str] = field(default_factory=dict)
    """shop -> secret key for `Authorization: Bearer KEY`. Also from BUNDLEBOT_API_KEYS=shop:key,shop:key."""
    widget_keys: dict[str, str] = field(default_factory=dict)
    """public widget key -> shop (a tenant id, not a secret)."""
    shopper_token_secret: str | None = None
    """HMAC secret a shop's backend signs shopper tokens with. Also BUNDLEBOT_SHOPPER_SECRET."""
    cors_origins: dict[str, list[str]] = field(default_factory=dict)
    """shop -> allowed browser origins."""
    rate_limit_per_minute: int = 60
    ip_rate_limit_per_minute: int = 120
    max_body_bytes: int = 64_000
    max_message_chars: int = 2_000
    ui: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"server.workers should be >= 1, got {self.workers}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"server.port should be 1..65535, got {self.port}")
