"""Patrol's packages form layers (ARCHITECTURE.md): the contracts in pyproject.toml
([tool.importlinter]) are checked by `lint-imports`, which counts every import: at the
top of a file, inside a function (where circles used to hide) and under
``if TYPE_CHECKING:`` (a design dependency even if it never runs)."""

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
