"""Task decomposition tables (任务分解表, seed 001, issue #14): kept per plan, imported and
exported as XLSX in the seed's layout (round trip), malformed files refused naming the row,
and who enters which indicator's values decided by them (fallback: the indicators' own
units)."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.errors import BadRequest
from node.plans import service as plans
from node.plans.document import PlanDocument
from node.plans.sheets import load_file
from node.plans.tasks import (
    HEADER,
    TaskRowIn,
    entering_units,
    names_unit,
    read_xlsx,
    unit_key,
    write_xlsx,
)
from tests.cluster import Cluster, cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

PROV: list[tuple[str, str, str, str | None]] = [("150000", "内蒙古自治区", "province", None)]
TITLE = "格尔木市妇女发展规划（2021—2030年）分领域编制工作任务分解表"
# seed 001, 附件 1 (first rows), and a section of several rows with linked indicators
SEED_ROWS = [
    TaskRowIn(section="指导思想和基本原则", number="1", content="指导思想和基本原则",
              lead_unit="市妇儿工委办公室", responsible_units=["市妇儿工委各成员单位"]),
    TaskRowIn(section="组织与实施", number="2", content="组织与实施",
              lead_unit="市妇儿工委办公室", responsible_units=["市妇儿工委各成员单位"]),
    TaskRowIn(section="监测与评估", number="3", content="监测与评估",
              lead_unit="市妇儿工委办公室", responsible_units=["市统计局"]),
    TaskRowIn(section="妇女与健康", number="4", content="妇女与健康", lead_unit="市卫健委",
              responsible_units=["市发展改革委", "市医保局", "市妇联"]),
    TaskRowIn(section="妇女与经济", number="5", content="提高妇女就业比例",
              lead_unit="市人社局", responsible_units=["市总工会"], indicators=["W-ECON-01"]),
    TaskRowIn(section="妇女与经济", number="6", content="妇女参加生育保险",
              lead_unit="市医保局", responsible_units=[], indicators=["W-ECON-02"]),
]


def test_xlsx_layout_is_the_seeds_and_round_trips() -> None:
    raw = write_xlsx(TITLE, SEED_ROWS)
    ws = load_workbook(BytesIO(raw)).worksheets[0]
    cells = list(ws.iter_rows(values_only=True))
    assert cells[0][0] == TITLE and "A1:E1" in {str(r) for r in ws.merged_cells.ranges}
    assert list(cells[1][:4]) == HEADER and cells[1][4] == "关联指标"
    # a row that is its own section (the seed's rows) stands alone, numbered like the seed
    assert cells[2][:4] == (1, "指导思想和基本原则", "市妇儿工委办公室", "市妇儿工委各成员单位")
    assert cells[5][:4] == (4, "妇女与健康", "市卫健委", "市发展改革委、市医保局、市妇联")
    # a section of several rows is introduced by its section row
    assert cells[6] == ("妇女与经济", None, None, None, None)
    assert cells[7] == (5, "提高妇女就业比例", "市人社局", "市总工会", "W-ECON-01")
    title, rows = read_xlsx(raw)
    assert title == TITLE and rows == SEED_ROWS
    # without linked indicators: exactly the seed's four columns
    plain = [r.model_copy(update={"indicators": []}) for r in SEED_ROWS]
    ws2 = load_workbook(BytesIO(write_xlsx(TITLE, plain))).worksheets[0]
    assert ws2.max_column == 4 and read_xlsx(write_xlsx(TITLE, plain))[1] == plain


def _sheet(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for r in rows:
        ws.append(r)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def test_the_seeds_repeated_header_is_read() -> None:
    # the children's table of seed 001 repeats the header after a page break
    raw = _sheet([[TITLE], HEADER, [1, "儿童与健康", "市卫健委", "市教育局、市财政局"],
                  HEADER, [8, "儿童与社会环境", "市委宣传部", "市教育局，市科技局"]])
    _, rows = read_xlsx(raw)
    assert [r.content for r in rows] == ["儿童与健康", "儿童与社会环境"]
    assert rows[1].responsible_units == ["市教育局", "市科技局"]


@pytest.mark.parametrize(("rows", "expected"), [
    ([[TITLE], ["编号", "内容"], [1, "x", "y", "z"]], "第2行"),  # no header
    ([[TITLE], HEADER, [1, "妇女与健康", "市卫健委", ""], [2, "妇女与教育", "", "市妇联"]],
     "第4行"),  # empty 牵头单位
    ([[TITLE], HEADER, [1, "妇女与健康", "市卫健委", ""], [2, "", "市教育局", ""]],
     "第4行"),  # empty 规划内容
    ([[TITLE], HEADER + ["备注"], [1, "妇女与健康", "市卫健委", ""]], "第2行"),  # extra column
    ([[TITLE], HEADER, [1, "妇女与健康", "市卫健委", "", "", "stray"]], "第3行"),
    ([[TITLE], HEADER], "no rows"),
])
def test_malformed_files_are_refused_naming_the_row(rows: list[list[Any]],
                                                    expected: str) -> None:
    with pytest.raises(BadRequest) as e:
        read_xlsx(_sheet(rows))
    assert expected in e.value.message and "nothing was imported" in e.value.message


def test_not_a_workbook() -> None:
    with pytest.raises(BadRequest, match="not a readable .xlsx"):
        read_xlsx(b"PK\x03\x04 broken")


def test_unit_names_across_levels() -> None:
    assert unit_key("市卫健委") == unit_key("卫健委") == unit_key(" 区卫健委 ")
    assert unit_key("团市委") == "团市委" and unit_key("市委宣传部") == unit_key("区委宣传部")
    assert names_unit(["市卫健委"], "卫健委") and not names_unit(["市教育局"], "卫健委")
    assert names_unit(["市妇儿工委各成员单位"], "统计局")


def test_entering_units_from_the_table_else_the_indicator() -> None:
    doc = _doc()
    got = entering_units(SEED_ROWS, doc)
    assert got["W-HEALTH-01"] == ["市卫健委", "市发展改革委", "市医保局", "市妇联"]
    assert got["W-ECON-02"] == ["市医保局"]  # linked explicitly
    assert got["W-ECON-01"] == ["市人社局", "市总工会"]
    none = entering_units([], doc)  # no table: the indicator's own units
    assert none["W-HEALTH-01"] == ["卫健委", "人社局"]


def _doc() -> PlanDocument:
    """The sample women's plan; 妇女与健康's indicators led by 卫健委 with 人社局."""
    doc = load_file(SAMPLE, "women")
    return doc.model_copy(update={"indicators": [
        i.model_copy(update={"lead_unit": "卫健委", "responsible_units": ["人社局"]})
        if i.area == "妇女与健康" else i for i in doc.indicators]})


# ---- through the API, on SQLite and PostgreSQL ----------------------------------------------

async def _setup(c: Cluster) -> dict[str, dict[str, str]]:
    doc = _doc()
    out = {}
    async with transaction(c.rt("150000").sessions) as s:
        await plans.create_plan(session=s, code="150000", kind="women", title="内蒙古自治区妇女"
                                "发展规划（2021—2030年）", document=doc, actor="t")
        for name, role, unit in [("editor", "editor", None), ("wjw", "member_unit", "卫健委"),
                                 ("ybj", "member_unit", "医保局"),
                                 ("rsj", "member_unit", "人社局")]:
            u = await create_user(session=s, name=name, role=role, password=None, actor="t",
                                  unit=unit)
            out[name] = {"Authorization": "Bearer " + await issue_token(
                session=s, user=u, label="t", actor="t")}
    return out


def _upload(raw: bytes) -> dict[str, Any]:
    return {"files": {"file": ("t.xlsx", raw, "application/octet-stream")}}


async def test_task_table_api_round_trip_and_who_enters_what(
    tmp_path: Path, db_factory: DbFactory
) -> None:
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _setup(c)
        url = "/api/v1/plans/150000-women/tasks"
        value = "/api/v1/reports/women/2024/values/W-HEALTH-01"
        body = {"numerator": 2, "denominator": 10000}
        async with c.client("150000") as cl:
            # no table yet: the indicators' own units decide (医保局 is not one of them)
            assert (await cl.get(url, headers=h["editor"])).json()["rows"] == []
            assert (await cl.put(value, json=body, headers=h["ybj"])).status_code == 403
            assert (await cl.put(value, json=body, headers=h["rsj"])).status_code == 200
            mine = (await cl.get(url + "/mine", headers=h["ybj"])).json()
            assert mine == {"indicators": [], "areas": []}
            # a member unit may not change the table
            r = await cl.post(url + "/import", headers=h["wjw"],
                              **_upload(write_xlsx(TITLE, SEED_ROWS)))
            assert r.status_code == 403
            r = await cl.post(url + "/import", headers=h["editor"],
                              **_upload(write_xlsx(TITLE, SEED_ROWS)))
            assert r.status_code == 200, r.text
            got = [TaskRowIn.model_validate(x) for x in r.json()["rows"]]
            assert got == SEED_ROWS
            # the table decides now: 市医保局 is responsible for 妇女与健康, 人社局 is not
            assert (await cl.put(value, json=body, headers=h["ybj"])).status_code == 200
            r = await cl.put(value, json=body, headers=h["rsj"])
            assert r.status_code == 403 and "市卫健委" in r.json()["error"]["message"]
            assert (await cl.put(value, json=body, headers=h["wjw"])).status_code == 200
            # the console asks the server what a member unit may enter (the same rule)
            mine = (await cl.get(url + "/mine", headers=h["ybj"])).json()
            assert "W-HEALTH-01" in mine["indicators"] and "W-ECON-02" in mine["indicators"]
            assert "W-ECON-01" not in mine["indicators"]
            assert mine["areas"] == ["妇女与健康", "妇女与经济"]
            # and its 工作台 counts them as missing for last year
            year = datetime.now(ZoneInfo("Asia/Shanghai")).year - 1
            todo = (await cl.get("/api/v1/todo", headers=h["ybj"])).json()
            assert any(t["title"] == f"医保局：{year} 年 4 项妇女指标未填报" for t in todo), todo
            # linked rows: W-ECON-02 belongs to 医保局 only
            econ = "/api/v1/reports/women/2024/values/W-ECON-02"
            assert (await cl.put(econ, json=body, headers=h["ybj"])).status_code == 200
            assert (await cl.put(econ, json=body, headers=h["wjw"])).status_code == 403
            # export → import is the same table
            x = await cl.get(url + "/export", headers=h["editor"])
            assert x.status_code == 200 and x.content[:2] == b"PK"
            assert load_workbook(BytesIO(x.content)).worksheets[0]["B2"].value == "规划内容"
            r = await cl.post(url + "/import", headers=h["editor"], **_upload(x.content))
            assert r.status_code == 200
            assert [TaskRowIn.model_validate(x) for x in r.json()["rows"]] == SEED_ROWS
            # edit in the console: PUT the rows
            rows = [r.model_dump() for r in SEED_ROWS[:4]]
            r = await cl.put(url, json={"rows": rows}, headers=h["editor"])
            assert r.status_code == 200 and len(r.json()["rows"]) == 4


async def test_bad_tables_change_nothing(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, PROV) as c:
        h = await _setup(c)
        url = "/api/v1/plans/150000-women/tasks"
        async with c.client("150000") as cl:
            assert (await cl.put(url, json={"rows": [r.model_dump() for r in SEED_ROWS]},
                                 headers=h["editor"])).status_code == 200
            # an indicator the plan does not have, at the sheet's row 9
            bad = [*SEED_ROWS[:5], SEED_ROWS[5].model_copy(update={"indicators": ["W-NOPE"]})]
            r = await cl.post(url + "/import", headers=h["editor"],
                              **_upload(write_xlsx(TITLE, bad)))
            assert r.status_code == 400
            msg = r.json()["error"]["message"]
            assert "第9行" in msg and "W-NOPE" in msg
            # the children's areas in the women's plan
            wrong = [TaskRowIn(section="儿童与健康", number="1", content="儿童与健康",
                               lead_unit="市卫健委")]
            r = await cl.post(url + "/import", headers=h["editor"],
                              **_upload(write_xlsx(TITLE, wrong)))
            assert r.status_code == 400 and r.json()["error"]["code"] == "wrong_plan_kind"
            r = await cl.post(url + "/import", headers=h["editor"], **_upload(b"not a sheet"))
            assert r.status_code == 400
            r = await cl.put(url, json={"rows": [{"section": "x", "content": "",
                                                  "lead_unit": "y"}]}, headers=h["editor"])
            assert r.status_code == 400
            assert (await cl.get("/api/v1/plans/150000-children/tasks",
                                 headers=h["editor"])).status_code == 404
            # nothing changed
            got = (await cl.get(url, headers=h["editor"])).json()["rows"]
            assert [TaskRowIn.model_validate(x) for x in got] == SEED_ROWS
