"""Backing up and restoring a node (`plansync backup`, `plansync restore`; docs/operations.md,
"Backup and restore").

A backup is one ``.tar.gz``: ``manifest.json`` (format, node, schema revision, software
version, time in UTC and Beijing time, SHA-256 and size of every member), ``node.json``, the
key file(s) and the database — a SQLite copy made with the sqlite3 online backup API
(consistent while the node serves), or a ``pg_dump`` custom-format dump for PostgreSQL.

A restore verifies the archive completely before it touches anything, stages everything next
to the target, migrates an older database, gives the node a new epoch (so its neighbours
re-offer what it lost, docs/protocol.md "Restored nodes") and only then moves the files into
place. Any failure leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from node import __version__
from node.config import CONFIG_FILE, KEY_FILE, ConfigError, NodeConfig, load_config
from node.errors import BadRequest, Conflict, NodeError, NotFound, Unavailable

FORMAT = "plansync-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "plansync.db"
PG_MEMBER = "database.pgdump"
BEIJING = ZoneInfo("Asia/Shanghai")
MAX_MEMBER_BYTES = 64 * 2**30  # refuse absurd members before reading them

Progress = Callable[[str], None]


class ArchiveInvalid(BadRequest):
    """The file is not a plansync backup, or it is damaged."""

    code = "backup_invalid"


class BackupFailed(NodeError):
    """Making or restoring a backup failed; nothing was left behind."""

    code = "backup_failed"


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]


@dataclass
class RestoreResult:
    data_dir: Path
    manifest: dict[str, Any]
    migrated_from: str | None
    revision: str | None
    epoch: str


def _quiet(_: str) -> None:
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") + " 北京时间"


def sqlite_file(cfg: NodeConfig) -> Path | None:
    """The database file of a SQLite node (None for PostgreSQL)."""
    from sqlalchemy.engine import make_url

    url = make_url(cfg.database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:":
        raise BadRequest("an in-memory database cannot be backed up")
    path = Path(url.database)
    return path if path.is_absolute() else cfg.data_dir / path


def libpq_url(database_url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as pg_dump/pg_restore take it, and the environment that
    carries its password (never on the command line)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    env = {"PGPASSWORD": url.password} if url.password else {}
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Unavailable(
            f"找不到 {name} {name} is not on PATH: install the PostgreSQL client tools "
            "(Debian/Ubuntu: apt install postgresql-client; the major version must be at least "
            "the server's), or back up the database yourself with "
            f"`pg_dump --format=custom` and keep it next to node.json and {KEY_FILE}",
            code="pg_tools_missing")
    return path


def _schema_revision_sqlite(path: Path) -> str | None:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        con.close()
    return str(row[0]) if row else None


async def _schema_revision_url(database_url: str) -> str | None:
    from node.db import create_engine, current_revision

    engine = create_engine(database_url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


def _key_files(cfg: NodeConfig) -> list[Path]:
    keys = sorted(p for p in cfg.data_dir.glob("*.pem") if p.is_file())
    if cfg.key_path not in keys:
        raise NotFound(f"节点密钥不存在 the node key {cfg.key_path} is missing: a backup "
                       "without it cannot sign anything; restore the key first")
    return keys


@contextlib.contextmanager
def _staging(near: Path, prefix: str) -> Iterator[Path]:
    """A private temporary directory on the same file system as ``near`` (so the final
    moves are renames), removed whatever happens."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=near))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_sqlite(src: Path, dst: Path, progress: Progress) -> None:
    """The sqlite3 online backup API: a consistent copy while other processes write."""
    if not src.exists():
        raise NotFound(f"数据库文件不存在 the database file {src} does not exist")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst)
    shown = [-1]

    def step(_status: int, remaining: int, total: int) -> None:
        pct = 100 if total == 0 else int(100 * (total - remaining) / total)
        if pct // 10 != shown[0] // 10:
            shown[0] = pct
            progress(f"复制数据库 copying the database: {pct}%")

    try:
        source.backup(target, pages=256, progress=step)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.Error as e:
        raise BackupFailed(f"数据库复制失败 could not copy the SQLite database {src}: {e}"
                           ) from None
    finally:
        target.close()
        source.close()


