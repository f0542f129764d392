"""Provisioning a node: what `plansync init` does, shared by the harness, the simulation and
the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from node.config import CONFIG_FILE, NodeConfig, sqlite_path, write_config
from node.db import create_engine, session_factory, transaction, upgrade
from node.protocol.directory import ensure_self
from sync import Signer


async def provision(cfg: NodeConfig, *, template_db: Path | None = None) -> Signer:
    """Create the data directory (owner-only), the key pair (kept if present), ``node.json``,
    the migrated database (or a copy of a migrated SQLite template) and this node's own
    directory row. Returns the node's signer.

    All or nothing: if any step fails (an unreachable database, a missing PostgreSQL
    database, a refused user, …) whatever this call created — the directory, the key,
    ``node.json``, the SQLite file — is removed again and an overwritten ``node.json`` is
    put back, so the same ``plansync init`` can simply be run again."""
    ddir = cfg.data_dir
    made_dir = not ddir.exists()
    config = ddir / CONFIG_FILE
    old_config = config.read_bytes() if config.exists() else None
    db_file = sqlite_path(cfg.database_url)
    made: list[Path] = []
    if db_file is not None and not db_file.exists():
        made += [db_file, db_file.with_name(db_file.name + "-wal"),
                 db_file.with_name(db_file.name + "-shm")]
    try:
        ddir.mkdir(parents=True, exist_ok=True)
        ddir.chmod(0o700)
        if cfg.key_path.exists():
            signer = Signer.load(cfg.key_path)
        else:
            made.append(cfg.key_path)
            signer = Signer.generate()
            signer.save(cfg.key_path)
        made.append(config)
        write_config(cfg)
        if template_db is not None:
            assert db_file is not None, "a template database is a SQLite file"
            shutil.copy(template_db, db_file)
        engine = create_engine(cfg.database_url)
        try:
            if template_db is None:
                await upgrade(engine)
            async with transaction(session_factory(engine)) as s:
                await ensure_self(s, cfg, signer)
        finally:
            await engine.dispose()
    except BaseException:
        _undo(ddir, made_dir, made, config, old_config)
        raise
    return signer


def _undo(ddir: Path, made_dir: bool, made: list[Path], config: Path,
          old_config: bytes | None) -> None:
    """Remove what a failed :func:`provision` created; restore a rewritten ``node.json``."""
    if made_dir:
        shutil.rmtree(ddir, ignore_errors=True)
        return
    for path in made:
        path.unlink(missing_ok=True)
    if old_config is not None:
        config.write_bytes(old_config)
