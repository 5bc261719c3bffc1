"""The incident timeline says who acknowledged, resolved and silenced it, and when
(issue 12): on the incident page and in the API, over a real state database and the
console served by uvicorn on a loopback port, driven over HTTP with a signed-in session."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from receivers import DEAD_BUTTON, confirmed_run

PASSWORD = "correct horse battery"


def sign_in_http(client: httpx.Client, name: str, password: str = PASSWORD, *, base: str = "", **headers: str) -> httpx.Response:
    """POST /login as the sign-in form does: with the form's pre-session CSRF token and its
    cookie (Secure: httpx keeps it off plain http, so it is sent by hand)."""
    form = client.get(f"{base}/login", headers=headers)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    cookie = form.headers["set-cookie"].split(";")[0]
    return client.post(f"{base}/login", data={"name": name, "password": password, "next": "/", "csrf": token.group(1)},
                       headers={**headers, "cookie": cookie})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """The console over one state database (patrol.yaml in ``root``), served on a loopback port."""

    def __init__(self, root: Path) -> None:
        self.root, self.cfg, self.url = root, str(root / "patrol.yaml"), ""

    def service(self, resolve_secrets: bool = True):
        from patrol.config import load_config
        from patrol.incidents.service import IncidentService

        return IncidentService.from_config(load_config(self.cfg), resolve_secrets=resolve_secrets)

    def session(self, name: str) -> tuple[httpx.Client, str]:
        client = httpx.Client(base_url=self.url, follow_redirects=False)
        r = sign_in_http(client, name)
        assert r.status_code == 303, r.text
        client.headers["cookie"] = r.headers["set-cookie"].split(";")[0]  # Secure: httpx keeps it off plain http
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/incidents").text)
        assert token
        return client, token.group(1)


def serve(root: Path, users: dict[str, str]) -> Iterator[Live]:
    """Users added as ``patrol users add`` adds them, then ``patrol serve``'s app in uvicorn until the test ends."""
    import uvicorn

    from patrol.cli.serve import build_app
    from patrol.core.isotime import utcnow
    from patrol.store import console_repo
    from patrol.webconsole.auth import hash_password

    live = Live(root)
    store = live.service(resolve_secrets=False).store  # as patrol serve: the receivers' secrets may be elsewhere
    with store.write() as conn:
        for name, role in users.items():
            console_repo.add_user(conn, name, role, hash_password(PASSWORD), utcnow())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(live.cfg), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    live.url = f"http://127.0.0.1:{port}"
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture
def live(tmp_path):
    (tmp_path / "patrol.yaml").write_text(f"state: {{url: 'sqlite:///{tmp_path}/state.db'}}\n", encoding="utf-8")
    svc = Live(tmp_path).service()
    svc.record_run(confirmed_run(DEAD_BUTTON, run_dir=str(tmp_path / "r1")))  # incident #1: transfer, tag money
    yield from serve(tmp_path, {"qa": "approver", "ops": "approver"})


def _timeline(client: httpx.Client, incident: int) -> list[str]:
    html = client.get(f"/incidents/{incident}").text
    items = re.findall(r"<li class=\"action[^\"]*\">(.*?)</li>", html, re.S)
    return [re.sub(r"<[^>]+>", "", i) for i in items]


def test_acknowledge_and_silences_are_on_the_timeline_with_who_and_when(live):
    qa, qa_csrf = live.session("qa")
    ops, ops_csrf = live.session("ops")
    assert _timeline(qa, 1) == []
    assert qa.post("/incidents/1/acknowledge", data={"csrf": qa_csrf}).status_code == 303
    r = ops.post("/silences", data={"csrf": ops_csrf, "scope": "tag", "value": "money", "duration": "2h", "reason": "deploy 42"})
    assert r.status_code == 303
    qa.post("/silences", data={"csrf": qa_csrf, "scope": "journey", "value": "checkout", "duration": "1h"})  # not this incident's
    sid = max(s["id"] for s in qa.get("/api/v1/silences").json()["silences"] if s["value"] == "money")
    assert qa.post(f"/silences/{sid}/end", data={"csrf": qa_csrf}).status_code == 303

    lines = _timeline(qa, 1)
    assert len(lines) == 3, lines
    assert "acknowledged by qa" in lines[0]
    assert "silenced by ops" in lines[1] and "tag money until" in lines[1] and "(deploy 42)" in lines[1]
    assert "silence ended by qa" in lines[2]
    assert all(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", line) for line in lines)
    assert not any("checkout" in line for line in lines)

    body = qa.get("/api/v1/incidents/1").json()
    actions = [(a["action"], a["by"]) for a in body["actions"]]
    assert actions == [("acknowledge", "qa"), ("silence", "ops"), ("silence_end", "qa")]
    assert all(a["at"] for a in body["actions"]) and body["events"][0]["type"] == "incident.opened"


def test_resolve_says_who_and_a_silence_made_after_is_not_on_its_timeline(live):
    qa, csrf = live.session("qa")
    assert qa.post("/incidents/1/resolve", data={"csrf": csrf, "note": "rolled back"}).status_code == 303
    qa.post("/silences", data={"csrf": csrf, "scope": "journey", "value": "transfer", "duration": "1h"})
    lines = _timeline(qa, 1)
    assert len(lines) == 1 and "resolved by hand by qa" in lines[0] and "note: rolled back" in lines[0], lines
    # The next incident of the same journey opens under that silence: it is on the new one's timeline.
    live.service().record_run(confirmed_run(DEAD_BUTTON, run_dir=str(live.root / "r2")))
    (silenced,) = _timeline(qa, 2)
    assert "silenced by qa" in silenced and "journey transfer" in silenced
