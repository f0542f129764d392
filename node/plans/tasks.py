"""A plan's task decomposition table (任务分解表, seed 001's 附件 1 and 2): rows of 序号, 规划内容,
牵头单位, 责任单位, grouped by section (an area such as 妇女与健康, or a part such as 组织与实施 or
监测与评估), optionally linked to indicator codes — and who may enter which indicator's values.

The XLSX layout is the seed's: a title row, the header row 序号 | 规划内容 | 牵头单位 | 责任单位
(a fifth column 关联指标 only when some row links indicators), then the rows. A row whose
规划内容 *is* its section (the seed's own tables: 组织与实施, 妇女与健康 …) stands alone; a section
with other rows is introduced by a section row (only its first cell filled, merged across).
A repeated header row (the seed repeats it after a page break) is skipped. Anything else that
is wrong stops the import with a message naming the row; nothing is imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from io import BytesIO
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.errors import BadRequest, NotFound
from node.models import Plan, TaskRow
from node.plans.document import PlanDocument, parse_document

HEADER = ["序号", "规划内容", "牵头单位", "责任单位"]
LINKS = "关联指标"
ROWS_MAX = 500
SECTION_MAX = UNIT_MAX = 100
NUMBER_MAX = 20
CONTENT_MAX = 2000
SPLIT = re.compile(r"[、,，;；]")
OTHER_KIND = {"women": "儿童", "children": "妇女"}
# one leading administrative level in a unit's name (市卫健委 = 卫健委 = 区卫健委)
LEVEL_PREFIX = re.compile(r"^(自治区|省|市|州|盟|区|县|旗)(?=..)")
ALL_MEMBERS = "各成员单位"  # 市妇儿工委各成员单位: every member unit
OFFICE = "妇儿工委"  # the office itself (市妇儿工委办公室), never a member unit


# ---- what the API takes and returns ---------------------------------------------------------

class TaskRowIn(BaseModel):
    """One row of the task decomposition table."""

    section: str = Field(min_length=1, max_length=SECTION_MAX,
                         description="分组: an area (妇女与健康) or a part (组织与实施)")
    number: str = Field(default="", max_length=NUMBER_MAX, description="序号")
    content: str = Field(min_length=1, max_length=CONTENT_MAX, description="规划内容")
    lead_unit: str = Field(min_length=1, max_length=UNIT_MAX, description="牵头单位")
    responsible_units: list[str] = Field(default_factory=list, max_length=100,
                                         description="责任单位")
    indicators: list[str] = Field(default_factory=list, max_length=200,
                                  description="关联指标: indicator codes of the plan")


class TaskTableIn(BaseModel):
    rows: list[TaskRowIn] = Field(max_length=ROWS_MAX)


class TaskRowRead(TaskRowIn):
    pass


class Enterable(BaseModel):
    """What the signed-in user may enter in the plan's annual reports."""

    indicators: list[str] = Field(description="indicator codes")
    areas: list[str] = Field(description="areas whose narrative it may write")


class TaskTableRead(BaseModel):
    plan_id: str
    title: str
    rows: list[TaskRowRead]


# ---- unit names -----------------------------------------------------------------------------

def unit_key(name: str) -> str:
    """A unit's name compared across spellings: spaces and one leading level removed
    (市卫健委, 区卫健委 and 卫健委 are one unit of the office)."""
    s = re.sub(r"\s+", "", name)
    return LEVEL_PREFIX.sub("", s)


def is_member_unit_name(name: str) -> bool:
    """A real member unit, not the office itself nor 各成员单位 (all of them)."""
    return bool(name.strip()) and OFFICE not in name and ALL_MEMBERS not in name


def names_unit(names: Iterable[str], unit: str) -> bool:
    """Whether ``names`` (a row's lead and responsible units) include ``unit``."""
    key = unit_key(unit)
    return any(ALL_MEMBERS in n or unit_key(n) == key for n in names)


# ---- the table ------------------------------------------------------------------------------

