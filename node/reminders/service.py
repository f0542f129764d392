"""Reminders: settings, the digest, and sending it once a day per channel.

What the digest says comes from the rules that already exist, never a copy of them:

- this office's own duties: ``node.workbench.todo`` (the console's to-do list), keeping what
  is overdue and what is due within ``horizon_days`` (its items about the children are left
  to the next part);
- what each direct child owes: ``node.oversight.service.audit_rows`` (the timeliness audit),
  keeping the filings overdue, returned and not refiled, or due within ``horizon_days``.

Sending: at ``send_at`` (the office's time, Beijing time by default) the serve process's
periodic task (``start_loop``) claims the day's send of each enabled channel by inserting
the row (day, channel) of ``reminder_sends`` — a unique key, so of several replicas (or a
``plansync reminders send-now`` at the same moment) exactly one sends. A failed send is
retried ``reminder_retry_seconds`` later, at most ``reminder_max_attempts`` times in all;
every attempt is recorded in ``reminder_attempts``. A digest with nothing in it is not sent
(recorded as ``empty``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from node.audit.service import record
from node.db import transaction
from node.errors import BadRequest, Conflict
from node.models import ReminderAttempt, ReminderSend, ReminderSettings, User
from node.oversight.exports import STATUS_WORDS, filing_words
from node.oversight.service import audit_rows
from node.reminders.channels import ChannelError, send_email, send_webhook
from node.runtime import NodeRuntime
from node.workbench import todo
from sync import format_ts

log = logging.getLogger("plansync.reminders")

CHANNELS = ("email", "webhook")
CHANNEL_WORDS = {"email": "电子邮件", "webhook": "Webhook"}
SECURITY = ("starttls", "ssl", "none")
SEND_STATUS_WORDS = {"sending": "发送中", "sent": "已发送", "failed": "失败",
                     "empty": "无待办未发送", "skipped": "已发送或已由其他进程发送"}
STALE = timedelta(minutes=10)  # a claim still "sending" after this was lost with its process
FIRST_YEAR = 2021
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_MAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
HORIZON_MAX = 90
MAIL_TO_MAX = 50


# ---- settings -----------------------------------------------------------------------------

def defaults() -> ReminderSettings:
    return ReminderSettings(id=1, enabled=False, send_at="08:30", horizon_days=14,
                            email_enabled=False, smtp_host="", smtp_port=587,
                            smtp_security="starttls", smtp_user="", mail_from="", mail_to=[],
                            webhook_enabled=False, webhook_url="", webhook_secret="",
                            updated_at=None, updated_by="")


async def get_settings(session: AsyncSession) -> ReminderSettings:
    """This node's settings (the defaults, off, until someone configures them)."""
    row = await session.get(ReminderSettings, 1)
    return row if row is not None else defaults()


FIELDS = ("enabled", "send_at", "horizon_days", "email_enabled", "smtp_host", "smtp_port",
          "smtp_security", "smtp_user", "mail_from", "mail_to", "webhook_enabled",
          "webhook_url", "webhook_secret")


