"""The documentation: the generated references cover every registered action, check,
condition, journey and step key and every patrol.yaml section and key; the README stays
short; the site builds with ``mkdocs build --strict`` (a broken link or anchor fails)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from patrol import plugins
from patrol.actions import ACTIONS
from patrol.checks import CHECKS
from patrol.config.model import SECTIONS, parse_config
from patrol.config.reader import Reader
from patrol.journey import control, loader
from patrol.journey.schema import SCHEMA_PATH

ROOT = Path(__file__).resolve().parent.parent
HOOK = ROOT / "docs" / "hooks" / "reference.py"
NAME = "<name>"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def journey_page() -> str:
    plugins.load()
    text: str = _hook().journey_reference()
    return text


@pytest.fixture(scope="module")
def config_page() -> str:
    text: str = _hook().config_reference()
    return text


def _section(page: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.S | re.M)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def _rows(text: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", text, re.M))


def _headings(page: str, level: int) -> set[str]:
    return set(re.findall(rf"^{'#' * level} `([^`]+)`$", page, re.M))


# -- the journey language -----------------------------------------------------------------
def test_every_action_has_its_own_section(journey_page: str) -> None:
    assert ACTIONS, "no action registered"
    actions = _section(journey_page, "Actions")
    assert _headings(actions, 3) == set(ACTIONS)
    for name, action in ACTIONS.items():
        body = actions.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        assert action.summary.strip()[1:20] in body, f"{name}: its summary is not in its section"


def test_every_check_is_documented_by_its_expect_key_or_name(journey_page: str) -> None:
    checks = _section(journey_page, "Checks")
    headings = _headings(checks, 4)
    assert CHECKS, "no check registered"
    for check in CHECKS.values():
        title = check.expect_key or check.name
        assert title in headings, f"check {check.name} ({title}) is not in the reference"
        assert f"Check `{check.name}`" in checks
    expect_keys = {c.expect_key for c in CHECKS.values() if c.expect_key}
    expectations = checks.split("### Expectations", 1)[1].split("### Always-on checks", 1)[0]
    assert _headings(expectations, 4) == expect_keys


def test_every_condition_kind(journey_page: str) -> None:
    assert _rows(_section(journey_page, "Conditions")) == set(control.CONDITION_KEYS)


def test_every_journey_and_step_key(journey_page: str) -> None:
    journey_keys = set(loader.CORE_JOURNEY_KEYS) | set(loader.JOURNEY_KEYS)
    assert journey_keys <= _rows(_section(journey_page, "Journey keys"))
    step = _section(journey_page, "Step keys")
    assert set(loader.CORE_STEP_KEYS) | set(loader.STEP_KEYS) <= _rows(step)
    assert set(loader.GROUP_KEYS) | set(control.REPEAT_KEYS) | set(control.STORE_KEYS) <= _rows(step)


def test_the_shipped_json_schema_has_nothing_the_reference_lacks(journey_page: str) -> None:
    """An independent source: every key editors are offered is in the reference."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert set(schema["properties"]) <= _rows(_section(journey_page, "Journey keys"))
    documented = _rows(_section(journey_page, "Step keys")) | set(ACTIONS)
    for alternative in schema["$defs"]["step"]["oneOf"]:
        missing = set(alternative["properties"]) - documented - {"include", "with"}
        assert not missing, f"step keys of the JSON Schema missing from the reference: {missing}"
    expect = schema["$defs"]["step"]["oneOf"][0]["properties"]["expect"]["properties"]
    assert set(expect) <= _headings(_section(journey_page, "Checks"), 4)


# -- patrol.yaml --------------------------------------------------------------------------
def _config_tables(page: str) -> dict[tuple[str, ...], set[str]]:
    """``{path: keys}`` as the page shows them: a section's own table, then
    ``\\`a.b\\`:`` tables for deeper mappings."""
    tables: dict[tuple[str, ...], set[str]] = {}
    for section in re.split(r"^## ", page, flags=re.M)[1:]:
        name = section.split("`")[1]
        path: tuple[str, ...] = (name,)
        for block in re.split(r"^(`[^`\n]+`):$", section, flags=re.M):
            if re.fullmatch(r"`[^`]+`", block):
                path = tuple(block.strip("`").split("."))
                continue
            if _rows(block):
                tables[path] = _rows(block)
    return tables


def test_every_patrol_yaml_section(config_page: str) -> None:
    assert set(re.findall(r"^## `([^`]+)`$", config_page, re.M)) == set(SECTIONS)


def _documented(tables: dict[tuple[str, ...], set[str]], path: tuple[str, ...]) -> set[str] | None:
    """The keys documented for a mapping at ``path``; a chosen name is ``<name>``."""
    candidates = [path] + [path[:i] + (NAME,) + path[i + 1:] for i in range(len(path))]
    return next((tables[c] for c in candidates if c in tables), None)


