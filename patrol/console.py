"""Terminal output: live progress, one line per step. Everything printed passes the
secret masker, and app text is escaped so it cannot inject Rich markup."""

from __future__ import annotations

import functools
import sys
import threading
from typing import TYPE_CHECKING

from .core.jsontypes import as_object, json_list, json_str
from .core.vocabulary import Kind, Status
from .durations import format_ms
from .journey.model import Journey
from .results import JourneyResult, RunResult, StepResult
from .runner import Listener
from .secrets import mask

if TYPE_CHECKING:
    from rich.console import Console

_lock = threading.Lock()

ICONS = {Status.PASSED: "[green]✓[/]", Status.FAILED: "[red]✗[/]", Status.SKIPPED: "[dim]-[/]", Status.ERROR: "[magenta]![/]",
         Status.INTERRUPTED: "[yellow]⏹[/]"}
RUN_COLOURS = {Status.PASSED: "green", Status.FAILED: "red", Status.ERROR: "magenta"}  # others: white
KIND_COLOURS = {Kind.BREAKPOINT: "red", Kind.STALL: "yellow", Kind.RENDER: "magenta"}


# Rich (~40 ms to import) loads at the first line printed: `patrol run` starts Chromium
# first and prints once it is on its way.
@functools.cache
def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def safe(text: object) -> str:
    """Untrusted or secret-bearing text -> masked and markup-escaped."""
    from rich.markup import escape

    return escape(mask(str(text)))


def say(markup: str) -> None:
    with _lock:
        _consoles()[0].print(mask(markup))


def error(message: str) -> None:
    with _lock:
        _consoles()[1].print(f"[bold red]patrol:[/] {safe(message)}")


def plain_error(message: str) -> None:
    """For `file:line:col: ...` lines that tools parse: no colour, no wrapping."""
    sys.stderr.write(mask(message) + "\n")


class ConsoleProgress(Listener):
    def __init__(self, verbose: bool = True, concurrent: bool = False):
        self.verbose = verbose
        self.concurrent = concurrent  # journeys interleave: prefix each step line with its journey

    def run_started(self, run: RunResult, journeys: list[Journey]) -> None:
        say(f"[bold]Patrol run {safe(run.run_id)}[/] · {len(journeys)} journeys")

    def journey_started(self, journey: Journey, result: JourneyResult) -> None:
        say(f"[bold]▶ {safe(journey.name)}[/] [dim]{safe(journey.file)} · {journey.target} · {journey.device.name}[/]")

    def step_finished(self, journey: Journey, result: JourneyResult, step: StepResult) -> None:
        icon = ICONS.get(step.status, "?")
        budget = f"/{format_ms(step.budget_ms)}" if step.budget_ms else ""
        prefix = f"[{safe(journey.name)}] " if self.concurrent else "  "
        say(f"{prefix}{icon} {step.index:02d} {safe(step.name or step.action)} [dim]{format_ms(step.duration_ms)}{budget}[/]")
        visual = as_object(step.artifacts.get("visual"))
        why = "; ".join(str(w) for w in json_list(visual, "why"))
        notes = {"new": "new baseline stored (review it)", "updated": "baseline updated",
                 "environment_mismatch": "baseline from another environment, not compared: " + why}
        status = json_str(visual, "status")
        if status in notes:
            say(f"       [cyan]visual[/] {safe(visual.get('baseline'))}: {safe(notes[status])}")
        for n in step.notes:
            say(f"       [dim]{safe(n)}[/]")
        for f in step.findings:
            colour = KIND_COLOURS.get(f.kind, "red")
            say(f"       [{colour}]{f.kind}[/] [dim]({safe(f.reason)})[/] {safe(f.message)}")

    def journey_finished(self, journey: Journey, result: JourneyResult) -> None:
        if result.robot_error:
            say(f"  [magenta]robot error[/] ({safe(result.robot_error['reason'])}): {safe(result.robot_error['message'])}")
        skipped = sum(1 for s in result.steps if s.status == Status.SKIPPED)
        note = f", {skipped} skipped" if skipped and result.status != Status.ERROR else ""
        say(f"  {ICONS.get(result.status, '?')} {safe(journey.name)}: {result.status} in {format_ms(result.duration_ms)}{note}")
        if result.teardown_status == Status.FAILED:
            say("  [yellow]teardown failed[/] (reported apart: the journey's result stands; clean up by hand if it left data)")
        if result.trace_id and result.status != Status.PASSED:  # where the backend's side of it is (tracing:)
            say(f"  trace {safe(result.trace_id)}" + (f" {safe(result.trace_link)}" if result.trace_link else ""))

    def run_finished(self, run: RunResult) -> None:
        n = sum(len(j.findings) for j in run.journeys)
        colour = RUN_COLOURS.get(run.status, "white")
        say(f"[bold {colour}]{run.status}[/]: {len(run.journeys)} journeys, {n} findings, {format_ms(run.duration_ms)}")
        for warning in run.warnings:
            say(f"[yellow]warning:[/] {safe(warning)}")
