"""Time-ordered unique ids (UUIDv7 layout, RFC 9562) and UTC timestamps."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A UUIDv7 string: 48-bit Unix milliseconds, then random bits; sorts by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 64) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-22T07:13:49.123Z."""
    # isoformat, not strftime: the same text, several times faster (the audit formats 10^4)
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; naive values are rejected."""
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+23:59
        raise ValueError(f"timestamp {text!r} is out of range in UTC") from None
