"""The shape the code keeps: short functions (a longer one says why in a
``# long: <reason>`` comment on its ``def`` line), and a typed package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 60


def long_functions(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT and "# long:" not in lines[node.lineno - 1]:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_the_limit_without_a_reason() -> None:
    found = long_functions(ROOT / "patrol")
    assert not found, f"functions over {LIMIT} lines (split them, or say why with '# long: ...'):\n" + "\n".join(found)


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (pkg / "m.py").write_text(f"def big():\n{body}\n\ndef excused():  # long: a table\n{body}\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert long_functions(pkg) == [f"pkg/m.py:1 big ({LIMIT + 1} lines)"]
    finally:
        ROOT = saved


def test_the_package_ships_its_types() -> None:
    assert (ROOT / "patrol" / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "py.typed" in pyproject