def check(s: ReminderSettings) -> None:
    """Refuse settings that cannot work, saying what to fix (BadRequest)."""
    if not _TIME.match(s.send_at or ""):
        raise BadRequest(f"发送时间须为 HH:MM send_at must be HH:MM (e.g. 08:30), "
                         f"not {s.send_at!r}")
    if not 1 <= s.horizon_days <= HORIZON_MAX:
        raise BadRequest(f"提前天数须在 1–{HORIZON_MAX} horizon_days must be 1–{HORIZON_MAX}")
    if s.smtp_security not in SECURITY:
        raise BadRequest("smtp_security must be starttls, ssl or none")
    if not 1 <= s.smtp_port <= 65535:
        raise BadRequest("smtp_port must be 1–65535")
    for addr in [s.mail_from, *s.mail_to] if s.mail_from else list(s.mail_to):
        if not _MAIL.match(addr):
            raise BadRequest(f"邮件地址无效 not an e-mail address: {addr!r}")
    if len(s.mail_to) > MAIL_TO_MAX:
        raise BadRequest(f"at most {MAIL_TO_MAX} recipients")
    if s.webhook_url and not re.match(r"^https?://[^\s/]+", s.webhook_url):
        raise BadRequest(f"webhook_url must be an http(s) URL, not {s.webhook_url!r}")
    if s.email_enabled and not (s.smtp_host and s.mail_from and s.mail_to):
        raise BadRequest("启用邮件提醒需填写 SMTP 服务器、发件人和收件人 e-mail needs smtp_host, "
                         "mail_from and at least one address in mail_to")
    if s.webhook_enabled and not s.webhook_url:
        raise BadRequest("启用 Webhook 提醒需填写 URL: webhook needs webhook_url")
    if s.enabled and not (s.email_enabled or s.webhook_enabled):
        raise BadRequest("启用提醒需至少启用一个渠道 turn on e-mail or the webhook (or both) "
                         "to enable reminders")


