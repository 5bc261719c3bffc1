"""MkDocs hook: the journey-language and ``patrol.yaml`` reference pages, generated
at build time from what Patrol itself reads, so they cannot drift from the code.

- The journey reference comes from the registries ``patrol/plugins.py`` fills (actions,
  checks, journey and step keys) and the parser's own key tables (conditions, groups,
  ``store:``, includes, locators): the same tables the JSON Schema is built from.
- The configuration reference comes from the ``patrol.yaml`` parser: it is run on a
  probe document and records every mapping it reads with the keys it allows (the same
  tables that make its "unknown key ... allowed: ..." errors), one level deeper each
  round until nothing new appears.

``tests/test_docs.py`` imports this file and compares both pages with the registries.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Mapping
from typing import Any

JOURNEY_PAGE = "reference/journey.md"
CONFIG_PAGE = "reference/configuration.md"
NAME = "<name>"  # stands for a name the user chooses (a receiver, a schedule, a device...)
PROBE_NAME = "NAME"  # what the probe document uses for it (a valid name everywhere)
_ALLOWED = re.compile(r"unknown key '.*?'.*; allowed: (.+)$")


def on_files(files: Any, config: Any) -> Any:
    """MkDocs event: add the generated pages to the site's files."""
    from mkdocs.structure.files import File

    for uri, text in ((JOURNEY_PAGE, journey_reference()), (CONFIG_PAGE, config_reference())):
        files.append(File.generated(config, uri, content=text))
    return files


# -- journey language ---------------------------------------------------------------------
def journey_reference() -> str:
    from patrol import plugins
    from patrol.actions import ACTIONS
    from patrol.actions.base import LOCATOR_SCHEMA
    from patrol.checks import CHECKS
    from patrol.config.sections import DETECTORS
    from patrol.journey import control, flows, loader, model

    plugins.load()
    out = [
        "# Journey reference",
        "",
        "Every key, action, check and condition a journey file may use, generated from the registries "
        "when this site is built (the [journey language](../journeys.md) explains how they fit together). "
        "Editors get the same from the JSON Schema, `patrol schema`.",
        "",
        "## Journey keys",
        "",
        _table(("key", "what it is"), {**loader.CORE_JOURNEY_KEYS, **_described(loader.JOURNEY_KEYS)}),
        "",
        "`budgets:` takes:",
        "",
        _table(("key", "what it is"), loader.BUDGET_KEYS),
        "",
        f"`device:` is one of {_names(model.DEVICES)}, or a mapping:",
        "",
        _table(("key", "what it is"), loader.DEVICE_KEYS),
        "",
        "## Step keys",
        "",
        "A step has exactly one [action](#actions) (its key and value) and any of:",
        "",
        _table(("key", "what it is"), {**loader.CORE_STEP_KEYS, **_described(loader.STEP_KEYS)}),
        "",
        "A step without an action is a group or an include:",
        "",
        "### Groups",
        "",
        _table(("key", "what it is"), loader.GROUP_KEYS),
        "",
        "`repeat:` takes:",
        "",
        _table(("key", "what it is"), control.REPEAT_KEYS),
        "",
        "### Includes",
        "",
        _table(("key", "what it is"), flows.INCLUDE_KEYS),
        "",
        "### Stored values",
        "",
        "`store:` maps a name to one source:",
        "",
        _table(("key", "what it is"), control.STORE_KEYS),
        "",
        "## Conditions",
        "",
        "`if:` and `repeat: {until: ...}` take a condition: exactly one of",
        "",
        _table(("kind", "holds when"), control.CONDITION_KEYS),
        "",
        "## Locators",
        "",
        "Where an action or check takes an element: a CSS/Playwright selector string, or a mapping with one strategy:",
        "",
        _table(("key", "what it is"), _locator_keys(LOCATOR_SCHEMA)),
        "",
        *_capabilities(),
        "## Actions",
        "",
    ]
    for name, action in sorted(ACTIONS.items()):
        out += _action_section(name, action)
    out += ["## Checks", "", "### Expectations", "",
            "Keys of a step's `expect:`. A *live* expectation waits up to the step's hard timeout for its "
            "condition; an *evidence* one judges the step's settled screenshot and evidence.", ""]
    checks = sorted(CHECKS.values(), key=lambda c: c.expect_key or c.name)
    for check in (c for c in checks if c.expect_key):
        out += _check_section(check, check.expect_key or "", DETECTORS)
    out += ["### Always-on checks", "", "These judge every step, with no key in the journey.", ""]
    for check in (c for c in checks if c.always and not c.expect_key):
        out += _check_section(check, check.name, DETECTORS)
    others = [c for c in checks if not c.always and not c.expect_key]
    if others:
        out += ["### Other checks", ""]
        for check in others:
            out += _check_section(check, check.name, DETECTORS)
    return "\n".join(out).rstrip() + "\n"


