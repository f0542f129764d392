"""`plansync units …` and `plansync tasks …` as real commands, on SQLite and PostgreSQL:
the same service functions as the API, Chinese first, one `错误 error:` line on bad input."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from openpyxl import load_workbook

from node.plans.tasks import write_xlsx
from tests.conftest import DbFactory
from tests.paths import SAMPLE
from tests.plans.test_tasks import SEED_ROWS, TITLE
from tests.procs import run_cli


async def test_units_and_tasks_commands(tmp_path: Path, db_factory: DbFactory) -> None:
    d = ["--data-dir", str(tmp_path / "n")]
    run_cli("init", "--code", "150000", "--name", "内蒙古自治区", "--level", "province",
            "--database-url", await db_factory(), *d)
    for name, role, unit in [("editor", "editor", None), ("director", "reviewer", None),
                             ("wjw", "member_unit", "卫健委"), ("rsj", "member_unit", "人社局")]:
        run_cli("users", "add", name, "--role", role, *(["--unit", unit] if unit else []), *d)
    run_cli("framework", "import", str(SAMPLE), "--kind", "women", "--as", "editor", *d)

    # the task table: import (the seed's layout), show, export, and a malformed file refused
    sheet = tmp_path / "tasks.xlsx"
    sheet.write_bytes(write_xlsx(TITLE, SEED_ROWS))
    out = run_cli("tasks", "import", "women", str(sheet), "--as", "editor", *d).stdout
    assert "已导入 imported 6 rows" in out
    shown = run_cli("tasks", "show", "women", *d).stdout
    assert "牵头单位" in shown and "市卫健委" in shown
    back = tmp_path / "back.xlsx"
    run_cli("tasks", "export", "women", "--out", str(back), *d)
    assert load_workbook(BytesIO(back.read_bytes())).worksheets[0]["A1"].value == (
        "内蒙古自治区妇女发展规划（2021—2030年）分领域编制工作任务分解表")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(write_xlsx(TITLE, [SEED_ROWS[0].model_copy(update={
        "indicators": ["W-NOPE"]})]))
    p = run_cli("tasks", "import", "women", str(bad), "--as", "editor", *d, check=False)
    assert p.returncode != 0 and p.stderr.startswith("错误 error: 第3行")
    assert "Traceback" not in p.stderr
    assert "市卫健委" in run_cli("tasks", "show", "women", *d).stdout  # unchanged

    # units: submit, a unit not one's own refused, return with a reason, chase list
    ok = ["--implementation", "完成妇女健康行动", "--next-year", "继续推进"]
    out = run_cli("units", "submit", "women", "2024", "--unit", "卫健委", *ok, "--as", "wjw",
                  *d).stdout
    assert "已提交 submitted 卫健委 2024" in out and "逾期" in out
    p = run_cli("units", "submit", "women", "2024", "--unit", "人社局", *ok, "--as", "wjw",
                *d, check=False)
    assert p.returncode != 0 and p.stderr.startswith("错误 error: 成员单位用户只能")
    run_cli("units", "submit", "women", "2024", "--unit", "人社局", *ok, "--as", "rsj", *d)
    p = run_cli("units", "return", "women", "2024", "--unit", "人社局", "--reason", "缺数据",
                "--as", "editor", *d, check=False)
    assert p.returncode != 0 and "filings.review" in p.stderr
    out = run_cli("units", "return", "women", "2024", "--unit", "人社局", "--reason", "缺数据",
                  "--as", "director", *d).stdout
    assert "已退回 returned 人社局" in out
    status = run_cli("units", "status", "women", "2024", "--as", "director", *d).stdout
    assert "已提交" in status and "退回" in status and "缺数据" in status
    chase = run_cli("units", "chase", "women", "2024", "--as", "director", *d).stdout
    assert "人社局" in chase and "卫健委" not in chase and "市统计局" in chase
