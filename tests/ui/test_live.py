"""A REAL uvicorn server on loopback: the official OpenAI client streams a bundle, and headless Chromium
drives the demo shop's widget and the Gradio UI. The service is the real ShoppingAssistant over the real
indexed demo shop (Chroma + MiniLM); only the causal LM is the fast fake from tests/assistant/fakes.py
(the real SmolLM2 runs in test_real_model.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bundlebot.config import AppConfig
from bundlebot.config.server import ServerConfig
from tests.ui.conftest import LiveServer
from ui.api import create_app
from ui.runtime import ShopRuntime

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECRET_KEY, WIDGET_KEY = "sk-demo-live", "pk_demo_live"


def real_app(demo_config: AppConfig, demo_retriever, generator=None, writer=None, **server: object):
    from assistant.service import ShoppingAssistant
    from tests.assistant.fakes import FakeGenerator

    gen = generator or FakeGenerator(text="These pieces suit the occasion and stay within the budget.")

    def factory(config: AppConfig, shop: str) -> ShopRuntime:
        return ShopRuntime(shop, ShoppingAssistant(config, shop, generator=gen, writer=writer,
                                                           retriever=demo_retriever),
                           demo_retriever)

    cfg = AppConfig(home=demo_config.home, data_dir=demo_config.data_dir, retrieval=demo_config.retrieval,
                    assistant=demo_config.assistant,
                    server=ServerConfig(default_shop="demo", api_keys={"demo": SECRET_KEY},
                                        widget_keys={WIDGET_KEY: "demo"}, shopper_token_secret="live-secret",
                                        **server))  # type: ignore[arg-type]
    return create_app(cfg, assistant_factory=factory)


@pytest.fixture(scope="module")
def live(demo_config, demo_retriever):
    with LiveServer(real_app(demo_config, demo_retriever)) as server:
        yield server


def test_openai_client_streams_a_bundle(live):
    import openai

    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=SECRET_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="bundlebot", stream=True,
        messages=[{"role": "user", "content": "hosting a tea party for six, about £25"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    bundle = final.model_extra["bundle"]
    assert len(bundle["items"]) >= 2 and bundle["total"] <= 25.0
    assert all(ln["title"] in text for ln in bundle["items"])  # plain clients see the bundle as text
    state = final.model_extra["bundlebot_state"]
    assert state["bundle"] == [ln["id"] for ln in bundle["items"]]
    follow = client.chat.completions.create(
        model="bundlebot", messages=[{"role": "user", "content": "remove the first one"}],
        extra_body={"bundlebot_state": state})
    after = follow.choices[0].message.model_extra["bundle"]
    assert bundle["items"][0]["id"] not in [ln["id"] for ln in after["items"]]


def test_openai_client_sees_auth_errors(live):
    import openai

    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="bundlebot", messages=[{"role": "user", "content": "tea"}])
    assert "unknown API key" in str(info.value)


# ---- the real browser ------------------------------------------------------------------------------------
def _chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (run `make browser-deps` as root: "
                    "apt-get install -y chromium)")
    probe = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--version"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"BROWSER TESTS SKIPPED: chromium cannot run here: {probe.stderr[-500:]}")


@pytest.fixture(scope="module")
def browser():
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _page(browser):
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()  # a context that may open tabs
    errors: list[str] = []
    _watch(page, errors)
    return page, errors


def _watch(page, errors: list[str]) -> None:
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))


@pytest.mark.browser
def test_widget_on_demo_shop_page_adds_bundle_to_cart(live, browser):
    page, errors = _page(browser)
    page.goto(f"{live.url}/demo-shop")
    page.locator(".launcher").click()  # Playwright's CSS locators pierce the widget's open shadow root
    page.locator("form input").fill("hosting a tea party for six, about £25")
    page.locator("form input").press("Enter")
    page.locator(".card").first.wait_for(timeout=60_000)
    page.locator(".add").click()
    page.wait_for_function("window.cartEvents.length === 1", timeout=10_000)
    detail = page.evaluate("window.cartEvents[0]")
    ids = page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.id)")
    assert [it["id"] for it in detail["items"]] == ids and all(it["quantity"] >= 1 for it in detail["items"])
    assert page.locator("#cart-count").inner_text() == str(sum(it["quantity"] for it in detail["items"]))
    page.locator(".msg.bot").last.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "widget-demo-shop.png"), full_page=True)
    assert errors == [], errors


@pytest.mark.browser
def test_gradio_ui_completes_a_turn(live, browser):
    page, errors = _page(browser)
    page.goto(f"{live.url}/")
    box = page.locator("#bb-input textarea")
    box.wait_for(timeout=30_000)
    box.fill("a christmas gift for my gran under £15")
    page.locator("#bb-send").click()
    page.locator("#bb-cards .bb-card").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="remove").first.wait_for(timeout=30_000)
    total = page.locator("#bb-cards .bb-total").inner_text()
    assert "budget £15.00" in total
    page.screenshot(path=str(ARTIFACTS / "gradio-ui.png"), full_page=True)
    assert errors == [], errors


def test_browser_artifacts_dir_is_ignored():
    out = subprocess.run(["git", "check-ignore", "test-artifacts/x.png"], cwd=ARTIFACTS.parent,
                         capture_output=True, text=True)
    assert out.returncode == 0 or shutil.which("git") is None


@pytest.mark.browser
def test_widget_feedback_changes_the_next_bundle_and_the_history(live, browser, demo_retriever):
    """Keyboard only: dislike one card and like another; the same request again has neither the disliked item
    nor its kind and keeps the liked one; "Add all to cart" makes the bundle the shopper's history."""
    from ui.security import sign_shopper_token

    shopper = "live-feedback-shopper"
    page, errors = _page(browser)
    page.goto(f"{live.url}/demo-shop")
    page.wait_for_function("window.Bundlebot !== undefined", timeout=10_000)
    page.evaluate("t => window.Bundlebot.setShopperToken(t)", sign_shopper_token("live-secret", "demo", shopper))
    page.locator(".launcher").click()
    message = "hosting a tea party for six, about £25"
    page.locator("form input").fill(message)
    page.locator("form input").press("Enter")
    page.locator(".card").first.wait_for(timeout=60_000)
    first = page.eval_on_selector_all(".cards .card", "els => els.map(e => e.dataset.id)")
    kind_of = demo_retriever.shop_kinds().kind_of
    kinds = {i: kind_of(i) for i in first}
    gone = next(i for i in first if kinds[i] and kinds[i] not in message)  # a kind the request does not name
    liked = next(i for i in first if i != gone and kinds[i] != kinds[gone])

    def press(item_id: str, button: str, reported: str) -> None:
        btn = page.locator(f'.card[data-id="{item_id}"] button.{button}')
        btn.focus()  # a focused <button> pressed with Enter
        page.keyboard.press("Enter")
        page.locator(f'.card[data-id="{item_id}"][data-reported="{reported}"]').wait_for(timeout=10_000)
        assert btn.get_attribute("aria-pressed") == "true"

    press(gone, "dislike", "dislike")
    press(liked, "like", "like")
    page.locator(".msg.bot").last.wait_for(timeout=30_000)
    page.locator("form input").fill(message)
    page.locator("form input").press("Enter")
    page.wait_for_function("document.querySelector('#bundlebot-widget').shadowRoot"
                           ".querySelectorAll('.cards').length === 2", timeout=60_000)
    second = page.evaluate("() => [...document.querySelector('#bundlebot-widget').shadowRoot"
                           ".querySelectorAll('.cards')[1].querySelectorAll('.card')].map(e => e.dataset.id)")
    assert second and gone not in second, (first, second)
    assert kinds[gone] not in [kind_of(i) for i in second], (kinds[gone], second)
    assert liked in second, (liked, second)
    stored = [(e.kind, e.item_id, e.request) for e in demo_retriever.store.feedback.events(shopper)]
    assert ("dislike", gone, message) in stored and ("like", liked, message) in stored
    assert [k for k, _, _ in stored].count("view") >= len(first)  # each shown bundle is logged as viewed
    assert demo_retriever.history(shopper) == []  # views, likes and dislikes are not history
    page.locator(".add").last.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("window.cartEvents.length === 1", timeout=10_000)
    for _ in range(50):  # the events request is sent after the cart event fires
        if {it.id for it, _ in demo_retriever.history(shopper)} == set(second):
            break
        page.wait_for_timeout(200)
    assert {it.id for it, _ in demo_retriever.history(shopper)} == set(second)
    assert all(ev.kind == "cart" for _, ev in demo_retriever.history(shopper))
    page.screenshot(path=str(ARTIFACTS / "widget-feedback.png"), full_page=True)
    demo_retriever.store.delete_shopper(shopper)
    assert errors == [], errors


