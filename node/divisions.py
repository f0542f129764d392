"""The GB/T 2260 administrative tree shipped with plansync (node/data/divisions.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    parent: str | None


@cache
def divisions() -> dict[str, Division]:
    raw = json.loads((DATA / "divisions.json").read_text(encoding="utf-8"))
    return {d["code"]: Division(d["code"], d["name"], d["level"], d["parent"])
            for d in raw["divisions"]}


def subtree(root: str) -> list[Division]:
    """``root`` and all its descendants, parents before children."""
    all_ = divisions()
    if root not in all_:
        raise KeyError(f"{root} is not a GB/T 2260 code in divisions.json")
    kids: dict[str, list[str]] = {}
    for d in all_.values():
        if d.parent:
            kids.setdefault(d.parent, []).append(d.code)
    out, todo = [], [root]
    while todo:
        code = todo.pop(0)
        out.append(all_[code])
        todo.extend(sorted(kids.get(code, [])))
    return out
