"""The mid-term (2025) or final (2030) evaluation report as a Word document (.docx), built
with the generic builder of node.reports.document: the conclusion, every indicator with its
proposed and chosen category (and why), the categories counted (a chart), the member units'
self-evaluations and, at a city or province, its children's evaluations counted."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from node.evaluations import service
from node.plans.document import KIND_NAMES
from node.reports.document import Doc, Heading, Image, Para, Table, bar_chart, build_docx

STAGE_WORDS = {2025: "中期评估", 2030: "终期评估"}
STATUS_WORDS = {"draft": "填报中", "filed": "已报送", "returned": "已退回"}


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:,.4g}"


async def evaluation_report(*, session: AsyncSession, code: str, name: str, kind: str,
                            stage: int, now: datetime) -> tuple[str, bytes]:
    """(file name, .docx bytes); ``now`` in the office's time zone (Beijing time)."""
    v = await service.view(session=session, code=code, kind=kind, stage=stage)
    kids = await service.aggregate(session=session, code=code, kind=kind, stage=stage)
    words = service.LABELS
    cats = v["categories"]
    title = f"{name}{KIND_NAMES.get(kind, kind)}{STAGE_WORDS[stage]}报告"
    d = Doc(title=title, subtitle=[f"{name}妇女儿童工作委员会办公室",
                                   f"{now:%Y年%m月%d日}（北京时间 {now:%H:%M} 生成）"])
    b = d.blocks
    b.append(Heading("一、评估结论"))
    counts = "，".join(f"{words[c]} {v['counts'][c]} 项" for c in cats)
    b.append(Para(f"本级{KIND_NAMES.get(kind, kind)}共设指标 {len(v['items'])} 项，"
                  f"评估状态为“{STATUS_WORDS.get(v['status'], v['status'])}”，报送截止日期 "
                  f"{v['due_on']}。评估结果：{counts}。"))
    if v["summary"].strip():
        b.append(Para(v["summary"]))
    b.append(Heading("二、指标达标情况"))
    b.append(Table(["指标编码", "指标名称", "目标", "最新值（年份）", "建议类别", "评估类别",
                    "调整理由"],
                   [[i["code"], i["name"], f"{i['comparator']} {i['target']:g}{i['unit']}",
                     f"{_num(i['value'])}（{i['year']}）" if i["year"] else "—",
                     words[i["proposed"]], words[i["category"]], i["reason"] or ""]
                    for i in v["items"]], caption=f"表1  各指标{STAGE_WORDS[stage]}类别"))
    b.append(Image(bar_chart([words[c] for c in cats], [float(v["counts"][c]) for c in cats],
                             title="评估类别分布", ylabel="指标数"),
                   caption="图1  评估类别分布"))
    b.append(Heading("三、成员单位自评"))
    if v["units"]:
        b.append(Table(["成员单位", "负责指标数", "已自评", "状态"],
                       [[u["unit"], u["indicators"], u["submitted"],
                         "已完成" if u["done"] else "未完成"] for u in v["units"]],
                       caption="表2  成员单位自评进度"))
        selfs = [[i["code"], s["unit"], words.get(s["category"], s["category"]), s["text"]]
                 for i in v["items"] for s in i["self"]]
        if selfs:
            b.append(Table(["指标编码", "成员单位", "自评类别", "自评说明"], selfs,
                           caption="表3  成员单位自评"))
    else:
        b.append(Para("本级规划未指定牵头或责任单位。"))
    if kids["children"]:  # a city or province (the real tree's children)
        b.append(Heading("四、下级评估汇总"))
        b.append(Para(f"所辖 {len(kids['children'])} 个下级单位中已报送 {len(kids['filed'])} "
                      f"个；未报送：{'、'.join(kids['missing']) or '无'}。"))
        b.append(Table(["指标编码", "指标名称", *[words[c] for c in cats]],
                       [[r["code"], r["name"], *[r["counts"][c] for c in cats]]
                        for r in kids["indicators"]], caption="表4  下级评估类别统计"))
    return await asyncio.to_thread(lambda: (f"{title}.docx", build_docx(d)))
