"""/api/v1: the office-facing API (users, children, keys, audit). Role-checked. What each
endpoint takes and returns is in node.api_schemas."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.api_schemas import (
    CODE_PATTERN,
    ROLE_CHECKED,
    SIGNED_IN,
    AuditVerification,
    ChildRead,
    InviteCreate,
    InviteRead,
    KeyRecovery,
    KeyRecoveryConfirmed,
    KeyRotation,
    KeyTransparency,
    TokenRead,
    TokenRequest,
    UserCreate,
    UserCreated,
    UserRead,
    errors,
)
from node.audit.verify import verify_chain
from node.auth.limits import login_limited
from node.auth.service import Perm, create_user, issue_token
from node.deps import SessionDep, UserDep, client_address, get_rt, require, require_unbound
from node.models import KnownNode, User
from node.protocol import keytrust
from node.protocol.enrol import create_invite
from node.protocol.keys import rotate_key
from node.runtime import NodeRuntime
from sync import format_ts

router = APIRouter(prefix="/api/v1", tags=["api"])


@router.post("/auth/token", summary="登录 Exchange name and password for an API token",
             tags=["auth"], responses=errors(401, 429))
async def post_token(req: TokenRequest, request: Request,
                     rt: NodeRuntime = Depends(get_rt)) -> TokenRead:
    """Exchange a user name and password for an API token. After too many wrong passwords
    for one user name the account is locked for a while (429 too_many_attempts)."""
    return TokenRead(token=await login_limited(rt, name=req.name, password=req.password,
                                               client=client_address(request)))


@router.get("/me", summary="当前用户 The signed-in user", tags=["auth"], responses=SIGNED_IN)
async def get_me(user: User = UserDep) -> UserRead:
    """The user the API token belongs to, with its role."""
    return UserRead(id=user.id, name=user.name, role=user.role)


@router.post("/users", status_code=201, summary="新建用户 Create a user", tags=["auth"],
             responses={**ROLE_CHECKED, **errors(409)})
async def post_user(req: UserCreate, session: AsyncSession = SessionDep,
                    admin: User = Depends(require(Perm.users_manage))) -> UserCreated:
    """Create a local user with a role (and, for member units, the unit), and issue its
    first API token."""
    user = await create_user(session=session, name=req.name, role=req.role,
                             password=req.password, actor=admin.name, unit=req.unit)
    token = await issue_token(session=session, user=user, label="created", actor=admin.name)
    return UserCreated(user=UserRead(id=user.id, name=user.name, role=user.role),
                       token=token)


@router.post("/children/invites", status_code=201, tags=["children"],
             summary="邀请下级 Invite a child office to enrol", responses=ROLE_CHECKED)
async def post_invite(req: InviteCreate, session: AsyncSession = SessionDep,
                      admin: User = Depends(require(Perm.children_manage))) -> InviteRead:
    """A one-time enrolment token for a child office (its code and name); with
    ``recovery`` the child may enrol again with a new key."""
    token = await create_invite(session=session, code=req.code, name=req.name,
                                actor=admin.name, ttl=timedelta(hours=req.ttl_hours),
                                recovery=req.recovery)
    return InviteRead(code=req.code, token=token)


@router.get("/children", summary="下级单位 Enrolled child offices", tags=["children"],
            responses=ROLE_CHECKED)
async def get_children(session: AsyncSession = SessionDep,
                       _: User = Depends(require(Perm.read))) -> list[ChildRead]:
    """The child offices enrolled here, with when they enrolled and were last heard from."""
    rows = (await session.scalars(select(KnownNode).where(KnownNode.relation == "child")
                                  .order_by(KnownNode.code))).all()
    return [ChildRead.model_validate({
        "code": n.code, "name": n.name, "level": n.level, "base_url": n.base_url,
        "enrolled_at": format_ts(n.enrolled_at) if n.enrolled_at else None,
        "last_contact_at": format_ts(n.last_contact_at) if n.last_contact_at else None})
        for n in rows]


@router.post("/keys/rotate", summary="更换密钥 Rotate this node's signing key", tags=["keys"],
             responses={**ROLE_CHECKED, **errors(409)})
async def post_rotate(rt: NodeRuntime = Depends(get_rt),
                      admin: User = Depends(require_unbound(Perm.keys_manage))
                      ) -> KeyRotation:
    """Replace this node's signing key; announce it to parent and children (signed by the
    old key). Runs in a transaction of its own, not the request's."""
    old, new = await rotate_key(rt, actor=admin.name)
    return KeyRotation(previous_key_id=old, key_id=new)


@router.get("/keys/transparency", summary="密钥透明检查结果 The last key-transparency check",
            tags=["keys"], responses=ROLE_CHECKED, response_model_exclude_unset=True)
async def get_key_transparency(rt: NodeRuntime = Depends(get_rt),
                               _: User = Depends(require(Perm.read))) -> KeyTransparency:
    """The last key-transparency check: does every ancestor hold exactly this node's key?"""
    state = keytrust.parse_state(rt.extra.get(keytrust.STATE_KEY))
    return KeyTransparency.model_validate(state or {"status": "not checked yet",
                                                    "ancestors": {}})


@router.post("/keys/check", summary="检查密钥透明 Check key transparency now", tags=["keys"],
             responses=ROLE_CHECKED, response_model_exclude_unset=True)
async def post_key_check(rt: NodeRuntime = Depends(get_rt),
                         _: User = Depends(require_unbound(Perm.keys_manage))
                         ) -> KeyTransparency:
    """Ask every ancestor now which key it holds for this node (key transparency)."""
    return KeyTransparency.model_validate(await keytrust.check_ancestors(rt))


@router.get("/keys/recoveries", summary="待确认的恢复密钥 Recovered keys to confirm",
            tags=["keys"], responses=ROLE_CHECKED)
async def get_key_recoveries(session: AsyncSession = SessionDep,
                             _: User = Depends(require(Perm.keys_manage))
                             ) -> list[KeyRecovery]:
    """Recovered keys of subtree nodes waiting for an admin here to confirm them."""
    return [KeyRecovery.model_validate(r) for r in await keytrust.pending_recoveries(session)]


@router.post("/keys/recoveries/{code}/{key_id}/confirm", tags=["keys"],
             summary="确认恢复密钥 Confirm a recovered key",
             responses={**ROLE_CHECKED, **errors(404, 409)})
async def post_key_recovery_confirm(
    code: str = Path(pattern=CODE_PATTERN),
    key_id: str = Path(pattern=r"^[A-Za-z0-9_-]{16}$"),
    rt: NodeRuntime = Depends(get_rt),
    admin: User = Depends(require_unbound(Perm.keys_manage)),
) -> KeyRecoveryConfirmed:
    """Confirm a recovered key (call the office first and compare the key id): it becomes
    the node's only key here and the old one is retired."""
    await keytrust.confirm_recovery(rt, code=code, key_id=key_id, actor=admin.name)
    return KeyRecoveryConfirmed(code=code, key_id=key_id, status="active")


@router.get("/audit/verify", summary="核验审计日志 Verify the audit log", tags=["audit"],
            responses=ROLE_CHECKED)
async def get_audit_verify(session: AsyncSession = SessionDep,
                           _: User = Depends(require(Perm.audit_read))) -> AuditVerification:
    """Walk the hash-chained audit log and compare every sealed business row with its seal;
    ``problems`` names every break, edit or deletion found."""
    rep = await verify_chain(session=session)
    return AuditVerification(ok=rep.ok, rows=rep.rows, head=rep.head, problems=rep.problems)
