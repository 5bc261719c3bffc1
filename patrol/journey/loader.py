"""Journey file -> ``Journey`` model, with every problem reported as
``file:line:column: field: message``.

Other subsystems extend the format by registering keys here (journey-wide keys in
``JOURNEY_KEYS``, per-step keys in ``STEP_KEYS``); actions and ``expect:`` keys come
from the action and check registries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import secrets, yamlpos
from ..config import Config
from ..core.capabilities import NONE, Capability, profile_for
from ..core.text import suggest
from ..core.vocabulary import Target
from ..errors import JourneyError, Problem
from . import control, flows, placeholders
from .language import LANGUAGE, CheckWord, Word
from .model import DEVICES, Budgets, Device, Expectation, Group, Journey, Locator, Node, Step, leaves
from .needs import FRAME_NEEDS, refused
from .parsing import INVALID, Invalid, ParseContext, YamlPath

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
JOURNEY_SUFFIXES = (".yaml", ".yml")

# A registered key's parser: the raw YAML value, where it is, the context; the parsed value or INVALID.
Parser = Callable[[object, YamlPath, ParseContext], object]


@dataclass
class KeySpec:
    description: str
    parse: Parser
    schema: Mapping[str, object]  # its JSON Schema
    needs: frozenset[Capability] = NONE  # driver capabilities the key needs (a validate error where lacking)


# Extension points: key -> KeySpec. Parsed values land in Journey.options / Step.options.
JOURNEY_KEYS: dict[str, KeySpec] = {}
STEP_KEYS: dict[str, KeySpec] = {}

CORE_JOURNEY_KEYS = {
    "name": "journey name: lowercase letters, digits, - and _",
    "description": "what the journey proves, in words",
    "base_url": "URL relative goto steps are joined to",
    "target": "web (default) or app",
    "device": "desktop, mobile, or {width, height, scale, mobile, user_agent}",
    "tags": "labels to select journeys by (--tag)",
    "budgets": "step (stall budget), timeout (hard limit per action), journey",
    "steps": "the ordered steps",
    "setup": "steps before the journey (a failure there breaks the journey like any step)",
    "teardown": "steps that always run at the end, also after a breakpoint; their failures are reported apart",
}
CORE_STEP_KEYS = {
    "name": "step name", "expect": "what must hold after the action", "budget": "stall budget for this step",
    "if": "run the step only when this holds: {visible | not_visible | text | url | var}",
    "optional": "true: a failure is a note in the report, not a finding",
    "frame": "act inside this iframe (selector)",
    "store": "values to keep for later steps: NAME: {text_of | number_of | value | attribute | url}",
}
GROUP_KEYS = {
    "steps": "the group's steps", "name": "what the group does",
    "if": "run the group only when this holds", "repeat": "{times: N} or {until: CONDITION, max: N}",
    "frame": "the group's steps act inside this iframe (selector)",
}
BUDGET_KEYS = {"step": "stall budget per step", "timeout": "hard limit per action",
               "journey": "time limit of the whole journey (default 10m): past it, journey_timeout"}
DEVICE_KEYS = {"width": "CSS px", "height": "CSS px", "scale": "device scale factor", "mobile": "bool", "user_agent": "string"}



def journey_key(name: str, description: str, schema: Mapping[str, object] | None = None,
                needs: frozenset[Capability] = NONE) -> Callable[[Parser], Parser]:
    def deco(fn: Parser) -> Parser:
        JOURNEY_KEYS[name] = KeySpec(description, fn, schema or {}, needs)
        return fn

    return deco


def step_key(name: str, description: str, schema: Mapping[str, object] | None = None,
             needs: frozenset[Capability] = NONE) -> Callable[[Parser], Parser]:
    def deco(fn: Parser) -> Parser:
        STEP_KEYS[name] = KeySpec(description, fn, schema or {}, needs)
        return fn

    return deco


def _interpolate(data: object, path: YamlPath, ctx: ParseContext) -> object:
    """Expand ${VAR} / ${secret:NAME} in every string, reporting unset names in place."""
    if isinstance(data, str):
        try:
            return secrets.interpolate(data)
        except secrets.MissingVariable as e:
            ctx.error(path, str(e))
            return data
    if isinstance(data, dict):
        return {k: _interpolate(v, path + (k,), ctx) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, path + (i,), ctx) for i, v in enumerate(data)]
    return data


def parse_text(text: str, file: str, *, budgets: Budgets | None = None) -> Journey:
    try:
        located = yamlpos.load(text, file)
    except yamlpos.YamlSyntaxError as e:
        p = Problem(file, e.line, e.column, "(file)", str(e))
        raise JourneyError(str(p), [p]) from None
    ctx = ParseContext(located, budgets=budgets or Budgets())
    journey = _parse(located, ctx)
    if ctx.problems:
        ctx.problems.sort(key=lambda p: (p.line, p.column))
        raise JourneyError("\n".join(map(str, ctx.problems)), ctx.problems)
    assert journey is not None  # no problems means a journey was built
    return journey


def load_journey(path: str | Path, *, budgets: Budgets | None = None) -> Journey:
    """``budgets``: the project's defaults (patrol.yaml), for what the journey leaves unsaid."""
    path = Path(path)
    try:
        text = yamlpos.read(path)
    except FileNotFoundError:
        p = Problem(str(path), 1, 1, "(file)", "no such file")
        raise JourneyError(str(p), [p]) from None
    except yamlpos.YamlLimitError as e:
        p = Problem(str(path), e.line, e.column, "(file)", str(e))
        raise JourneyError(str(p), [p]) from None
    except (OSError, UnicodeDecodeError) as e:
        p = Problem(str(path), 1, 1, "(file)", f"cannot read: {e}")
        raise JourneyError(str(p), [p]) from None
    return parse_text(text, str(path), budgets=budgets)


