"""The audit log (`plansync audit verify`) and the timeliness audit
(`plansync audit timeliness`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import DataDir, Fmt, Out, emit_table, fail, load_cfg, run, tx, with_rt

audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    data_dir: Path = DataDir,
    expect: str | None = typer.Option(
        None, help="an anchor printed by an earlier verify (<row id>:<hash>); detects the "
                   "newest rows being deleted since"),
) -> None:
    """Check the audit chain; name every modified or deleted row. Exit 1 if broken."""
    from node.audit.verify import parse_anchor, verify_chain

    cfg = load_cfg(data_dir)
    try:
        anchor = parse_anchor(expect) if expect else None
    except ValueError as e:
        fail(str(e), 2)

    async def go(rt: Any) -> Any:
        async with rt.sessions() as session:
            return await verify_chain(session=session, expect=anchor)

    rep = run(lambda: with_rt(cfg, go))
    if rep.ok:
        typer.echo(f"审计链完整 audit chain intact: {rep.rows} rows, head {rep.head}")
        typer.echo(f"业务数据完整 {rep.sealed_rows} business rows match their seals")
        typer.echo(f"锚点 anchor (record it; check later with --expect): {rep.anchor}")
        return
    for p in rep.problems:
        typer.secho(f"  {p}", fg=typer.colors.RED)
    fail(f"audit chain broken: {len(rep.problems)} problem(s) in {rep.rows} rows", 1)


@audit_app.command("timeliness")
def audit_timeliness(subtree: str = typer.Option(None, help="audit only this node's subtree"),
                     year: int = typer.Option(None, min=2021, max=2030,
                                              help="only this report year (2021–2030)"),
                     from_year: int = typer.Option(2021, min=2021, max=2030,
                                                   help="first report year expected"),
                     what: str = typer.Option(None, help="only plan | report | evaluation "
                                              "(规划备案 / 年度报告 / 中期·终期评估报告)"),
                     fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Who filed what, when, and whether on time — for the whole subtree, from the ledger."""
    from datetime import datetime

    from node.audit.timeliness import (
        evaluation_days_in_force,
        expected_years,
        kinds_in_force,
        timeliness,
    )
    from node.reports import exports

    if what not in (None, "plan", "report", "evaluation"):
        fail(f"--what must be plan, report or evaluation, not {what!r}", 2)

    async def go(s: Any, rt: Any) -> Any:
        try:
            today = datetime.now(rt.cfg.zone).date()
            return await timeliness(session=s, self_code=rt.cfg.code, subtree=subtree,
                                    year=year, today=today,
                                    report_years=expected_years(today, from_year),
                                    kinds=await kinds_in_force(s, rt.cfg.code) or None,
                                    evaluations=await evaluation_days_in_force(
                                        s, rt.cfg.code),
                                    what=what)
        except KeyError:
            from node.errors import NotFound

            raise NotFound(f"{subtree} is not in this office's subtree") from None

    rep = tx(data_dir, go)
    emit_table(fmt, out, rep, [("报送明细", rep["rows"], exports.AUDIT_COLUMNS),
                               ("按单位", rep["by_node"], exports.RATE_COLUMNS),
                               ("按层级", rep["by_level"], exports.RATE_COLUMNS)])
    if fmt == "table":
        typer.echo("")
        emit_table("table", None, rep, [("按层级", rep["by_level"], exports.RATE_COLUMNS)])
