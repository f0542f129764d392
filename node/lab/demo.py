"""`plansync demo`: the real job, on this machine, in one command.

A hierarchy of `plansync serve` processes on loopback ports (SQLite, in-process delivery):

    内蒙古自治区 150000 ─┬─ 鄂尔多斯市 150600 ─┬─ 康巴什区 150603
                        │                    └─ 东胜区 150602
                        └─ 呼和浩特市 150100 ─┬─ 新城区 150102
                                             └─ 回民区 150103

With ``--national`` the national node 国务院妇儿工委 000000 sits above the province: it
releases the first framework, the province builds its own on it and files it there, and the
national node's audit and aggregate count the 34 provincial-level units (the others 未接入).

Everything goes through each office's HTTP API as its users would, and between offices only
through the signed protocol. Release dates are set relative to today so that the filing
deadlines (one month after release) fall on both sides of today.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from node.divisions import NATIONAL
from node.lab.harness import DEMO_PASSWORD, ProcessCluster

PROVINCE, ORDOS, HOHHOT = "150000", "150600", "150100"
KANGBASHI, DONGSHENG, XINCHENG, HUIMIN = "150603", "150602", "150102", "150103"
TREE = [PROVINCE, ORDOS, KANGBASHI, DONGSHENG, HOHHOT, XINCHENG, HUIMIN]
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "framework-sample.json"
MMR = "W-HEALTH-01"  # 孕产妇死亡率 (per 100,000), ratio
STEPS = 9


class Demo:
    def __init__(self, cluster: ProcessCluster, quiet: bool, national: bool = False) -> None:
        self.c = cluster
        self.quiet = quiet
        self.national = national
        self.today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        self.tokens: dict[str, dict[str, str]] = {}
        self.t0 = time.monotonic()
        self.n = 0

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    def step(self, zh: str, en: str) -> None:
        self.n += 1
        steps = STEPS + self.national
        self.say(f"[{self.n}/{steps}] {zh} {en}  ({time.monotonic() - self.t0:.1f}s)")

    def day(self, delta: int) -> str:
        return (self.today + timedelta(days=delta)).isoformat()

    def name(self, code: str) -> str:
        return self.c.members[code].name

    async def as_(self, code: str, user: str, method: str, path: str, **kw: Any) -> Any:
        m = self.c.members[code]
        token = m.token if user == "admin" else self.tokens[code][user]
        async with httpx.AsyncClient(base_url=m.url, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as cl:
            r = await cl.request(method, path, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{code} {method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if "json" in r.headers.get("content-type", "") else r.content

    def users_of(self, code: str) -> list[tuple[str, str, str | None]]:
        """(name, role, member unit) of the demo users at ``code`` besides admin."""
        users: list[tuple[str, str, str | None]] = [
            ("editor", "editor", None), ("director", "reviewer", None),
            ("wjw", "member_unit", "卫健委")]
        if self.c.members[code].parent is None:
            users.append(("auditor", "auditor", None))
        return users

    async def users(self) -> None:
        for code in self.c.members:
            self.tokens[code] = {}
            for user, role, unit in self.users_of(code):
                r = await self.as_(code, "admin", "POST", "/api/v1/users",
                                   json={"name": user, "role": role, "unit": unit,
                                         "password": DEMO_PASSWORD})
                self.tokens[code][user] = r["token"]

    def consoles(self) -> list[dict[str, Any]]:
        """Each office's console address and demo sign-ins, one per role."""
        return [{"code": code, "name": m.name, "url": m.url + "/",
                 "users": [{"name": "admin", "password": DEMO_PASSWORD, "role": "admin"}]
                 + [{"name": u, "password": DEMO_PASSWORD, "role": r}
                    for u, r, _ in self.users_of(code)]}
                for code, m in self.c.members.items()]

    async def draft_to_approved(self, code: str, document: dict[str, Any] | None,
                                title: str, kind: str = "women", comment: bool = False) -> str:
        pid = f"{code}-{kind}"
        if document is not None:
            await self.as_(code, "editor", "POST", "/api/v1/plans/import",
                           json={"kind": kind, "title": title, "document": document})
        await self.as_(code, "editor", "POST", f"/api/v1/plans/{pid}/steps/consultation")
        if comment:
            await self.as_(code, "wjw", "POST", f"/api/v1/plans/{pid}/comments",
                           json={"unit": "卫健委", "text": "建议保留孕产妇死亡率约束性指标"})
        for step in ("expert_review", "submit"):
            await self.as_(code, "editor", "POST", f"/api/v1/plans/{pid}/steps/{step}")
        await self.as_(code, "director", "POST", f"/api/v1/plans/{pid}/steps/approve")
        return pid

    async def publish(self, code: str, pid: str, released: str,
                      override: str | None = None) -> None:
        await self.as_(code, "director" if not override else "admin", "POST",
                       f"/api/v1/plans/{pid}/publish",
                       json={"released_on": released, "override_reason": override})

    async def framework_doc(self, code: str, origin: str, version: int = 1) -> dict[str, Any]:
        async def has() -> bool:
            fws = await self.as_(code, "admin", "GET", "/api/v1/frameworks")
            return any(f["origin"] == origin and f["version"] >= version for f in fws)

        await self.c.wait_for(f"{origin} framework v{version} at {code}", has)
        fws = await self.as_(code, "admin", "GET", "/api/v1/frameworks")
        doc: dict[str, Any] = [f for f in fws if f["origin"] == origin
                               and f["version"] == version][0]["document"]
        return doc

    async def sent_outcome(self, code: str, version: int) -> str:
        async def answered() -> bool:
            sent = await self.as_(code, "admin", "GET", "/api/v1/filings/sent")
            return any(s["version"] == version and s["outcome"] for s in sent)

        await self.c.wait_for(f"receipt of {code} v{version}", answered)
        sent = await self.as_(code, "admin", "GET", "/api/v1/filings/sent")
        return str([s for s in sent if s["version"] == version][-1]["outcome"])

    async def report(self, code: str, year: int, num: int, den: int) -> None:
        await self.as_(code, "wjw", "PUT", f"/api/v1/reports/women/{year}/values/{MMR}",
                       json={"numerator": num, "denominator": den})
        await self.as_(code, "wjw", "PUT",
                       f"/api/v1/reports/women/{year}/narratives/妇女与健康",
                       json={"text": f"{year}年孕产妇死亡 {num} 例，活产 {den} 人。"})
        await self.as_(code, "editor", "PUT", f"/api/v1/reports/women/{year}/next-year",
                       json={"text": "继续加强危重孕产妇救治体系建设。"})
        await self.as_(code, "director", "POST", f"/api/v1/reports/women/{year}/file")

    async def received(self, code: str, n: int) -> None:
        async def enough() -> bool:
            got = await self.as_(code, "admin", "GET", "/api/v1/reports/received")
            return len([r for r in got if r["direct"]]) >= n

        await self.c.wait_for(f"{n} reports at {code}", enough)

    async def run(self) -> dict[str, Any]:
        self.step("创建办公室用户", "office users (editor, director, member unit 卫健委) "
                  "at every node")
        await self.users()

        self.step("自治区发布纲要", "the province drafts, consults, reviews and releases its "
                  "framework")
        sample = json.loads(SAMPLE.read_text("utf-8"))
        units = {"妇女与健康": ("卫健委", ["医保局", "妇联"]), "妇女与经济": ("人社局", ["统计局"])}
        women = {"areas": [{"name": a} for a in sample["areas"]["women"]],
                 "indicators": [dict(i, lead_unit=units.get(i["area"], ("妇儿工委办", []))[0],
                                     responsible_units=units.get(i["area"], ("", []))[1])
                                for i in sample["indicators"] if i["plan"] == "women"],
                 "annual_report_due": "12-31"}
        if self.national:  # the national node releases first; the province builds on it
            npid = await self.draft_to_approved(NATIONAL, women,
                                                "中国妇女发展纲要（2021—2030年）")
            await self.publish(NATIONAL, npid, self.day(-150))
            women = {**await self.framework_doc(PROVINCE, NATIONAL), "annual_report_due": "12-31"}
            self.say("    ✓ the national framework reached the province")
        pid = await self.draft_to_approved(PROVINCE, women,
                                           "内蒙古自治区妇女发展规划（2021—2030年）", comment=True)
        await self.publish(PROVINCE, pid, self.day(-120))
        secs = []
        for code in TREE[1:]:
            secs.append(await self.c.wait_for(
                f"framework at {code}",
                lambda code=code: self._has_framework(code, PROVINCE)))
        self.say(f"    ✓ reached all 6 offices below, verified by each (slowest "
                 f"{max(secs):.2f}s)")

        self.step("盟市制定规划", "cities build their plans on it, check and publish; each "
                  "files with the province and releases to its counties")
        for code, released in ((ORDOS, -25), (HOHHOT, -20)):
            doc = await self.framework_doc(code, PROVINCE)
            tight = [dict(i, target=10) if i["code"] == MMR else i for i in doc["indicators"]]
            doc = {**doc, "indicators": tight}
            cpid = await self.draft_to_approved(code, doc, f"{self.name(code)}妇女发展规划")
            check = await self.as_(code, "editor", "GET", f"/api/v1/plans/{cpid}/check")
            self.say(f"    {code} {self.name(code)} check: "
                     f"{'✓ no lowered standard' if check['ok'] else check['findings']}")
            await self.publish(code, cpid, self.day(released))
            self.say(f"    {code} filed with the province: {await self.sent_outcome(code, 1)}")

        self.step("旗县区制定规划", "counties draft, check, publish and file; one files late, "
                  "one lowers a target and is returned")
        for code, released in ((KANGBASHI, -10), (XINCHENG, -45), (HUIMIN, -5)):
            doc = await self.framework_doc(code, self.c.members[code].parent or "")
            cpid = await self.draft_to_approved(code, doc, f"{self.name(code)}妇女发展规划")
            await self.publish(code, cpid, self.day(released))
            outcome = await self.sent_outcome(code, 1)
            self.say(f"    {code} {self.name(code)} released {self.day(released)}: {outcome}")
        doc = await self.framework_doc(DONGSHENG, ORDOS)
        weak = {**doc, "indicators": [dict(i, target=15) if i["code"] == MMR else i
                                      for i in doc["indicators"]]}
        dpid = await self.draft_to_approved(DONGSHENG, weak, "东胜区妇女发展规划")
        check = await self.as_(DONGSHENG, "editor", "GET", f"/api/v1/plans/{dpid}/check")
        f0 = check["findings"][0]
        self.say(f"    {DONGSHENG} 东胜区 check: ✗ {f0['indicator']} {f0['name']} "
                 f"{f0['local_target']} weaker than {f0['ancestor_name']} {f0['ancestor_target']}")
        await self.publish(DONGSHENG, dpid, self.day(-25), override="东胜区基数较高，拟分两步达标")
        self.say(f"    {DONGSHENG} published over the finding (admin override); the city: "
                 f"{await self.sent_outcome(DONGSHENG, 1)}")
        await self.as_(DONGSHENG, "editor", "POST", f"/api/v1/plans/{dpid}/revise")
        await self.as_(DONGSHENG, "editor", "PUT", f"/api/v1/plans/{dpid}/document", json=doc)
        await self.draft_to_approved(DONGSHENG, None, "")
        await self.publish(DONGSHENG, dpid, self.day(-2))
        self.say(f"    {DONGSHENG} fixed the target and refiled: "
                 f"{await self.sent_outcome(DONGSHENG, 2)}")

        self.step("年度报告", "annual reports for 2024 and 2025: member units enter, offices file; "
                  "回民区 has not filed 2025 yet")
        self.say("    (the demo runs today, so every 2024 report arrives after its due date "
                 "2025-12-31 and the audit shows it late; 2025 reports are due 2026-12-31)")
        series: dict[str, list[tuple[int, int] | None]] = {
            KANGBASHI: [(1, 9_800), (1, 10_100)], DONGSHENG: [(2, 21_000), (1, 20_500)],
            XINCHENG: [(1, 12_000), (2, 11_800)], HUIMIN: [(1, 9_000), None]}
        for i, year in enumerate((2024, 2025)):
            for code, vals in series.items():
                v = vals[i]
                if v is not None:
                    await self.report(code, year, *v)
        await self.received(ORDOS, 4)
        await self.received(HOHHOT, 3)

        self.step("盟市汇总上报", "cities compile their counties' figures (ratio of sums) and file")
        for code in (ORDOS, HOHHOT):
            for year in (2024, 2025):
                await self.as_(code, "editor", "POST", f"/api/v1/reports/women/{year}/compile")
                await self.as_(code, "director", "POST", f"/api/v1/reports/women/{year}/file")
        await self.received(PROVINCE, 4)

        self.step("自治区汇总与预警", "the province aggregates, drills down and warns")
        agg = await self.as_(PROVINCE, "admin", "GET", "/api/v1/aggregates/women/2025")
        drill = await self.as_(PROVINCE, "admin", "GET",
                               f"/api/v1/aggregates/women/2025?under={HOHHOT}")
        warnings = await self.as_(PROVINCE, "admin", "GET", "/api/v1/warnings/women")

        self.step("及时性督查", "the province's timeliness audit of its whole subtree")
        audit = await self.as_(PROVINCE, "admin", "GET",
                               "/api/v1/audit/timeliness?from_year=2024")
        extra: dict[str, Any] = {}
        if self.national:
            self.step("全国汇总与督查", "the national node: the aggregate across provinces and "
                      "the audit of the whole country")
            await self.as_(PROVINCE, "editor", "POST", "/api/v1/reports/women/2025/compile")
            await self.as_(PROVINCE, "director", "POST", "/api/v1/reports/women/2025/file")
            await self.received(NATIONAL, 1)
            nagg = await self.as_(NATIONAL, "admin", "GET", "/api/v1/aggregates/women/2025")
            naudit = await self.as_(NATIONAL, "admin", "GET",
                                    "/api/v1/audit/timeliness?from_year=2025")
            extra = {"national_aggregate_2025": [a for a in nagg if a["code"] == MMR],
                     "national_audit_by_level": naudit["by_level"],
                     "national_audit_provinces": sorted(
                         {r["code"] for r in naudit["rows"] if r["level"] == "province"})}
            (a,) = extra["national_aggregate_2025"]
            self.say(f"    national coverage {a['coverage']}; provinces expected "
                     f"{len(extra['national_audit_provinces'])}, the others 未接入")
        self.step("完成", "done")
        return {**extra, "nodes": [{"code": m.code, "name": m.name, "level": m.level, "url": m.url,
                           "parent": m.parent} for m in self.c.members.values()],
                "aggregate_2025": [a for a in agg if a["code"] == MMR],
                "drilldown_2025_hohhot": [a for a in drill if a["code"] == MMR],
                "warnings": warnings, "audit": audit, "consoles": self.consoles(),
                "seconds": round(time.monotonic() - self.t0, 1)}

    async def _has_framework(self, code: str, origin: str) -> bool:
        fws = await self.as_(code, "admin", "GET", "/api/v1/frameworks")
        return any(f["origin"] == origin for f in fws)


