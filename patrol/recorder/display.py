"""A display for the headed browser: the desktop's own, or a virtual one (Xvfb) that
the recorder starts and stops. On a virtual display nobody sees the window; it is
driven over ``--cdp-port`` (tests, tools) or watched through a VNC server."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from dataclasses import dataclass

from ..errors import InputError, RobotError

NO_DISPLAY = (
    "no display to open the browser on (DISPLAY is not set) and no Xvfb to make one: "
    "run `patrol record` on a desktop, or install Xvfb (apt-get install xvfb)"
)


@dataclass
class Display:
    env: dict[str, str]  # what the browser needs in its environment
    process: subprocess.Popen[bytes] | None = None

    @property
    def virtual(self) -> bool:
        return self.process is not None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def check_display() -> str | None:
    """The desktop's display, or None when Xvfb will make one; InputError when neither."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        if os.environ.get(name):
            return os.environ[name]
    if shutil.which("Xvfb") is None:
        raise InputError(NO_DISPLAY)
    return None


def open_display(width: int = 1440, height: int = 960) -> Display:
    if check_display() is not None:
        return Display(env={})
    xvfb = shutil.which("Xvfb") or "Xvfb"
    read, write = os.pipe()
    try:
        # -displayfd: Xvfb picks a free display number and tells it, so recorders (and
        # test workers) side by side never race for ":99". Its own session: the
        # terminal's Ctrl+C is for the recorder, which stops Xvfb after writing.
        process = subprocess.Popen(
            [xvfb, "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
    finally:
        os.close(write)
    try:
        number = _read_display_number(read)
    finally:
        os.close(read)
    if number is None:
        Display(env={}, process=process).close()
        raise RobotError("Xvfb did not start a virtual display within 10s")
    return Display(env={"DISPLAY": f":{number}"}, process=process)


def _read_display_number(fd: int) -> str | None:
    text = b""
    while not text.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], 10)
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            return None
        text += chunk
    number = text.decode().strip()
    return number if number.isdigit() else None