def project_budgets(config: Config) -> Budgets:
    """The budgets a journey gets where it says nothing: patrol.yaml ``budgets:``."""
    b = config.settings.budgets
    return Budgets.project(b.step_ms, b.timeout_ms, b.journey_ms)


def discover(paths: list[str]) -> list[Path]:
    """Expand folders into their journey files (sorted), keep files as given."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*")
                                if q.suffix in JOURNEY_SUFFIXES and q.is_file() and not flows.is_flow_file(q, p)))
        else:
            found.append(p)
    return found


def load_all(paths: list[str], *, budgets: Budgets | None = None) -> list[Journey]:
    """Load every journey; report the problems of all files together."""
    journeys, problems = [], []
    files = discover(paths)
    if not files:
        p = Problem(" ".join(paths) or ".", 1, 1, "(paths)", "no journey files (*.yaml) found")
        raise JourneyError(str(p), [p])
    for f in files:
        try:
            journeys.append(load_journey(f, budgets=budgets))
        except JourneyError as e:
            problems.extend(e.problems)
    names: dict[str, str] = {}
    for j in journeys:
        if j.name in names:
            problems.append(
                Problem(j.file, 1, 1, "name", f"journey name '{j.name}' is also used by {names[j.name]}")
            )
        names.setdefault(j.name, j.file)
    if problems:
        raise JourneyError("\n".join(map(str, problems)), problems)
    return journeys


def _parse(located: yamlpos.Located, ctx: ParseContext) -> Journey | None:
    if not LANGUAGE.actions:
        # A programming error, not bad input: the entry point forgot the composition root.
        raise RuntimeError("no actions registered: call patrol.plugins.load() before parsing journeys")
    raw = located.data
    if not isinstance(raw, dict):
        ctx.error((), "a journey file is a mapping with at least 'name' and 'steps'")
        return None
    allowed_top = {**CORE_JOURNEY_KEYS, **{k: s.description for k, s in JOURNEY_KEYS.items()}}
    for key in raw:
        if key not in allowed_top:
            ctx.error((key,), f"unknown key '{key}'; allowed: {', '.join(allowed_top)}{suggest(key, allowed_top)}", key=True)
    data: dict[str, object] = {k: _interpolate(v, (k,), ctx) for k, v in raw.items()}

    raw_name = data.get("name")
    name = raw_name if isinstance(raw_name, str) and NAME_RE.match(raw_name) else None
    if raw_name is None:
        ctx.error((), "missing required key 'name'")
    elif name is None:
        ctx.error(("name",), f"{raw_name!r} is not a valid name; use lowercase letters, digits, - and _ (e.g. transfer-in)")

    target = ctx.choice(data.get("target", "web"), ("target",), ("web", "app"))
    ctx.target = target if target is not INVALID else "web"

    raw_url = data.get("base_url")
    base_url = None if raw_url is None else ctx.string(raw_url, ("base_url",))
    if isinstance(base_url, str) and not re.match(r"^https?://", base_url):
        ctx.error(("base_url",), f"expected an http:// or https:// URL, got {base_url!r}")

    description = ctx.string(data.get("description", ""), ("description",), allow_empty=True)
    tags = ctx.string_list(data.get("tags", []), ("tags",))
    device = _device(data.get("device", "desktop"), ctx)
    budgets = _budgets(data.get("budgets", {}), ctx)

    options = _journey_options(data, ctx)
    program, teardown = _programs(data, ctx, has_base_url=bool(base_url))
    steps = list(leaves(program))
    if ctx.problems or name is None or isinstance(base_url, Invalid) or isinstance(description, Invalid) \
            or isinstance(tags, Invalid):
        return None
    return Journey(
        name=name,
        file=ctx.file,
        steps=steps,
        program=program,
        teardown=teardown,
        warnings=[str(w) for w in ctx.warnings],
        base_url=base_url,
        description=description,
        target=Target(ctx.target),
        device=device,
        tags=tags,
        budgets=budgets,
        options=options,
    )


def _journey_options(data: dict[str, object], ctx: ParseContext) -> dict[str, object]:
    """The registered journey keys' values; an app journey's own capabilities decide its profile."""
    options: dict[str, object] = {}
    for key, spec in JOURNEY_KEYS.items():
        if key in data and not refused(spec.needs, (key,), ctx):
            options[key] = spec.parse(data[key], (key,), ctx)
    capabilities = options.get("capabilities")
    if ctx.target == "app" and isinstance(capabilities, dict) and "appium_device" not in data:
        # The session's own capabilities say native app or browser; a patrol.yaml device's are not known here.
        ctx.profile = profile_for(ctx.target, capabilities)
    return options


def _programs(data: dict[str, object], ctx: ParseContext, *, has_base_url: bool) -> tuple[list[Node], list[Node]]:
    """setup + steps (one program), and teardown; steps numbered across all three."""
    setup = _program(data["setup"], ("setup",), ctx, has_base_url=has_base_url, phase="setup") if "setup" in data else []
    if "steps" not in data:
        ctx.error((), "missing required key 'steps'")
    body = _program(data["steps"], ("steps",), ctx, has_base_url=has_base_url) if "steps" in data else []
    teardown = (_program(data["teardown"], ("teardown",), ctx, has_base_url=has_base_url, phase="teardown")
                if "teardown" in data else [])
    _number(list(leaves(setup + body + teardown)), ctx)
    return setup + body, teardown


def _program(raw: object, at: YamlPath, ctx: ParseContext, *, has_base_url: bool,
             stack: tuple[Path, ...] = (), phase: str = "steps") -> list[Node]:
    """A list of steps (``steps:``, ``setup:``, ``teardown:``, a group's or a flow's):
    ``include:`` replaced by the flow's steps, ``steps:`` inside a step a group. ``stack``
    is the journey and the flows being included, down to this one."""
    if not isinstance(raw, list):
        ctx.error(at, "expected a list of steps")
        return []
    if not raw:
        ctx.error(at, "give at least one step")
        return []
    nodes: list[Node] = []
    for i, raw_step in enumerate(raw):
        where = at + (i,)
        if isinstance(raw_step, dict) and "include" in raw_step:
            nodes.extend(_include(raw_step, where, ctx, has_base_url=has_base_url, stack=stack, phase=phase))
        elif isinstance(raw_step, dict) and "steps" in raw_step:
            group = _group(raw_step, where, ctx, has_base_url=has_base_url, stack=stack, phase=phase)
            if group is not None:
                nodes.append(group)
        else:
            step = _step(raw_step, where, ctx, LANGUAGE.actions, LANGUAGE.expect_keys(), phase=phase)
            if step is None:
                continue
            if step.action == "goto" and isinstance(step.params, str) and "://" not in step.params \
                    and not has_base_url and not step.params.startswith("${"):
                ctx.error(where + ("goto",), "relative URL but the journey has no base_url (add base_url, or pass --base-url)")
            nodes.append(step)
    return nodes


def _group(raw: dict[str, object], at: YamlPath, ctx: ParseContext, *, has_base_url: bool,
           stack: tuple[Path, ...], phase: str) -> Group | None:
    if ctx.mapping(raw, at, GROUP_KEYS) is INVALID:
        return None
    if not any(k in raw for k in ("if", "repeat", "frame")):
        ctx.error(at, "steps inside a step make a group: give it if:, repeat: or frame: (or write the steps inline)")
    _placeholders({k: v for k, v in raw.items() if k not in ("steps", "repeat")}, at, ctx)
    name = ctx.string(raw["name"], at + ("name",)) if "name" in raw else ""
    cond = control.condition(raw["if"], at + ("if",), ctx) if "if" in raw else None
    frame = _frame(raw["frame"], at + ("frame",), ctx) if "frame" in raw else None
    children = _program(raw["steps"], at + ("steps",), ctx, has_base_url=has_base_url, stack=stack, phase=phase)
    if "repeat" in raw:
        _placeholders(raw["repeat"], at + ("repeat",), ctx)
    rounds = control.repeat(raw["repeat"], at + ("repeat",), ctx) if "repeat" in raw else None
    if isinstance(cond, Invalid) or isinstance(rounds, Invalid) or isinstance(name, Invalid) or isinstance(frame, Invalid):
        return None
    return Group(children, name, cond, rounds, frame, line=ctx.located.pos(at)[0], file=ctx.file)


def _frame(value: object, path: YamlPath, ctx: ParseContext) -> Locator | Invalid:
    return INVALID if refused(FRAME_NEEDS, path, ctx) else ctx.locator(value, path)


def _placeholders(data: object, path: YamlPath, ctx: ParseContext) -> None:
    """``${...}`` left for run time: known forms only, and no value used before a step stores it."""
    if isinstance(data, str):
        for message in placeholders.problems(data, params_reported=ctx.in_flow):
            ctx.error(path, message)
        for name in placeholders.var_names(data):
            if name not in ctx.vars_known:
                control.unknown_var(name, path, ctx)
    elif isinstance(data, dict):
        for k, v in data.items():
            _placeholders(v, path + (k,), ctx)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _placeholders(v, path + (i,), ctx)


def _number(steps: list[Step], ctx: ParseContext) -> None:
    """Steps count 1, 2, 3... across included flows; names stay unique (they are the
    steps' identity in reports, baselines and incidents)."""
    names_seen: dict[str, int] = {}
    for n, step in enumerate(steps, start=1):
        step.index = n
        if step.name:
            if step.name in names_seen:
                line, col = step.name_at
                ctx.problems.append(Problem(step.file or ctx.file, line, col, "name",
                                            f"step name '{step.name}' is already used by step {names_seen[step.name]}"))
            names_seen[step.name] = n


def _include(raw: dict[str, object], at: YamlPath, ctx: ParseContext, *, has_base_url: bool,
             stack: tuple[Path, ...], phase: str) -> list[Node]:
    ctx.mapping(raw, at, {**flows.INCLUDE_KEYS, "if": "run the flow only when this holds"})
    target = ctx.string(raw["include"], at + ("include",))
    if target is INVALID:
        return []
    _placeholders({k: v for k, v in raw.items() if k in ("with", "if")}, at, ctx)
    file = (Path(ctx.file).resolve().parent / target).resolve()
    chain = stack or (Path(ctx.file).resolve(),)  # the journey, then the flows being included
    if file in chain:
        ctx.error(at + ("include",), "include cycle: " + " -> ".join(p.name for p in (*chain, file)))
        return []
    if len(chain) > flows.MAX_DEPTH:
        ctx.error(at + ("include",), f"flows nest more than {flows.MAX_DEPTH} deep")
        return []
    flow = flows.read_flow(file, ctx, at)
    if flow is None:
        return []
    values = flows.bind(flow, raw.get("with"), ctx, at)
    if values is None:
        return []
    cond = control.condition(raw["if"], at + ("if",), ctx) if "if" in raw else None
    fctx = ParseContext(flow.located, target=ctx.target, budgets=ctx.budgets, vars_known=ctx.vars_known,
                         in_flow=True, profile=ctx.profile)
    flow_data = flow.located.data  # read_flow made sure it is a mapping with steps
    steps = flow_data["steps"] if isinstance(flow_data, dict) else []
    data = flows.fill_params(steps, values, ("steps",), fctx)
    data = _interpolate(data, ("steps",), fctx)
    nodes = _program(data, ("steps",), fctx, has_base_url=has_base_url, stack=(*chain, file), phase=phase)
    flows.adopt(ctx, fctx, at)
    if cond is INVALID:
        return []
    return [Group(nodes, condition=cond, line=ctx.located.pos(at)[0], file=ctx.file)] if cond else nodes


def _device(value: object, ctx: ParseContext) -> Device:
    path = ("device",)
    if isinstance(value, str):
        if value in DEVICES:
            return DEVICES[value]
        ctx.choice(value, path, list(DEVICES))
        return DEVICES["desktop"]
    given = ctx.mapping(value, path, DEVICE_KEYS, ("width", "height"))
    if given is INVALID:
        return DEVICES["desktop"]
    w = ctx.number(given["width"], path + ("width",), minimum=100, maximum=10000)
    h = ctx.number(given["height"], path + ("height",), minimum=100, maximum=20000)
    scale = ctx.number(given.get("scale", 1), path + ("scale",), minimum=0.5, maximum=4)
    mobile = ctx.boolean(given.get("mobile", False), path + ("mobile",))
    ua = ctx.string(given["user_agent"], path + ("user_agent",)) if "user_agent" in given else None
    if isinstance(w, Invalid) or isinstance(h, Invalid) or isinstance(scale, Invalid) or isinstance(mobile, Invalid) \
            or isinstance(ua, Invalid):
        return DEVICES["desktop"]
    return Device("custom", int(w), int(h), float(scale), mobile, ua)


def _budgets(value: object, ctx: ParseContext) -> Budgets:
    """The journey's budgets over the project's defaults (patrol.yaml ``budgets:``)."""
    path = ("budgets",)
    defaults = ctx.budgets
    given = ctx.mapping(value, path, BUDGET_KEYS)
    if given is INVALID:
        return defaults
    step = ctx.duration(given["step"], path + ("step",)) if "step" in given else defaults.step_ms
    if "timeout" in given:
        timeout = ctx.duration(given["timeout"], path + ("timeout",))
    else:
        timeout = max(defaults.timeout_ms, step if step is not INVALID else 0)
    journey = ctx.duration(given["journey"], path + ("journey",)) if "journey" in given else defaults.journey_ms
    if isinstance(step, Invalid) or isinstance(timeout, Invalid) or isinstance(journey, Invalid):
        return defaults
    if timeout < step:
        ctx.error(path + ("timeout",), f"the hard timeout ({given.get('timeout')}) must be at least the step budget ({given.get('step')})")
    return Budgets(step, timeout, journey)


def _step(raw: object, path: YamlPath, ctx: ParseContext, actions: Mapping[str, Word], expects: Mapping[str, CheckWord],
          *, phase: str = "steps") -> Step | None:
    if not isinstance(raw, dict):
        ctx.error(path, "a step is a mapping with one action, e.g. 'goto: /login' or 'click: \"#submit\"'")
        return None
    if not raw:
        ctx.error(path, f"empty step; give one action: {', '.join(actions)}")
        return None
    action = _action_key(raw, path, ctx, actions)
    if action is None:
        return None
    _placeholders({k: v for k, v in raw.items() if k != "name"}, path, ctx)
    params = actions[action].parse(raw[action], path + (action,), ctx)
    name = ""
    if "name" in raw:
        n = ctx.string(raw["name"], path + ("name",))
        name = n if isinstance(n, str) else ""
    budget = ctx.duration(raw["budget"], path + ("budget",)) if "budget" in raw else None
    expect = _expect(raw, path, ctx, expects)
    cond = control.condition(raw["if"], path + ("if",), ctx) if "if" in raw else None
    optional = ctx.boolean(raw["optional"], path + ("optional",)) if "optional" in raw else False
    frame = _frame(raw["frame"], path + ("frame",), ctx) if "frame" in raw else None
    stored = control.store(raw["store"], path + ("store",), ctx) if "store" in raw else {}
    options = {k: s.parse(raw[k], path + (k,), ctx) if not refused(s.needs, path + (k,), ctx) else INVALID
               for k, s in STEP_KEYS.items() if k in raw}
    if isinstance(cond, Invalid) or isinstance(stored, Invalid) or params is INVALID or isinstance(budget, Invalid) \
            or isinstance(optional, Invalid) or isinstance(frame, Invalid) \
            or expect is None or INVALID in options.values():
        return None
    line = ctx.located.pos(path)[0]
    index = path[-1]  # its place in the list (numbered again across flows by _number)
    return Step(index + 1 if isinstance(index, int) else 0, name, action, params, expect, budget, options, line, file=ctx.file,
                name_at=ctx.located.pos(path + ("name",)), condition=cond, optional=optional, frame=frame,
                store=stored, phase=phase)


def _action_key(raw: dict[str, object], path: YamlPath, ctx: ParseContext, actions: Mapping[str, Word]) -> str | None:
    """The step's one action (problems with its keys reported)."""
    allowed = {**CORE_STEP_KEYS, **{k: s.description for k, s in STEP_KEYS.items()}}
    action_keys = [k for k in raw if k in actions]
    for key in raw:
        if key not in actions and key not in allowed:
            ctx.error(
                path + (key,),
                f"unknown key '{key}'; a step has one action ({', '.join(actions)}) "
                f"and optionally {', '.join(allowed)}{suggest(key, list(actions) + list(allowed))}",
                key=True,
            )
    if len(action_keys) > 1:
        ctx.error(path + (action_keys[1],), f"a step has exactly one action; this one has {', '.join(action_keys)}", key=True)
        return None
    if not action_keys:
        if all(k in allowed for k in raw):
            ctx.error(path, f"missing action; give one of: {', '.join(actions)}")
        return None
    action = action_keys[0]
    if refused(actions[action].needs, path + (action,), ctx):
        return None
    return action


def _expect(raw: dict[str, object], path: YamlPath, ctx: ParseContext,
            expects: Mapping[str, CheckWord]) -> tuple[Expectation, ...] | None:
    """The step's expectations in the order written; None when one is invalid (its
    problem recorded in ``ctx``)."""
    if "expect" not in raw:
        return ()
    ev = ctx.mapping(raw["expect"], path + ("expect",), {k: c.summary for k, c in expects.items()})
    if ev is INVALID:
        return ()  # its problem is recorded; the rest of the step still parses, so all are reported at once
    if not ev:
        ctx.error(path + ("expect",), f"empty expect; give one of: {', '.join(expects)}")
    expect: list[Expectation] = []
    valid = True
    for key, value in ev.items():  # a key written twice: YAML keeps its last value, in its first place
        where, check = path + ("expect", key), expects[key]
        params = INVALID if refused(check.needs, where, ctx) else check.parse(value, where, ctx)
        valid = valid and params is not INVALID
        expect.append(Expectation(check.name, params))
    return tuple(expect) if valid else None
