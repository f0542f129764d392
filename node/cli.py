"""The `plansync` command line (typer)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from node import __version__
from node.config import (
    CONFIG_FILE,
    ConfigError,
    NodeConfig,
    Settings,
    build_config,
    default_database_url,
    load_config,
    resolve_data_dir,
)

T = TypeVar("T")

app = typer.Typer(help="plansync — one node of the women's and children's plan sync network "
                       "(妇女儿童发展规划同步节点)", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="Local user accounts and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
children_app = typer.Typer(help="Child offices: invites and enrolment status.",
                           no_args_is_help=True)
keys_app = typer.Typer(help="This node's signing key.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing envelopes.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(children_app, name="children")
app.add_typer(keys_app, name="keys")
app.add_typer(outbox_app, name="outbox")

DataDir = typer.Option(None, "--data-dir", help="node data directory "
                       "(default: $PLANSYNC_DATA_DIR or ./plansync-data)")


def _fail(msg: str, code: int = 2) -> NoReturn:
    typer.secho(f"错误 error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _cfg(data_dir: Path | None) -> NodeConfig:
    try:
        return load_config(data_dir)
    except ConfigError as e:
        _fail(str(e))
        raise AssertionError from None


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


async def _with_rt(cfg: NodeConfig, fn: Callable[[Any], Awaitable[T]]) -> T:
    from node.runtime import NodeRuntime

    rt = NodeRuntime.open(cfg)
    try:
        from node.db import ensure_current

        await ensure_current(rt.engine)
        return await fn(rt)
    finally:
        await rt.close()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plansync {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    pass


@app.command()
def init(
    code: str = typer.Option(..., help="6-digit GB/T 2260 division code, e.g. 150603"),
    name: str = typer.Option(..., help="office name, e.g. 康巴什区"),
    level: str = typer.Option(..., help="province | city | county"),
    parent_url: str = typer.Option(None, help="base URL of the parent node (not for a province)"),
    base_url: str = typer.Option("http://127.0.0.1:8000", help="this node's own base URL"),
    database_url: str = typer.Option(None, help="default: SQLite file in the data directory"),
    redis_url: str = typer.Option(None, help="Redis for arq delivery (default: in-process)"),
    timezone: str = typer.Option("Asia/Shanghai"),
    data_dir: Path = DataDir,
    force: bool = typer.Option(False, help="overwrite an existing node.json (keeps the key)"),
) -> None:
    """Create a node: config file, Ed25519 key pair (owner-only), migrated database."""
    ddir = resolve_data_dir(data_dir)
    if (ddir / CONFIG_FILE).exists() and not force:
        _fail(f"{ddir / CONFIG_FILE} already exists; use --force to rewrite it")
    cfg = _validated({"code": code, "name": name, "level": level, "parent_url": parent_url,
                      "base_url": base_url, "redis_url": redis_url, "timezone": timezone,
                      "database_url": database_url or default_database_url(ddir),
                      "data_dir": str(ddir)})
    from node.provision import provision

    signer = _run(lambda: provision(cfg))
    typer.echo(f"已创建节点 node created: {cfg.code} {cfg.name} ({cfg.level.value})")
    typer.echo(f"  data dir: {ddir}\n  key id:   {signer.key_id}\n  listens:  {cfg.base_url}")
    if cfg.parent_url:
        typer.echo(f"  next: ask the parent office for an invite token, then "
                   f"`plansync enroll --token TOKEN --data-dir {ddir}`")


def _validated(raw: dict[str, Any]) -> NodeConfig:
    try:
        return build_config(raw)
    except ConfigError as e:
        _fail(str(e))
        raise AssertionError from None


@app.command()
def serve(
    data_dir: Path = DataDir,
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Run the node's HTTP server (and in-process delivery when no Redis is configured)."""
    import uvicorn

    from node.app import create_app
    from node.db import SchemaBehind, create_engine, ensure_current
    from node.ops.logs import setup_logging

    cfg = _cfg(data_dir)
    settings = Settings()

    async def check() -> None:
        engine = create_engine(cfg.database_url)
        try:
            await ensure_current(engine)
        finally:
            await engine.dispose()

    try:
        _run(check)
    except SchemaBehind as e:
        _fail(str(e), 1)
    except OSError as e:
        _fail(f"database unreachable ({e}); check database_url in {CONFIG_FILE}", 1)
    setup_logging(settings.log_level, settings.log_json)
    uvicorn.run(create_app(cfg, settings), host=host, port=port, log_config=None,
                access_log=False)


