"""The monitoring report as a Word document (.docx), ready to print: A4, margins, heading
styles, page numbers, Chinese text, tables and charts (matplotlib, PNG in memory).

Two layers:

- a generic builder (``Doc`` of ``Heading``/``Para``/``Table``/``Image`` blocks →
  ``build_docx``), which the mid-term and final evaluation documents reuse with blocks of their
  own;
- the annual monitoring report (``monitoring_report``): the indicator table of this office's
  report of a year, the status buckets (``node.oversight.service.bucket``, the same rule as the
  oversight indicators endpoint), the early warnings with their reasons
  (``node.reports.warnings.warnings_for``) and, at a city or province, the aggregate of its
  children (``node.reports.service.figures``) and their buckets.

Nothing here decides a status or a warning: it calls the functions that do.
"""

from __future__ import annotations

import asyncio
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from node.models import KnownNode
from node.oversight.service import BUCKETS, bucket
from node.plans.document import Indicator
from node.reports import service
from node.reports.warnings import warnings_for

log = logging.getLogger("plansync.reports.document")

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
KIND_WORDS = {"women": "妇女", "children": "儿童"}
BUCKET_WORDS = {"already_met": "提前达标", "on_track": "预计可达标", "at_risk": "达标困难",
                "off_target": "未达标", "no_data": "无数据"}
WARNING_WORDS = {"off_target": "未达目标", "projected_miss": "预计2030年难以达标",
                 "volatile": "波动较大"}
LEVEL_WORDS = {"national": "国家级", "province": "省级", "city": "市级", "county": "县级"}
STATUS_WORDS = {"draft": "草稿", "compiled": "已汇总", "filed": "已报送", "returned": "被退回"}
COMPARATOR_WORDS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": "="}
# CJK fonts, best first; any other font whose name says CJK comes after these
CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "SimSun")
BODY_FONT = "宋体"  # what Word uses for the East Asian text of the body (SimSun)
HEADING_FONT = "黑体"  # and of headings (SimHei)


# ---- the generic document ---------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1


@dataclass(frozen=True)
class Para:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    png: bytes
    caption: str = ""
    width_cm: float = 15.0


Block = Heading | Para | Table | Image


@dataclass
class Doc:
    """A document: its title, the lines under it (office, date) and its blocks in order."""

    title: str
    subtitle: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


def _east_asian(run_or_style: Any, font: str) -> None:
    """Set the East Asian font of a run or a style (Word keeps it apart from the Latin one)."""
    from docx.oxml.ns import qn

    rpr = run_or_style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        from docx.oxml import OxmlElement

        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), font)


