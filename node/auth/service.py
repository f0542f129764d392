"""Local accounts, roles, argon2 password hashes and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.errors import BadRequest, Conflict, Unauthenticated
from node.models import ApiToken, User
from sync import utcnow


class Role(StrEnum):
    admin = "admin"
    editor = "editor"
    reviewer = "reviewer"
    member_unit = "member_unit"
    auditor = "auditor"
    viewer = "viewer"


class Perm(StrEnum):
    read = "read"
    users_manage = "users.manage"
    children_manage = "children.manage"
    keys_manage = "keys.manage"
    plans_edit = "plans.edit"
    plans_approve = "plans.approve"
    plans_comment = "plans.comment"
    filings_review = "filings.review"
    reports_enter = "reports.enter"
    audit_read = "audit.read"


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.admin: frozenset(Perm),
    Role.editor: frozenset({Perm.read, Perm.plans_edit, Perm.plans_comment,
                            Perm.reports_enter}),
    Role.reviewer: frozenset({Perm.read, Perm.plans_approve, Perm.plans_comment,
                              Perm.filings_review}),
    Role.member_unit: frozenset({Perm.read, Perm.plans_comment, Perm.reports_enter}),
    Role.auditor: frozenset({Perm.read, Perm.audit_read}),
    Role.viewer: frozenset({Perm.read}),
}

_hasher = PasswordHasher()
# column widths (node.models.User) and a sane bound for passwords (hashing is deliberately slow)
NAME_MAX = UNIT_MAX = 100
PASSWORD_MAX = 1024


def allows(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMS[Role(role)]
    except ValueError:
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    *, session: AsyncSession, name: str, role: str, password: str | None, actor: str,
    unit: str | None = None,
) -> User:
    try:
        role_v = Role(role)
    except ValueError:
        raise BadRequest(
            f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}"
        ) from None
    if not name.strip():
        raise BadRequest("user name must not be empty")
    if len(name) > NAME_MAX:
        raise BadRequest(f"用户名过长 user name is {len(name)} characters, at most {NAME_MAX}")
    if unit is not None and len(unit) > UNIT_MAX:
        raise BadRequest(f"成员单位名称过长 unit is {len(unit)} characters, at most {UNIT_MAX}")
    if "\x00" in name + (unit or "") + (password or ""):
        raise BadRequest("用户名、单位或密码含有空字符 NUL name, unit or password contains a NUL "
                         "character", code="invalid_character")
    existing = await session.scalar(select(User).where(User.name == name))
    if existing is not None:
        raise Conflict(f"user {name!r} already exists")
    if password is not None and len(password) < 8:
        raise BadRequest("password must have at least 8 characters")
    if password is not None and len(password) > PASSWORD_MAX:
        raise BadRequest(f"密码过长 password must have at most {PASSWORD_MAX} characters")
    user = User(
        name=name,
        role=role_v.value,
        unit=unit or None,
        password_hash=_hasher.hash(password) if password else None,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    await record(session=session, actor=actor, action="user.create", entity="user",
                 entity_id=str(user.id), after={"name": name, "role": role_v.value,
                                                "unit": unit})
    return user


async def issue_token(*, session: AsyncSession, user: User, label: str, actor: str) -> str:
    """Create an API token; only its hash is stored. Returns the token (shown once)."""
    token = "pst_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), label=label,
                   created_at=utcnow())
    session.add(row)
    await session.flush()
    await record(session=session, actor=actor, action="token.issue", entity="api_token",
                 entity_id=str(row.id), after={"user": user.name, "label": label})
    return token


async def login(*, session: AsyncSession, name: str, password: str) -> str:
    user = await session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled or not user.password_hash:
        raise Unauthenticated("wrong user name or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise Unauthenticated("wrong user name or password") from None
    return await issue_token(session=session, user=user, label="login", actor=name)


async def user_for_token(*, session: AsyncSession, token: str) -> User | None:
    row = await session.scalar(
        select(User).join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False),
            User.disabled.is_(False),
        )
    )
    return row
