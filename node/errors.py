"""The node's error tree, turned into HTTP responses by one handler (see node.app).

Error tree::

    NodeError (500)
    ├── BadRequest (400)          invalid input; nothing changed
    ├── Unauthenticated (401)     no or unknown credentials
    ├── Forbidden (403)           authenticated, but the role does not allow it
    ├── NotFound (404)
    └── Conflict (409)            the request collides with existing state

Protocol rejections (sync.Rejected) are mapped to 400/401/409 with their stable code.
"""

from __future__ import annotations


class NodeError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
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