def _page_number(paragraph: Any) -> None:
    """第 N 页 / 共 M 页 with Word fields, centred in the footer."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def text(t: str) -> None:
        paragraph.add_run(t)

    def fld(instr: str) -> None:
        el = OxmlElement("w:fldSimple")
        el.set(qn("w:instr"), instr)
        r = OxmlElement("w:r")
        t = OxmlElement("w:t")
        t.text = "1"
        r.append(t)
        el.append(r)
        paragraph._p.append(el)

    text("第 ")
    fld("PAGE")
    text(" 页 / 共 ")
    fld("NUMPAGES")
    text(" 页")


def build_docx(doc: Doc) -> bytes:
    """Render ``doc`` as a .docx: A4, 2.5/2.8 cm margins, heading styles with Chinese fonts,
    page numbers in the footer, tables with a header row, images with captions."""
    import docx
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Mm, Pt

    d = docx.Document()
    sec = d.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin = sec.bottom_margin = Cm(2.5)
    sec.left_margin = sec.right_margin = Cm(2.8)
    normal = d.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(12)
    _east_asian(normal, BODY_FONT)
    for name, size in (("Title", 22), ("Heading 1", 16), ("Heading 2", 14)):
        st = d.styles[name]
        st.font.size = Pt(size)
        _east_asian(st, HEADING_FONT)
    _page_number(sec.footer.paragraphs[0])

    title = d.add_heading(doc.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for line in doc.subtitle:
        p = d.add_paragraph(line)
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for b in doc.blocks:
        if isinstance(b, Heading):
            d.add_heading(b.text, level=b.level)
        elif isinstance(b, Para):
            p = d.add_paragraph()
            p.paragraph_format.first_line_indent = Pt(24)  # two characters
            run = p.add_run(b.text)
            run.bold = b.bold
        elif isinstance(b, Table):
            if b.caption:
                cap = d.add_paragraph(b.caption)
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
            t = d.add_table(rows=1, cols=len(b.headers))
            t.style = "Table Grid"
            t.alignment = WD_TABLE_ALIGNMENT.CENTER
            for cell, h in zip(t.rows[0].cells, b.headers, strict=True):
                cell.text = ""
                cell.paragraphs[0].add_run(str(h)).bold = True
            for row in b.rows:
                cells = t.add_row().cells
                for cell, v in zip(cells, row, strict=True):
                    cell.text = cell_text(v)
            sec = d.sections[-1]
            usable = ((sec.page_width or Cm(21)) - (sec.left_margin or 0)
                      - (sec.right_margin or 0)) / 360000  # EMU → cm
            t.autofit = False
            widths = column_widths(b, usable)
            for col, w in zip(t.columns, widths, strict=True):
                col.width = Cm(w)  # the grid (LibreOffice reads this) …
            for row_cells in t.rows:
                for cell, w in zip(row_cells.cells, widths, strict=True):
                    cell.width = Cm(w)  # … and each cell (Word reads this)
            d.add_paragraph()
        else:
            d.add_picture(io.BytesIO(b.png), width=Cm(b.width_cm))
            d.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
            if b.caption:
                cap = d.add_paragraph(b.caption)
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _shown_len(text: str) -> float:
    """Printed width in half-width characters (a Chinese character takes two, a capital
    letter one and a half)."""
    return sum(2 if ord(ch) >= 0x2E80 else 1.5 if ch.isupper() else 1 for ch in text)


def column_widths(table: Table, total_cm: float) -> list[float]:
    """Column widths (cm) in proportion to each column's longest text, so that codes stay on
    one line and long reasons get the room; a column's share counts at least 4 and at most 30
    half-width characters, plus 3 for the cell's padding."""
    weights: list[float] = []
    for i, header in enumerate(table.headers):
        longest = max([_shown_len(str(header))]
                      + [_shown_len(cell_text(r[i])) for r in table.rows])
        weights.append(min(max(longest, 4), 30) + 3)  # + the cell's own padding
    total = sum(weights)
    return [total_cm * w / total for w in weights]


