"""The FastAPI application of one node: wiring, lifespan, one error handler, middleware."""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import generate_latest

from node import __version__
from node.api_schemas import (
    Health,
    Readiness,
)
from node.config import NodeConfig, Settings
from node.db import SchemaBehind, ensure_current, transaction
from node.deps import clean_input, enrol_guard
from node.errors import NodeError, Unauthenticated
from node.ops.logs import node_code, request_id
from node.runtime import NodeRuntime
from node.schema_types import resolve_named
from node.wiring import build_registry
from sync import ErrorCode, Rejected

log = logging.getLogger("plansync.app")

_REJECT_STATUS = {
    ErrorCode.token_invalid: 403, ErrorCode.token_expired: 403, ErrorCode.token_used: 403,
    ErrorCode.unauthenticated_node: 401, ErrorCode.id_conflict: 409,
    ErrorCode.body_too_large: 413, ErrorCode.batch_too_large: 413,
}
ERROR_SCHEMA = {  # every error answer: node errors, protocol rejections, invalid requests
    "title": "Error", "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "pointer": {"type": "string"}}}},
}


def _validation_message(exc: RequestValidationError) -> str:
    """``query.year: Input should be less than or equal to 2030; body.title: …``"""
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "") or "request"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    more = len(exc.errors()) - len(parts)
    return ("请求参数无效 invalid request: " + "; ".join(parts)
            + (f" (and {more} more)" if more > 0 else ""))


