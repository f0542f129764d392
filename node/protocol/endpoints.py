"""/sync/v1: the node-to-node protocol endpoints."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from node.deps import get_rt
from node.models import KnownNode, NodeKey
from node.protocol.directory import identity
from node.protocol.enrol import accept_enrolment
from node.protocol.feed import read_feed
from node.protocol.inbox import ingest
from node.runtime import NodeRuntime
from sync import ErrorCode, Rejected, verify_request

router = APIRouter(prefix="/sync/v1", tags=["sync"])


@router.get("/identity")
async def get_identity(rt: NodeRuntime = Depends(get_rt)) -> dict[str, object]:
    """Who this node is: code, name, level, current public key, versions."""
    return identity(rt.cfg, rt.signer)


async def _json_body(request: Request, limit: int) -> Any:
    body = await request.body()
    if len(body) > limit:
        raise Rejected(ErrorCode.body_too_large,
                       f"request is {len(body)} bytes, limit {limit}; send smaller batches")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Rejected(ErrorCode.malformed_json, f"request body is not JSON: {e}") from None


@router.post("/envelopes", response_model=None)
async def post_envelopes(request: Request, rt: NodeRuntime = Depends(get_rt)) -> Response:
    """Receive a batch ``{"envelopes": [...]}``; one result per envelope, in order."""
    s = rt.settings
    doc = await _json_body(request, s.max_body_bytes * 4)
    if not isinstance(doc, dict) or not isinstance(doc.get("envelopes"), list):
        raise Rejected(ErrorCode.malformed_json, 'expected {"envelopes": [...]}')
    envs = doc["envelopes"]
    if len(envs) > s.max_batch:
        raise Rejected(ErrorCode.batch_too_large,
                       f"{len(envs)} envelopes in one batch, limit {s.max_batch}")
    results, targets = await ingest(rt, envs)
    if rt.dispatcher is not None and targets:
        rt.dispatcher.kick(targets)
    # plain JSON: skips FastAPI's per-field encoder on large batches
    return Response(json.dumps({"results": results}, ensure_ascii=False),
                    media_type="application/json")


@router.get("/feed")
async def get_feed(request: Request, after: int = 0, limit: int = 100,
                   rt: NodeRuntime = Depends(get_rt)) -> dict[str, Any]:
    """Envelopes queued for the calling child (request signed with the child's key)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    async with rt.sessions() as session:
        keys = {(k.code, k.key_id): k.public_key for k in (await session.scalars(
            select(NodeKey).join(KnownNode, KnownNode.code == NodeKey.code)
            .where(KnownNode.relation == "child", NodeKey.valid_until.is_(None)))).all()}
    child = verify_request(dict(request.headers.items()) | _canon_headers(request), "GET",
                           target, b"", lambda c, k: keys.get((c, k)),
                           timedelta(seconds=rt.settings.max_clock_skew_seconds))
    return await read_feed(rt, child=child, after=max(0, after), limit=limit)


def _canon_headers(request: Request) -> dict[str, str]:
    from sync._transport import HDR_DATE, HDR_KEY, HDR_NODE, HDR_SIG

    return {h: request.headers.get(h, "") for h in (HDR_NODE, HDR_KEY, HDR_DATE, HDR_SIG)
            if h in request.headers}


@router.post("/enroll")
async def post_enroll(request: Request, rt: NodeRuntime = Depends(get_rt)) -> dict[str, Any]:
    """A child enrols with a one-time token, its code, level, base URL and public key."""
    doc = await _json_body(request, 64_000)
    if not isinstance(doc, dict):
        raise Rejected(ErrorCode.malformed_json, "expected a JSON object")
    answer, targets = await accept_enrolment(rt, doc)
    if rt.dispatcher is not None and targets:
        rt.dispatcher.kick(targets)
    return answer
