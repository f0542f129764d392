"""Failed sign-ins and enrolment-token guesses, and the lockouts they caused (node.auth.limits).

In the database, not in memory, so a limit holds across processes and replicas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime


class AuthFailure(Base):
    """One failed attempt: a wrong password for a user name (kind ``login``) or an unknown
    enrolment token from a client address (kind ``enrol``)."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_subject", "kind", "subject", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))  # login | enrol
    subject: Mapped[str] = mapped_column(String(200))  # user name | client address
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuthLockout(Base):
    """A subject refused until ``locked_until`` after too many failures in the window."""

    __tablename__ = "auth_lockouts"
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer)
