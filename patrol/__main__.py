import atexit
import os
import sys
import threading

from .cli import main


def _exit(code: int) -> None:
    """Exit once everything is said and written, without the interpreter's teardown:
    freeing every module of a `patrol run` (OpenCV, NumPy, SQLAlchemy, Playwright)
    costs 0.1-0.2 s of a run that is otherwise over. Exit handlers still run (the
    state database is closed by one) and output is flushed; a process with other
    threads still working, or output that cannot be flushed, exits the ordinary way."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if others:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a closed pipe: let the ordinary exit report it as it always did
    os._exit(code)


_exit(main())
