"""All ORM models, together (Polar style). Import from here."""

from .base import Base, UTCDateTime
from .plans import (
    Filing,
    Framework,
    LedgerEntry,
    Plan,
    PlanComment,
    PlanEvent,
    PlanVersion,
    SentFiling,
)
from .reports import ReceivedReport, Report, ReportNarrative, ReportValue
from .security import AuthFailure, AuthLockout
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
    "AuthFailure",
    "AuthLockout",
    "ReceivedReport",
    "Report",
    "ReportNarrative",
    "ReportValue",
    "Filing",
    "Framework",
    "LedgerEntry",
    "Plan",
    "PlanComment",
    "PlanEvent",
    "PlanVersion",
    "SentFiling",
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
