"""Pydantic bodies of the HTTP API (the only place pydantic is used: at the edge).

Request bodies are strict: the spec says ``"stream": boolean``, so ``"stream": 0`` or ``"quantity": "2"`` is a
422, not silently coerced (the API fuzzer checks that what the schema forbids is refused).

>>> ChatRequest.model_validate({"messages": [{"role": "user", "content": "tea party"}]}).last_user_text()
'tea party'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrieval.types import MAX_TIMESTAMP, MIN_TIMESTAMP


class TurnRequest(BaseModel):
    """One turn. ``state`` is the ``state`` of the previous answer (the server keeps no conversation)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    # pattern: the server strips the text, so a blank message is refused (422) like an empty one; saying so
    # in the schema keeps the spec an exact description of what is accepted.
    message: str = Field(min_length=1, pattern=r"\S", description="What the shopper wrote.",
                         examples=["hosting a tea party for six, about £25"])
    state: dict[str, Any] | None = Field(None, description="The previous turn's `state`, sent back as is.")
    shopper_token: str | None = Field(None, description="A token signed by the shop's backend "
                                      "(ui.security.sign_shopper_token) naming the shopper for history.")
    shopper: str | None = Field(None, description="Shopper id; only with the shop's secret key.")


class TurnResponse(BaseModel):
    bundle: dict[str, Any] = Field(description="BundleResult: items (id, title, price, reason...), total...")
    constraints: dict[str, Any]
    explanation: str
    grounded: bool
    state: dict[str, Any] = Field(description="Send back as `state` with the next message.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    include_usage: bool = Field(False, description="With `stream: true`: every chunk has `usage: null` and one "
                                "more chunk, with empty `choices` and the `usage`, comes before `[DONE]`.")


class ChatRequest(BaseModel):
    """OpenAI chat-completions body plus two optional bundlebot fields. ``n``, ``stop`` and ``stream_options``
    are honoured or refused (a client relying on them must not get a silently different answer); other
    OpenAI knobs (temperature...) are ignored: the answer is a deterministic bundle."""

    # The example is a request the server answers (a user message with text): random bodies rarely are one,
    # so it is what the API fuzzer's examples phase sends to reach a 200.
    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra={"examples": [
        {"model": "bundlebot", "messages": [{"role": "user", "content": "a tea party for six, about £25"}]}]})
    model: str = "bundlebot"
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = Field(None, description="Read only with `stream: true`.")
    # The schema's maximum is 1 (what is served); validation stops at 1 <= n so that the route, not a
    # generic 422, tells a client asking for more that one answer per turn is all there is.
    n: Annotated[int, Field(ge=1, json_schema_extra={"maximum": 1})] | None = Field(
        None, description="Only 1: one bundle per turn. n > 1 is a 400 `unsupported_parameter`.")
    stop: str | Annotated[list[str], Field(max_length=4)] | None = Field(
        None, description="Up to 4 sequences: the text (`content`, streamed or not) ends before "
        "the first one. `bundle` is structured data and is never cut; `bundlebot_state` keeps the whole turn.")
    bundlebot_state: dict[str, Any] | None = Field(
        None, description="The `bundlebot_state` of the previous response (send it via extra_body) so "
                          "follow-ups such as 'remove #2' edit the current bundle.")
    shopper_token: str | None = Field(None, description="Signed shopper token (or header "
                                      "X-Bundlebot-Shopper-Token).")

    def last_user_text(self) -> str:
        for msg in reversed(self.messages):
            if msg.role == "user":
                return msg.text().strip()
        return ""

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or ())

    def include_usage(self) -> bool:
        return self.stream and self.stream_options is not None and self.stream_options.include_usage


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["purchase", "cart", "view", "like", "dislike", "remove"] = Field(
        description="purchase / cart: joins the shopper's history; view: logged only; like / dislike / remove: "
                    "the shopper's verdict on a shown item, read by their next turn (a disliked item never "
                    "comes back and its kind is demoted, a liked one is boosted, a removed one demoted).")
    item_id: str = Field(min_length=1, max_length=200)
    quantity: int = Field(1, ge=1, le=10_000)
    timestamp: float | None = Field(None, ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP, allow_inf_nan=False,
                                    description="POSIX seconds (1970 to 2100); default now.")
    scope: Literal["item", "bundle"] = Field(
        "item", description="`bundle`: a like / dislike of the whole bundle, sent once per item in it "
                            "(weaker than an item's own verdict, and it moves no kind).")
    request: str | None = Field(None, max_length=2000, description="The shopper's request the bundle answered "
                                "(kept with the event as training context).")


class EventsRequest(BaseModel):
    """Shopper events. The shop's backend (secret key) may name ``shopper``; a widget key must send a
    ``shopper_token`` and may report anything but purchases (views, cart additions and the shopper's own
    likes, dislikes and removals)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"shopper": "17850", "events": [{"kind": "view", "item_id": "shopa-0"}]}]})
    events: list[EventIn] = Field(min_length=1, max_length=500)
    shopper: str | None = Field(None, max_length=200)
    shopper_token: str | None = None

    @model_validator(mode="after")
    def _bundle_scope(self) -> EventsRequest:
        bad = [e.kind for e in self.events if e.scope == "bundle" and e.kind not in ("like", "dislike")]
        if bad:  # as the log's own check, but a 422 the schema states
            raise ValueError(f"a bundle-wide event is a like or a dislike, got {bad[0]!r}")
        return self


class ErrorBody(BaseModel):
    code: str
    message: str
    hint: str | None = None
    type: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class Ready(BaseModel):
    ready: bool
    shop: str
    error: str | None = Field(None, description="Why the default shop failed to load, if it did.")
    ranker: Literal["learned", "hand"] = Field("hand", description="How the shop ranks: its learned ranker "
                                                                  "(bundlebot fit) or the hand weights.")
    ranker_note: str | None = Field(None, description="Why the hand weights, when they are used.")
    embedder: Literal["tuned", "base"] = Field("base", description="The shop's own fine-tuned embedder "
                                                                  "(bundlebot fit) or the base one alone.")
    embedder_note: str | None = Field(None, description="Why the base embedder alone, when it is.")


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"]
    content: str = Field(description="The bundle as text, then the checked explanation.")
    bundle: dict[str, Any] = Field(description="BundleResult, as in /api/v1/turn.")


class ChatChoice(BaseModel):
    index: int
    message: ChatChoiceMessage
    finish_reason: Literal["stop"]


class ChatUsage(BaseModel):
    """Tokens of the explanation, in the generator's tokenizer. When the model wrote it (even if the fact
    check replaced it by the deterministic text): the explanation prompt's tokens and every token the model
    generated. When no model wrote it (explanations off, an empty bundle): prompt 0 and the deterministic
    explanation's tokens if the model is loaded, else 0. Not counted: the bundle listing in `content`, the
    candidates' LLM scoring passes."""

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class ChatCompletion(BaseModel):
    """The non-streamed answer of /v1/chat/completions (OpenAI's shape plus ``bundlebot_state``)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    bundlebot_state: dict[str, Any] = Field(description="Send back as `bundlebot_state` with the next turn.")