def _capabilities() -> list[str]:
    """What each kind of journey target can do beyond the core (``patrol validate``
    refuses a step that needs what its target lacks)."""
    try:
        from patrol.core.capabilities import PROFILES, Capability
    except ImportError:  # a version without driver capabilities
        return []
    header = "| capability | " + " | ".join(p.journeys for p in PROFILES) + " |"
    rows = [header, "|---|" + "---|" * len(PROFILES)]
    rows += [f"| {c} | " + " | ".join("yes" if c in p.offers else "—" for p in PROFILES) + " |" for c in Capability]
    return ["## Capabilities", "",
            "Every driver navigates, acts on elements, waits, answers dialogs and takes screenshots. Beyond that, "
            "an action or key that needs a capability its journey's target lacks is refused by `patrol validate`:",
            "", *rows, ""]


def _action_section(name: str, action: Any) -> list[str]:
    cls = type(action)
    lines = [f"### `{name}`", "", _sentence(action.summary), ""]
    doc = _own_doc(cls)
    if doc:
        lines += [doc, ""]
    facts = [_where(action)]
    if getattr(action, "repeatable_on_timeout", False):
        facts.append("Done once more when it timed out only because the robot waited for a CPU.")
    lines += [" ".join(f for f in facts if f), "", *_schema_block(action.schema), ""]
    return lines


def _check_section(check: Any, title: str, detectors: tuple[str, ...]) -> list[str]:
    cls = type(check)
    lines = [f"#### `{title}`", "", _sentence(check.summary) if check.summary else "", ""]
    doc = _own_doc(cls)
    if doc:
        lines += [doc, ""]
    facts = [f"Check `{check.name}`, {check.phase}.", _where(check)]
    if check.name in detectors:
        facts.append(f"Switched off with `detectors: {{{check.name}: false}}` (journey or `patrol.yaml`).")
    lines += [" ".join(f for f in facts if f), ""]
    if check.schema:
        lines += [*_schema_block(check.schema), ""]
    return lines


def _where(item: Any) -> str:
    """Which journeys an action or check works in: from the driver capabilities it
    needs (``needs``), or the journey targets it names (``targets``)."""
    needs = getattr(item, "needs", None)
    if needs:
        from patrol.core.capabilities import PROFILES

        works = [p.journeys for p in PROFILES if set(needs) <= p.offers]
        return f"Needs {' and '.join(sorted(str(n) for n in needs))}: works in {' and '.join(works) or 'no journey yet'}."
    targets = getattr(item, "targets", None)
    if targets:
        return f"Journeys: {', '.join(targets)}."
    return ""


