"""Provisioning a node: what `plansync init` does, shared by the harness, the simulation and
the tests."""

from __future__ import annotations

from pathlib import Path

from node.config import NodeConfig, write_config
from node.db import create_engine, session_factory, transaction, upgrade
from node.protocol.directory import ensure_self
from sync import Signer


async def provision(cfg: NodeConfig, *, template_db: Path | None = None) -> Signer:
    """Create the data directory (owner-only), the key pair (kept if present), ``node.json``,
    the migrated database (or a copy of a migrated SQLite template) and this node's own
    directory row. Returns the node's signer."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    cfg.data_dir.chmod(0o700)
    if cfg.key_path.exists():
        signer = Signer.load(cfg.key_path)
    else:
        signer = Signer.generate()
        signer.save(cfg.key_path)
    write_config(cfg)
    if template_db is not None:
        import shutil

        shutil.copy(template_db, cfg.database_url.split("///", 1)[1])
    engine = create_engine(cfg.database_url)
    try:
        if template_db is None:
            await upgrade(engine)
        async with transaction(session_factory(engine)) as s:
            await ensure_self(s, cfg, signer)
    finally:
        await engine.dispose()
    return signer
