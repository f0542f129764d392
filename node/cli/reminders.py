"""Reminders (`plansync reminders`): the daily digest of what is due or overdue, by e-mail
or webhook — its settings, today's state, the record of sends, and sending now."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, acting, echo_json, fail, load_cfg, run, tx, with_rt

reminders_app = typer.Typer(help="Reminders (提醒): the daily digest by e-mail or webhook.",
                            no_args_is_help=True)

ON_OFF = {True: "开启 on", False: "关闭 off"}
STATUS_ZH = {"sending": "发送中", "sent": "已发送", "failed": "失败", "empty": "无待办未发送",
             "skipped": "跳过（今日已发送或由其他进程发送）"}


def _local(ts: str | None, zone: Any) -> str:
    if not ts:
        return "-"
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(zone).strftime(
        "%Y-%m-%d %H:%M")


def _print_settings(s: dict[str, Any]) -> None:
    typer.echo(f"提醒 reminders: {ON_OFF[bool(s['enabled'])]}，每日 {s['send_at']}（北京时间），"
               f"提前 {s['horizon_days']} 天")
    typer.echo(f"  邮件 e-mail: {ON_OFF[bool(s['email_enabled'])]}  {s['smtp_host'] or '-'}:"
               f"{s['smtp_port']} ({s['smtp_security']}) 用户 {s['smtp_user'] or '-'} "
               f"密码 {'已设置' if s.get('smtp_password_set') else '未设置'}  "
               f"发件人 {s['mail_from'] or '-'}  收件人 {'、'.join(s['mail_to']) or '-'}")
    typer.echo(f"  Webhook: {ON_OFF[bool(s['webhook_enabled'])]}  {s['webhook_url'] or '-'}  "
               f"签名密钥 {'已设置' if s['webhook_secret_set'] else '未设置'}")


@reminders_app.command("status")
def reminders_status(json_: bool = typer.Option(False, "--json", help="print JSON"),
                     data_dir: Path = DataDir) -> None:
    """The settings, the next run and today's send of each channel."""
    from node.reminders import service

    st = tx(data_dir, lambda s, rt: service.status(s, rt))
    if json_:
        echo_json(st)
        return
    zone = load_cfg(data_dir).zone
    _print_settings(st["settings"])
    typer.echo(f"下次发送 next run: {_local(st['next_run_at'], zone)}")
    if not st["sends"]:
        typer.echo(f"今日（{st['today']}）尚未发送 nothing sent today")
    for r in st["sends"]:
        typer.echo(f"今日 {r['channel']}: {STATUS_ZH.get(r['status'], r['status'])}，"
                   f"第 {r['attempts']}/{st['max_attempts']} 次"
                   + (f"，错误 {r['last_error']}" if r["last_error"] else ""))


@reminders_app.command("log")
def reminders_log(limit: int = typer.Option(20, "--limit", min=1, max=500),
                  json_: bool = typer.Option(False, "--json", help="print JSON"),
                  data_dir: Path = DataDir) -> None:
    """Every send tried, newest first: time (Beijing), channel, recipients, status, error."""
    from node.reminders import service

    rows = tx(data_dir, lambda s, rt: service.attempts(s, limit=limit))
    items = [service.attempt_dict(a) for a in rows]
    if json_:
        echo_json(items)
        return
    if not items:
        typer.echo("暂无发送记录 nothing sent yet")
    zone = load_cfg(data_dir).zone
    for a in items:
        typer.echo(f"{_local(a['at'], zone)}  {a['channel']:<7}  "
                   f"{STATUS_ZH.get(a['status'], a['status'])}  "
                   f"{'、'.join(a['recipients'])}  {a['content_hash'][:12]}"
                   + (f"  错误 {a['error']}" if a["error"] else ""))


@reminders_app.command("send-now")
def reminders_send_now(as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Send today's digest now on each enabled channel (still at most once a day each)."""
    from node.db import transaction
    from node.errors import NodeError
    from node.reminders import service

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> list[Any]:
        async with transaction(rt.sessions) as s:
            await acting(s, as_, "users.manage")
        return await service.run(rt, manual=True)

    try:
        outcomes = run(lambda: with_rt(cfg, go))
    except NodeError as e:
        fail(e.message, 1)
    failed = False
    for o in outcomes:
        typer.echo(f"{o.channel}: {STATUS_ZH.get(o.status, o.status)}"
                   + (f"（第 {o.attempts} 次）" if o.attempts else "")
                   + (f"  收件 {'、'.join(o.recipients)}" if o.recipients else "")
                   + (f"  错误 {o.error}" if o.error else ""))
        failed |= o.status == "failed"
    if failed:
        raise typer.Exit(1)


@reminders_app.command("configure")
def reminders_configure(
        enabled: bool = typer.Option(None, "--on/--off", help="send the daily digest"),
        send_at: str = typer.Option(None, "--at", help="time of day, HH:MM, Beijing time"),
        horizon: int = typer.Option(None, "--days", help="due soon: within N days (1–90)"),
        email: bool = typer.Option(None, "--email/--no-email", help="the e-mail channel"),
        smtp_host: str = typer.Option(None, "--smtp-host"),
        smtp_port: int = typer.Option(None, "--smtp-port"),
        smtp_security: str = typer.Option(None, "--smtp-security",
                                          help="starttls | ssl | none"),
        smtp_user: str = typer.Option(None, "--smtp-user", help="(the password: the "
                                      "PLANSYNC_REMINDER_SMTP_PASSWORD environment variable)"),
        mail_from: str = typer.Option(None, "--from", help="the sender's address"),
        mail_to: list[str] = typer.Option(None, "--to", help="a recipient (repeat the option "
                                          "for several; replaces the list)"),
        webhook: bool = typer.Option(None, "--webhook/--no-webhook", help="the webhook"),
        webhook_url: str = typer.Option(None, "--webhook-url"),
        webhook_secret: str = typer.Option(None, "--webhook-secret",
                                           help="HMAC-SHA256 key (\"\" clears it)"),
        as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Change the reminder settings (the options left out keep their values)."""
    from node.reminders import service

    changes = {"enabled": enabled, "send_at": send_at, "horizon_days": horizon,
               "email_enabled": email, "smtp_host": smtp_host, "smtp_port": smtp_port,
               "smtp_security": smtp_security, "smtp_user": smtp_user, "mail_from": mail_from,
               "mail_to": list(mail_to) if mail_to else None, "webhook_enabled": webhook,
               "webhook_url": webhook_url, "webhook_secret": webhook_secret}
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        fail("没有要修改的设置 nothing to change: pass an option (plansync reminders configure "
             "--help)")

    async def go(s: Any, rt: Any) -> dict[str, Any]:
        user = await acting(s, as_, "users.manage")
        row = await service.configure(session=s, actor=user.name, changes=changes)
        return {**service.public(row), "smtp_password_set": service.password_set(rt)}

    st = tx(data_dir, go)
    typer.echo("已保存 saved")
    _print_settings(st)
