"""The web console and the API docs, served by the node itself (no CDN: offices' networks
have no internet).

- ``/`` and every other path that is not the API, the protocol or an ops endpoint: the
  console's ``index.html`` (a single-page app with history routing); ``/assets/*`` its
  hashed, immutable files. Built from ``console/`` (``scripts/build-console``); without a
  build, ``/`` says how to make one and the API keeps working.
- ``/docs``: Swagger UI from the ``swagger-ui-bundle`` package's files.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Scope

from node.config import Settings

DEFAULT_DIST = Path(__file__).resolve().parent.parent / "console" / "dist"
# paths the console never answers: an unknown one there is the API's (or the protocol's) 404
NOT_CONSOLE = ("api/", "sync/", "docs", "openapi.json", "healthz", "readyz", "metrics",
               "assets/", "docs-assets/")
# the console loads nothing from anywhere but this node
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


def console_dir(settings: Settings) -> Path:
    return settings.console_dir or DEFAULT_DIST


def _not_built(dist: Path) -> str:
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>plansync 控制台尚未构建</title></head>
<body style="font-family: sans-serif; max-width: 44em; margin: 3em auto; line-height: 1.6">
<h1>控制台尚未构建 The console is not built</h1>
<p>本节点的接口照常工作（<a href="/docs">/docs</a>）。要使用网页控制台，请在项目目录运行：</p>
<p>The node's API works (<a href="/docs">/docs</a>). To get the web console, run in the
project folder (Node.js ≥ 20 and npm needed once, on any machine):</p>
<pre>./scripts/build-console</pre>
<p>然后重启节点 then restart the node. 构建结果目录 Build folder:
<code>{html.escape(str(dist))}</code> (or set <code>PLANSYNC_CONSOLE_DIR</code>).</p>
</body></html>"""


def mount(app: FastAPI, settings: Settings) -> None:
    """Add /docs and the console to ``app`` (after every API route: the console's catch-all
    must come last)."""
    import swagger_ui_bundle

    dist = console_dir(settings)
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title} — API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png")

    assets = dist / "assets"
    if assets.is_dir():  # compressed for the browsers that ask (county networks are slow)
        app.mount("/assets", GZipMiddleware(_ImmutableFiles(directory=assets),
                                            minimum_size=1024), name="console-assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def console(path: str, request: Request) -> Response:
        if path.startswith(NOT_CONSOLE):
            return JSONResponse({"error": {"code": "not_found",
                                           "message": f"no such path: /{path}"}},
                                status_code=404)
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(_not_built(dist), status_code=200,
                                headers={"Cache-Control": "no-store"})
        # a file of the build's top folder (favicon.ico …); anything else is a console route
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.parent == dist.resolve():
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache",
                                            "Content-Security-Policy": CSP,
                                            "X-Content-Type-Options": "nosniff",
                                            "Referrer-Policy": "same-origin"})


class _ImmutableFiles(StaticFiles):
    """The build's hashed assets: cached for a year (a new build has new names)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        resp = await super().get_response(path, scope)
        if resp.status_code == 200:
            resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return resp
