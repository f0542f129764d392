"""This node's signing key: rotation, key transparency, recoveries (`plansync keys`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from node.cli.common import DataDir, fail, load_cfg, run, with_rt

keys_app = typer.Typer(help="This node's signing key.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(data_dir: Path = DataDir) -> None:
    """Replace this node's signing key; announce it to parent and children."""
    from node.protocol.keys import rotate_key

    cfg = load_cfg(data_dir)
    from node.errors import NodeError

    try:
        old, new = run(lambda: with_rt(cfg, rotate_key))
    except NodeError as e:
        fail(e.message, 1)
    typer.echo(f"密钥已轮换 key rotated: {old} -> {new} (announcement queued in the outbox)")


@keys_app.command("check")
def keys_check(data_dir: Path = DataDir,
               as_json: bool = typer.Option(False, "--json")) -> None:
    """Key transparency: ask every ancestor which key it holds for this node."""
    from node.protocol.keytrust import check_ancestors

    cfg = load_cfg(data_dir)
    state = run(lambda: with_rt(cfg, check_ancestors))
    if as_json:
        typer.echo(json.dumps(state, ensure_ascii=False, indent=2))
    else:
        for code, verdict in state["ancestors"].items():
            ok = verdict == "ok"
            typer.secho(f"  {code}  {'一致 ok' if ok else '告警 ALARM: ' + verdict}",
                        fg=None if ok else typer.colors.RED)
        if not state["ancestors"]:
            typer.echo("没有上级节点 no ancestors to ask")
    if state["status"] != "ok":
        fail("密钥透明性告警 key transparency alarm: an ancestor does not hold exactly this "
             f"node's key {state['key_id']}; tell the province office", 1)


@keys_app.command("recoveries")
def keys_recoveries(data_dir: Path = DataDir,
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """Recovered keys of subtree nodes waiting for an admin of this node to confirm them."""
    from node.protocol.keytrust import pending_recoveries

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> list[dict[str, Any]]:
        async with rt.sessions() as session:
            return await pending_recoveries(session)

    rows = run(lambda: with_rt(cfg, go))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("没有待确认的密钥恢复 no key recoveries waiting")
    for r in rows:
        typer.echo(f"{r['code']}  {r['name'] or ''}  new key {r['key_id']}  announced "
                   f"{r['announced_at']} (parent {r['parent']})")


@keys_app.command("confirm")
def keys_confirm(code: str, key_id: str, data_dir: Path = DataDir,
                 actor: str = typer.Option("cli", "--as", help="admin confirming")) -> None:
    """Confirm a recovered key of a subtree node (call its office first to check the key id)."""
    from node.errors import NodeError
    from node.protocol.keytrust import confirm_recovery

    cfg = load_cfg(data_dir)
    try:
        run(lambda: with_rt(cfg, lambda rt: confirm_recovery(rt, code=code, key_id=key_id,
                                                              actor=actor)))
    except NodeError as e:
        fail(e.message)
    typer.echo(f"已确认 confirmed: key {key_id} is now the only key of {code} here")
