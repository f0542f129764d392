"""The node's error tree, turned into HTTP responses by one handler (see node.app).

Error tree::

    NodeError (500)
    ├── BadRequest (400)          invalid input; nothing changed
    ├── Unauthenticated (401)     no or unknown credentials
    ├── Forbidden (403)           authenticated, but the role does not allow it
    ├── NotFound (404)
    ├── Conflict (409)            the request collides with existing state
    ├── TooManyAttempts (429)     too many failed attempts; ``Retry-After`` says when to retry
    └── Unavailable (503)         try again later; nothing changed

Protocol rejections (sync.Rejected) are mapped to 400/401/409 with their stable code.
Request validation errors (FastAPI/pydantic) are answered as BadRequest, code
``invalid_request``, naming the field (see node.app).
"""

from __future__ import annotations


class NodeError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if code is not None:
            self.code = code


class BadRequest(NodeError):
    status = 400
    code = "bad_request"


class Unauthenticated(NodeError):
    status = 401
    code = "unauthenticated"


class Forbidden(NodeError):
    status = 403
    code = "forbidden"


class NotFound(NodeError):
    status = 404
    code = "not_found"


class Conflict(NodeError):
    status = 409
    code = "conflict"


class Unavailable(NodeError):
    """Try again later (503): the sender backs off and retries, nothing was changed."""

    status = 503
    code = "unavailable"


class TooManyAttempts(NodeError):
    """Too many failed sign-ins or enrolment tokens: refused until ``retry_after`` seconds."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)
