"""The two ways a digest leaves the node: e-mail over SMTP (aiosmtplib: STARTTLS, SSL or
plain, optional login) and a webhook (a JSON POST, signed with HMAC-SHA256 when a shared
secret is set). Each raises :class:`ChannelError` with a readable reason when it fails."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Plansync-Signature"  # "sha256=<hex of HMAC-SHA256(secret, body)>"


class ChannelError(Exception):
    """A send failed; the message is what the log shows."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send_email(*, host: str, port: int, security: str, user: str, password: str | None,
                     mail_from: str, to: Sequence[str], subject: str, text: str,
                     timeout: float) -> None:
    import aiosmtplib

    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=mail_from.rsplit("@", 1)[-1] or None)
    msg.set_content(text, charset="utf-8")
    try:
        await aiosmtplib.send(
            msg, hostname=host, port=port, timeout=timeout,
            use_tls=security == "ssl", start_tls=True if security == "starttls" else False,
            username=user or None, password=password if user else None)
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError) as e:
        raise ChannelError(f"SMTP {host}:{port} unreachable 无法连接: {e}") from None
    except aiosmtplib.SMTPException as e:
        raise ChannelError(f"SMTP {host}:{port}: {e}") from None
    except OSError as e:
        raise ChannelError(f"SMTP {host}:{port} unreachable 无法连接: {e.strerror or e}") from None


async def send_webhook(*, url: str, secret: str, payload: dict[str, Any],
                       timeout: float) -> None:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": "plansync-reminders"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            r = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as e:
        raise ChannelError(f"webhook {url} unreachable 无法连接: {type(e).__name__}: {e}") from None
    if not 200 <= r.status_code < 300:
        raise ChannelError(f"webhook {url} answered {r.status_code}: {r.text[:200]}")
