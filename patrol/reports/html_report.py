"""``index.html`` of a run: readable straight from disk, no server, no scripts from
outside. App text (URLs, page errors, OCR text) is untrusted: Jinja2 autoescapes it."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, PackageLoader, select_autoescape
from jinja2.bccache import Bucket

from ..core.cachedir import user_cache
from ..core.vocabulary import Kind
from ..durations import format_ms
from ..results import RunResult
from .json_report import to_dict, write_text_atomic
from .shift_view import shift_marks

KIND_WORDS = {
    Kind.BREAKPOINT: "Breakpoint: the customer could not go on",
    Kind.STALL: "Stall: too slow, or the screen froze",
    Kind.RENDER: "Rendering error: what the customer sees is wrong",
}


@functools.cache  # one environment: each template is compiled once per process
def environment() -> Environment:
    # Compiled templates are kept in the user's cache (Jinja2 checks the source's checksum
    # and its own bytecode version): ~0.14 s less of every run's start. Safe to delete.
    env = Environment(loader=PackageLoader("patrol.reports", "templates"), autoescape=select_autoescape(default=True),
                      bytecode_cache=_bytecode_cache())
    env.filters["ms"] = format_ms
    env.filters["pretty"] = lambda v: json.dumps(v, ensure_ascii=False, indent=2)
    env.globals["KIND_WORDS"] = KIND_WORDS
    env.globals["shift_marks"] = shift_marks
    return env


def _bytecode_cache() -> BytecodeCache | None:
    folder = user_cache("templates")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # compiled code: the user's own
    except OSError:
        return None  # a read-only home: compile every time, as before
    return _QuietCache(str(folder))


class _QuietCache(FileSystemBytecodeCache):
    """A cache that cannot be read or written (a damaged file, a full disk) is only slower."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # e.g. a file cut short: marshal cannot read it
            bucket.reset()  # compiled from source, and written again

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def render_run(data: Mapping[str, object], *, all_runs: bool = True) -> str:
    return environment().get_template("run.html.j2").render(run=data, all_runs=all_runs)


def write(run: RunResult, run_dir: Path) -> None:
    # "All runs" only where the runs' index is: not for a run written elsewhere (--output).
    write_text_atomic(run_dir / "index.html", render_run(to_dict(run), all_runs=run.listed))
