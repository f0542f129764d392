"""Schemathesis over the node's own OpenAPI (issue #10): no operation answers 5xx.

The real app runs in the test's event loop (one province node of tests/cluster.py, on SQLite
and on PostgreSQL); Hypothesis drives the cases from a worker thread and every request goes
through httpx.ASGITransport with an admin's API token. Two passes per operation: one with
every parameter generated (positive and negative data, NUL characters included), one with
path parameters fixed to things that exist (the office's plan, a plan kind, a year of the
plan period) so generated bodies reach the services. Bounded (few examples per operation,
derandomized) so that a run takes well under a minute per backend.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from node.auth.service import create_user, issue_token
from node.db import transaction
from node.plans import service
from node.plans.sheets import load_file
from tests.cluster import cluster
from tests.conftest import DbFactory
from tests.paths import SAMPLE

ONE = [("150000", "内蒙古自治区", "province", None)]
# per operation and pass; PLANSYNC_FUZZ_EXAMPLES=200 for a deeper run by hand
EXAMPLES = int(os.environ.get("PLANSYNC_FUZZ_EXAMPLES", "15"))
# path parameters that exist on the node, for the second pass
KNOWN = {"plan_id": "150000-women", "kind": "women", "year": 2024, "step": "consultation"}


def _params(raw: Any) -> Any:
    """Query parameters as httpx takes them (schemathesis may generate nested values)."""
    if not isinstance(raw, dict):
        return raw

    def one(v: Any) -> Any:
        if v is None or isinstance(v, str | int | float | bool):
            return v
        return json.dumps(v, ensure_ascii=False)

    return {str(k): [one(x) for x in v] if isinstance(v, list) else one(v)
            for k, v in raw.items()}


def _request(kw: dict[str, Any], token: str) -> dict[str, Any]:
    headers = {str(k): str(v) for k, v in (kw.get("headers") or {}).items()
               if k.lower() not in ("connection", "accept-encoding")}
    headers["Authorization"] = f"Bearer {token}"
    out: dict[str, Any] = {"method": kw["method"], "url": kw["url"], "headers": headers,
                           "params": _params(kw.get("params"))}
    if "json" in kw:
        out["content"] = json.dumps(kw["json"], ensure_ascii=False, allow_nan=False)
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(kw.get("data"), str | bytes):
        out["content"] = kw["data"]
    elif isinstance(kw.get("data"), dict):
        out["data"] = kw["data"]
    if kw.get("files"):  # multipart/form-data (the plan import); httpx sends text or bytes
        out["files"] = [(name, (None, v if isinstance(v, str | bytes) else json.dumps(v))
                         if part[0] is None else part)
                        for name, part in kw["files"] for v in [part[1]]]
    return out


def _fuzz(schema_doc: dict[str, Any], loop: asyncio.AbstractEventLoop,
          client: httpx.AsyncClient, token: str) -> tuple[list[str], dict[str, int]]:
    """Runs in a worker thread; requests run on the app's loop. Returns the 5xx seen and
    answers with a status the operation does not document, and how often each operation
    answered each status."""
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_dict(schema_doc)
    failures: list[str] = []
    seen: dict[str, int] = {}

    def send(case: Any) -> None:
        kw = case.as_transport_kwargs(base_url="http://n150000.test")
        try:
            req = _request(kw, token)
            request = client.build_request(**req)
        except (httpx.InvalidURL, UnicodeEncodeError, TypeError, ValueError):
            return  # not representable as an HTTP request (header or URL not encodable)
        fut = asyncio.run_coroutine_threadsafe(client.send(request), loop)
        try:
            resp = fut.result(timeout=60)
            status, text = resp.status_code, resp.text[:300]
        except Exception as e:  # the app raised: a real server answers 500
            status, text = 500, f"{type(e).__name__}: {str(e)[:300]}"
        key = f"{case.method} {case.path} {status}"
        seen[key] = seen.get(key, 0) + 1
        documented = schema_doc["paths"][case.path][case.method.lower()]["responses"]
        if (status >= 500 or str(status) not in documented) and len(failures) < 40:
            failures.append(f"{status} {case.method} {request.url} "
                            f"body={req.get('content')!r:.300} -> {text}")

    cfg = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=list(HealthCheck))
    for result in schema.get_all_operations():
        op = result.ok()
        names = {p.name for p in op.path_parameters}
        fixed = {k: v for k, v in KNOWN.items() if k in names}
        passes: list[tuple[GenerationMode, dict[str, Any] | None]] = [
            (GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if fixed:
            passes.append((GenerationMode.POSITIVE, fixed))
        for mode, path_params in passes:
            strategy = op.as_strategy(mode, path_parameters=path_params)
            try:
                cfg(given(strategy)(send))()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                pass
    if os.environ.get("PLANSYNC_FUZZ_STATS"):
        print("\n".join(f"{n:5d}  {k}" for k, n in sorted(seen.items())))
    return failures, seen


# bounded by EXAMPLES per operation, not by time; the operations grow with every domain, and on
# a loaded 2-core machine one backend's pass has taken 115 s, so it gets more than the default
@pytest.mark.timeout(360)
async def test_no_operation_answers_5xx(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c:
        rt = c.rt("150000")
        async with transaction(rt.sessions) as s:
            admin = await create_user(session=s, name="fuzz", role="admin", password=None,
                                      actor="test")
            token = await issue_token(session=s, user=admin, label="fuzz", actor="test")
            await service.create_plan(session=s, code="150000", kind="women", title="规划",
                                      document=load_file(SAMPLE, "women"), actor="test")
        schema_doc = c.apps["150000"].openapi()
        async with c.client("150000") as client:
            failures, seen = await asyncio.to_thread(
                _fuzz, schema_doc, asyncio.get_running_loop(), client, token)
    assert not failures, "server errors or undocumented answers:\n" + "\n".join(failures)
    # generated bodies got past the parsers: envelopes were read and answered one by one,
    # enrolment tokens looked up, and a plan imported from JSON and from a multipart upload
    for reached in ("POST /sync/v1/envelopes 200", "POST /sync/v1/enroll 403"):
        assert seen.get(reached), (reached, sorted(seen))
