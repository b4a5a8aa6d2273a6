"""Who is asking, for which shop, and how often: API keys, HMAC shopper tokens, rate limits, bind checks.

A shop's **secret key** (``Authorization: Bearer sk…``) is for its backend: every endpoint. A **widget key**
is a public tenant id that a page embeds; it may chat and read items, never write or erase history. The
shopper behind a chat is named only by a short-lived **shopper token** the shop's backend signs with the
shared secret, so a browser cannot claim to be someone else:

>>> tok = sign_shopper_token("s3cret", "demo", "17850", ttl_s=600, now=1000.0)
>>> verify_shopper_token("s3cret", tok, "demo", now=1500.0)
'17850'
>>> verify_shopper_token("s3cret", tok, "demo", now=1700.0)
Traceback (most recent call last):
...
bundlebot.errors.AuthError: shopper token expired 100 s ago (fix: have the shop's backend sign a fresh token)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bundlebot.config.server import ServerConfig
from bundlebot.errors import AuthError, ConfigError, ForbiddenError, RateLimitError, RequestError

PrincipalKind = Literal["secret", "widget", "local"]


class InvalidJSONError(RequestError):
    """A body that is not JSON at all (schema violations stay ``bad_request`` 422)."""

    code = "invalid_json"
    status = 400


class BusyError(RateLimitError):
    """The server's turn slots are taken for longer than a turn may queue (``ui.admission``): 429, like an
    overloaded OpenAI model, with a ``Retry-After`` of the expected wait."""

    code = "busy"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_shopper_token(secret: str, shop: str, shopper_id: str, ttl_s: float = 900,
                       *, now: float | None = None) -> str:
    """A token naming ``shopper_id`` of ``shop`` until ``now + ttl_s``; sign it on the shop's server.

    Format: ``base64url(json{"shop","sub","exp"}) + "." + base64url(HMAC-SHA256(secret, payload))``.
    """
    if not secret:
        raise ConfigError("a shopper token needs a secret", hint="set BUNDLEBOT_SHOPPER_SECRET")
    if ttl_s <= 0:
        raise ConfigError(f"ttl_s should be positive, got {ttl_s}")
    exp = int((time.time() if now is None else now) + ttl_s)
    payload = _b64(json.dumps({"shop": shop, "sub": str(shopper_id), "exp": exp},
                              separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(sig)}"


def verify_shopper_token(secret: str | None, token: str, shop: str, *, now: float | None = None) -> str:
    """The shopper id inside ``token`` if it is authentic, unexpired and for ``shop``; AuthError otherwise."""
    if not secret:
        raise AuthError("a shopper token was sent but the server has no shopper secret",
                        hint="set BUNDLEBOT_SHOPPER_SECRET (or server.shopper_token_secret)")
    payload, _, sig = token.partition(".")
    expected = _b64(hmac.new(secret.encode(), payload.encode("utf-8", "surrogatepass"), hashlib.sha256).digest())
    # bytes, not str: compare_digest refuses non-ASCII str, and the token is whatever a client sent
    if not sig or not hmac.compare_digest(sig.encode("utf-8", "surrogatepass"), expected.encode()):
        raise AuthError("shopper token signature does not match", hint="sign it with the shared secret")
    try:
        claims = json.loads(_unb64(payload))
        exp, sub, tok_shop = float(claims["exp"]), str(claims["sub"]), str(claims["shop"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthError("shopper token payload is malformed") from exc
    late = (time.time() if now is None else now) - exp
    if late > 0:
        raise AuthError(f"shopper token expired {late:.0f} s ago",
                        hint="have the shop's backend sign a fresh token")
    if tok_shop != shop:
        raise ForbiddenError(f"shopper token is for shop {tok_shop!r}, the key is for {shop!r}")
    return sub


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: which shop, with which kind of key."""

    shop: str
    kind: PrincipalKind
    key_id: str
    """What rate limits count against (a key fingerprint, never the key)."""

    @property
    def can_write(self) -> bool:
        return self.kind in ("secret", "local")


class KeyRing:
    """Maps ``Authorization: Bearer KEY`` to a Principal, comparing keys in constant time."""

    def __init__(self, server: ServerConfig) -> None:
        self.server = server
        self._keys: list[tuple[bytes, Principal]] = []
        for shop, key in server.api_keys.items():
            self._keys.append((key.encode(), Principal(shop, "secret", _fingerprint(key))))
        for key, shop in server.widget_keys.items():
            self._keys.append((key.encode(), Principal(shop, "widget", _fingerprint(key))))

    def authenticate(self, authorization: str | None) -> Principal:
        if self.server.open_mode:
            # Loopback-only local mode: no keys exist, so any caller acts for the default shop.
            return Principal(self.server.default_shop, "local", "local")
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthError("missing API key", hint="send 'Authorization: Bearer YOUR_SHOP_KEY'")
        presented = key.strip().encode()
        found = None
        for stored, principal in self._keys:  # no early exit: timing does not reveal which key matched
            if hmac.compare_digest(stored, presented):
                found = principal
        if found is None:
            raise AuthError("unknown API key", hint="use a key from server.api_keys / BUNDLEBOT_API_KEYS")
        return found


def _fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class RateLimiter:
    """Token buckets: ``limit`` requests per minute per name, refilled continuously.

    >>> t = [0.0]
    >>> rl = RateLimiter(clock=lambda: t[0])
    >>> [rl.check("k", 2) for _ in range(2)]
    [None, None]
    >>> try:
    ...     rl.check("k", 2)
    ... except RateLimitError as e:
    ...     e.retry_after
    30
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, name: str, limit: int) -> None:
        now, rate = self.clock(), limit / 60.0
        with self._lock:
            tokens, last = self._buckets.get(name, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[name] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise RateLimitError(f"more than {limit} requests per minute", retry_after=wait)
            self._buckets[name] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # bound memory under a flood of distinct IPs
                self._buckets.clear()


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(server: ServerConfig, host: str, workers: int, store_mode: str) -> None:
    """Refuse the unsafe ways to start: public bind without keys, many workers on the embedded store."""
    if not is_loopback(host) and server.open_mode:
        raise ConfigError(f"refusing to listen on {host} without API keys",
                          hint="set BUNDLEBOT_API_KEYS=shop:key (and widget keys), or bind 127.0.0.1")
    if workers > 1 and store_mode != "http":
        raise ConfigError(f"{workers} workers need the Chroma server store, got store mode {store_mode!r}",
                          hint="run `chroma run` and set retrieval.store.mode = 'http', or use --workers 1")
