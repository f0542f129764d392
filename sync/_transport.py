"""Node-to-node HTTP transport (httpx), request signatures and retry backoff."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from ._errors import ErrorCode, PeerRejected, Rejected, TransportError
from ._ids import format_ts, parse_ts, utcnow
from ._json import loads
from ._keys import Signer, verify_signature

HDR_NODE = "X-Plansync-Node"
HDR_KEY = "X-Plansync-Key"
HDR_DATE = "X-Plansync-Date"
HDR_SIG = "X-Plansync-Signature"


def _request_bytes(method: str, target: str, date: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{target}\n{date}\n{digest}".encode()


def sign_request(
    signer: Signer, code: str, method: str, target: str, body: bytes = b""
) -> dict[str, str]:
    """Headers that authenticate a node-to-node request (target = path with query)."""
    date = format_ts(utcnow())
    return {
        HDR_NODE: code,
        HDR_KEY: signer.key_id,
        HDR_DATE: date,
        HDR_SIG: signer.sign(_request_bytes(method, target, date, body)),
    }


def verify_request(
    headers: dict[str, str],
    method: str,
    target: str,
    body: bytes,
    public_key_for: Any,
    max_skew: timedelta,
    now: datetime | None = None,
) -> str:
    """Check request-signature headers; return the calling node's code or raise Rejected.

    ``public_key_for(code, key_id)`` returns the public key (base64url) or None.
    """
    try:
        code, key_id, date, sig = (
            headers[HDR_NODE], headers[HDR_KEY], headers[HDR_DATE], headers[HDR_SIG]
        )
        ts = parse_ts(date)
    except (KeyError, ValueError):
        raise Rejected(ErrorCode.unauthenticated_node, "missing or malformed request signature "
                       f"headers ({HDR_NODE}, {HDR_KEY}, {HDR_DATE}, {HDR_SIG})") from None
    now = now or utcnow()
    if abs(now - ts) > max_skew:
        raise Rejected(ErrorCode.unauthenticated_node,
                       f"request date {date} is too far from this node's clock")
    pub = public_key_for(code, key_id)
    if pub is None:
        raise Rejected(ErrorCode.unauthenticated_node, f"node {code} key {key_id} is not known")
    if not verify_signature(pub, sig, _request_bytes(method, target, date, body)):
        raise Rejected(ErrorCode.unauthenticated_node, f"request signature of {code} is invalid")
    return str(code)


def backoff(attempt: int, *, base: float = 1.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 30))))


class SyncClient:
    """Calls another node's /sync/v1 API. Transient failures raise TransportError."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _call(self, method: str, url: str, **kw: Any) -> Any:
        try:
            resp = await self.http.request(method, url, **kw)
        except httpx.HTTPError as e:
            raise TransportError(f"{method} {url}: {type(e).__name__}: {e}") from e
        if resp.status_code >= 500:
            raise TransportError(f"{method} {url}: HTTP {resp.status_code}")
        if resp.status_code >= 400:
            try:
                err = resp.json().get("error", {})
            except ValueError:
                err = {}
            raise PeerRejected(resp.status_code, str(err.get("code", "http_error")),
                               str(err.get("message", resp.text[:200])))
        try:
            return loads(resp.content, what=f"answer of {method} {url}")
        except Rejected as e:
            raise TransportError(e.message) from None

    async def identity(self, base_url: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", f"{base_url}/sync/v1/identity")
        return data

    async def push(
        self, base_url: str, envelopes: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """POST a batch; return one result per envelope, in order."""
        data = await self._call("POST", f"{base_url}/sync/v1/envelopes",
                                json={"envelopes": list(envelopes)})
        results: list[dict[str, Any]] = data["results"]
        if len(results) != len(envelopes):
            raise TransportError("peer answered a different number of results than sent")
        return results

    async def pull(
        self, base_url: str, *, signer: Signer, code: str, after: int, limit: int = 500,
        epoch: str | None = None,
    ) -> dict[str, Any]:
        target = f"/sync/v1/feed?after={after}&limit={limit}"
        if epoch:  # the puller's own epoch: signed with the rest of the request
            target += f"&epoch={epoch}"
        headers = sign_request(signer, code, "GET", target)
        data: dict[str, Any] = await self._call("GET", f"{base_url}{target}", headers=headers)
        return data

    async def attest(self, base_url: str, *, subject: str, nonce: str, signer: Signer,
                     code: str) -> list[Any]:
        """Signed statements of the keys the node at ``base_url`` and its ancestors hold for
        ``subject`` (key transparency). The request is signed by the asking child ``code``."""
        target = "/sync/v1/attest"
        body = json.dumps({"subject": subject, "nonce": nonce}).encode()
        headers = {**sign_request(signer, code, "POST", target, body),
                   "content-type": "application/json"}
        data = await self._call("POST", f"{base_url}{target}", content=body, headers=headers)
        out = data.get("attestations") if isinstance(data, dict) else None
        return out if isinstance(out, list) else []

    async def enroll(self, base_url: str, payload: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("POST", f"{base_url}/sync/v1/enroll", json=payload)
        return data
