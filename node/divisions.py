"""The GB/T 2260 administrative tree shipped with plansync (node/data/divisions.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

# the optional national level above the provinces (not in divisions.json: GB/T 2260 has no
# code for the country); a node with this code is 国务院妇儿工委, level "national"
NATIONAL = "000000"
NATIONAL_NAME = "国务院妇儿工委"


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


def division(code: str) -> Division | None:
    """The division of ``code``, the national level (000000) included; None if unknown."""
    if code == NATIONAL:
        return Division(NATIONAL, NATIONAL_NAME, "national", None)
    return divisions().get(code)


@cache
def division_children() -> dict[str, tuple[str, ...]]:
    """parent code → its children in the division tree, sorted (the provinces under the
    national level 000000). Built once: callers look up many offices."""
    kids: dict[str, list[str]] = {}
    for d in divisions().values():
        kids.setdefault(d.parent or NATIONAL, []).append(d.code)
    return {k: tuple(sorted(v)) for k, v in kids.items()}


def tree_parent(code: str) -> str | None:
    """The parent of ``code`` in the whole-country tree: a province's is the national level
    (000000), the national level has none; None also for a code not in the tree."""
    if code == NATIONAL:
        return None
    d = divisions().get(code)
    if d is None:
        return None
    return d.parent or NATIONAL
