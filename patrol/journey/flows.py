"""Reusable flows: steps shared by many journeys (signing in), in a file of their own.

A journey step ``include: flows/login.yaml`` (the path relative to the including
file) with ``with: {user: demo, password: "${secret:DEMO_PASSWORD}"}`` is replaced,
when the journey is parsed, by the flow's steps with ``${params.NAME}`` filled in.
A flow file::

    flow: login                      # what it is (optional)
    description: sign in as a customer
    params:
      user: {default: demo}          # optional, with its default
      password: {}                   # required
    steps:
      - goto: /login
      - fill: {selector: "#username", text: "${params.user}"}

Every problem in a flow is reported at the flow's own file:line:column, and says
which step included it. Flows may include flows, up to ``MAX_DEPTH`` deep, never
themselves (directly or through others). Files in a ``flows/`` folder are flows, so
``patrol run journeys/`` does not take them for journeys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import yamlpos
from ..core.text import suggest, type_name
from ..errors import Problem
from .parsing import ParseContext, YamlPath

MAX_DEPTH = 5
FLOWS_FOLDER = "flows"
FLOW_KEYS = {
    "flow": "the flow's name",
    "description": "what the flow does, in words",
    "params": "the values an include passes: NAME: {default: V, description: ...} ({} = required)",
    "steps": "the steps, as in a journey",
}
PARAM_KEYS = {"default": "value when the include does not pass one", "description": "what the value is"}
INCLUDE_KEYS = {"include": "a flow file, relative to this file", "with": "values for the flow's params"}
_PARAM_REF = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_]*)\}")
_REQUIRED = object()


@dataclass
class Flow:
    file: Path
    located: yamlpos.Located
    params: dict[str, object] = field(default_factory=dict)  # name -> default (or _REQUIRED)


def is_flow_file(path: Path, root: Path) -> bool:
    """Inside a ``flows/`` folder below ``root``: a flow, not a journey."""
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    return FLOWS_FOLDER in parts


def read_flow(file: Path, ctx: ParseContext, at: YamlPath) -> Flow | None:
    """The flow file, checked at its top level; problems go to the including ``ctx`` at ``at``
    (a missing or unreadable file) or to their own place in the flow file."""
    try:
        located = yamlpos.load(yamlpos.read(file), str(file))
    except FileNotFoundError:
        ctx.error(at, f"no flow file {file}")
        return None
    except (OSError, UnicodeDecodeError) as e:
        ctx.error(at, f"cannot read the flow file {file}: {e}")
        return None
    except yamlpos.YamlSyntaxError as e:
        ctx.problems.append(Problem(str(file), e.line, e.column, "(file)", f"{e}{included_from(ctx, at)}"))
        return None
    fctx = ParseContext(located, target=ctx.target, budgets=ctx.budgets)
    data = located.data
    flow = Flow(file, located)
    if not isinstance(data, dict) or "steps" not in data:
        fctx.error((), "a flow file is a mapping with 'steps' (and optionally flow, description, params)")
    else:
        fctx.mapping(data, (), FLOW_KEYS)
        flow.params = _params(data.get("params"), fctx)
    adopt(ctx, fctx, at)
    return None if fctx.problems else flow


def _params(raw: object, fctx: ParseContext) -> dict[str, object]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        fctx.error(("params",), f"expected a mapping of parameter names, got {type_name(raw)}")
        return {}
    params: dict[str, object] = {}
    for name, spec in raw.items():
        path = ("params", name)
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            fctx.error(path, "a parameter is {} (required) or {default: VALUE, description: ...}")
            continue
        fctx.mapping(spec, path, PARAM_KEYS)
        params[str(name)] = spec.get("default", _REQUIRED)
    return params


def bind(flow: Flow, given: object, ctx: ParseContext, at: YamlPath) -> dict[str, object] | None:
    """The flow's parameter values: what ``with:`` passes over the defaults. An unknown
    name or a missing required one is a problem at the include step."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        ctx.error(at + ("with",), f"expected a mapping of the flow's params ({', '.join(flow.params) or 'none'})")
        return None
    ok = True
    for name in given:
        if name not in flow.params:
            allowed = ", ".join(flow.params) or "none"
            ctx.error(at + ("with", name), f"the flow {flow.file.name} has no param '{name}'; its params: {allowed}"
                      f"{suggest(name, flow.params)}", key=True)
            ok = False
    values: dict[str, object] = {}
    for name, default in flow.params.items():
        if name in given:
            values[name] = given[name]
        elif default is _REQUIRED:
            ctx.error(at, f"the flow {flow.file.name} needs the param '{name}' (give it under with:)")
            ok = False
        else:
            values[name] = default
    return values if ok else None


def fill_params(data: object, values: dict[str, object], path: YamlPath, fctx: ParseContext) -> object:
    """``${params.NAME}`` filled in every string; a whole-string reference keeps the value's type."""
    if isinstance(data, str):
        whole = _PARAM_REF.fullmatch(data)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]

        def one(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                fctx.error(path, f"unknown param '{m.group(1)}'; the flow's params: {', '.join(values) or 'none'}"
                           f"{suggest(m.group(1), values)}")
                return m.group(0)
            return str(values[m.group(1)])

        return _PARAM_REF.sub(one, data)
    if isinstance(data, dict):
        return {k: fill_params(v, values, path + (k,), fctx) for k, v in data.items()}
    if isinstance(data, list):
        return [fill_params(v, values, path + (i,), fctx) for i, v in enumerate(data)]
    return data


def included_from(ctx: ParseContext, at: YamlPath) -> str:
    line, col = ctx.located.pos(at)
    return f" (in the flow included at {ctx.file}:{line}:{col})"


def adopt(ctx: ParseContext, fctx: ParseContext, at: YamlPath) -> None:
    """The flow's problems, at their own positions, saying where the flow was included."""
    note = included_from(ctx, at)
    for p in fctx.problems:
        ctx.problems.append(Problem(p.file, p.line, p.column, p.field, p.message + note))
    fctx.problems.clear()
    ctx.warnings.extend(Problem(p.file, p.line, p.column, p.field, p.message + note) for p in fctx.warnings)
    fctx.warnings.clear()
