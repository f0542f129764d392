"""Due dates and timeliness on the office's calendar (default Asia/Shanghai)."""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

# the release dates (颁布日期) a plan may be published with
RELEASE_FIRST, RELEASE_LAST = date(2000, 1, 1), date(2099, 12, 31)


def add_month(d: date) -> date:
    """One calendar month later, clamped to the month's end (01-31 → 02-28/29)."""
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def add_months(d: date, n: int) -> date:
    """``n`` calendar months later, clamped to the month's end."""
    y, m = divmod(d.month - 1 + n, 12)
    y, m = d.year + y, m + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def child_plan_due(parent_released_on: date, months: int) -> date:
    """The deadline a parent set for its children's plans: ``months`` after its own first
    release of the plan (PlanDocument.child_plan_due_months), clamped to month end."""
    return add_months(parent_released_on, months)


def plan_filing_due(released_on: date) -> date:
    """颁布后1个月内报送: release date + one calendar month, clamped to month end."""
    return add_month(released_on)


@functools.lru_cache(maxsize=4096)  # pure; the audit asks it for every office and year
def annual_report_due(year: int, mm_dd: str = "03-31") -> date:
    """The report on ``year`` is due on MM-DD of the year after, clamped to the month's end
    as the plan rule is ("02-29" is February 28 in a common year)."""
    m, d = (int(x) for x in mm_dd.split("-"))
    return date(year + 1, m, min(d, calendar.monthrange(year + 1, m)[1]))


def late_days(received_at: datetime, due_on: date, zone: ZoneInfo) -> int:
    """Whole days late on the local calendar: 0 if received by the end of the due day."""
    local = received_at.astimezone(zone).date()
    return max(0, (local - due_on).days)
