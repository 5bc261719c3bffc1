"""The package graph of patrol/ as import-linter sees it (every import: at the top of a
file, inside a function, under ``if TYPE_CHECKING:``): how many packages and arrows,
the strongly connected groups of packages (a group of more than one is a circle), and
the circles between modules.

    .venv/bin/python benchmarks/package_graph.py [-v]   # -v: the imports behind each arrow of a circle
"""

from __future__ import annotations

import sys
from collections import defaultdict

import grimp


def package_of(module: str) -> str:
    """``patrol.config.model`` -> ``patrol.config``; a root module is its own package."""
    return ".".join(module.split(".")[:2])


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's groups, each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups, key=len, reverse=True)


def main() -> None:
    graph = grimp.build_graph("patrol", include_external_packages=False, exclude_type_checking_imports=False)
    modules: dict[str, set[str]] = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    packages: dict[str, set[str]] = defaultdict(set)
    behind: dict[tuple[str, str], list[str]] = defaultdict(list)
    for m, targets in modules.items():
        packages[package_of(m)]
        for t in targets:
            a, b = package_of(m), package_of(t)
            if a != b:
                packages[a].add(b)
                behind[(a, b)].append(f"{m} -> {t}")
    circles = [g for g in strongly_connected(packages) if len(g) > 1]
    print(f"{len(packages)} packages, {sum(map(len, packages.values()))} arrows between them")
    print(f"groups of packages in a circle: {[len(g) for g in circles] or 'none'}")
    for group in circles:
        print("  " + " ".join(p.removeprefix("patrol.") for p in group))
        if "-v" in sys.argv:
            for a in group:
                for b in sorted(packages[a] & set(group)):
                    print(f"    {a} -> {b}: {', '.join(sorted(behind[(a, b)])[:4])}")
    module_circles = [g for g in strongly_connected(modules) if len(g) > 1]
    print(f"circles between modules: {module_circles or 'none'}")


if __name__ == "__main__":
    main()