async def configure(*, session: AsyncSession, actor: str, changes: dict[str, Any]
                    ) -> ReminderSettings:
    """Change some settings (the others stay); refused as a whole if the result cannot work.
    The webhook secret is write-only: "" clears it, None leaves it."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise BadRequest(f"unknown reminder settings: {', '.join(sorted(unknown))}")
    row = await session.get(ReminderSettings, 1)
    new = row is None
    cur = row if row is not None else defaults()
    before = public(cur)
    proposed = defaults()
    for f in FIELDS:
        setattr(proposed, f, getattr(cur, f))
    for f, v in changes.items():
        if v is None:
            continue
        if f == "mail_to":
            v = [str(a).strip() for a in v if str(a).strip()]
        elif isinstance(v, str) and f != "webhook_secret":
            v = v.strip()
        setattr(proposed, f, v)
    check(proposed)
    for f in FIELDS:
        setattr(cur, f, getattr(proposed, f))
    cur.updated_at, cur.updated_by = datetime.now(UTC), actor
    if new:
        session.add(cur)
    await session.flush()
    await record(session=session, actor=actor, action="reminders.configure",
                 entity="reminder_settings", entity_id="1", before=before, after=public(cur))
    return cur


def public(s: ReminderSettings) -> dict[str, Any]:
    """The settings as shown: the webhook secret only as set or not."""
    out = {f: getattr(s, f) for f in FIELDS if f != "webhook_secret"}
    out["mail_to"] = list(s.mail_to or [])
    out["webhook_secret_set"] = bool(s.webhook_secret)
    return out


# ---- the digest ---------------------------------------------------------------------------

@dataclass
class Digest:
    day: date
    office: str
    horizon_days: int
    own: list[dict[str, Any]] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)
    subject: str = ""
    text: str = ""

    @property
    def empty(self) -> bool:
        return not self.own and not self.children

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat(), "content_hash": self.content_hash}


def _left_words(days_left: int | None, due_on: str | None) -> str:
    if due_on is None:
        return "尽快办理"
    if days_left is None:
        return f"截止 {due_on}"
    if days_left < 0:
        return f"截止 {due_on}，已逾期 {-days_left} 天"
    if days_left == 0:
        return f"截止 {due_on}，今天到期"
    return f"截止 {due_on}，还有 {days_left} 天"


async def build_digest(session: AsyncSession, *, code: str, name: str, today: date,
                       horizon_days: int) -> Digest:
    """What the office has overdue or due within ``horizon_days``, and what each direct
    child owes (see the module's docstring for where each part comes from)."""
    office = User(name="提醒 reminders", role="admin", unit=None)  # sees every duty, writes none
    d = Digest(day=today, office=name, horizon_days=horizon_days)
    for it in await todo(session, user=office, self_code=code, today=today):
        if it.kind.startswith("child_"):
            continue  # the children's part below comes from the audit
        if it.severity == "overdue" or (it.severity == "due" and (
                it.days_left is None or it.days_left <= horizon_days)):
            d.own.append({"title": it.title, "detail": it.detail, "due_on": it.due_on,
                          "days_left": it.days_left, "severity": it.severity})
    try:
        rows = await audit_rows(session, self_code=code, today=today,
                                from_year=min(max(FIRST_YEAR, today.year - 1), 2030))
    except (KeyError, ValueError):
        rows = []
    kids: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["parent"] != code:
            continue
        due = date.fromisoformat(r["due_on"]) if r["due_on"] else None
        soon = due is not None and 0 <= (due - today).days <= horizon_days
        owed = r["status"] in ("overdue", "returned") or (
            r["status"] in ("pending", "not_enrolled") and soon) or (
            r["status"] == "not_enrolled" and due is not None and due < today)
        if not owed:
            continue
        k = kids.setdefault(r["code"], {"code": r["code"], "name": r["name"], "items": []})
        k["items"].append({"filing": filing_words(r["filing"]), "due_on": r["due_on"],
                           "status": r["status"],
                           "status_words": STATUS_WORDS.get(r["status"], r["status"]),
                           "days_left": (due - today).days if due else None})
    d.children = [kids[c] for c in sorted(kids)]
    n_over = sum(1 for i in d.own if i["severity"] == "overdue")
    n_kids = sum(len(k["items"]) for k in d.children)
    d.subject = (f"【妇儿规划提醒】{name} {today:%Y年%m月%d日}：逾期 {n_over} 项，"
                 f"{horizon_days} 天内到期 {len(d.own) - n_over} 项，下级待报 {n_kids} 项")
    d.text = _text(d)
    return d


def _text(d: Digest) -> str:
    lines = [f"{d.office}妇儿工委办：", "",
             f"截至 {d.day:%Y年%m月%d日}（北京时间），待办事项如下。", ""]
    over = [i for i in d.own if i["severity"] == "overdue"]
    due = [i for i in d.own if i["severity"] != "overdue"]
    numerals = iter("一二三")
    for title, items in (("本单位已逾期", over), (f"本单位 {d.horizon_days} 天内到期", due)):
        if not items:
            continue
        lines.append(f"{next(numerals)}、{title}")
        for j, i in enumerate(items, 1):
            lines.append(f"  {j}. {i['title']}（{_left_words(i['days_left'], i['due_on'])}）"
                         f"—— {i['detail']}")
        lines.append("")
    if d.children:
        lines.append(f"{next(numerals)}、下级单位待报")
        for k in d.children:
            lines.append(f"  {k['name']}（{k['code']}）：")
            for i in k["items"]:
                lines.append(f"    - {i['filing']}：{i['status_words']}"
                             f"（{_left_words(i['days_left'], i['due_on'])}）")
        lines.append("")
    if d.empty:
        lines.append("当前没有逾期或即将到期的事项。")
        lines.append("")
    lines.append("此提醒由 plansync 每日自动发送一次；"
                 "如需调整，请在控制台“系统 · 提醒设置”中修改。")
    return "\n".join(lines)


# ---- sending ------------------------------------------------------------------------------

@dataclass
class Outcome:
    channel: str
    status: str  # sent | failed | empty | skipped (already sent / claimed elsewhere / spent)
    attempts: int
    error: str = ""
    recipients: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_now(rt: NodeRuntime, now: datetime | None = None) -> datetime:
    return (now or rt.clock()).astimezone(rt.cfg.zone)


def next_run(s: ReminderSettings, local: datetime) -> datetime | None:
    """The next daily run (in the office's time zone), None while reminders are off."""
    if not s.enabled:
        return None
    hh, mm = map(int, s.send_at.split(":"))
    at = datetime.combine(local.date(), time(hh, mm), tzinfo=local.tzinfo)
    return at if at > local else at + timedelta(days=1)


def _recipients(s: ReminderSettings, channel: str) -> list[str]:
    return list(s.mail_to or []) if channel == "email" else [s.webhook_url]


async def _claim(rt: NodeRuntime, day: date, channel: str, now: datetime, *,
                 manual: bool) -> int | None:
    """Claim (day, channel) for this process: insert its row (the unique key decides), or
    take over a failed one whose retry is due (bounded by reminder_max_attempts) or a claim
    lost with its process. The number of this attempt, or None if not ours to send."""
    try:
        async with transaction(rt.sessions) as s:
            s.add(ReminderSend(day=day, channel=channel, status="sending", attempts=1,
                               claimed_at=now, next_attempt_at=None, last_error="",
                               content_hash=""))
            await s.flush()
        return 1
    except IntegrityError:
        pass
    max_attempts = rt.settings.reminder_max_attempts
    async with transaction(rt.sessions) as s:
        row = await s.scalar(select(ReminderSend).where(ReminderSend.day == day,
                                                        ReminderSend.channel == channel))
        if row is None or row.attempts >= max_attempts:
            return None
        retry_due = or_(ReminderSend.next_attempt_at.is_(None),
                        ReminderSend.next_attempt_at <= now)
        failed = ReminderSend.status == "failed"
        cond = (failed if manual else failed & retry_due) | (
            (ReminderSend.status == "sending") & (ReminderSend.claimed_at < now - STALE))
        res = await s.execute(
            update(ReminderSend).where(ReminderSend.id == row.id,
                                       ReminderSend.attempts == row.attempts, cond)
            .values(status="sending", attempts=row.attempts + 1, claimed_at=now)
            .execution_options(synchronize_session=False))
        return row.attempts + 1 if res.rowcount == 1 else None  # type: ignore[attr-defined]


async def _finish(rt: NodeRuntime, *, day: date, channel: str, attempt: int, status: str,
                  error: str, digest: Digest, recipients: list[str], trigger: str,
                  now: datetime) -> None:
    retry = rt.settings.reminder_retry_seconds
    async with transaction(rt.sessions) as s:
        await s.execute(update(ReminderSend).where(
            ReminderSend.day == day, ReminderSend.channel == channel).values(
            status=status, last_error=error[:2000], content_hash=digest.content_hash,
            next_attempt_at=now + timedelta(seconds=retry) if status == "failed" else None)
            .execution_options(synchronize_session=False))
        s.add(ReminderAttempt(at=now, day=day, channel=channel, recipients=recipients,
                              status=status, error=error[:2000],
                              content_hash=digest.content_hash, subject=digest.subject[:255],
                              trigger=trigger))


async def _deliver(rt: NodeRuntime, cfg: ReminderSettings, channel: str, d: Digest) -> None:
    timeout = rt.settings.reminder_timeout_seconds
    if channel == "email":
        pw = rt.settings.reminder_smtp_password
        await send_email(host=cfg.smtp_host, port=cfg.smtp_port, security=cfg.smtp_security,
                         user=cfg.smtp_user, password=pw.get_secret_value() if pw else None,
                         mail_from=cfg.mail_from, to=list(cfg.mail_to), subject=d.subject,
                         text=d.text, timeout=timeout)
    else:
        await send_webhook(url=cfg.webhook_url, secret=cfg.webhook_secret, timeout=timeout,
                           payload={"node": rt.cfg.code, "office": d.office,
                                    "sent_at": datetime.now(UTC).isoformat(),
                                    **d.as_dict()})


async def run(rt: NodeRuntime, *, now: datetime | None = None, manual: bool = False
              ) -> list[Outcome]:
    """Send today's digest on each enabled channel that has not had it yet. The daily run
    (``manual=False``) waits for reminders to be on and for ``send_at``; ``send-now``
    (``manual=True``) does not wait for the time, but needs the channel configured and
    still sends at most once a day per channel."""
    now = now or rt.clock()
    local = local_now(rt, now)
    async with rt.sessions() as s:
        cfg = await get_settings(s)
    if not manual:
        if not cfg.enabled or local.strftime("%H:%M") < cfg.send_at:
            return []
    channels = [c for c in CHANNELS if getattr(cfg, f"{c}_enabled")]
    if manual and not channels:
        raise Conflict("未启用任何提醒渠道 no reminder channel is on: configure e-mail or the "
                       "webhook first (plansync reminders configure)")
    day = local.date()
    out: list[Outcome] = []
    digest: Digest | None = None
    for ch in channels:
        attempt = await _claim(rt, day, ch, now, manual=manual)
        if attempt is None:
            out.append(Outcome(ch, "skipped", 0))
            continue
        recipients = _recipients(cfg, ch)
        if digest is None:
            async with rt.sessions() as s:
                digest = await build_digest(s, code=rt.cfg.code, name=rt.cfg.name, today=day,
                                            horizon_days=cfg.horizon_days)
        status, error = "sent", ""
        if digest.empty:
            status = "empty"
        else:
            try:
                await _deliver(rt, cfg, ch, digest)
            except ChannelError as e:
                status, error = "failed", str(e)
                log.warning("reminder not sent", extra={"channel": ch, "error": error,
                                                        "attempt": attempt})
        await _finish(rt, day=day, channel=ch, attempt=attempt, status=status, error=error,
                      digest=digest, recipients=recipients,
                      trigger="manual" if manual else "daily", now=now)
        out.append(Outcome(ch, status, attempt, error, recipients))
    return out


async def status(session: AsyncSession, rt: NodeRuntime) -> dict[str, Any]:
    cfg = await get_settings(session)
    local = local_now(rt)
    sends = (await session.scalars(select(ReminderSend).where(
        ReminderSend.day == local.date()).order_by(ReminderSend.channel))).all()
    nxt = next_run(cfg, local)
    return {"settings": {**public(cfg), "smtp_password_set": password_set(rt)},
            "today": local.date().isoformat(),
            "next_run_at": format_ts(nxt.astimezone(UTC)) if nxt else None,
            "max_attempts": rt.settings.reminder_max_attempts,
            "sends": [send_dict(r) for r in sends]}


def password_set(rt: NodeRuntime) -> bool:
    return rt.settings.reminder_smtp_password is not None


def send_dict(r: ReminderSend) -> dict[str, Any]:
    return {"day": r.day.isoformat(), "channel": r.channel, "status": r.status,
            "attempts": r.attempts, "last_error": r.last_error,
            "next_attempt_at": format_ts(r.next_attempt_at) if r.next_attempt_at else None,
            "content_hash": r.content_hash}


def attempt_dict(a: ReminderAttempt) -> dict[str, Any]:
    return {"at": format_ts(a.at), "day": a.day.isoformat(), "channel": a.channel,
            "recipients": list(a.recipients), "status": a.status, "error": a.error,
            "content_hash": a.content_hash, "subject": a.subject, "trigger": a.trigger}


async def attempts(session: AsyncSession, *, limit: int = 50) -> list[ReminderAttempt]:
    return list((await session.scalars(select(ReminderAttempt).order_by(
        ReminderAttempt.at.desc(), ReminderAttempt.id.desc()).limit(limit))).all())


# ---- where it runs --------------------------------------------------------------------------

def start_loop(rt: NodeRuntime) -> asyncio.Task[None] | None:
    """One periodic task in the serve process (not a thread per node, not the arq worker:
    it needs no Redis, and the (day, channel) claim in the database already makes several
    replicas safe). Checks every reminder_check_seconds, the first time after one interval."""
    if not rt.settings.reminders_loop:
        return None

    async def loop() -> None:
        while True:
            await asyncio.sleep(rt.settings.reminder_check_seconds)
            try:
                await run(rt)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reminders check failed; trying again later")

    return asyncio.create_task(loop(), name=f"reminders-{rt.cfg.code}")


async def stop_loop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
