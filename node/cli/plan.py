"""This office's plans: draft, consult, review, publish, export (`plansync plan`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, acting, echo_json, fail, out_path, tx

plan_app = typer.Typer(help="This office's plans (规划): draft, consult, review, publish.",
                       no_args_is_help=True)


@plan_app.command("list")
def plan_list(data_dir: Path = DataDir) -> None:
    """Plans of this office with their status."""
    from sqlalchemy import select

    from node.models import Plan

    async def go(session: Any, rt: Any) -> list[Any]:
        return list((await session.scalars(select(Plan).order_by(Plan.id))).all())

    for p in tx(data_dir, go):
        typer.echo(f"{p.id:<16} {p.status:<14} v{p.current_version}  {p.title}")


@plan_app.command("step")
def plan_step(plan_id: str, step: str = typer.Argument(
        ..., help="consultation | expert_review | submit | approve | back_to_draft"),
        note: str = typer.Option(None), as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Move a plan through the drafting workflow (the submitter may not approve)."""
    from node.plans import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.approve" if step == "approve" else "plans.edit")
        return await service.advance(session=s, plan_id=plan_id, step=step, actor=user.name,
                                     note=note,
                                     min_rounds=rt.settings.min_consultation_rounds)

    plan = tx(data_dir, go)
    typer.echo(f"{plan.id}: {plan.status}" + (f" (round {plan.consultation_round})"
                                             if plan.status == "consultation" else ""))


@plan_app.command("comment")
def plan_comment(plan_id: str, unit: str = typer.Option(..., help="member unit, e.g. 卫健委"),
                 text: str = typer.Option(...), as_: str = Actor,
                 data_dir: Path = DataDir) -> None:
    """Record a member unit's comment in the current consultation round."""
    from node.plans import service

    if len(unit) > 100:
        fail("--unit must have at most 100 characters")
    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.comment")
        return await service.add_comment(session=s, plan_id=plan_id, unit=unit, text=text,
                                         actor=user.name)

    c = tx(data_dir, go)
    typer.echo(f"意见已记录 comment recorded (round {c.round}, {c.unit})")


@plan_app.command("check")
def plan_check(plan_id: str, as_json: bool = typer.Option(False, "--json"),
               data_dir: Path = DataDir) -> None:
    """Check the plan against every ancestor framework in force. Exit 1 on findings."""
    from node.plans import service

    rep = tx(data_dir, lambda s, rt: service.check_plan(session=s, rt=rt, plan_id=plan_id))
    if as_json:
        echo_json(rep)
    else:
        against = ", ".join(f"{f['code']} {f['name']} v{f['version']}"
                            for f in rep["checked_against"]) or "none received yet"
        typer.echo(f"检查 checked {plan_id} against: {against}")
        for f in rep["findings"]:
            typer.echo(f"  ✗ {f['indicator']} {f['name']}: {f['reason']} — ancestor "
                       f"{f['ancestor']} {f['ancestor_target']}, local "
                       f"{f['local_target'] or '-'}: {f['detail']}")
        if rep["ok"]:
            typer.echo("  ✓ 未降低标准 no lowered standard, no dropped indicator")
    if not rep["ok"]:
        raise typer.Exit(1)


@plan_app.command("publish")
def plan_publish(plan_id: str,
                 released_on: str = typer.Option(..., help="release date 颁布日期, YYYY-MM-DD"),
                 override_reason: str = typer.Option(
                     None, help="admin override of compliance findings, recorded"),
                 as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Publish an approved plan: release it to the subtree and file it with the parent."""
    from datetime import date

    from node.plans import service
    from node.plans.dates import RELEASE_FIRST, RELEASE_LAST

    try:
        day = date.fromisoformat(released_on)
    except ValueError:
        fail(f"--released-on {released_on!r} is not a date like 2022-05-10")
        raise AssertionError from None
    if not RELEASE_FIRST <= day <= RELEASE_LAST:
        fail(f"--released-on must be between {RELEASE_FIRST} and {RELEASE_LAST}")
    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.approve")
        return await service.publish(session=s, rt=rt, plan_id=plan_id, released_on=day,
                                     actor=user.name, is_admin=user.role == "admin",
                                     override_reason=override_reason)

    pv = tx(data_dir, go)
    typer.echo(f"已发布 published {plan_id} v{pv.version} (released {pv.released_on})"
               + ("; filed with the parent" if pv.filing_envelope_id else ""))


@plan_app.command("revise")
def plan_revise(plan_id: str, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Start a revision of a published plan (a new version when published again)."""
    from node.plans import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.edit")
        return await service.revise(session=s, plan_id=plan_id, actor=user.name)

    plan = tx(data_dir, go)
    typer.echo(f"{plan.id}: {plan.status} (revision of v{plan.current_version})")


EXPORT_SUFFIXES = (".xlsx", ".json")


def _export_out(value: Path) -> Path:
    """``plan export --out``: a .xlsx or .json file in a folder that exists."""
    if value.suffix.lower() not in EXPORT_SUFFIXES:
        got = value.suffix or "a name without a suffix"
        raise typer.BadParameter(f"{value.name}: plan export writes .xlsx (the task table) or "
                                 f".json (the whole document), not {got}; name the file e.g. "
                                 "plan.xlsx")
    checked = out_path(value)
    assert checked is not None
    return checked


@plan_app.command("export")
def plan_export(plan_id: str, out: Path = typer.Option(..., help="file.xlsx or file.json",
                                                       callback=_export_out),
                version: int = typer.Option(None, min=1, max=2**31 - 1,
                                            help="a published version (default: draft)"),
                data_dir: Path = DataDir) -> None:
    """Export a plan to XLSX (task-table layout) or JSON."""
    from node.models import PlanVersion
    from node.plans import service
    from node.plans.document import parse_document
    from node.plans.sheets import write_xlsx

    async def go(session: Any, rt: Any) -> tuple[str, Any]:
        p = await service.get_plan(session, plan_id)
        if version is None:
            return p.title, p.document
        pv = await session.get(PlanVersion, (plan_id, version))
        if pv is None:
            from node.errors import NotFound

            raise NotFound(f"plan {plan_id} has no version {version}")
        return pv.title, pv.document

    title, document = tx(data_dir, go)
    doc = parse_document(document)
    if out.suffix.lower() == ".xlsx":
        out.write_bytes(write_xlsx(doc, title))
    else:  # .json (_export_out refused anything else)
        out.write_text(json.dumps({"title": title, **doc.dump()}, ensure_ascii=False,
                                  indent=1), "utf-8")
    typer.echo(f"已导出 exported {plan_id} to {out}")
