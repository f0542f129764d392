"""The timeliness audit as an XLSX an office prints: a title row, 序号, a bold frozen header,
column widths, dates as dates, times in Beijing time, coded values as words."""

from __future__ import annotations

from datetime import date, datetime
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

STATUS_WORDS = {"on_time": "按时", "late": "逾期报送", "overdue": "超期未报",
                "returned": "已退回", "pending": "未到期", "not_enrolled": "未接入"}
LEVEL_WORDS = {"national": "国家级", "province": "省级", "city": "市级", "county": "县级"}
KIND_WORDS = {"women": "妇女", "children": "儿童"}
OUTCOME_WORDS = {"accepted": "接收", "returned": "退回"}


# what a filing is (the audit's ``what``: the first part of ``filing``)
WHAT_WORDS = {"plan": "规划备案", "report": "年度报告", "evaluation": "评估报告"}
STAGE_WORDS = {2025: "中期评估报告", 2030: "终期评估报告"}  # node.audit.timeliness.STAGES


def filing_words(filing: str) -> str:
    """plan.women → 妇女规划备案; report.children.2024 → 2024年度儿童规划实施情况报告;
    evaluation.women.2025 → 妇女规划中期评估报告 (2030: 终期评估报告)."""
    parts = filing.split(".")
    k = KIND_WORDS.get(parts[1], parts[1]) if len(parts) > 1 else ""
    if parts[0] == "plan":
        return f"{k}规划备案"
    if parts[0] == "evaluation" and len(parts) > 2:
        stage = int(parts[2]) if parts[2].isdigit() else 0
        return f"{k}规划{STAGE_WORDS.get(stage, f'{parts[2]}年评估报告')}"
    return f"{parts[2]}年度{k}规划实施情况报告" if len(parts) > 2 else filing


def _local(ts: str | None, zone: ZoneInfo) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(zone).replace(
        tzinfo=None)


def _history(r: dict[str, Any], zone: ZoneInfo) -> str:
    parts = []
    for h in r.get("history") or []:
        t = _local(h["received_at"], zone)
        parts.append(f"{t:%Y-%m-%d %H:%M} {OUTCOME_WORDS.get(h['outcome'], h['outcome'])}"
                     + (f"（逾期{h['late_days']}天）" if h["late_days"] else ""))
    return "；".join(parts)


COLUMNS = [("序号", 6), ("单位代码", 10), ("单位名称", 16), ("层级", 6), ("所属市", 14),
           ("报送事项", 26), ("截止日期", 12), ("接收时间（北京时间）", 18), ("状态", 10),
           ("逾期天数", 9), ("退回与重报记录", 44)]


def audit_xlsx(rows: list[dict[str, Any]], *, title: str, zone: ZoneInfo,
               names: dict[str, str], generated_on: date) -> bytes:
    from openpyxl import Workbook  # on first use (an idle node never loads openpyxl)
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "报送及时性"
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([c for c, _ in COLUMNS])
    thin = Side(style="thin")
    for i, (_, width) in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=2, column=i)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A3"
    for n, r in enumerate(rows, start=1):  # data from row 3 (ws.max_row is O(cells))
        row = n + 2
        due = date.fromisoformat(r["due_on"]) if r["due_on"] else None
        ws.append([n, r["code"], r["name"], LEVEL_WORDS.get(r["level"], r["level"]),
                   names.get(r.get("city") or "", ""), filing_words(r["filing"]), due,
                   _local(r["received_at"], zone), STATUS_WORDS.get(r["status"], r["status"]),
                   r["late_days"] or 0 if r["status"] in ("late", "overdue", "returned")
                   else None, _history(r, zone)])
        ws.cell(row=row, column=7).number_format = "yyyy-mm-dd"
        ws.cell(row=row, column=8).number_format = "yyyy-mm-dd hh:mm"
    ws.append([])
    ws.append([f"生成日期：{generated_on:%Y-%m-%d}（北京时间）"])
    ws.print_title_rows = "1:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()
