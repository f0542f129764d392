"""What the office API (/api/v1) takes and returns: the models of node/api.py
(sign-in, users, children, keys, audit). Each domain's models are in its ``schemas.py``.

The web console is generated from the OpenAPI document (openapi-typescript), so every model
says exactly what is on the wire: times are RFC 3339 strings (``sync.format_ts``), dates ISO
strings, closed sets of values are enums."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from node.auth.service import NAME_MAX, PASSWORD_MAX, UNIT_MAX, Role
from node.protocol.enrol import INVITE_NAME_MAX, MAX_TTL_HOURS
from node.schema_types import (
    CODE_PATTERN,
    IsoDate,
    NodeCode,
    Timestamp,
    one_of,
)

# ---- sign-in and users --------------------------------------------------------------------------

ROLES = [r.value for r in Role]


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    password: str = Field(max_length=PASSWORD_MAX)


class TokenRead(BaseModel):
    token: str = Field(description="API token: send it as 'Authorization: Bearer <token>'")


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    role: str = Field(max_length=20, json_schema_extra=one_of(ROLES))
    password: str | None = Field(default=None, max_length=PASSWORD_MAX)
    unit: str | None = Field(default=None, max_length=UNIT_MAX,
                             description="member unit (成员单位) for role member_unit, e.g. 卫健委")


class UserRead(BaseModel):
    id: int
    name: str
    role: Role
    unit: str | None = Field(default=None, description="member unit (成员单位), if any")
    disabled: bool = False


class UserUpdate(BaseModel):
    role: str | None = Field(default=None, max_length=20, json_schema_extra=one_of(ROLES))
    unit: str | None = Field(default=None, max_length=UNIT_MAX)
    disabled: bool | None = None


class NodeInfo(BaseModel):
    code: NodeCode
    name: str
    level: Literal["national", "province", "city", "county"]
    parent: NodeCode | None


class Me(UserRead):
    permissions: list[str] = Field(description="what this user's role allows")
    node: NodeInfo


class Done(BaseModel):
    ok: Literal[True] = True


class LoginRequest(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    password: str = Field(max_length=PASSWORD_MAX)


class SessionRead(BaseModel):
    user: UserRead
    node: NodeInfo
    expires_at: Timestamp


class ApiTokenRead(BaseModel):
    id: int
    user: str
    label: str
    kind: Literal["api", "session"]
    created_at: Timestamp
    last_used_at: Timestamp | None
    expires_at: Timestamp | None
    revoked: bool


class ApiTokenCreate(BaseModel):
    label: str = Field(min_length=1, max_length=100)


class ApiTokenCreated(BaseModel):
    id: int
    token: str = Field(description="shown once: send it as 'Authorization: Bearer <token>'")


class AuditEntryRead(BaseModel):
    id: int
    at: Timestamp
    actor: str
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None


class AuditPage(BaseModel):
    total: int
    items: list[AuditEntryRead]


class TodoRead(BaseModel):
    kind: str = Field(description="plan_draft, plan_filing_due, plan_approve, filing_returned, "
                      "report_due, values_missing, consultation, framework_breaks, "
                      "child_overdue, child_returned, child_not_enrolled, child_filing, "
                      "unit_late (a member unit's yearly report is late), evaluation_due, "
                      "evaluation_returned (this office's 中期/终期评估报告)")
    title: str
    detail: str
    due_on: IsoDate | None
    days_left: int | None = Field(description="days until due; negative: overdue")
    severity: Literal["overdue", "due", "info"]
    link: str = Field(description="the console page where it is done")


class UserCreated(BaseModel):
    user: UserRead
    token: str = Field(description="the new user's first API token")


# ---- children and keys ------------------------------------------------------------------------


class InviteCreate(BaseModel):
    code: str = Field(pattern=CODE_PATTERN, description="the child's GB/T 2260 code")
    name: str = Field(min_length=1, max_length=INVITE_NAME_MAX)
    ttl_hours: int = Field(default=72, ge=1, le=MAX_TTL_HOURS)
    recovery: bool = Field(default=False, description="the child lost its key: let it enrol "
                           "again with a new one (retires the old key here)")


class InviteRead(BaseModel):
    code: NodeCode
    token: str = Field(description="one-time enrolment token; give it to the child office")


class ChildRead(BaseModel):
    code: NodeCode
    name: str
    level: Literal["national", "province", "city", "county"]
    base_url: str | None
    enrolled_at: Timestamp | None
    last_contact_at: Timestamp | None


class KeyRotation(BaseModel):
    previous_key_id: str
    key_id: str


class KeyTransparency(BaseModel):
    """The last key-transparency verdict: per ancestor ``ok``, ``no answer``, ``bad
    attestation``, ``does not hold this node's key`` or ``holds another key for this node
    too``. Before the first check only ``status`` and ``ancestors`` (empty) are present."""

    status: Literal["ok", "alarm", "not checked yet"]
    ancestors: dict[str, str] = Field(description="ancestor code → verdict")
    checked_at: Timestamp | None = None
    key_id: str | None = Field(default=None, description="this node's key that was checked")
    age_seconds: int | None = Field(default=None, description="seconds since the check "
                                    "(GET only)")


class KeyRecovery(BaseModel):
    code: NodeCode
    name: str | None
    parent: str | None
    key_id: str
    announced_at: Timestamp


class KeyRecoveryConfirmed(BaseModel):
    code: NodeCode
    key_id: str
    status: Literal["active"]


class AuditVerification(BaseModel):
    ok: bool
    rows: int = Field(description="audit entries checked")
    head: str = Field(description="hash of the newest entry")
    problems: list[str]


# ---- /healthz, /readyz --------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="database (and redis when configured): ok, or "
                                   "what is wrong")
    alarms: dict[str, KeyTransparency | None] = Field(
        description="key_transparency: the last check (null before the first)")
