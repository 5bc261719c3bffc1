"""Refresh the console's pictures in docs/screens/ from a real patrol of the demo bank.

    .venv/bin/python docs/screens/shoot.py [--out docs/screens]

It starts the demo bank on a free loopback port, patrols it with the shipped login journey
three times healthy, once with the balance reading NaN (a run with one failed step) and once
with a layout shift (a visual difference and its incident), all into a throwaway state
database; serves the console over it (``patrol serve``'s app, on loopback) and photographs,
in Debian's Chromium, the first screen of: the overview, the failed run, the incident and
the compare view, at 1280x800 and at 390x844 (``*-phone.png``).
Nothing outside the temporary folder and ``--out`` is touched."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
PASSWORD = secrets.token_urlsafe(12)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _patrol(root: Path, journey: Path, fault: str | None, out: str) -> str:
    """One ``patrol run`` of the journey against the demo bank (with ``fault``); its run id."""
    from patrol.cli import main
    from patrol.demo.server import DemoBank

    with DemoBank(port=0, faults=[fault] if fault else []) as bank:
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            main(["--config", str(root / "patrol.yaml"), "run", str(journey), "--base-url", bank.url, "--output", str(root / out)])
    import json

    return str(json.loads((root / out / "report.json").read_text(encoding="utf-8"))["run_id"])


@contextlib.contextmanager
def _console(root: Path) -> Iterator[str]:
    """``patrol serve``'s app over the state database, on a loopback port, with one approver."""
    import uvicorn

    from patrol.cli.serve import build_app
    from patrol.config import load_config
    from patrol.core.isotime import utcnow
    from patrol.incidents.service import IncidentService
    from patrol.store import console_repo
    from patrol.webconsole.auth import hash_password

    store = IncidentService.from_config(load_config(str(root / "patrol.yaml")), resolve_secrets=False).store
    with store.write() as conn:
        console_repo.add_user(conn, "qa", "approver", hash_password(PASSWORD), utcnow())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(str(root / "patrol.yaml")), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def shoot(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DEMO_PASSWORD", secrets.token_urlsafe(12))  # the bank and the journey share it
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="patrol-screens-") as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "baselines", root / "baselines")
        shutil.copytree(ROOT / "journeys", root / "journeys")
        text = (ROOT / "patrol.yaml").read_text(encoding="utf-8").replace("baselines: baselines", f"baselines: {root / 'baselines'}")
        (root / "patrol.yaml").write_text(text + f"\nstate: {{url: 'sqlite:///{root}/state.db'}}\nincidents:\n  confirm: 0\n",
                                          encoding="utf-8")
        # The login journey up to its home screen (kept out of journeys/, where names are unique):
        # with the NaN balance, one step fails.
        login = (root / "journeys" / "login.yaml").read_text(encoding="utf-8")
        shutil.copytree(root / "journeys" / "flows", root / "short" / "flows")
        (root / "short" / "login.yaml").write_text(login[: login.index("  - name: view net-value chart")], encoding="utf-8")
        for i in range(3):
            _patrol(root, root / "journeys" / "login.yaml", None, f"healthy-{i}")
        failed = _patrol(root, root / "short" / "login.yaml", "nan_balance", "nan")
        shifted = _patrol(root, root / "journeys" / "login.yaml", "layout_shift", "shift")
        with _console(root) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for (w, h), pages in (((1280, 800), ("overview", "run-failed", "incident", "compare")),
                                  ((390, 844), ("overview", "run-failed", "incident", "compare"))):
                page = browser.new_context(viewport={"width": w, "height": h}, timezone_id="UTC").new_page()
                page.goto(url + "/login")
                page.fill("input[name=name]", "qa")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(url + "/")
                for name in pages:
                    if name == "overview":
                        page.goto(url + "/")
                    elif name == "run-failed":
                        page.goto(f"{url}/runs/{failed}")
                    elif name == "incident":
                        page.goto(url + "/incidents")
                        page.locator("main .list a[href^='/incidents/']").first.click()
                        page.wait_for_url("**/incidents/*")
                    else:
                        page.goto(f"{url}/runs/{shifted}")
                        page.locator("#verdict a.button", has_text="Compare").first.click()
                        page.wait_for_url("**/compare?screen=*")
                    page.wait_for_load_state("networkidle")
                    target = out / (f"{name}.png" if w == 1280 else f"{name}-phone.png")
                    page.screenshot(path=str(target))
                    written.append(target)
                page.context.close()
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screens"), help="where the PNGs go (default docs/screens)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    for path in shoot(Path(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
