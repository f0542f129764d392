"""/api/v1/reminders: the daily digest's settings, today's state, the record of sends, a
preview and "send now". What each takes and returns is in node.reminders.schemas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm
from node.deps import SessionDep, get_rt, require, require_unbound
from node.models import User
from node.reminders import service
from node.reminders.schemas import (
    DigestRead,
    ReminderAttemptRead,
    ReminderSettingsIn,
    ReminderSettingsRead,
    ReminderStatus,
    SendOutcome,
)
from node.runtime import NodeRuntime
from node.schema_types import ROLE_CHECKED, errors

router = APIRouter(prefix="/api/v1/reminders", tags=["reminders"])


def _read(rt: NodeRuntime, public: dict[str, Any]) -> ReminderSettingsRead:
    return ReminderSettingsRead.model_validate(
        {**public, "smtp_password_set": service.password_set(rt)})


@router.get("/settings", summary="提醒设置 Reminder settings", responses=ROLE_CHECKED)
async def get_reminder_settings(session: AsyncSession = SessionDep,
                                rt: NodeRuntime = Depends(get_rt),
                                _: User = Depends(require(Perm.read))) -> ReminderSettingsRead:
    """This office's daily-digest settings (off by default); the webhook secret and the SMTP
    password are shown only as set or not."""
    return _read(rt, service.public(await service.get_settings(session)))


@router.put("/settings", summary="修改提醒设置 Change the reminder settings",
            responses=ROLE_CHECKED)
async def put_reminder_settings(req: ReminderSettingsIn, session: AsyncSession = SessionDep,
                                rt: NodeRuntime = Depends(get_rt),
                                user: User = Depends(require(Perm.users_manage))
                                ) -> ReminderSettingsRead:
    """Change some settings (the others stay); refused as a whole (400) if the result cannot
    work, e.g. e-mail on without a server or recipients."""
    row = await service.configure(session=session, actor=user.name,
                                  changes=req.model_dump(exclude_none=True))
    return _read(rt, service.public(row))


@router.get("/status", summary="提醒状态 Today's reminders", responses=ROLE_CHECKED)
async def get_reminder_status(session: AsyncSession = SessionDep,
                              rt: NodeRuntime = Depends(get_rt),
                              _: User = Depends(require(Perm.read))) -> ReminderStatus:
    """The settings, today's date and the next run (Beijing time), and today's send of each
    channel with its attempts and last error."""
    return ReminderStatus.model_validate(await service.status(session, rt))


@router.get("/log", summary="发送记录 Every reminder sent or tried", responses=ROLE_CHECKED)
async def get_reminder_log(limit: int = Query(default=50, ge=1, le=500),
                           session: AsyncSession = SessionDep,
                           _: User = Depends(require(Perm.read))) -> list[ReminderAttemptRead]:
    """The newest attempts first: time, channel, recipients, status, error, content hash."""
    return [ReminderAttemptRead.model_validate(service.attempt_dict(a))
            for a in await service.attempts(session, limit=limit)]


@router.get("/preview", summary="提醒预览 Today's digest", responses=ROLE_CHECKED)
async def get_reminder_preview(session: AsyncSession = SessionDep,
                               rt: NodeRuntime = Depends(get_rt),
                               _: User = Depends(require(Perm.read))) -> DigestRead:
    """What today's digest says (nothing is sent)."""
    cfg = await service.get_settings(session)
    d = await service.build_digest(session, code=rt.cfg.code, name=rt.cfg.name,
                                   today=service.local_now(rt).date(),
                                   horizon_days=cfg.horizon_days)
    return DigestRead.model_validate(d.as_dict())


@router.post("/send-now", summary="立即发送 Send today's digest now",
             responses={**ROLE_CHECKED, **errors(409)})
async def post_reminder_send_now(rt: NodeRuntime = Depends(get_rt),
                                 _: User = Depends(require_unbound(Perm.users_manage))
                                 ) -> list[SendOutcome]:
    """Send today's digest on each enabled channel without waiting for the time of day —
    still at most once a day per channel (a channel already sent today is skipped; a failed
    one is tried again, within the bounded number of attempts). 409 if no channel is on."""
    return [SendOutcome.model_validate(o.as_dict()) for o in await service.run(rt, manual=True)]
