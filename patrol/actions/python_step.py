"""``python:`` — a step that calls your own Python function, for what YAML cannot say.

In a journey::

    - python: steps.bank_helpers:balance_from_api     # module:function
    - python:
        call: steps.bank_helpers:count_funds
        args: {selector: a.fund-link}                 # handed to the function as ctx.args (${...} filled in)
        stores: [fund_count]                          # what it stores: a later ${vars.fund_count} validates

Where the module is found: the journey file's folder first, then the current folder
(the project root when ``patrol`` runs there), then the installed packages. The module
is imported when the step runs (``patrol validate`` only checks the ``module:function``
shape and never runs your code), and imported again when its file changed since, so a
long-running ``patrol schedule`` picks up an edited helper.

The function takes one argument, a ``PythonContext`` (``patrol.actions.python_context``)::

    ctx.page        the Playwright Page (async API) of a web journey, else None
    ctx.session     the Appium (Selenium) webdriver of an app journey, else None
    ctx.driver      Patrol's Driver for the journey
    ctx.vars        the journey's stored values (dict[str, str]); setting an entry stores it
    ctx.args        the step's args: ({} when none)
    ctx.timeout_ms  the step's hard timeout
    ctx.run_id      the run's id;  ctx.base_url  the journey's base URL or None

It may be ``async def`` (runs on the journey's event loop: ``await ctx.page...``;
never block in it) or a plain ``def`` (runs in a worker thread, so it may block, e.g.
on ``ctx.session`` calls or HTTP to a back office; the async Playwright page is not
usable from a thread directly: ``ctx.run(ctx.page.title())`` runs a page coroutine on
the journey's loop and returns its result).

What it returns: a dict is stored into the journey's values (names as in
``${vars.NAME}``, each value ``str()``-ed); ``None`` stores nothing; anything else is
an error. Every name under ``stores:`` must be set by then.

Failing: any exception (an ``assert`` too) makes the step a breakpoint like any other
action; the message names the function and the exception's first line, the traceback
(secrets masked) is in the finding's evidence, never on the console. The step is timed
and bounded by its timeout like any action; a sync function still running then is
abandoned in its thread (Python cannot stop a thread), so keep blocking calls bounded.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import keyword
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING

from ..core.text import type_name
from ..core.vocabulary import Reason
from ..errors import ActionFailed
from ..journey.parsing import INVALID, Invalid
from ..secrets import MASKER
from . import register
from .base import Action, ActionContext
from .python_context import PythonContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
TARGET = re.compile(rf"^{_NAME}(\.{_NAME})*:{_NAME}$")
VAR_NAME = re.compile(rf"^{_NAME}$")
EXAMPLE = "steps.bank_helpers:count_funds"
KEYS = {"call": "package.module:function", "args": "values handed to the function (ctx.args)",
        "stores": "names of the values the function stores (so ${vars.NAME} validates)"}
# module name -> (file, modification time) when a python step imported it.
_IMPORTED: dict[str, tuple[Path, float]] = {}
_STDLIB = os.path.dirname(traceback.__file__)
# Frames of Patrol's calling and of Python's import and thread machinery: not the user's.
_MACHINERY = (__file__, "<frozen", os.path.dirname(asyncio.__file__),
              *(os.path.join(_STDLIB, p) for p in ("importlib", "concurrent", "threading.py")))


@dataclass(frozen=True)
class PythonCall:
    module: str
    function: str
    args: dict[str, object] = field(default_factory=dict)  # as the journey wrote them
    stores: tuple[str, ...] = ()
    folder: str = ""  # the journey file's folder: searched first for the module

    @property
    def target(self) -> str:
        return f"{self.module}:{self.function}"


@register
class Python(Action[PythonCall]):
    name = "python"
    summary = "call a Python function (module:function) with the journey's page/session and values"
    schema = {
        "oneOf": [
            {"type": "string", "pattern": TARGET.pattern, "examples": [EXAMPLE]},
            {
                "type": "object",
                "required": ["call"],
                "properties": {
                    "call": {"type": "string", "pattern": TARGET.pattern},
                    "args": {"type": "object"},
                    "stores": {"type": "array", "items": {"type": "string", "pattern": VAR_NAME.pattern}},
                },
                "additionalProperties": False,
            },
        ]
    }

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> PythonCall | Invalid:
        if not isinstance(value, dict):
            return _call(value, {}, (), path, ctx)
        given = ctx.mapping(value, path, KEYS, ("call",))
        if given is INVALID:
            return INVALID
        args = given.get("args", {})
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            return ctx.error(path + ("args",), f"expected a mapping of names to values, got {type_name(args)}")
        stores = _stores(given.get("stores", []), path + ("stores",), ctx)
        if isinstance(stores, Invalid):
            return INVALID
        return _call(given["call"], args, stores, path + ("call",), ctx)

    async def perform(self, driver: Driver, params: PythonCall, ctx: ActionContext) -> None:
        fn = _function(params)
        pctx = PythonContext(
            page=getattr(driver, "page", None) if driver.platform == "web" else None,
            session=getattr(driver, "session", None) if driver.platform == "app" else None,
            driver=driver, vars=ctx.vars, args=dict(params.args), timeout_ms=ctx.timeout_ms,
            run_id=ctx.run_id, base_url=ctx.base_url, _loop=asyncio.get_running_loop())
        result = await _invoke(fn, pctx, params.target, ctx.timeout_ms)
        _store(result, ctx.vars, params)

    def describe(self, params: PythonCall) -> str:
        return f"python {params.target}"


# -- parsing ---------------------------------------------------------------------------------
def _call(value: object, args: dict[str, object], stores: tuple[str, ...], path: YamlPath,
          ctx: ParseContext) -> PythonCall | Invalid:
    given = ctx.string(value, path)
    if isinstance(given, Invalid):
        return INVALID
    text = given.strip()
    if not TARGET.match(text):
        hint = "; a colon goes before the function" if ":" not in text and "." in text else ""
        return ctx.error(path, f"expected package.module:function (e.g. {EXAMPLE}), got {text!r}{hint}")
    module, function = text.split(":")
    bad = [p for p in module.split(".") + [function] if keyword.iskeyword(p)]
    if bad:
        return ctx.error(path, f"{bad[0]!r} is a Python keyword, not a module or function name")
    ctx.vars_known.update(stores)
    file = Path(ctx.file)
    folder = str(file.resolve().parent) if file.is_file() else ""
    return PythonCall(module, function, args, stores, folder)


def _stores(value: object, path: YamlPath, ctx: ParseContext) -> tuple[str, ...] | Invalid:
    names = ctx.string_list(value, path)
    if isinstance(names, Invalid):
        return INVALID
    for i, n in enumerate(names):
        if not VAR_NAME.match(n):
            return ctx.error(path + (i,), f"{n!r} cannot be a value's name (letters, digits and _, as in ${{vars.NAME}})")
    return tuple(names)


# -- importing -------------------------------------------------------------------------------
def _roots(params: PythonCall) -> list[str]:
    roots = [params.folder, os.getcwd()]
    return [r for i, r in enumerate(roots) if r and r not in roots[:i]]


def _function(params: PythonCall) -> Callable[..., object]:
    """The function, imported now (ActionFailed with a clear message when it cannot be)."""
    roots = _roots(params)
    evidence = {"function": params.target}
    try:
        module = _import(params.module, roots)
    except ModuleNotFoundError as e:
        if e.name and (params.module == e.name or params.module.startswith(e.name + ".")):
            raise ActionFailed(f"there is no Python module '{params.module}' (looked in {', '.join(roots)} and the "
                               f"installed packages)", evidence=evidence) from None
        raise _failure(f"importing {params.module} failed:", e, params.target) from None
    except Exception as e:
        raise _failure(f"importing {params.module} failed:", e, params.target) from None
    fn: object = getattr(module, params.function, None)
    if fn is None:
        raise ActionFailed(f"module {params.module} ({getattr(module, '__file__', '?')}) has no function "
                           f"'{params.function}'", evidence=evidence)
    if not callable(fn):
        raise ActionFailed(f"{params.target} is not a function but {_shown(fn)}", evidence=evidence)
    return fn


def _import(name: str, roots: list[str]) -> ModuleType:
    """Import ``name`` with ``roots`` searched first; sys.path is as it was afterwards."""
    _forget_if_stale(name, roots)
    added = [r for r in roots if r not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()  # helper files may be newer than the import system's folder listings
    try:
        module = importlib.import_module(name)
    finally:
        for r in added:
            if r in sys.path:
                sys.path.remove(r)
    local = _local_file(name, roots)
    if local is not None:
        _IMPORTED[name] = (local, local.stat().st_mtime)
    return module


def _local_file(name: str, roots: list[str]) -> Path | None:
    """The file the module comes from under one of the roots, if it does."""
    for root in roots:
        base = Path(root, *name.split("."))
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate.resolve()
    return None


def _forget_if_stale(name: str, roots: list[str]) -> None:
    """A module imported before from another folder, or edited since, is imported again
    (with its whole top-level package: the parts must match)."""
    cached = sys.modules.get(name)
    local = _local_file(name, roots)
    top = name.split(".")[0]
    if cached is None or local is None or top in sys.stdlib_module_names or top == "patrol":
        return
    if _IMPORTED.get(name) == (local, local.stat().st_mtime):
        return
    for loaded in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        del sys.modules[loaded]
        _IMPORTED.pop(loaded, None)


# -- calling ---------------------------------------------------------------------------------
async def _invoke(fn: Callable[..., object], ctx: PythonContext, target: str, timeout_ms: float) -> object:
    async def call() -> object:
        try:
            # An async function runs on the journey's loop, a plain one in a worker thread.
            result = fn(ctx) if inspect.iscoroutinefunction(fn) else await asyncio.to_thread(fn, ctx)
            return (await result) if inspect.isawaitable(result) else result
        except ActionFailed:
            raise  # a driver call inside failed: its own message says what
        except (Exception, SystemExit) as e:  # SystemExit: sys.exit() in a helper must not end Patrol
            # Turned into ActionFailed here, so a TimeoutError of the function's own is not
            # taken for the step's timeout below.
            raise _failure(f"{target} raised", e, target) from None

    try:
        return await asyncio.wait_for(call(), timeout_ms / 1000)
    except TimeoutError:
        raise ActionFailed(f"{target} did not finish within {timeout_ms / 1000:.1f}s", reason=Reason.ACTION_TIMEOUT,
                           evidence={"function": target}) from None


def _failure(what: str, e: BaseException, target: str) -> ActionFailed:
    lines = str(e).strip().splitlines()
    message = f"{what} {type(e).__name__}" + (f": {lines[0]}" if lines else "")
    tb = "".join(traceback.format_exception(type(e), e, _user_frames(e.__traceback__)))
    return ActionFailed(MASKER.mask(message), evidence={"function": target, "exception": type(e).__name__,
                                                        "traceback": MASKER.mask(tb)})


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame that is the user's code."""
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_MACHINERY):
        tb = tb.tb_next
    return tb


def _shown(value: object) -> str:
    text = repr(value)
    return MASKER.mask(f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}")


def _store(result: object, values: dict[str, str], params: PythonCall) -> None:
    evidence = {"function": params.target}
    if result is not None and not isinstance(result, dict):
        raise ActionFailed(f"{params.target} returned {_shown(result)}; return a dict of values to store, or None",
                           evidence=evidence)
    for key, value in (result or {}).items():
        if not isinstance(key, str) or not VAR_NAME.match(key):
            raise ActionFailed(f"{params.target} returned the name {key!r}: a value's name is letters, digits and _ "
                               f"(as in ${{vars.NAME}})", evidence=evidence)
        values[key] = "" if value is None else str(value)
    for key, value in list(values.items()):
        if not isinstance(value, str):  # set through ctx.vars by the function
            values[key] = "" if value is None else str(value)
    missing = [n for n in params.stores if n not in values]
    if missing:
        raise ActionFailed(f"{params.target} did not store {', '.join(missing)} (the step says stores: "
                           f"{', '.join(params.stores)})", evidence=evidence)
