"""Child offices: invites and enrolment status (`plansync children`)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from node.cli.common import DataDir, fail, load_cfg, run, with_rt

children_app = typer.Typer(help="Child offices: invites and enrolment status.",
                           no_args_is_help=True)


@children_app.command("invite")
def children_invite(
    code: str, name: str = typer.Option(..., help="child office name, e.g. 康巴什区"),
    ttl_hours: int = typer.Option(72, min=1, max=24 * 30,
                                  help="hours until the token expires (1–720)"),
    recovery: bool = typer.Option(False, "--recovery",
                                  help="the child lost its key: let it enrol again with a new "
                                       "one (retires the old key here; ancestors' admins "
                                       "confirm with `plansync keys confirm`)"),
    data_dir: Path = DataDir,
) -> None:
    """Print a one-time enrolment token for a child office."""
    from node.db import transaction
    from node.errors import NodeError
    from node.protocol.enrol import create_invite

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> str:
        async with transaction(rt.sessions) as session:
            return await create_invite(session=session, code=code, name=name, actor="cli",
                                       ttl=timedelta(hours=ttl_hours), recovery=recovery)

    try:
        token = run(lambda: with_rt(cfg, go))
    except NodeError as e:
        fail(e.message)
    typer.echo(token)


@children_app.command("list")
def children_list(data_dir: Path = DataDir,
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Enrolled children and their last contact."""
    from sqlalchemy import select

    from node.models import KnownNode
    from sync import format_ts

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> list[dict[str, Any]]:
        async with rt.sessions() as session:
            rows = (await session.scalars(select(KnownNode).where(
                KnownNode.relation == "child").order_by(KnownNode.code))).all()
        return [{"code": n.code, "name": n.name, "level": n.level, "base_url": n.base_url,
                 "enrolled_at": format_ts(n.enrolled_at) if n.enrolled_at else None,
                 "last_contact_at": format_ts(n.last_contact_at) if n.last_contact_at else None}
                for n in rows]

    rows = run(lambda: with_rt(cfg, go))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("尚无下级节点 no children enrolled yet")
    for r in rows:
        typer.echo(f"{r['code']}  {r['name']:<10} {r['level']:<8} last contact "
                   f"{r['last_contact_at'] or '-'}  {r['base_url'] or ''}")