def cell_text(v: Any) -> str:
    """A table cell: numbers without trailing zeros, nothing as "—"."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


# ---- charts -----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed CJK font matplotlib can use (None, with a logged warning, if
    there is none: the charts then show boxes for Chinese text)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for n in CJK_FONTS:
        if n in names:
            return n
    other = sorted(n for n in names if "CJK" in n or "Hei" in n or "Song" in n)
    if other:
        return other[0]
    log.warning("no CJK font found for the report's charts (install fonts-noto-cjk); "
                "their Chinese labels will not render")
    return None


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    font = cjk_font()
    fig = Figure(figsize=(7.5, 3.6), dpi=150, layout="constrained")
    return fig, font


def _png(fig: Any, font: str | None) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        if font is None:  # boxes for missing glyphs: said once in the log, not per glyph
            warnings.simplefilter("ignore")
        fig.savefig(out, format="png")
    return out.getvalue()


def _fontkw(font: str | None) -> dict[str, Any]:
    return {"fontfamily": font} if font else {}


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str,
              ylabel: str = "") -> bytes:
    fig, font = _figure()
    ax = fig.subplots()
    bars = ax.bar(range(len(values)), values, color="#c0504d")
    ax.set_xticks(range(len(labels)), list(labels), **_fontkw(font))
    ax.set_title(title, **_fontkw(font))
    if ylabel:
        ax.set_ylabel(ylabel, **_fontkw(font))
    for b, v in zip(bars, values, strict=True):
        ax.annotate(f"{v:g}", (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig, font)


def line_chart(series: Sequence[tuple[int, float]], *, title: str, target: float | None,
               target_label: str = "目标值", unit: str = "") -> bytes:
    fig, font = _figure()
    ax = fig.subplots()
    years = [y for y, _ in series]
    ax.plot(years, [v for _, v in series], marker="o", color="#1f4e79", label="监测值")
    if target is not None:
        ax.axhline(target, color="#c0504d", linestyle="--", label=target_label)
    ax.set_xticks(years, [str(y) for y in years])
    ax.set_title(title, **_fontkw(font))
    if unit:
        ax.set_ylabel(unit, **_fontkw(font))
    ax.legend(prop={"family": font} if font else None)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig, font)


# ---- the annual monitoring report ---------------------------------------------------------------

def target_words(ind: Indicator) -> str:
    return f"{COMPARATOR_WORDS.get(ind.comparator, ind.comparator)}{float(ind.target):g}"


@dataclass
class Monitoring:
    """What the annual monitoring report says, gathered from the domain's functions (also
    what the tests compare the document with)."""

    office: str
    level: str
    kind: str
    year: int
    status: str
    rows: list[dict[str, Any]]  # the indicator table
    counts: dict[str, int]  # indicators per bucket
    warnings: list[dict[str, Any]]
    figures: list[dict[str, Any]]  # the aggregate of the children (city/province)
    children: list[dict[str, Any]]  # each child's bucket counts
    series: dict[str, list[tuple[int, float]]]


async def monitoring(*, session: AsyncSession, code: str, name: str, kind: str, year: int,
                     volatility: float) -> Monitoring:
    """This office's report of ``year`` with buckets and warnings judged on its series up to
    that year (for the latest year: exactly what the oversight indicators endpoint shows)."""
    rep = await service.get_report(session, code, kind, year)  # NotFound without one
    doc = await service.require_doc(session, code, kind)
    own = {c: sorted(p for p in pts if p[0] <= year)
           for c, pts in (await service.own_series(session, code, kind)).items()}
    body = await service.report_body(session, rep)
    entered = {v["code"]: v for v in body["values"]}
    rows, counts, warns = [], dict.fromkeys(BUCKETS, 0), []
    for ind in doc.indicators:
        pts = own.get(ind.code, [])
        b = bucket(ind, pts)
        counts[b] += 1
        value = next((v for y, v in pts if y == year), None)
        e = entered.get(ind.code, {})
        rows.append({"code": ind.code, "name": ind.name, "unit": ind.unit,
                     "target": target_words(ind), "value": value,
                     "numerator": e.get("numerator"), "denominator": e.get("denominator"),
                     "bucket": b, "status": BUCKET_WORDS[b]})
        for w in warnings_for(ind, pts, volatility=volatility):
            warns.append({**w.as_dict(), "unit": ind.unit})
    figs: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    if await service.children_of(session, code):
        figs = [f.as_dict() for f in await service.figures(session=session, code=code,
                                                           kind=kind, year=year)]
        names = {n.code: n.name for n in (await session.scalars(select(KnownNode))).all()}
        sub = await service.subtree_series(session, code, kind)
        kids = set(await service.children_of(session, code))
        for c in sorted(kids):
            s = {k: [p for p in v if p[0] <= year] for k, v in sub.get(c, {}).items()}
            cc = dict.fromkeys(BUCKETS, 0)
            for ind in doc.indicators:
                cc[bucket(ind, s.get(ind.code, []))] += 1
            children.append({"code": c, "name": names.get(c) or _division_name(c),
                             "reported": c in sub, "counts": cc})
    me = await session.get(KnownNode, code)
    return Monitoring(office=name, level=me.level if me else "", kind=kind, year=year,
                      status=rep.status, rows=rows, counts=counts, warnings=warns,
                      figures=figs, children=children, series=own)


def _division_name(code: str) -> str:
    from node.divisions import division

    d = division(code)
    return d.name if d is not None else code


def monitoring_doc(m: Monitoring, *, generated: datetime) -> Doc:
    """The blocks of the annual monitoring report."""
    k = KIND_WORDS.get(m.kind, m.kind)
    total = len(m.rows)
    with_data = total - m.counts["no_data"]
    d = Doc(title=f"{m.office}{m.year}年{k}发展规划监测报告",
            subtitle=[f"{m.office}妇女儿童工作委员会办公室",
                      f"{generated:%Y年%m月%d日}（北京时间 {generated:%H:%M} 生成）"])
    b = d.blocks
    b.append(Heading("一、总体情况"))
    b.append(Para(
        f"{m.office}{k}发展规划共设监测指标 {total} 项，{m.year} 年度报告状态为"
        f"“{STATUS_WORDS.get(m.status, m.status)}”，其中有监测数据的 {with_data} 项。"
        f"按截至 {m.year} 年的监测数据判断：提前达标 {m.counts['already_met']} 项，"
        f"预计可达标 {m.counts['on_track']} 项，达标困难 {m.counts['at_risk']} 项，"
        f"未达标 {m.counts['off_target']} 项，无数据 {m.counts['no_data']} 项；"
        f"共有预警 {len(m.warnings)} 条。"))
    b.append(Heading("二、指标监测情况"))
    b.append(Table(["指标编码", "指标名称", "单位", "目标值", f"{m.year}年监测值", "状态"],
                   [[r["code"], r["name"], r["unit"] or "—", r["target"], r["value"],
                     r["status"]] for r in m.rows],
                   caption=f"表1  {m.year}年{k}发展规划监测指标"))
    b.append(Heading("三、达标状态分布"))
    b.append(Table(["状态", "指标数"], [[BUCKET_WORDS[x], m.counts[x]] for x in BUCKETS],
                   caption="表2  指标达标状态分布"))
    b.append(Image(bar_chart([BUCKET_WORDS[x] for x in BUCKETS],
                             [float(m.counts[x]) for x in BUCKETS],
                             title="指标达标状态分布", ylabel="指标数"),
                   caption="图1  指标达标状态分布"))
    b.append(Heading("四、预警指标"))
    if m.warnings:
        b.append(Table(["指标编码", "指标名称", "预警类型", "最新年份", "最新值", "原因"],
                       [[w["code"], w["name"], WARNING_WORDS.get(w["kind"], w["kind"]),
                         w["latest_year"], w["latest_value"], w["detail"]]
                        for w in m.warnings],
                       caption="表3  预警指标及原因"))
    else:
        b.append(Para("本年度无预警指标。"))
    charted = _charted(m)
    if charted:
        b.append(Heading("五、重点指标年度变化"))
        names = {r["code"]: r for r in m.rows}
        for i, (code, pts) in enumerate(charted, start=2):
            r = names[code]
            ind_target = _target_value(r["target"])
            b.append(Image(line_chart(pts, title=f"{r['name']}（{code}）", target=ind_target,
                                      target_label=f"目标值 {r['target']}", unit=r["unit"]),
                           caption=f"图{i}  {r['name']}年度变化"))
    if m.figures:
        n = "六" if charted else "五"
        b.append(Heading(f"{n}、下级汇总情况"))
        b.append(Para(f"以下为本级所辖 {len(m.children)} 个下级单位 {m.year} 年度报告的汇总"
                      "（按各指标的汇总方式计算，覆盖为已报单位数/应报单位数）。"))
        b.append(Table(["指标编码", "指标名称", "单位", "汇总值", "覆盖(已报/应报)"],
                       [[f["code"], f["name"], f["unit"] or "—", f["value"], f["coverage"]]
                        for f in m.figures], caption=f"表4  {m.year}年下级汇总"))
        b.append(Table(["单位代码", "单位名称", *[BUCKET_WORDS[x] for x in BUCKETS]],
                       [[c["code"], c["name"], *[c["counts"][x] for x in BUCKETS]]
                        for c in m.children], caption="表5  各下级单位指标达标状态"))
    return d


def _target_value(words: str) -> float | None:
    try:
        return float(words.lstrip("≥≤<>="))
    except ValueError:
        return None


def _charted(m: Monitoring, most: int = 4) -> list[tuple[str, list[tuple[int, float]]]]:
    """A few indicators' yearly series: those with warnings first, then the longest."""
    warned = {w["code"] for w in m.warnings}
    cands = [(c, pts) for c, pts in m.series.items() if len(pts) >= 2]
    cands.sort(key=lambda x: (x[0] not in warned, -len(x[1]), x[0]))
    return cands[:most]


async def monitoring_report(*, session: AsyncSession, code: str, name: str, kind: str,
                            year: int, volatility: float, now: datetime
                            ) -> tuple[str, bytes]:
    """(file name, .docx bytes) of this office's annual monitoring report; ``now`` in the
    office's time zone (Beijing time)."""
    m = await monitoring(session=session, code=code, name=name, kind=kind, year=year,
                         volatility=volatility)
    def render() -> tuple[str, bytes]:  # charts and the file: CPU work, off the event loop
        d = monitoring_doc(m, generated=now)
        return f"{d.title}.docx", build_docx(d)

    return await asyncio.to_thread(render)
