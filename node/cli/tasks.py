"""A plan's task decomposition table (`plansync tasks`): show, import and export it as XLSX
in seed 001's layout (node.plans.tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, Fmt, Out, acting, emit_table, fail, tx

tasks_app = typer.Typer(help="任务分解表 A plan's task decomposition table: show, import, "
                        "export (XLSX).", no_args_is_help=True)
COLUMNS = [("section", "分组"), ("number", "序号"), ("content", "规划内容"),
           ("lead_unit", "牵头单位"), ("responsible_units", "责任单位"),
           ("indicators", "关联指标")]


def _plan_id(rt: Any, kind: str) -> str:
    from node.errors import BadRequest
    from node.plans.document import KINDS

    if kind not in KINDS:
        raise BadRequest(f"kind must be women or children, not {kind!r}")
    return f"{rt.cfg.code}-{kind}"


@tasks_app.command("show")
def tasks_show(kind: str, fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """The plan's task table, row by row."""
    from node.plans import tasks

    t = tx(data_dir, lambda s, rt: tasks.get_table(session=s, plan_id=_plan_id(rt, kind)))
    rows = [r.model_dump() for r in t.rows]
    if not rows and fmt == "table":
        typer.echo("尚无任务分解表 no task table yet: `plansync tasks import`")
        return
    emit_table(fmt, out, rows, [("任务分解表", rows, COLUMNS)])


@tasks_app.command("import")
def tasks_import(kind: str, file: Path, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Replace the plan's task table from an XLSX file (序号 | 规划内容 | 牵头单位 | 责任单位)."""
    from node.plans import tasks

    try:
        raw = file.read_bytes()
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.edit")
        return await tasks.import_xlsx(session=s, plan_id=_plan_id(rt, kind), raw=raw,
                                       actor=user.name)

    t = tx(data_dir, go)
    typer.echo(f"已导入 imported {len(t.rows)} rows into {t.plan_id}")


@tasks_app.command("export")
def tasks_export(kind: str, out: Path = typer.Option(..., "--out", help="the .xlsx to write"),
                 data_dir: Path = DataDir) -> None:
    """Write the plan's task table as XLSX in the layout it is imported in."""
    from node.plans import tasks

    data = tx(data_dir, lambda s, rt: tasks.export_xlsx(session=s, plan_id=_plan_id(rt, kind)))
    out.write_bytes(data)
    typer.echo(f"已导出 written {out}")