def _clean_units(units: Sequence[str]) -> list[str]:
    out: list[str] = []
    for u in units:
        for part in SPLIT.split(u):
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    return out


def _check(rows: Sequence[TaskRowIn], doc: PlanDocument | None, kind: str) -> list[TaskRowIn]:
    codes = set(doc.by_code()) if doc is not None else set()
    other = OTHER_KIND.get(kind, "")
    out = []
    for n, r in enumerate(rows, start=1):
        where = f"第{n}行 row {n}"
        units = _clean_units(r.responsible_units)
        if any(len(u) > UNIT_MAX for u in units):
            raise BadRequest(f"{where}: 责任单位名称过长 a responsible unit has more than "
                             f"{UNIT_MAX} characters; nothing was saved")
        if "\x00" in r.section + r.number + r.content + r.lead_unit + "".join(units):
            raise BadRequest(f"{where}: 含有空字符 contains a NUL character; nothing was saved")
        if other and (r.section.startswith(other) or r.content.startswith(other)):
            raise BadRequest(f"{where}: 规划类别不符 {r.section or r.content} belongs to the "
                             f"{other} plan, not this one; nothing was saved",
                             code="wrong_plan_kind")
        unknown = [c for c in r.indicators if c not in codes]
        if unknown:
            raise BadRequest(f"{where}: 关联指标 {'、'.join(unknown)} 不在本规划中 not an "
                             "indicator of this plan; nothing was saved")
        out.append(r.model_copy(update={
            "section": r.section.strip(), "number": r.number.strip(),
            "content": r.content.strip(), "lead_unit": r.lead_unit.strip(),
            "responsible_units": units, "indicators": list(dict.fromkeys(r.indicators))}))
    return out


async def _plan(session: AsyncSession, plan_id: str) -> Plan:
    plan = await session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id} at this office")
    return plan


async def rows_of(session: AsyncSession, plan_id: str) -> list[TaskRow]:
    return list((await session.scalars(select(TaskRow).where(TaskRow.plan_id == plan_id)
                                       .order_by(TaskRow.position))).all())


def as_in(rows: Sequence[TaskRow]) -> list[TaskRowIn]:
    return [TaskRowIn(section=r.section, number=r.number, content=r.content,
                      lead_unit=r.lead_unit, responsible_units=list(r.responsible_units),
                      indicators=list(r.indicators)) for r in rows]


def table_title(plan: Plan) -> str:
    return f"{plan.title}分领域编制工作任务分解表"


async def get_table(*, session: AsyncSession, plan_id: str) -> TaskTableRead:
    plan = await _plan(session, plan_id)
    return TaskTableRead(plan_id=plan_id, title=table_title(plan), rows=[
        TaskRowRead(**r.model_dump()) for r in as_in(await rows_of(session, plan_id))])


async def replace_table(*, session: AsyncSession, plan_id: str, rows: Sequence[TaskRowIn],
                        actor: str) -> TaskTableRead:
    """Replace the plan's task table (checked first: nothing changes when a row is bad)."""
    plan = await _plan(session, plan_id)
    if len(rows) > ROWS_MAX:
        raise BadRequest(f"at most {ROWS_MAX} rows in a task table")
    checked = _check(rows, parse_document(plan.document), plan.kind)
    before = len(await rows_of(session, plan_id))
    await session.execute(delete(TaskRow).where(TaskRow.plan_id == plan_id))
    for pos, r in enumerate(checked):
        session.add(TaskRow(plan_id=plan_id, position=pos, section=r.section, number=r.number,
                            content=r.content, lead_unit=r.lead_unit,
                            responsible_units=r.responsible_units, indicators=r.indicators))
    await session.flush()
    await record(session=session, actor=actor, action="plan.tasks", entity="plan",
                 entity_id=plan_id, before={"rows": before}, after={"rows": len(checked)})
    return await get_table(session=session, plan_id=plan_id)


# ---- who enters what ------------------------------------------------------------------------

