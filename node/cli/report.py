"""Annual reports (`plansync report`), aggregates (`plansync aggregate`) and early warnings
(`plansync warnings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, Fmt, Out, acting, emit_table, tx

report_app = typer.Typer(help="Annual reports (年度报告): enter, compile, file.",
                         no_args_is_help=True)


async def _user(session: Any, name: str | None, perm: str = "reports.enter") -> Any:
    """The real user ``--as`` names (its role and member unit apply)."""
    return await acting(session, name, perm)


@report_app.command("value")
def report_value(kind: str, year: int, indicator: str,
                 value: float = typer.Option(None), numerator: float = typer.Option(None),
                 denominator: float = typer.Option(None), as_: str = Actor,
                 data_dir: Path = DataDir) -> None:
    """Enter one indicator's value (or numerator and denominator for a ratio)."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> Any:
        return await service.enter_value(session=s, code=rt.cfg.code, kind=kind, year=year,
                                         indicator=indicator, user=await _user(s, as_),
                                         value=value, numerator=numerator,
                                         denominator=denominator)

    tx(data_dir, go)
    typer.echo(f"已录入 entered {kind} {year} {indicator}")


@report_app.command("narrative")
def report_narrative(kind: str, year: int, area: str = typer.Option(...),
                     text: str = typer.Option(...), as_: str = Actor,
                     data_dir: Path = DataDir) -> None:
    """Enter the narrative for one area (member units: the areas they lead or support)."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> None:
        await service.enter_narrative(session=s, code=rt.cfg.code, kind=kind, year=year,
                                      area=area, text=text, user=await _user(s, as_))

    tx(data_dir, go)
    typer.echo(f"已录入 entered narrative for {area}")


@report_app.command("next-year")
def report_next_year(kind: str, year: int, text: str = typer.Option(...), as_: str = Actor,
                     data_dir: Path = DataDir) -> None:
    """Enter next year's arrangements (下一年工作安排)."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> None:
        user = await _user(s, as_, "plans.edit")
        await service.set_next_year(session=s, code=rt.cfg.code, kind=kind, year=year,
                                    text=text, actor=user.name)

    tx(data_dir, go)
    typer.echo("已录入 entered")


@report_app.command("compile")
def report_compile(kind: str, year: int, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Fill values nobody entered with the aggregate of the children's filed reports."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> Any:
        user = await _user(s, as_, "plans.edit")
        return await service.compile_report(session=s, code=rt.cfg.code, kind=kind, year=year,
                                            actor=user.name)

    rep, n = tx(data_dir, go)
    typer.echo(f"已汇总 compiled {rep.id}: {n} values aggregated from child offices")


@report_app.command("file")
def report_file(kind: str, year: int, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """File the annual report with the parent office (signed, through the outbox)."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> Any:
        user = await _user(s, as_, "plans.approve")
        return await service.file_report(session=s, rt=rt, kind=kind, year=year,
                                         actor=user.name)

    rep = tx(data_dir, go)
    typer.echo(f"已报送 filed {rep.id}")


@report_app.command("return")
def report_return(filing_id: str, reasons: str = typer.Option(...), as_: str = Actor,
                  data_dir: Path = DataDir) -> None:
    """Return a child's annual report for correction, with reasons (the same as `filings
    return`: one place returns plans and reports alike)."""
    from node.cli.filings import filings_return

    filings_return(filing_id, reasons=reasons, as_=as_, data_dir=data_dir)


def aggregate_cmd(kind: str, year: int, under: str = typer.Option(
        None, help="drill down: aggregate the children of this node instead"),
        fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """This office's figures from its children's filed values, with coverage."""
    from node.reports import exports, service

    figs = tx(data_dir, lambda s, rt: service.figures(session=s, code=rt.cfg.code, kind=kind,
                                                     year=year, under=under))
    rows = [f.as_dict() for f in figs]
    emit_table(fmt, out, rows, [("汇总", rows, exports.FIGURE_COLUMNS)])


def warnings_cmd(kind: str, fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Early warnings: off target, projected to miss 2030, volatile — for this office and
    every office below it that reported."""
    from node.reports import exports, service

    ws = tx(data_dir, lambda s, rt: service.early_warnings(
        session=s, code=rt.cfg.code, kind=kind, volatility=rt.settings.volatility_threshold))
    emit_table(fmt, out, ws, [("预警", ws, exports.WARNING_COLUMNS)])
