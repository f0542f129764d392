"""/api/v1: the office-facing API (users, children, keys, audit). Role-checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import verify_chain
from node.auth.service import Perm, create_user, issue_token, login
from node.deps import SessionDep, UserDep, get_rt, require
from node.models import KnownNode, User
from node.protocol.enrol import create_invite
from node.protocol.keys import rotate_key
from node.runtime import NodeRuntime
from sync import format_ts

router = APIRouter(prefix="/api/v1", tags=["api"])


class TokenRequest(BaseModel):
    name: str
    password: str


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str
    password: str | None = None
    unit: str | None = None  # member unit (成员单位) for role member_unit, e.g. 卫健委


class UserRead(BaseModel):
    id: int
    name: str
    role: str


class InviteCreate(BaseModel):
    code: str
    name: str = Field(min_length=1)
    ttl_hours: int = Field(default=72, ge=1, le=24 * 30)


@router.post("/auth/token")
async def post_token(req: TokenRequest,
                     session: AsyncSession = SessionDep) -> dict[str, str]:
    """Exchange a user name and password for an API token."""
    return {"token": await login(session=session, name=req.name, password=req.password)}


@router.get("/me")
async def get_me(user: User = UserDep) -> UserRead:
    return UserRead(id=user.id, name=user.name, role=user.role)


@router.post("/users", status_code=201)
async def post_user(req: UserCreate, session: AsyncSession = SessionDep,
                    admin: User = Depends(require(Perm.users_manage))) -> dict[str, Any]:
    user = await create_user(session=session, name=req.name, role=req.role,
                             password=req.password, actor=admin.name, unit=req.unit)
    token = await issue_token(session=session, user=user, label="created", actor=admin.name)
    return {"user": UserRead(id=user.id, name=user.name, role=user.role).model_dump(),
            "token": token}


@router.post("/children/invites", status_code=201)
async def post_invite(req: InviteCreate, session: AsyncSession = SessionDep,
                      admin: User = Depends(require(Perm.children_manage))) -> dict[str, str]:
    token = await create_invite(session=session, code=req.code, name=req.name,
                                actor=admin.name, ttl=timedelta(hours=req.ttl_hours))
    return {"code": req.code, "token": token}


@router.get("/children")
async def get_children(session: AsyncSession = SessionDep,
                       _: User = Depends(require(Perm.read))) -> list[dict[str, Any]]:
    rows = (await session.scalars(select(KnownNode).where(KnownNode.relation == "child")
                                  .order_by(KnownNode.code))).all()
    return [{"code": n.code, "name": n.name, "level": n.level, "base_url": n.base_url,
             "enrolled_at": format_ts(n.enrolled_at) if n.enrolled_at else None,
             "last_contact_at": format_ts(n.last_contact_at) if n.last_contact_at else None}
            for n in rows]


@router.post("/keys/rotate")
async def post_rotate(rt: NodeRuntime = Depends(get_rt),
                      _: User = Depends(require(Perm.keys_manage))) -> dict[str, str]:
    old, new = await rotate_key(rt)
    return {"previous_key_id": old, "key_id": new}


@router.get("/audit/verify")
async def get_audit_verify(session: AsyncSession = SessionDep,
                           _: User = Depends(require(Perm.audit_read))) -> dict[str, Any]:
    rep = await verify_chain(session=session)
    return {"ok": rep.ok, "rows": rep.rows, "head": rep.head, "problems": rep.problems}