def _pg_dump(database_url: str, dst: Path, progress: Progress) -> None:
    tool = _pg_tool("pg_dump")
    url, env = libpq_url(database_url)
    progress("导出数据库 dumping the PostgreSQL database (pg_dump)")
    p = subprocess.run([tool, "--format=custom", "--no-owner", "--file", str(dst),
                        "--dbname", url], capture_output=True, text=True,
                       env={**os.environ, **env}, check=False)
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BackupFailed(f"pg_dump 失败 pg_dump failed: {err}")


def make_backup(data_dir: Path | None, out: Path, *, progress: Progress = _quiet,
                force: bool = False) -> BackupResult:
    """Write a backup of the node in ``data_dir`` to ``out`` (a .tar.gz). The archive
    appears only when it is complete."""
    import asyncio

    try:
        cfg = load_config(data_dir)
    except ConfigError as e:
        raise BadRequest(str(e)) from None
    out = out.expanduser()
    if not out.parent.is_dir():
        raise NotFound(f"目录不存在 folder {out.parent} does not exist: create it or choose "
                       "another --out")
    if out.exists() and not force:
        raise Conflict(f"文件已存在 {out} already exists: choose another --out (or --force to "
                       "replace it)")
    if out.resolve().is_relative_to(cfg.data_dir.resolve()):
        raise BadRequest("备份不能放在数据目录里 do not write the backup into the data "
                         f"directory {cfg.data_dir}: it would be in the next backup, and lost "
                         "with the directory")
    keys = _key_files(cfg)
    started = datetime.now(tz=BEIJING)
    with _staging(out.parent, ".plansync-backup-") as stage:
        db_file = sqlite_file(cfg)
        if db_file is not None:
            db_member = SQLITE_MEMBER
            _copy_sqlite(db_file, stage / db_member, progress)
            revision = _schema_revision_sqlite(stage / db_member)
            backend = "sqlite"
        else:
            db_member = PG_MEMBER
            revision = asyncio.run(_schema_revision_url(cfg.database_url))
            _pg_dump(cfg.database_url, stage / db_member, progress)
            backend = "postgresql"
        members: list[tuple[str, Path]] = [(CONFIG_FILE, cfg.data_dir / CONFIG_FILE)]
        members += [(k.name, k) for k in keys]
        members.append((db_member, stage / db_member))
        progress("校验 computing checksums")
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "node": {"code": cfg.code, "name": cfg.name, "level": cfg.level.value},
            "backend": backend, "database": db_member, "schema_revision": revision,
            "software_version": __version__,
            "created_at": started.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "created_at_beijing": _beijing(started),
            "members": {name: {"sha256": _sha256(path), "bytes": path.stat().st_size}
                        for name, path in members},
        }
        partial = stage / "archive.tar.gz"
        progress("打包 writing the archive")
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(started.timestamp())
            tar.addfile(info, io.BytesIO(data))
            for name, path in members:
                tar.add(path, arcname=name, recursive=False)
        partial.chmod(0o600)
        os.replace(partial, out)  # the archive appears whole, or not at all
    return BackupResult(out, manifest)


# -- restore ------------------------------------------------------------------------------------