def entering_units(rows: Sequence[TaskRow | TaskRowIn], doc: PlanDocument
                   ) -> dict[str, list[str]]:
    """indicator code → the units named for it (lead first). A task row covers the
    indicators it links, or — linking none — every indicator of the area its section or
    content names. An indicator no row covers (or every indicator, when the plan has no task
    table) keeps its own 牵头单位 and 责任单位 from the plan document."""
    out: dict[str, list[str]] = {}
    for ind in doc.indicators:
        names: list[str] = []
        for r in rows:
            linked = list(r.indicators)
            if ind.code in linked or (not linked and ind.area in (r.section, r.content)):
                names += [r.lead_unit, *r.responsible_units]
        if not names:
            names = [u for u in [ind.lead_unit, *ind.responsible_units] if u]
        out[ind.code] = list(dict.fromkeys(names))
    return out


async def units_for(session: AsyncSession, plan_id: str, doc: PlanDocument
                    ) -> dict[str, list[str]]:
    """:func:`entering_units` with the plan's stored task table."""
    return entering_units(await rows_of(session, plan_id), doc)


def area_leads(rows: Sequence[TaskRow], doc: PlanDocument) -> dict[str, list[str]]:
    """area → its lead units: the task rows of the area, else its indicators' 牵头单位."""
    out: dict[str, list[str]] = {}
    for a in doc.areas:
        leads = [r.lead_unit for r in rows if a.name in (r.section, r.content)]
        if not leads:
            leads = [i.lead_unit for i in doc.indicators if i.area == a.name and i.lead_unit]
        out[a.name] = list(dict.fromkeys(leads))
    return out


def named_units(rows: Sequence[TaskRow], doc: PlanDocument | None) -> list[str]:
    """Every member unit the task table or the plan's indicators name."""
    names: list[str] = []
    for r in rows:
        names += [r.lead_unit, *r.responsible_units]
    if doc is not None:
        for i in doc.indicators:
            names += [u for u in [i.lead_unit, *i.responsible_units] if u]
    return [n for n in dict.fromkeys(names) if is_member_unit_name(n)]


# ---- XLSX -----------------------------------------------------------------------------------

def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return "" if v is None else str(v).strip()


def write_xlsx(title: str, rows: Sequence[TaskRowIn]) -> bytes:
    """The table laid out as seed 001's 附件: title, header, (section rows,) rows."""
    from openpyxl import Workbook  # on first use: a node that never exports does not load it
    from openpyxl.styles import Alignment, Font

    links = any(r.indicators for r in rows)
    width = 5 if links else 4
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "任务分解表"
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.cell(1, 1).font = Font(bold=True, size=14)
    ws.cell(1, 1).alignment = Alignment(horizontal="center")
    ws.append(HEADER + ([LINKS] if links else []))
    for c in range(1, width + 1):
        ws.cell(2, c).font = Font(bold=True)
    groups: list[tuple[str, list[TaskRowIn]]] = []
    for r in rows:
        if groups and groups[-1][0] == r.section:
            groups[-1][1].append(r)
        else:
            groups.append((r.section, [r]))
    for section, members in groups:
        if not (len(members) == 1 and members[0].content == section):
            ws.append([section])
            n = ws.max_row
            ws.merge_cells(start_row=n, start_column=1, end_row=n, end_column=width)
            ws.cell(n, 1).font = Font(bold=True)
        for r in members:
            number: Any = int(r.number) if r.number.isdigit() else r.number
            ws.append([number, r.content, r.lead_unit, "、".join(r.responsible_units)]
                      + (["、".join(r.indicators)] if links else []))
    for col, w in zip("ABCDE", (6, 30, 18, 60, 24), strict=True):
        ws.column_dimensions[col].width = w
    wb.properties.title = title
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def read_xlsx(raw: bytes) -> tuple[str, list[TaskRowIn]]:
    """The title and rows of a task table laid out as :func:`write_xlsx` writes it (and as
    seed 001 prints it). Raises BadRequest naming the row."""
    title, rows, _ = read_sheet(raw)
    return title, rows


