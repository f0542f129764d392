"""XLSX import and export of a plan, laid out like an office's task table (任务分解表).

Sheet 1 (指标), one row per indicator, headers in row 1 (Chinese or English):

| 领域 area | 目标 goal | 指标编码 code | 指标 indicator | 单位 unit | 比较 comparator |
| 目标值 target | 方向 direction | 汇总方式 aggregation | 约束性 mandatory | 牵头单位 lead unit |
| 责任单位 responsible units |

Required: 领域, 指标, 单位, 比较, 目标值. 指标编码 defaults to the indicator name; 方向 follows
from the comparator (以下/< → lower is better, 以上/> → higher), and must be given for "=".
An optional sheet 策略措施 has columns 领域 | 策略措施. Any bad cell stops the import with a
message naming the row and column; nothing is imported. So does a cell the database could
not hold: an area name longer than 100 characters, a NUL character, a target that is not a
finite number within ±10^15.
"""

from __future__ import annotations

import json
import math
import re
from io import BytesIO
from pathlib import Path
from typing import Any

from node.plans import units
from node.plans.document import (
    DocumentError,
    Kind,
    PlanDocument,
    from_framework_json,
    parse_document,
)

COLUMNS = [  # key, Chinese header, English header, required
    ("area", "领域", "area", True),
    ("goal", "目标", "goal", False),
    ("code", "指标编码", "code", False),
    ("name", "指标", "indicator", True),
    ("unit", "单位", "unit", True),
    ("comparator", "比较", "comparator", True),
    ("target", "目标值", "target", True),
    ("direction", "方向", "direction", False),
    ("aggregation", "汇总方式", "aggregation", False),
    ("mandatory", "约束性", "mandatory", False),
    ("lead_unit", "牵头单位", "lead unit", False),
    ("responsible_units", "责任单位", "responsible units", False),
]
_COMPARATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=", "≤": "<=", "≥": ">=",
                "以下": "<", "低于": "<", "不高于": "<=", "以上": ">", "高于": ">",
                "不低于": ">=", "达到": ">=", "保持": "=", "左右": "="}
_DIRECTIONS = {"lower_is_better": "lower_is_better", "越低越好": "lower_is_better",
               "低": "lower_is_better", "higher_is_better": "higher_is_better",
               "越高越好": "higher_is_better", "高": "higher_is_better"}
_AGG = {"ratio": "ratio", "比率": "ratio", "sum": "sum", "求和": "sum", "mean": "mean",
        "平均": "mean", "min": "min", "最小": "min", "max": "max", "最大": "max",
        "none": "none", "不汇总": "none"}
_YES = {"是", "yes", "true", "1", "y", "约束性"}
_NO = {"否", "no", "false", "0", "n", "预期性"}
# what the database holds (node.models: plans.title, report_narratives.area) and what signed
# JSON carries exactly (targets: finite, well inside ±2^53)
TITLE_MAX = 300
AREA_MAX = 100
TARGET_MAX = 1e15


def storable(doc: PlanDocument) -> PlanDocument:
    """Refuse a document the node could validate but not store or sign: area names longer
    than their column, NUL characters, non-finite or huge targets, an indicator unit not in
    the unit table (node.plans.units; units are stored in their canonical spelling: "％" →
    "%", "/10万" → "1/10万"). DocumentError names the field. (The annual report due day is
    checked by the document itself: a real month-day.)"""
    for n, a in enumerate(doc.areas):
        if len(a.name) > AREA_MAX:
            raise DocumentError(f"领域名称过长 area name has {len(a.name)} characters, at most "
                                f"{AREA_MAX}", f"/areas/{n}/name")
    for n, i in enumerate(doc.indicators):
        if isinstance(i.target, float) and not math.isfinite(i.target) or \
                abs(i.target) > TARGET_MAX:
            raise DocumentError(f"目标值超出范围 target {i.target} is not a number within "
                                f"±{TARGET_MAX:g}", f"/indicators/{n}/target")
    fixed = []
    for n, i in enumerate(doc.indicators):
        if units.known(i.unit) is None:
            raise DocumentError(f"指标 {i.code} {i.name} 的单位 {i.unit!r} 未知 unknown unit; "
                                f"known units: {units.known_list()}", f"/indicators/{n}/unit")
        fixed.append(i.model_copy(update={"unit": units.normalise(i.unit)}))
    doc = doc.model_copy(update={"indicators": fixed})
    where = _nul_in(doc.dump())
    if where is not None:
        raise DocumentError("含有空字符 contains a NUL character", where)
    return doc


