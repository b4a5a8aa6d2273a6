"""Pydantic bodies of the HTTP API (the only place pydantic is used: at the edge).

>>> ChatRequest.model_validate({"messages": [{"role": "user", "content": "tea party"}]}).last_user_text()
'tea party'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.types import MAX_TIMESTAMP, MIN_TIMESTAMP


class TurnRequest(BaseModel):
    """One turn. ``state`` is the ``state`` of the previous answer (the server keeps no conversation)."""

    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, description="What the shopper wrote.",
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
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text ones
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI chat-completions body plus two optional bundlebot fields; other OpenAI knobs are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str = "bundlebot"
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
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


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["purchase", "cart", "view"]
    item_id: str = Field(min_length=1, max_length=200)
    quantity: int = Field(1, ge=1, le=10_000)
    timestamp: float | None = Field(None, ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP, allow_inf_nan=False,
                                    description="POSIX seconds (1970 to 2100); default now.")


class EventsRequest(BaseModel):
    """Shopper feedback. The shop's backend (secret key) may name ``shopper``; a widget key must send a
    ``shopper_token`` and may only report views and cart additions."""

    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=500)
    shopper: str | None = Field(None, max_length=200)
    shopper_token: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    hint: str | None = None
    type: str


class ErrorResponse(BaseModel):
    error: ErrorBody
