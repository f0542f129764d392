"""The README's main command: a real hierarchy of processes doing the real job."""

from __future__ import annotations

import json
import os

import httpx

from tests.procs import run_cli


def test_demo_runs_the_scenario_on_real_processes_and_stops() -> None:
    p = run_cli("demo", "--json", timeout=400)
    s = json.loads(p.stdout)
    assert [n["code"] for n in s["nodes"]] == ["150000", "150600", "150603", "150602",
                                               "150100", "150102", "150103"]
    rows = {(r["code"], r["filing"]): r for r in s["audit"]["rows"]}
    assert rows[("150102", "plan.women")]["status"] == "late"  # released 45 days ago
    assert rows[("150102", "plan.women")]["late_days"] >= 13
    assert rows[("150603", "plan.women")]["status"] == "on_time"
    assert rows[("150602", "plan.women")]["status"] == "on_time"  # returned, refiled in time
    assert rows[("150103", "report.women.2025")]["status"] == "pending"
    for r in s["audit"]["by_level"]:
        assert 0 <= r["on_time_rate"] <= 1 and 0 <= r["reporting_rate"] <= 1
    (agg,) = s["aggregate_2025"]
    assert agg["coverage"] == "2/12" and agg["numerator"] == 4
    (drill,) = s["drilldown_2025_hohhot"]
    assert drill["children"]["150103"] is None and drill["coverage"] == "1/9"
    assert any(w["scope"] == "150102" and w["kind"] == "off_target" for w in s["warnings"])
    consoles = {n["code"]: n for n in s["consoles"]}
    assert list(consoles) == [n["code"] for n in s["nodes"]]
    assert {u["role"] for u in consoles["150000"]["users"]} == {
        "admin", "editor", "reviewer", "member_unit", "auditor"}
    assert consoles["150602"]["url"] == next(n["url"] for n in s["nodes"]
                                             if n["code"] == "150602") + "/"
    for n in s["nodes"]:  # processes were stopped
        try:
            httpx.get(n["url"] + "/healthz", timeout=0.5)
        except httpx.HTTPError:
            continue
        raise AssertionError(f"{n['code']} still running after the demo")


def test_demo_keep_leaves_consoles_to_sign_in_to(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "d"
    s = json.loads(run_cli("demo", "--json", "--keep", "--workdir", str(base),
                           timeout=400).stdout)
    try:
        county = next(n for n in s["consoles"] if n["code"] == "150602")
        director = next(u for u in county["users"] if u["role"] == "reviewer")
        with httpx.Client(base_url=county["url"], timeout=10) as cl:
            r = cl.post("/api/v1/auth/login", json={"name": director["name"],
                                                    "password": director["password"]})
            assert r.status_code == 200 and r.json()["node"]["code"] == "150602"
            me = cl.get("/api/v1/me").json()  # the session cookie signs the browser in
            assert me["role"] == "reviewer" and "plans.approve" in me["permissions"]
            assert cl.get("/").status_code == 200
        assert run_cli("cluster", "status", "--dir", str(base)).stdout.count(" ready") == 7
    finally:
        run_cli("cluster", "down", "--dir", str(base), "--purge")
    assert not base.exists()


def test_cluster_up_status_down(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "c"
    out = run_cli("cluster", "up", "--root", "150600", "--depth", "1", "--children", "2",
                  "--dir", str(base), timeout=240)
    assert "cluster up: 4 nodes" in out.stdout  # with the province above the city
    try:
        status = run_cli("cluster", "status", "--dir", str(base)).stdout
        assert status.count(" ready") == 4 and "150000" in status
        again = run_cli("cluster", "up", "--root", "150600", "--dir", str(base), check=False)
        assert again.returncode == 2 and "already holds a cluster" in again.stderr
    finally:
        run_cli("cluster", "down", "--dir", str(base), "--purge")
    assert not base.exists()


async def test_failed_start_stops_every_process_it_started(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A node that cannot come up (its port is taken by something else) fails the start with
    a message, and the nodes already started are stopped, not left running."""
    import socket

    import pytest

    from node.lab.harness import ProcessCluster

    c = await ProcessCluster.create(tmp_path / "c", ["150000", "150600"])
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", c.members["150600"].port))
    squatter.listen()
    try:
        with pytest.raises(RuntimeError, match="150600"):
            await c.start_all(ready_timeout=60)
    finally:
        squatter.close()
    assert c._procs == {}
    for pid in (c.members["150000"].pid, c.members["150600"].pid):
        assert pid is not None
        with pytest.raises(ChildProcessError):  # already reaped: stopped and waited for
            os.waitpid(pid, os.WNOHANG)
    with pytest.raises(httpx.HTTPError):
        httpx.get(c.members["150000"].url + "/healthz", timeout=1)