def _own_doc(cls: type) -> str:
    """The class's own docstring, else its module's when the module is about this class
    alone; never one inherited from the base class."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        module = inspect.getmodule(cls)
        doc = module.__doc__ if module is not None else None
    return _prose(inspect.cleandoc(doc)) if doc else ""


def _schema_block(schema: Mapping[str, Any]) -> list[str]:
    """What the key takes, in words, then its JSON Schema (folded; locators by reference)."""
    if not schema:
        return []
    from patrol.actions.base import LOCATOR_SCHEMA

    compact = _by_reference(schema, LOCATOR_SCHEMA)
    text = json.dumps(compact, ensure_ascii=False, indent=2)
    return [f"Takes {_shape(compact)}.", "", '??? note "JSON Schema"', "", "    ```json",
            *("    " + line for line in text.splitlines()), "    ```"]


def _by_reference(schema: Any, locator: Mapping[str, Any]) -> Any:
    if schema == locator:
        return {"$ref": "#/$defs/locator"}
    if isinstance(schema, dict):
        return {k: _by_reference(v, locator) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_by_reference(v, locator) for v in schema]
    return schema


_TYPES = {"string": "text", "boolean": "`true` or `false`", "integer": "a whole number", "number": "a number",
          "null": "nothing"}


def _shape(schema: Any) -> str:
    """A JSON Schema fragment in a few words: ``a locator or {selector, text}``."""
    if not isinstance(schema, dict):
        return "a value"
    ref = schema.get("$ref", "")
    if ref:
        kind = ref.rsplit("/", 1)[-1]
        return f"a [{kind}](#{kind}s)"
    for combo in ("oneOf", "anyOf"):
        if combo in schema:
            return " or ".join(dict.fromkeys(_shape(s) for s in schema[combo]))
    if "const" in schema:
        return f"`{json.dumps(schema['const'], ensure_ascii=False)}`"
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_TYPES.get(k, k) for k in kind)
    if kind == "array":
        return f"a list of {_shape(schema.get('items', {}))}" if "items" in schema else "a list"
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if props:
            required = set(schema.get("required", ()))
            return "{" + ", ".join(k if k in required or not required else f"{k}?" for k in props) + "}"
        extra = schema.get("additionalProperties")
        return f"a mapping of names to {_shape(extra)}" if isinstance(extra, dict) else "a mapping"
    if kind == "string" and "pattern" in schema and "ms|s|m" in schema["pattern"]:
        return "a duration (`500ms`, `5s`, `2m`)"
    return _TYPES.get(str(kind), "a value")


# Words for the locator strategies the schema leaves undescribed.
_LOCATOR_WORDS = {
    "css": "a CSS selector (web, and browser sessions on devices)",
    "id": "resource-id (Android) or accessibility identifier (iOS)",
    "accessibility_id": "content-desc (Android) or accessibilityIdentifier (iOS)",
    "xpath": "an XPath over the page or the app's UI tree",
    "uiautomator": "a UiSelector expression (Android)",
    "ios_predicate": "an NSPredicate (iOS)",
    "point": "[x, y] as fractions of the screen",
}


def _locator_keys(schema: Mapping[str, Any]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for alternative in schema.get("oneOf", []):
        for key, spec in alternative.get("properties", {}).items():
            keys[key] = spec.get("description") or _LOCATOR_WORDS.get(key, "")
    return keys


def _described(registry: Mapping[str, Any]) -> dict[str, str]:
    return {name: spec.description for name, spec in registry.items()}


# -- patrol.yaml --------------------------------------------------------------------------
def config_reference() -> str:
    from patrol import plugins
    from patrol.config.model import SECTIONS, PatrolConfig

    plugins.load()  # the receiver formats register there
    keys = config_keys()
    defaults = PatrolConfig()
    out = [
        "# patrol.yaml reference",
        "",
        "Every section of `patrol.yaml` and every key in it, generated from the configuration parser when "
        "this site is built. Every section is optional; the [configuration](../configuration.md) page shows "
        f"a whole file with defaults. `{NAME}` stands for a name you choose.",
        "",
    ]
    for section, what in SECTIONS.items():
        out += [f"## `{section}`", "", _sentence(what), ""]
        tables = {path: k for path, k in keys.items() if path[0] == section}
        if not tables:
            default = getattr(defaults, section, None)
            if isinstance(default, tuple):
                out += ["A list.", ""]
            elif isinstance(default, (int, str)) and not isinstance(default, bool):
                out += [f"A single value; default `{default}`.", ""]
            else:
                out += ["A single value; not set by default.", ""]
        for path, table in sorted(tables.items(), key=lambda item: (len(item[0]), item[0])):
            if len(path) > 1:
                out += [f"`{'.'.join(path)}`:", ""]
            out += [_table(("key", "what it is"), table), ""]
    return "\n".join(out).rstrip() + "\n"


def config_keys() -> dict[tuple[str, ...], dict[str, str]]:
    """Every mapping of patrol.yaml the parser reads: path -> {key: description}.

    The parser is run on a probe document: each section, then each key it allowed, is
    given a mapping with one made-up name in it (twice nested), so the parser walks into
    mappings of fixed keys (and reports the name as unknown) and into mappings of named
    entries (and reads the entry, reporting the inner name as unknown). A probe the
    parser cannot take is left out."""
    from patrol.config.model import SECTIONS

    probe: dict[str, Any] = {}
    for section in SECTIONS:
        probe = _extended(probe, (), section) or probe
    tried: set[tuple[tuple[str, ...], str]] = set()
    grew = True
    while grew:
        grew = False
        for path, keys in _read(probe).items():
            for key in keys:
                if (path, key) in tried:
                    continue
                tried.add((path, key))
                extended = _extended(probe, path, key)
                if extended is not None:
                    probe, grew = extended, True
    return {tuple(NAME if p == PROBE_NAME else str(p) for p in path): keys for path, keys in _read(probe).items()}


def _extended(probe: dict[str, Any], path: tuple[str, ...], key: str) -> dict[str, Any] | None:
    trial = copy.deepcopy(probe)
    node: Any = trial
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or isinstance(node.get(key), dict):
        return None
    node[key] = {PROBE_NAME: {PROBE_NAME: {}}}
    try:
        _read(trial)
    except Exception:  # a probe the parser cannot take says nothing about the file people write
        return None
    return trial


def _read(probe: dict[str, Any]) -> dict[tuple[str, ...], dict[str, str]]:
    from patrol.config import schedules
    from patrol.config.model import parse_config
    from patrol.config.reader import Reader

    seen: dict[tuple[str, ...], dict[str, str]] = {}

    class Recording(Reader):
        def fields(self, value: Any, path: tuple[Any, ...], keys: Mapping[str, str], *, expected: str) -> Any:
            seen.setdefault(tuple(path), dict(keys))
            return super().fields(value, path, keys, expected=expected)

    reader = Recording("patrol.yaml")
    parse_config(reader, probe)
    # Parsers that check their keys without ``Reader.fields`` still name them in their error.
    known = {**schedules.TIMING_KEYS, **schedules.SELECTION_KEYS}
    for problem in reader.problems:
        allowed = _ALLOWED.search(problem.message)
        path = tuple(problem.field.split("."))[:-1]
        if allowed and path not in seen:
            seen[path] = {k: known.get(k, "") for k in allowed.group(1).split(", ")}
    return seen


# -- markdown -----------------------------------------------------------------------------
def _table(header: tuple[str, str], rows: Mapping[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| `{key}` | {_cell(text)} |" for key, text in rows.items()]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return _prose(text).replace("|", "\\|").replace("\n", " ")


_CODE = re.compile(r"(`+[^`]*`+)")


def _prose(text: str) -> str:
    """Text from docstrings and summaries as Markdown: ``<select>`` is a word, not HTML."""
    parts = _CODE.split(text)
    return "".join(p if i % 2 else p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   for i, p in enumerate(parts))


def _names(names: Any) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _sentence(text: str) -> str:
    text = text.strip()
    text = _prose(text.strip())
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".") if text else ""