def _nul_in(value: Any, ptr: str = "") -> str | None:
    if isinstance(value, str):
        return (ptr or "/") if "\x00" in value else None
    if isinstance(value, dict):
        value = {str(k): v for k, v in value.items()}
        for k, v in value.items():
            hit = _nul_in(v, f"{ptr}/{k}")
            if hit is not None:
                return hit
    if isinstance(value, list):
        for n, v in enumerate(value):
            hit = _nul_in(v, f"{ptr}/{n}")
            if hit is not None:
                return hit
    return None


def _where(row: int, col: int, header: str) -> str:
    from openpyxl.utils import get_column_letter

    letter = get_column_letter(col)
    return f"第{row}行 {letter}列({header}) row {row}, column {letter}"


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def read_xlsx(source: Path | bytes) -> PlanDocument:
    from openpyxl import load_workbook  # on first use (an idle node never loads openpyxl)

    try:
        wb = load_workbook(BytesIO(source) if isinstance(source, bytes) else source,
                           read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a non-workbook
        raise DocumentError(f"not a readable .xlsx workbook ({type(e).__name__}: {e})") from None
    ws = wb["指标"] if "指标" in wb.sheetnames else wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    if not rows:
        raise DocumentError("the indicator sheet is empty", "第1行 row 1")
    header = [_text(h) for h in rows[0]]
    pos: dict[str, tuple[int, str]] = {}
    for key, zh, en, required in COLUMNS:
        for i, h in enumerate(header):
            if h in (zh, en) or h.lower() == en:
                pos[key] = (i, h)
                break
        else:
            if required:
                raise DocumentError(f"missing column {zh} ({en})", "第1行 row 1")
    indicators: list[dict[str, Any]] = []
    areas: list[str] = []
    for r, values in enumerate(rows[1:], start=2):
        if all(_text(v) == "" for v in values):
            continue
        item = _row(r, values, pos)
        if item["area"] not in areas:
            areas.append(item["area"])
        indicators.append(item)
    measures: dict[str, str] = {}
    if "策略措施" in wb.sheetnames:
        for r, values in enumerate(wb["策略措施"].iter_rows(values_only=True), start=1):
            if r == 1 or not values or _text(values[0]) == "":
                continue
            measures[_text(values[0])] = _text(values[1]) if len(values) > 1 else ""
            if _text(values[0]) not in areas:
                areas.append(_text(values[0]))
    try:
        return storable(parse_document({"areas": [{"name": a, "measures": measures.get(a, "")}
                                                  for a in areas], "indicators": indicators}))
    except DocumentError as e:
        m = re.match(r"/indicators/(\d+)", e.location)
        if m:
            raise DocumentError(e.message, f"第{int(m.group(1)) + 2}行 row "
                                           f"{int(m.group(1)) + 2}") from None
        raise


def _row(r: int, values: tuple[Any, ...], pos: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """One indicator from sheet row ``r``; errors name the row and column."""

    def cell(key: str) -> tuple[str, str]:
        if key not in pos:
            return "", ""
        i, h = pos[key]
        v = _text(values[i]) if i < len(values) else ""
        if "\x00" in v:
            raise DocumentError("含有空字符 the cell contains a NUL character", at(key))
        return v, h

    def at(key: str) -> str:
        return _where(r, pos[key][0] + 1, pos[key][1])

    def need(key: str) -> str:
        v, _ = cell(key)
        if not v:
            raise DocumentError("empty; this column is required", at(key))
        return v

    item: dict[str, Any] = {"area": need("area"), "name": need("name")}
    if len(item["area"]) > AREA_MAX:
        raise DocumentError(f"领域名称过长 area name has {len(item['area'])} characters, at "
                            f"most {AREA_MAX}", at("area"))
    item["unit"], _ = cell("unit")
    goal, _ = cell("goal")
    item["goal"] = goal or None
    code, _ = cell("code")
    item["code"] = code or item["name"]
    comp_raw = need("comparator")
    comp = _COMPARATORS.get(comp_raw)
    if comp is None:
        raise DocumentError(f"unknown comparator {comp_raw!r}; use < <= > >= = or 以下/以上",
                            at("comparator"))
    item["comparator"] = comp
    tgt_raw = need("target")
    try:
        t = float(re.sub(r"[%‰\s]", "", tgt_raw))
    except ValueError:
        raise DocumentError(f"{tgt_raw!r} is not a number", at("target")) from None
    if not math.isfinite(t) or abs(t) > TARGET_MAX:
        raise DocumentError(f"目标值超出范围 {tgt_raw!r} is not a number within "
                            f"±{TARGET_MAX:g}", at("target"))
    item["target"] = int(t) if t.is_integer() else t
    d_raw, _ = cell("direction")
    if d_raw:
        if d_raw not in _DIRECTIONS:
            raise DocumentError(f"unknown direction {d_raw!r}; use 越低越好 or 越高越好",
                                at("direction"))
        item["direction"] = _DIRECTIONS[d_raw]
    elif comp in ("<", "<="):
        item["direction"] = "lower_is_better"
    elif comp in (">", ">="):
        item["direction"] = "higher_is_better"
    else:
        raise DocumentError("direction (方向) is required when the comparator is '='",
                            f"第{r}行 row {r}")
    a_raw, _ = cell("aggregation")
    if a_raw:
        if a_raw not in _AGG:
            raise DocumentError(f"unknown aggregation {a_raw!r}", at("aggregation"))
        item["aggregation"] = _AGG[a_raw]
    m_raw, _ = cell("mandatory")
    if m_raw:
        if m_raw.lower() not in _YES | _NO:
            raise DocumentError(f"{m_raw!r}: write 是 or 否", at("mandatory"))
        item["mandatory"] = m_raw.lower() in _YES
    lead, _ = cell("lead_unit")
    item["lead_unit"] = lead or None
    resp, _ = cell("responsible_units")
    item["responsible_units"] = [u.strip() for u in re.split(r"[、,，;；]", resp) if u.strip()]
    return item


def write_xlsx(doc: PlanDocument, title: str = "") -> bytes:
    from openpyxl import Workbook  # on first use (an idle node never loads openpyxl)

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "指标"
    ws.append([zh for _, zh, _, _ in COLUMNS])
    for i in doc.indicators:
        ws.append([i.area, i.goal or "", i.code, i.name, i.unit, i.comparator, i.target,
                   i.direction, i.aggregation, "是" if i.mandatory else "否",
                   i.lead_unit or "", "、".join(i.responsible_units)])
    for col, width in zip("ABCDEFGHIJKL", (14, 24, 14, 28, 10, 6, 8, 16, 8, 6, 14, 30),
                          strict=True):
        ws.column_dimensions[col].width = width
    m = wb.create_sheet("策略措施")
    m.append(["领域", "策略措施"])
    for a in doc.areas:
        m.append([a.name, a.measures])
    if title:
        wb.properties.title = title
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def load_file(path: Path, kind: Kind) -> PlanDocument:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DocumentError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise DocumentError("a plan file must hold a JSON object")
    return from_framework_json(data, kind)
