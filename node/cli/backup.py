"""Backup and restore (`plansync backup`, `plansync restore`; node.backup)."""

from __future__ import annotations

from pathlib import Path

import typer

from node.cli.common import DataDir, fail


def _progress(msg: str) -> None:
    typer.secho(f"… {msg}", err=True, dim=True)


def backup(
    out: Path = typer.Option(..., "--out", help="the archive to write (.tar.gz)"),
    data_dir: Path = DataDir,
    force: bool = typer.Option(False, "--force", help="replace --out if it exists"),
) -> None:
    """备份节点 Back up this node: database (SQLite online backup, or pg_dump for PostgreSQL),
    node.json and the key, with a manifest of checksums, in one .tar.gz. Safe while the node
    serves."""
    from node.backup import make_backup
    from node.errors import NodeError

    try:
        res = make_backup(data_dir, out, progress=_progress, force=force)
    except NodeError as e:
        fail(e.message, 1)
    except OSError as e:  # a full disk, no permission: nothing was left behind
        fail(f"备份失败 backup failed: {e.strerror or e} ({e.filename or out})", 1)
    m = res.manifest
    typer.echo(f"已备份 backed up {m['node']['code']} {m['node']['name']} → {res.path}")
    typer.echo(f"  时间 time: {m['created_at_beijing']}  数据库 database: {m['backend']}  "
               f"架构版本 schema: {m['schema_revision']}")


def restore(
    archive: Path = typer.Argument(..., help="a backup made by `plansync backup`"),
    data_dir: Path = typer.Option(..., "--dir", help="the data directory to restore into"),
    force: bool = typer.Option(False, "--force", help="replace the node already in --dir "
                               "(it must be stopped)"),
    database_url: str | None = typer.Option(
        None, "--database-url", help="PostgreSQL backups: an empty database to restore into "
        "(postgresql+asyncpg://…); default: the one in the backup's node.json"),
) -> None:
    """恢复节点 Restore a backup into a data directory: verifies the archive first, migrates an
    older database, and starts a new epoch so the node's parent and children re-offer what it
    lost since the backup (docs/operations.md, "Backup and restore")."""
    from node.backup import restore_backup
    from node.errors import NodeError

    try:
        res = restore_backup(archive, data_dir, force=force, database_url=database_url,
                             progress=_progress)
    except NodeError as e:
        fail(e.message, 1)
    except OSError as e:
        fail(f"恢复失败 restore failed: {e.strerror or e} ({e.filename or data_dir}); "
             "fix that and restore again (with --force)", 1)
    m = res.manifest
    typer.echo(f"已恢复 restored {m['node']['code']} {m['node']['name']} "
               f"({m['created_at_beijing']} 的备份 backup) → {res.data_dir}")
    if res.migrated_from:
        typer.echo(f"  已迁移 migrated the schema {res.migrated_from} → {res.revision}")
    typer.echo("  新纪元 new epoch: the parent and the children will re-offer what this node "
               "took in after the backup once it serves again")
    typer.echo(f"  下一步 next: plansync serve --data-dir {res.data_dir}")
