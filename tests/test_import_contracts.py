"""Patrol's packages form layers (ARCHITECTURE.md): the contracts in pyproject.toml
([tool.importlinter]) are checked by `lint-imports`, which counts every import: at the
top of a file, inside a function (where circles used to hide) and under
``if TYPE_CHECKING:`` (a design dependency even if it never runs). Beside them, no module
imports itself through others (grimp, the graph import-linter reads, with the same imports)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)


def test_the_package_keeps_its_import_contracts() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    """A two-layer package ``toy`` (``high`` above ``low``) with the given modules."""
    pkg = tmp_path / "toy"
    pkg.mkdir()
    for name, text in {"__init__.py": "", "high.py": "", "low.py": "", **files}.items():
        (pkg / name).write_text(text, encoding="utf-8")
    (tmp_path / "contracts.toml").write_text(
        '[tool.importlinter]\nroot_package = "toy"\n\n'
        '[[tool.importlinter.contracts]]\nname = "layers"\ntype = "layers"\ncontainers = ["toy"]\nlayers = ["high", "low"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "no circles"\ntype = "acyclic_siblings"\nancestors = ["toy"]\n',
        encoding="utf-8")
    return tmp_path


def test_an_import_inside_a_function_breaks_the_layers(tmp_path: Path) -> None:
    root = _project(tmp_path, {"low.py": "def f():\n    from . import high\n    return high\n"})
    done = _lint_imports(root, "--config", "contracts.toml")
    assert done.returncode == 1 and "toy.low -> toy.high" in done.stdout, done.stdout


def test_an_import_under_type_checking_breaks_the_layers(tmp_path: Path) -> None:
    root = _project(tmp_path, {"low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .high import X\n"})
    done = _lint_imports(root, "--config", "contracts.toml")
    assert done.returncode == 1 and "toy.low -> toy.high" in done.stdout, done.stdout


def test_a_circle_inside_a_layer_is_found(tmp_path: Path) -> None:
    root = _project(tmp_path, {"low.py": "", "a.py": "from . import b\n", "b.py": "def f():\n    from . import a\n"})
    done = _lint_imports(root, "--config", "contracts.toml")
    assert done.returncode == 1 and "no circles BROKEN" in done.stdout, done.stdout


def test_a_clean_toy_keeps_its_contracts(tmp_path: Path) -> None:
    root = _project(tmp_path, {"high.py": "from . import low\n"})
    done = _lint_imports(root, "--config", "contracts.toml")
    assert done.returncode == 0, done.stdout


def _circles(package: str) -> list[tuple[str, str]]:
    """Every direct import whose target imports its importer back, through any modules
    (a package's ``__init__`` included, which the sibling contract does not look at)."""
    import grimp

    graph = grimp.build_graph(package, exclude_type_checking_imports=False)
    return sorted((m, t) for m in graph.modules for t in graph.find_modules_directly_imported_by(m)
                  if graph.chain_exists(importer=t, imported=m))


def test_no_module_imports_itself_through_others() -> None:
    assert _circles("patrol") == []


def test_a_package_and_a_module_it_imports_that_imports_it_back_are_a_circle(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "toy2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import model\nclass Config: ...\n", encoding="utf-8")
    (pkg / "model.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import Config\n",
                                  encoding="utf-8")
    (pkg / "other.py").write_text("def f():\n    from . import model\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _circles("toy2") == [("toy2", "toy2.model"), ("toy2.model", "toy2")]


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
