"""Reminders (node.reminders): this node's daily-digest settings, the claim of each day's
send per channel (unique: never twice, across replicas), and the record of every attempt."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, UTCDateTime


class ReminderSettings(Base):
    """The one row (id 1) of this node's reminder settings; off until someone turns it on.
    The SMTP password is never stored: it comes from the environment
    (PLANSYNC_REMINDER_SMTP_PASSWORD)."""

    __tablename__ = "reminder_settings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    send_at: Mapped[str] = mapped_column(String(5), default="08:30")  # HH:MM Beijing time
    horizon_days: Mapped[int] = mapped_column(Integer, default=14)  # "due soon": next N days
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[str] = mapped_column(String(10), default="starttls")  # |ssl|none
    smtp_user: Mapped[str] = mapped_column(String(255), default="")
    mail_from: Mapped[str] = mapped_column(String(255), default="")
    mail_to: Mapped[Any] = mapped_column(JSON, default=list)  # [address, ...]
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str] = mapped_column(String(1000), default="")
    webhook_secret: Mapped[str] = mapped_column(String(255), default="")  # HMAC key, or ""
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100), default="")


class ReminderSend(Base):
    """The day's digest on one channel: claimed (inserted) before anything is sent, so the
    unique (day, channel) key lets exactly one process of one node send it."""

    __tablename__ = "reminder_sends"
    __table_args__ = (UniqueConstraint("day", "channel", name="uq_reminder_sends_day_channel"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date)  # the Beijing-time day of the digest
    channel: Mapped[str] = mapped_column(String(10))  # email | webhook
    status: Mapped[str] = mapped_column(String(10))  # sending | sent | failed | empty
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")


class ReminderAttempt(Base):
    """One attempt to send a digest (each is recorded, failed ones too)."""

    __tablename__ = "reminder_attempts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(10))
    recipients: Mapped[Any] = mapped_column(JSON)  # addresses, or [the webhook URL]
    status: Mapped[str] = mapped_column(String(10))  # sent | failed | empty
    error: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    subject: Mapped[str] = mapped_column(String(255), default="")
    trigger: Mapped[str] = mapped_column(String(10), default="daily")  # daily | manual
