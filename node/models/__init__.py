"""All ORM models, together (Polar style). Import from here."""

from .base import Base, UTCDateTime
from .tables import (
    ApiToken,
    AuditEntry,
    EnvelopeRecord,
    Invite,
    KnownNode,
    NodeKey,
    OutboxRow,
    OwnKey,
    User,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "EnvelopeRecord",
    "Invite",
    "KnownNode",
    "NodeKey",
    "OutboxRow",
    "OwnKey",
    "UTCDateTime",
    "User",
]
