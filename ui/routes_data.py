"""Shop data endpoints: shopper feedback events, erasing a shopper, reading a catalog item.

Every call works inside the shop of the presenting key: shop A's key can neither see shop B's items nor
touch shop B's shoppers.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from bundlebot.errors import ForbiddenError, NotFoundError, RequestError
from retrieval.feedback import LiveEvent, record
from ui import deps
from ui.routes_turn import ERRORS
from ui.schemas import EventsRequest
from ui.security import Principal

router = APIRouter(tags=["shop data"])
Who = Annotated[Principal, Depends(deps.principal)]
Writer = Annotated[Principal, Depends(deps.writer)]
WIDGET_EVENT_KINDS = {"view", "cart", "like", "dislike", "remove"}
"""What a shopper's browser may report: everything but a purchase, which only the shop's backend knows."""


@router.post("/api/v1/events", responses=ERRORS)
async def add_events(body: EventsRequest, request: Request, who: Who) -> dict[str, Any]:
    """Record what a shopper did: purchases and cart additions join their history in this shop; views,
    likes, dislikes and removals are kept as feedback, which their next turn reads (``retrieval/feedback.py``)."""
    shopper = deps.shopper_of(request, who, body.shopper_token, body.shopper)
    if shopper is None:
        raise RequestError("no shopper named", hint="send shopper_token (widget) or shopper (secret key)")
    if not who.can_write and any(e.kind not in WIDGET_EVENT_KINDS for e in body.events):
        raise ForbiddenError("a widget key may not report purchases",
                             hint="report purchases from the shop's backend with its secret key")
    runtime = await deps.runtime_of(request, who)
    now = time.time()
    events = [LiveEvent(shopper, e.item_id, e.kind, e.timestamp or now, e.quantity, e.scope, e.request or "")
              for e in body.events]
    added = await run_in_threadpool(record, runtime.retriever.store, events)
    return {"shop": who.shop, "shopper": shopper, "added": added}


@router.delete("/api/v1/shoppers/{shopper_id}", responses=ERRORS)
async def delete_shopper(shopper_id: str, request: Request, who: Writer) -> dict[str, Any]:
    """Erase everything this shop stores about a shopper (history and feedback events). Secret key only."""
    runtime = await deps.runtime_of(request, who)
    await run_in_threadpool(runtime.retriever.store.delete_shopper, shopper_id)
    return {"shop": who.shop, "shopper": shopper_id, "deleted": True}


@router.get("/api/v1/items/{item_id}", responses=ERRORS)
async def get_item(item_id: str, request: Request, who: Who) -> dict[str, Any]:
    """One catalog item of the key's shop."""
    runtime = await deps.runtime_of(request, who)
    item = await run_in_threadpool(runtime.retriever.item, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id!r} in shop {who.shop!r}", hint="use an id from a bundle")
    return item.to_dict()
