"""Lockout after repeated failures: sign-ins per user name, enrolment tokens per client address.

``max_failures`` failures of one subject within ``window`` lock it for ``lockout``; while
locked every attempt is refused with 429 ``too_many_attempts`` (``Retry-After`` set) before
any password is checked or token looked up. The lockout is recorded in the audit log. A
successful sign-in forgets the user's failures; a lockout consumes them, so after it the
subject has ``max_failures`` fresh attempts. Failures and lockouts are rows in the database
(``auth_failures``, ``auth_lockouts``), so the limits hold across processes and replicas.
``plansync users unlock NAME`` lifts a sign-in lockout early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.config import Settings
from node.db import order_lock, transaction
from node.errors import TooManyAttempts, Unauthenticated
from node.models import AuthFailure, AuthLockout
from node.runtime import NodeRuntime
from sync import format_ts, utcnow

SUBJECT_MAX = 200  # column width of auth_failures.subject / auth_lockouts.subject


@dataclass(frozen=True)
class Limit:
    kind: str  # login | enrol
    max_failures: int
    window: timedelta
    lockout: timedelta


def login_limit(settings: Settings) -> Limit:
    return Limit("login", settings.login_max_failures,
                 timedelta(seconds=settings.login_window_seconds),
                 timedelta(seconds=settings.login_lockout_seconds))


def enrol_limit(settings: Settings) -> Limit:
    return Limit("enrol", settings.enrol_max_failures,
                 timedelta(seconds=settings.enrol_window_seconds),
                 timedelta(seconds=settings.enrol_lockout_seconds))


def _subject(subject: str) -> str:
    return subject[:SUBJECT_MAX]


def refusal(limit: Limit, subject: str, until: datetime, now: datetime,
            zone: ZoneInfo) -> TooManyAttempts:
    """The 429 error for a locked subject: when to retry, in local time and UTC."""
    wait = max(1, math.ceil((until - now).total_seconds()))
    minutes = max(1, math.ceil(wait / 60))
    local = until.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if limit.kind == "login":
        msg = (f"登录失败次数过多，账户 {subject} 已锁定，请于 {local}（约 {minutes} 分钟后）"
               f"再试，或请管理员解锁 too many failed sign-ins for {subject!r}: the account is "
               f"locked until {format_ts(until)}; try again in {minutes} min, or ask an admin "
               f"(plansync users unlock {subject})")
    else:
        msg = (f"注册令牌错误次数过多，来自 {subject} 的注册请求已暂停至 {local}（约 {minutes} "
               f"分钟后再试）too many unknown enrolment tokens from {subject}: enrolment is "
               f"refused until {format_ts(until)}; try again in {minutes} min with the token "
               "the parent office issued")
    return TooManyAttempts(msg, retry_after=wait)


async def check(*, session: AsyncSession, limit: Limit, subject: str, now: datetime,
                zone: ZoneInfo) -> None:
    """Raise TooManyAttempts while ``subject`` is locked."""
    row = await session.get(AuthLockout, (limit.kind, _subject(subject)))
    if row is not None and row.locked_until > now:
        raise refusal(limit, subject, row.locked_until, now, zone)


async def note_failure(*, session: AsyncSession, limit: Limit, subject: str, now: datetime,
                       actor: str) -> datetime | None:
    """Record one failure in the caller's transaction; lock the subject when it is the
    ``max_failures``-th within the window. Returns the end of the lockout it started."""
    subj = _subject(subject)
    await order_lock(session)  # concurrent failures on PostgreSQL count one after another
    # forget what no longer counts: failures before the window, lockouts that ended
    await session.execute(delete(AuthFailure).where(AuthFailure.kind == limit.kind,
                                                    AuthFailure.at < now - limit.window))
    await session.execute(delete(AuthLockout).where(AuthLockout.kind == limit.kind,
                                                    AuthLockout.locked_until <= now))
    session.add(AuthFailure(kind=limit.kind, subject=subj, at=now))
    await session.flush()
    n = await session.scalar(select(func.count()).select_from(AuthFailure).where(
        AuthFailure.kind == limit.kind, AuthFailure.subject == subj)) or 0
    if n < limit.max_failures:
        return None
    until = now + limit.lockout
    row = await session.get(AuthLockout, (limit.kind, subj))
    if row is None:
        session.add(AuthLockout(kind=limit.kind, subject=subj, locked_at=now,
                                locked_until=until, failures=n))
    else:
        row.locked_at, row.locked_until, row.failures = now, until, n
    await session.execute(delete(AuthFailure).where(AuthFailure.kind == limit.kind,
                                                    AuthFailure.subject == subj))
    await session.flush()
    await record(session=session, actor=actor[:120], action=f"{limit.kind}.lockout",
                 entity="auth_lockout", entity_id=f"{limit.kind}:{subj}"[:120],
                 after={"subject": subj, "failures": n,
                        "window_seconds": int(limit.window.total_seconds()),
                        "locked_until": format_ts(until)})
    return until


async def forget(*, session: AsyncSession, limit: Limit, subject: str) -> None:
    """Forget the subject's failures (after a successful attempt)."""
    await session.execute(delete(AuthFailure).where(AuthFailure.kind == limit.kind,
                                                    AuthFailure.subject == _subject(subject)))


async def unlock(*, session: AsyncSession, limit: Limit, subject: str, actor: str) -> bool:
    """Lift a lockout early (and forget the failures). True if the subject was locked."""
    subj = _subject(subject)
    row = await session.get(AuthLockout, (limit.kind, subj))
    await forget(session=session, limit=limit, subject=subj)
    if row is None:
        return False
    active = row.locked_until > utcnow()
    await session.delete(row)
    await session.flush()
    if active:
        await record(session=session, actor=actor, action=f"{limit.kind}.unlock",
                     entity="auth_lockout", entity_id=f"{limit.kind}:{subj}"[:120],
                     before={"locked_until": format_ts(row.locked_until)})
    return active


async def login_limited(rt: NodeRuntime, *, name: str, password: str, client: str,
                        expires_at: datetime | None = None) -> str:
    """POST /api/v1/auth/token (and /auth/login, a console session until ``expires_at``):
    refuse a locked user name, else check the password; a wrong one counts as a failure
    (committed although the sign-in fails)."""
    from node.auth.service import login

    limit = login_limit(rt.settings)
    now = utcnow()
    locked_until: datetime | None = None
    failed: Unauthenticated | None = None
    async with transaction(rt.sessions) as session:
        await check(session=session, limit=limit, subject=name, now=now, zone=rt.cfg.zone)
        try:
            token = await login(session=session, name=name, password=password,
                                  expires_at=expires_at)
        except Unauthenticated as e:
            failed = e
            locked_until = await note_failure(session=session, limit=limit, subject=name,
                                              now=now, actor=f"client:{client}")
        else:
            await forget(session=session, limit=limit, subject=name)
            return token
    if locked_until is not None:
        raise refusal(limit, name, locked_until, now, rt.cfg.zone)
    assert failed is not None
    raise failed

