"""The compiled comparator kernel: ``_kernel.c`` built on first use, loaded with ctypes.

pixelmatch's per-pixel loop (colour delta, anti-aliasing test) is one tight
pass in C, several times faster than the same work gathered through NumPy.
The shared library is built with the system C compiler the first time it is
needed and cached in ``$PATROL_KERNEL_CACHE`` (default
``$XDG_CACHE_HOME/patrol/kernel`` or ``~/.cache/patrol/kernel``) under a name
keyed by the source, the flags and the compiler (its resolved path, size and
modification time: a new compiler version is a new binary, and no process is
started to ask it its version on every run).  The build writes a temporary
file and renames it into place, so concurrent first uses are safe; the cache
can be deleted at any time.

Settings (environment):

* ``PATROL_DIFF_KERNEL=numpy`` forces the NumPy path (``c`` or unset: the
  kernel when it can be built);
* ``PATROL_DIFF_CC`` names the compiler (default ``$CC``, else ``cc``/``gcc``).

Without a working compiler the comparator logs one line and uses its NumPy
path, with the same results.  This module imports no NumPy: callers pass
buffer addresses.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ..core.cachedir import user_cache

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_kernel.c")
# No -ffast-math and no contraction into fused multiply-adds: the doubles must
# round exactly as V8's separate operations do, or counts drift from pixelmatch's.
CFLAGS = ("-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-strict-aliasing", "-std=c99")
_VERSION = 5  # patrol_kernel_version() of the source this module speaks to

_lock = threading.Lock()
_loaded: list[ctypes.CDLL | None] = []  # [] = not tried yet


def wanted() -> bool:
    """False when PATROL_DIFF_KERNEL asks for the NumPy path."""
    return os.environ.get("PATROL_DIFF_KERNEL", "").strip().lower() not in ("numpy", "0", "off", "no")


def compiler() -> str | None:
    """The compiler's resolved path, or None when there is none."""
    name = os.environ.get("PATROL_DIFF_CC") or os.environ.get("CC")
    for cand in [name] if name else ["cc", "gcc", "clang"]:
        found = shutil.which(cand)
        if found:
            return os.path.realpath(found)
    return None


def cache_dir() -> Path:
    env = os.environ.get("PATROL_KERNEL_CACHE")
    if env:
        return Path(env)
    return user_cache("kernel")


def library_path(cc: str) -> Path:
    """Where the library built from this source with this compiler lives."""
    st = os.stat(cc)
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), repr(CFLAGS).encode(), cc.encode(), f"{st.st_size}:{st.st_mtime_ns}".encode(),
                 sys.platform.encode(), os.uname().machine.encode()):
        key.update(part)
        key.update(b"\0")
    return cache_dir() / f"patrol_kernel_{key.hexdigest()[:20]}.so"


def _build(cc: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cc, *CFLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise OSError(f"{cc} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:400]}")
        os.replace(tmp, target)  # atomic: a concurrent loader sees the old state or a whole library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.patrol_diff.argtypes = [p, p, i64, i64, i64, i64, ctypes.c_double, c_int, c_int, c_int, c_int,
                                p, p, p, p]
    lib.patrol_diff.restype = c_int
    lib.patrol_clusters.argtypes = [p, i64, i64, i64, p]
    lib.patrol_clusters.restype = i64
    lib.patrol_kernel_version.restype = c_int
    if lib.patrol_kernel_version() != _VERSION:
        raise OSError("kernel library does not match this module")
    return lib


def _load() -> ctypes.CDLL | None:
    cc = compiler()
    if cc is None:
        log.warning("no C compiler found (set PATROL_DIFF_CC): comparing with the NumPy path")
        return None
    try:
        target = library_path(cc)
        if not target.is_file():
            _build(cc, target)
        return _declare(ctypes.CDLL(str(target)))
    except (OSError, subprocess.SubprocessError, AttributeError) as exc:
        log.warning("compiled comparator unavailable (%s): comparing with the NumPy path", exc)
        return None


def library() -> ctypes.CDLL | None:
    """The loaded kernel, built on first use; None when disabled or not buildable (logged once)."""
    if not wanted():
        return None
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_load())
    return _loaded[0]


def reset() -> None:
    """Forget the loaded kernel so that the next library() call looks again (tests)."""
    with _lock:
        _loaded.clear()