def _walk(data: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    pairs = []
    if isinstance(data, dict):
        for key, value in data.items():
            pairs.append((path, str(key)))
            pairs += _walk(value, path + (str(key),))
    return pairs


@pytest.mark.parametrize("config_file", ["patrol.yaml", "examples/fleet/patrol.yaml"])
def test_every_key_of_the_shipped_configurations_is_documented(config_page: str, config_file: str) -> None:
    """An independent source: the configurations this repository ships use only keys
    the reference lists (a key under a mapping the reference has no table for, such as
    Appium capabilities, is the user's own)."""
    tables = _config_tables(config_page)
    data = yaml.safe_load((ROOT / config_file).read_text(encoding="utf-8"))
    assert set(data) <= set(SECTIONS)
    checked = 0
    for path, key in _walk(data):
        if not path:
            continue
        keys = _documented(tables, path)
        if keys is not None:
            assert key in keys, f"{config_file}: {'.'.join(path)}.{key} is not in the reference"
            checked += 1
    assert checked, f"{config_file}: no key checked"


def _config_examples() -> list[tuple[str, dict[str, Any]]]:
    """The ``patrol.yaml`` examples of the hand-written pages (YAML blocks whose keys are
    all sections; the annotated whole file, with its alternatives, is not YAML)."""
    examples = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"^```yaml\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and data and set(data) <= set(SECTIONS):
                examples.append((page.name, data))
    return examples


def test_the_patrol_yaml_examples_of_the_docs_are_valid(config_page: str) -> None:
    """The hand-written pages against the parser and the generated reference: a key
    renamed in the code leaves no example behind."""
    plugins.load()
    tables = _config_tables(config_page)
    examples = _config_examples()
    assert len(examples) >= 5
    for page, data in examples:
        reader = Reader(page)
        parse_config(reader, data)
        problems = [f"{p.field}: {p.message}" for p in reader.problems]
        assert not problems, f"{page}: {problems}"
        for path, key in _walk(data):
            keys = _documented(tables, path) if path else set(SECTIONS)
            assert keys is None or key in keys, f"{page}: {'.'.join(path)}.{key} is not in the reference"


def test_the_reference_knows_the_nested_and_named_mappings(config_page: str) -> None:
    tables = _config_tables(config_page)
    assert {"delivery", "flapping"} <= tables[("incidents",)]
    assert {"flush_timeout", "max_age"} <= tables[("incidents", "delivery")]
    for named in (("receivers", NAME), ("schedules", NAME), ("maintenance", NAME), ("appium", "devices", NAME)):
        assert tables.get(named), f"no table for {'.'.join(named)}"
    assert {"format", "url", "secret", "events"} <= tables[("receivers", NAME)]
    assert {"cron", "every", "journeys", "tags"} <= tables[("schedules", NAME)]


# -- journeys in the docs -------------------------------------------------------------------
def test_the_whole_journeys_of_the_docs_validate(tmp_path: Path) -> None:
    """Every complete journey the README and the pages show passes ``patrol validate``
    (in a copy of journeys/, so their includes resolve): an example that drifted from the
    language is caught here."""
    shutil.copytree(ROOT / "journeys", tmp_path / "journeys")
    files = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"^```yaml\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:  # the annotated patrol.yaml, with its alternatives
                continue
            if isinstance(data, dict) and {"name", "steps"} <= set(data):
                n = len(files)
                files.append(tmp_path / "journeys" / f"doc-{page.stem}-{n}.yaml")
                # journey names are unique in one validate: the README and a page both show 'login'
                files[-1].write_text(re.sub(r"^name: (\S+)", rf"name: \g<1>-doc{n}", block, flags=re.M), encoding="utf-8")
    assert len(files) >= 5
    env = {**os.environ, "DEMO_PASSWORD": "x", "BANK_PASSWORD": "x"}
    done = subprocess.run([sys.executable, "-m", "patrol", "validate", *map(str, files)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# -- README and the site ------------------------------------------------------------------
def test_the_readme_is_short_and_not_a_diary() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 250
    dated = [line for line in lines if re.search(r"\b20\d\d-\d\d-\d\d\b", line)]
    assert len(dated) < 4, dated
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text


def test_the_site_builds_strictly_with_the_generated_pages(tmp_path: Path) -> None:
    """``mkdocs build --strict`` (never ``-q``: quiet silences the warnings strict
    counts): a link to a missing page or anchor fails the build."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    journey = (site / "reference" / "journey.html").read_text(encoding="utf-8")
    for name in ACTIONS:
        assert f'id="{name}"' in journey or f'id="{name}_' in journey, f"action {name} not in the built page"
    config = (site / "reference" / "configuration.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"<code>{section}</code>" in config
    assert (site / "architecture.html").read_text(encoding="utf-8").count("layer") > 1
