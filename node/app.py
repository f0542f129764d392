"""The FastAPI application of one node: wiring, lifespan, one error handler, middleware."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import generate_latest

from node import __version__
from node.config import NodeConfig, Settings
from node.db import SchemaBehind, ensure_current, transaction
from node.errors import NodeError
from node.ops.logs import node_code, request_id
from node.runtime import NodeRuntime
from sync import ErrorCode, Rejected

log = logging.getLogger("plansync.app")

_REJECT_STATUS = {
    ErrorCode.token_invalid: 403, ErrorCode.token_expired: 403, ErrorCode.token_used: 403,
    ErrorCode.unauthenticated_node: 401, ErrorCode.id_conflict: 409,
    ErrorCode.body_too_large: 413, ErrorCode.batch_too_large: 413,
}


def create_app(
    cfg: NodeConfig,
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    dispatch: bool = True,
) -> FastAPI:
    """Build a node app. ``transport`` lets tests connect nodes in-process (ASGITransport)."""
    settings = settings or Settings()
    # the envelope handlers register on import: load them now, not on the first envelope
    import node.plans.service  # noqa: F401
    import node.reports.service  # noqa: F401

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from node.delivery.dispatch import ArqDispatcher, Dispatcher, InProcessDispatcher
        from node.protocol.directory import ensure_self

        rt = NodeRuntime.open(cfg, settings, transport=transport)
        try:
            await ensure_current(rt.engine)
            async with transaction(rt.sessions) as session:
                await ensure_self(session, cfg, rt.signer)
            if dispatch:
                disp: Dispatcher = (ArqDispatcher(rt, cfg.redis_url) if cfg.redis_url
                                    else InProcessDispatcher(rt))
                await disp.start()
                rt.dispatcher = disp
        except BaseException:
            await rt.close()
            raise
        app.state.rt = rt
        log.info("node started", extra={"code": cfg.code, "node_level": cfg.level.value,
                                         "delivery": "arq" if cfg.redis_url else "in-process"})
        try:
            yield
        finally:
            await rt.close()

    app = FastAPI(title=f"plansync node {cfg.code} {cfg.name}", version=__version__,
                  lifespan=lifespan)

    @app.exception_handler(NodeError)
    async def _node_error(_: Request, exc: NodeError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}},
                            status_code=exc.status)

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

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
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
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format: requests, latencies, envelopes, outbox depth and age."""
        from node.delivery.deliver import outbox_stats

        rt: NodeRuntime = request.app.state.rt
        counts, age = await outbox_stats(rt)
        for status in ("pending", "delivered", "dead"):
            rt.metrics.outbox_depth.labels(status).set(counts.get(status, 0))
        rt.metrics.outbox_oldest.set(age)
        return PlainTextResponse(generate_latest(rt.metrics.registry).decode(),
                                 media_type="text/plain; version=0.0.4")

    from node.api import router as api_router
    from node.plans.endpoints import router as plans_router
    from node.protocol.endpoints import router as sync_router
    from node.reports.endpoints import router as reports_router

    app.include_router(sync_router)
    app.include_router(api_router)
    app.include_router(plans_router)
    app.include_router(reports_router)
    return app
