"""FastAPI dependencies: the runtime, one session per request, the authenticated user, and the
input checks every request passes (no NUL characters, strict JSON bodies; see node.app)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from node.auth.service import Perm, allows, user_for_token
from node.db import transaction
from node.errors import BadRequest, Forbidden, Unauthenticated
from node.models import User
from node.runtime import NodeRuntime
from sync import ErrorCode, Rejected, loads, utcnow

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MULTIPART = "multipart/form-data"
# protocol endpoints whose bodies the protocol itself validates (signed envelopes, enrolment)
PROTOCOL_BODIES = ("/sync/",)


def get_rt(request: Request) -> NodeRuntime:
    rt: NodeRuntime = request.app.state.rt
    return rt


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a reverse proxy: the proxy's, unless
    uvicorn is told to trust its X-Forwarded-For, see docs/operations.md)."""
    return (request.client.host if request.client else "") or "unknown"


async def get_session(
    request: Request, rt: NodeRuntime = Depends(get_rt)
) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed on success, rolled back on any error. Envelopes
    queued in it kick delivery after the commit (node.protocol.outbox.kick_after_commit).
    Always used with ``scope="function"``, so the commit happens before the response is sent:
    a client never acts on an answer whose transaction is not yet durable."""
    async with rt.sessions() as session, session.begin():
        yield session


# the OpenAPI document's security scheme of /api/v1; the token itself is checked below (the
# scheme's own refusal would not be the node's error shape)
bearer = HTTPBearer(scheme_name="bearer", bearerFormat="API token", auto_error=False,
                    description="API token of a local user: `plansync users token NAME`, or "
                    "POST /api/v1/auth/token with the user's name and password")
BearerDep = Security(bearer)


SESSION_COOKIE = "plansync_session"
# a cookie-signed-in request that changes something must carry this header: a page of another
# site can make the browser send the cookie (were SameSite ever relaxed) but not this header
CONSOLE_HEADER = "x-plansync-console"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token(request: Request) -> str | None:
    """The console session's token, from its HttpOnly cookie."""
    return request.cookies.get(SESSION_COOKIE) or None


async def _authenticate(request: Request, session: AsyncSession) -> User:
    """The user of the request's Bearer API token (scripts) or, without one, of its console
    session cookie (browsers; writes must carry the console's header: CSRF)."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        cookie = session_token(request)
        if cookie is None:
            raise Unauthenticated("请先登录 sign in first: send 'Authorization: Bearer <API "
                                  "token>' (plansync users token NAME, or POST "
                                  "/api/v1/auth/token), or sign in to the console")
        if request.method not in SAFE_METHODS and request.headers.get(CONSOLE_HEADER) != "1":
            raise Forbidden("请求缺少控制台标头 a change made with the console's session cookie "
                            f"must carry the header '{CONSOLE_HEADER}: 1' (CSRF guard)",
                            code="csrf")
        user = await user_for_token(session=session, token=cookie)
        if user is None:
            raise Unauthenticated("登录已过期，请重新登录 the console session has expired or "
                                  "was ended; sign in again", code="session_expired")
        return user
    user = await user_for_token(session=session, token=token.strip())
    if user is None:
        raise Unauthenticated("API token is unknown or revoked; get a new one")
    return user


async def current_user(request: Request,
                       session: AsyncSession = Depends(get_session, scope="function"),
                       _: HTTPAuthorizationCredentials | None = BearerDep) -> User:
    return await _authenticate(request, session)


# the request's session and user, finished before the response is sent (see get_session)
SessionDep = Depends(get_session, scope="function")
UserDep = Depends(current_user, scope="function")


def _allow(user: User, perm: Perm) -> User:
    if not allows(user.role, perm):
        raise Forbidden(f"role {user.role} may not do this (needs {perm.value})")
    return user


def require(perm: Perm) -> Callable[..., Awaitable[User]]:
    async def dep(user: User = UserDep) -> User:
        return _allow(user, perm)

    return dep


def require_unbound(perm: Perm) -> Callable[..., Awaitable[User]]:
    """Like :func:`require`, but the user is checked in a short transaction of its own that is
    over before the endpoint runs. For endpoints that open their own transactions (a key
    rotation): on SQLite the node has a single pooled connection, which the request's session
    would otherwise hold for the whole request."""

    async def dep(request: Request, rt: NodeRuntime = Depends(get_rt),
                  _: HTTPAuthorizationCredentials | None = BearerDep) -> User:
        async with transaction(rt.sessions) as session:
            user = await _authenticate(request, session)
        return _allow(user, perm)

    return dep


# ---- input checks (every route; see node.app) ------------------------------------------------


def _nul(where: str) -> BadRequest:
    return BadRequest(f"请求含有空字符 NUL（%00），请删除后重试 the request contains a NUL "
                      f"character (\\u0000, %00) in {where}; remove it and try again",
                      code="invalid_character")


def _walk_nul(doc: Any) -> str | None:
    """JSON pointer of the first key or string holding a NUL, else None."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        value, ptr = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return ptr or "/"
        elif isinstance(value, dict):
            for k, v in value.items():
                here = f"{ptr}/{str(k).replace('~', '~0').replace('/', '~1')}"
                if "\x00" in str(k):
                    return here
                stack.append((v, here))
        elif isinstance(value, list):
            stack.extend((v, f"{ptr}/{i}") for i, v in enumerate(value))
    return None


