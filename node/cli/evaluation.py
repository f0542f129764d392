"""Mid-term (2025) and final (2030) evaluations (`plansync evaluation`): the office's table
with proposed categories, overrides with a reason, member units' self-evaluations, filing
upward, and the parent's view of its children's evaluations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, Fmt, Out, acting, emit_table, out_path, tx

evaluation_app = typer.Typer(help="Mid-term (2025) and final (2030) evaluations "
                                  "(中期/终期评估): evaluate, self-evaluate, file, review.",
                             no_args_is_help=True)

LABELS = {"ahead": "提前达标", "on_track": "预计可达标", "at_risk": "达标困难", "met": "已达标",
          "missed": "未达标", "no_data": "无数据"}
ITEM_COLUMNS = [("code", "指标编码"), ("name", "指标名称"), ("value", "最新值"), ("year", "年份"),
                ("proposed_label", "建议类别"), ("category_label", "评估类别"),
                ("reason", "调整理由"), ("self_units", "已自评单位")]
RECEIVED_COLUMNS = [("filer", "报送单位"), ("kind_label", "规划"), ("stage", "阶段"),
                    ("due_on", "截止日期"), ("received_at", "收到时间"), ("late_days", "迟报天数"),
                    ("outcome_label", "结果"), ("reasons", "退回理由"), ("id", "编号")]
AGG_COLUMNS = [("code", "指标编码"), ("name", "指标名称")] + [
    (c, LABELS[c]) for c in ("ahead", "on_track", "at_risk", "met", "missed", "no_data")]
OUTCOMES = {"accepted": "已接收", "returned": "已退回", "relayed": "转报"}
KINDS = {"women": "妇女", "children": "儿童"}


@evaluation_app.command("show")
def evaluation_show(kind: str, stage: int, fmt: str = Fmt, out: Path = Out,
                    data_dir: Path = DataDir) -> None:
    """This office's evaluation table: each indicator's value, the category proposed from
    the data and the office's category (with the reason), and who has self-evaluated."""
    from node.evaluations import service

    v = tx(data_dir, lambda s, rt: service.view(session=s, code=rt.cfg.code, kind=kind,
                                                stage=stage))
    rows = [{**i, "proposed_label": LABELS[i["proposed"]],
             "category_label": LABELS[i["category"]],
             "self_units": "、".join(x["unit"] for x in i["self"])} for i in v["items"]]
    units = [{**u, "done_label": "已完成" if u["done"] else "未完成"} for u in v["units"]]
    if fmt == "table" and out is None:
        typer.echo(f"{v['id']} 状态 status: {v['status']}  截止 due: {v['due_on']}")
    emit_table(fmt, out, v, [("评估", rows, ITEM_COLUMNS),
                             ("成员单位自评", units, [("unit", "成员单位"),
                                                 ("indicators", "负责指标数"),
                                                 ("submitted", "已自评"),
                                                 ("done_label", "状态")])])


@evaluation_app.command("set")
def evaluation_set(kind: str, stage: int, indicator: str,
                   category: str = typer.Option(None, help="ahead | on_track | at_risk | met "
                                                "| missed | no_data; leave out to go back to "
                                                "the proposed category"),
                   reason: str = typer.Option(None, help="why (required with --category)"),
                   as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Set an indicator's category instead of the proposed one, with a reason."""
    from node.evaluations import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.edit")
        return await service.override(session=s, code=rt.cfg.code, kind=kind, stage=stage,
                                      indicator=indicator, category=category, reason=reason,
                                      actor=user.name)

    item = tx(data_dir, go)
    typer.echo(f"已设置 set {indicator}: {LABELS[item['category']]} {item['category']}"
               f" (建议 proposed: {LABELS[item['proposed']]})")


@evaluation_app.command("self")
def evaluation_self(kind: str, stage: int, indicator: str,
                    category: str = typer.Option(..., help="the unit's own category"),
                    text: str = typer.Option("", help="自评说明"),
                    unit: str = typer.Option(None, help="the member unit (a member-unit "
                                             "user: its own)"),
                    as_: str = Actor, data_dir: Path = DataDir) -> None:
    """A member unit's self-evaluation (自评) of an indicator it leads or is responsible for."""
    from node.evaluations import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "reports.enter")
        return await service.self_evaluate(
            session=s, code=rt.cfg.code, kind=kind, stage=stage, user=user, unit=unit,
            items=[{"code": indicator, "category": category, "text": text}])

    tx(data_dir, go)
    typer.echo(f"已提交自评 self-evaluation saved: {indicator} {LABELS.get(category, category)}")


