"""reports/index.html, rewritten on request at most every ``interval`` seconds (a
firing every minute should not rebuild a year of history every minute)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..core.clock import SYSTEM_CLOCK, Clock
from ..reports.index import write_index
from ..store import Store

POLL_S = 0.5  # how often the idle writer looks at its stop flag


class IndexWriter:
    def __init__(self, store: Store | None, interval: float, on_error: Callable[[str], None], *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.interval = interval
        self.on_error = on_error
        self.clock = clock
        self.writes = 0  # index files written (for the tests)
        self._root: Path | None = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last = float("-inf")
        self.thread = threading.Thread(target=self._loop, name="patrol-index", daemon=True)
        self.thread.start()

    def request(self, root: Path) -> None:
        self._root = Path(root)
        self._dirty.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(POLL_S):
                continue
            wait = self._last + self.interval - self.clock.monotonic()
            if wait > 0 and self.clock.wait(self._stop, wait):
                break
            self.write()

    def write(self) -> None:
        with self._lock:
            if not self._dirty.is_set() or self._root is None:
                return
            self._dirty.clear()
            try:
                write_index(self._root, store=self.store)
                self.writes += 1
            except Exception as e:  # never let the index stop the patrols
                self.on_error(f"could not write {self._root / 'index.html'}: {type(e).__name__}: {e}")
            self._last = self.clock.monotonic()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.write()  # the final state, whatever the interval
