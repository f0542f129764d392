"""/api/v1: the office-facing API (users, children, keys, audit). Role-checked. What each
endpoint takes and returns is in node.api_schemas."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.api_schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    AuditEntryRead,
    AuditPage,
    AuditVerification,
    ChildRead,
    Done,
    InviteCreate,
    InviteRead,
    KeyRecovery,
    KeyRecoveryConfirmed,
    KeyRotation,
    KeyTransparency,
    LoginRequest,
    Me,
    NodeInfo,
    SessionRead,
    TodoRead,
    TokenRead,
    TokenRequest,
    UserCreate,
    UserCreated,
    UserRead,
    UserUpdate,
)
from node.audit.verify import verify_chain
from node.auth.limits import login_limited
from node.auth.service import (
    ROLE_PERMS,
    Perm,
    Role,
    create_user,
    end_session,
    issue_token,
    revoke_token,
    update_user,
)
from node.deps import (
    SESSION_COOKIE,
    SessionDep,
    UserDep,
    client_address,
    get_rt,
    require,
    require_unbound,
    session_token,
)
from node.models import ApiToken, AuditEntry, KnownNode, User
from node.protocol import keytrust
from node.protocol.enrol import create_invite
from node.protocol.keys import rotate_key
from node.runtime import NodeRuntime
from node.schema_types import CODE_PATTERN, ROLE_CHECKED, SIGNED_IN, errors
from node.workbench import todo
from sync import format_ts, utcnow

router = APIRouter(prefix="/api/v1", tags=["api"])


@router.post("/auth/token", summary="登录 Exchange name and password for an API token",
             tags=["auth"], responses=errors(401, 429))
async def post_token(req: TokenRequest, request: Request,
                     rt: NodeRuntime = Depends(get_rt)) -> TokenRead:
    """Exchange a user name and password for an API token. After too many wrong passwords
    for one user name the account is locked for a while (429 too_many_attempts)."""
    return TokenRead(token=await login_limited(rt, name=req.name, password=req.password,
                                               client=client_address(request)))


def _user_read(u: User) -> UserRead:
    return UserRead(id=u.id, name=u.name, role=u.role, unit=u.unit, disabled=u.disabled)


async def _node_info(session: AsyncSession, rt: NodeRuntime) -> NodeInfo:
    me = await session.get(KnownNode, rt.cfg.code)
    return NodeInfo(code=rt.cfg.code, name=rt.cfg.name, level=rt.cfg.level.value,
                    parent=me.parent_code if me else None)


@router.post("/auth/login", summary="登录控制台 Sign in to the console (session cookie)",
             tags=["auth"], responses=errors(401, 429))
async def post_login(req: LoginRequest, request: Request, response: Response,
                     rt: NodeRuntime = Depends(get_rt)) -> SessionRead:
    """Check name and password and start a console session: an HttpOnly, SameSite=Strict
    cookie that lasts ``PLANSYNC_SESSION_HOURS`` (8 by default). Writes made with the cookie
    must carry the header ``X-Plansync-Console: 1``. Same lockout as /auth/token."""
    expires = utcnow() + timedelta(hours=rt.settings.session_hours)
    token = await login_limited(rt, name=req.name, password=req.password,
                                client=client_address(request), expires_at=expires)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/",
                        max_age=int(rt.settings.session_hours * 3600))
    async with rt.sessions() as session:
        user = await session.scalar(select(User).where(User.name == req.name))
        assert user is not None
        return SessionRead(user=_user_read(user), node=await _node_info(session, rt),
                           expires_at=format_ts(expires))


@router.post("/auth/logout", summary="退出登录 End the console session",
             tags=["auth"])
async def post_logout(request: Request, response: Response,
                      session: AsyncSession = SessionDep) -> Done:
    """End the session of the cookie (if any) and clear the cookie. Always succeeds."""
    token = session_token(request)
    if token:
        await end_session(session=session, token=token)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return Done()


@router.get("/me", summary="当前用户 The signed-in user", tags=["auth"], responses=SIGNED_IN)
async def get_me(user: User = UserDep, session: AsyncSession = SessionDep,
                 rt: NodeRuntime = Depends(get_rt)) -> Me:
    """The signed-in user (API token or console session), its role and what the role allows,
    and this node."""
    perms = sorted(p.value for p in ROLE_PERMS.get(Role(user.role), frozenset()))
    return Me(**_user_read(user).model_dump(), permissions=perms,
              node=await _node_info(session, rt))


@router.get("/todo", summary="工作台 What is due or overdue here, soonest first",
            tags=["workbench"], responses=SIGNED_IN)
async def get_todo(user: User = UserDep, session: AsyncSession = SessionDep,
                   rt: NodeRuntime = Depends(get_rt)) -> list[TodoRead]:
    """Plan filings, annual reports and mid-term / final evaluation reports due, returned
    filings (with the reasons), plans to approve or comment on, frameworks from above that
    break our plan, member units' values not yet entered, and children overdue (evaluations
    too) — overdue first, then by days left. A member-unit user sees the work of its unit."""
    today = utcnow().astimezone(rt.cfg.zone).date()
    items = await todo(session, user=user, self_code=rt.cfg.code, today=today,
                       unit_lead_days=rt.settings.unit_report_lead_days)
    return [TodoRead.model_validate(i.as_dict()) for i in items]


@router.get("/users", summary="用户列表 Users of this node", tags=["auth"],
            responses=ROLE_CHECKED)
async def get_users(session: AsyncSession = SessionDep,
                    _: User = Depends(require(Perm.users_manage))) -> list[UserRead]:
    """Every local user with role, member unit and whether disabled."""
    return [_user_read(u) for u in (await session.scalars(select(User).order_by(User.id))).all()]


@router.patch("/users/{name}", summary="修改用户 Change a user's role, unit or status",
              tags=["auth"], responses={**ROLE_CHECKED, **errors(404)})
async def patch_user(req: UserUpdate, name: str = Path(max_length=100),
                     session: AsyncSession = SessionDep,
                     admin: User = Depends(require(Perm.users_manage))) -> UserRead:
    """Change role, member unit or disabled; an admin cannot disable or demote themselves."""
    user = await update_user(session=session, name=name, actor=admin, role=req.role,
                             unit=req.unit, disabled=req.disabled)
    return _user_read(user)


@router.get("/tokens", summary="API 令牌 API tokens", tags=["auth"], responses=SIGNED_IN)
async def get_tokens(user: User = UserDep, session: AsyncSession = SessionDep
                     ) -> list[ApiTokenRead]:
    """The signed-in user's API tokens and sessions (an admin sees everyone's); never the
    token itself, only its label and dates."""
    q = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
    if not allows_manage(user):
        q = q.where(ApiToken.user_id == user.id)
    rows = (await session.execute(q.order_by(ApiToken.id.desc()).limit(500))).all()
    return [ApiTokenRead.model_validate({
        "id": t.id, "user": n, "label": t.label, "kind": t.kind,
        "created_at": format_ts(t.created_at),
        "last_used_at": format_ts(t.last_used_at) if t.last_used_at else None,
        "expires_at": format_ts(t.expires_at) if t.expires_at else None,
        "revoked": t.revoked}) for t, n in rows]


def allows_manage(user: User) -> bool:
    return Perm.users_manage in ROLE_PERMS.get(Role(user.role), frozenset())


@router.post("/tokens", status_code=201, summary="新建 API 令牌 Create an API token",
             tags=["auth"], responses=SIGNED_IN)
async def post_token_create(req: ApiTokenCreate, user: User = UserDep,
                            session: AsyncSession = SessionDep) -> ApiTokenCreated:
    """A new API token of the signed-in user, for scripts; shown once."""
    token = await issue_token(session=session, user=user, label=req.label, actor=user.name)
    row = await session.scalar(select(ApiToken).order_by(ApiToken.id.desc()).limit(1))
    assert row is not None
    return ApiTokenCreated(id=row.id, token=token)


@router.delete("/tokens/{token_id}", summary="吊销令牌 Revoke an API token",
               tags=["auth"], responses={**SIGNED_IN, **errors(404)})
async def delete_token(token_id: int = Path(ge=1, le=2**53), user: User = UserDep,
                       session: AsyncSession = SessionDep) -> Done:
    """Revoke one of your tokens (an admin: anyone's)."""
    await revoke_token(session=session, token_id=token_id, user=user)
    return Done()


@router.get("/audit/log", summary="审计日志 The audit log, newest first", tags=["audit"],
            responses=ROLE_CHECKED)
async def get_audit_log(q: str | None = Query(default=None, max_length=100,
                                              description="text in actor, action or entity"),
                        page: int = Query(default=1, ge=1, le=100_000),
                        size: int = Query(default=50, ge=1, le=500),
                        session: AsyncSession = SessionDep,
                        _: User = Depends(require(Perm.audit_read))) -> AuditPage:
    """Search the hash-chained audit log (who did what, when); server-side paging."""
    cond = []
    if q:
        # the text as typed: % and _ match themselves, not any characters
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cond.append(or_(*(col.like(like, escape="\\") for col in (
            AuditEntry.actor, AuditEntry.action, AuditEntry.entity, AuditEntry.entity_id))))
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*cond)) or 0
    rows = (await session.scalars(select(AuditEntry).where(*cond)
                                  .order_by(AuditEntry.id.desc())
                                  .offset((page - 1) * size).limit(size))).all()
    return AuditPage(total=total, items=[AuditEntryRead(
        id=r.id, at=format_ts(r.at), actor=r.actor, action=r.action, entity=r.entity,
        entity_id=r.entity_id, before=r.before, after=r.after) for r in rows])


@router.post("/users", status_code=201, summary="新建用户 Create a user", tags=["auth"],
             responses={**ROLE_CHECKED, **errors(409)})
async def post_user(req: UserCreate, session: AsyncSession = SessionDep,
                    admin: User = Depends(require(Perm.users_manage))) -> UserCreated:
    """Create a local user with a role (and, for member units, the unit), and issue its
    first API token."""
    user = await create_user(session=session, name=req.name, role=req.role,
                             password=req.password, actor=admin.name, unit=req.unit)
    token = await issue_token(session=session, user=user, label="created", actor=admin.name)
    return UserCreated(user=_user_read(user), token=token)


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
