"""How long the robot itself waited for a CPU during a step.

A step over its budget is a stall of the app, unless the time went to the patrol
machine being short of CPU (a fleet worker running too many journeys, a busy CI
box): then the customer would not have waited, and paging the app's on-call for it
is a false alarm. Linux counts, per thread, the time it was ready to run but
waiting for a CPU (``/proc/<pid>/schedstat``, second field, ns). Over the step,
the longest such wait among the robot's processes (Patrol, the Playwright driver,
Chromium's browser, GPU and renderer processes, a local Appium server and its
chromedriver) is time the robot lost, not the app: a renderer waiting on the
app's server is asleep, not runnable, so a slow server never counts here.

Only each process's main thread is read (the one that parses, lays out and runs the
page's script in a renderer). One snapshot reads every process's ``stat`` to find
the tree: about 3 ms with 70 processes on the machine, taken in a worker thread at
each step's start and end. Where ``/proc`` has no such counters (not Linux),
nothing is known and nothing is excused.
"""

from __future__ import annotations

import os
import time

PROC = "/proc"


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def _tree(root: int) -> dict[int, float]:
    """``root`` and its descendants, with their start times (s since boot), from one
    pass over every process's ``stat`` (parent and start time): cheaper than walking
    each thread's ``children`` list, and no child is missed while the tree changes."""
    parents: dict[int, list[int]] = {}
    started: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        stat = _read(f"{PROC}/{name}/stat")
        if stat is None:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()
        try:
            pid, ppid, start = int(name), int(fields[1]), int(fields[19]) / tick
        except (ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(pid)
        started[pid] = start
    tree: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree[pid] = started.get(pid, 0.0)
            todo += parents.get(pid, [])
    return tree


def _waits(root: int) -> dict[int, tuple[int, float]] | None:
    """Run-queue wait (ns) and start time of the main thread of ``root`` and every
    descendant; None where the kernel keeps no such counters."""
    waits: dict[int, tuple[int, float]] = {}
    for pid, started in _tree(root).items():
        stat = _read(f"{PROC}/{pid}/schedstat")
        if stat is None:
            if pid == root:
                return None
            continue  # gone since the tree was read
        try:
            waits[pid] = (int(stat.split()[1]), started)
        except (ValueError, IndexError):
            continue
    return waits


class CpuWait:
    """Started when a step's action starts; ``stop`` gives the longest time (ms) one
    of the robot's processes waited for a CPU since, or None where unknown."""

    def __init__(self) -> None:
        self._root = os.getpid()
        self._since = time.clock_gettime(time.CLOCK_BOOTTIME)  # the clock /proc's start times count on
        self._start: dict[int, tuple[int, float]] | None = None

    def begin(self) -> None:
        """The counters now (a few ms: the runner takes them off the event loop while
        the action starts)."""
        self._start = _waits(self._root)

    def stop(self) -> float | None:
        if self._start is None:
            return None
        now = _waits(self._root)
        if now is None:
            return None
        elapsed_ns = (time.clock_gettime(time.CLOCK_BOOTTIME) - self._since) * 1e9
        waited = 0.0
        for pid, (ns, started) in now.items():
            before = self._start.get(pid)
            if before is not None and before[1] == started:
                waited = max(waited, ns - before[0])
            elif started >= self._since - 0.02:
                waited = max(waited, ns)  # started during the step: all its waiting was in it
            # else: there before but not seen then, or a reused pid: unknown, so it does not count.
        return round(min(max(waited, 0.0), elapsed_ns) / 1e6, 1)
