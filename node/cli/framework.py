"""Frameworks: import one as a plan, list those received (`plansync framework`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, acting, echo_json, fail, tx

framework_app = typer.Typer(help="Frameworks: import one as a plan; list those received.",
                            no_args_is_help=True)


@framework_app.command("import")
def framework_import(
    file: Path, kind: str = typer.Option(..., help="women | children"),
    title: str = typer.Option(None, help="plan title (default: office name + plan name)"),
    replace: bool = typer.Option(False, "--replace", help="replace the working document of "
                                 "the existing (editable) plan of that kind"),
    as_: str = Actor, data_dir: Path = DataDir,
) -> None:
    """Load a framework or plan (JSON such as framework-sample.json, or an XLSX task table)
    as this office's draft plan of that kind. A bad file, a file of the other plan kind or
    an unknown unit imports nothing; an existing plan is replaced only with --replace."""
    from node.errors import Conflict
    from node.models import Plan
    from node.plans import service
    from node.plans.document import KIND_NAMES, DocumentError, kind_mismatch
    from node.plans.sheets import TITLE_MAX, load_file, storable

    if kind not in KIND_NAMES:
        fail("--kind must be women or children")
    if title is not None and not 1 <= len(title) <= TITLE_MAX:
        fail(f"--title must have 1 to {TITLE_MAX} characters")
    try:
        doc = storable(load_file(file, kind))  # type: ignore[arg-type]
        wrong = kind_mismatch(doc, kind)
        if wrong is not None:
            raise wrong
    except DocumentError as e:
        fail(f"{file}: {e}; nothing was imported", 1)

    async def go(session: Any, rt: Any) -> Any:
        user = await acting(session, as_, "plans.edit")
        pid = service.plan_id_for(rt.cfg.code, kind)
        existing = await session.get(Plan, pid)
        if existing is not None and not replace:
            raise Conflict(f"已有规划 plan {pid} exists ({existing.status}); pass --replace to "
                           "replace its working document")
        if existing is not None:
            return await service.update_document(session=session, plan_id=pid, document=doc,
                                                 actor=user.name)
        return await service.create_plan(session=session, code=rt.cfg.code, kind=kind,
                                         title=title or f"{rt.cfg.name}{KIND_NAMES[kind]}"
                                         "（2021—2030年）", document=doc, actor=user.name)

    plan = tx(data_dir, go)
    typer.echo(f"已导入 imported {len(doc.indicators)} indicators, {len(doc.areas)} areas "
               f"into plan {plan.id} ({plan.status})")


@framework_app.command("list")
def framework_list(as_json: bool = typer.Option(False, "--json"),
                   data_dir: Path = DataDir) -> None:
    """Frameworks received from ancestors: what changed and what it breaks here."""
    from sqlalchemy import select

    from node.models import Framework

    async def go(session: Any, rt: Any) -> list[Any]:
        return list((await session.scalars(select(Framework).order_by(
            Framework.origin, Framework.kind, Framework.version))).all())

    rows = tx(data_dir, go)
    if as_json:
        echo_json([{"origin": f.origin, "kind": f.kind, "version": f.version,
                    "title": f.title, "diff": f.diff, "breaks": f.breaks} for f in rows])
        return
    for f in rows:
        d = f.diff
        typer.echo(f"{f.origin} {f.kind} v{f.version} {f.title}: +{len(d['added'])} "
                   f"-{len(d['removed'])} ~{len(d['changed'])}; breaks {len(f.breaks)} "
                   "of this office's indicators")
        for c in d["changed"]:
            typer.echo(f"    ~ {c['code']} {c['name']}: {c['from']} → {c['to']}")
        for b in f.breaks:
            typer.echo(f"    ✗ {b['indicator']} {b['name']}: {b['detail']}")