@app.command()
def worker(data_dir: Path = DataDir) -> None:
    """Run the arq worker that delivers this node's outbox (needs redis_url)."""
    from arq.worker import run_worker

    from node.delivery.worker import worker_settings
    from node.ops.logs import setup_logging

    cfg = _cfg(data_dir)
    if not cfg.redis_url:
        _fail("no redis_url configured: without Redis, `plansync serve` delivers in-process "
              "and no worker is needed")
    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    run_worker(worker_settings(cfg, settings))


@db_app.command("upgrade")
def db_upgrade(data_dir: Path = DataDir) -> None:
    """Migrate the database schema to this version of plansync."""
    from node.db import create_engine, current_revision, head_revision, upgrade

    cfg = _cfg(data_dir)

    async def go() -> tuple[str | None, str | None]:
        engine = create_engine(cfg.database_url)
        try:
            before = await current_revision(engine)
            await upgrade(engine)
            return before, await current_revision(engine)
        finally:
            await engine.dispose()

    before, after = _run(go)
    typer.echo(f"数据库已升级 database upgraded: {before or 'empty'} -> {after} "
               f"(head {head_revision()})")


@users_app.command("add")
def users_add(
    name: str,
    role: str = typer.Option(..., help="admin|editor|reviewer|member_unit|auditor|viewer"),
    password: str = typer.Option(None, help="optional; for signing in to the API by password"),
    unit: str = typer.Option(None, help="member unit (成员单位) for role member_unit, e.g. 卫健委"),
    data_dir: Path = DataDir,
) -> None:
    """Create a user and print a new API token for it (shown once)."""
    from node.auth.service import create_user, issue_token
    from node.db import transaction
    from node.errors import NodeError

    cfg = _cfg(data_dir)

    async def go(rt: Any) -> str:
        async with transaction(rt.sessions) as session:
            user = await create_user(session=session, name=name, role=role, password=password,
                                     actor="cli", unit=unit)
            return await issue_token(session=session, user=user, label="cli", actor="cli")

    try:
        token = _run(lambda: _with_rt(cfg, go))
    except NodeError as e:
        _fail(e.message)
    typer.echo(f"已创建用户 user created: {name} ({role})")
    typer.echo(f"API token (shown once): {token}")


@users_app.command("token")
def users_token(name: str, data_dir: Path = DataDir) -> None:
    """Issue another API token for an existing user."""
    from sqlalchemy import select

    from node.auth.service import issue_token
    from node.db import transaction
    from node.models import User

    cfg = _cfg(data_dir)

    async def go(rt: Any) -> str | None:
        async with transaction(rt.sessions) as session:
            user = await session.scalar(select(User).where(User.name == name))
            if user is None:
                return None
            return await issue_token(session=session, user=user, label="cli", actor="cli")

    token = _run(lambda: _with_rt(cfg, go))
    if token is None:
        _fail(f"no user {name!r}; create it with `plansync users add {name} --role ROLE`")
    typer.echo(token)


@audit_app.command("verify")
def audit_verify(
    data_dir: Path = DataDir,
    expect: str | None = typer.Option(
        None, help="an anchor printed by an earlier verify (<row id>:<hash>); detects the "
                   "newest rows being deleted since"),
) -> None:
    """Check the audit chain; name every modified or deleted row. Exit 1 if broken."""
    from node.audit.service import parse_anchor, verify_chain

    cfg = _cfg(data_dir)
    try:
        anchor = parse_anchor(expect) if expect else None
    except ValueError as e:
        _fail(str(e), 2)

    async def go(rt: Any) -> Any:
        async with rt.sessions() as session:
            return await verify_chain(session=session, expect=anchor)

    rep = _run(lambda: _with_rt(cfg, go))
    if rep.ok:
        typer.echo(f"审计链完整 audit chain intact: {rep.rows} rows, head {rep.head}")
        typer.echo(f"锚点 anchor (record it; check later with --expect): {rep.anchor}")
        return
    for p in rep.problems:
        typer.secho(f"  {p}", fg=typer.colors.RED)
    _fail(f"audit chain broken: {len(rep.problems)} problem(s) in {rep.rows} rows", 1)


