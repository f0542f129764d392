"""RFC 8785 (JSON Canonicalization Scheme) bytes and content hashes.

The reference implementation is the ``rfc8785`` package. It is pure Python, so documents
for which the standard library's C encoder provably produces the same bytes take a fast path:
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` equals JCS when

- no number is a float (outside strings the output has no ``.`` and no digit followed by
  ``e``/``E``) and no integer has 16 or more digits (JCS limits integers to IEEE 754's exact
  range; the reference raises there),
- no character lies outside the Basic Multilingual Plane (JCS sorts keys by UTF-16 code units,
  Python by code points; the orders differ only there),

since string escaping is identical in both. Everything else goes to ``rfc8785``.
tests/test_sync_core.py checks the two agree on generated documents.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import rfc8785

_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_PLAIN_NUMBER = re.compile(r"\.|\d[eE]|\d{16,}")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def canonical(obj: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    try:
        text = _dumps(obj)
    except (TypeError, ValueError):
        return canonical_reference(obj)
    if _ASTRAL.search(text) is None and _NOT_PLAIN_NUMBER.search(_STRINGS.sub("", text)) is None:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: let the reference decide
            pass
    return canonical_reference(obj)


def canonical_reference(obj: Any) -> bytes:
    """Always the reference implementation (for tests and audits of the fast path)."""
    return bytes(rfc8785.dumps(obj))


def content_hash(obj: Any) -> str:
    """SHA-256 hex of the canonical bytes: equal for equal JSON content, whatever its layout."""
    return hashlib.sha256(canonical(obj)).hexdigest()
