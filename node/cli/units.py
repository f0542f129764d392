"""Member units' yearly reports to the office (`plansync units`): status, chase list,
submit, return, accept, and the office's report drafted from them (node.units.service)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, Fmt, Out, acting, emit_table, tx

units_app = typer.Typer(help="成员单位年度报告 Member units' yearly reports: status, chase "
                        "list, submit, return, accept, draft.", no_args_is_help=True)

COLUMNS = [("unit", "成员单位"), ("status_zh", "状态"), ("due_on", "截止日期"),
           ("overdue_days", "超期天数"), ("submitted_by", "提交人"),
           ("submitted_at", "提交时间(北京时间)"), ("return_reason", "退回理由")]
Unit = typer.Option(..., "--unit", help="the member unit (成员单位), e.g. 卫健委")


def _rows(items: list[Any], zone: Any) -> list[dict[str, Any]]:
    from node.units.service import STATUS_WORDS

    out = []
    for s in items:
        d = s.as_dict()
        d["status_zh"] = STATUS_WORDS[s.status]
        d["submitted_at"] = (s.submitted_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                             if s.submitted_at else None)
        out.append(d)
    return out


def _list(kind: str, year: int, as_: str | None, data_dir: Path | None, chase: bool
          ) -> tuple[list[Any], Any]:
    from node.units import service

    async def go(s: Any, rt: Any) -> tuple[list[Any], Any]:
        user = await acting(s, as_, "read")
        today = rt.clock().astimezone(rt.cfg.zone).date()
        fn = service.chase_list if chase else service.statuses
        return await fn(session=s, code=rt.cfg.code, kind=kind, year=year, user=user,
                        today=today, lead_days=rt.settings.unit_report_lead_days), rt.cfg.zone

    return tx(data_dir, go)


@units_app.command("status")
def units_status(kind: str, year: int, as_: str = Actor, fmt: str = Fmt, out: Path = Out,
                 data_dir: Path = DataDir) -> None:
    """Each member unit's report for the year: 未提交 / 已提交 / 退回 / 已采纳, days overdue."""
    items, zone = _list(kind, year, as_, data_dir, chase=False)
    rows = _rows(items, zone)
    emit_table(fmt, out, rows, [("成员单位报告", rows, COLUMNS)])


@units_app.command("chase")
def units_chase(kind: str, year: int, as_: str = Actor, fmt: str = Fmt, out: Path = Out,
                data_dir: Path = DataDir) -> None:
    """催报: the member units that are late (no report past the due date, or returned and
    not resubmitted), most overdue first."""
    items, zone = _list(kind, year, as_, data_dir, chase=True)
    if not items and fmt == "table":
        typer.echo("没有超期的成员单位 no member unit is late")
        return
    rows = _rows(items, zone)
    emit_table(fmt, out, rows, [("催报", rows, COLUMNS)])


@units_app.command("submit")
def units_submit(kind: str, year: int, unit: str = Unit,
                 implementation: str = typer.Option(..., help="落实情况"),
                 next_year: str = typer.Option(..., "--next-year", help="下一年工作安排"),
                 as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Submit a unit's yearly report (a member-unit user: its own unit only)."""
    from node.units import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "reports.enter")
        return await service.submit(session=s, code=rt.cfg.code, kind=kind, year=year,
                                    unit=unit, implementation=implementation,
                                    next_year=next_year, user=user, now=rt.clock(),
                                    zone=rt.cfg.zone,
                                    lead_days=rt.settings.unit_report_lead_days)

    st = tx(data_dir, go)
    late = f"，逾期 {st.overdue_days} 天 {st.overdue_days} days late" if st.overdue_days else ""
    typer.echo(f"已提交 submitted {st.unit} {year}（截止 due {st.due_on}{late}）")


def _decide(kind: str, year: int, unit: str, outcome: str, reason: str | None,
            as_: str | None, data_dir: Path | None) -> Any:
    from node.units import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "filings.review")
        return await service.decide(session=s, code=rt.cfg.code, kind=kind, year=year,
                                    unit=unit, outcome=outcome, reason=reason, user=user,
                                    today=rt.clock().astimezone(rt.cfg.zone).date(),
                                    lead_days=rt.settings.unit_report_lead_days)

    return tx(data_dir, go)


@units_app.command("return")
def units_return(kind: str, year: int, unit: str = Unit,
                 reason: str = typer.Option(..., help="退回理由"), as_: str = Actor,
                 data_dir: Path = DataDir) -> None:
    """Return a unit's submitted report with the reason (it resubmits)."""
    st = _decide(kind, year, unit, "returned", reason, as_, data_dir)
    typer.echo(f"已退回 returned {st.unit} {year}: {reason}")


@units_app.command("accept")
def units_accept(kind: str, year: int, unit: str = Unit, as_: str = Actor,
                 data_dir: Path = DataDir) -> None:
    """Accept a unit's submitted report (采纳)."""
    st = _decide(kind, year, unit, "accepted", None, as_, data_dir)
    typer.echo(f"已采纳 accepted {st.unit} {year}")


@units_app.command("draft")
def units_draft(kind: str, year: int, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Start the office's annual report from the accepted units' reports (areas the office
    wrote already are left alone)."""
    from node.units import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.edit")
        return await service.draft_office_report(session=s, code=rt.cfg.code, kind=kind,
                                                 year=year, user=user)

    r = tx(data_dir, go)
    nxt = "填入 filled" if r["next_year"] == "filled" else "保留 kept"
    typer.echo(f"已起草 drafted {r['report_id']} from {len(r['units'])} units: "
               f"填入 filled {'、'.join(r['filled']) or '-'}; "
               f"已有内容未覆盖 kept {'、'.join(r['skipped']) or '-'}; "
               f"下一年工作安排 next year {nxt}"
               + (f"; 未归入领域 unplaced {'、'.join(r['unplaced'])}" if r["unplaced"] else ""))
