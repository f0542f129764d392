"""All ORM models, together (Polar style). Import from here."""

from .base import Base, UTCDateTime
from .evaluations import Evaluation, EvaluationOverride, EvaluationSelf, ReceivedEvaluation
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
from .reminders import ReminderAttempt, ReminderSend, ReminderSettings
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
from .units import TaskRow, UnitReport

__all__ = [
    "Evaluation",
    "EvaluationOverride",
    "EvaluationSelf",
    "ReceivedEvaluation",
    "AuthFailure",
    "AuthLockout",
    "ReminderAttempt",
    "ReminderSend",
    "ReminderSettings",
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
    "TaskRow",
    "UnitReport",
]
