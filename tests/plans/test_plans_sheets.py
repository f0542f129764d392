from __future__ import annotations

import json
from io import BytesIO

import pytest
from openpyxl import Workbook

from node.plans.document import DocumentError, document_schema
from node.plans.sheets import load_file, read_xlsx, write_xlsx
from tests.paths import ROOT

SAMPLE = ROOT.parent / "shared" / "data" / "framework-sample.json"
SHIPPED = ROOT / "node" / "data" / "framework-sample.json"


def test_framework_sample_loads_as_is() -> None:
    path = SAMPLE if SAMPLE.exists() else SHIPPED
    women, children = load_file(path, "women"), load_file(path, "children")
    assert len(women.areas) == 8 and len(children.areas) == 7
    data = json.loads(path.read_text("utf-8"))
    assert len(women.indicators) + len(children.indicators) == len(data["indicators"])
    mmr = women.by_code()["W-HEALTH-01"]
    assert (mmr.comparator, mmr.target, mmr.unit) == ("<", 12, "1/10万")


def test_xlsx_round_trip() -> None:
    doc = load_file(SHIPPED, "children")
    assert read_xlsx(write_xlsx(doc)).indicators == doc.indicators


def _sheet(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "指标"
    for r in rows:
        ws.append(r)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


HEAD = ["领域", "目标", "指标", "单位", "比较", "目标值", "牵头单位", "责任单位"]


def test_office_task_table_imports() -> None:
    doc = read_xlsx(_sheet([HEAD, ["妇女与健康", "降低孕产妇死亡率", "孕产妇死亡率", "1/10万",
                                   "以下", 12, "卫健委", "医保局、妇联"]]))
    (i,) = doc.indicators
    assert (i.code, i.comparator, i.direction) == ("孕产妇死亡率", "<", "lower_is_better")
    assert i.responsible_units == ["医保局", "妇联"] and i.lead_unit == "卫健委"


@pytest.mark.parametrize(("row", "where", "what"), [
    (["妇女与健康", "", "孕产妇死亡率", "1/10万", "<", "十二", "", ""], "F列(目标值)",
     "not a number"),
    (["妇女与健康", "", "", "1/10万", "<", 12, "", ""], "C列(指标)", "required"),
    (["妇女与健康", "", "孕产妇死亡率", "1/10万", "约", 12, "", ""], "E列(比较)",
     "unknown comparator"),
])
def test_bad_sheet_names_row_and_column(row: list[object], where: str, what: str) -> None:
    good = ["妇女与健康", "", "艾滋病母婴传播率", "%", "<", 2, "", ""]
    with pytest.raises(DocumentError) as e:
        read_xlsx(_sheet([HEAD, good, row]))
    assert f"第3行 {where}" in str(e.value) and what in str(e.value)


def test_missing_column_and_garbage_file() -> None:
    with pytest.raises(DocumentError, match="missing column 目标值"):
        read_xlsx(_sheet([["领域", "指标", "单位", "比较"], ["a", "b", "%", "<"]]))
    with pytest.raises(DocumentError, match="not a readable .xlsx"):
        read_xlsx(b"not a workbook")


def test_published_document_schema_is_current() -> None:
    shipped = json.loads((ROOT / "schemas" / "plan-document.schema.json").read_text("utf-8"))
    assert shipped == document_schema(), "regenerate: python -m node.plans.document"
