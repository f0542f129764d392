from __future__ import annotations

import json

from tests.procs import run_cli


def test_demo_runs_a_real_hierarchy_and_stops() -> None:
    p = run_cli("demo", "--json", timeout=240)
    summary = json.loads(p.stdout)
    assert [n["code"] for n in summary["nodes"]] == ["150000", "150600", "150603", "150602",
                                                     "150100", "150102", "150103"]
    assert {s["step"] for s in summary["steps"]} == {
        "province key rotation reaches all 6 nodes",
        "county key rotation reaches city and province"}
    import httpx

    for n in summary["nodes"]:  # processes were stopped
        try:
            httpx.get(n["url"] + "/healthz", timeout=0.5)
        except httpx.HTTPError:
            continue
        raise AssertionError(f"{n['code']} still running after the demo")
