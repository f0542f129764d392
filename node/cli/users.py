"""Local user accounts and API tokens (`plansync users`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import DataDir, fail, load_cfg, run, with_rt

users_app = typer.Typer(help="Local user accounts and API tokens.", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: str,
    role: str = typer.Option(..., help="admin|editor|reviewer|member_unit|auditor|viewer"),
    password: str = typer.Option(None, help="optional; for signing in to the API by password"),
    unit: str = typer.Option(None, help="member unit (成员单位) for role member_unit, e.g. 卫健委"),
    data_dir: Path = DataDir,
) -> None:
    """Create a user and print a new API token for it (shown once)."""
    from node.auth.service import create_user, issue_token
    from node.db import transaction
    from node.errors import NodeError

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> str:
        async with transaction(rt.sessions) as session:
            user = await create_user(session=session, name=name, role=role, password=password,
                                     actor="cli", unit=unit)
            return await issue_token(session=session, user=user, label="cli", actor="cli")

    try:
        token = run(lambda: with_rt(cfg, go))
    except NodeError as e:
        fail(e.message)
    typer.echo(f"已创建用户 user created: {name} ({role})")
    typer.echo(f"API token (shown once): {token}")


@users_app.command("token")
def users_token(name: str, data_dir: Path = DataDir) -> None:
    """Issue another API token for an existing user."""
    from sqlalchemy import select

    from node.auth.service import issue_token
    from node.db import transaction
    from node.models import User

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> str | None:
        async with transaction(rt.sessions) as session:
            user = await session.scalar(select(User).where(User.name == name))
            if user is None:
                return None
            return await issue_token(session=session, user=user, label="cli", actor="cli")

    token = run(lambda: with_rt(cfg, go))
    if token is None:
        fail(f"no user {name!r}; create it with `plansync users add {name} --role ROLE`")
    typer.echo(token)


@users_app.command("unlock")
def users_unlock(name: str, data_dir: Path = DataDir) -> None:
    """Lift a sign-in lockout (too many wrong passwords) before it ends by itself."""
    from node.auth.limits import login_limit, unlock
    from node.db import transaction

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> bool:
        async with transaction(rt.sessions) as session:
            return await unlock(session=session, limit=login_limit(rt.settings), subject=name,
                                actor="cli")

    if run(lambda: with_rt(cfg, go)):
        typer.echo(f"已解锁 unlocked: {name} may sign in again")
    else:
        typer.echo(f"{name} 未被锁定 was not locked (its failed sign-ins are forgotten)")


@users_app.command("list")
def users_list(data_dir: Path = DataDir) -> None:
    """The office's users: name, role (as words), member unit, whether disabled."""
    from sqlalchemy import select

    from node.models import User

    cfg = load_cfg(data_dir)
    words = {"admin": "管理员", "editor": "编辑", "reviewer": "主任/审核",
             "member_unit": "成员单位", "auditor": "审计/督查", "viewer": "只读"}

    async def go(rt: Any) -> list[tuple[str, str, str | None, bool]]:
        async with rt.sessions() as session:
            return [(u.name, u.role, u.unit, u.disabled) for u in
                    (await session.scalars(select(User).order_by(User.name))).all()]

    rows = run(lambda: with_rt(cfg, go))
    if not rows:
        typer.echo("还没有用户 no users yet: plansync users add NAME --role admin")
        return
    for name, role, unit, disabled in rows:
        typer.echo(f"{name}\t{words.get(role, role)} ({role})\t{unit or '-'}"
                   + ("\t已停用 disabled" if disabled else ""))
