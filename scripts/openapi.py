"""Write the node's OpenAPI document (what the console's API client is generated from).

    .venv/bin/python scripts/openapi.py console/openapi.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from node.app import create_app
from node.config import build_config


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config({"code": "150000", "name": "内蒙古自治区", "level": "province",
                            "base_url": "http://127.0.0.1:8000",
                            "database_url": f"sqlite+aiosqlite:///{tmp}/n.db", "data_dir": tmp})
        spec = create_app(cfg).openapi()
    Path(out).write_text(json.dumps(spec, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "console/openapi.json")