def read_sheet(raw: bytes) -> tuple[str, list[TaskRowIn], list[int]]:
    """:func:`read_xlsx`, with the sheet's row number of each task row."""
    try:
        from openpyxl import load_workbook

        wb = load_workbook(BytesIO(raw), data_only=True)
    except Exception as e:  # openpyxl raises many types for a non-workbook
        raise BadRequest(f"不是可读的 .xlsx 文件 not a readable .xlsx workbook "
                         f"({type(e).__name__}); nothing was imported") from None
    ws = wb.worksheets[0]
    table = [[_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    header_at = next((i for i, row in enumerate(table[:2]) if row[:4] == HEADER), None)
    if header_at is None:
        raise BadRequest("第2行 row 2: 缺少表头 the header row 序号 | 规划内容 | 牵头单位 | "
                         "责任单位 must follow the title row; nothing was imported")
    title = table[0][0] if header_at == 1 else ""
    head = table[header_at]
    links = len(head) > 4 and head[4] == LINKS
    extra = [h for h in head[(5 if links else 4):] if h]
    if extra:
        raise BadRequest(f"第{header_at + 1}行 row {header_at + 1}: 未知列 unknown column "
                         f"{extra[0]!r} (columns: {' | '.join(HEADER)} | {LINKS}); "
                         "nothing was imported")
    out: list[TaskRowIn] = []
    lines: list[int] = []
    section: str | None = None
    for i, row in enumerate(table[header_at + 1:], start=header_at + 2):
        cells = (row + [""] * 5)[:5]
        if not any(cells):
            continue
        if cells[:4] == HEADER:
            continue  # repeated after a page break
        if any(row[(5 if links else 4):]):
            raise BadRequest(f"第{i}行 row {i}: 表头之外的单元格有内容 a cell beyond the table's "
                             "columns is filled; nothing was imported")
        if cells[0] and not any(cells[1:]):
            section = cells[0]
            continue
        number, content, lead, resp, linked = cells
        if not content:
            raise BadRequest(f"第{i}行 row {i}: 规划内容为空 the 规划内容 cell is empty; "
                             "nothing was imported")
        if not lead:
            raise BadRequest(f"第{i}行 row {i}: 牵头单位为空 the 牵头单位 cell is empty; "
                             "nothing was imported")
        try:
            out.append(TaskRowIn(section=section or content, number=number, content=content,
                                 lead_unit=lead, responsible_units=_clean_units([resp]),
                                 indicators=[c.strip() for c in SPLIT.split(linked)
                                             if c.strip()] if links else []))
        except ValueError as e:
            first = str(e).splitlines()[1:3]
            raise BadRequest(f"第{i}行 row {i}: {' '.join(x.strip() for x in first)}; "
                             "nothing was imported") from None
        lines.append(i)
        if len(out) > ROWS_MAX:
            raise BadRequest(f"第{i}行 row {i}: at most {ROWS_MAX} rows in a task table; "
                             "nothing was imported")
    if not out:
        raise BadRequest("任务分解表没有任务行 the table has no rows; nothing was imported")
    return title, out, lines


async def import_xlsx(*, session: AsyncSession, plan_id: str, raw: bytes, actor: str
                      ) -> TaskTableRead:
    _, rows, lines = read_sheet(raw)
    try:
        return await replace_table(session=session, plan_id=plan_id, rows=rows, actor=actor)
    except BadRequest as e:  # "the n-th task row" → the row of the sheet
        m = re.match(r"第(\d+)行 row \d+", e.message)
        if m is None or not 0 < int(m.group(1)) <= len(lines):
            raise
        line = lines[int(m.group(1)) - 1]
        raise BadRequest(f"第{line}行 row {line}" + e.message[m.end():], code=e.code) from None


async def export_xlsx(*, session: AsyncSession, plan_id: str) -> bytes:
    t = await get_table(session=session, plan_id=plan_id)
    return write_xlsx(t.title, t.rows)
