"""FastAPI dependencies: the runtime, one session per request, the authenticated user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from node.auth.service import Perm, allows, user_for_token
from node.errors import Forbidden, Unauthenticated
from node.models import User
from node.runtime import NodeRuntime


def get_rt(request: Request) -> NodeRuntime:
    rt: NodeRuntime = request.app.state.rt
    return rt


async def get_session(
    request: Request, rt: NodeRuntime = Depends(get_rt)
) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed on success, rolled back on any error. Endpoints
    that queued envelopes put the targets in ``request.state.kick``; delivery is kicked only
    after the commit. Always used with ``scope="function"``, so the commit happens before the
    response is sent: a client never acts on an answer whose transaction is not yet durable."""
    async with rt.sessions() as session, session.begin():
        yield session
    targets = getattr(request.state, "kick", None)
    if targets and rt.dispatcher is not None:
        rt.dispatcher.kick(targets)


async def current_user(request: Request,
                       session: AsyncSession = Depends(get_session, scope="function")) -> User:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <API token>' "
                              "(plansync users token NAME, or POST /api/v1/auth/token)")
    user = await user_for_token(session=session, token=token.strip())
    if user is None:
        raise Unauthenticated("API token is unknown or revoked; get a new one")
    return user


# the request's session and user, finished before the response is sent (see get_session)
SessionDep = Depends(get_session, scope="function")
UserDep = Depends(current_user, scope="function")


def require(perm: Perm) -> Callable[..., Awaitable[User]]:
    async def dep(user: User = UserDep) -> User:
        if not allows(user.role, perm):
            raise Forbidden(f"role {user.role} may not do this (needs {perm.value})")
        return user

    return dep