def print_summary(s: dict[str, Any]) -> None:
    print("\n节点 nodes — where each office listens:")
    for n in s["nodes"]:
        print(f"  {n['code']} {n['name']:<7} {n['level']:<8} {n['url']}")
    (a,) = s["aggregate_2025"]
    print(f"\n汇总 2025 aggregate at the province, {a['name']} ({a['unit']}): "
          f"{a['value']:.2f}  = {a['numerator']:g} / {a['denominator']:g}, coverage "
          f"{a['coverage']}")
    (d,) = s["drilldown_2025_hohhot"]
    kids = ", ".join(f"{k}: {'missing 未报' if v is None else f'{v:.2f}'}"
                     for k, v in d["children"].items())
    print(f"  drill-down 呼和浩特市: {kids} (coverage {d['coverage']})")
    print("\n预警 early warnings:")
    for w in s["warnings"] or []:
        print(f"  [{w['scope']}] {w['code']} {w['name']} {w['kind']}: {w['detail']}")
    if not s["warnings"]:
        print("  (none)")
    print("\n及时性督查 timeliness audit (province, whole subtree):")
    print(f"  {'单位 node':<18}{'事项 filing':<22}{'截止 due':<12}{'接收 received (UTC)':<22}"
          f"{'状态 status':<12}{'逾期 late'}")
    for r in s["audit"]["rows"]:
        print(f"  {r['code']} {r['name']:<11}{r['filing']:<22}{r['due_on'] or '-':<12}"
              f"{(r['received_at'] or '-')[:19]:<22}{r['status']:<12}"
              f"{r['late_days'] if r['late_days'] is not None else '-'}")
    print("\n  按层级 by level:")

    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    for r in s["audit"]["by_level"]:
        print(f"  {r['group']:<9} expected {r['expected']:>2}  due {r['due']:>2}  on time "
              f"{r['on_time']:>2}  late {r['late']}  returned {r['returned']}  overdue "
              f"{r['overdue']}  on-time rate {rate(r['on_time_rate'])}  reporting rate "
              f"{rate(r['reporting_rate'])}")
    print("\n控制台 consoles — open one in a browser (with --keep), sign in as:")
    for n in s["consoles"]:
        who = ", ".join(f"{u['name']} ({u['role']})" for u in n["users"])
        print(f"  {n['code']} {n['name']:<7} {n['url']:<26} {who}")
    print(f"  password of every demo user 演示密码: {s['consoles'][0]['users'][0]['password']}")
    print(f"\n完成 done in {s['seconds']} s.")


