"""Unit tests of ui.security: shopper tokens, keys, rate limits, bind checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundlebot.config.server import ServerConfig
from bundlebot.errors import AuthError, ConfigError, ForbiddenError, RateLimitError
from ui.security import KeyRing, RateLimiter, check_bind, sign_shopper_token, verify_shopper_token

S = "secret-1"


def test_token_round_trip_and_expiry():
    tok = sign_shopper_token(S, "shopa", "12347", ttl_s=60, now=1_000)
    assert verify_shopper_token(S, tok, "shopa", now=1_059) == "12347"
    with pytest.raises(AuthError, match="expired"):
        verify_shopper_token(S, tok, "shopa", now=1_061)


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],          # signature changed
    lambda t: "x" + t[1:] if t[0] != "x" else "y" + t[1:],                # payload changed
    lambda t: t.split(".")[0],                                          # signature dropped
    lambda t: t + "x",
])
def test_tampered_token_is_rejected(mutate):
    tok = sign_shopper_token(S, "shopa", "12347", ttl_s=600)
    with pytest.raises(AuthError):
        verify_shopper_token(S, mutate(tok), "shopa")


def test_token_for_other_shop_or_secret_is_rejected():
    tok = sign_shopper_token(S, "shopb", "1", ttl_s=600)
    with pytest.raises(ForbiddenError):
        verify_shopper_token(S, tok, "shopa")
    with pytest.raises(AuthError, match="signature"):
        verify_shopper_token("other-secret", tok, "shopb")
    with pytest.raises(AuthError, match="no shopper secret"):
        verify_shopper_token(None, tok, "shopb")


@settings(max_examples=60, deadline=None)
@given(shopper=st.text(min_size=1, max_size=30), pos=st.integers(min_value=0), ch=st.sampled_from("AbZ9-_."))
def test_any_single_character_change_is_rejected(shopper, pos, ch):
    tok = sign_shopper_token(S, "shopa", shopper, ttl_s=600)
    i = pos % len(tok)
    forged = tok[:i] + ch + tok[i + 1:]
    if forged == tok:
        return
    try:
        got = verify_shopper_token(S, forged, "shopa")
    except AuthError:
        return
    # base64 padding bits: a change that decodes to the same bytes is the same token, never another shopper
    assert got == shopper


def test_keyring_maps_keys_to_shops_and_rejects_unknown():
    ring = KeyRing(ServerConfig(api_keys={"a": "sk-a"}, widget_keys={"pk": "a"}))
    assert (ring.authenticate("Bearer sk-a").shop, ring.authenticate("Bearer sk-a").kind) == ("a", "secret")
    assert ring.authenticate("bearer pk").kind == "widget"
    assert not ring.authenticate("Bearer pk").can_write
    for bad in (None, "", "Bearer", "Basic sk-a", "Bearer sk-b", "Bearer sk-a "[:-2]):
        with pytest.raises(AuthError):
            ring.authenticate(bad)


def test_open_mode_acts_for_default_shop():
    ring = KeyRing(ServerConfig(default_shop="demo"))
    who = ring.authenticate(None)
    assert (who.shop, who.kind, who.can_write) == ("demo", "local", True)


def test_rate_limiter_refills_and_reports_retry_after():
    t = [0.0]
    rl = RateLimiter(clock=lambda: t[0])
    for _ in range(3):
        rl.check("k", 3)
    with pytest.raises(RateLimitError) as info:
        rl.check("k", 3)
    assert info.value.retry_after == 20  # 3/min -> one token every 20 s
    rl.check("other", 3)  # buckets are independent
    t[0] = 20.0
    rl.check("k", 3)


@pytest.mark.parametrize("host,keys,workers,mode,ok", [
    ("127.0.0.1", {}, 1, "embedded", True),
    ("::1", {}, 1, "embedded", True),
    ("0.0.0.0", {}, 1, "embedded", False),
    ("192.168.1.5", {}, 1, "embedded", False),
    ("0.0.0.0", {"a": "k"}, 1, "embedded", True),
    ("127.0.0.1", {}, 2, "embedded", False),
    ("127.0.0.1", {}, 2, "http", True),
])
def test_check_bind(host, keys, workers, mode, ok):
    server = ServerConfig(api_keys=keys)
    if ok:
        check_bind(server, host, workers, mode)
    else:
        with pytest.raises(ConfigError):
            check_bind(server, host, workers, mode)


def test_config_refuses_wildcard_origin():
    with pytest.raises(ConfigError, match=r"\*"):
        ServerConfig(cors_origins={"a": ["*"]})


@pytest.mark.parametrize("sig", ["é", "签名签名", "\u202e", "\udcff"])
def test_a_non_ascii_signature_is_an_auth_error_not_a_crash(sig):
    payload = sign_shopper_token(S, "shopa", "42", ttl_s=600).partition(".")[0]
    with pytest.raises(AuthError, match="signature"):
        verify_shopper_token(S, f"{payload}.{sig}", "shopa")
    with pytest.raises(AuthError):
        verify_shopper_token(S, f"{sig}.{sig}", "shopa")
