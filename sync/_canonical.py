"""RFC 8785 (JSON Canonicalization Scheme) bytes and content hashes."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical(obj: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    return bytes(rfc8785.dumps(obj))


def content_hash(obj: Any) -> str:
    """SHA-256 hex of the canonical bytes: equal for equal JSON content, whatever its layout."""
    return hashlib.sha256(canonical(obj)).hexdigest()
