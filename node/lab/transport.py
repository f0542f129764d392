"""One httpx transport that connects in-process nodes by host name (the simulation and the
tests' in-process cluster)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


class RoutingTransport(httpx.AsyncBaseTransport):
    """Routes requests to in-process node apps (httpx.ASGITransport) by host name.

    Hosts can be taken ``offline`` (connection refused), or made to ``lose_response``: the
    request is delivered and handled, then the connection fails before the answer arrives (a
    crash mid-way). With ``raise_app_exceptions=False`` (the default) an app's unhandled
    error becomes a 500 response, as from a real server, not an exception raised into the
    calling node's code; tests pass True to see such errors where they happen.
    """

    def __init__(self, *, raise_app_exceptions: bool = False) -> None:
        self.apps: dict[str, httpx.ASGITransport] = {}
        self.offline: set[str] = set()
        self.lose_response: set[str] = set()
        self.raise_app_exceptions = raise_app_exceptions

    def add(self, host: str, app: FastAPI) -> None:
        self.apps[host] = httpx.ASGITransport(app=app,
                                              raise_app_exceptions=self.raise_app_exceptions)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.offline or host not in self.apps:
            raise httpx.ConnectError(f"{host} is offline", request=request)
        resp = await self.apps[host].handle_async_request(request)
        if host in self.lose_response:
            await resp.aread()
            raise httpx.ReadError("connection lost before the response arrived",
                                  request=request)
        return resp
