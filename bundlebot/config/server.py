"""Configuration of the server: bind address, API keys, CORS, limits.

Secure by default: with no key configured the server answers only on loopback ("open local mode", every
request acts for ``default_shop``); with keys, every API request must carry a shop's key.

>>> cfg = ServerConfig(api_keys={"demo": "sk-1"}, widget_keys={"pk_demo": "demo"})
>>> cfg.open_mode, sorted(cfg.shops)
(False, ['demo'])
"""

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
    max_concurrent_turns: int = 2
    """Turns computed at once per process (the model is CPU-bound; more only adds contention)."""
    queue_timeout_s: float = 30.0
    """The longest a turn may wait for a free slot. A turn whose expected wait (turns ahead x recent turn
    time) is longer is refused at once with 429 ``busy`` + Retry-After instead of queueing into a timeout."""
    turn_time_budget_s: float | None = None
    """Hard wall-clock ceiling of one turn once it runs (then error ``turn_timeout``, HTTP 504).
    None = 1.5 x assistant.turn_time_budget_s + 5 s (the service's own budget is soft: past it, it
    falls back to a deterministic explanation, and needs a moment to do so)."""
    max_history_messages: int = 20
    """How many prior chat messages /v1/chat/completions keeps when it derives the state from them."""
    ui_shopper_picker: bool | None = None
    """Show the demo-shopper picker (with history) in the Gradio UI. None = only in open local mode."""
    demo_shoppers: list[str] = field(default_factory=list)
    """Shopper ids offered by the picker; empty = the shoppers with the most history in the store."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"server.workers should be >= 1, got {self.workers}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"server.port should be 1..65535, got {self.port}")
        for name in ("rate_limit_per_minute", "ip_rate_limit_per_minute", "max_body_bytes",
                     "max_message_chars", "max_concurrent_turns"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"server.{name} should be positive, got {getattr(self, name)}")
        for shop, origins in self.cors_origins.items():
            if "*" in origins:
                raise ConfigError(f"server.cors_origins[{shop!r}] contains '*'",
                                  hint="list exact origins such as 'https://shop.example'")

    @property
    def open_mode(self) -> bool:
        """No key configured: loopback only, every request acts for the default shop."""
        return not self.api_keys and not self.widget_keys

    @property
    def shops(self) -> set[str]:
        return set(self.api_keys) | set(self.widget_keys.values()) or {self.default_shop}
