"""Local accounts, roles, argon2 password hashes and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthenticated
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


async def issue_token(*, session: AsyncSession, user: User, label: str, actor: str,
                      expires_at: datetime | None = None) -> str:
    """Create an API token; only its hash is stored. Returns the token (shown once). With
    ``expires_at`` it is a console session (kind "session"), refused after that time."""
    token = ("pss_" if expires_at else "pst_") + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), label=label,
                   created_at=utcnow(), kind="session" if expires_at else "api",
                   expires_at=expires_at)
    session.add(row)
    await session.flush()
    await record(session=session, actor=actor,
                 action="session.start" if expires_at else "token.issue",
                 entity="api_token", entity_id=str(row.id),
                 after={"user": user.name, "label": label})
    return token


async def end_session(*, session: AsyncSession, token: str) -> None:
    """Sign out: the session's token is revoked (an unknown one is already gone)."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked:
        return
    row.revoked = True
    user = await session.get(User, row.user_id)
    await record(session=session, actor=user.name if user else "?", action="session.end",
                 entity="api_token", entity_id=str(row.id), after={"label": row.label})


async def revoke_token(*, session: AsyncSession, token_id: int, user: User) -> None:
    """Revoke one of ``user``'s tokens (an admin may revoke anyone's)."""
    row = await session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and not allows(user.role, Perm.users_manage)):
        raise NotFound(f"没有这个令牌 no API token {token_id} of yours")
    if row.revoked:
        return
    row.revoked = True
    await record(session=session, actor=user.name, action="token.revoke", entity="api_token",
                 entity_id=str(row.id), after={"label": row.label})


async def update_user(*, session: AsyncSession, name: str, actor: User, role: str | None,
                      unit: str | None, disabled: bool | None) -> User:
    """Change a user's role, member unit or whether it is disabled (admins only). An admin
    cannot disable or demote themselves (the node would lose its last way in)."""
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"没有用户 {name!r} no user {name!r} on this node")
    before = {"role": user.role, "unit": user.unit, "disabled": user.disabled}
    if role is not None:
        try:
            user.role = Role(role).value
        except ValueError:
            raise BadRequest(f"unknown role {role!r}; choose one of "
                             f"{', '.join(r.value for r in Role)}") from None
    if unit is not None:
        if len(unit) > UNIT_MAX:
            raise BadRequest(f"成员单位名称过长 unit is {len(unit)} characters, at most {UNIT_MAX}")
        user.unit = unit.strip() or None
    if disabled is not None:
        user.disabled = disabled
    if user.id == actor.id and (user.disabled or user.role != Role.admin.value):
        raise BadRequest("不能停用自己或取消自己的管理员角色 you cannot disable yourself or "
                         "take away your own admin role")
    if user.role == Role.member_unit.value and not user.unit:
        raise BadRequest("成员单位用户需要填写单位 a member_unit user needs its unit (e.g. 卫健委)")
    after = {"role": user.role, "unit": user.unit, "disabled": user.disabled}
    if after != before:
        await record(session=session, actor=actor.name, action="user.update", entity="user",
                     entity_id=str(user.id), before=before, after=after)
    return user


async def login(*, session: AsyncSession, name: str, password: str,
                expires_at: datetime | None = None) -> str:
    user = await session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled or not user.password_hash:
        raise Unauthenticated("wrong user name or password")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        raise Unauthenticated("wrong user name or password") from None
    return await issue_token(session=session, user=user,
                             label="console" if expires_at else "login", actor=name,
                             expires_at=expires_at)


async def user_for_token(*, session: AsyncSession, token: str) -> User | None:
    row = await session.scalar(
        select(User).join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False),
            User.disabled.is_(False),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
        )
    )
    return row


async def acting_user(*, session: AsyncSession, name: str | None, perm: Perm) -> User:
    """The user a command acts as (the CLI's ``--as``): a real, enabled user of this office
    whose role has ``perm`` — so who did each step is a real person with the right, and "the
    submitter may not approve" cannot be dodged by typing another name."""
    if not name:
        raise BadRequest("请用 --as 指定本办用户 name the office user doing this with --as NAME "
                         "(plansync users list)", code="actor_required")
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"没有用户 {name} no user {name!r} at this office (plansync users list)",
                       code="no_such_user")
    if user.disabled:
        raise Forbidden(f"用户已停用 user {name} is disabled")
    if not allows(user.role, perm):
        raise Forbidden(f"用户 {name} 的角色 {user.role} 无此权限 role {user.role} may not do this "
                        f"(needs {perm.value})")
    return user
