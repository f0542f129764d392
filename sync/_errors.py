"""Protocol errors.

Error tree::

    SyncError                 base of everything the protocol raises
    ├── Rejected              an envelope or request was refused; ``code`` is a stable ErrorCode
    └── TransportError        the peer could not be reached or answered 5xx: retry later
        └── PeerRejected      the peer answered with a typed 4xx error: do not retry as-is
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    malformed_json = "malformed_json"
    invalid_envelope = "invalid_envelope"
    unsupported_version = "unsupported_version"
    unknown_type = "unknown_type"
    body_too_large = "body_too_large"
    batch_too_large = "batch_too_large"
    future_timestamp = "future_timestamp"
    unknown_origin = "unknown_origin"
    wrong_direction = "wrong_direction"
    wrong_recipient = "wrong_recipient"
    unknown_key = "unknown_key"
    key_retired = "key_retired"
    bad_signature = "bad_signature"
    schema_violation = "schema_violation"
    id_conflict = "id_conflict"
    version_conflict = "version_conflict"
    # who may say what (node/protocol/policy.py, docs/protocol.md "Who may send what")
    wrong_route = "wrong_route"
    origin_mismatch = "origin_mismatch"
    division_mismatch = "division_mismatch"
    key_conflict = "key_conflict"
    stale_rotation = "stale_rotation"
    # enrolment and request authentication
    token_invalid = "token_invalid"
    token_expired = "token_expired"
    token_used = "token_used"
    enrol_mismatch = "enrol_mismatch"
    unauthenticated_node = "unauthenticated_node"


class SyncError(Exception):
    """Base class of every protocol error."""


class Rejected(SyncError):
    """An envelope or request was refused. Nothing was changed."""

    def __init__(self, code: ErrorCode, message: str, pointer: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.pointer = pointer

    def as_dict(self) -> dict[str, str]:
        d = {"code": self.code.value, "message": self.message}
        if self.pointer is not None:
            d["pointer"] = self.pointer
        return d


class TransportError(SyncError):
    """The peer was unreachable, timed out or failed (5xx). Transient: retry with backoff."""


class PeerRejected(TransportError):
    """The peer answered a typed 4xx error; retrying the same request will not help."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"peer rejected ({status} {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