@evaluation_app.command("summary")
def evaluation_summary(kind: str, stage: int, text: str = typer.Option(...),
                       as_: str = Actor, data_dir: Path = DataDir) -> None:
    """The text of the evaluation report."""
    from node.evaluations import service

    async def go(s: Any, rt: Any) -> None:
        user = await acting(s, as_, "plans.edit")
        await service.set_summary(session=s, code=rt.cfg.code, kind=kind, stage=stage,
                                  text=text, actor=user.name)

    tx(data_dir, go)
    typer.echo("已保存 saved")


@evaluation_app.command("file")
def evaluation_file(kind: str, stage: int, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """File the evaluation report with the parent office (signed, through the outbox)."""
    from node.evaluations import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "plans.approve")
        return await service.file_evaluation(session=s, rt=rt, kind=kind, stage=stage,
                                             actor=user.name)

    ev = tx(data_dir, go)
    typer.echo(f"已报送 filed {ev.id}")


@evaluation_app.command("received")
def evaluation_received(fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Evaluations received from the children (and relayed from further down)."""
    from node.evaluations import service

    got = tx(data_dir, lambda s, rt: service.received(session=s))
    rows = [{**r, "kind_label": KINDS.get(r["kind"], r["kind"]),
             "outcome_label": OUTCOMES.get(r["outcome"], r["outcome"])} for r in got]
    emit_table(fmt, out, got, [("收到的评估", rows, RECEIVED_COLUMNS)])


@evaluation_app.command("return")
def evaluation_return(filing_id: str, reasons: str = typer.Option(...), as_: str = Actor,
                      data_dir: Path = DataDir) -> None:
    """Return a child's evaluation for correction, with reasons."""
    from node.evaluations import service

    async def go(s: Any, rt: Any) -> Any:
        user = await acting(s, as_, "filings.review")
        return await service.return_evaluation(session=s, rt=rt, filing_id=filing_id,
                                               reasons=reasons, actor=user.name)

    tx(data_dir, go)
    typer.echo(f"已退回 returned {filing_id}")


@evaluation_app.command("children")
def evaluation_children(kind: str, stage: int, under: str = typer.Option(
        None, help="count the children of this node of the subtree instead"),
        fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Per indicator, how many children put it in each category; who has not filed."""
    from node.evaluations import service

    agg = tx(data_dir, lambda s, rt: service.aggregate(session=s, code=rt.cfg.code, kind=kind,
                                                       stage=stage, under=under))
    rows = [{"code": r["code"], "name": r["name"], **r["counts"]} for r in agg["indicators"]]
    if fmt == "table" and out is None:
        typer.echo(f"已报送 filed: {'、'.join(agg['filed']) or '-'}  "
                   f"未报送 missing: {'、'.join(agg['missing']) or '-'}")
    emit_table(fmt, out, agg, [("下级评估汇总", rows, AGG_COLUMNS)])


@evaluation_app.command("document")
def evaluation_document(kind: str, stage: int,
                        out: Path = typer.Option(..., "--out", help="file.docx",
                                                 callback=out_path),
                        data_dir: Path = DataDir) -> None:
    """The evaluation report as a Word document (.docx), ready to print."""
    from datetime import datetime

    from node.evaluations.document import evaluation_report

    def go(s: Any, rt: Any) -> Any:
        return evaluation_report(session=s, code=rt.cfg.code, name=rt.cfg.name, kind=kind,
                                 stage=stage, now=datetime.now(rt.cfg.zone))

    _, data = tx(data_dir, go)
    out.write_bytes(data)
    typer.echo(f"已导出 written {out}")


@evaluation_app.command("audit")
def evaluation_audit(subtree: str = typer.Option(None, help="audit only this node's subtree"),
                     fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Who filed their evaluation report, when, and whether on time — for the subtree."""
    from datetime import datetime

    from node.evaluations import service
    from node.reports import exports

    async def go(s: Any, rt: Any) -> Any:
        try:
            return await service.audit(session=s, self_code=rt.cfg.code, subtree=subtree,
                                       today=datetime.now(rt.cfg.zone).date())
        except KeyError:
            from node.errors import NotFound

            raise NotFound(f"{subtree} is not in this office's subtree") from None

    rep = tx(data_dir, go)
    emit_table(fmt, out, rep, [("评估报送", rep["rows"], exports.AUDIT_COLUMNS)])
