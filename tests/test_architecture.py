"""The import graph of node/ and sync/ has no cycle, and sync/ stands alone (issue #11).

Every import counts, function-local ones included (a local import is still a dependency,
only a hidden one). Modules are files; a package's ``__init__`` counts as the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("node", "sync")


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            out[_module_of(path)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            # the longest known module that the import names
            parts = t.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in known:
                    if cand != name:
                        found.add(cand)
                    break
    return found


def graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def _external(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def _importers(g: dict[str, set[str]], target: str) -> list[str]:
    return sorted(m for m, deps in g.items() if target in deps)


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (every import counts, local ones too):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_sync_is_a_standalone_library() -> None:
    for path in (ROOT / "sync").rglob("*.py"):
        ext = _external(path)
        assert not ext & {"node", "fastapi", "starlette", "sqlalchemy"}, (path, ext)


def test_the_cycle_finder_finds_cycles() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    # and the graph is read from the real tree: the inbox depends on sync
    assert "sync" in graph()["node.protocol.inbox"]
    assert _importers(graph(), "node.protocol.inbox")


def test_only_the_cli_uses_the_lab_tools() -> None:
    """node/lab (clusters, demo, simulation) sits above the wiring: nothing in node/ but the
    CLI and the lab itself imports it."""
    g = graph()
    users = {m for m, deps in g.items() if any(d.startswith("node.lab") for d in deps)}
    assert {m for m in users if not m.startswith(("node.lab", "node.cli"))} == set()
    assert users, "the CLI reaches the lab tools (cluster, demo)"


def test_the_cli_never_goes_through_the_http_layer() -> None:
    g = graph()
    http = {m for m in g if m == "node.api" or m.endswith(".endpoints")}
    for m, deps in g.items():
        if m.startswith("node.cli"):
            assert not deps & http, (m, deps & http)