@children_app.command("invite")
def children_invite(
    code: str, name: str = typer.Option(..., help="child office name, e.g. 康巴什区"),
    ttl_hours: int = typer.Option(72, help="hours until the token expires"),
    data_dir: Path = DataDir,
) -> None:
    """Print a one-time enrolment token for a child office."""
    from node.db import transaction
    from node.errors import NodeError
    from node.protocol.enrol import create_invite

    cfg = _cfg(data_dir)

    async def go(rt: Any) -> str:
        async with transaction(rt.sessions) as session:
            return await create_invite(session=session, code=code, name=name, actor="cli",
                                       ttl=timedelta(hours=ttl_hours))

    try:
        token = _run(lambda: _with_rt(cfg, go))
    except NodeError as e:
        _fail(e.message)
    typer.echo(token)


@children_app.command("list")
def children_list(data_dir: Path = DataDir,
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Enrolled children and their last contact."""
    from sqlalchemy import select

    from node.models import KnownNode
    from sync import format_ts

    cfg = _cfg(data_dir)

    async def go(rt: Any) -> list[dict[str, Any]]:
        async with rt.sessions() as session:
            rows = (await session.scalars(select(KnownNode).where(
                KnownNode.relation == "child").order_by(KnownNode.code))).all()
        return [{"code": n.code, "name": n.name, "level": n.level, "base_url": n.base_url,
                 "enrolled_at": format_ts(n.enrolled_at) if n.enrolled_at else None,
                 "last_contact_at": format_ts(n.last_contact_at) if n.last_contact_at else None}
                for n in rows]

    rows = _run(lambda: _with_rt(cfg, go))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("尚无下级节点 no children enrolled yet")
    for r in rows:
        typer.echo(f"{r['code']}  {r['name']:<10} {r['level']:<8} last contact "
                   f"{r['last_contact_at'] or '-'}  {r['base_url'] or ''}")


@app.command()
def enroll(token: str = typer.Option(..., help="one-time token from the parent office"),
           data_dir: Path = DataDir) -> None:
    """Enrol this node with its parent (parent URL from the config)."""
    from node.protocol.enrol import enroll_with_parent
    from sync import SyncError

    cfg = _cfg(data_dir)
    try:
        answer = _run(lambda: _with_rt(cfg, lambda rt: enroll_with_parent(rt, token)))
    except SyncError as e:
        _fail(f"enrolment failed: {e}", 1)
    p = answer["parent"]
    typer.echo(f"已加入 enrolled under {p['code']} {p['name']} ({p['level']}); "
               f"trusted ancestors: {', '.join(a['code'] for a in answer['ancestors'])}")


@keys_app.command("rotate")
def keys_rotate(data_dir: Path = DataDir) -> None:
    """Replace this node's signing key; announce it to parent and children."""
    from node.protocol.keys import rotate_key

    cfg = _cfg(data_dir)
    old, new = _run(lambda: _with_rt(cfg, rotate_key))
    typer.echo(f"密钥已轮换 key rotated: {old} -> {new} (announcement queued in the outbox)")


@outbox_app.command("status")
def outbox_status(data_dir: Path = DataDir) -> None:
    """Rows per status and the age of the oldest undelivered one."""
    from node.delivery.deliver import outbox_stats

    cfg = _cfg(data_dir)
    counts, age = _run(lambda: _with_rt(cfg, outbox_stats))
    typer.echo(json.dumps({"counts": counts, "oldest_pending_seconds": round(age, 1)}))


@app.command()
def demo(
    keep: bool = typer.Option(False, "--keep", help="leave the node processes running"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    workdir: Path = typer.Option(None, help="keep data here instead of a temp directory"),
) -> None:
    """Run a real province → city → county hierarchy on this machine and show it working."""
    from node.demo import run_demo

    try:
        _run(lambda: run_demo(keep=keep, as_json=as_json, workdir=workdir))
    except RuntimeError as e:
        _fail(str(e), 1)


# ---- plans, frameworks, filings ------------------------------------------------------------
plan_app = typer.Typer(help="This office's plans (规划): draft, consult, review, publish.",
                       no_args_is_help=True)
framework_app = typer.Typer(help="Frameworks: import one as a plan; list those received.",
                            no_args_is_help=True)
filings_app = typer.Typer(help="Filings received from child offices (下级报送).",
                          no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(framework_app, name="framework")
app.add_typer(filings_app, name="filings")
Actor = typer.Option("cli", "--as", help="the office user doing this (recorded in history)")


def _tx(data_dir: Path | None, fn: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``fn(session, rt)`` in one transaction; print typed errors and exit non-zero."""
    from node.db import transaction
    from node.errors import NodeError

    cfg = _cfg(data_dir)

    async def go(rt: Any) -> T:
        async with transaction(rt.sessions) as session:
            return await fn(session, rt)

    try:
        return _run(lambda: _with_rt(cfg, go))
    except NodeError as e:
        _fail(e.message, 1)
        raise AssertionError from None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@framework_app.command("import")
def framework_import(
    file: Path, kind: str = typer.Option(..., help="women | children"),
    title: str = typer.Option(None, help="plan title (default: office name + plan name)"),
    as_: str = Actor, data_dir: Path = DataDir,
) -> None:
    """Load a framework or plan (JSON such as framework-sample.json, or an XLSX task table)
    as this office's draft plan of that kind. A bad file imports nothing."""
    from node.models import Plan
    from node.plans import service
    from node.plans.document import KIND_NAMES, DocumentError, load_file

    if kind not in KIND_NAMES:
        _fail("--kind must be women or children")
    try:
        doc = load_file(file, kind)  # type: ignore[arg-type]
    except DocumentError as e:
        _fail(f"{file}: {e}; nothing was imported", 1)

    async def go(session: Any, rt: Any) -> Any:
        pid = service.plan_id_for(rt.cfg.code, kind)
        if await session.get(Plan, pid) is not None:
            return await service.update_document(session=session, plan_id=pid, document=doc,
                                                 actor=as_)
        return await service.create_plan(session=session, code=rt.cfg.code, kind=kind,
                                         title=title or f"{rt.cfg.name}{KIND_NAMES[kind]}"
                                         "（2021—2030年）", document=doc, actor=as_)

    plan = _tx(data_dir, go)
    typer.echo(f"已导入 imported {len(doc.indicators)} indicators, {len(doc.areas)} areas "
               f"into plan {plan.id} ({plan.status})")


@plan_app.command("list")
def plan_list(data_dir: Path = DataDir) -> None:
    """Plans of this office with their status."""
    from sqlalchemy import select

    from node.models import Plan

    async def go(session: Any, rt: Any) -> list[Any]:
        return list((await session.scalars(select(Plan).order_by(Plan.id))).all())

    for p in _tx(data_dir, go):
        typer.echo(f"{p.id:<16} {p.status:<14} v{p.current_version}  {p.title}")


@plan_app.command("step")
def plan_step(plan_id: str, step: str = typer.Argument(
        ..., help="consultation | expert_review | submit | approve | back_to_draft"),
        note: str = typer.Option(None), as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Move a plan through the drafting workflow (the submitter may not approve)."""
    from node.plans import service

    plan = _tx(data_dir, lambda s, rt: service.advance(session=s, plan_id=plan_id, step=step,
                                                      actor=as_, note=note))
    typer.echo(f"{plan.id}: {plan.status}" + (f" (round {plan.consultation_round})"
                                             if plan.status == "consultation" else ""))


@plan_app.command("comment")
def plan_comment(plan_id: str, unit: str = typer.Option(..., help="member unit, e.g. 卫健委"),
                 text: str = typer.Option(...), as_: str = Actor,
                 data_dir: Path = DataDir) -> None:
    """Record a member unit's comment in the current consultation round."""
    from node.plans import service

    c = _tx(data_dir, lambda s, rt: service.add_comment(session=s, plan_id=plan_id, unit=unit,
                                                       text=text, actor=as_))
    typer.echo(f"意见已记录 comment recorded (round {c.round}, {c.unit})")


@plan_app.command("check")
def plan_check(plan_id: str, as_json: bool = typer.Option(False, "--json"),
               data_dir: Path = DataDir) -> None:
    """Check the plan against every ancestor framework in force. Exit 1 on findings."""
    from node.plans import service

    rep = _tx(data_dir, lambda s, rt: service.check_plan(session=s, rt=rt, plan_id=plan_id))
    if as_json:
        _echo_json(rep)
    else:
        against = ", ".join(f"{f['code']} {f['name']} v{f['version']}"
                            for f in rep["checked_against"]) or "none received yet"
        typer.echo(f"检查 checked {plan_id} against: {against}")
        for f in rep["findings"]:
            typer.echo(f"  ✗ {f['indicator']} {f['name']}: {f['reason']} — ancestor "
                       f"{f['ancestor']} {f['ancestor_target']}, local "
                       f"{f['local_target'] or '-'}: {f['detail']}")
        if rep["ok"]:
            typer.echo("  ✓ 未降低标准 no lowered standard, no dropped indicator")
    if not rep["ok"]:
        raise typer.Exit(1)


@plan_app.command("publish")
def plan_publish(plan_id: str,
                 released_on: str = typer.Option(..., help="release date 颁布日期, YYYY-MM-DD"),
                 override_reason: str = typer.Option(
                     None, help="admin override of compliance findings, recorded"),
                 as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Publish an approved plan: release it to the subtree and file it with the parent."""
    from datetime import date

    from node.plans import service

    try:
        day = date.fromisoformat(released_on)
    except ValueError:
        _fail(f"--released-on {released_on!r} is not a date like 2022-05-10")
        raise AssertionError from None
    pv, _ = _tx(data_dir, lambda s, rt: service.publish(
        session=s, rt=rt, plan_id=plan_id, released_on=day, actor=as_, is_admin=True,
        override_reason=override_reason))
    typer.echo(f"已发布 published {plan_id} v{pv.version} (released {pv.released_on})"
               + ("; filed with the parent" if pv.filing_envelope_id else ""))


@plan_app.command("revise")
def plan_revise(plan_id: str, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Start a revision of a published plan (a new version when published again)."""
    from node.plans import service

    plan = _tx(data_dir, lambda s, rt: service.revise(session=s, plan_id=plan_id, actor=as_))
    typer.echo(f"{plan.id}: {plan.status} (revision of v{plan.current_version})")


@plan_app.command("export")
def plan_export(plan_id: str, out: Path = typer.Option(..., help="file.xlsx or file.json"),
                version: int = typer.Option(None, help="a published version (default: draft)"),
                data_dir: Path = DataDir) -> None:
    """Export a plan to XLSX (task-table layout) or JSON."""
    from node.models import PlanVersion
    from node.plans import service
    from node.plans.document import parse_document
    from node.plans.sheets import write_xlsx

    async def go(session: Any, rt: Any) -> tuple[str, Any]:
        p = await service.get_plan(session, plan_id)
        if version is None:
            return p.title, p.document
        pv = await session.get(PlanVersion, (plan_id, version))
        if pv is None:
            from node.errors import NotFound

            raise NotFound(f"plan {plan_id} has no version {version}")
        return pv.title, pv.document

    title, document = _tx(data_dir, go)
    doc = parse_document(document)
    if out.suffix.lower() == ".xlsx":
        out.write_bytes(write_xlsx(doc, title))
    else:
        out.write_text(json.dumps({"title": title, **doc.dump()}, ensure_ascii=False,
                                  indent=1), "utf-8")
    typer.echo(f"已导出 exported {plan_id} to {out}")


@framework_app.command("list")
def framework_list(as_json: bool = typer.Option(False, "--json"),
                   data_dir: Path = DataDir) -> None:
    """Frameworks received from ancestors: what changed and what it breaks here."""
    from sqlalchemy import select

    from node.models import Framework

    async def go(session: Any, rt: Any) -> list[Any]:
        return list((await session.scalars(select(Framework).order_by(
            Framework.origin, Framework.kind, Framework.version))).all())

    rows = _tx(data_dir, go)
    if as_json:
        _echo_json([{"origin": f.origin, "kind": f.kind, "version": f.version,
                     "title": f.title, "diff": f.diff, "breaks": f.breaks} for f in rows])
        return
    for f in rows:
        d = f.diff
        typer.echo(f"{f.origin} {f.kind} v{f.version} {f.title}: +{len(d['added'])} "
                   f"-{len(d['removed'])} ~{len(d['changed'])}; breaks {len(f.breaks)} "
                   "of this office's indicators")
        for c in d["changed"]:
            typer.echo(f"    ~ {c['code']} {c['name']}: {c['from']} → {c['to']}")
        for b in f.breaks:
            typer.echo(f"    ✗ {b['indicator']} {b['name']}: {b['detail']}")


@filings_app.command("list")
def filings_list(as_json: bool = typer.Option(False, "--json"),
                 data_dir: Path = DataDir) -> None:
    """Filings received from children, with due date, lateness and outcome."""
    from sqlalchemy import select

    from node.models import Filing
    from node.plans.endpoints import filing_out

    async def go(session: Any, rt: Any) -> list[dict[str, Any]]:
        return [filing_out(f) for f in (await session.scalars(
            select(Filing).order_by(Filing.received_at))).all()]

    rows = _tx(data_dir, go)
    if as_json:
        _echo_json(rows)
        return
    for f in rows:
        late = f"late {f['late_days']} d" if f["late_days"] else "on time"
        typer.echo(f"{f['id']}  {f['filer']} {f['plan_id']} v{f['version']}  due {f['due_on']} "
                   f"received {f['received_at']} ({late})  {f['outcome']}")


@filings_app.command("return")
def filings_return(filing_id: str, reasons: str = typer.Option(...), as_: str = Actor,
                   data_dir: Path = DataDir) -> None:
    """Return a filing to the child office for correction, with reasons (signed)."""
    from node.plans import service

    _tx(data_dir, lambda s, rt: service.return_filing(session=s, rt=rt, filing_id=filing_id,
                                                     reasons=reasons, actor=as_))
    typer.echo(f"已退回 returned {filing_id}")


# ---- annual reports, aggregates, warnings, timeliness audit -------------------------------
report_app = typer.Typer(help="Annual reports (年度报告): enter, compile, file.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


async def _user(session: Any, name: str) -> Any:
    """The user a CLI command acts as: a real account (its role and unit apply), or the
    server operator ('cli', an admin)."""
    from sqlalchemy import select

    from node.models import User

    if name == "cli":
        return User(name="cli", role="admin", unit=None)
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        from node.errors import NotFound

        raise NotFound(f"no user {name!r}")
    return user


@report_app.command("value")
def report_value(kind: str, year: int, indicator: str,
                 value: float = typer.Option(None), numerator: float = typer.Option(None),
                 denominator: float = typer.Option(None), as_: str = Actor,
                 data_dir: Path = DataDir) -> None:
    """Enter one indicator's value (or numerator and denominator for a ratio)."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> Any:
        return await service.enter_value(session=s, code=rt.cfg.code, kind=kind, year=year,
                                         indicator=indicator, user=await _user(s, as_),
                                         value=value, numerator=numerator,
                                         denominator=denominator)

    _tx(data_dir, go)
    typer.echo(f"已录入 entered {kind} {year} {indicator}")


@report_app.command("narrative")
def report_narrative(kind: str, year: int, area: str = typer.Option(...),
                     text: str = typer.Option(...), as_: str = Actor,
                     data_dir: Path = DataDir) -> None:
    """Enter the narrative for one area (member units: the areas they lead or support)."""
    from node.reports import service

    async def go(s: Any, rt: Any) -> None:
        await service.enter_narrative(session=s, code=rt.cfg.code, kind=kind, year=year,
                                      area=area, text=text, user=await _user(s, as_))

    _tx(data_dir, go)
    typer.echo(f"已录入 entered narrative for {area}")


@report_app.command("next-year")
def report_next_year(kind: str, year: int, text: str = typer.Option(...), as_: str = Actor,
                     data_dir: Path = DataDir) -> None:
    """Enter next year's arrangements (下一年工作安排)."""
    from node.reports import service

    _tx(data_dir, lambda s, rt: service.set_next_year(session=s, code=rt.cfg.code, kind=kind,
                                                     year=year, text=text, actor=as_))
    typer.echo("已录入 entered")


@report_app.command("compile")
def report_compile(kind: str, year: int, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """Fill values nobody entered with the aggregate of the children's filed reports."""
    from node.reports import service

    rep, n = _tx(data_dir, lambda s, rt: service.compile_report(
        session=s, code=rt.cfg.code, kind=kind, year=year, actor=as_))
    typer.echo(f"已汇总 compiled {rep.id}: {n} values aggregated from child offices")


@report_app.command("file")
def report_file(kind: str, year: int, as_: str = Actor, data_dir: Path = DataDir) -> None:
    """File the annual report with the parent office (signed, through the outbox)."""
    from node.reports import service

    rep, _ = _tx(data_dir, lambda s, rt: service.file_report(session=s, rt=rt, kind=kind,
                                                            year=year, actor=as_))
    typer.echo(f"已报送 filed {rep.id}")


@report_app.command("return")
def report_return(filing_id: str, reasons: str = typer.Option(...), as_: str = Actor,
                  data_dir: Path = DataDir) -> None:
    """Return a child's annual report for correction, with reasons."""
    from node.reports import service

    _tx(data_dir, lambda s, rt: service.return_report(session=s, rt=rt, filing_id=filing_id,
                                                     reasons=reasons, actor=as_))
    typer.echo(f"已退回 returned {filing_id}")


def _emit_table(fmt: str, out: Path | None, payload: Any,
                sheets: list[tuple[str, Any, Any]]) -> None:
    from node.reports import exports

    if fmt == "json":
        text = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    elif fmt == "csv":
        _, rows, cols = sheets[0]
        text = exports.to_csv(rows, cols)
    elif fmt == "xlsx":
        if out is None:
            _fail("--format xlsx needs --out FILE.xlsx")
        assert out is not None
        out.write_bytes(exports.to_xlsx(sheets))
        typer.echo(f"已导出 written {out}")
        return
    elif fmt == "table":
        _, rows, cols = sheets[0]
        table = exports.table(rows, cols)
        widths = [max(len(str(r[i])) for r in table) for i in range(len(cols))]
        text = "\n".join("  ".join(str(v if v is not None else "-").ljust(w)
                                    for v, w in zip(r, widths, strict=True)) for r in table)
    else:
        _fail("--format must be table, csv, xlsx or json")
        return
    if out is not None:
        out.write_text(text, "utf-8")
        typer.echo(f"已导出 written {out}")
    else:
        typer.echo(text)


Fmt = typer.Option("table", "--format", help="table | csv | xlsx | json")
Out = typer.Option(None, "--out", help="write to this file")


@app.command("aggregate")
def aggregate_cmd(kind: str, year: int, under: str = typer.Option(
        None, help="drill down: aggregate the children of this node instead"),
        fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """This office's figures from its children's filed values, with coverage."""
    from node.reports import exports, service

    figs = _tx(data_dir, lambda s, rt: service.figures(session=s, code=rt.cfg.code, kind=kind,
                                                      year=year, under=under))
    rows = [f.as_dict() for f in figs]
    _emit_table(fmt, out, rows, [("汇总", rows, exports.FIGURE_COLUMNS)])


@app.command("warnings")
def warnings_cmd(kind: str, fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Early warnings: off target, projected to miss 2030, volatile — for this office and
    every office below it that reported."""
    from node.reports import exports, service

    ws = _tx(data_dir, lambda s, rt: service.early_warnings(
        session=s, code=rt.cfg.code, kind=kind, volatility=rt.settings.volatility_threshold))
    _emit_table(fmt, out, ws, [("预警", ws, exports.WARNING_COLUMNS)])


@audit_app.command("timeliness")
def audit_timeliness(subtree: str = typer.Option(None, help="audit only this node's subtree"),
                     year: int = typer.Option(None, help="only this report year"),
                     from_year: int = typer.Option(2021, help="first report year expected"),
                     fmt: str = Fmt, out: Path = Out, data_dir: Path = DataDir) -> None:
    """Who filed what, when, and whether on time — for the whole subtree, from the ledger."""
    from datetime import datetime

    from node.audit.timeliness import kinds_in_force, timeliness
    from node.reports import exports

    async def go(s: Any, rt: Any) -> Any:
        try:
            today = datetime.now(rt.cfg.zone).date()
            return await timeliness(session=s, self_code=rt.cfg.code, subtree=subtree,
                                    year=year, today=today,
                                    report_years=range(from_year, today.year),
                                    kinds=await kinds_in_force(s, rt.cfg.code) or None)
        except KeyError:
            from node.errors import NotFound

            raise NotFound(f"{subtree} is not in this office's subtree") from None

    rep = _tx(data_dir, go)
    _emit_table(fmt, out, rep, [("报送明细", rep["rows"], exports.AUDIT_COLUMNS),
                                ("按单位", rep["by_node"], exports.RATE_COLUMNS),
                                ("按层级", rep["by_level"], exports.RATE_COLUMNS)])
    if fmt == "table":
        typer.echo("")
        _emit_table("table", None, rep, [("按层级", rep["by_level"], exports.RATE_COLUMNS)])


cluster_app = typer.Typer(help="Run any subtree of divisions.json as real node processes.",
                          no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
ClusterDir = typer.Option(Path("plansync-cluster"), "--dir", help="cluster base directory")


@cluster_app.command("up")
def cluster_up(root: str = typer.Option("150000", help="GB/T 2260 code of the subtree root"),
               depth: int = typer.Option(None, help="levels below the root (default: all)"),
               children: int = typer.Option(None, help="at most N children per node"),
               pg_admin: str = typer.Option(None, help="PostgreSQL admin URL: one database "
                                            "per node (default: SQLite files)"),
               redis_url: str = typer.Option(None, help="Redis: arq workers per node"),
               enrol: bool = typer.Option(True, help="enrol every node with its parent"),
               base: Path = ClusterDir) -> None:
    """Start the subtree as `plansync serve` (and `worker`) processes; they keep running."""
    from node.harness import Cluster, pick

    try:
        codes = pick(root, depth, children)
    except KeyError as e:
        _fail(str(e))
        return
    if (base / "cluster.json").exists():
        _fail(f"{base} already holds a cluster: `plansync cluster down --dir {base}` first")

    def progress(i: int, n: int, what: str) -> None:
        typer.echo(f"  [{i}/{n}] {what}")

    async def go() -> Any:
        c = await Cluster.create(base, codes, pg_admin=pg_admin, redis_url=redis_url,
                                 progress=progress)
        try:
            await c.start_all(progress=progress)
            if enrol:
                await c.enrol_all(progress=progress)
        except BaseException:  # leave nothing running behind a failed start
            c.stop_all()
            typer.secho(f"错误 error: cluster start failed; every process it started was "
                        f"stopped. Logs: {base}/<code>/serve.log; remove with "
                        f"`plansync cluster down --dir {base} --purge`",
                        fg=typer.colors.RED, err=True)
            raise
        c.save()
        return c

    c = _run(go)
    typer.echo(f"集群已启动 cluster up: {len(c.members)} nodes in {base}")


@cluster_app.command("status")
def cluster_status(base: Path = ClusterDir) -> None:
    """Each node's readiness, outbox and address."""
    import httpx

    from node.harness import Cluster

    c = Cluster.load(base)
    for m in c.members.values():
        try:
            r = httpx.get(f"{m.url}/readyz", timeout=2)
            state = "ready" if r.status_code == 200 else f"not ready ({r.status_code})"
            who = httpx.get(f"{m.url}/sync/v1/identity", timeout=2).json().get("code")
            if who != m.code:
                state = f"port answered by another node ({who})"
        except (httpx.HTTPError, ValueError):
            state = "down"
        typer.echo(f"{m.code} {m.name:<10} {m.level:<8} {m.url:<24} {state}")


@cluster_app.command("down")
def cluster_down(base: Path = ClusterDir,
                 purge: bool = typer.Option(False, help="also delete data and databases")) -> None:
    """Stop the cluster's processes (and with --purge remove its data)."""
    import shutil

    from node.harness import Cluster

    c = Cluster.load(base)
    n = c.down()
    if purge:
        _run(c.drop_databases)
        shutil.rmtree(base, ignore_errors=True)
    else:
        (base / "cluster.json").rename(base / "cluster.stopped.json")
    typer.echo(f"集群已停止 cluster down: signalled {n} processes")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

