"""Imports run one way: commands -> web -> metrics -> probe -> certs -> logs -> base; no circle.

Every import of the package is read from the source with ast, at any depth (a lazy import inside
a function counts too): a module may import its own wing or a lower one. The base modules at the
top level (config, errors, logsetup ...) import only each other; cli.py and __main__.py, the
entry points, may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stproxy_monitor"
# Lowest first. A module's rank is its wing's; top-level modules are "base" unless entry points.
# probe (the APNs HTTP/2 probe) reads certificates (certs) and is shown by metrics.
ORDER = ("base", "logs", "certs", "probe", "metrics", "web", "commands", "entry")
ENTRY_POINTS = frozenset({"stproxy_monitor.cli", "stproxy_monitor.__main__"})


def module_name(package: Path, path: Path) -> str:
    """The dotted name of the module at `path` inside `package`."""
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def wing(name: str) -> str:
    """The wing a module of the package belongs to."""
    if name in ENTRY_POINTS:
        return "entry"
    parts = name.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ORDER else "base"


def imported_modules(tree: ast.AST, name: str, is_package: bool, root: str) -> set[str]:
    """Modules of the package that the module `name` imports, at any depth."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == root)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != root:
                continue
            found.add(base)
            # `from pkg import module` names a module when pkg/module.py exists
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of `package` and the modules of it that it imports (only real modules)."""
    sources = {module_name(package, p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in sources.items():
        tree = ast.parse(path.read_text(), str(path))
        found = imported_modules(tree, name, path.name == "__init__.py", package.name)
        graph[name] = {m for m in found if m in sources and m != name}
    return graph


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports against the one-way order, as 'importer -> imported (wing -> wing)'."""
    bad = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target == importer.rpartition(".")[0]:
                continue  # a package's own __init__ (its docstring) is everyone's
            low, high = wing(target), wing(importer)
            if ORDER.index(low) > ORDER.index(high):
                bad.append(f"{importer} -> {target} ({high} imports {low})")
    return bad


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_run_one_way_only() -> None:
    """No module of the package imports a wing above its own."""
    assert violations(import_graph(PACKAGE)) == []


def test_no_import_circle() -> None:
    """No two modules of the package import each other, directly or around a circle."""
    assert circles(import_graph(PACKAGE)) == []


def test_every_wing_is_known() -> None:
    """Every subpackage is one of the wings of ORDER (a new wing must be placed in the order)."""
    subpackages = {
        p.relative_to(PACKAGE).parts[0] for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE
    }
    assert subpackages <= set(ORDER), sorted(subpackages - set(ORDER))


MAX_LINES = 400
# Modules still over the limit, with the size they may not grow beyond (to be split: issue 11).
OVERSIZE: dict[str, int] = {}


def test_no_module_over_400_lines() -> None:
    """Modules stay readable: none is over 400 lines, and none of OVERSIZE grows."""
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    over = {m: n for m, n in sizes.items() if n > OVERSIZE.get(m, MAX_LINES)}
    assert over == {}


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "stproxy_monitor"
    for rel, text in files.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "logs/__init__.py": "",
                "logs/a.py": "from stproxy_monitor.web import server\n",
                "web/__init__.py": "",
                "web/server.py": "",
            },
            ["stproxy_monitor.logs.a -> stproxy_monitor.web.server (logs imports web)"],
        ),
        (
            {
                "config.py": "def f():\n    from stproxy_monitor.logs.parser import X\n",
                "logs/__init__.py": "",
                "logs/parser.py": "",
            },
            ["stproxy_monitor.config -> stproxy_monitor.logs.parser (base imports logs)"],
        ),
        (
            {
                "certs/__init__.py": "",
                "certs/a.py": "from ..metrics import b\n",
                "metrics/__init__.py": "",
                "metrics/b.py": "",
            },
            ["stproxy_monitor.certs.a -> stproxy_monitor.metrics.b (certs imports metrics)"],
        ),
        (
            {
                "web/__init__.py": "",
                "web/a.py": "import stproxy_monitor.logs.b\n",
                "logs/__init__.py": "",
                "logs/b.py": "",
                "cli.py": "import stproxy_monitor.web.a\n",
            },
            [],
        ),
    ],
)
def test_checker_sees_upward_imports(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    """The checker itself reports an upward import, lazy or relative, and allows downward ones."""
    assert violations(import_graph(_write(tmp_path, files))) == expected


def test_checker_sees_a_circle(tmp_path: Path) -> None:
    """The checker reports two modules of one wing that import each other."""
    package = _write(
        tmp_path,
        {
            "logs/__init__.py": "",
            "logs/a.py": "from stproxy_monitor.logs import b\n",
            "logs/b.py": "def f():\n    from stproxy_monitor.logs.a import g\n",
        },
    )
    assert circles(import_graph(package)) == [["stproxy_monitor.logs.a", "stproxy_monitor.logs.b"]]
