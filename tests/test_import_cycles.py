"""Patrol's packages form layers: no module may (directly or through others) import
itself, neither at the top of a file nor inside a function, where cycles used to
hide. Imports under ``if TYPE_CHECKING:`` do not run and do not count."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "patrol"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Patrol modules ``name`` imports when it runs (any depth in the file)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def resolve(target: str) -> str | None:
        # the longest known module that the dotted name starts with
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("patrol"):
                        found = resolve(alias.name)
                        if found:
                            out.add(found)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    stem = ".".join(base + ([child.module] if child.module else []))
                else:
                    stem = child.module or ""
                if not stem.startswith("patrol"):
                    continue
                for alias in child.names:
                    # `from pkg import sub` imports the submodule when there is one
                    found = resolve(f"{stem}.{alias.name}") if f"{stem}.{alias.name}" in modules else resolve(stem)
                    if found:
                        out.add(found)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {(_module_name(p)): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    modules = set(files)
    return {name: _imports(path, name, modules) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (each line is one set of modules that import each other):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    graph = {"patrol.a": {"patrol.b"}, "patrol.b": {"patrol.c"}, "patrol.c": {"patrol.a"}, "patrol.d": {"patrol.a"}}
    assert cycles(graph) == [["patrol.a", "patrol.b", "patrol.c"]]


def test_a_function_level_import_counts(tmp_path: Path) -> None:
    pkg = tmp_path / "patrol"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n")
    modules = {"patrol", "patrol.a", "patrol.b", "patrol.c"}
    assert _imports(pkg / "b.py", "patrol.b", modules) == {"patrol.a"}
    assert _imports(pkg / "c.py", "patrol.c", modules) == set()
    assert _imports(pkg / "a.py", "patrol.a", modules) == {"patrol.b"}


def test_loading_a_journey_needs_no_heavy_libraries() -> None:
    """Parsing a journey (what `patrol validate` does) loads no OpenCV, NumPy or
    APScheduler, and no browser or Appium client."""
    code = (
        "import sys\n"
        "import patrol.plugins\n"
        "from patrol.journey.loader import load_journey\n"
        f"load_journey({str(ROOT / 'journeys' / 'login.yaml')!r})\n"
        "heavy = sorted(m for m in ('cv2', 'numpy', 'apscheduler', 'playwright', 'appium', 'sqlalchemy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "DEMO_PASSWORD": "x"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
