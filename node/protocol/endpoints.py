"""/sync/v1: the node-to-node protocol endpoints.

They read their bodies themselves (``_json_body``: size limit first, then strict I-JSON, and
the protocol's error codes), so FastAPI parses nothing: what they take and answer is declared
for the OpenAPI document only (node.protocol.schemas), and what they answer is sent as the
protocol code built it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from node.deps import get_rt
from node.models import KnownNode, NodeKey
from node.protocol.directory import identity
from node.protocol.enrol import accept_enrolment
from node.protocol.feed import read_feed
from node.protocol.inbox import ingest
from node.protocol.schemas import (
    ENVELOPES_BODY,
    SIGNED_REQUEST,
    AttestAnswer,
    AttestRequest,
    EnrolAnswer,
    EnrolRequest,
    EnvelopeResults,
    FeedPage,
    Identity,
    answer,
    model_body,
)
from node.runtime import NodeRuntime
from node.schema_types import errors
from sync import HDR_DATE, HDR_KEY, HDR_NODE, HDR_SIG, ErrorCode, Rejected, loads, verify_request

router = APIRouter(prefix="/sync/v1", tags=["sync"])


@router.get("/identity", summary="本节点身份 This node's identity", response_model=None,
            responses=answer(Identity, "code, name, level, current key, versions"))
async def get_identity(rt: NodeRuntime = Depends(get_rt)) -> dict[str, object]:
    """Who this node is: code, name, level, current public key, versions."""
    return identity(rt.cfg, rt.signer)


async def _json_body(request: Request, limit: int) -> Any:
    body = await request.body()
    if len(body) > limit:
        raise Rejected(ErrorCode.body_too_large,
                       f"request is {len(body)} bytes, limit {limit}; send smaller batches")
    return loads(body)  # I-JSON: no duplicate names, NaN, huge numbers, lone surrogates


@router.post("/envelopes", summary="接收信封 Receive a batch of envelopes", response_model=None,
             openapi_extra=ENVELOPES_BODY,
             responses={**answer(EnvelopeResults, "one result per envelope, in order"),
                        **errors(413, 503)})
async def post_envelopes(request: Request, rt: NodeRuntime = Depends(get_rt)) -> Response:
    """Receive a batch ``{"envelopes": [...]}``; one result per envelope, in order. Each
    envelope is verified completely, stored, applied if it is addressed here, and relayed
    unchanged otherwise; a rejected envelope does not hold up the others (its result says
    why). The batch as a whole is refused only when it is not a batch (400) or too large
    (413)."""
    s = rt.settings
    doc = await _json_body(request, s.max_body_bytes * 4)
    if not isinstance(doc, dict) or not isinstance(doc.get("envelopes"), list):
        raise Rejected(ErrorCode.malformed_json, 'expected {"envelopes": [...]}')
    envs = doc["envelopes"]
    if len(envs) > s.max_batch:
        raise Rejected(ErrorCode.batch_too_large,
                       f"{len(envs)} envelopes in one batch, limit {s.max_batch}")
    results = await ingest(rt, request.app.state.registry, envs)
    # plain JSON: skips FastAPI's per-field encoder on large batches
    return Response(json.dumps({"results": results}, ensure_ascii=False),
                    media_type="application/json")


@router.get("/feed", summary="下行信封 Envelopes queued for the calling child",
            response_model=None, openapi_extra=SIGNED_REQUEST,
            responses={**answer(FeedPage, "the next envelopes after the cursor"),
                       **errors(401)})
async def get_feed(request: Request,
                   after: int = Query(0, ge=0, le=2**63 - 1, description="cursor: last seq read"),
                   limit: int = Query(100, ge=1, le=10_000),
                   epoch: str | None = Query(None, min_length=1, max_length=32,
                                             pattern="^[0-9a-f]+$",
                                             description="the child's own epoch "
                                             "(docs/protocol.md, Restored nodes)"),
                   rt: NodeRuntime = Depends(get_rt)) -> dict[str, Any]:
    """Envelopes queued for the calling child, after its cursor ``after`` (the request is
    signed with the child's key: the X-Plansync-* headers). A child that was offline reads
    here what its parent could not push."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    child = verify_request(dict(request.headers.items()) | _canon_headers(request), "GET",
                           target, b"", await _child_keys(rt),
                           timedelta(seconds=rt.settings.max_clock_skew_seconds))
    return await read_feed(rt, child=child, after=max(0, after), limit=limit, epoch=epoch)


async def _child_keys(rt: NodeRuntime) -> Callable[[str, str], str | None]:
    """The current, active keys of this node's enrolled children (who may sign requests)."""
    async with rt.sessions() as session:
        keys = {(k.code, k.key_id): k.public_key for k in (await session.scalars(
            select(NodeKey).join(KnownNode, KnownNode.code == NodeKey.code)
            .where(KnownNode.relation == "child", NodeKey.valid_until.is_(None),
                   NodeKey.status == "active"))).all()}
    return lambda c, k: keys.get((c, k))


def _canon_headers(request: Request) -> dict[str, str]:
    return {h: request.headers.get(h, "") for h in (HDR_NODE, HDR_KEY, HDR_DATE, HDR_SIG)
            if h in request.headers}


@router.post("/enroll", summary="下级注册 A child enrols", response_model=None,
             openapi_extra=model_body(EnrolRequest, "the one-time token, the child's code, "
                                      "name, level, base URL, public key and proof"),
             responses={**answer(EnrolAnswer, "the parent's identity and the keys of the "
                                 "parent and its ancestors"), **errors(403, 429)})
async def post_enroll(request: Request, rt: NodeRuntime = Depends(get_rt)) -> dict[str, Any]:
    """A child enrols with a one-time token, its code, level, base URL and public key. After
    too many unknown tokens from one address, that address is locked out for a while (429
    too_many_attempts)."""
    doc = await _json_body(request, 64_000)
    if not isinstance(doc, dict):
        raise Rejected(ErrorCode.malformed_json, "expected a JSON object")
    return await accept_enrolment(rt, doc)


@router.post("/attest", summary="密钥证明 Key transparency attestations", response_model=None,
             openapi_extra={**model_body(AttestRequest, "whose keys, and the asker's nonce"),
                            **SIGNED_REQUEST},
             responses={**answer(AttestAnswer, "signed statements, this node's first"),
                        **errors(401)})
async def post_attest(request: Request, rt: NodeRuntime = Depends(get_rt)) -> dict[str, Any]:
    """Key transparency: this node's and its ancestors' signed statements of which keys they
    hold for ``subject``, bound to the asker's ``nonce``. Only an enrolled child may ask (the
    request is signed with its key: the X-Plansync-* headers), and only about itself or a node
    below it."""
    from node.protocol.keytrust import attest

    raw = await request.body()
    if len(raw) > 4_000:
        raise Rejected(ErrorCode.body_too_large, f"request is {len(raw)} bytes, limit 4000")
    child = verify_request(dict(request.headers.items()) | _canon_headers(request), "POST",
                           request.url.path, raw, await _child_keys(rt),
                           timedelta(seconds=rt.settings.max_clock_skew_seconds))
    doc = loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("subject"), str):
        raise Rejected(ErrorCode.malformed_json, 'expected {"subject": CODE, "nonce": TEXT}')
    return {"attestations": await attest(rt, doc["subject"], str(doc.get("nonce", "")),
                                         asker=child)}
