from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.capabilities import Capability
from ..drivers.base import uploading
from ..journey.model import Locator
from ..journey.parsing import INVALID, Invalid
from . import register
from .base import LOCATOR_SCHEMA, Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath


@register
class Upload(Action[tuple[Locator, tuple[str, ...]]]):
    name = "upload"
    repeatable_on_timeout = True  # a timed-out upload never reached the element
    summary = "put files into a file input: {selector: SELECTOR, files: [path, ...]} (paths from the journey's folder)"
    schema = {
        "type": "object",
        "required": ["selector", "files"],
        "properties": {
            "selector": LOCATOR_SCHEMA,
            "files": {"oneOf": [{"type": "string", "minLength": 1},
                                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}]},
        },
        "additionalProperties": False,
    }
    needs = frozenset({Capability.UPLOADS})  # an app's file picker is the system's, not the app's

    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> tuple[Locator, tuple[str, ...]] | Invalid:
        allowed = {"selector": "the <input type=file>", "files": "a path or a list of paths, from the journey's folder"}
        given = ctx.mapping(value, path, allowed, ("selector", "files"))
        if given is INVALID:
            return INVALID
        loc = ctx.locator(given["selector"], path + ("selector",))
        names = ctx.string_list(given["files"], path + ("files",))
        if names is INVALID:
            return INVALID
        if not names:
            return ctx.error(path + ("files",), "give at least one file")
        # Resolved now, against the file that names them (a flow's own folder for a flow),
        # so a missing file is a validate error, not a failure at 3 a.m.
        folder = Path(ctx.file).resolve().parent
        files = []
        for i, name in enumerate(names):
            where = path + ("files",) if isinstance(given["files"], str) else path + ("files", i)
            file = (folder / Path(name).expanduser()).resolve()
            if not file.is_file():
                ctx.error(where, f"no such file: {name} (looked for {file})")
                continue
            files.append(str(file))
        if len(files) != len(names) or isinstance(loc, Invalid):
            return INVALID
        return (loc, tuple(files))

    async def perform(self, driver: Driver, params: tuple[Locator, tuple[str, ...]], ctx: ActionContext) -> None:
        loc, files = params
        await uploading(driver).upload(loc, list(files), timeout_ms=ctx.timeout_ms)

    def describe(self, params: tuple[Locator, tuple[str, ...]]) -> str:
        loc, files = params
        return f"upload {', '.join(Path(f).name for f in files)} into {loc.describe()}"