async def read_form(request: Request) -> FormData:
    """The request's multipart form (read once, kept on the request); a malformed one is a
    400 in the node's error shape."""
    try:
        return await request.form()
    except HTTPException as e:
        raise BadRequest(f"表单无效 the multipart form cannot be read: {e.detail}") from None


async def clean_input(request: Request) -> AsyncIterator[None]:
    """Refuse, before anything reaches the database, what no column can hold: NUL characters
    in path and query parameters, and in API request bodies NUL characters, NaN/Infinity,
    integers beyond ±2^53, lone surrogates and duplicate member names (strict JSON, as for
    envelopes); in multipart forms NUL characters in field names and text fields. Protocol
    bodies (/sync/…) are checked by the protocol code; uploaded files by their readers.
    A multipart form read here is closed (its spooled files removed) after the response."""
    try:
        await _check_input(request)
        yield
    finally:
        await request.close()  # the form's files, if a form was read


async def _check_input(request: Request) -> None:
    for name, value in request.path_params.items():
        if "\x00" in str(value):
            raise _nul(f"path parameter {name}")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise _nul(f"query parameter {name.replace(chr(0), '%00')!s}")
    if request.method not in ("POST", "PUT", "PATCH") or \
            request.url.path.startswith(PROTOCOL_BODIES):
        return
    if request.headers.get("content-type", "").lower().startswith(MULTIPART):
        for name, value in (await read_form(request)).multi_items():
            if "\x00" in name or (isinstance(value, str) and "\x00" in value):
                raise _nul(f"form field {name.replace(chr(0), '%00')!s}")
        return
    body = await request.body()
    if not body or body[:2] == b"PK" or \
            request.headers.get("content-type", "").startswith(XLSX):
        return
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # not JSON at all: the endpoint says what it expected
        return
    where = _walk_nul(doc)
    if where is not None:
        raise _nul(f"body field {where}")
    try:
        loads(body)
    except Rejected as e:
        raise BadRequest(f"请求正文不是严格的 JSON the request body is not strict JSON: "
                         f"{e.message}", code=ErrorCode.malformed_json.value) from None


ENROL_PATH = "/sync/v1/enroll"


async def enrol_guard(request: Request,
                      rt: NodeRuntime = Depends(get_rt)) -> AsyncIterator[None]:
    """On POST /sync/v1/enroll: refuse a client address locked out for guessing enrolment
    tokens (429 too_many_attempts), and count each unknown token it sends (node.auth.limits).
    Attached to the /sync/v1 router (node.app); other routes pass straight through."""
    if getattr(request.scope.get("route"), "path", None) != ENROL_PATH:
        yield
        return
    from node.auth.limits import check, enrol_limit, note_failure, refusal

    client = client_address(request)
    limit = enrol_limit(rt.settings)
    async with transaction(rt.sessions) as session:
        await check(session=session, limit=limit, subject=client, now=utcnow(),
                    zone=rt.cfg.zone)
    try:
        yield
    except Rejected as e:
        if e.code is not ErrorCode.token_invalid:
            raise
        now = utcnow()
        async with transaction(rt.sessions) as session:
            until = await note_failure(session=session, limit=limit, subject=client, now=now,
                                       actor=f"client:{client}")
        if until is None:
            raise
        raise refusal(limit, client, until, now, rt.cfg.zone) from None
