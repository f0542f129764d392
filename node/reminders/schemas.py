"""What the reminders endpoints take and return (node.reminders.endpoints)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from node.schema_types import IsoDate, Timestamp

Channel = Literal["email", "webhook"]
SendStatus = Literal["sending", "sent", "failed", "empty", "skipped"]


class ReminderSettingsIn(BaseModel):
    """The settings to change; a field left out (or null) keeps its value."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(default=None, description="send the daily digest (默认关闭)")
    send_at: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                description="time of day, HH:MM, Beijing time")
    horizon_days: int | None = Field(default=None, ge=1, le=90,
                                     description="due soon: within this many days")
    email_enabled: bool | None = None
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] | None = None
    smtp_user: str | None = Field(default=None, max_length=255,
                                  description="the password is PLANSYNC_REMINDER_SMTP_PASSWORD "
                                  "in the node's environment, never stored here")
    mail_from: str | None = Field(default=None, max_length=255)
    mail_to: list[str] | None = Field(default=None, max_length=50)
    webhook_enabled: bool | None = None
    webhook_url: str | None = Field(default=None, max_length=1000)
    webhook_secret: str | None = Field(default=None, max_length=255,
                                       description="HMAC-SHA256 key; write-only, \"\" clears")


class ReminderSettingsRead(BaseModel):
    enabled: bool
    send_at: str
    horizon_days: int
    email_enabled: bool
    smtp_host: str
    smtp_port: int
    smtp_security: Literal["starttls", "ssl", "none"]
    smtp_user: str
    smtp_password_set: bool = Field(description="PLANSYNC_REMINDER_SMTP_PASSWORD is set")
    mail_from: str
    mail_to: list[str]
    webhook_enabled: bool
    webhook_url: str
    webhook_secret_set: bool


class ReminderSendRead(BaseModel):
    day: IsoDate
    channel: Channel
    status: SendStatus
    attempts: int
    last_error: str
    next_attempt_at: Timestamp | None
    content_hash: str


class ReminderStatus(BaseModel):
    settings: ReminderSettingsRead
    today: IsoDate = Field(description="today in Beijing time")
    next_run_at: Timestamp | None = Field(description="the next daily run (null while off)")
    max_attempts: int
    sends: list[ReminderSendRead] = Field(description="today's sends, per channel")


class ReminderAttemptRead(BaseModel):
    at: Timestamp
    day: IsoDate
    channel: Channel
    recipients: list[str]
    status: SendStatus
    error: str
    content_hash: str
    subject: str
    trigger: Literal["daily", "manual"]


class SendOutcome(BaseModel):
    channel: Channel
    status: SendStatus
    attempts: int
    error: str
    recipients: list[str]


class DigestOwnItem(BaseModel):
    title: str
    detail: str
    due_on: IsoDate | None
    days_left: int | None
    severity: str


class DigestChildItem(BaseModel):
    filing: str
    due_on: IsoDate | None
    status: str
    status_words: str
    days_left: int | None


class DigestChild(BaseModel):
    code: str
    name: str
    items: list[DigestChildItem]


class DigestRead(BaseModel):
    day: IsoDate
    office: str
    horizon_days: int
    own: list[DigestOwnItem]
    children: list[DigestChild]
    subject: str
    text: str
    content_hash: str
