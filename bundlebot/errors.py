"""One error hierarchy for bundlebot, converted once at each boundary.

Every error says what was expected, what came, and how to fix it. The CLI turns it into a message and an
exit code, the HTTP API into JSON with a stable ``code`` and a status, the UI into a chat message.

>>> err = ConfigError("`top_k` should be positive, got 0", hint="set retrieval.top_k to 1 or more")
>>> str(err)
'`top_k` should be positive, got 0 (fix: set retrieval.top_k to 1 or more)'
>>> err.code, err.status
('config_error', 500)
>>> StoreError("chroma is down").retry_after, err.retry_after  # worth a retry: after this many seconds
(5, None)
"""

from __future__ import annotations


class BundlebotError(Exception):
    """Base class. ``code`` is stable (API clients switch on it), ``status`` is the HTTP status."""

    code = "error"
    status = 500
    retry_after: float | None = None
    """Seconds after which the same request may succeed (the API sends it as ``Retry-After``); None for
    errors that waiting does not fix."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class ConfigError(BundlebotError):
    code = "config_error"


class DataError(BundlebotError):
    """A file or data set that cannot be read at all (row-level problems are reported, not raised)."""

    code = "data_error"
    status = 422


class NotFoundError(BundlebotError):
    code = "not_found"
    status = 404


class ModelError(BundlebotError):
    """A model that cannot be found or loaded."""

    code = "model_error"
    status = 503


RETRY_AFTER_S = 5
"""``Retry-After`` of an unreachable store: long enough that a client's retries do not
pile onto the outage, short enough that a shopper retrying once it is back is served (bundlebot reconnects
to a restarted Chroma on the next turn)."""


class StoreError(BundlebotError):
    """The vector store is unreachable or refused an operation."""

    code = "store_error"
    status = 503
    retry_after = RETRY_AFTER_S


class DiskError(BundlebotError):
    """A write the disk refused: bundlebot's data home (or the store's folder) is full, read-only or not
    ours to write. What was stored before is unchanged (every write is a transaction, or a temporary file
    renamed into place), so the fix is to free space or permissions and run the same thing again."""

    code = "disk_error"
    status = 507  # Insufficient Storage: the server cannot store what the request needs


class RequestError(BundlebotError):
    """A request that cannot be served as asked (junk, too long, malformed state)."""

    code = "bad_request"
    status = 422


class AuthError(BundlebotError):
    code = "unauthorized"
    status = 401


class ForbiddenError(BundlebotError):
    code = "forbidden"
    status = 403


class RateLimitError(BundlebotError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"retry after {retry_after} s")
        self.retry_after = retry_after


class PayloadTooLargeError(BundlebotError):
    code = "payload_too_large"
    status = 413


class InternalError(BundlebotError):
    """Our own bug, reported to a client as a stable code (the trace is logged, never sent)."""

    code = "internal_error"


class TurnTimeoutError(BundlebotError):
    code = "turn_timeout"
    status = 504