async def run_demo(*, keep: bool, as_json: bool, workdir: Path | None,
                   national: bool = False) -> dict[str, Any]:
    base = workdir or Path(tempfile.mkdtemp(prefix="plansync-demo-"))
    quiet = as_json

    def progress(i: int, n: int, what: str) -> None:
        if not quiet:
            print(f"    [{i}/{n}] {what}", flush=True)

    if not quiet:
        print(f"启动 starting {len(TREE) + national} offices as separate `plansync serve` "
              f"processes in {base}")
    tree = [NATIONAL, *TREE] if national else TREE
    cluster = await ProcessCluster.create(base, tree, progress=progress)
    try:
        await cluster.start_all(progress=progress)
        if not quiet:
            print("入网 enrolling every office with its parent (one-time tokens)")
        await cluster.enrol_all(progress=progress)
        summary = await Demo(cluster, quiet, national).run()
        summary["workdir"] = str(base)
        if as_json:
            print(json.dumps(summary, ensure_ascii=False, indent=2))
        else:
            print_summary(summary)
        return summary
    finally:
        if keep:
            cluster.save()  # `plansync cluster status|down --dir` find it
            if not quiet:
                print(f"\n--keep: the processes keep running; stop them and remove their data "
                      f"with: plansync cluster down --dir {base} --purge")
        else:
            cluster.stop_all()
            if workdir is None:
                shutil.rmtree(base, ignore_errors=True)