def _document(schema: dict[str, Any]) -> None:
    """What the OpenAPI document adds to FastAPI's: the common Error schema, answered as 400
    for invalid requests by every operation (FastAPI would document its default 422; every
    route checks its path and query for NUL characters, node.deps), and the schemas that
    models refer to by name (the plan document, the protocol's envelope, request bodies the
    protocol endpoints read themselves)."""
    from node.plans import schemas as plan_schemas
    from node.protocol import schemas as sync_schemas

    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps["Error"] = ERROR_SCHEMA
    for name, component in {**plan_schemas.components(), **sync_schemas.components()}.items():
        comps.setdefault(name, component)
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            responses = op.get("responses") if isinstance(op, dict) else None
            if responses is None:
                continue
            responses.pop("422", None)
            responses["400"] = {"description": "请求无效 Invalid request", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            op["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        comps.pop(name, None)
    schema["components"]["schemas"] = dict(sorted(comps.items()))
    schema.update(resolve_named(schema))


def create_app(
    cfg: NodeConfig,
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    dispatch: bool = True,
) -> FastAPI:
    """Build a node app. ``transport`` lets tests connect nodes in-process (ASGITransport)."""
    settings = settings or Settings()
    registry = build_registry()  # what each envelope type does here, from every domain
    from node.protocol import keytrust

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from node.delivery.dispatch import ArqDispatcher, Dispatcher, InProcessDispatcher
        from node.protocol.directory import ensure_self

        rt = NodeRuntime.open(cfg, settings, transport=transport)
        try:
            await ensure_current(rt.engine)
            from node.protocol.keys import finish_pending_rotation

            for note in await finish_pending_rotation(rt):
                log.warning("key rotation left over: %s", note)
            async with transaction(rt.sessions) as session:
                await ensure_self(session, cfg, rt.signer)
            if dispatch:
                disp: Dispatcher = (ArqDispatcher(rt, cfg.redis_url) if cfg.redis_url
                                    else InProcessDispatcher(rt, registry))
                await disp.start()
                rt.dispatcher = disp
        except BaseException:
            await rt.close()
            raise
        app.state.rt = rt
        checker = keytrust.start_loop(rt)
        from node.reminders import service as reminders

        reminder_loop = reminders.start_loop(rt)  # the daily digest (docs/operations.md)
        log.info("node started", extra={"code": cfg.code, "node_level": cfg.level.value,
                                         "delivery": "arq" if cfg.redis_url else "in-process"})
        try:
            yield
        finally:
            await keytrust.stop_loop(checker)
            await reminders.stop_loop(reminder_loop)
            await rt.close()

    # every route: no NUL characters in path or query, strict JSON API bodies (node.deps)
    app = FastAPI(title=f"plansync node {cfg.code} {cfg.name}", version=__version__,
                  lifespan=lifespan, dependencies=[Depends(clean_input)],
                  docs_url=None, redoc_url=None,  # /docs is served by node.console
                  description="One office's node: the office API (/api/v1, API tokens) and "
                  "the node-to-node protocol (/sync/v1, signed envelopes; docs/protocol.md).",
                  # operation ids are the endpoint functions' names (unique; tests check)
                  generate_unique_id_function=lambda route: route.name)
    app.state.registry = registry
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document(base_openapi())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(NodeError)
    async def _node_error(_: Request, exc: NodeError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}},
                            status_code=exc.status, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": {"code": "invalid_request",
                                       "message": _validation_message(exc)}}, status_code=400)

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected) -> JSONResponse:
        log.warning("request rejected", extra={"code": exc.code.value, "detail": exc.message,
                                               "path": request.url.path})
        rt: NodeRuntime | None = getattr(request.app.state, "rt", None)
        if rt is not None:
            rt.metrics.rejections.labels(exc.code.value).inc()
        return JSONResponse({"error": exc.as_dict()}, status_code=_REJECT_STATUS.get(exc.code, 400))

    @app.middleware("http")
    async def _observe(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        t_rid, t_node = request_id.set(rid), node_code.set(cfg.code)
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = rid
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            rt: NodeRuntime | None = getattr(request.app.state, "rt", None)
            if rt is not None:
                rt.metrics.requests.labels(request.method, path, str(status)).inc()
                rt.metrics.latency.labels(request.method, path).observe(
                    time.perf_counter() - start)
            log.info("request", extra={"method": request.method, "path": request.url.path,
                                       "status": status,
                                       "ms": round((time.perf_counter() - start) * 1000, 1)})
            request_id.reset(t_rid)
            node_code.reset(t_node)

    @app.get("/healthz", tags=["ops"], summary="存活 The process is alive",
             response_model=Health)
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="就绪 Ready to serve", response_model=None,
             responses={200: {"model": Readiness, "description": "ready"},
                        503: {"model": Readiness, "description": "not ready: see checks"}})
    async def readyz(request: Request) -> JSONResponse:
        """The database is reachable and migrated; Redis is reachable when configured."""
        rt: NodeRuntime = request.app.state.rt
        checks: dict[str, str] = {}
        try:
            await ensure_current(rt.engine)
            checks["database"] = "ok"
        except SchemaBehind as e:
            checks["database"] = str(e)
        except Exception as e:  # unreachable database
            checks["database"] = f"unreachable: {type(e).__name__}: {e}"
        if cfg.redis_url:
            try:
                from redis.asyncio import Redis

                r = Redis.from_url(cfg.redis_url)
                try:
                    await r.ping()
                finally:
                    await r.aclose()
                checks["redis"] = "ok"
            except Exception as e:
                checks["redis"] = f"unreachable: {type(e).__name__}: {e}"
        ok = all(v == "ok" for v in checks.values())
        # alarms do not make the node unready (it must keep serving), they ask for a person
        alarms = {"key_transparency": keytrust.parse_state(rt.extra.get(keytrust.STATE_KEY))}
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks,
                             "alarms": alarms}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], summary="监控指标 Prometheus metrics",
             response_class=PlainTextResponse, responses={200: {
                 "description": "Prometheus text exposition format",
                 "content": {"text/plain": {"schema": {"type": "string"}}}},
                 401: {"description": "PLANSYNC_METRICS_TOKEN is set and the request does "
                       "not carry it", "content": {"application/json": {
                           "schema": {"$ref": "#/components/schemas/Error"}}}}})
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format: requests, latencies, envelopes, outbox depth and age.
        With ``PLANSYNC_METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
        from node.delivery.deliver import outbox_stats

        if settings.metrics_token is not None:  # compared in constant time
            sent = request.headers.get("authorization", "").encode()
            expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
            if not hmac.compare_digest(sent, expected):
                raise Unauthenticated(
                    "监控指标需要令牌 /metrics needs the token: send `Authorization: Bearer "
                    "<PLANSYNC_METRICS_TOKEN>` (Prometheus: authorization.credentials)",
                    code="metrics_token_required", headers={"WWW-Authenticate": "Bearer"})
        rt: NodeRuntime = request.app.state.rt
        counts, age = await outbox_stats(rt)
        for status in ("pending", "delivered", "dead"):
            rt.metrics.outbox_depth.labels(status).set(counts.get(status, 0))
        rt.metrics.outbox_oldest.set(age)
        return PlainTextResponse(generate_latest(rt.metrics.registry).decode(),
                                 media_type="text/plain; version=0.0.4")

    from node.api import router as api_router
    from node.evaluations.endpoints import router as evaluations_router
    from node.filings.endpoints import router as filings_router
    from node.oversight.endpoints import router as oversight_router
    from node.plans.endpoints import router as plans_router
    from node.protocol.endpoints import router as sync_router
    from node.reports.endpoints import router as reports_router
    from node.units.endpoints import router as units_router

    # POST /sync/v1/enroll: per-address limit on unknown enrolment tokens (node.deps)
    app.include_router(sync_router, dependencies=[Depends(enrol_guard, scope="function")])
    app.include_router(api_router)
    app.include_router(plans_router)
    app.include_router(reports_router)
    app.include_router(filings_router)  # after plans': /filings/sent is theirs
    app.include_router(oversight_router)
    from node.reminders.endpoints import router as reminders_router

    app.include_router(reminders_router)
    app.include_router(units_router)
    app.include_router(evaluations_router)
    from node import console

    console.mount(app, settings)  # /docs and the web console; its catch-all comes last
    return app