@pytest.mark.browser
def test_gradio_ui_saves_the_conversation_in_the_browser(live, browser):
    page, errors = _page(browser)
    page.goto(f"{live.url}/")
    box = page.locator("#bb-input textarea")
    box.wait_for(timeout=30_000)
    box.fill("a christmas gift for my gran under £15")
    page.locator("#bb-send").click()
    page.locator("#bb-stop").wait_for(state="visible", timeout=10_000)  # the stop button while it streams
    page.locator("#bb-cards .bb-card").first.wait_for(timeout=60_000)
    page.locator("#bb-send").wait_for(state="visible", timeout=60_000)
    page.locator("#bb-saved label", has_text="christmas gift").wait_for(timeout=30_000)
    # the app opened again in a new tab of the same browser: a reload would abort whatever request the first
    # page still has in flight, and the browser logs that abort as an error of the page
    page = page.context.new_page()
    _watch(page, errors)
    page.goto(f"{live.url}/")
    saved = page.locator("#bb-saved label", has_text="christmas gift")
    saved.wait_for(timeout=30_000)  # still there after a reload: it lives in localStorage
    saved.click()
    page.locator("#bb-cards .bb-card").first.wait_for(timeout=30_000)
    assert "budget £15.00" in page.locator("#bb-cards .bb-total").inner_text()
    assert "christmas gift" in page.locator("#bb-chat").inner_text()
    assert errors == [], errors
