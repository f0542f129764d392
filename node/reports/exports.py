"""CSV and XLSX exports with Chinese headers: the audit, aggregates and warnings."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

AUDIT_COLUMNS = [("code", "单位代码"), ("name", "单位名称"), ("level", "层级"),
                 ("parent", "上级代码"), ("filing", "报送事项"), ("due_on", "截止日期"),
                 ("received_at", "接收时间"), ("receiver", "接收单位"), ("status", "状态"),
                 ("late_days", "逾期天数")]
RATE_COLUMNS = [("group", "单位/层级"), ("expected", "应报"), ("due", "已到期"),
                ("on_time", "按时"), ("late", "逾期报送"), ("returned", "退回"),
                ("overdue", "逾期未报"), ("not_enrolled", "未接入"), ("pending", "未到期"),
                ("on_time_rate", "按时率"),
                ("reporting_rate", "报送率")]
FIGURE_COLUMNS = [("code", "指标编码"), ("name", "指标名称"), ("unit", "单位"),
                  ("method", "汇总方式"), ("value", "汇总值"), ("numerator", "分子合计"),
                  ("denominator", "分母合计"), ("coverage", "覆盖(已报/应报)"),
                  ("missing", "未报单位"), ("note", "说明")]
WARNING_COLUMNS = [("scope", "范围"), ("code", "指标编码"), ("name", "指标名称"),
                   ("kind", "预警类型"), ("latest_year", "最新年份"),
                   ("latest_value", "最新值"), ("detail", "说明")]
STATUS_ZH = {"on_time": "按时", "late": "逾期", "returned": "退回", "overdue": "逾期未报",
             "pending": "未到期", "not_enrolled": "未接入"}


def _cell(v: Any) -> Any:
    if isinstance(v, list):
        return "、".join(map(str, v))
    return v


def table(rows: Sequence[dict[str, Any]], columns: list[tuple[str, str]]) -> list[list[Any]]:
    return [[zh for _, zh in columns]] + [[_cell(r.get(k)) for k, _ in columns] for r in rows]


def to_csv(rows: Sequence[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerows(table(rows, columns))
    return "\ufeff" + out.getvalue()  # BOM so Excel opens the Chinese text correctly


def to_xlsx(sheets: list[tuple[str, Sequence[dict[str, Any]], list[tuple[str, str]]]]) -> bytes:
    from openpyxl import Workbook  # on first use (an idle node never loads openpyxl)

    wb = Workbook()
    first = True
    for title, rows, columns in sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        ws.title = title
        first = False
        for r in table(rows, columns):
            ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def attachment(filename: str, fallback: str) -> str:
    """``Content-Disposition`` of a download with a Chinese file name (RFC 6266/5987): an
    ASCII ``filename`` for old clients and the UTF-8 ``filename*`` for the others."""
    from urllib.parse import quote

    ascii_name = fallback.encode("ascii", "replace").decode().replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
