from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import sync

ROOT = Path(__file__).resolve().parent.parent


def test_public_api_is_listed() -> None:
    public = {n for n in dir(sync) if not n.startswith("_")}
    assert set(sync.__all__) == public - {"annotations"}


def test_sync_imports_nothing_from_fastapi_or_node() -> None:
    for path in (ROOT / "sync").glob("*.py"):
        text = path.read_text()
        assert "fastapi" not in text and "from node" not in text and "import node" not in text, \
            path


def test_wheel_ships_schemas(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("plansync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sync/schemas/envelope.schema.json" in names
    assert "sync/schemas/types/plan.filing.schema.json" in names
    assert "node/migrations/versions/0001_initial_schema.py" in names
    assert "node/migrations/script.py.mako" in names