def read_archive(archive: Path, into: Path) -> dict[str, Any]:
    """Extract ``archive`` into the empty directory ``into`` and verify it: a plansync
    manifest, exactly the members it lists, each with its SHA-256. Raises ArchiveInvalid."""
    if not archive.is_file():
        raise NotFound(f"备份文件不存在 backup file {archive} does not exist")
    foreign = (f"不是 plansync 备份 {archive} is not a plansync backup (made by `plansync "
               "backup`)")
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError):
        raise ArchiveInvalid(foreign) from None
    try:
        with tar:
            names: list[str] = []
            for m in tar:
                if (not m.isfile() or "/" in m.name or "\\" in m.name
                        or m.name.startswith(".") or m.size > MAX_MEMBER_BYTES
                        or m.name in names):
                    raise ArchiveInvalid(f"{foreign}: unexpected member {m.name!r}")
                names.append(m.name)
                tar.extract(m, into, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ArchiveInvalid(f"备份文件已损坏 {archive} is damaged ({e}); use another "
                             "backup") from None
    if MANIFEST not in names:
        raise ArchiveInvalid(foreign)
    try:
        manifest = json.loads((into / MANIFEST).read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ArchiveInvalid(f"{foreign}: its manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveInvalid(foreign)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveInvalid(f"备份格式版本 {manifest.get('format_version')} 不受支持 backup "
                             "format version not supported by this plansync: upgrade it")
    members = manifest.get("members")
    db = manifest.get("database")
    if (not isinstance(members, dict) or db not in (SQLITE_MEMBER, PG_MEMBER)
            or CONFIG_FILE not in members or KEY_FILE not in members or db not in members
            or manifest.get("backend") not in ("sqlite", "postgresql")):
        raise ArchiveInvalid(f"{foreign}: its manifest is incomplete")
    listed = set(members) | {MANIFEST}
    if set(names) != listed:
        odd = sorted(set(names) ^ listed)
        raise ArchiveInvalid(f"备份文件已损坏 {archive} is damaged: members {odd} do not match "
                             "its manifest")
    for name, facts in members.items():
        want = facts.get("sha256") if isinstance(facts, dict) else None
        if not isinstance(want, str) or _sha256(into / name) != want:
            raise ArchiveInvalid(f"备份文件已损坏 {archive} is damaged: {name} does not match "
                                 "its checksum; use another backup")
    return manifest


def node_answers(cfg_raw: dict[str, Any]) -> bool:
    """Is the node of this node.json serving now (its base URL answers as its code)?"""
    import httpx

    url, code = cfg_raw.get("base_url"), cfg_raw.get("code")
    if not isinstance(url, str) or not url:
        return False
    try:
        r = httpx.get(f"{url.rstrip('/')}/sync/v1/identity", timeout=2)
        return r.status_code == 200 and r.json().get("code") == code
    except (httpx.HTTPError, ValueError):
        return False


async def _prepare_database(url: str, code: str) -> tuple[str | None, str | None, str]:
    """Migrate a staged database to this software's schema if it is older, and give the node
    a new epoch. Returns (revision before, revision after, new epoch)."""
    from node.db import create_engine, current_revision, head_revision, session_factory, upgrade
    from node.db import transaction as tx
    from node.protocol.outbox import renew_epoch

    engine = create_engine(url)
    try:
        before = await current_revision(engine)
        head = head_revision()
        if before != head:  # older (a newer one was refused by _check_revision)
            _check_revision(before)
            await upgrade(engine)
        async with tx(session_factory(engine)) as session:
            try:
                epoch = await renew_epoch(session, code)
            except LookupError as e:
                raise ArchiveInvalid(f"备份内容不完整 the backup's database is not a node's: {e}"
                                     ) from None
        return before, await current_revision(engine), epoch
    finally:
        await engine.dispose()


def _pg_database_has_tables(url: str) -> bool:
    import asyncio

    from sqlalchemy import text

    from node.db import create_engine

    async def go() -> bool:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                n = await conn.scalar(text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'public'"))
                return bool(n)
        finally:
            await engine.dispose()
    return asyncio.run(go())


def _pg_restore(dump: Path, database_url: str, progress: Progress) -> None:
    tool = _pg_tool("pg_restore")
    url, env = libpq_url(database_url)
    progress("导入数据库 restoring the PostgreSQL database (pg_restore)")
    p = subprocess.run([tool, "--no-owner", "--exit-on-error", "--single-transaction",
                        "--dbname", url, str(dump)], capture_output=True, text=True,
                       env={**os.environ, **env}, check=False)
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise BackupFailed(f"pg_restore 失败 pg_restore failed: {err}; the database was left "
                           "as it was (one transaction)")


def _check_revision(revision: object) -> None:
    """A backup from a newer plansync (a schema revision this one does not know) is refused
    before anything is restored."""
    from alembic.script import ScriptDirectory

    from node.db import alembic_config, head_revision

    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision is not None and revision not in known:
        raise BackupFailed(
            f"备份来自更新的版本 the backup's schema {revision} is newer than this plansync "
            f"({__version__}, schema {head_revision()}): restore it with a newer plansync")


async def _empty_pg(url: str) -> None:
    from sqlalchemy import text

    from node.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def restore_backup(archive: Path, data_dir: Path, *, force: bool = False,
                   database_url: str | None = None,
                   progress: Progress = _quiet) -> RestoreResult:
    """Restore ``archive`` into ``data_dir``. Refuses an existing node without ``force``
    and a node that is serving in any case. SQLite: the database file is replaced;
    PostgreSQL: ``pg_restore`` into ``database_url`` (default: the one in the backup's
    node.json), which must be empty — a fresh database."""
    import asyncio

    from node.db import head_revision

    archive = archive.expanduser()
    data_dir = data_dir.expanduser()
    if data_dir.exists() and not data_dir.is_dir():
        raise BadRequest(f"{data_dir} is a file, not a data directory")
    existing = data_dir / CONFIG_FILE
    if existing.exists():
        try:
            raw = json.loads(existing.read_text("utf-8"))
        except (ValueError, OSError, UnicodeDecodeError):
            raw = {}
        if isinstance(raw, dict) and node_answers(raw):
            raise Conflict(f"节点正在运行 the node in {data_dir} is serving at "
                           f"{raw.get('base_url')}: stop `plansync serve` and `plansync worker` "
                           "first, then restore")
        if not force:
            raise Conflict(f"目录中已有节点 {data_dir} already holds a node: pass --force to "
                           "replace it with the backup (the current data is lost), or restore "
                           "into a new --dir")
    parent = data_dir.resolve().parent
    if not parent.is_dir():
        raise NotFound(f"目录不存在 folder {parent} does not exist: create it first")
    with _staging(parent, ".plansync-restore-") as stage:
        progress("校验备份 verifying the backup")
        files = stage / "files"
        files.mkdir()
        manifest = read_archive(archive, files)
        code = str(manifest["node"]["code"])
        try:
            node_cfg = json.loads((files / CONFIG_FILE).read_text("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ArchiveInvalid("备份中的 node.json 无效 node.json in the backup is not JSON"
                                 ) from None
        if not isinstance(node_cfg, dict) or node_cfg.get("code") != code:
            raise ArchiveInvalid("备份中的 node.json 与清单不符 node.json in the backup does "
                                 "not match its manifest")
        _check_revision(manifest.get("schema_revision"))
        if manifest["backend"] == "sqlite":
            node_cfg.pop("database_url", None)  # data_dir/plansync.db, wherever it is now
            db_url = f"sqlite+aiosqlite:///{(files / SQLITE_MEMBER).resolve()}"
        else:
            db_url = database_url or str(node_cfg.get("database_url") or "")
            if not db_url.startswith("postgresql+asyncpg://"):
                raise BadRequest("恢复 PostgreSQL 备份需要数据库 a PostgreSQL backup needs "
                                 "--database-url postgresql+asyncpg://…/NEW_DB (an empty "
                                 "database, e.g. made with createdb)")
            try:
                busy = _pg_database_has_tables(db_url)
            except Exception as e:  # noqa: BLE001 - driver errors vary
                raise Unavailable(f"无法连接数据库 cannot reach {libpq_url(db_url)[0]}: "
                                  f"{str(e).splitlines()[0][:200]}") from None
            if busy:
                raise Conflict("目标数据库不是空的 the target database already has tables: "
                               "restore into a fresh database (createdb NAME) and pass it "
                               "with --database-url")
            node_cfg["database_url"] = db_url
            _pg_restore(files / PG_MEMBER, db_url, progress)
        progress("迁移并更新纪元 migrating the schema and starting a new epoch")
        try:
            before, after, epoch = asyncio.run(_prepare_database(db_url, code))
        except BaseException as e:
            if manifest["backend"] == "postgresql":  # it was empty: leave it empty again
                asyncio.run(_empty_pg(db_url))
            if isinstance(e, NodeError) or not isinstance(e, Exception):
                raise
            raise ArchiveInvalid(f"备份中的数据库无法打开 the database in the backup cannot be "
                                 f"used: {str(e).splitlines()[0][:200]}") from None
        (files / CONFIG_FILE).write_text(
            json.dumps(node_cfg, ensure_ascii=False, indent=2) + "\n", "utf-8")
        progress("放置文件 moving the files into place")
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)
        if manifest["backend"] == "sqlite":
            for stale in ("-wal", "-shm", "-journal"):  # the old database's side files
                (data_dir / f"{SQLITE_MEMBER}{stale}").unlink(missing_ok=True)
            os.replace(files / SQLITE_MEMBER, data_dir / SQLITE_MEMBER)
        for name in manifest["members"]:
            if name.endswith(".pem"):
                (files / name).chmod(0o600)
                os.replace(files / name, data_dir / name)
        os.replace(files / CONFIG_FILE, data_dir / CONFIG_FILE)  # last: the node is whole
    return RestoreResult(data_dir, manifest, before if before != after else None,
                         after or head_revision(), epoch)
