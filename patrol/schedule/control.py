"""What tells the service to stop or reload: signals (SIGTERM/SIGINT stop, a
second one cuts running journeys short; SIGHUP reloads) and changes to patrol.yaml
or the journey files."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType

Snapshot = dict[str, tuple[int, int] | None]
Handler = Callable[[int, FrameType | None], object] | int | None


class Signals:
    """Flags set by signal handlers. A handler runs on the main thread between two
    bytecodes, possibly while that thread holds a lock (the console's, an Event's),
    so it must not take one: plain attributes only, no logging, no Event.set()."""

    def __init__(self) -> None:
        self.stop: str | None = None  # the signal's name (or "request")
        self.hard = False  # asked twice: cut running journeys short
        self.hup = False
        self._previous: dict[signal.Signals, Handler] = {}

    def request_stop(self, hard: bool = False, why: str = "request") -> None:
        if self.stop is not None or hard:
            self.hard = True
        if self.stop is None:
            self.stop = why

    def take_hup(self) -> bool:
        hup, self.hup = self.hup, False
        return hup

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(why=signal.Signals(signum).name)

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.hup = True

        for sig, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop), (signal.SIGHUP, on_hup)):
            self._previous[sig] = signal.signal(sig, handler)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def snapshot(files: Iterable[Path]) -> Snapshot:
    snap: Snapshot = {}
    for f in files:
        try:
            st = f.stat()
            snap[str(f)] = (st.st_mtime_ns, st.st_size)
        except OSError:
            snap[str(f)] = None
    return snap


class FileWatch:
    """Says "reload" once the watched files changed and then stayed the same for one
    more look (an editor saving in steps reloads once, with the whole file)."""

    def __init__(self, files: Callable[[], Iterable[Path]]) -> None:
        self.files = files
        self.seen: Snapshot = snapshot(files())
        self._pending: Snapshot | None = None

    def changed(self) -> bool:
        snap = snapshot(self.files())
        if snap == self.seen:
            return False
        if self._pending == snap:
            self._pending = None
            return True
        self._pending = snap
        return False

    def reset(self) -> None:
        """After a reload (taken or refused): what is on disk now is what was seen."""
        self.seen = snapshot(self.files())
