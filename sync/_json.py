"""Strict JSON for everything a node reads from another node: I-JSON (RFC 7493).

What is signed must be what is read. ``json.loads`` accepts documents whose meaning depends on
the reader: duplicate member names (the last one wins in Python, the first in other parsers),
``NaN``/``Infinity``, numbers beyond IEEE 754 double range (``1e400`` becomes ``inf``),
integers beyond 2^53 (not exactly representable; RFC 8785 refuses them), lone surrogates
(not encodable as UTF-8), U+0000 (PostgreSQL cannot store it) and nesting deep enough to
exhaust the recursion limit. :func:`loads` refuses all of them with :class:`Rejected`
(``malformed_json``), before anything else looks at the document.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ._errors import ErrorCode, Rejected

MAX_DEPTH = 64  # far below the interpreter's recursion limit; plan documents need about 8
MAX_SAFE_INT = 2**53 - 1  # RFC 7493 §2.2 / RFC 8785 §3.2.2.3


class _Refused(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(f"duplicate member name {dup!r} (RFC 7493: member names must be unique)")
    return out


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 16:
        raise _Refused(f"integer {text[:24]}… is outside the exact range ±2^53")
    value = int(text)
    if abs(value) > MAX_SAFE_INT:
        raise _Refused(f"integer {text} is outside the exact range ±2^53")
    return value


def _float(text: str) -> float:
    if len(text) > 64:
        raise _Refused(f"number {text[:24]}… has too many digits")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text} is outside the IEEE 754 double range")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON (RFC 8259)")


_decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_int, parse_float=_float,
                            parse_constant=_constant)


def check_value(doc: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk a decoded value: nesting depth and strings that are not valid Unicode text."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise _Refused(f"nesting deeper than {max_depth} levels")
            for k, v in value.items():
                _text(k)
                if isinstance(v, dict | list):
                    stack.append((v, depth + 1))
                elif isinstance(v, str):
                    _text(v)
        elif isinstance(value, list):
            if depth > max_depth:
                raise _Refused(f"nesting deeper than {max_depth} levels")
            for v in value:
                if isinstance(v, dict | list):
                    stack.append((v, depth + 1))
                elif isinstance(v, str):
                    _text(v)
        elif isinstance(value, str):
            _text(value)


def _text(s: str) -> None:
    if "\x00" in s:  # legal JSON, but PostgreSQL cannot store it: refused on every backend
        raise _Refused("a string holds U+0000 (NUL)")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused("a string holds a lone surrogate (not Unicode text)") from None


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH, what: str = "request body") -> Any:
    """Decode I-JSON strictly; raise ``Rejected(malformed_json)`` saying what is wrong."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        doc = _decoder.decode(text)
        check_value(doc, max_depth=max_depth)
    except _Refused as e:
        raise Rejected(ErrorCode.malformed_json, f"{what}: {e}") from None
    except RecursionError:
        raise Rejected(ErrorCode.malformed_json,
                       f"{what}: nesting deeper than {max_depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
        raise Rejected(ErrorCode.malformed_json, f"{what} is not JSON: {e}") from None
    return doc
